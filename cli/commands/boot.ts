// `bitrot boot`: boot the PC (engine/pc.ts) from a floppy, a hard disk, a CD-ROM or a Linux
// kernel through the real SeaBIOS, with QEMU's flags (cli/boot-args.ts).
//
// Output: -serial sends COM1's bytes and -debugcon those of ports 0xE9/0x402 to stdout or a
// file. While it runs on a terminal (and -display is not none), the VGA text screen is
// redrawn between slices of instructions.
// Exit status: the guest's (value << 1) | 1 through isa-debug-exit, as QEMU's; 0 at the
// instruction limit, when the guest halts for good or asks for a reset with -no-reboot;
// 3 on a triple fault with -no-reboot; 2 on bad usage or an unusable file.

import { openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { createPc, type PcConfig } from '../../engine/pc.ts';
import { loadMachine, ConfigError, type LoadedMachine } from '../../replay/machine-config.ts';
import type { MachineConfig } from '../../replay/format.ts';
import { parseBootArgs, BootArgError, BOOT_USAGE, type BootConfig, type OutputTarget } from '../boot-args.ts';
import { encodePng } from '../png.ts';

export { BOOT_USAGE };

/** Instructions between two looks at the screen (about 0.1 s of guest time). */
const SLICE = 10_000_000;

export class UserError extends Error {}

function openTarget(t: OutputTarget, flag: string): ((b: number) => void) | null {
  if (t.kind === 'none') return null;
  if (t.kind === 'stdio') return (b) => process.stdout.write(Buffer.of(b));
  let fd: number;
  try {
    fd = openSync(t.path, 'w');
  } catch (e) {
    throw new UserError(`${flag}: cannot open '${t.path}' for writing: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  opened.push(fd);
  return (b) => writeSync(fd, Buffer.of(b));
}

const opened: number[] = [];

function pcConfig(c: BootConfig): PcConfig {
  return loadBootMachine(c).pc;
}

/** The machine `c` describes, with its files read and hashed (errors as UserError). */
export function loadBootMachine(c: BootConfig): LoadedMachine {
  try {
    return loadMachine(machineConfigOf(c));
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw e;
  }
}

/** The machine part of `bitrot boot`'s flags, as a recording stores it. */
export function machineConfigOf(c: BootConfig): MachineConfig {
  const m: MachineConfig = { memoryMB: c.memoryMB, noReboot: c.noReboot };
  for (const k of ['bios', 'fda', 'hda', 'cdrom', 'boot', 'kernel', 'initrd', 'append'] as const) {
    if (c[k] !== undefined) (m as unknown as Record<string, unknown>)[k] = c[k];
  }
  return m;
}

/**
 * The PC configuration `bitrot boot ARGS` would run (for the benchmarks, which give bitrot and
 * QEMU the same flags). Errors are thrown as one-line messages.
 */
export function pcConfigFromArgs(args: string[]): PcConfig {
  return pcConfig(parseBootArgs(args));
}

export async function bootCommand(args: string[]): Promise<number> {
  let c: BootConfig;
  try {
    c = parseBootArgs(args);
  } catch (e) {
    if (e instanceof BootArgError) {
      console.error(`bitrot boot: ${e.message}\n${BOOT_USAGE}`);
      return 2;
    }
    throw e;
  }
  try {
    return runBoot(c);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`bitrot boot: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    for (const fd of opened.splice(0)) closeSync(fd);
  }
}

function runBoot(c: BootConfig): number {
  const cfg = pcConfig(c);
  let pc;
  try {
    pc = createPc(cfg);
  } catch (e) {
    // image formats the engine refuses (qcow2 features, sizes) say so in one line
    throw new UserError((e as Error).message);
  }
  const m = pc.machine;
  m.output.logLimit = 0;
  const serial = openTarget(c.serial, '-serial');
  const debugcon = openTarget(c.debugcon, '-debugcon');
  m.output.listen((e) => {
    if (typeof e.data !== 'number') return;
    if (e.kind === 'serial' && e.channel === 0) serial?.(e.data);
    else if (e.kind === 'debugcon') debugcon?.(e.data);
  });
  const live = c.display !== 'none' && process.stdout.isTTY === true && c.serial.kind !== 'stdio' && c.debugcon.kind !== 'stdio';
  const t0 = process.hrtime.bigint();
  let r = m.run(Math.min(c.maxInstructions, SLICE));
  if (live) process.stdout.write('\x1b[2J');
  while (r.reason === 'deadline' && r.icount < c.maxInstructions) {
    if (live) drawScreen(pc.vga.screenDump());
    r = m.run(Math.min(c.maxInstructions, r.icount + SLICE));
  }
  if (live) drawScreen(pc.vga.screenDump());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (process.env.BITROT_STATS) {
    console.error(`bitrot: ${r.reason} after ${r.icount} instructions in ${secs.toFixed(2)} s (${(r.icount / secs / 1e6).toFixed(1)} MIPS)`);
  }
  if (c.screenDump) writeFileSync(c.screenDump, pc.vga.screenDump().join('\n') + '\n');
  if (c.screenshot) {
    const fb = pc.vga.framebuffer();
    if (fb.width <= 0 || fb.height <= 0) console.error(`bitrot boot: no picture on the screen at the end of the run; '${c.screenshot}' not written`);
    else writeFileSync(c.screenshot, encodePng(fb.width, fb.height, fb.rgba));
  }
  switch (r.reason) {
    case 'exit':
      return r.exitCode ?? 1;
    case 'triple-fault':
      console.error(`bitrot boot: triple fault at instruction ${r.icount} (CS:EIP ${m.cpu.segSel[1].toString(16)}:${(m.cpu.eip >>> 0).toString(16)})`);
      return 3;
    case 'halted':
      console.error(`bitrot boot: the guest halted for good at instruction ${r.icount}`);
      return 0;
    case 'stopped':
      console.error(`bitrot boot: the guest asked for a reset (${pc.resetRequest ?? 'unknown'}) at instruction ${r.icount}; stopped (-no-reboot)`);
      return 0;
    default:
      console.error(`bitrot boot: stopped at the instruction limit (${r.icount})`);
      return 0;
  }
}

function drawScreen(lines: string[]): void {
  process.stdout.write('\x1b[H' + lines.map((l) => l.padEnd(80).slice(0, 80)).join('\n') + '\n');
}
