// A recording is data from outside: whatever payload it carries for a source the machine
// takes, delivering it either works (devices ignore what they cannot use) or is refused as
// an InputRefused naming the source and icount, which the CLI reports in one line; never
// any other host exception.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Session } from '../../replay/session.ts';
import { InputRefused } from '../../engine/doors.ts';
import { attachFaults } from '../../faults/index.ts';
import { acceptDebuggerInput } from '../../gdbstub/inputs.ts';
import { echoPc } from './helpers.ts';
import { propertyRuns } from '../quick.ts';

const SOURCES = ['serial0', 'serial1', 'serial3', 'key', 'mouse', 'rtc-time', 'floppy-eject', 'floppy-insert', 'fault', 'debugger'];

const payload = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.uint8Array({ maxLength: 16 }),
  fc.record({ code: fc.string(), down: fc.boolean() }),
  fc.record({ dx: fc.integer(), dy: fc.integer(), buttons: fc.integer() }),
  fc.record({ op: fc.constantFrom('reg', 'mem'), n: fc.integer({ min: -2, max: 60 }), addr: fc.integer(), physical: fc.boolean(), hex: fc.string({ unit: fc.constantFrom(...'0123456789abcdefxz'.split('')), maxLength: 16 }) }),
  fc.record({ kind: fc.constantFrom('flip', 'reg-flip', 'spurious', 'irq-drop'), bit: fc.integer({ min: -1, max: 40 }), register: fc.string(), address: fc.integer() }),
);

describe('input door fuzz', () => {
  it('property: random payloads on every source never throw on the host', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 3_000_000 }), source: fc.constantFrom(...SOURCES), payload }), { maxLength: 12 }),
        (events) => {
          const pc = echoPc();
          attachFaults(pc, { rules: [] }, 0);
          acceptDebuggerInput(pc.machine);
          // (sources the machine does not take are refused before a replay starts)
          const timeline = events
            .filter((e) => pc.machine.input.accepts(e.source))
            .map((e) => ({ icount: e.at, source: e.source, payload: e.payload as never }))
            .sort((a, b) => a.icount - b.icount);
          const s = new Session(pc.machine, { timeline, seekable: false });
          try {
            const r = s.run(3_000_000);
            expect(['deadline', 'triple-fault', 'halted', 'stopped', 'exit']).toContain(r.reason);
          } catch (e) {
            // A device may refuse a payload, but only ever as a classified, one-line refusal.
            expect(e).toBeInstanceOf(InputRefused);
            expect((e as Error).message).not.toContain('\n');
          }
        },
      ),
      { numRuns: propertyRuns(40), seed: 0xd00d },
    );
  });
});
