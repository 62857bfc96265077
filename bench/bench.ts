// npm run bench [-- --json] [-- --workload NAME] [-- --list] [-- --emulator bitrot,qemu,v86]
// (with --json, run `npm run -s bench -- --json` so npm's own banner stays off stdout)
//
// Runs named workloads on bitrot, QEMU (TCG) and v86 and reports instructions, seconds and
// MIPS. bitrot runs in this process and its icount is the workload's instruction count;
// QEMU and v86 are timed from outside and their MIPS use bitrot's instruction count for the
// same workload. Two kinds of workload:
//   - 'bare': a CPU workload (a boot image in bench/guests/bin/) on bitrot's bare machine;
//     QEMU and v86 boot it from a floppy through SeaBIOS, and the time they take to start,
//     run their firmware and boot the null workload (bench/guests/null.asm) is subtracted.
//   - 'pc': a whole boot on the PC, given as the QEMU flags (-m, -fda, -kernel, -append...)
//     that bitrot boot and QEMU both take; from power-on (bitrot: creating the PC; QEMU and
//     v86: starting the process or the emulator) to the end, nothing subtracted.
// Every workload ends with a line (or, for 'pc' workloads that never exit, a text) on COM1,
// checked for each emulator against the table below.
//
// To add a workload: put its source in bench/guests/, build it with bench/guests/build.sh,
// run it once with `--emulator bitrot` and add an entry to WORKLOADS with the line it prints
// and the instruction count bitrot reports.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createBareMachine } from '../engine/bare.ts';
import { createPc } from '../engine/pc.ts';
import { pcConfigFromArgs } from '../cli/commands/boot.ts';
import { readFaultPlan } from '../cli/fault-plan.ts';
import { attachFaults, type FaultPlan } from '../faults/index.ts';
import { measureReplay, measureSnapshots } from './replay.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

type MachineKind = 'bare' | 'pc';
type Emulator = 'bitrot' | 'qemu' | 'v86';
const EMULATORS: readonly Emulator[] = ['bitrot', 'qemu', 'v86'];

interface Workload {
  name: string;
  description: string;
  /**
   * 'bare': `image` (relative to the repository root) at 0x7C00 on bitrot's bare machine,
   * from a floppy through SeaBIOS elsewhere. 'pc': the whole PC booted with `pc` as flags.
   */
  machine: MachineKind;
  image?: string;
  pc?: PcWorkload;
  /** The line (without its newline) the guest prints on port E9h and COM1 when done. */
  expect: string;
  /** bitrot's icount at the end, as last measured: used when bitrot does not run. */
  instructions: number;
  /** Image whose run time is subtracted from QEMU's and v86's (default: the null workload; 'pc' workloads: none). */
  baseline?: string;
  /** icount limit for bitrot (default 4e9). */
  limit?: number;
}

interface PcWorkload {
  memoryMB: number;
  /** A floppy image, relative to the repository root (padded to 1.44 MB for the run). */
  fda?: string;
  /** A Linux boot protocol kernel, absolute path (a Debian package's file). */
  kernel?: string;
  append?: string;
  /**
   * The guest never exits: the workload ends when this text appears on COM1 (`expect` is
   * then that text, found anywhere in the output rather than as a line).
   */
  untilText?: boolean;
  /** v86 cannot run it (said in the table's place instead of a figure). */
  noV86?: string;
}

const NULL_IMAGE = 'bench/guests/bin/null.img';
const NULL_EXPECT = 'null checksum=00000000';

const WORKLOADS: Workload[] = [
  {
    name: 'cpumix',
    description: 'integer mix in 32-bit protected mode: CRC-32, sieve, REP string ops, sort, 16-bit code, calls',
    image: 'bench/guests/bin/cpumix.img',
    machine: 'bare',
    expect: 'cpumix checksum=564145fc',
    instructions: 427_429_574,
  },
  {
    name: 'cpumix-quick',
    description: 'cpumix with 4 rounds instead of 40, for quick checks and profiling',
    image: 'bench/guests/bin/cpumix-quick.img',
    machine: 'bare',
    expect: 'cpumix checksum=176eb75f',
    instructions: 42_745_880,
  },
  {
    name: 'bootsector',
    description: 'power-on to exit: SeaBIOS POST, then boot code from a floppy printing through INT 10h and COM1 (test/guests/bios/hello.asm)',
    machine: 'pc',
    pc: { memoryMB: 32, fda: 'test/guests/bios/bin/hello.img' },
    expect: 'status: ok',
    instructions: 7_239_530,
  },
  {
    name: 'memtest',
    description: "memtest86+ (Debian's, ia32) with -kernel and 32 MB, from power-on until test #5 starts",
    machine: 'pc',
    pc: { memoryMB: 32, kernel: '/boot/memtest86+ia32.bin', append: 'console=ttyS0,115200', untilText: true,
      noV86: "v86's bzImage loader crashes booting it (RangeError: Maximum call stack size exceeded in its page walk)" },
    expect: '#5  [Moving inversions, random pattern]',
    instructions: 3_323_955_287,
    limit: 20e9,
  },
];

interface Measurement {
  workload: string;
  emulator: Emulator;
  instructions: number;
  seconds: number;
  mips: number;
}

class BenchError extends Error {}

// ---- bitrot ----------------------------------------------------------------------------

/** The flags bitrot boot and QEMU both take for a 'pc' workload. */
function pcFlags(p: PcWorkload, floppyFile: (rel: string) => string): string[] {
  const args = ['-m', String(p.memoryMB)];
  if (p.fda) args.push('-fda', floppyFile(p.fda));
  if (p.kernel) {
    if (!existsSync(p.kernel)) throw new BenchError(`no ${p.kernel} (apt-get install memtest86+)`);
    args.push('-kernel', p.kernel);
  }
  if (p.append) args.push('-append', p.append);
  return args;
}

/** --faults FILE: a fault plan attached to bitrot's whole-PC runs (to measure what a plan costs). */
let benchFaultPlan: FaultPlan | null = null;

function runBitrot(w: Workload, floppyFile: (rel: string) => string): { instructions: number; seconds: number } {
  const start = process.hrtime.bigint();
  let m;
  let endAt = -1;
  if (w.machine === 'pc') {
    const p = w.pc!;
    let cfg;
    try {
      cfg = pcConfigFromArgs([...pcFlags(p, floppyFile), '-no-reboot']);
    } catch (e) {
      throw new BenchError((e as Error).message);
    }
    const pc = createPc(cfg);
    if (benchFaultPlan) attachFaults(pc, benchFaultPlan, benchFaultPlan.seed ?? 0);
    m = pc.machine;
    if (p.untilText) {
      let tail = '';
      const machine = m;
      m.output.listen((e) => {
        if (e.kind !== 'serial' || typeof e.data !== 'number' || endAt >= 0) return;
        tail = (tail + String.fromCharCode(e.data)).slice(-256);
        if (tail.endsWith(w.expect)) {
          endAt = e.icount;
          machine.requestStop('stopped');
        }
      });
    }
  } else {
    m = createBareMachine({ image: readImage(w.image!) });
  }
  m.output.logLimit = 1 << 16;
  const r = m.run(w.limit ?? 4e9);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (endAt >= 0) return { instructions: endAt, seconds };
  const out = m.output.text('debugcon') + m.output.text('serial');
  if (r.reason !== 'exit' || !hasLine(out, w.expect)) {
    const eip = m.cpu.eip.toString(16);
    throw new BenchError(
      `bitrot stopped with '${r.reason}' at icount ${r.icount} (eip ${eip}) ` +
        `and printed ${JSON.stringify(out.slice(-200))}; expected ${w.pc?.untilText ? 'the text' : 'the line'} '${w.expect}'`,
    );
  }
  return { instructions: r.icount, seconds };
}

// ---- QEMU ------------------------------------------------------------------------------

const QEMU = 'qemu-system-i386';
const FLOPPY_SIZE = 1_474_560;

/** QEMU's flags: a floppy image (bare workloads) or a 'pc' workload's own flags. */
function qemuArgs(machine: string[]): string[] {
  return [
    '-accel', 'tcg',
    '-display', 'none',
    ...machine,
    '-debugcon', 'file:/dev/null',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
    '-no-reboot',
    '-serial', 'stdio',
  ];
}

const floppyDrive = (image: string) => ['-drive', `file=${image},if=floppy,format=raw`];

/**
 * One QEMU run to isa-debug-exit, or until `untilText` appears on COM1 (QEMU is then killed
 * and the time taken when the text arrived): wall seconds and COM1 output.
 */
function runQemuOnce(machine: string[], timeoutMs: number, untilText?: string): Promise<{ seconds: number; out: string; status: number | null }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(QEMU, qemuArgs(machine), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let found: number | null = null;
    child.stdout.setEncoding('latin1').on('data', (s: string) => {
      out += s;
      if (untilText && found === null && out.slice(-(s.length + untilText.length)).includes(untilText)) {
        found = Number(process.hrtime.bigint() - start) / 1e9;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BenchError(`cannot run ${QEMU}: ${e.message}`));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (found !== null) resolve({ seconds: found, out, status: 1 });
      else if (signal) reject(new BenchError(`${QEMU} was killed (${signal}) after ${seconds.toFixed(1)} s; output ${JSON.stringify(out.slice(-200))}`));
      else if (status !== 1 && err) reject(new BenchError(`${QEMU} exited with status ${status}: ${err.trim().split('\n')[0]}`));
      else resolve({ seconds, out, status });
    });
  });
}

async function qemuAvailable(): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(QEMU, ['--version'], { stdio: 'ignore' });
    child.on('error', () => resolve(`${QEMU} is not installed (apt-get install qemu-system-x86)`));
    child.on('close', (status) => resolve(status === 0 ? null : `${QEMU} --version failed`));
  });
}

// ---- v86 -------------------------------------------------------------------------------

const SEABIOS = ['/usr/share/seabios/bios-256k.bin', '/usr/share/seabios/bios.bin'];
const VGABIOS = '/usr/share/seabios/vgabios-stdvga.bin';

interface V86Instance {
  add_listener(event: 'serial0-output-byte', fn: (byte: number) => void): void;
  destroy(): Promise<void>;
}
type V86Constructor = new (options: Record<string, unknown>) => V86Instance;

interface V86Setup {
  V86: V86Constructor;
  wasmPath: string;
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
}

async function loadV86(): Promise<V86Setup | string> {
  let mod: { V86: V86Constructor };
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve('v86'));
    mod = (await import('v86')) as unknown as { V86: V86Constructor };
  } catch {
    return 'v86 is not installed (npm install)';
  }
  const wasmPath = join(dirname(entry), 'v86.wasm');
  if (!existsSync(wasmPath)) return `v86 has no ${wasmPath}`;
  const bios = SEABIOS.find((p) => existsSync(p));
  if (!bios || !existsSync(VGABIOS)) return 'v86 needs SeaBIOS from /usr/share/seabios (apt-get install seabios)';
  return { V86: mod.V86, wasmPath, bios: toArrayBuffer(readFileSync(bios)), vgaBios: toArrayBuffer(readFileSync(VGABIOS)) };
}

/** What v86 boots: a floppy image, or a kernel with its command line. */
interface V86Boot {
  floppy?: Uint8Array;
  kernel?: Uint8Array;
  cmdline?: string;
  memoryMB?: number;
}

/**
 * One v86 run, from construction to `done` on COM1 (or, for the checksum workloads, to any
 * checksum line, so a wrong one is reported rather than waited for).
 */
async function runV86Once(v: V86Setup, boot: V86Boot, done: string, timeoutMs: number): Promise<{ seconds: number; out: string }> {
  const options: Record<string, unknown> = {
    wasm_path: v.wasmPath,
    bios: { buffer: v.bios },
    vga_bios: { buffer: v.vgaBios },
    autostart: true,
    log_level: 0,
    disable_speaker: true,
  };
  if (boot.floppy) {
    const floppy = new Uint8Array(Math.max(FLOPPY_SIZE, boot.floppy.length));
    floppy.set(boot.floppy);
    options.fda = { buffer: floppy.buffer };
  }
  if (boot.kernel) {
    options.bzimage = { buffer: toArrayBuffer(Buffer.from(boot.kernel)) };
    options.cmdline = boot.cmdline ?? '';
  }
  if (boot.memoryMB) options.memory_size = boot.memoryMB << 20;
  // v86 writes its own messages with console.log; keep stdout for results.
  const log = console.log;
  console.log = console.error;
  try {
    const start = process.hrtime.bigint();
    let emulator: V86Instance | undefined;
    let timer: NodeJS.Timeout | undefined;
    return await new Promise<{ seconds: number; out: string }>((resolve, reject) => {
      let out = '';
      timer = setTimeout(
        () => reject(new BenchError(`v86 did not print '${done}' within ${timeoutMs / 1000} s; output ${JSON.stringify(out.slice(-200))}`)),
        timeoutMs,
      );
      emulator = new v.V86(options);
      emulator.add_listener('serial0-output-byte', (byte: number) => {
        out += String.fromCharCode(byte);
        if (out.endsWith(done) || (byte === 10 && /checksum=.*\n$/.test(out))) {
          clearTimeout(timer);
          resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, out });
        }
      });
    }).finally(() => {
      clearTimeout(timer);
      return emulator?.destroy();
    });
  } finally {
    console.log = log;
  }
}

// ---- helpers ---------------------------------------------------------------------------

function readImage(rel: string): Uint8Array {
  const path = join(ROOT, rel);
  if (!existsSync(path)) throw new BenchError(`no image ${rel}: run bench/guests/build.sh`);
  return new Uint8Array(readFileSync(path));
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function hasLine(text: string, line: string): boolean {
  return text.split(/\r?\n/).includes(line);
}

function note(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function fastest<T extends { seconds: number }>(n: number, run: () => Promise<T>): Promise<T> {
  let best: T | undefined;
  for (let i = 0; i < n; i++) {
    const r = await run();
    if (!best || r.seconds < best.seconds) best = r;
  }
  return best!;
}

/**
 * The workload's own time: its run minus the baseline run. Below a tenth of the baseline the
 * difference is mostly start-up jitter, so it is not reported.
 */
function overBaseline(workload: string, emulator: string, seconds: number, baseline: number): number | null {
  const own = seconds - baseline;
  if (own < baseline / 10) {
    note(
      `${workload}: ${emulator} took ${seconds.toFixed(3)} s against ${baseline.toFixed(3)} s for the null workload: ` +
        'too short to time apart from start-up; use a longer workload',
    );
    return null;
  }
  return own;
}

function measurement(workload: string, emulator: Emulator, instructions: number, seconds: number): Measurement {
  return {
    workload,
    emulator,
    instructions,
    seconds: Math.round(seconds * 1e4) / 1e4,
    mips: seconds > 0 ? Math.round((instructions / seconds / 1e6) * 100) / 100 : 0,
  };
}

function printTable(rows: Measurement[]): void {
  const header = ['workload', 'emulator', 'instructions', 'seconds', 'MIPS', 'vs bitrot'];
  const body = rows.map((r) => {
    const base = rows.find((b) => b.workload === r.workload && b.emulator === 'bitrot');
    const ratio = base && base.mips > 0 ? `${(r.mips / base.mips).toFixed(2)}x` : '-';
    return [r.workload, r.emulator, r.instructions.toLocaleString('en-US'), r.seconds.toFixed(3), r.mips.toFixed(1), ratio];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(fmt(b));
}

// ---- main ------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      workload: { type: 'string', multiple: true },
      emulator: { type: 'string', multiple: true },
      repeat: { type: 'string', default: '3' },
      suite: { type: 'string', default: 'emulators' },
      faults: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run bench -- [--json] [--list] [--workload NAME]... [--emulator bitrot,qemu,v86]... [--repeat N] [--suite emulators|replay|all] [--faults PLAN.yaml]\n' +
        '  --repeat N   QEMU and v86 runs (and their baselines) per measurement, fastest kept (default 3)\n' +
        '  --suite      emulators: bitrot, QEMU and v86 side by side (default); replay: record overhead, replay\n' +
        '               speed and snapshot costs on the whole-PC workloads; all: both\n' +
        '  --faults     attach this fault plan to bitrot\'s whole-PC runs (what an idle plan costs)',
    );
    return 0;
  }
  if (values.list) {
    const width = Math.max(...WORKLOADS.map((w) => w.name.length));
    for (const w of WORKLOADS) console.log(`${w.name.padEnd(width)}  ${w.machine.padEnd(4)}  ${w.description}`);
    return 0;
  }
  const names = (values.workload ?? []).flatMap((s) => s.split(','));
  for (const n of names) {
    if (!WORKLOADS.some((w) => w.name === n)) {
      note(`no workload '${n}' (npm run bench -- --list shows them)`);
      return 2;
    }
  }
  const emulators = (values.emulator ?? EMULATORS.slice()).flatMap((s) => s.split(',')) as Emulator[];
  for (const e of emulators) {
    if (!EMULATORS.includes(e)) {
      note(`no emulator '${e}': choose from ${EMULATORS.join(', ')}`);
      return 2;
    }
  }
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    note(`--repeat wants a positive integer, not '${values.repeat}'`);
    return 2;
  }
  if (values.faults !== undefined) {
    try {
      benchFaultPlan = readFaultPlan(values.faults);
    } catch (e) {
      note((e as Error).message);
      return 2;
    }
  }
  const suite = values.suite;
  if (suite !== 'emulators' && suite !== 'replay' && suite !== 'all') {
    note(`--suite takes emulators, replay or all, not '${suite}'`);
    return 2;
  }
  const selected = names.length > 0 ? WORKLOADS.filter((w) => names.includes(w.name)) : WORKLOADS;
  if (suite === 'replay') return replaySuite(selected, repeat, values.json);
  const rows: Measurement[] = [];
  const emit = (m: Measurement) => {
    rows.push(m);
    if (values.json) console.log(JSON.stringify(m));
  };
  let failed = false;

  const qemuNote = emulators.includes('qemu') ? await qemuAvailable() : 'not selected';
  const v86: V86Setup | string = emulators.includes('v86') ? await loadV86() : 'not selected';
  if (qemuNote && emulators.includes('qemu')) note(`QEMU skipped: ${qemuNote}`);
  if (typeof v86 === 'string' && emulators.includes('v86')) note(`v86 skipped: ${v86}`);

  const tmp = mkdtempSync(join(tmpdir(), 'bitrot-bench-'));
  const floppyFile = (rel: string): string => {
    const file = join(tmp, rel.replace(/[/\\]/g, '_'));
    if (!existsSync(file)) {
      const img = readImage(rel);
      const padded = new Uint8Array(Math.max(FLOPPY_SIZE, img.length));
      padded.set(img);
      writeFileSync(file, padded);
    }
    return file;
  };
  const qemuBaselines = new Map<string, number>();
  const v86Baselines = new Map<string, number>();
  let v86Warm = false;

  try {
    for (const w of selected) {
      let instructions = w.instructions;
      if (emulators.includes('bitrot')) {
        if (!values.json) note(`${w.name}: bitrot...`);
        try {
          const r = runBitrot(w, floppyFile);
          if (r.instructions !== w.instructions) {
            note(`${w.name}: bitrot ran ${r.instructions} instructions; the table says ${w.instructions} (update it if the guest changed)`);
          }
          instructions = r.instructions;
          emit(measurement(w.name, 'bitrot', instructions, r.seconds));
        } catch (e) {
          if (!(e instanceof BenchError)) throw e;
          note(`${w.name}: bitrot FAILED: ${e.message}`);
          failed = true;
        }
      }

      const isPc = w.machine === 'pc';
      const untilText = w.pc?.untilText ? w.expect : undefined;
      const what = untilText ? `the text '${w.expect}'` : `the line '${w.expect}'`;
      const ended = (out: string) => (untilText ? out.includes(untilText) : hasLine(out, w.expect));
      const baseline = w.baseline ?? NULL_IMAGE;
      const timeout = 600_000;
      if (emulators.includes('qemu') && !qemuNote) {
        if (!values.json) note(`${w.name}: QEMU...`);
        try {
          let base = 0;
          if (!isPc) {
            const known = qemuBaselines.get(baseline);
            if (known === undefined) {
              const r = await fastest(repeat, () => runQemuOnce(floppyDrive(floppyFile(baseline)), 60_000));
              if (w.baseline === undefined && !hasLine(r.out, NULL_EXPECT)) throw new BenchError(`the null workload printed ${JSON.stringify(r.out)}`);
              qemuBaselines.set(baseline, r.seconds);
            }
            base = qemuBaselines.get(baseline)!;
          }
          const machine = isPc ? pcFlags(w.pc!, floppyFile) : floppyDrive(floppyFile(w.image!));
          const r = await fastest(repeat, () => runQemuOnce(machine, timeout, untilText));
          if (!ended(r.out) || r.status !== 1) {
            throw new BenchError(`exit status ${r.status}, COM1 output ${JSON.stringify(r.out.slice(-200))}; expected ${what}`);
          }
          const seconds = isPc ? r.seconds : overBaseline(w.name, 'QEMU', r.seconds, base);
          if (seconds !== null) emit(measurement(w.name, 'qemu', instructions, seconds));
        } catch (e) {
          if (!(e instanceof BenchError)) throw e;
          note(`${w.name}: QEMU FAILED: ${e.message}`);
          failed = true;
        }
      }

      if (emulators.includes('v86') && typeof v86 !== 'string') {
        if (w.pc?.noV86) {
          note(`${w.name}: v86 skipped: ${w.pc.noV86}`);
          continue;
        }
        if (!values.json) note(`${w.name}: v86...`);
        const setup: V86Setup = v86;
        try {
          // The first v86 in a process compiles its wasm and warms up V8: not part of any run.
          if (!v86Warm) {
            await runV86Once(setup, { floppy: readImage(NULL_IMAGE) }, NULL_EXPECT, 120_000);
            v86Warm = true;
          }
          let base = 0;
          if (!isPc) {
            const known = v86Baselines.get(baseline);
            if (known === undefined) {
              const r = await fastest(repeat, () => runV86Once(setup, { floppy: readImage(baseline) }, NULL_EXPECT, 120_000));
              if (w.baseline === undefined && !hasLine(r.out, NULL_EXPECT)) throw new BenchError(`the null workload printed ${JSON.stringify(r.out)}`);
              v86Baselines.set(baseline, r.seconds);
            }
            base = v86Baselines.get(baseline)!;
          }
          const p = w.pc;
          const boot: V86Boot = !p
            ? { floppy: readImage(w.image!) }
            : p.kernel
              ? { kernel: readFileSync(p.kernel), cmdline: p.append, memoryMB: p.memoryMB }
              : { floppy: readImage(p.fda!), memoryMB: p.memoryMB };
          const r = await fastest(repeat, () => runV86Once(setup, boot, w.expect, timeout));
          if (!ended(r.out)) throw new BenchError(`COM1 output ${JSON.stringify(r.out.slice(-200))}; expected ${what}`);
          const seconds = isPc ? r.seconds : overBaseline(w.name, 'v86', r.seconds, base);
          if (seconds !== null) emit(measurement(w.name, 'v86', instructions, seconds));
        } catch (e) {
          if (!(e instanceof BenchError)) throw e;
          note(`${w.name}: v86 FAILED: ${e.message}`);
          failed = true;
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  if (!values.json) {
    if (rows.length > 0) printTable(rows);
    if (qemuBaselines.size > 0 || v86Baselines.size > 0) {
      const q = [...qemuBaselines.values()].map((s) => `QEMU ${s.toFixed(3)} s`);
      const v = [...v86Baselines.values()].map((s) => `v86 ${s.toFixed(3)} s`);
      console.log(`(bare workloads: start-up and boot subtracted: ${[...q, ...v].join(', ')}; best of ${repeat} runs each)`);
    }
  }
  if (suite === 'all' && (await replaySuite(selected, repeat, values.json)) !== 0) failed = true;
  return failed ? 1 : 0;
}

/** The replay suite over the selected whole-PC workloads, then snapshot costs at 128 MiB. */
async function replaySuite(selected: Workload[], repeat: number, json: boolean): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'bitrot-bench-'));
  try {
    for (const w of selected.filter((x) => x.machine === 'pc')) {
      if (!json) note(`${w.name}: plain run, recorded run, replay, verified replay...`);
      const flags = pcFlags(w.pc!, (rel) => {
        const file = join(tmp, rel.replace(/[/\\]/g, '_'));
        const img = readImage(rel);
        const padded = new Uint8Array(Math.max(FLOPPY_SIZE, img.length));
        padded.set(img);
        writeFileSync(file, padded);
        return file;
      });
      const f = measureReplay({ name: w.name, flags, untilText: w.pc!.untilText ? w.expect : undefined }, w.name === 'memtest' ? Math.min(repeat, 2) : repeat);
      if (json) console.log(JSON.stringify({ suite: 'replay', ...f }));
      else {
        console.log(
          `${f.workload}: ${f.instructions} instructions; plain ${f.plainSeconds.toFixed(3)} s, recorded ${f.recordSeconds.toFixed(3)} s ` +
            `(overhead ${f.recordOverheadPercent.toFixed(1)}% end to end, ${f.checkpointPercent.toFixed(1)}% in checkpoints; ${f.recordingBytes} bytes), replay ${f.replaySeconds.toFixed(3)} s ` +
            `(${f.replayVsRecord.toFixed(2)}x record speed), verified replay ${f.verifySeconds.toFixed(3)} s (${f.checkpointsVerified} checkpoints)`,
        );
      }
    }
    if (selected.some((w) => w.name === 'memtest')) {
      if (!json) note('snapshots: memtest86+ with -m 128...');
      const s = measureSnapshots('/boot/memtest86+ia32.bin', 1_500_000_000, 10_000_000);
      if (json) console.log(JSON.stringify({ suite: 'snapshots', ...s }));
      else {
        const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
        console.log(
          `snapshots (${s.guestMB} MiB guest at instruction ${s.atIcount}): full save ${s.fullSaveMs.toFixed(1)} ms, ${mb(s.fullBytes)} in memory, ` +
            `${mb(s.fullFileBytes)} in a recording; incremental after ${s.incrementalAfter} more instructions: save ${s.incrementalSaveMs.toFixed(1)} ms, ` +
            `${mb(s.incrementalBytes)} in memory, ${mb(s.incrementalFileBytes)} in a recording; restore full ${s.restoreFullMs.toFixed(1)} ms, ` +
            `incremental ${s.restoreIncrementalMs.toFixed(1)} ms`,
        );
      }
    }
    return 0;
  } catch (e) {
    note(`replay suite FAILED: ${(e as Error).message}`);
    return 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    note(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
