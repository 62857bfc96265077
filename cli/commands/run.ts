// `bitrot run IMAGE`: run a program on the bare machine (RAM, CPU, debug ports; see
// engine/bare.ts). The image is loaded at 0x7C00 and started in real mode. Port 0xE9 output
// goes to stdout (or a file); the exit status is the isa-debug-exit status, as in QEMU.
//
// Exit status: the guest's (value << 1) | 1 when it exits through port 0xF4; 0 when it
// halts for good or reaches the instruction limit; 3 on a triple fault; 2 on bad usage.

import { readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { createBareMachine } from '../../engine/bare.ts';

export const RUN_USAGE =
  'usage: bitrot run IMAGE [--max-instructions N] [--debugcon stdio|file:PATH|none] [--ram MB] [--stats]';

export async function runCommand(args: string[]): Promise<number> {
  let image: string | undefined;
  let max = 1e9;
  let debugcon = 'stdio';
  let ramMB = 16;
  let stats = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    try {
      if (a === '--max-instructions') max = positive(value(), a);
      else if (a === '--debugcon') debugcon = value();
      else if (a === '--ram') ramMB = positive(value(), a);
      else if (a === '--stats') stats = true;
      else if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
      else if (image === undefined) image = a;
      else throw new UsageError(`unexpected argument '${a}'`);
    } catch (e) {
      if (e instanceof UsageError) {
        console.error(`bitrot run: ${e.message}\n${RUN_USAGE}`);
        return 2;
      }
      throw e;
    }
  }
  if (image === undefined) {
    console.error(`bitrot run: missing IMAGE\n${RUN_USAGE}`);
    return 2;
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(image);
  } catch (e) {
    console.error(`bitrot run: cannot read image '${image}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 2;
  }
  const ram = ramMB * 1024 * 1024;
  if (bytes.length > ram - 0x7c00) {
    console.error(`bitrot run: image '${image}' (${bytes.length} bytes) does not fit in ${ramMB} MiB of RAM`);
    return 2;
  }
  let fd = -1;
  if (debugcon.startsWith('file:')) {
    try {
      fd = openSync(debugcon.slice(5), 'w');
    } catch (e) {
      console.error(`bitrot run: cannot open '${debugcon.slice(5)}': ${(e as NodeJS.ErrnoException).code}`);
      return 2;
    }
  } else if (debugcon !== 'stdio' && debugcon !== 'none') {
    console.error(`bitrot run: --debugcon takes stdio, file:PATH or none, not '${debugcon}'`);
    return 2;
  }
  const m = createBareMachine({ ramSize: ram, image: bytes });
  m.output.logLimit = 0;
  m.output.listen((e) => {
    if (e.kind !== 'debugcon' || typeof e.data !== 'number') return;
    const b = Buffer.of(e.data);
    if (debugcon === 'stdio') process.stdout.write(b);
    else if (fd >= 0) writeSync(fd, b);
  });
  const t0 = process.hrtime.bigint();
  const r = m.run(max);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (fd >= 0) closeSync(fd);
  if (stats) {
    console.error(`bitrot: ${r.reason} after ${r.icount} instructions in ${secs.toFixed(3)} s (${(r.icount / secs / 1e6).toFixed(1)} MIPS)`);
  }
  switch (r.reason) {
    case 'exit':
      return r.exitCode ?? 1;
    case 'triple-fault':
      console.error(`bitrot run: triple fault at instruction ${r.icount} (CS:EIP ${m.cpu.segSel[1].toString(16)}:${(m.cpu.eip >>> 0).toString(16)})`);
      return 3;
    case 'halted':
      console.error(`bitrot run: the guest halted with interrupts disabled at instruction ${r.icount}`);
      return 0;
    default:
      console.error(`bitrot run: stopped at the instruction limit (${r.icount})`);
      return 0;
  }
}

class UsageError extends Error {}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} takes a positive number, not '${v}'`);
  return n;
}


