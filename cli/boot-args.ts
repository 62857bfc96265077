// Parsing of `bitrot boot` arguments, with the QEMU flags users already type. Every
// mistake is one line naming the flag or file and what to do instead.

export interface BootConfig {
  memoryMB: number;
  bios?: string;
  fda?: string;
  hda?: string;
  cdrom?: string;
  boot: 'a' | 'c' | 'd' | undefined;
  kernel?: string;
  initrd?: string;
  append?: string;
  serial: OutputTarget;
  debugcon: OutputTarget;
  noReboot: boolean;
  maxInstructions: number;
  screenDump?: string;
  screenshot?: string;
  display: 'terminal' | 'none';
  /** A fault plan file (faults/), and the seed of its random choices. */
  faults?: string;
  seed?: number;
  /** Record the run to this file (replay/). */
  record?: string;
  /** Embed a snapshot in the recording every N instructions. */
  snapshotEvery?: number;
  checkpointEvery?: number;
  traceEvery?: number;
  /** GDB stub (gdbstub/): listen on this port (-s: 1234, --gdb PORT); wait for gdb first (-S). */
  gdbPort?: number;
  gdbWait: boolean;
}

export type OutputTarget = { kind: 'stdio' } | { kind: 'file'; path: string } | { kind: 'none' };

import { traceIntervals } from '../replay/recorder.ts';

export class BootArgError extends Error {}

const VALUE_FLAGS = new Set([
  '-m', '-bios', '-fda', '-hda', '-cdrom', '-boot', '-kernel', '-initrd', '-append', '-serial', '-debugcon',
  '--max-instructions', '--screen-dump', '--screenshot', '-display',
  '--faults', '--seed',
  '--record', '--snapshot-every', '--checkpoint-every', '--trace-every',
  '--gdb',
]);

export const BOOT_USAGE = [
  'usage: bitrot boot [-m MB] [-bios FILE] [-fda IMG] [-hda IMG] [-cdrom ISO] [-boot a|c|d]',
  '                   [-kernel BZIMAGE [-initrd FILE] [-append CMDLINE]]',
  '                   [-serial stdio|file:PATH|none] [-debugcon stdio|file:PATH|none] [-no-reboot]',
  '                   [--max-instructions N] [--screen-dump FILE] [--screenshot FILE.png] [-display none]',
  '                   [--faults PLAN.yaml [--seed N]]',
  '                   [--record FILE [--snapshot-every N] [--checkpoint-every N] [--trace-every N]]',
  '                   [-s | --gdb PORT] [-S]',
].join('\n');

/** A TCP port for the GDB stub (0: any free one), or a one-line error. */
export function gdbPort(flag: string, v: string): number {
  const n = Number(v.replace(/^tcp:(127\.0\.0\.1|localhost)?:/, ''));
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new BootArgError(`${flag} takes a TCP port (1-65535), not '${v}'`);
  return n;
}

/** A positive whole number for `flag`, or a one-line error. */
export function positiveInt(flag: string, v: string): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new BootArgError(`${flag} takes a positive whole number, not '${v}'`);
  return n;
}

/** `--flag=value` as [flag, value]; anything else as [arg, undefined]. */
export function splitFlag(arg: string): [string, string | undefined] {
  if (!arg.startsWith('--') || !arg.includes('=')) return [arg, undefined];
  const at = arg.indexOf('=');
  return [arg.slice(0, at), arg.slice(at + 1)];
}

/** An output flag's value: stdio, file:PATH or none. */
export function target(flag: string, v: string): OutputTarget {
  if (v === 'stdio') return { kind: 'stdio' };
  if (v === 'none' || v === 'null') return { kind: 'none' };
  if (v.startsWith('file:') && v.length > 5) return { kind: 'file', path: v.slice(5) };
  throw new BootArgError(`${flag} takes stdio, file:PATH or none, not '${v}'`);
}

export function parseBootArgs(args: string[]): BootConfig {
  const c: BootConfig = {
    memoryMB: 128,
    boot: undefined,
    serial: { kind: 'none' },
    debugcon: { kind: 'none' },
    noReboot: false,
    maxInstructions: Infinity,
    display: 'terminal',
    gdbWait: false,
  };
  let serialSet = false;
  for (let i = 0; i < args.length; i++) {
    const [a, given] = splitFlag(args[i]);
    let v = given;
    if (a === '-no-reboot' || a === '--no-reboot') {
      c.noReboot = true;
      continue;
    }
    if (a === '-s') {
      c.gdbPort ??= 1234;
      continue;
    }
    if (a === '-S') {
      c.gdbWait = true;
      continue;
    }
    if (a === '-nographic') {
      c.display = 'none';
      if (!serialSet) c.serial = { kind: 'stdio' };
      continue;
    }
    if (!VALUE_FLAGS.has(a)) {
      throw new BootArgError(a.startsWith('-') ? `unknown flag '${a}'` : `unexpected argument '${a}' (images go after -fda, -hda or -cdrom)`);
    }
    if (v === undefined) {
      v = args[++i];
      if (v === undefined) throw new BootArgError(`${a} needs a value`);
    }
    switch (a) {
      case '-m': {
        const m = /^(\d+)([MG]?)$/i.exec(v);
        if (!m) throw new BootArgError(`-m takes a size in MiB like 128 or 1G, not '${v}'`);
        const mb = Number(m[1]) * (m[2].toUpperCase() === 'G' ? 1024 : 1);
        if (mb < 2 || mb > 2048) throw new BootArgError(`-m ${v}: memory must be between 2 MiB and 2 GiB`);
        c.memoryMB = mb;
        break;
      }
      case '-bios': c.bios = v; break;
      case '-fda': c.fda = v; break;
      case '-hda': c.hda = v; break;
      case '-cdrom': c.cdrom = v; break;
      case '-boot': {
        const b = v.replace(/^order=/, '')[0];
        if (b !== 'a' && b !== 'c' && b !== 'd') throw new BootArgError(`-boot takes a, c or d (floppy, disk, CD), not '${v}'`);
        c.boot = b;
        break;
      }
      case '-kernel': c.kernel = v; break;
      case '-initrd': c.initrd = v; break;
      case '-append': c.append = v; break;
      case '-serial': c.serial = target(a, v); serialSet = true; break;
      case '-debugcon': c.debugcon = target(a, v); break;
      case '--max-instructions': {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0) throw new BootArgError(`--max-instructions takes a positive whole number, not '${v}'`);
        c.maxInstructions = n;
        break;
      }
      case '--record': c.record = v; break;
      case '--gdb': c.gdbPort = gdbPort(a, v); break;
      case '--snapshot-every': c.snapshotEvery = positiveInt(a, v); break;
      case '--checkpoint-every': c.checkpointEvery = positiveInt(a, v); break;
      case '--trace-every': c.traceEvery = positiveInt(a, v); break;
      case '--faults': c.faults = v; break;
      case '--seed': {
        const n = Number(v.replace(/_/g, ''));
        if (!Number.isSafeInteger(n) || n < 0 || v.trim() === '') throw new BootArgError(`--seed takes a whole number >= 0, not '${v}'`);
        c.seed = n;
        break;
      }
      case '--screen-dump': c.screenDump = v; break;
      case '--screenshot':
        if (!v.toLowerCase().endsWith('.png')) throw new BootArgError(`--screenshot writes a PNG: give a FILE.png, not '${v}'`);
        c.screenshot = v;
        break;
      case '-display':
        if (v !== 'none' && v !== 'curses' && v !== 'terminal') throw new BootArgError(`-display takes none or terminal, not '${v}'`);
        c.display = v === 'none' ? 'none' : 'terminal';
        break;
    }
  }
  if ((c.initrd || c.append) && !c.kernel) throw new BootArgError(`${c.initrd ? '-initrd' : '-append'} needs -kernel`);
  if (!c.fda && !c.hda && !c.cdrom && !c.kernel && !c.bios) {
    throw new BootArgError('nothing to boot: give -fda IMG, -hda IMG, -cdrom ISO, -kernel BZIMAGE or your own -bios ROM');
  }
  if ((c.snapshotEvery || c.checkpointEvery || c.traceEvery) && !c.record) {
    throw new BootArgError(`${c.snapshotEvery ? '--snapshot-every' : c.checkpointEvery ? '--checkpoint-every' : '--trace-every'} needs --record FILE`);
  }
  if (c.record) {
    try {
      traceIntervals(c);
    } catch (e) {
      throw new BootArgError((e as Error).message.replace('the checkpoint interval', '--checkpoint-every').replace('the trace interval', '--trace-every'));
    }
  }
  if (c.gdbWait && c.gdbPort === undefined) throw new BootArgError('-S waits for gdb: give -s (port 1234) or --gdb PORT too');
  if (c.gdbPort !== undefined && c.snapshotEvery) throw new BootArgError('--snapshot-every does not go with the GDB stub (its session keeps snapshots of its own)');
  if (c.seed !== undefined && c.faults === undefined) throw new BootArgError('--seed needs --faults PLAN.yaml (the seed drives the plan\'s random choices)');
  if (c.boot === 'a' && !c.fda) throw new BootArgError('-boot a needs -fda IMG');
  if (c.boot === 'c' && !c.hda) throw new BootArgError('-boot c needs -hda IMG');
  if (c.boot === 'd' && !c.cdrom) throw new BootArgError('-boot d needs -cdrom ISO');
  return c;
}
