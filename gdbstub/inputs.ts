// The debugger's writes to the guest (registers, memory) are input from outside the
// machine, so they enter through the input door (DESIGN.md, contract 2) as events from
// source 'debugger', stamped with the icount they take effect at. A session records them
// like any other input, so seeking and replaying reproduce them.
//
// The door delivers input when the machine goes on from where it stands, but gdb expects
// to read back what it wrote at once: the stub applies a write immediately as well, and
// the delivery of that same event (at the same icount, before any instruction) is then
// skipped. A seek drops that expectation: the restored state gets the event from the door.

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
  // A recording is data from outside: anything not shaped like a debugger write is ignored.
  if (!isDebuggerInput(p)) return;
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

function isDebuggerInput(p: unknown): p is DebuggerInput {
  if (p === null || typeof p !== 'object') return false;
  const o = p as Record<string, unknown>;
  if (typeof o.hex !== 'string') return false;
  if (o.op === 'reg') return Number.isInteger(o.n);
  return o.op === 'mem' && Number.isInteger(o.addr) && typeof o.physical === 'boolean';
}

/** Debugger inputs applied ahead of their delivery, per machine. */
const ahead = new WeakMap<Machine, number>();

function applySafely(m: Machine, p: DebuggerInput): void {
  // A CPU fault from a register write (a selector the CPU refuses) leaves state as it was.
  try {
    applyDebuggerInput(m, p);
  } catch (e) {
    if (!(e && typeof e === 'object' && 'cpuFault' in e)) throw e;
  }
}

/** Apply an input now that the door will deliver when the machine goes on. */
export function applyAhead(m: Machine, p: DebuggerInput): void {
  applySafely(m, p);
  ahead.set(m, (ahead.get(m) ?? 0) + 1);
}

/** The machine's state was restored: inputs applied ahead are not in it. */
export function forgetAhead(m: Machine): void {
  ahead.delete(m);
}

/** Let a machine accept debugger input (a replay of a debugged run needs it too). */
export function acceptDebuggerInput(m: Machine): void {
  if (m.input.accepts(DEBUGGER_SOURCE)) return;
  m.input.handle(DEBUGGER_SOURCE, (payload: Payload) => {
    const n = ahead.get(m) ?? 0;
    if (n > 0) {
      ahead.set(m, n - 1);
      return;
    }
    applySafely(m, payload as unknown as DebuggerInput);
  });
}
