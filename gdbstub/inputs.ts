// The debugger's writes to the guest (registers, memory) are input from outside the
// machine, so they enter through the input door (DESIGN.md, contract 2) as events from
// source 'debugger', stamped with the icount they take effect at. A session records them
// like any other input, so seeking and replaying reproduce them.

import type { Machine } from '../engine/machine.ts';
import type { Payload } from '../engine/doors.ts';
import { checkRegisterWrite, writeRegister } from './registers.ts';
import { physicalSpans, readDescriptor, writePhysical } from './memory.ts';
import { bytesOfHex } from './packets.ts';

export const DEBUGGER_SOURCE = 'debugger';

export type DebuggerInput =
  | { op: 'reg'; n: number; hex: string }
  | { op: 'mem'; addr: number; physical: boolean; hex: string };

/** Apply one debugger input to the machine (at an instruction boundary). */
export function applyDebuggerInput(m: Machine, p: DebuggerInput): void {
  const bytes = bytesOfHex(p.hex);
  if (bytes === null) return;
  if (p.op === 'reg') {
    if (checkRegisterWrite(m, p.n, bytes) !== null) return;
    writeRegister(m, p.n, bytes, (sel) => {
      const d = readDescriptor(m, sel);
      return typeof d === 'string' ? null : d;
    });
    return;
  }
  const spans = physicalSpans(m, p.addr, bytes.length, p.physical);
  if (spans === null) return;
  let at = 0;
  for (const s of spans) {
    writePhysical(m, s.phys, bytes.subarray(at, at + s.len));
    at += s.len;
  }
}

/** Let a machine accept debugger input (a replay of a debugged run needs it too). */
export function acceptDebuggerInput(m: Machine): void {
  if (m.input.accepts(DEBUGGER_SOURCE)) return;
  m.input.handle(DEBUGGER_SOURCE, (payload: Payload) => {
    // A CPU fault from a register write (a selector the CPU refuses) leaves state as it was.
    try {
      applyDebuggerInput(m, payload as unknown as DebuggerInput);
    } catch (e) {
      if (!(e && typeof e === 'object' && 'cpuFault' in e)) throw e;
    }
  });
}
