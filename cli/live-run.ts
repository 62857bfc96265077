// Running a PC session from the terminal: the guest's output to stdout or files, the
// host's input into the machine (through the session, so a recording captures it), the VGA
// text screen redrawn between slices, Ctrl-C to stop cleanly. Shared by `bitrot boot` and
// `bitrot replay` when it goes live.
//
// Host input, stamped with the icount at which the run loop picks it up:
//   - with -serial stdio, standard input goes to COM1 (a terminal is put in raw mode;
//     Ctrl-C stops the run);
//   - otherwise, on a terminal showing the guest's screen, typed characters become PS/2
//     key presses (each a make code now and a break code 20 ms of guest time later).

import { closeSync, openSync, writeSync } from 'node:fs';
import type { Pc } from '../engine/pc.ts';
import type { RunResult } from '../engine/machine.ts';
import { NOMINAL_HZ } from '../engine/clock.ts';
import type { Session } from '../replay/session.ts';
import type { Recorder } from '../replay/recorder.ts';
import type { OutputTarget } from './boot-args.ts';
import { keyPressesFor } from './keymap.ts';

/** Instructions between two looks at the host (input, screen): about 0.1 s of guest time. */
export const SLICE = 10_000_000;

export class OutputOpenError extends Error {}

/** Where the guest's COM1 and debug-port bytes go; `close()` when done. */
export function attachOutputs(pc: Pc, serial: OutputTarget, debugcon: OutputTarget): { close(): void } {
  const fds: number[] = [];
  const open = (t: OutputTarget, flag: string): ((b: number) => void) | null => {
    if (t.kind === 'none') return null;
    if (t.kind === 'stdio') return (b) => process.stdout.write(Buffer.of(b));
    let fd: number;
    try {
      fd = openSync(t.path, 'w');
    } catch (e) {
      throw new OutputOpenError(`${flag}: cannot open '${t.path}' for writing: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    fds.push(fd);
    return (b) => writeSync(fd, Buffer.of(b));
  };
  const s = open(serial, '-serial');
  const d = open(debugcon, '-debugcon');
  const m = pc.machine;
  m.output.logLimit = 0;
  m.output.listen((e) => {
    if (typeof e.data !== 'number') return;
    if (e.kind === 'serial' && e.channel === 0) s?.(e.data);
    else if (e.kind === 'debugcon') d?.(e.data);
  });
  return { close: () => fds.splice(0).forEach((fd) => closeSync(fd)) };
}

export interface DriveOptions {
  maxInstructions: number;
  /** Redraw the VGA text screen on the terminal. */
  screen: boolean;
  /** Where standard input goes. */
  stdin: 'serial' | 'keyboard' | 'none';
}

/** Run the session (recording if `recorder`) until the guest stops, the limit, or Ctrl-C. */
/** How a driven run ended; `interrupted` when the user stopped it with Ctrl-C. */
export interface DriveResult extends RunResult {
  interrupted: boolean;
}

export async function drive(pc: Pc, session: Session, recorder: Recorder | null, o: DriveOptions): Promise<DriveResult> {
  let stop = false;
  const stdin = process.stdin;
  const raw = o.stdin !== 'none' && stdin.isTTY === true;
  const onData = (chunk: Buffer) => {
    for (const b of chunk) if (raw && b === 3) stop = true;
    const bytes = raw ? chunk.filter((b) => b !== 3) : chunk;
    if (bytes.length === 0) return;
    if (o.stdin === 'serial') session.push('serial0', Uint8Array.from(bytes));
    else {
      let at = session.icount;
      for (const k of keyPressesFor(bytes.toString('latin1'))) {
        for (const code of k.down) session.push('key', { code, down: true }, at);
        for (const code of k.up) session.push('key', { code, down: false }, at + KEY_HOLD);
        at += 2 * KEY_HOLD;
      }
    }
  };
  const onSigint = () => {
    stop = true;
  };
  if (o.stdin !== 'none') {
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.on('error', () => {});
  }
  process.on('SIGINT', onSigint);
  const step = (limit: number) => (recorder ? recorder.run(limit) : session.run(limit));
  try {
    if (o.screen) process.stdout.write('\x1b[2J');
    // Input already waiting (a pipe) goes in before the first instruction runs.
    if (o.stdin !== 'none') await new Promise((res) => setImmediate(res));
    let r: RunResult;
    for (;;) {
      r = step(Math.min(o.maxInstructions, session.icount + SLICE));
      if (o.screen) drawScreen(pc.vga.screenDump());
      if (r.reason !== 'deadline' || r.icount >= o.maxInstructions) break;
      // Let the host's input in.
      await new Promise((res) => setImmediate(res));
      if (stop) {
        return { reason: 'stopped', icount: session.icount, interrupted: true };
      }
    }
    return { ...r, interrupted: false };
  } finally {
    process.off('SIGINT', onSigint);
    if (o.stdin !== 'none') {
      stdin.off('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
    }
  }
}

/** Key presses last 20 ms of guest time. */
const KEY_HOLD = NOMINAL_HZ / 50;

function drawScreen(lines: string[]): void {
  process.stdout.write('\x1b[H' + lines.map((l) => l.padEnd(80).slice(0, 80)).join('\n') + '\n');
}

/** Say how the run ended (stderr) and return the exit status, as QEMU would. */
export function endOfRun(cmd: string, pc: Pc, r: RunResult & { interrupted?: boolean }): number {
  const m = pc.machine;
  switch (r.reason) {
    case 'exit':
      return r.exitCode ?? 1;
    case 'triple-fault':
      console.error(`${cmd}: triple fault at instruction ${r.icount} (CS:EIP ${m.cpu.segSel[1].toString(16)}:${(m.cpu.eip >>> 0).toString(16)})`);
      return 3;
    case 'halted':
      console.error(`${cmd}: the guest halted for good at instruction ${r.icount}`);
      return 0;
    case 'stopped':
      if (r.interrupted) console.error(`${cmd}: stopped by Ctrl-C at instruction ${r.icount}`);
      else console.error(`${cmd}: the guest asked for a reset (${pc.resetRequest ?? 'unknown'}) at instruction ${r.icount}; stopped (-no-reboot)`);
      return 0;
    default:
      console.error(`${cmd}: stopped at the instruction limit (${r.icount})`);
      return 0;
  }
}
