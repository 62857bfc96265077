import { describe, expect, it } from 'vitest';
import { InputDoor, OutputSink } from '../../engine/doors.ts';

describe('InputDoor', () => {
  it('delivers events at their icount, in order, and tells listeners', () => {
    const door = new InputDoor();
    const got: string[] = [];
    const seen: number[] = [];
    door.handle('serial', (p, at) => got.push(`${String(p)}@${at}`));
    door.listen((e) => seen.push(e.icount));
    door.push(30, 'serial', 'b', 0);
    door.push(10, 'serial', 'a', 0);
    door.push(30, 'serial', 'c', 0);
    expect(door.next).toBe(10);
    door.deliverDue(29);
    expect(got).toEqual(['a@10']);
    door.deliverDue(30);
    expect(got).toEqual(['a@10', 'b@30', 'c@30']);
    expect(seen).toEqual([10, 30, 30]);
    expect(door.next).toBe(Infinity);
  });

  it('moves events from the past to now and rejects unknown sources', () => {
    const door = new InputDoor();
    door.handle('k', () => {});
    door.push(5, 'k', 1, 100);
    expect(door.pending[0].icount).toBe(100);
    expect(() => door.push(5, 'nope', 1, 0)).toThrow(/no device accepts input from 'nope'/);
  });
});

describe('OutputSink', () => {
  it('stamps events and extracts text per kind', () => {
    const out = new OutputSink();
    const seen: string[] = [];
    out.listen((e) => seen.push(`${e.kind}:${e.data}@${e.icount}`));
    out.emit(1, 'debugcon', 0x68);
    out.emit(2, 'post', 0x10);
    out.emit(3, 'debugcon', 0x69);
    expect(out.text('debugcon')).toBe('hi');
    expect(seen).toEqual(['debugcon:104@1', 'post:16@2', 'debugcon:105@3']);
  });
});
