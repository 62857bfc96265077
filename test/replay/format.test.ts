import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRecording, encodeFrame, magicBytes, RecordingFormatError, crc32 } from '../../replay/format.ts';
import { recordEcho } from './helpers.ts';
import { Session } from '../../replay/session.ts';
import { replay, splitRecording } from '../../replay/replayer.ts';
import { echoPc } from './helpers.ts';
import { propertyRuns } from '../quick.ts';

const rec = recordEcho(
  [
    { at: 1_000_000, source: 'serial0', payload: 'one' },
    { at: 6_000_000, source: 'serial0', payload: 'two' },
    { at: 9_000_000, source: 'key', payload: { code: 'KeyA', down: true } },
  ],
  12_000_000,
  { checkpointEvery: 1_000_000, traceEvery: 100_000, snapshotEvery: 4_000_000 },
);

describe('recording format', () => {
  it('CRC-32 is the IEEE one', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('reads back every record of a whole recording, and knows it is complete', () => {
    const d = decodeRecording(rec.bytes);
    expect(d.damage).toBeNull();
    expect(d.complete).toBe(true);
    expect(d.validBytes).toBe(rec.bytes.length);
    expect(rec.parts.inputs.length).toBe(3);
    expect(rec.parts.snapshots.length).toBe(3);
    expect(rec.parts.end).toMatchObject({ n: 12_000_000, reason: 'deadline', inputs: 3 });
  });

  it('is not fooled by something that is not a recording', () => {
    expect(() => decodeRecording(new TextEncoder().encode('hello world, this is text'))).toThrow(RecordingFormatError);
    expect(() => decodeRecording(new Uint8Array(0))).toThrow(/not a bitrot recording/);
    expect(() => decodeRecording(magicBytes())).toThrow(/no readable header/);
    const v2 = new TextEncoder().encode('BITROT-REC 2\n');
    expect(() => decodeRecording(v2)).toThrow(/format "2" is not the format this bitrot reads/);
    const wrongFormat = new Uint8Array([...magicBytes(), ...encodeFrame({ ...(decodeRecording(rec.bytes).header), format: 99 })]);
    expect(() => decodeRecording(wrongFormat)).toThrow(/format 99/);
  });

  it('property: cut at any byte, it gives a clear error or a valid prefix that replays exactly as far as it goes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: rec.bytes.length - 1 }), (cut) => {
        const bytes = rec.bytes.subarray(0, cut);
        let d;
        try {
          d = decodeRecording(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(RecordingFormatError);
          expect((e as Error).message).not.toContain('\n');
          return;
        }
        expect(d.complete).toBe(false);
        expect(d.validBytes).toBeLessThanOrEqual(cut);
        if (d.validBytes < cut) expect(d.damage).toMatch(/cut short at byte/);
        const parts = splitRecording(d);
        // the prefix replays, and every checkpoint it kept matches
        const pc = echoPc();
        const s = new Session(pc.machine, { timeline: parts.inputs, seekable: false });
        const res = replay(s, parts, { verify: true });
        expect(res.divergence).toBeNull();
        expect(res.checkpointsVerified).toBe(parts.checkpoints.length);
      }),
      { numRuns: propertyRuns(25) },
    );
  });

  it('property: a damaged byte anywhere after the header is found by its frame checksum', () => {
    const headerEnd = 13 + 8 + new DataView(rec.bytes.buffer, rec.bytes.byteOffset).getUint32(13, true);
    fc.assert(
      fc.property(fc.integer({ min: headerEnd, max: rec.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const bytes = rec.bytes.slice();
        bytes[at] ^= xor;
        const d = decodeRecording(bytes);
        expect(d.damage).toMatch(/damaged at byte|cut short/);
        expect(d.validBytes).toBeLessThanOrEqual(at);
      }),
      { numRuns: 50 },
    );
  });
});
