// Runs hardware-captured single-instruction CPU tests (SingleStepTests, MOO format) against
// bitrot's CPU on a bare machine: load the initial registers and RAM in real mode, execute
// one instruction, compare the final registers and RAM.
//
// What is compared, and what is masked:
// - every 16-bit register (a final state lists only changed ones; the others must keep
//   their initial value), and the upper halves of the 32-bit registers, which 16-bit code
//   must leave at zero;
// - FLAGS under the flags-mask that metadata.json gives for the opcode (or opcode.reg),
//   always without bits 12-15 (IOPL, NT and bit 15 cannot be set in real mode on a 286, but
//   the initial states hold random values there; they are cleared before loading);
// - every RAM byte the test lists, and every byte of every page the CPU wrote (a stray write
//   is a failure); a FLAGS image pushed by an exception is compared under the same mask.
// A REP-prefixed string instruction is stepped until it completes (each iteration retires
// as one instruction in bitrot). Then the HLT that ends every capture is executed too: the
// expected IP is the one after it (the suite's README, "Why is IP always +1 of expected?").
// The I/O space is an open bus (IN reads all ones, as the suite expects). Tests of genuine
// 286/P6 differences are skipped by the list in skips.ts, and counted.
//
// One machine serves a whole file: between tests the CPU is reset and every page the
// previous test touched is cleared, which leaves the same state as a new machine at a
// fraction of the cost (`fresh: true` builds a new machine per test instead).

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createBareMachine } from '../../engine/bare.ts';
import type { IoBus } from '../../engine/cpu/cpu.ts';
import { decode, hex, STRING_OPS } from './decode.ts';
import { ioReason, MOO_REG_NAMES, readMooFile, type MooRegName, type MooTest } from './moo.ts';
import { skipFile, skipTest, supplementaryFlagMask } from './skips.ts';

/** A one-line, user-facing problem with the test directory (exit status 2 at the CLI). */
export class CpuTestsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpuTestsError';
  }
}

export interface OpcodeMeta {
  status?: string;
  arch?: string;
  flags?: string;
  'flags-mask'?: number;
  reg?: Record<string, OpcodeMeta>;
}

export interface SuiteMetadata {
  opcodes: Record<string, OpcodeMeta>;
}

export interface TestFailure {
  name: string;
  idx: number;
  /** What differed, one item per line. */
  diffs: string;
  /** The test itself (bytes, initial registers, expected changes), for a report. */
  context: string;
}

export interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Skipped tests per skip-list id. */
  skips: Record<string, number>;
  /** The first `maxFailures` failures, in file order. */
  failures: TestFailure[];
}

export interface RunOptions {
  /** metadata.json of the suite; read from the file's directory when omitted. */
  metadata?: SuiteMetadata;
  /** Hashes of revoked tests; read from revocation_list.txt beside the file when omitted. */
  revoked?: ReadonlySet<string>;
  /** Keep the details of at most this many failures (default 10). */
  maxFailures?: number;
  /** Build a new machine for every test instead of resetting one (slow; for debugging). */
  fresh?: boolean;
}

/** Flag bits compared always: bits 12-15 are IOPL, NT and a reserved bit, all 0 in real mode on a 286. */
const FLAGS_COMPARED = 0x0fff;
const RAM_SIZE = 16 << 20;
const PAGE = 4096;
/** Upper bound on REP iterations (CX is masked to 7 bits in the suite; this only stops runaways). */
const MAX_REP_STEPS = 0x20000;

const FLAG_NAMES: [number, string][] = [
  [0x800, 'OF'], [0x400, 'DF'], [0x200, 'IF'], [0x100, 'TF'], [0x80, 'SF'], [0x40, 'ZF'],
  [0x20, 'bit5'], [0x10, 'AF'], [0x8, 'bit3'], [0x4, 'PF'], [0x2, 'bit1'], [0x1, 'CF'],
];

// ---- suite files ----

const metadataCache = new Map<string, SuiteMetadata>();
const revokedCache = new Map<string, ReadonlySet<string>>();

/** Read and check metadata.json of a suite directory. */
export function loadMetadata(dir: string): SuiteMetadata {
  const cached = metadataCache.get(dir);
  if (cached) return cached;
  const path = join(dir, 'metadata.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CpuTestsError(`${path}: cannot read (${ioReason(e)}); the suite needs it to mask undefined flags`);
  }
  let meta: SuiteMetadata;
  try {
    meta = JSON.parse(text) as SuiteMetadata;
  } catch (e) {
    throw new CpuTestsError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.opcodes !== 'object' || meta.opcodes === null) {
    throw new CpuTestsError(`${path}: has no "opcodes" object`);
  }
  metadataCache.set(dir, meta);
  return meta;
}

/** Hashes listed in revocation_list.txt (absent file: none). */
export function loadRevoked(dir: string): ReadonlySet<string> {
  const cached = revokedCache.get(dir);
  if (cached) return cached;
  const path = join(dir, 'revocation_list.txt');
  const set = new Set<string>();
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const s = line.trim().toLowerCase();
      if (s && !s.startsWith('#')) set.add(s);
    }
  }
  revokedCache.set(dir, set);
  return set;
}

/** `80.0.MOO.gz` -> `80.0` */
export function fileKey(file: string): string {
  return basename(file).replace(/\.moo(\.gz)?$/i, '');
}

/** The flags-mask for a test: from opcode.reg (file name or the test's ModRM reg), else the opcode. */
function flagsMask(meta: SuiteMetadata, key: string, modrmReg: number | undefined): number {
  const [op, regPart] = key.split('.');
  const entry = meta.opcodes[op.toUpperCase()];
  if (!entry) return 0xffff;
  let e: OpcodeMeta | undefined = entry;
  if (entry.reg) {
    const reg = regPart ?? (modrmReg !== undefined ? String(modrmReg) : undefined);
    e = reg !== undefined ? entry.reg[reg] : undefined;
  }
  return e?.['flags-mask'] ?? entry['flags-mask'] ?? 0xffff;
}

// ---- the machine ----

type Machine = ReturnType<typeof createBareMachine>;

/** 286 register name -> index into the CPU's EAX ECX EDX EBX ESP EBP ESI EDI file. */
const GPR: Partial<Record<MooRegName, number>> = { ax: 0, cx: 1, dx: 2, bx: 3, sp: 4, bp: 5, si: 6, di: 7 };
/** 286 segment register name -> sreg number (ES CS SS DS). */
const SREG: Partial<Record<MooRegName, number>> = { es: 0, cs: 1, ss: 2, ds: 3 };
const GPR32_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

/**
 * The suite's I/O environment: nothing answers, every IN reads all ones (the suite's README,
 * "6C, 6D, E4, E5, EC, ED") and OUT goes nowhere. The bare machine's debug ports would
 * otherwise answer reads of 0xE9 and stop the machine on writes to 0xF4.
 */
const OPEN_BUS: IoBus = {
  in8: () => 0xff,
  in16: () => 0xffff,
  in32: () => -1,
  out8: () => {},
  out16: () => {},
  out32: () => {},
};

function newMachine(): Machine {
  const m = createBareMachine({ ramSize: RAM_SIZE });
  m.cpu.io = OPEN_BUS;
  return m;
}

function readReg(m: Machine, name: MooRegName): number {
  const cpu = m.cpu;
  const g = GPR[name];
  if (g !== undefined) return cpu.regs[g] & 0xffff;
  const s = SREG[name];
  if (s !== undefined) return cpu.segSel[s];
  if (name === 'ip') return cpu.eip & 0xffff;
  return cpu.getFlags() & 0xffff;
}

/** A segment register as real mode leaves it: base = selector << 4, 64 KiB limit, present data (code for CS). */
function realSeg(cpu: Machine['cpu'], s: number, sel: number): void {
  cpu.setSegRaw(s, sel, sel << 4, 0xffff, s === 1 ? 0x9b : 0x93);
}

function loadTest(m: Machine, t: MooTest): void {
  const cpu = m.cpu;
  for (const [addr, v] of t.initial.ram) m.mem.write8(addr, v);
  const r = t.initial.regs;
  for (const name of MOO_REG_NAMES) {
    const g = GPR[name];
    if (g !== undefined) cpu.regs[g] = r[name]!;
    const s = SREG[name];
    if (s !== undefined) realSeg(cpu, s, r[name]!);
  }
  realSeg(cpu, 4, 0);
  realSeg(cpu, 5, 0);
  cpu.eip = r.ip!;
  cpu.setFlags(r.flags! & FLAGS_COMPARED);
}

/** Clear every page in `pages` and forget the dirty set, so the machine is clean for the next test. */
function clearPages(m: Machine, pages: Iterable<number>): void {
  const zero = new Uint8Array(PAGE);
  for (const p of pages) m.mem.load(p * PAGE, zero);
  m.mem.takeDirty();
}

function flagNames(bits: number): string {
  return FLAG_NAMES.filter(([b]) => bits & b).map(([, n]) => n).join(' ');
}

function h16(v: number): string {
  return hex(v, 4);
}

function describe(t: MooTest): string {
  const r = t.initial.regs;
  const lines = [
    `${t.name}  [${t.bytes.map((b) => hex(b, 2)).join(' ')}]  hash ${t.hash}`,
    `  initial: ${MOO_REG_NAMES.map((n) => `${n}=${h16(r[n]!)}`).join(' ')}`,
    `  expected changes: ${Object.entries(t.final.regs).map(([n, v]) => `${n}=${h16(v)}`).join(' ') || 'none'}` +
      (t.final.ram.length ? `; ram ${t.final.ram.map(([a, v]) => `${hex(a, 6)}=${hex(v, 2)}`).join(' ')}` : ''),
  ];
  if (t.exception) lines.push(`  expected exception: #${t.exception.number} (flags pushed at ${hex(t.exception.flagAddress, 6)})`);
  return lines.join('\n');
}

/** Run one test on a clean machine; returns the differences (empty: pass) and the pages touched. */
function runTest(m: Machine, t: MooTest, mask: number, touched: Set<number>): string[] {
  const cpu = m.cpu;
  loadTest(m, t);
  for (const [addr] of t.initial.ram) touched.add(Math.floor(addr / PAGE));
  m.mem.takeDirty();

  const d = decode(t.bytes, t.initial.regs);
  const startCs = t.initial.regs.cs!;
  const startIp = t.initial.regs.ip!;
  let delivered = -1;
  let crash: string | undefined;
  let wideEip = -1;
  try {
    cpu.step();
    delivered = cpu.lastException;
    if (d.rep && STRING_OPS.has(d.opcode)) {
      for (let n = 0; n < MAX_REP_STEPS && delivered === -1 && cpu.segSel[1] === startCs && cpu.eip === startIp; n++) {
        cpu.step();
        delivered = cpu.lastException;
      }
    }
    if (cpu.eip >>> 16) wideEip = cpu.eip >>> 0;
    // The capture ends with a HLT: after the instruction itself, or injected at the first
    // instruction of the target of a jump or exception. Its IP increment is part of the
    // expected state, so execute it too (unless the instruction under test was that HLT).
    // A HLT at IP 0xFFFF leaves the 286's IP at 0 and a P6's EIP at 0x10000; only the low
    // 16 bits are compared after it.
    if (!cpu.halted && m.mem.read8(((cpu.segBase[1] >>> 0) + cpu.eip) >>> 0) === 0xf4) cpu.step();
  } catch (e) {
    crash = `the CPU threw: ${(e as Error).message ?? String(e)}`;
  }
  const written = m.mem.takeDirty();
  for (const p of written) touched.add(p);

  const diffs: string[] = [];
  if (crash) diffs.push(crash);

  // Registers.
  const fin = t.final.regs;
  for (const name of MOO_REG_NAMES) {
    const want = fin[name] ?? t.initial.regs[name]!;
    const got = readReg(m, name);
    if (name === 'flags') {
      const cmp = mask & FLAGS_COMPARED;
      if ((want & cmp) !== (got & cmp)) {
        diffs.push(`flags: expected ${h16(want & cmp)}, got ${h16(got & cmp)} (compared ${h16(cmp)}; differ: ${flagNames((want ^ got) & cmp)})`);
      }
    } else if (want !== got) {
      diffs.push(`${name}: expected ${h16(want)}, got ${h16(got)}`);
    }
  }
  for (let i = 0; i < 8; i++) {
    if (cpu.regs[i] >>> 16) diffs.push(`${GPR32_NAMES[i]}: upper half ${h16(cpu.regs[i] >>> 16)} (expected 0000)`);
  }
  if (wideEip >= 0) diffs.push(`eip: ${hex(wideEip, 8)} after the instruction has bits above 15 set`);

  // Memory: every listed byte, then every byte of every page written.
  const want = new Map<number, number>();
  for (const [a, v] of t.initial.ram) want.set(a, v);
  for (const [a, v] of t.final.ram) want.set(a, v);
  const byteMask = new Map<number, number>();
  if (t.exception) {
    // The FLAGS image an exception or INT pushed sits 4 bytes above the final SP (IP and CS
    // were pushed after it). The EXCP chunk's flag address is one byte low when SP is odd.
    const ss = fin.ss ?? t.initial.regs.ss!;
    const at = ss * 16 + (((fin.sp ?? t.initial.regs.sp!) + 4) & 0xffff);
    byteMask.set(at, mask & FLAGS_COMPARED & 0xff);
    byteMask.set(at + 1, (mask & FLAGS_COMPARED) >> 8);
  }
  const ramDiff = (a: number, w: number, g: number, what: string): void => {
    const bm = byteMask.get(a) ?? 0xff;
    if ((w & bm) !== (g & bm)) diffs.push(`${what}[${hex(a, 6)}]: expected ${hex(w & bm, 2)}, got ${hex(g & bm, 2)}${bm !== 0xff ? ` (pushed FLAGS byte, compared ${hex(bm, 2)})` : ''}`);
  };
  for (const [a, w] of want) ramDiff(a, w, m.mem.read8(a), 'ram');
  let stray = 0;
  for (const p of written) {
    for (let a = p * PAGE; a < (p + 1) * PAGE; a++) {
      if (want.has(a)) continue;
      const g = m.mem.read8(a);
      if (g !== 0) {
        if (stray++ < 8) diffs.push(`stray write: ram[${hex(a, 6)}] = ${hex(g, 2)} (the test expects no change there)`);
      }
    }
  }
  if (stray > 8) diffs.push(`... and ${stray - 8} more stray bytes`);

  if (diffs.length > 0) {
    const wantExc = t.exception?.number ?? -1;
    if (wantExc !== delivered) {
      diffs.push(`exception: expected ${wantExc < 0 ? 'none' : `#${wantExc}`}, delivered ${delivered < 0 ? 'none' : `#${delivered}`}`);
    }
  }
  return diffs;
}

/** Run every test of one MOO file. Throws MooFormatError / CpuTestsError for a bad file. */
export function runMooFile(path: string, opts: RunOptions = {}): FileResult {
  const dir = dirname(path);
  const meta = opts.metadata ?? loadMetadata(dir);
  const revoked = opts.revoked ?? loadRevoked(dir);
  const maxFailures = opts.maxFailures ?? 10;
  const moo = readMooFile(path);
  const key = fileKey(path);
  const result: FileResult = { file: basename(path), passed: 0, failed: 0, skipped: 0, skips: {}, failures: [] };
  const skip = (id: string): void => {
    result.skipped++;
    result.skips[id] = (result.skips[id] ?? 0) + 1;
  };

  const whole = skipFile(key);
  if (whole) {
    for (let i = 0; i < moo.tests.length; i++) skip(whole.id);
    return result;
  }

  let m = newMachine();
  const touched = new Set<number>();
  for (const t of moo.tests) {
    if (revoked.has(t.hash)) {
      skip('revoked');
      continue;
    }
    const d = decode(t.bytes, t.initial.regs);
    const s = skipTest(t, key, d);
    if (s) {
      skip(s.id);
      continue;
    }
    if (opts.fresh) m = newMachine();
    else {
      m.cpu.reset();
      clearPages(m, touched);
      touched.clear();
    }
    const mask = flagsMask(meta, key, d.modrm?.reg) & ~supplementaryFlagMask(key, t, d);
    const diffs = runTest(m, t, mask, touched);
    if (diffs.length === 0) result.passed++;
    else {
      result.failed++;
      if (result.failures.length < maxFailures) result.failures.push({ name: t.name, idx: t.idx, diffs: diffs.join('\n'), context: describe(t) });
    }
  }
  return result;
}
