// What the stub debugs: a session of one machine (replay/session.ts's Session has this
// shape): it runs forward, seeks to any icount it has been through, and keeps snapshots.
// The stub asks for nothing else, so a live run and a recording are debugged the same way.

import type { Machine, RunResult } from '../engine/machine.ts';
import type { Payload } from '../engine/doors.ts';
import type { Pc } from '../engine/pc.ts';

export interface DebugSession {
  readonly machine: Machine;
  /** The earliest icount reachable (a reverse run stops here with replaylog:begin). */
  readonly beginIcount: number;
  /** Run forward until icount reaches `limit` or the machine stops for another reason. */
  run(limit: number): RunResult;
  /** Go to exactly `icount` (restore the nearest snapshot at or before it, run forward). */
  seek(icount: number): RunResult | void;
  /** Snapshot icounts, ascending: where seek is cheap. */
  snapshotIcounts(): readonly number[];
  takeSnapshot(): unknown;
  /**
   * Input from outside the machine, taking effect now (the debugger's register and memory
   * writes, injected faults). The session records it, so seeking replays it.
   */
  push(source: string, payload: Payload): void;
  /** For a recording: the icount where it ends (running forward stops there, replaylog:end). */
  readonly endIcount?: number;
}

/** Devices the monitor's `info` command prints (a PC has them; the bare machine has none). */
export type DebugDevices = Pick<Pc, 'pic' | 'pit' | 'rtc' | 'uarts' | 'ide' | 'vga'> | null;
