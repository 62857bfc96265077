import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Session } from '../../replay/session.ts';
import { replay, replaySession, splitRecording } from '../../replay/replayer.ts';
import { Recorder } from '../../replay/recorder.ts';
import { decodeRecording } from '../../replay/format.ts';
import { createBareMachine } from '../../engine/bare.ts';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';
import { echoPc, recordEcho, MemorySink, type TimedInput } from './helpers.ts';
import { propertyRuns } from '../quick.ts';

const LIMIT = 30_000_000;

const KEYS = ['KeyA', 'KeyQ', 'Digit7', 'Enter', 'Space', 'ShiftLeft'];
const inputArb: fc.Arbitrary<TimedInput> = fc.oneof(
  fc.record({
    at: fc.integer({ min: 0, max: LIMIT }),
    source: fc.constant('serial0'),
    payload: fc.string({ unit: fc.constantFrom(...'abcxyz?01 \r'.split('')), minLength: 1, maxLength: 6 }),
  }),
  fc.record({
    at: fc.integer({ min: 0, max: LIMIT }),
    source: fc.constant('key'),
    payload: fc.record({ code: fc.constantFrom(...KEYS), down: fc.boolean() }),
  }),
);

function replayed(parts: ReturnType<typeof recordEcho>['parts'], verify: boolean) {
  const pc = echoPc();
  const session = new Session(pc.machine, { timeline: parts.inputs, seekable: false });
  const res = replay(session, parts, { verify });
  return { res, hash: pc.machine.hash(), output: pc.machine.output.text('debugcon') };
}

describe('record then replay (echo ROM)', () => {
  it('echoes what it is given, and a replay reproduces output, every checkpoint and the final hash', () => {
    const rec = recordEcho(
      [
        { at: 3_000_000, source: 'serial0', payload: 'hi?' },
        { at: 7_777_777, source: 'key', payload: { code: 'KeyA', down: true } },
        { at: 8_000_000, source: 'key', payload: { code: 'KeyA', down: false } },
      ],
      LIMIT,
      { checkpointEvery: 1_000_000, traceEvery: 10_000 },
    );
    expect(rec.output).toMatch(/^echo ready\r\nhi\[000\d\]<1e><9e>$/);
    expect(rec.parts.inputs.map((e) => e.icount)).toEqual([3_000_000, 7_777_777, 8_000_000]);
    expect(rec.parts.checkpoints.length).toBe(30);
    const r = replayed(rec.parts, true);
    expect(r.res.divergence).toBeNull();
    expect(r.res.checkpointsVerified).toBe(30);
    expect(r.hash).toBe(rec.hash);
    expect(r.output).toBe(rec.output);
  });

  it('property: random serial and keyboard schedules replay bit-exactly (every checkpoint, all output)', () => {
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 12 }), (inputs) => {
        const rec = recordEcho(inputs, LIMIT, { checkpointEvery: 2_000_000, traceEvery: 50_000 });
        const r = replayed(rec.parts, true);
        expect(r.res.divergence).toBeNull();
        expect(r.res.checkpointsVerified).toBe(rec.parts.checkpoints.length);
        expect(r.hash).toBe(rec.hash);
        expect(r.output).toBe(rec.output);
        // A plain replay (no verification, other slicing) ends in the same state.
        const plain = replayed(rec.parts, false);
        expect(plain.hash).toBe(rec.hash);
      }),
      { numRuns: propertyRuns(12) },
    );
  });

  it('two runs with the same inputs give identical hashes and recordings', () => {
    const inputs: TimedInput[] = [{ at: 1_234_567, source: 'serial0', payload: 'xyz' }];
    const a = recordEcho(inputs, 10_000_000);
    const b = recordEcho(inputs, 10_000_000);
    expect(b.hash).toBe(a.hash);
    expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
  });

  it('property: save at a random icount, restore into a fresh machine, continue = the uninterrupted run', () => {
    const inputs: TimedInput[] = [
      { at: 2_000_000, source: 'serial0', payload: 'ab?' },
      { at: 5_500_000, source: 'key', payload: { code: 'KeyQ', down: true } },
    ];
    const ref = recordEcho(inputs, 12_000_000);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 11_999_999 }), (cut) => {
        const a = echoPc();
        const sa = new Session(a.machine, { timeline: ref.parts.inputs, seekable: false });
        sa.run(cut);
        const state = a.machine.save();
        const delivered = sa.deliveredCount;
        const b = echoPc();
        b.machine.load(state);
        const rest = ref.parts.inputs.slice(delivered);
        const sb = new Session(b.machine, { timeline: rest, seekable: false });
        sb.run(12_000_000);
        expect(b.machine.hash()).toBe(ref.hash);
      }),
      { numRuns: propertyRuns(10) },
    );
  });

  it('seeks a replay with embedded snapshots to any icount exactly', () => {
    const rec = recordEcho([{ at: 4_000_000, source: 'serial0', payload: 'seek?' }], 20_000_000, { snapshotEvery: 5_000_000 });
    expect(rec.parts.snapshots.map((s) => s.n)).toEqual([5_000_000, 10_000_000, 15_000_000, 20_000_000]);
    // the reference: a plain replay, stopped at each target
    const targets = [17_654_321, 3_999_999, 4_000_001, 12_000_000];
    const want = new Map<number, string>();
    for (const t of [...targets].sort((x, y) => x - y)) {
      const pc = echoPc();
      const s = new Session(pc.machine, { timeline: rec.parts.inputs, seekable: false });
      s.run(t);
      want.set(t, pc.machine.hash());
    }
    const pc = echoPc();
    const s = replaySession(pc, rec.parts);
    expect(s.snapshotIcounts()).toEqual([0, 5_000_000, 10_000_000, 15_000_000, 20_000_000]);
    for (const t of targets) {
      s.seek(t);
      expect(pc.machine.hash(), `at ${t}`).toBe(want.get(t));
    }
    s.seek(20_000_000);
    expect(pc.machine.hash()).toBe(rec.hash);
  });
});

describe('a run that ends halted for good', () => {
  it('replays to the same end, halted, with every checkpoint matching', () => {
    // The bare machine (no timers) running `mov cx, 1000; loop $; cli; hlt`: halted for good.
    const mk = () => ({ machine: createBareMachine({ image: new Uint8Array([0xb9, 0xe8, 0x03, 0xe2, 0xfe, 0xfa, 0xf4]), ramSize: 1 << 20 }) });
    const pc = mk();
    const s = new Session(pc.machine, { seekable: false });
    const sink = new MemorySink();
    const rec = new Recorder(s, sink, { machine: { memoryMB: 2, noReboot: true }, images: [], rtcStart: RTC_DEFAULT_START, faults: null, parent: null });
    const r = rec.run(1_000_000);
    expect(r.reason).toBe('halted');
    rec.finish(r);
    const parts = splitRecording(decodeRecording(sink.bytes()));
    for (const verify of [true, false]) {
      const again = mk();
      const res = replay(new Session(again.machine, { timeline: parts.inputs, seekable: false }), parts, { verify });
      expect(res.divergence).toBeNull();
      expect(res.run).toEqual({ reason: 'halted', icount: r.icount });
      expect(again.machine.hash()).toBe(pc.machine.hash());
    }
  });
});
