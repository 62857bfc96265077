// `bitrot boot`: boot the PC (engine/pc.ts) from a floppy, a hard disk, a CD-ROM or a Linux
// kernel through the real SeaBIOS, with QEMU's flags (cli/boot-args.ts).
//
// Output: -serial sends COM1's bytes and -debugcon those of ports 0xE9/0x402 to stdout or a
// file. While it runs on a terminal (and -display is not none), the VGA text screen is
// redrawn between slices of instructions. Host input (standard input to COM1 with -serial
// stdio, or typed keys to the PS/2 keyboard) enters through the session, and --record FILE
// writes the run as a recording that `bitrot replay` reproduces (replay/).
// Exit status: the guest's (value << 1) | 1 through isa-debug-exit, as QEMU's; 0 at the
// instruction limit, when the guest halts for good or asks for a reset with -no-reboot;
// 3 on a triple fault with -no-reboot; 2 on bad usage or an unusable file.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';
import { Session } from '../../replay/session.ts';
import { Recorder, recordTimeline, type HeaderFields, type RecorderOptions } from '../../replay/recorder.ts';
import type { RunResult } from '../../engine/machine.ts';
import { attachFaults, type FaultPlan } from '../../faults/index.ts';
import { acceptDebuggerInput } from '../../gdbstub/inputs.ts';
import { FileSink, RecordingError } from '../../replay/recording-file.ts';
import { attachOutputs, drive, endOfRun, OutputOpenError } from '../live-run.ts';
import { createPc, type PcConfig } from '../../engine/pc.ts';
import { loadMachine, ConfigError, type LoadedMachine } from '../../replay/machine-config.ts';
import type { MachineConfig } from '../../replay/format.ts';
import { parseBootArgs, BootArgError, BOOT_USAGE, type BootConfig } from '../boot-args.ts';
import { encodePng } from '../png.ts';
import { attachFaultPlan, FaultPlanFileError } from '../fault-plan.ts';
import { runUnderGdb, prepareFaults, GdbRunError } from '../gdb-run.ts';

export { BOOT_USAGE };

export class UserError extends Error {}

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
  for (const k of ['bios', 'fda', 'hda', 'cdrom', 'kernel', 'initrd'] as const) {
    // Files by absolute path, so a recording replays from any directory.
    if (c[k] !== undefined) m[k] = resolve(c[k]);
  }
  if (c.boot !== undefined) m.boot = c.boot;
  if (c.append !== undefined) m.append = c.append;
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
    return await runBoot(c);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`bitrot boot: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

async function runBoot(c: BootConfig): Promise<number> {
  const loaded = loadBootMachine(c);
  let pc;
  try {
    pc = createPc(loaded.pc);
  } catch (e) {
    // image formats the engine refuses (qcow2 features, sizes) say so in one line
    throw new UserError((e as Error).message);
  }
  const m = pc.machine;
  let faults = null;
  try {
    if (c.faults !== undefined) faults = attachFaultPlan(pc, c.faults, c.seed);
  } catch (e) {
    if (e instanceof FaultPlanFileError) throw new UserError(e.message);
    throw e;
  }
  let outputs;
  try {
    outputs = attachOutputs(pc, c.serial, c.debugcon);
  } catch (e) {
    if (e instanceof OutputOpenError) throw new UserError(e.message);
    throw e;
  }
  // Under gdb the session keeps snapshots, so the run can also go backwards.
  if (c.gdbPort !== undefined) prepareFaults(pc, faults !== null);
  const session = c.gdbPort !== undefined ? new Session(m, { snapshotEvery: 5_000_000 }) : new Session(m, { seekable: false });
  let sink: FileSink | null = null;
  let recorder: Recorder | null = null;
  // Under gdb the stub sets an injector with no rules for `monitor fault`: a recording names it.
  const faultHeader = faults ? { plan: faults.plan, seed: faults.seed } : c.gdbPort !== undefined ? { plan: { rules: [] }, seed: 0 } : null;
  const header = { machine: loaded.machine, images: loaded.images, rtcStart: loaded.pc.rtcStart ?? RTC_DEFAULT_START, faults: faultHeader, parent: null };
  const recordOpts = { snapshotEvery: c.snapshotEvery, checkpointEvery: c.checkpointEvery, traceEvery: c.traceEvery };
  if (c.record) {
    try {
      sink = new FileSink(c.record);
    } catch (e) {
      if (e instanceof RecordingError) throw new UserError(e.message);
      throw e;
    }
    // A run under gdb goes back and forth: it is written when the debugging ends.
    if (c.gdbPort === undefined) recorder = new Recorder(session, sink, header, recordOpts);
  }
  const screen = c.display !== 'none' && process.stdout.isTTY === true && c.serial.kind !== 'stdio' && c.debugcon.kind !== 'stdio';
  const t0 = process.hrtime.bigint();
  let r;
  try {
    if (c.gdbPort !== undefined) {
      let g;
      try {
        g = await runUnderGdb(pc, session, { port: c.gdbPort, wait: c.gdbWait, maxInstructions: c.maxInstructions, who: 'bitrot boot', hasFaults: faults !== null });
      } catch (e) {
        if (e instanceof GdbRunError) throw new UserError(e.message);
        throw e;
      }
      if (sink) recordDebuggedRun(loaded, header, recordOpts, session, g, sink, c.record!);
      if (g === null) return 0;
      r = g;
    } else r = await drive(pc, session, recorder, {
      maxInstructions: c.maxInstructions,
      screen,
      stdin: c.serial.kind === 'stdio' ? 'serial' : screen && process.stdin.isTTY ? 'keyboard' : 'none',
    });
  } finally {
    outputs.close();
  }
  if (recorder && sink) {
    recorder.finish(r);
    sink.close();
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (process.env.BITROT_STATS) {
    console.error(`bitrot: ${r.reason} after ${r.icount} instructions in ${secs.toFixed(2)} s (${(r.icount / secs / 1e6).toFixed(1)} MIPS)`);
  }
  if (recorder) console.error(`bitrot boot: recorded ${r.icount} instructions to '${c.record}' (${recorder.bytes} bytes)`);
  if (c.screenDump) writeFileSync(c.screenDump, pc.vga.screenDump().join('\n') + '\n');
  if (c.screenshot) {
    const fb = pc.vga.framebuffer();
    if (fb.width <= 0 || fb.height <= 0) console.error(`bitrot boot: no picture on the screen at the end of the run; '${c.screenshot}' not written`);
    else writeFileSync(c.screenshot, encodePng(fb.width, fb.height, fb.rgba));
  }
  return endOfRun('bitrot boot', pc, r);
}

/**
 * Write the run a gdb session leaves behind: its timeline (input, debugger writes, faults
 * injected by hand) up to the furthest point it reached, run again on a fresh PC.
 */
function recordDebuggedRun(
  loaded: LoadedMachine,
  header: HeaderFields,
  opts: RecorderOptions,
  session: Session,
  end: RunResult | null,
  sink: FileSink,
  file: string,
): void {
  const fresh = createPc(loaded.pc);
  const f = header.faults as { plan: FaultPlan; seed: number };
  attachFaults(fresh, f.plan, f.seed);
  acceptDebuggerInput(fresh.machine);
  const upTo = session.furthest;
  const reason = end === null ? 'stopped' : end.icount === upTo ? end.reason : 'deadline';
  const { bytes } = recordTimeline(fresh.machine, session.timeline, upTo, reason, sink, header, opts);
  sink.close();
  console.error(`bitrot boot: recorded the debugged run (${upTo} instructions) to '${file}' (${bytes} bytes)`);
}
