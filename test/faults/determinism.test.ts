// Determinism over random fault plans (fast-check): the echo ROM with random serial input
// and a random plan of memory, register and interrupt faults. The same plan and seed twice
// give the same outputs, hashes and recordings byte for byte; a recording of the run
// replays with every checkpoint matching, the faults injected again from its header.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { attachFaults, planFromData, type FaultPlan } from '../../faults/index.ts';
import { Session } from '../../replay/session.ts';
import { Recorder } from '../../replay/recorder.ts';
import { decodeRecording } from '../../replay/format.ts';
import { replay, splitRecording } from '../../replay/replayer.ts';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';
import { echoPc, MemorySink, ECHO_ROM_PATH } from '../replay/helpers.ts';
import { propertyRuns } from '../quick.ts';

const LIMIT = 12_000_000;
const when = fc.integer({ min: 1, max: LIMIT });

const ruleArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ kind: fc.constant('flip'), address: fc.integer({ min: 0x400, max: 0x7fff }), bit: fc.integer({ min: 0, max: 7 }), at: when }),
  fc.record({ kind: fc.constant('flip'), range: fc.constant('0x6f00-0x6fff'), between: fc.constant([1_000_000, 9_000_000]) }),
  fc.record({ kind: fc.constant('stuck-at'), address: fc.integer({ min: 0x500, max: 0x501 }), bit: fc.integer({ min: 0, max: 7 }), value: fc.integer({ min: 0, max: 1 }), at: when }),
  fc.record({ kind: fc.constant('reg-flip'), register: fc.constantFrom('eax', 'ebx', 'edx', 'esi', 'eflags'), bit: fc.integer({ min: 0, max: 15 }), at: when }),
  fc.record({ kind: fc.constant('irq-drop'), irq: fc.constantFrom(0, 1, 4), every: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('irq-drop'), irq: fc.constantFrom(0, 4), probability: fc.double({ min: 0.1, max: 0.9, noNaN: true }) }),
  fc.record({ kind: fc.constant('irq-delay'), irq: fc.constantFrom(0, 4), delay: fc.integer({ min: 1, max: 200_000 }) }),
  fc.record({ kind: fc.constant('spurious'), irq: fc.constantFrom(7, 15), at: when }),
);

const inputArb = fc.array(
  fc.record({ at: fc.integer({ min: 0, max: LIMIT }), text: fc.string({ unit: fc.constantFrom(...'ab?z 1'.split('')), minLength: 1, maxLength: 4 }) }),
  { maxLength: 6 },
);

function record(plan: FaultPlan, seed: number, inputs: { at: number; text: string }[]) {
  const pc = echoPc();
  attachFaults(pc, plan, seed);
  const session = new Session(pc.machine, { seekable: false });
  const sink = new MemorySink();
  const rec = new Recorder(
    session,
    sink,
    { machine: { memoryMB: 2, noReboot: true, bios: ECHO_ROM_PATH }, images: [], rtcStart: RTC_DEFAULT_START, faults: { plan, seed }, parent: null },
    { checkpointEvery: 1_000_000, traceEvery: 50_000 },
  );
  let r = rec.run(0);
  for (const i of [...inputs].sort((a, b) => a.at - b.at)) {
    if (i.at > session.icount) r = rec.run(i.at);
    if (r.reason !== 'deadline') break;
    session.push('serial0', i.text);
  }
  if (r.reason === 'deadline') r = rec.run(LIMIT);
  rec.finish(r);
  const m = pc.machine;
  return { bytes: sink.bytes(), hash: m.hash(), out: m.output.text('debugcon'), faults: m.output.log.filter((e) => e.kind === 'fault').map((e) => `${e.icount} ${e.data}`) };
}

describe('determinism over random fault plans', () => {
  it('property: the same plan, seed and input give the same run; its recording replays exactly', () => {
    let fired = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 1000 }), inputArb, (rules, seed, inputs) => {
        const plan = planFromData({ rules }, 'property');
        const a = record(plan, seed, inputs);
        const b = record(plan, seed, inputs);
        expect(b.out).toBe(a.out);
        expect(b.faults).toEqual(a.faults);
        runs++;
        if (a.faults.length > 0) fired++;
        expect(b.hash).toBe(a.hash);
        expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
        // Replay from the recording alone: the plan and seed come from its header.
        const parts = splitRecording(decodeRecording(a.bytes));
        const pc = echoPc();
        attachFaults(pc, planFromData(parts.header.faults!.plan, 'header'), parts.header.faults!.seed);
        const s = new Session(pc.machine, { timeline: parts.inputs, seekable: false });
        const res = replay(s, parts, { verify: true });
        expect(res.divergence).toBeNull();
        expect(res.checkpointsVerified).toBe(parts.checkpoints.length);
        expect(pc.machine.hash()).toBe(a.hash);
        expect(pc.machine.output.text('debugcon')).toBe(a.out);
      }),
      { numRuns: propertyRuns(15), seed: 0xfa17 },
    );
    // The plans do inject: most runs see faults fire.
    expect(fired).toBeGreaterThan(runs / 2);
  });
});
