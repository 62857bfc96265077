// Compiles hot code to JavaScript: a region of decoded blocks (the hot block plus up to a few
// blocks it reaches by direct jumps, calls and fall-through, in its page or the pages either
// side) becomes one function generated with `new Function`, each instruction specialised on
// its decoded constants (register numbers, immediates, displacements, operand and address
// sizes). The interpreter stays the reference: every corner case is handed to it.
//
// The shape of a compiled region:
//   - General registers live in JavaScript locals (R0..R7) for the whole region and are
//     written back to cpu.regs when it exits.
//   - Lazy flags live in locals too (fA fB fR fC fO, run-time kind fK): the compiler knows
//     statically which instruction produced the current flags, so a Jcc after CMP is a plain
//     compare and nothing is stored to the CPU until the region exits. Flag results nobody
//     can observe (overwritten before any read or exit) are not computed at all.
//   - Every instruction runs a fast path only. Memory accesses use the interpreter's own
//     fast path (segment limit by one compare, TLB entry with the right permission, page not
//     slow, no page crossing) on the backing store. When any condition fails, before any
//     state has changed, the instruction is handed to the interpreter (`execute`) with the
//     exact interpreter state (EIP, icount, registers, flags) and the region exits after it.
//     Faults, MMIO, code-page writes, first writes to clean pages, TLB misses and the rest
//     therefore behave exactly as in the interpreter, by construction.
//   - REP MOVS/STOS/LODS/CMPS/SCAS run in page-sized chunks on the backing store under the
//     same conditions, handing whatever remains to the interpreter.
//   - Instructions the compiler does not know run through `execute` in place; the region
//     then continues to the end of that block and leaves at the block boundary.
//   - Control transfers to another block of the region (including loops to itself and
//     RET/indirect jumps to a known block start) continue inside the function while the
//     budget allows and nothing outside the fast paths ran (no interrupt can have become
//     pending, nothing can have stopped the CPU): the run loop would have done nothing at
//     those block boundaries.
//
// Leaves to the interpreter: segment loads, far transfers, interrupts, I/O, INS/OUTS, x87
// escapes, system instructions, RCL/RCR, 16-bit SHLD/SHRD, BT with a register offset into
// memory, POP to memory, PUSHA/POPA, PUSHF/POPF, ENTER, BCD adjusts, LAHF/SAHF, CMPXCHG,
// XADD, non-REP CMPS/SCAS.

import type { CPU } from './cpu.ts';
import { Arena, decodeBlock, DEC, crossedLin } from './decoder.ts';
import { execute } from './execute.ts';
import { PARITY, S } from './constants.ts';
import { PageBits } from '../memory.ts';
import { mulHighU, mulHighS, divU64, divQ, divR } from './operands.ts';

/**
 * Runs up to `budget` (>= 1) instructions of its block starting at cpu.eip, with exactly the
 * interpreter's semantics: same state, one `clock.icount++` per retired instruction, faults
 * raised with cpu.eip at the faulting instruction, return early when cpu.leaveBlock or
 * cpu.stop is set.
 */
export type CompiledBlock = (cpu: CPU, budget: number) => void;

/** Most blocks in one region, and most instructions per block. */
const MAX_REGION_BLOCKS = 8;
const MAX_BLOCK_INSNS = 64;
const MAX_REGION_INSNS = 256;
/** Tail duplication: largest block inlined at a transfer, deepest nesting, most per case. */
const INLINE_BLOCK = 8;
const INLINE_DEPTH = 3;
const INLINE_CASE = 16;

// ---- flags ----
const CF = 0x1, PF = 0x4, ZF = 0x40, SF = 0x80, OF = 0x800;
const ALL = 0x8d5;
const OSZAP = 0x8d4;
/** Flags each condition code (Jcc/SETcc/CMOVcc low nibble) reads. */
const COND_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];

/**
 * Static flag state: where the six arithmetic flags are, as far as the compiler knows.
 *   cpu   in the CPU's fields (flags / lz* / lazyMask)
 *   dyn   in the locals, described at run time by fK (0: in the CPU's fields)
 *   others: produced by that kind of operation on `n`-bit operands, values in the locals.
 * adc/sbb are stored like add/sub but need the general carry formulas.
 */
type Kind = 'cpu' | 'dyn' | 'add' | 'sub' | 'adc' | 'sbb' | 'logic' | 'inc' | 'dec' | 'res';
interface FState {
  k: Kind;
  n: number;
}
const KCODE: Record<Kind, number> = { cpu: 0, dyn: -1, add: 1, adc: 1, sub: 2, sbb: 2, logic: 3, inc: 4, dec: 5, res: 6 };
const WRITES: Record<Kind, number> = { cpu: ALL, dyn: ALL, add: ALL, adc: ALL, sub: ALL, sbb: ALL, logic: ALL, inc: OSZAP, dec: OSZAP, res: ALL };

// ---- run-time helpers shared by every compiled region ----

/** Store a run-time flag state (fK etc.) into the CPU's lazy-flag fields. */
function mat(cpu: CPU, k: number, a: number, b: number, r: number, c: number, o: number): void {
  const top = k >> 3;
  switch (k & 7) {
    case 0:
      return;
    case 1:
    case 2:
      cpu.lzOp = (k & 7) - 1;
      cpu.lzA = a;
      cpu.lzB = b;
      cpu.lzR = r;
      cpu.lzTop = top;
      cpu.lazyMask = ALL;
      return;
    case 3:
      cpu.lzOp = 2;
      cpu.lzR = r;
      cpu.lzTop = top;
      cpu.lazyMask = ALL;
      return;
    case 4:
    case 5:
      cpu.flags = (cpu.flags & ~CF) | c;
      cpu.lzOp = (k & 7) - 4;
      cpu.lzA = a;
      cpu.lzB = 1;
      cpu.lzR = r;
      cpu.lzTop = top;
      cpu.lazyMask = OSZAP;
      return;
    default:
      cpu.flags = (cpu.flags & ~(CF | OF | 0x10)) | c | (o << 11);
      cpu.lzOp = 2;
      cpu.lzR = r;
      cpu.lzTop = top;
      cpu.lazyMask = SF | ZF | PF;
  }
}

/** CF of a run-time flag state (the compiled code's locals, kind `k`). */
function dcf(cpu: CPU, k: number, a: number, b: number, r: number, c: number): number {
  switch (k & 7) {
    case 0:
      return cpu.getCF();
    case 1:
      return (((a & b) | ((a | b) & ~r)) >>> (k >> 3)) & 1;
    case 2:
      return (((~a & b) | ((~a | b) & r)) >>> (k >> 3)) & 1;
    case 3:
      return 0;
    default:
      return c;
  }
}

/** A condition code evaluated on a run-time flag state (the interpreter's `cond`). */
function dcond(cpu: CPU, cc: number, k: number, a: number, b: number, r: number, c: number, o: number): boolean {
  const kind = k & 7;
  if (kind === 0) return cpu.cond(cc);
  const top = k >> 3;
  let cf: number, of: number;
  switch (kind) {
    case 1: cf = (((a & b) | ((a | b) & ~r)) >>> top) & 1; of = (((a ^ r) & (b ^ r)) >>> top) & 1; break;
    case 2: cf = (((~a & b) | ((~a | b) & r)) >>> top) & 1; of = (((a ^ b) & (a ^ r)) >>> top) & 1; break;
    case 3: cf = 0; of = 0; break;
    case 4: cf = c; of = (((a ^ r) & (1 ^ r)) >>> top) & 1; break;
    case 5: cf = c; of = (((a ^ 1) & (a ^ r)) >>> top) & 1; break;
    default: cf = c; of = o;
  }
  const zf = r << (31 - top) === 0;
  const sf = ((r >>> top) & 1) !== 0;
  let v: boolean;
  switch (cc >> 1) {
    case 0: v = of !== 0; break;
    case 1: v = cf !== 0; break;
    case 2: v = zf; break;
    case 3: v = cf !== 0 || zf; break;
    case 4: v = sf; break;
    case 5: v = PARITY[r & 0xff] !== 0; break;
    case 6: v = sf !== (of !== 0); break;
    default: v = zf || sf !== (of !== 0); break;
  }
  return (cc & 1) !== 0 ? !v : v;
}

/** Counters for tests and profiling: regions compiled, instructions handed to the interpreter. */
export const jitStats = { regions: 0, blocks: 0, fallbacks: 0, failures: 0 };

/** Hand one instruction (slot `j` of the region's arena) to the interpreter. */
function fb(cpu: CPU, a: Arena, j: number, eip: number, next: number, ic: number): void {
  jitStats.fallbacks++;
  const s = cpu.arena;
  s.op[0] = a.op[j];
  s.info[0] = a.info[j];
  s.disp[0] = a.disp[j];
  s.imm[0] = a.imm[j];
  s.imm2[0] = a.imm2[j];
  s.len[0] = a.len[j];
  cpu.eip = eip;
  cpu.nextEip = next;
  cpu.clock.icount = ic;
  execute(cpu, 0);
  cpu.eip = cpu.nextEip;
  cpu.clock.icount++;
}

/**
 * The interpreter loop over the entry block, for a budget smaller than the block (and for
 * states the compiled code was not specialised for). Stops at the budget by icount, so a
 * REP instruction that retired several iterations cannot carry the block past it.
 */
function interp(cpu: CPU, first: number, count: number, budget: number): void {
  const clock = cpu.clock;
  const len = cpu.arena.len;
  const end = clock.icount + budget;
  for (let i = first; i < first + count; i++) {
    cpu.nextEip = (cpu.eip + len[i]) | 0;
    execute(cpu, i);
    cpu.eip = cpu.nextEip;
    clock.icount++;
    if (cpu.leaveBlock || cpu.stop || clock.icount >= end) break;
  }
}

/**
 * The interpreter's memory fast path for one access: backing-store index of `size1 + 1`
 * bytes at offset `o` of a segment (base `sb`, fast limit `lim`), or -1 when the access must
 * take the slow path (limit, page crossing, TLB miss or permission, slow page). One closure
 * per CPU; TurboFan inlines it into the compiled regions.
 */
const accessors = new WeakMap<CPU, (o: number, sb: number, lim: number, size1: number, need: number, slow: number) => number>();
function accessor(cpu: CPU): (o: number, sb: number, lim: number, size1: number, need: number, slow: number) => number {
  let f = accessors.get(cpu);
  if (!f) {
    const tlb = cpu.tlb, pm = cpu.pageMap;
    f = (o, sb, lim, size1, need, slow) => {
      const l = (sb + o) | 0, t = tlb[l >>> 12];
      if ((o >>> 0) + size1 > lim || (l & 4095) > 4095 - size1 || (t & need) !== need) return -1;
      const p = pm[t >>> 12];
      return (p & slow) !== 0 ? -1 : (p & -4096) | (l & 4095);
    };
    accessors.set(cpu, f);
  }
  return f;
}

// ---- REP string instructions ----

/**
 * A run of elements of a string operand that the interpreter's fast path would access one
 * by one with identical results: same page (no crossing), within the segment's fast limit,
 * no 16-bit offset wrap, TLB entry with the permission, page not slow. `repK` is how many
 * (0: the first one already needs the slow path), `repIdx` the first one's backing index.
 */
let repIdx = 0;
function repSpan(cpu: CPU, seg: number, off: number, size: number, down: boolean, a32: boolean, write: boolean): number {
  const o = off >>> 0;
  const lim = write ? cpu.segWLim[seg] : cpu.segRLim[seg];
  if (o + size - 1 > lim) return 0;
  const lin = (cpu.segBase[seg] + off) | 0;
  const po = lin & 0xfff;
  if (po + size > 0x1000) return 0;
  const t = cpu.tlb[lin >>> 12];
  const need = write ? cpu.needW : cpu.needR;
  if ((t & need) === 0) return 0;
  const pe = cpu.pageMap[t >>> 12];
  if (pe & (write ? PageBits.WRITE_SLOW : PageBits.READ_SLOW)) return 0;
  repIdx = (pe & ~0xfff) | po;
  let k: number;
  if (!down) {
    k = Math.floor((0x1000 - po) / size);
    const kl = Math.floor((lim - o - size + 1) / size) + 1;
    if (kl < k) k = kl;
    if (!a32) {
      const kw = Math.floor((0x10000 - o - size) / size) + 1;
      if (kw < k) k = kw;
    }
  } else {
    k = Math.floor(po / size) + 1;
    const kl = Math.floor(o / size) + 1;
    if (kl < k) k = kl;
  }
  return k;
}

function repLoad(b: Uint8Array, dv: DataView, i: number, size: number): number {
  return size === 1 ? b[i] : size === 2 ? dv.getUint16(i, true) : dv.getInt32(i, true);
}
function repStore(b: Uint8Array, dv: DataView, i: number, size: number, v: number): void {
  if (size === 1) b[i] = v;
  else if (size === 2) dv.setUint16(i, v, true);
  else dv.setInt32(i, v, true);
}

/**
 * REP MOVS/STOS/LODS/CMPS/SCAS (SDM vol. 2 REP): as many iterations as the interpreter's
 * `stringOp` would run (the count, up to the budget), done in page-sized runs on the backing
 * store. Iterations that need the slow path go to the interpreter, which continues from the
 * state reached. Returns true when the interpreter ran (anything may then have happened).
 */
function repString(cpu: CPU, a: Arena, j: number, eip: number, next: number, ic: number, end: number, dv: DataView): boolean {
  const op = a.op[j], info = a.info[j];
  const a32 = (info & DEC.A32) !== 0;
  const size = op & 1 ? (info & DEC.O32 ? 4 : 2) : 1;
  const r = cpu.regs;
  const count = a32 ? r[1] >>> 0 : r[1] & 0xffff;
  if (count === 0) {
    cpu.eip = next;
    cpu.clock.icount = ic + 1;
    return false;
  }
  const down = (cpu.flags & 0x400) !== 0;
  const step = down ? -size : size;
  const src = (info >> DEC.SEG_SHIFT) & 7;
  const avail = (end < cpu.deadline ? end : cpu.deadline) - ic;
  const n = count < avail ? count : avail;
  const cmp = op === 0xa6 || op === 0xa7 || op === 0xae || op === 0xaf;
  const repz = (info & DEC.REP) !== 0;
  const usesSrc = op <= 0xa7 || op === 0xac || op === 0xad;
  const usesDst = op !== 0xac && op !== 0xad;
  const b = cpu.backing;
  const mask = size === 4 ? -1 : (1 << (size * 8)) - 1;
  let si = r[6], di = r[7];
  let done = 0, stopped = false;
  let x = 0, y = 0;
  while (done < n && !stopped) {
    let k = n - done;
    let is = 0, id = 0;
    if (usesSrc) {
      const ks = repSpan(cpu, src, a32 ? si : si & 0xffff, size, down, a32, false);
      is = repIdx;
      if (ks < k) k = ks;
    }
    if (usesDst && k > 0) {
      const kd = repSpan(cpu, S.ES, a32 ? di : di & 0xffff, size, down, a32, op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab);
      id = repIdx;
      if (kd < k) k = kd;
    }
    if (k <= 0) break;
    let m = k;
    switch (op) {
      case 0xa4: case 0xa5: {
        const span = k * size;
        if (Math.abs(is - id) >= span) {
          const s0 = down ? is - (k - 1) * size : is, d0 = down ? id - (k - 1) * size : id;
          b.copyWithin(d0, s0, s0 + span);
        } else {
          // Overlapping: element by element, in the interpreter's order.
          for (let q = 0; q < k; q++) repStore(b, dv, id + q * step, size, repLoad(b, dv, is + q * step, size));
        }
        break;
      }
      case 0xaa: case 0xab: {
        const v = r[0] & mask;
        if (size === 1) b.fill(v, down ? id - (k - 1) : id, (down ? id - (k - 1) : id) + k);
        else for (let q = 0; q < k; q++) repStore(b, dv, id + q * step, size, v);
        break;
      }
      case 0xac: case 0xad: {
        const v = repLoad(b, dv, is + (k - 1) * step, size);
        if (size === 4) r[0] = v;
        else if (size === 2) cpu.r16[0] = v;
        else cpu.r8[0] = v;
        break;
      }
      default: {
        const acc = size === 4 ? r[0] : r[0] & mask;
        for (m = 0; m < k; ) {
          if (op <= 0xa7) {
            x = repLoad(b, dv, is + m * step, size);
            y = repLoad(b, dv, id + m * step, size);
          } else {
            x = acc;
            y = repLoad(b, dv, id + m * step, size);
          }
          m++;
          if ((x === y) !== repz) {
            stopped = true;
            break;
          }
        }
      }
    }
    done += m;
    if (usesSrc) si = a32 ? (si + m * step) | 0 : (si & ~0xffff) | ((si + m * step) & 0xffff);
    if (usesDst) di = a32 ? (di + m * step) | 0 : (di & ~0xffff) | ((di + m * step) & 0xffff);
    if (cmp) cpu.setLazy(1, x, y, (x - y) | 0, size * 8);
  }
  if (done > 0) {
    r[6] = si;
    r[7] = di;
    if (a32) r[1] = (r[1] - done) | 0;
    else cpu.r16[2] = cpu.r16[2] - done;
  }
  const left = count - done;
  if (left === 0 || stopped || done === n) {
    // Like stringOp, a REP ends its block; when the budget ran out first, the instruction
    // runs again later.
    cpu.eip = left === 0 || stopped ? next : eip;
    cpu.leaveBlock = true;
    cpu.clock.icount = ic + done;
    return false;
  }
  fb(cpu, a, j, eip, next, ic + done);
  return true;
}

/** Quotient and remainder of the last udiv/idiv helper call. */
const DQ = new Float64Array(2);

/** DIV r/m32 after the #DE checks: EDX:EAX / d. */
function udiv(hi: number, lo: number, d: number): void {
  divU64(hi, lo, d);
  DQ[0] = divQ;
  DQ[1] = divR;
}

/** IDIV r/m32 (the interpreter's algorithm); false when it raises #DE. */
function idiv32(hi: number, lo: number, d: number): boolean {
  if (d === 0) return false;
  const neg = hi < 0;
  if (neg) {
    lo = (~lo + 1) | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
  const ad = d < 0 ? -d >>> 0 : d;
  if ((hi >>> 0) >= ad) return false;
  divU64(hi, lo, ad);
  const q = neg !== d < 0 ? -divQ : divQ;
  if (q > 0x7fffffff || q < -0x80000000) return false;
  DQ[0] = q;
  DQ[1] = neg ? -divR : divR;
  return true;
}

// ---- region discovery ----

interface Insn {
  /** Slot in the region's arena. */
  j: number;
  op: number;
  info: number;
  disp: number;
  imm: number;
  imm2: number;
  /** Offsets of this instruction and the next, relative to the region's entry EIP. */
  off: number;
  next: number;
  /** Index within its block. */
  k: number;
}

interface RBlock {
  id: number;
  start: number;
  insns: Insn[];
  end: number;
  /** Some of its bytes lie in the page before / after the entry page (see xPrev / xNext). */
  usesPrev: boolean;
  usesNext: boolean;
}

const T = 0x100;
function isJcc(op: number): boolean {
  return (op >= 0x70 && op <= 0x7f) || (op >= T + 0x80 && op <= T + 0x8f);
}

/**
 * Static successor offsets of a block (relative to the region entry): jump targets, the
 * instruction after a conditional jump, LOOP or CALL (where RET comes back to), and the
 * fall-through of a block the decoder cut at its size limit or near the page end.
 */
function successors(b: RBlock, pageOff: number): number[] {
  const last = b.insns[b.insns.length - 1];
  const op = last.op;
  const target = last.next + last.imm;
  if (isJcc(op) || (op >= 0xe0 && op <= 0xe3)) return [target, last.next];
  if (op === 0xe9 || op === 0xeb) return [target];
  if (op === 0xe8) return [target, last.next];
  if (op === 0xff && ((last.info >> DEC.REG_SHIFT) & 7) === 2) return [last.next];
  // Cut by the size limit, or by the page end (the next instruction may cross it).
  const inPage = (pageOff + last.next) & 0xfff;
  if (b.insns.length >= MAX_BLOCK_INSNS || inPage === 0 || inPage > 4096 - 16) return [last.next];
  return [];
}

let scratch: Arena | null = null;

/**
 * Entry blocks of the regions compiled for each CPU that contain a loop: physical address * 2
 * + CS.D, mapped to the code generation of its page when compiled. A new region stops at
 * such an entry (the run loop dispatches there), so a hot loop is not copied into every
 * region that can reach it: each copy would start cold in V8 and run unoptimised until it
 * warms up. Regions without loops (a leaf subroutine, say) are cheap to copy.
 */
const entries = new WeakMap<CPU, Map<number, number>>();

/** Whether the region's blocks (static edges between them) contain a cycle. */
function hasLoop(blocks: RBlock[], byStart: Map<number, RBlock>, pageOff: number): boolean {
  const state = new Uint8Array(blocks.length); // 0 new, 1 on the DFS stack, 2 done
  const visit = (b: RBlock): boolean => {
    state[b.id] = 1;
    for (const d of successors(b, pageOff)) {
      const t = byStart.get(d);
      if (!t) continue;
      if (state[t.id] === 1 || (state[t.id] === 0 && visit(t))) return true;
    }
    state[b.id] = 2;
    return false;
  };
  return blocks.some((b) => state[b.id] === 0 && visit(b));
}

// =====================================================================================
// Code generation
// =====================================================================================

const SPILL = '\u0001';
const RELOAD = '\u0002';

interface Meta {
  fr: number;
  fw: number;
  exit: boolean;
}

class Gen {
  private out: string[] = [];
  private uid = 0;
  fs: FState = { k: 'dyn', n: 32 };
  private fs0: FState = this.fs;
  private live = ALL;
  private meta: Meta = { fr: 0, fw: 0, exit: false };
  used = 0;
  written = 0;
  segs = 0;
  private b!: RBlock;
  private ins!: Insn;
  private terminated = false;

  constructor(
    private readonly blocks: RBlock[],
    private readonly byStart: Map<number, RBlock>,
    private readonly ssB: boolean,
    private readonly pageOff: number,
  ) {}

  get code(): string {
    return this.out.join('\n');
  }

  // ---- emission helpers ----
  private emit(s: string): void {
    this.out.push(s);
  }
  private tmp(p: string): string {
    return `${p}${this.uid++}`;
  }

  // ---- registers ----
  private use(r: number): void {
    this.used |= 1 << r;
  }
  private r32(r: number): string {
    this.use(r);
    return `R${r}`;
  }
  private r16(r: number): string {
    this.use(r);
    return `(R${r} & 65535)`;
  }
  private r8(r: number): string {
    this.use(r & 3);
    return r < 4 ? `(R${r} & 255)` : `((R${r - 4} >> 8) & 255)`;
  }
  private rd(n: number, r: number): string {
    return n === 32 ? this.r32(r) : n === 16 ? this.r16(r) : this.r8(r);
  }
  private wr(n: number, r: number, v: string): void {
    if (n === 32) {
      this.use(r);
      this.written |= 1 << r;
      this.emit(`R${r} = (${v}) | 0;`);
    } else if (n === 16) {
      this.use(r);
      this.written |= 1 << r;
      this.emit(`R${r} = (R${r} & -65536) | ((${v}) & 65535);`);
    } else if (r < 4) {
      this.use(r);
      this.written |= 1 << r;
      this.emit(`R${r} = (R${r} & -256) | ((${v}) & 255);`);
    } else {
      this.use(r - 4);
      this.written |= 1 << (r - 4);
      this.emit(`R${r - 4} = (R${r - 4} & -65281) | (((${v}) & 255) << 8);`);
    }
  }
  /** A const holding the current value of an expression. */
  private val(expr: string, p = 'v'): string {
    const t = this.tmp(p);
    this.emit(`const ${t} = ${expr};`);
    return t;
  }

  // ---- flags ----
  private matCode(fs: FState): string {
    const top = fs.n - 1;
    switch (fs.k) {
      case 'cpu':
        return '';
      case 'dyn':
        return 'mat(cpu, fK, fA, fB, fR, fC, fO);';
      case 'add':
      case 'adc':
      case 'sub':
      case 'sbb':
        return `cpu.lzOp = ${fs.k === 'add' || fs.k === 'adc' ? 0 : 1}; cpu.lzA = fA; cpu.lzB = fB; cpu.lzR = fR; cpu.lzTop = ${top}; cpu.lazyMask = ${ALL};`;
      case 'logic':
        return `cpu.lzOp = 2; cpu.lzR = fR; cpu.lzTop = ${top}; cpu.lazyMask = ${ALL};`;
      case 'inc':
      case 'dec':
        return `cpu.flags = (cpu.flags & -2) | fC; cpu.lzOp = ${fs.k === 'inc' ? 0 : 1}; cpu.lzA = fA; cpu.lzB = 1; cpu.lzR = fR; cpu.lzTop = ${top}; cpu.lazyMask = ${OSZAP};`;
      case 'res':
        return `cpu.flags = (cpu.flags & -2066) | fC | (fO << 11); cpu.lzOp = 2; cpu.lzR = fR; cpu.lzTop = ${top}; cpu.lazyMask = ${SF | ZF | PF};`;
    }
  }

  /** Make the flag state static 'cpu' (materialised in the CPU's fields). */
  private toCpu(): void {
    if (this.fs.k === 'cpu') return;
    this.emit(this.matCode(this.fs));
    if (this.fs.k === 'dyn') this.emit('fK = 0;');
    this.fs = { k: 'cpu', n: 32 };
  }

  private readFlags(m: number): void {
    this.meta.fr |= m;
  }

  /** CF as a number 0/1. */
  private cf(): string {
    this.readFlags(CF);
    if (this.fs.k === 'dyn') return 'dcf(cpu, fK, fA, fB, fR, fC)';
    const { k, n } = this.fs;
    const top = n - 1;
    switch (k) {
      case 'cpu':
        return 'cpu.getCF()';
      case 'add':
        return n === 32 ? '((fR >>> 0) < (fA >>> 0) ? 1 : 0)' : `((fR >> ${n}) & 1)`;
      case 'sub':
        return n === 32 ? '((fA >>> 0) < (fB >>> 0) ? 1 : 0)' : '(fA < fB ? 1 : 0)';
      case 'adc':
        return `((((fA & fB) | ((fA | fB) & ~fR)) >>> ${top}) & 1)`;
      case 'sbb':
        return `((((~fA & fB) | ((~fA | fB) & fR)) >>> ${top}) & 1)`;
      case 'logic':
        return '0';
      default:
        return 'fC';
    }
  }

  private zf(): string {
    const n = this.fs.n;
    return n === 32 ? '(fR === 0)' : `((fR & ${n === 16 ? 65535 : 255}) === 0)`;
  }
  private sf(): string {
    const n = this.fs.n;
    return n === 32 ? '(fR < 0)' : `((fR & ${n === 16 ? 0x8000 : 0x80}) !== 0)`;
  }
  private of(): string {
    const { k, n } = this.fs;
    const top = n - 1;
    switch (k) {
      case 'add':
      case 'adc':
        return `((((fA ^ fR) & (fB ^ fR)) >>> ${top}) & 1) !== 0`;
      case 'inc':
        return `((((fA ^ fR) & (1 ^ fR)) >>> ${top}) & 1) !== 0`;
      case 'sub':
      case 'sbb':
        return `((((fA ^ fB) & (fA ^ fR)) >>> ${top}) & 1) !== 0`;
      case 'dec':
        return `((((fA ^ 1) & (fA ^ fR)) >>> ${top}) & 1) !== 0`;
      case 'res':
        return '(fO !== 0)';
      default:
        return 'false';
    }
  }

  /** A condition code (SDM vol. 1 app. B) as a boolean expression. */
  private cond(cc: number): string {
    this.readFlags(COND_READS[cc]);
    if (this.fs.k === 'dyn') return `dcond(cpu, ${cc}, fK, fA, fB, fR, fC, fO)`;
    const { k, n } = this.fs;
    if (k === 'cpu') return `cpu.cond(${cc})`;
    const neg = (cc & 1) !== 0;
    let e: string | null = null;
    if (k === 'sub') {
      const sh = 32 - n;
      const ua = n === 32 ? '(fA >>> 0)' : 'fA', ub = n === 32 ? '(fB >>> 0)' : 'fB';
      const sa = sh ? `(fA << ${sh})` : 'fA', sb = sh ? `(fB << ${sh})` : 'fB';
      switch (cc >> 1) {
        case 1: e = neg ? `${ua} >= ${ub}` : `${ua} < ${ub}`; break;
        case 2: e = neg ? 'fA !== fB' : 'fA === fB'; break;
        case 3: e = neg ? `${ua} > ${ub}` : `${ua} <= ${ub}`; break;
        case 6: e = neg ? `${sa} >= ${sb}` : `${sa} < ${sb}`; break;
        case 7: e = neg ? `${sa} > ${sb}` : `${sa} <= ${sb}`; break;
      }
      if (e !== null) return `(${e})`;
    }
    let r: string;
    switch (cc >> 1) {
      case 0: r = this.of(); break;
      case 1: r = `(${this.cf()} !== 0)`; break;
      case 2: r = this.zf(); break;
      case 3: r = `(${this.cf()} !== 0 || ${this.zf()})`; break;
      case 4: r = this.sf(); break;
      case 5: r = '(P[fR & 255] !== 0)'; break;
      case 6: r = k === 'logic' ? this.sf() : `(${this.sf()} !== (${this.of()}))`; break;
      default: r = k === 'logic' ? `(${this.zf()} || ${this.sf()})` : `(${this.zf()} || ${this.sf()} !== (${this.of()}))`; break;
    }
    return neg ? `!${r}` : r;
  }

  /**
   * A flag-producing operation. Skipped when nothing can observe its flags (the static
   * state then stays on the previous producer, whose unwritten flags are the right ones).
   */
  private setFlags(k: Kind, n: number, a: string, b: string, r: string, c = '0', o = '0'): void {
    const w = WRITES[k];
    this.meta.fw |= w;
    if ((this.live & w) === 0) return;
    if (k === 'inc' || k === 'dec') {
      const cf = this.cf();
      if (cf !== 'fC') this.emit(`fC = ${cf};`);
    }
    switch (k) {
      case 'logic':
        this.emit(`fR = ${r};`);
        break;
      case 'inc':
      case 'dec':
        this.emit(`fA = ${a}; fR = ${r};`);
        break;
      case 'res':
        this.emit(`fR = ${r}; fC = ${c}; fO = ${o};`);
        break;
      default:
        this.emit(`fA = ${a}; fB = ${b}; fR = ${r};`);
    }
    this.fs = { k, n };
  }

  /**
   * Instructions that evaluate every flag and then edit some directly (rotates, CLC/STC/CMC,
   * BSF/BSR, BT): when their flags are live, materialise and call getFlags() as the
   * interpreter does. Returns false when the flags are dead (skip the flag work).
   */
  private editFlags(w: number): boolean {
    this.meta.fw |= w;
    if ((this.live & w) === 0) return false;
    this.readFlags(ALL);
    this.toCpu();
    this.emit('cpu.getFlags();');
    return true;
  }

  // ---- exits ----

  /** The fallback for the current instruction: the interpreter runs it, then the region exits. */
  private fbExit(): string {
    this.meta.exit = true;
    const i = this.ins;
    const s = this.site(this.fs0, i.j, i.off, i.next, i.k);
    return `{ xs = ${s}; break X; }`;
  }

  /**
   * Exit sites: each one only records its number (and target) and leaves the main loop; the
   * shared exit code after it writes the registers back, stores the flag state of that site
   * and either hands the instruction to the interpreter (j >= 0) or sets EIP.
   */
  readonly sites: { mat: string; j: number; off: number; next: number; k: number }[] = [];
  private site(fs: FState, j: number, off: number, next: number, k: number): number {
    this.sites.push({ mat: this.matCode(fs), j, off, next, k });
    return this.sites.length - 1;
  }

  /** The shared exit code (see `site`), and its constant tables (for the closure). */
  exitCode(): { tables: string; code: string } {
    const byMat = new Map<string, number[]>();
    this.sites.forEach((x, n) => {
      if (x.mat === '') return;
      const l = byMat.get(x.mat);
      if (l) l.push(n);
      else byMat.set(x.mat, [n]);
    });
    const cases = [...byMat].map(([m, l]) => `${l.map((n) => `case ${n}:`).join(' ')} ${m} break;`);
    const tab = (f: (x: { j: number; off: number; next: number; k: number }) => number) => `new Int32Array([${this.sites.map(f).join(',')}])`;
    return {
      tables: `const SJ = ${tab((x) => x.j)}, SO = ${tab((x) => x.off)}, SN = ${tab((x) => x.next)}, SK = ${tab((x) => x.k)};`,
      code: [
        SPILL,
        cases.length ? `switch (xs) { ${cases.join('\n')} }` : '',
        'const sj = SJ[xs];',
        'if (sj >= 0) { fb(cpu, A, sj, (e0 + SO[xs]) | 0, (e0 + SN[xs]) | 0, icB + SK[xs]); return; }',
        'cpu.eip = xt; clock.icount = icB;',
      ].join('\n'),
    };
  }

  private guard(cond: string): void {
    this.emit(`if (${cond}) ${this.fbExit()}`);
  }

  /** Leave the current block for EIP `t` (static offset `d` when known, exactly e0+d when `exact`). */
  private transfer(t: string, d: number | null, exact: boolean): void {
    const cnt = this.b.insns.length;
    this.emit(`icB += ${cnt};`);
    const fk = this.fs.k === 'dyn' ? '' : `fK = ${KCODE[this.fs.k] | ((this.fs.n - 1) << 3)}; `;
    if (d !== null) {
      const tb = this.byStart.get(d);
      if (tb && this.inlinable(tb)) {
        // The same conditions as a transition, then the target's code right here.
        const same = exact ? '' : ` && ${t} === ((e0 + (${d})) | 0)`;
        this.emit(`if (!(chain${this.sides(tb)}${same} && icB + ${tb.insns.length} <= end)) { xs = ${this.site(this.fs, -1, 0, 0, 0)}; xt = ${t}; break X; }`);
        this.inlined += tb.insns.length;
        // The enclosing instruction (a Jcc, say) goes on with its other path afterwards.
        const { fs, fs0, live, meta, ins } = this;
        this.body(tb, [...this.path, tb.id]);
        Object.assign(this, { fs, fs0, live, meta, ins });
        this.terminated = true;
        return;
      }
      if (tb) {
        const same = exact ? '' : ` && ${t} === ((e0 + (${d})) | 0)`;
        this.emit(`if (chain${this.sides(tb)}${same} && icB + ${tb.insns.length} <= end) { ${fk}blk = ${tb.id}; continue; }`);
      }
    } else if (this.blocks.length > 0) {
      const cases = this.blocks.map((tb) => `case ${tb.start}: if (icB + ${tb.insns.length} <= end${this.sides(tb)}) { ${fk}blk = ${tb.id}; continue; } break;`);
      this.emit(`if (chain) switch ((${t} - e0) | 0) { ${cases.join(' ')} }`);
    }
    this.emit(`xs = ${this.site(this.fs, -1, 0, 0, 0)}; xt = ${t}; break X;`);
    this.terminated = true;
  }

  /** The side-page validity conditions for entering block `tb`. */
  private sides(tb: RBlock): string {
    return (tb.usesPrev ? ' && xPrev' : '') + (tb.usesNext ? ' && xNext' : '');
  }

  /** A relative jump target as the interpreter computes it. */
  private relTarget(o32: boolean): { t: string; d: number } {
    const i = this.ins;
    const d = i.next + i.imm;
    const t = this.val(o32 ? `(e0 + (${d})) | 0` : `(e0 + (${d})) & 65535`, 't');
    return { t, d };
  }

  // ---- memory ----

  /**
   * Emit the checks of the interpreter's fast path for an access of `size` bytes at
   * segment `seg`, offset expression `off`; returns the backing index variable.
   */
  private mem(seg: number, off: string, size: number, mode: 'r' | 'w' | 'rw'): string {
    const id = this.uid++;
    this.segs |= 1 << seg;
    const lim = mode === 'r' ? `sr${seg}` : `sw${seg}`;
    const need = mode === 'r' ? 'needR' : mode === 'w' ? 'needW' : 'needRW';
    this.emit(`const x${id} = xa(${off}, sb${seg}, ${lim}, ${size - 1}, ${need}, ${mode === 'r' ? 2 : mode === 'w' ? 1 : 3});`);
    this.guard(`x${id} < 0`);
    return `x${id}`;
  }
  private load(x: string, size: number): string {
    return size === 1 ? `mem[${x}]` : size === 2 ? `dv.getUint16(${x}, true)` : `dv.getInt32(${x}, true)`;
  }
  private store(x: string, size: number, v: string): void {
    this.emit(size === 1 ? `mem[${x}] = ${v};` : size === 2 ? `dv.setUint16(${x}, ${v}, true);` : `dv.setInt32(${x}, ${v}, true);`);
  }

  /** Effective address (offset) of the instruction's memory operand. */
  private ea(): string {
    const { info, disp } = this.ins;
    const b = (info >> DEC.BASE_SHIFT) & 15, x = (info >> DEC.INDEX_SHIFT) & 15, s = (info >> DEC.SCALE_SHIFT) & 3;
    const parts: string[] = [];
    if (b < 8) parts.push(this.r32(b));
    if (x < 8) parts.push(s ? `(${this.r32(x)} << ${s})` : this.r32(x));
    if (disp !== 0 || parts.length === 0) parts.push(`(${disp})`);
    const sum = parts.join(' + ');
    return info & DEC.A32 ? `(${sum}) | 0` : `(${sum}) & 65535`;
  }
  private seg(): number {
    return (this.ins.info >> DEC.SEG_SHIFT) & 7;
  }

  /** Read the ModRM E operand (n bits). */
  private readE(n: number): string {
    const info = this.ins.info;
    if (!(info & DEC.MEM)) return this.val(this.rd(n, info & 7));
    const x = this.mem(this.seg(), this.ea(), n >> 3, 'r');
    return this.val(this.load(x, n >> 3));
  }
  /** Check a write (or read-modify-write) of the E operand; returns a writer. */
  private prepE(n: number, mode: 'w' | 'rw'): { get: string; put: (v: string) => void } {
    const info = this.ins.info;
    const size = n >> 3;
    if (!(info & DEC.MEM)) {
      const r = info & 7;
      return { get: mode === 'rw' ? this.val(this.rd(n, r)) : '', put: (v) => this.wr(n, r, v) };
    }
    const x = this.mem(this.seg(), this.ea(), size, mode);
    return { get: mode === 'rw' ? this.val(this.load(x, size)) : '', put: (v) => this.store(x, size, v) };
  }

  // ---- stack ----
  private pushPrep(size: number): { x: string; sp: string } {
    const sp = this.val(this.ssB ? `(${this.r32(4)} - ${size}) | 0` : `(${this.r32(4)} - ${size}) & 65535`, 's');
    const x = this.mem(S.SS, sp, size, 'w');
    return { x, sp };
  }
  private pushCommit(p: { x: string; sp: string }, size: number, v: string): void {
    this.store(p.x, size, v);
    this.wr(this.ssB ? 32 : 16, 4, p.sp);
  }
  private popPrep(size: number): { v: string; sp: string } {
    const sp = this.val(this.ssB ? this.r32(4) : this.r16(4), 's');
    const x = this.mem(S.SS, sp, size, 'r');
    return { v: this.val(this.load(x, size)), sp };
  }
  private popCommit(p: { sp: string }, n: number): void {
    this.wr(this.ssB ? 32 : 16, 4, `${p.sp} + ${n}`);
  }

  // ---- ALU ----
  private alu(o: number, a: string, b: string, n: number, same = false): string {
    let r: string;
    switch (o) {
      case 0:
        r = this.val(`(${a} + ${b}) | 0`, 'r');
        this.setFlags('add', n, a, b, r);
        return r;
      case 1:
        r = this.val(`${a} | ${b}`, 'r');
        this.setFlags('logic', n, a, b, r);
        return r;
      case 2: {
        const c = this.val(this.cf(), 'c');
        r = this.val(`(${a} + ${b} + ${c}) | 0`, 'r');
        this.setFlags('adc', n, a, b, r);
        return r;
      }
      case 3: {
        const c = this.val(this.cf(), 'c');
        r = this.val(`(${a} - ${b} - ${c}) | 0`, 'r');
        this.setFlags('sbb', n, a, b, r);
        return r;
      }
      case 4:
        r = this.val(`${a} & ${b}`, 'r');
        this.setFlags('logic', n, a, b, r);
        return r;
      case 6:
        r = this.val(same ? '0' : `${a} ^ ${b}`, 'r');
        this.setFlags('logic', n, a, b, r);
        return r;
      default:
        r = this.val(same ? '0' : `(${a} - ${b}) | 0`, 'r');
        this.setFlags('sub', n, a, b, r);
        return r;
    }
  }

  private immN(n: number): string {
    const v = this.ins.imm;
    return String(n === 8 ? v & 0xff : n === 16 ? v & 0xffff : v | 0);
  }

  // =====================================================================================
  // One instruction. Returns false when it is not compiled (the caller falls back).
  // =====================================================================================

  private insn(): boolean {
    const i = this.ins;
    const { op, info } = i;
    const o32 = (info & DEC.O32) !== 0;
    const a32 = (info & DEC.A32) !== 0;
    const isMem = (info & DEC.MEM) !== 0;
    const reg = (info >> DEC.REG_SHIFT) & 7;
    const rm = info & 7;
    const nv = o32 ? 32 : 16;
    if (op < 0x40 && (op & 7) < 6) return this.aluForm(op, nv);
    switch (op) {
      case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
        const a = this.val(this.rd(nv, op & 7), 'a');
        const r = this.val(op < 0x48 ? `(${a} + 1) | 0` : `(${a} - 1) | 0`, 'r');
        this.setFlags(op < 0x48 ? 'inc' : 'dec', nv, a, '1', r);
        this.wr(nv, op & 7, r);
        return true;
      }
      case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: {
        const v = this.val(this.rd(nv, op & 7));
        const p = this.pushPrep(nv >> 3);
        this.pushCommit(p, nv >> 3, v);
        return true;
      }
      case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
        const p = this.popPrep(nv >> 3);
        this.popCommit(p, nv >> 3);
        this.wr(nv, op & 7, p.v);
        return true;
      }
      case 0x68: case 0x6a: {
        const p = this.pushPrep(nv >> 3);
        this.pushCommit(p, nv >> 3, String(o32 ? i.imm | 0 : i.imm & 0xffff));
        return true;
      }
      case 0x69: case 0x6b: {
        const e = this.readE(nv);
        const src = o32 ? e : this.val(`(${e} << 16) >> 16`);
        this.imulTo(reg, src, String(o32 ? i.imm | 0 : (i.imm << 16) >> 16), o32);
        return true;
      }
      case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
      case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
        this.jcc(op & 15, o32);
        return true;
      case 0x80: case 0x81: case 0x82: case 0x83:
        return this.group1(op, reg, nv);
      case 0x84: case 0x85: {
        const n = op === 0x84 ? 8 : nv;
        const e = this.readE(n);
        const g = this.val(this.rd(n, reg));
        const r = this.val(`${e} & ${g}`, 'r');
        this.setFlags('logic', n, e, g, r);
        return true;
      }
      case 0x86: case 0x87: {
        const n = op === 0x86 ? 8 : nv;
        const e = this.prepE(n, 'rw');
        const g = this.val(this.rd(n, reg));
        e.put(g);
        this.wr(n, reg, e.get);
        return true;
      }
      case 0x88: case 0x89: {
        const n = op === 0x88 ? 8 : nv;
        const g = this.val(this.rd(n, reg));
        this.prepE(n, 'w').put(g);
        return true;
      }
      case 0x8a: case 0x8b: {
        const n = op === 0x8a ? 8 : nv;
        this.wr(n, reg, this.readE(n));
        return true;
      }
      case 0x8c: {
        if (reg > 5) return false;
        const v = this.val(`cpu.segSel[${reg}]`);
        if (isMem) this.prepE(16, 'w').put(v);
        else this.wr(nv, rm, v);
        return true;
      }
      case 0x8d:
        if (!isMem) return false;
        this.wr(nv, reg, this.ea());
        return true;
      case 0x90:
        return true;
      case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
        const a = this.val(this.rd(nv, 0)), b = this.val(this.rd(nv, op & 7));
        this.wr(nv, 0, b);
        this.wr(nv, op & 7, a);
        return true;
      }
      case 0x98:
        if (o32) this.wr(32, 0, `(${this.r32(0)} << 16) >> 16`);
        else this.wr(16, 0, `(${this.r32(0)} << 24) >> 24`);
        return true;
      case 0x99:
        if (o32) this.wr(32, 2, `${this.r32(0)} >> 31`);
        else this.wr(16, 2, `(${this.r32(0)} << 16) >> 31`);
        return true;
      case 0xa0: case 0xa1: {
        const n = op === 0xa0 ? 8 : nv;
        const x = this.mem(this.seg(), String(i.disp), n >> 3, 'r');
        this.wr(n, 0, this.load(x, n >> 3));
        return true;
      }
      case 0xa2: case 0xa3: {
        const n = op === 0xa2 ? 8 : nv;
        const v = this.val(this.rd(n, 0));
        const x = this.mem(this.seg(), String(i.disp), n >> 3, 'w');
        this.store(x, n >> 3, v);
        return true;
      }
      case 0xa4: case 0xa5: case 0xaa: case 0xab: case 0xac: case 0xad:
        return this.stringOp(op, o32, a32);
      case 0xa8: case 0xa9: {
        const n = op === 0xa8 ? 8 : nv;
        const a = this.val(this.rd(n, 0));
        const r = this.val(`${a} & ${this.immN(n)}`, 'r');
        this.setFlags('logic', n, a, '0', r);
        return true;
      }
      case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
        this.wr(8, op & 7, String(i.imm & 0xff));
        return true;
      case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        this.wr(nv, op & 7, String(i.imm | 0));
        return true;
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        return this.shiftOp(op, reg, op & 1 ? nv : 8);
      case 0xc2: case 0xc3: {
        const size = nv >> 3;
        const p = this.popPrep(size);
        const t = p.v;
        this.guard(`(${t} >>> 0) > cslim`);
        this.popCommit(p, size + (op === 0xc2 ? i.imm : 0));
        this.transfer(t, null, false);
        return true;
      }
      case 0xc6: case 0xc7: {
        if (reg !== 0) return false;
        const n = op === 0xc6 ? 8 : nv;
        this.prepE(n, 'w').put(this.immN(n));
        return true;
      }
      case 0xc9: {
        const size = nv >> 3;
        const sp = this.val(this.ssB ? this.r32(5) : this.r16(5), 's');
        const x = this.mem(S.SS, sp, size, 'r');
        const v = this.val(this.load(x, size));
        this.wr(this.ssB ? 32 : 16, 4, `${sp} + ${size}`);
        this.wr(nv, 5, v);
        return true;
      }
      case 0xd7: {
        const off = a32 ? `(${this.r32(3)} + ${this.r8(0)}) | 0` : `(${this.r32(3)} + ${this.r8(0)}) & 65535`;
        const x = this.mem(this.seg(), off, 1, 'r');
        this.wr(8, 0, this.load(x, 1));
        return true;
      }
      case 0xe0: case 0xe1: case 0xe2: case 0xe3:
        this.loop(op, o32, a32);
        return true;
      case 0xe8: {
        const { t, d } = this.relTarget(o32);
        const p = this.pushPrep(nv >> 3);
        this.guard(`(${t} >>> 0) > cslim`);
        this.pushCommit(p, nv >> 3, `(e0 + (${i.next})) | 0`);
        this.transfer(t, d, o32);
        return true;
      }
      case 0xe9: case 0xeb: {
        const { t, d } = this.relTarget(o32);
        this.guard(`(${t} >>> 0) > cslim`);
        this.transfer(t, d, o32);
        return true;
      }
      case 0xf5:
        if (this.editFlags(CF)) this.emit('cpu.flags ^= 1;');
        return true;
      case 0xf8:
        if (this.editFlags(CF)) this.emit('cpu.flags &= -2;');
        return true;
      case 0xf9:
        if (this.editFlags(CF)) this.emit('cpu.flags |= 1;');
        return true;
      case 0xfc:
        this.emit('cpu.flags &= -1025;');
        return true;
      case 0xfd:
        this.emit('cpu.flags |= 1024;');
        return true;
      case 0xf6: case 0xf7:
        return this.group3(reg, op === 0xf6 ? 8 : nv);
      case 0xfe: case 0xff:
        return this.group45(op, reg, op === 0xfe ? 8 : nv, o32);
      default:
        if (op >= T) return this.twoByte(op & 0xff, o32, reg, rm, isMem, nv);
        return false;
    }
  }

  private aluForm(op: number, nv: number): boolean {
    const { info } = this.ins;
    const o = op >> 3, form = op & 7;
    const n = form & 1 ? nv : 8;
    const reg = (info >> DEC.REG_SHIFT) & 7, rm = info & 7;
    const isMem = (info & DEC.MEM) !== 0;
    if (form >= 4) {
      const a = this.val(this.rd(n, 0), 'a');
      const r = this.alu(o, a, this.immN(n), n);
      if (o !== 7) this.wr(n, 0, r);
      return true;
    }
    const same = !isMem && rm === reg;
    if (form < 2) {
      if (isMem && o === 7) {
        const a = this.readE(n);
        this.alu(o, a, this.val(this.rd(n, reg)), n);
        return true;
      }
      const e = this.prepE(n, 'rw');
      const g = this.val(this.rd(n, reg));
      const r = this.alu(o, e.get, g, n, same);
      if (o !== 7) e.put(r);
      return true;
    }
    const e = this.readE(n);
    const g = this.val(this.rd(n, reg));
    const r = this.alu(o, g, e, n, same);
    if (o !== 7) this.wr(n, reg, r);
    return true;
  }

  private group1(op: number, reg: number, nv: number): boolean {
    const n = op === 0x80 || op === 0x82 ? 8 : nv;
    const isMem = (this.ins.info & DEC.MEM) !== 0;
    if (reg === 7) {
      const a = isMem ? this.readE(n) : this.val(this.rd(n, this.ins.info & 7));
      this.alu(7, a, this.immN(n), n);
      return true;
    }
    const e = this.prepE(n, 'rw');
    const r = this.alu(reg, e.get, this.immN(n), n);
    e.put(r);
    return true;
  }

  private imulTo(reg: number, a: string, b: string, o32: boolean): void {
    if (o32) {
      const lo = this.val(`Math.imul(${a}, ${b})`, 'r');
      if ((this.live & ALL) !== 0) {
        const ov = this.val(`${a} * ${b} !== ${lo} ? 1 : 0`, 'c');
        this.setFlags('res', 32, '', '', lo, ov, ov);
      } else this.setFlags('res', 32, '', '', lo);
      this.wr(32, reg, lo);
    } else {
      const r = this.val(`${a} * ${b}`, 'r');
      const ov = this.val(`${r} !== ((${r} << 16) >> 16) ? 1 : 0`, 'c');
      this.setFlags('res', 16, '', '', r, ov, ov);
      this.wr(16, reg, r);
    }
  }

  private jcc(cc: number, o32: boolean): void {
    const c = this.cond(cc);
    const i = this.ins;
    this.emit(`if (${c}) {`);
    const { t, d } = this.relTarget(o32);
    this.guard(`(${t} >>> 0) > cslim`);
    this.transfer(t, d, o32);
    this.emit('}');
    this.transfer(`(e0 + (${i.next})) | 0`, i.next, true);
  }

  private loop(op: number, o32: boolean, a32: boolean): void {
    const i = this.ins;
    if (op === 0xe3) {
      const c = a32 ? this.r32(1) : this.r16(1);
      this.emit(`if (${c} === 0) {`);
      const { t, d } = this.relTarget(o32);
      this.guard(`(${t} >>> 0) > cslim`);
      this.transfer(t, d, o32);
      this.emit('}');
      this.transfer(`(e0 + (${i.next})) | 0`, i.next, true);
      return;
    }
    const cnt = this.val(a32 ? `(${this.r32(1)} - 1) | 0` : `(${this.r32(1)} - 1) & 65535`, 'n');
    let take = `${cnt} !== 0`;
    if (op !== 0xe2) {
      const z = this.cond(4);
      take = op === 0xe0 ? `${take} && !${z}` : `${take} && ${z}`;
    }
    this.emit(`if (${take}) {`);
    const { t, d } = this.relTarget(o32);
    this.guard(`(${t} >>> 0) > cslim`);
    this.wr(a32 ? 32 : 16, 1, cnt);
    this.transfer(t, d, o32);
    this.emit('}');
    this.wr(a32 ? 32 : 16, 1, cnt);
    this.transfer(`(e0 + (${i.next})) | 0`, i.next, true);
  }

  private stringOp(op: number, o32: boolean, a32: boolean): boolean {
    const info = this.ins.info;
    if (info & (DEC.REP | DEC.REPNE)) return false;
    const size = op & 1 ? (o32 ? 4 : 2) : 1;
    const n = size * 8;
    const step = this.val(`(cpu.flags & 1024) !== 0 ? ${-size} : ${size}`, 'd');
    const si = a32 ? this.r32(6) : this.r16(6);
    const di = a32 ? this.r32(7) : this.r16(7);
    const adv = (r: number) => this.wr(a32 ? 32 : 16, r, `${this.r32(r)} + ${step}`);
    if (op === 0xaa || op === 0xab) {
      const v = this.val(this.rd(n, 0));
      const x = this.mem(S.ES, di, size, 'w');
      this.store(x, size, v);
      adv(7);
    } else if (op === 0xac || op === 0xad) {
      const x = this.mem(this.seg(), si, size, 'r');
      const v = this.val(this.load(x, size));
      this.wr(n, 0, v);
      adv(6);
    } else {
      const xs = this.mem(this.seg(), si, size, 'r');
      const v = this.val(this.load(xs, size));
      const xd = this.mem(S.ES, di, size, 'w');
      this.store(xd, size, v);
      adv(6);
      adv(7);
    }
    return true;
  }

  /** Group 2 shifts and rotates by an immediate, 1 or CL (the interpreter's `shift`). */
  private shiftOp(op: number, o: number, n: number): boolean {
    if (o === 2 || o === 3) return false; // RCL/RCR
    const top = n - 1;
    const mask = n === 32 ? -1 : (1 << n) - 1;
    let cnt: string;
    let stat = -1;
    if (op === 0xd2 || op === 0xd3) {
      cnt = this.val(`${this.r8(1)} & 31`, 'n');
    } else {
      stat = (op >= 0xd0 ? 1 : this.ins.imm) & 31;
      if (stat === 0) return false;
      cnt = String(stat);
    }
    const e = this.prepE(n, 'rw');
    if (stat < 0) this.guard(`${cnt} === 0`);
    const a = e.get;
    let r: string;
    switch (o) {
      case 0:
      case 1: {
        const c = stat >= 0 ? String(stat & top) : this.val(`${cnt} & ${top}`, 'n');
        const rot = o === 0 ? `((${a} << ${c}) | (${a} >>> (${n} - ${c}))) & ${mask}` : `((${a} >>> ${c}) | (${a} << (${n} - ${c}))) & ${mask}`;
        r = this.val(stat >= 0 ? (c === '0' ? a : rot) : `${c} === 0 ? ${a} : ${rot}`, 'r');
        if (this.editFlags(CF | OF)) {
          const cf = o === 0 ? `${r} & 1` : `(${r} >>> ${top}) & 1`;
          const of = o === 0 ? `((${r} >>> ${top}) & 1) ^ (${r} & 1)` : `((${r} >>> ${top}) & 1) ^ ((${r} >>> ${top - 1}) & 1)`;
          this.emit(`cpu.flags = (cpu.flags & -2050) | (${cf}) | ((${of}) << 11);`);
        }
        break;
      }
      case 4:
      case 6: {
        r = this.val(`(${a} << ${cnt}) & ${mask}`, 'r');
        const cf = this.val(n === 32 || stat >= 0 && stat <= n ? `(${a} >>> (${n} - ${cnt})) & 1` : `${cnt} <= ${n} ? (${a} >>> (${n} - ${cnt})) & 1 : 0`, 'c');
        const cfv = n !== 32 && stat > n ? '0' : cf;
        this.setFlags('res', n, '', '', r, cfv, `((${r} >>> ${top}) & 1) ^ ${cfv}`);
        break;
      }
      case 5:
        r = this.val(`(${a} >>> ${cnt}) & ${mask}`, 'r');
        this.setFlags('res', n, '', '', r, `(${a} >>> (${cnt} - 1)) & 1`, `(${a} >>> ${top}) & 1`);
        break;
      default: {
        const sa = n === 32 ? a : this.val(`(${a} << ${32 - n}) >> ${32 - n}`);
        r = this.val(`(${sa} >> ${cnt}) & ${mask}`, 'r');
        this.setFlags('res', n, '', '', r, `(${sa} >> (${cnt} - 1)) & 1`, '0');
      }
    }
    e.put(r);
    return true;
  }

  private group3(o: number, n: number): boolean {
    const i = this.ins;
    switch (o) {
      case 0:
      case 1: {
        const e = this.readE(n);
        const r = this.val(`${e} & ${i.imm}`, 'r');
        this.setFlags('logic', n, e, '0', r);
        return true;
      }
      case 2: {
        const e = this.prepE(n, 'rw');
        e.put(`~${e.get}`);
        return true;
      }
      case 3: {
        const e = this.prepE(n, 'rw');
        const r = this.val(`(0 - ${e.get}) | 0`, 'r');
        this.setFlags('sub', n, '0', e.get, r);
        e.put(r);
        return true;
      }
      case 4:
      case 5: {
        const s = this.readE(n);
        if (n === 8) {
          const p = this.val(o === 4 ? `${this.r8(0)} * ${s}` : `((${this.r8(0)} << 24) >> 24) * ((${s} << 24) >> 24)`, 'r');
          const c = this.val(o === 4 ? `${p} > 255 ? 1 : 0` : `${p} !== ((${p} << 24) >> 24) ? 1 : 0`, 'c');
          this.wr(16, 0, p);
          this.setFlags('res', 8, '', '', p, c, c);
        } else if (n === 16) {
          const p = this.val(o === 4 ? `${this.r16(0)} * ${s}` : `((${this.r32(0)} << 16) >> 16) * ((${s} << 16) >> 16)`, 'r');
          const c = this.val(o === 4 ? `${p} > 65535 ? 1 : 0` : `${p} !== ((${p} << 16) >> 16) ? 1 : 0`, 'c');
          this.wr(16, 0, p);
          this.wr(16, 2, o === 4 ? `${p} >>> 16` : `${p} >> 16`);
          this.setFlags('res', 16, '', '', `${p} | 0`, c, c);
        } else {
          const a = this.val(this.r32(0));
          const lo = this.val(`Math.imul(${a}, ${s})`, 'r');
          const hi = this.val(`${o === 4 ? 'mulHU' : 'mulHS'}(${a}, ${s})`, 'h');
          const c = this.val(o === 4 ? `${hi} !== 0 ? 1 : 0` : `${hi} !== (${lo} >> 31) ? 1 : 0`, 'c');
          this.wr(32, 0, lo);
          this.wr(32, 2, hi);
          this.setFlags('res', 32, '', '', lo, c, c);
        }
        return true;
      }
      case 6: {
        const s = this.readE(n);
        if (n === 8) {
          const nn = this.val(this.r16(0));
          const q = this.val(`(${nn} / ${s}) | 0`, 'q');
          this.guard(`${s} === 0 || ${q} > 255`);
          this.wr(16, 0, `${q} | ((${nn} % ${s}) << 8)`);
        } else if (n === 16) {
          const nn = this.val(`((${this.r16(2)} << 16) | ${this.r16(0)}) >>> 0`);
          const q = this.val(`Math.floor(${nn} / ${s})`, 'q');
          this.guard(`${s} === 0 || ${q} > 65535`);
          const rem = this.val(`${nn} % ${s}`);
          this.wr(16, 0, q);
          this.wr(16, 2, rem);
        } else {
          const d = this.val(`${s} >>> 0`);
          this.guard(`${d} === 0 || (${this.r32(2)} >>> 0) >= ${d}`);
          this.emit(`udiv(${this.r32(2)}, ${this.r32(0)}, ${d});`);
          this.wr(32, 0, 'DQ[0]');
          this.wr(32, 2, 'DQ[1]');
        }
        return true;
      }
      default: {
        const s = this.readE(n);
        if (n === 8) {
          const d = this.val(`(${s} << 24) >> 24`);
          const nn = this.val(`(${this.r32(0)} << 16) >> 16`);
          const q = this.val(`(${nn} / ${d}) | 0`, 'q');
          this.guard(`${d} === 0 || ${q} > 127 || ${q} < -128`);
          this.wr(16, 0, `(${q} & 255) | ((${nn} % ${d}) << 8)`);
        } else if (n === 16) {
          const d = this.val(`(${s} << 16) >> 16`);
          const nn = this.val(`(${this.r16(2)} << 16) | ${this.r16(0)}`);
          const q = this.val(`(${nn} / ${d}) | 0`, 'q');
          this.guard(`${d} === 0 || ${q} > 32767 || ${q} < -32768`);
          const rem = this.val(`${nn} % ${d}`);
          this.wr(16, 0, q);
          this.wr(16, 2, rem);
        } else {
          this.guard(`!idiv32(${this.r32(2)}, ${this.r32(0)}, ${s})`);
          this.wr(32, 0, 'DQ[0]');
          this.wr(32, 2, 'DQ[1]');
        }
        return true;
      }
    }
  }

  private group45(op: number, o: number, n: number, o32: boolean): boolean {
    const i = this.ins;
    if (o === 0 || o === 1) {
      const e = this.prepE(n, 'rw');
      const r = this.val(o === 0 ? `(${e.get} + 1) | 0` : `(${e.get} - 1) | 0`, 'r');
      this.setFlags(o === 0 ? 'inc' : 'dec', n, e.get, '1', r);
      e.put(r);
      return true;
    }
    if (op === 0xfe) return false;
    switch (o) {
      case 2: {
        const t = this.readE(n);
        this.guard(`(${t} >>> 0) > cslim`);
        const p = this.pushPrep(n >> 3);
        this.pushCommit(p, n >> 3, `(e0 + (${i.next})) | 0`);
        this.transfer(t, null, false);
        return true;
      }
      case 4: {
        const t = this.readE(n);
        this.guard(`(${t} >>> 0) > cslim`);
        this.transfer(t, null, false);
        return true;
      }
      case 6: {
        const v = this.readE(n);
        const p = this.pushPrep(n >> 3);
        this.pushCommit(p, n >> 3, v);
        return true;
      }
    }
    void o32;
    return false;
  }

  private twoByte(op: number, o32: boolean, reg: number, rm: number, isMem: boolean, nv: number): boolean {
    const i = this.ins;
    if (op >= 0x80 && op <= 0x8f) {
      this.jcc(op & 15, o32);
      return true;
    }
    if (op >= 0x90 && op <= 0x9f) {
      const e = this.prepE(8, 'w');
      const c = this.cond(op & 15);
      e.put(`${c} ? 1 : 0`);
      return true;
    }
    if (op >= 0x40 && op <= 0x4f) {
      const v = this.readE(nv);
      const c = this.cond(op & 15);
      this.emit(`if (${c}) {`);
      this.wr(nv, reg, v);
      this.emit('}');
      return true;
    }
    if (op >= 0x18 && op <= 0x1f) return true;
    if (op >= 0xc8 && op <= 0xcf) {
      const r = op & 7;
      if (o32) {
        const v = this.val(this.r32(r));
        this.wr(32, r, `((${v} & 255) << 24) | ((${v} & 65280) << 8) | ((${v} >>> 8) & 65280) | (${v} >>> 24)`);
      } else this.wr(16, r, '0');
      return true;
    }
    switch (op) {
      case 0xb6:
        this.wr(nv, reg, this.readE(8));
        return true;
      case 0xb7:
        this.wr(nv, reg, this.readE(16));
        return true;
      case 0xbe:
        this.wr(nv, reg, `(${this.readE(8)} << 24) >> 24`);
        return true;
      case 0xbf:
        this.wr(nv, reg, o32 ? `(${this.readE(16)} << 16) >> 16` : this.readE(16));
        return true;
      case 0xaf: {
        const e = this.readE(nv);
        const src = o32 ? e : this.val(`(${e} << 16) >> 16`);
        const dst = this.val(o32 ? this.r32(reg) : `(${this.r32(reg)} << 16) >> 16`);
        this.imulTo(reg, dst, src, o32);
        return true;
      }
      case 0xbc: case 0xbd: {
        const v = this.readE(nv);
        const idx = op === 0xbc ? `31 - Math.clz32(${v} & -${v})` : `31 - Math.clz32(${v})`;
        if (this.editFlags(ZF)) {
          this.emit(`if (${v} === 0) cpu.flags |= 64; else {`);
          this.emit('cpu.flags &= -65;');
        } else this.emit(`if (${v} !== 0) {`);
        this.wr(nv, reg, idx);
        this.emit('}');
        return true;
      }
      case 0xa3: case 0xab: case 0xb3: case 0xbb: case 0xba: {
        const kind = op === 0xba ? reg - 4 : op === 0xa3 ? 0 : op === 0xab ? 1 : op === 0xb3 ? 2 : 3;
        if (kind < 0) return false;
        if (isMem && op !== 0xba) return false;
        const n = nv;
        const bit = op === 0xba ? String(i.imm & (n - 1)) : this.val(`${this.rd(n, reg)} & ${n - 1}`, 'b');
        const e = kind === 0 ? { get: this.readE(n), put: (_v: string) => {} } : this.prepE(n, 'rw');
        if (kind !== 0) {
          const nvx = kind === 1 ? `${e.get} | (1 << ${bit})` : kind === 2 ? `${e.get} & ~(1 << ${bit})` : `${e.get} ^ (1 << ${bit})`;
          e.put(nvx);
        }
        if (this.editFlags(CF)) this.emit(`cpu.flags = (cpu.flags & -2) | ((${e.get} >>> ${bit}) & 1);`);
        void rm;
        return true;
      }
      case 0xa4: case 0xa5: case 0xac: case 0xad: {
        if (!o32) return false;
        let cnt: string;
        if (op & 1) cnt = this.val(`${this.r8(1)} & 31`, 'n');
        else {
          if ((i.imm & 31) === 0) return false;
          cnt = String(i.imm & 31);
        }
        const e = this.prepE(32, 'rw');
        if (op & 1) this.guard(`${cnt} === 0`);
        const s = this.val(this.r32(reg));
        const d = e.get;
        const left = op < 0xa8;
        const r = this.val(left ? `(${d} << ${cnt}) | (${s} >>> (32 - ${cnt}))` : `(${d} >>> ${cnt}) | (${s} << (32 - ${cnt}))`, 'r');
        const cf = left ? `(${d} >>> (32 - ${cnt})) & 1` : `(${d} >>> (${cnt} - 1)) & 1`;
        e.put(r);
        this.setFlags('res', 32, '', '', r, cf, `((${r} ^ ${d}) >>> 31) & 1`);
        return true;
      }
    }
    return false;
  }

  // =====================================================================================
  // Blocks
  // =====================================================================================

  /**
   * Generate one block as a `case` of the region's dispatch. `liveOut` (null: everything
   * live) gives, per block, the flags live after each instruction; `metas` receives, per
   * block, what each instruction reads, writes and whether it can exit.
   */
  genBlock(b: RBlock, liveOut: number[][] | null, metas: Meta[][]): void {
    this.liveOut = liveOut;
    this.metas = metas;
    this.inlined = 0;
    this.fs = { k: 'dyn', n: 32 };
    this.emit(`case ${b.id}: {`);
    this.body(b, [b.id]);
    this.emit('}');
  }

  private liveOut: number[][] | null = null;
  private metas: Meta[][] = [];
  /** Blocks on the current inlining path (the case's own block first). */
  private path: number[] = [];
  /** Instructions inlined into the current case so far. */
  private inlined = 0;

  /** The instructions of block `b`, then its transfer out. */
  private body(b: RBlock, path: number[]): void {
    const outerB = this.b, outerPath = this.path;
    this.b = b;
    this.path = path;
    this.terminated = false;
    const n = b.insns.length;
    for (let k = 0; k < n; k++) {
      const ins = b.insns[k];
      this.ins = ins;
      this.fs0 = this.fs;
      this.live = this.liveOut === null ? ALL : this.liveOut[b.id][k];
      this.meta = { fr: 0, fw: 0, exit: false };
      const mark = this.out.length;
      const uid = this.uid;
      const ok = this.insn();
      if (!ok) {
        this.out.length = mark;
        this.uid = uid;
        this.fs = this.fs0;
        this.terminated = false;
        this.meta = { fr: ALL, fw: 0, exit: true };
        // The interpreter runs it in place. Anything may have happened (a transfer, a mode
        // change, an interrupt becoming pending): continue only to the end of this block,
        // as the interpreter would, then leave at the block boundary (chain = false).
        const args = `cpu, A, ${ins.j}, (e0 + (${ins.off})) | 0, (e0 + (${ins.next})) | 0, icB + ${ins.k}`;
        const repOp = (ins.info & (DEC.REP | DEC.REPNE)) !== 0 && ((ins.op >= 0xa4 && ins.op <= 0xa7) || (ins.op >= 0xaa && ins.op <= 0xaf));
        // The block boundary after a REP (leaveBlock) is invisible when the fast path ran no
        // foreign code and no interrupt can be pending (chain): the region continues then.
        this.emit(`${SPILL}${this.matCode(this.fs)} ${repOp ? `if (rep(${args}, end, dv)) chain = false; else if (chain) cpu.leaveBlock = false;` : `fb(${args}); chain = false;`}`);
        this.emit(`if (cpu.leaveBlock || cpu.stop || cpu.eip !== ((e0 + (${ins.next})) | 0) || cpu.ssB !== ${this.ssB} || clock.icount + ${n - k - 1} > end) return;`);
        this.emit(`icB = clock.icount - ${k + 1}; fK = 0;${RELOAD}`);
        this.fs = { k: 'cpu', n: 32 };
      }
      (this.metas[b.id] ??= [])[k] = this.meta;
      if (this.terminated && k < n - 1) throw new Error('jit: transfer inside a block');
    }
    if (!this.terminated) {
      const last = b.insns[n - 1];
      this.transfer(`(e0 + (${last.next})) | 0`, last.next, true);
    }
    this.b = outerB;
    this.path = outerPath;
    this.terminated = true;
  }

  /**
   * Whether a transfer to `tb` is generated as `tb`'s code in place (tail duplication): in
   * the entry block's case only (the block the run loop found hot, typically a loop head),
   * small blocks on a way back to it, not already on the path, within a budget. A loop body
   * of a few small blocks then runs as one path per iteration, with the flag state known
   * throughout, for little extra code.
   */
  private inlinable(tb: RBlock): boolean {
    return (
      this.path[0] === 0 &&
      tb.insns.length <= INLINE_BLOCK &&
      this.path.length <= INLINE_DEPTH &&
      this.inlined + tb.insns.length <= INLINE_CASE &&
      !this.path.includes(tb.id) &&
      this.reaches(tb, this.path[0])
    );
  }

  /** Whether block `from` leads back to block `to` by static edges within the region (a loop). */
  private reaches(from: RBlock, to: number): boolean {
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length > 0) {
      const b = stack.pop()!;
      if (b.id === to) return true;
      if (seen.has(b.id)) continue;
      seen.add(b.id);
      for (const d of successors(b, this.pageOff)) {
        const t = this.byStart.get(d);
        if (t) stack.push(t);
      }
    }
    return false;
  }
}

/** Flags live after each instruction of a block, from the per-instruction metadata. */
function liveness(metas: Meta[]): number[] {
  const out = new Array<number>(metas.length);
  let live = ALL;
  for (let k = metas.length - 1; k >= 0; k--) {
    out[k] = live;
    const m = metas[k];
    live = (live & ~m.fw) | m.fr | (m.exit ? ALL : 0);
  }
  return out;
}

// =====================================================================================
// Entry point
// =====================================================================================

export function compileBlock(cpu: CPU, first: number, count: number): CompiledBlock | null {
  try {
    return compile(cpu, first, count);
  } catch (e) {
    // A compiler bug must not take the machine down: the block stays interpreted.
    jitDebug.lastError = e;
    jitStats.failures++;
    return null;
  }
}

function compile(cpu: CPU, first: number, count: number): CompiledBlock | null {
  const eip0 = cpu.eip;
  const lin0 = (cpu.segBase[S.CS] + eip0) | 0;
  const pageOff = lin0 & 0xfff;
  const csD = cpu.csD;
  if (!scratch) scratch = new Arena(MAX_REGION_BLOCKS * MAX_BLOCK_INSNS + 1);
  const sa = scratch;
  const src = cpu.arena;
  // Block 0: the decoded block the run loop handed us.
  for (let k = 0; k < count; k++) {
    sa.op[k] = src.op[first + k];
    sa.info[k] = src.info[first + k];
    sa.disp[k] = src.disp[first + k];
    sa.imm[k] = src.imm[first + k];
    sa.imm2[k] = src.imm2[first + k];
    sa.len[k] = src.len[first + k];
  }
  let top = count;
  const blocks: RBlock[] = [];
  const byStart = new Map<number, RBlock>();
  const mkBlock = (start: number, at: number, n: number): RBlock => {
    const insns: Insn[] = [];
    let off = start;
    for (let k = 0; k < n; k++) {
      const j = at + k;
      const next = off + sa.len[j];
      insns.push({ j, op: sa.op[j], info: sa.info[j], disp: sa.disp[j], imm: sa.imm[j], imm2: sa.imm2[j], off, next, k });
      off = next;
    }
    // Pages (relative to the entry page: -1, 0, +1) the block's bytes lie in.
    const lo = Math.floor((pageOff + start) / 4096), hi = Math.floor((pageOff + off - 1) / 4096);
    const b: RBlock = { id: blocks.length, start, insns, end: off, usesPrev: lo < 0, usesNext: hi > 0 };
    blocks.push(b);
    byStart.set(start, b);
    return b;
  };
  mkBlock(0, 0, count);
  // Successor blocks are decoded from the entry page and the pages either side of it,
  // through TLB entries already present (no page walk) for plain memory (no MMIO read). The
  // region checks at entry that the side pages still map to the same physical pages and
  // hold the same code (the run loop has checked the entry page, and the second page of a
  // block 0 that crosses into the next one).
  const pageBase = lin0 & ~0xfff;
  const sidePage = (rel: number): number => {
    // A page with debugger breakpoints is never part of a region (see CPU.breakPages).
    const bp = cpu.breakPages;
    if (bp !== null && bp[((pageBase + rel * 0x1000) | 0) >>> 12] !== 0) return -1;
    const e = cpu.tlb[((pageBase + rel * 0x1000) | 0) >>> 12];
    return (e & cpu.needR) !== 0 && (cpu.pageMap[e >>> 12] & PageBits.READ_SLOW) === 0 ? e >>> 12 : -1;
  };
  const physOf = [sidePage(-1), (cpu.tlb[lin0 >>> 12] & cpu.needR) !== 0 ? cpu.tlb[lin0 >>> 12] >>> 12 : -1, sidePage(1)];
  const usable = (rel: number): boolean => rel >= -1 && rel <= 1 && physOf[rel + 1] >= 0;
  let known = entries.get(cpu);
  if (!known) entries.set(cpu, (known = new Map()));
  const codeGen = cpu.mem.codeGen;
  const keyOf = (d: number): number => {
    const ph = physOf[Math.floor((pageOff + d) / 4096) + 1];
    return (ph * 0x1000 + ((pageOff + d) & 0xfff)) * 2 + (csD ? 1 : 0);
  };
  const otherEntry = (d: number): boolean => {
    const g = known.get(keyOf(d));
    return g !== undefined && g === codeGen[physOf[Math.floor((pageOff + d) / 4096) + 1]];
  };

  const savedVec = cpu.excVector, savedCode = cpu.excCode;
  for (let q = 0; q < blocks.length && physOf[1] >= 0; q++) {
    for (const d of successors(blocks[q], pageOff)) {
      if (byStart.has(d) || blocks.length >= MAX_REGION_BLOCKS || top + MAX_BLOCK_INSNS > sa.capacity) continue;
      const rel = Math.floor((pageOff + d) / 4096);
      if (!usable(rel) || otherEntry(d)) continue;
      if (!csD && (eip0 + d < 0 || eip0 + d > 0xffff)) continue;
      // An instruction starting near its page end may cross it: the decoder then fetches
      // from the following page, which must be usable too.
      const inPage = (pageOff + d) & 0xfff;
      if (inPage > 4096 - 16 && !usable(rel + 1)) continue;
      let n: number;
      try {
        n = decodeBlock(cpu, sa, top, (lin0 + d) | 0, (eip0 + d) | 0, MAX_BLOCK_INSNS, false);
        // The decoder lets a block's last instruction cross into the next page if that page
        // is in the TLB; keep it only if that page is one the region validates.
        if (crossedLin !== -1 && !usable(rel + 1)) n--;
      } catch {
        n = 0; // the first instruction faults (beyond the CS limit, say): not a region block
      }
      if (n <= 0) continue;
      if (top + n > MAX_REGION_INSNS) break;
      mkBlock(d, top, n);
      top += n;
    }
  }
  cpu.excVector = savedVec;
  cpu.excCode = savedCode;
  if (physOf[1] >= 0 && hasLoop(blocks, byStart, pageOff)) known.set(keyOf(0), codeGen[physOf[1]]);
  // Code in the side pages: writes there must leave the region and invalidate it, as for
  // the entry page.
  const usesPrev = blocks.some((b) => b.usesPrev), usesNext = blocks.some((b) => b.usesNext);
  if (usesPrev) cpu.mem.markCode(physOf[0]);
  if (usesNext) cpu.mem.markCode(physOf[2]);
  const sideCheck = (rel: number, name: string): string => {
    const p = physOf[rel + 1];
    return `const t${name} = tlb[(((cpu.segBase[1] + e0) & -4096) + ${rel * 4096}) >>> 12];
  const ${name} = (t${name} & needR) !== 0 && (t${name} >>> 12) === ${p} && codeGen[${p}] === ${cpu.mem.codeGen[p]};`;
  };

  // Compact copy of the region's slots, for the interpreter fallbacks.
  const A = new Arena(top + 1);
  A.op.set(sa.op.subarray(0, top));
  A.info.set(sa.info.subarray(0, top));
  A.disp.set(sa.disp.subarray(0, top));
  A.imm.set(sa.imm.subarray(0, top));
  A.imm2.set(sa.imm2.subarray(0, top));
  A.len.set(sa.len.subarray(0, top));

  const ssB = cpu.ssB;
  // Pass 1 gathers which flags each instruction reads and writes; pass 2 uses the liveness.
  const pass1 = new Gen(blocks, byStart, ssB, pageOff);
  const metas: Meta[][] = [];
  for (const b of blocks) pass1.genBlock(b, null, metas);
  const live = blocks.map((b) => liveness(metas[b.id]));
  const g = new Gen(blocks, byStart, ssB, pageOff);
  for (const b of blocks) g.genBlock(b, live, []);

  let minOff = 0, maxEnd = 0;
  for (const b of blocks) {
    if (b.start < minOff) minOff = b.start;
    if (b.end > maxEnd) maxEnd = b.end;
  }
  const regList = [0, 1, 2, 3, 4, 5, 6, 7].filter((r) => g.used & (1 << r));
  const spill = [0, 1, 2, 3, 4, 5, 6, 7].filter((r) => g.written & (1 << r)).map((r) => `regs[${r}] = R${r};`).join(' ');
  const segList = [0, 1, 2, 3, 4, 5].filter((s) => g.segs & (1 << s));
  const segLoad = segList.map((s) => `sb${s} = cpu.segBase[${s}]; sr${s} = cpu.segRLim[${s}]; sw${s} = cpu.segWLim[${s}];`).join(' ');
  const reload = ` ${regList.map((r) => `R${r} = regs[${r}];`).join(' ')} ${segLoad} needR = cpu.needR; needW = cpu.needW; needRW = needR | needW; cslim = cpu.segLimit[1];`;
  const body = g.code.split(SPILL).join(spill).split(RELOAD).join(reload);
  const exits = g.exitCode();
  const exitCode = exits.code.split(SPILL).join(spill);
  const chainRange = `(e0 >>> 0) + (${minOff}) >= 0 && (e0 >>> 0) + ${maxEnd - 1} <= cslim${csD ? '' : ` && (e0 >>> 0) + ${maxEnd} <= 65536`}`;

  const source = `"use strict";
const { fb, rep, interp, mat, dcf, dcond, xa, P, mulHU, mulHS, udiv, idiv32, DQ, A, dv, mem, codeGen, FIRST, COUNT } = H;
${exits.tables}
return function compiledRegion(cpu, budget) {
  const e0 = cpu.eip;
  if (budget < COUNT || cpu.ssB !== ${ssB}) { interp(cpu, FIRST, COUNT, budget); return; }
  const regs = cpu.regs, clock = cpu.clock, tlb = cpu.tlb;
  let needR = cpu.needR, needW = cpu.needW, needRW = needR | needW, cslim = cpu.segLimit[1];
  ${segList.map((s) => `let sb${s} = cpu.segBase[${s}], sr${s} = cpu.segRLim[${s}], sw${s} = cpu.segWLim[${s}];`).join('\n  ')}
  ${regList.length ? `let ${regList.map((r) => `R${r} = regs[${r}]`).join(', ')};` : ''}
  let fK = 0, fA = 0, fB = 0, fR = 0, fC = 0, fO = 0;
  let icB = clock.icount;
  const end = icB + budget;
  let chain = !(cpu.intr || cpu.nmiPending) && ${chainRange};
  ${usesPrev ? sideCheck(-1, 'xPrev') : ''}
  ${usesNext ? sideCheck(1, 'xNext') : ''}
  let blk = 0, xs = 0, xt = 0;
  X: for (;;) {
    switch (blk) {
${body}
      default: throw new Error('jit: bad block');
    }
  }
${exitCode}
};
//# sourceURL=jit/region-${(lin0 >>> 0).toString(16).padStart(8, '0')}.js`;
  const backing = cpu.backing;
  const H = {
    fb, rep: repString, interp, mat, dcf, dcond, xa: accessor(cpu), P: PARITY, mulHU: mulHighU, mulHS: mulHighS, udiv, idiv32, DQ, A,
    dv: new DataView(backing.buffer, backing.byteOffset, backing.byteLength),
    mem: backing, codeGen: cpu.mem.codeGen, FIRST: first, COUNT: count,
  };
  if (jitDebug.keep) jitDebug.sources.set(lin0 >>> 0, source);
  jitStats.regions++;
  jitStats.blocks += blocks.length;
  return new Function('H', source)(H) as CompiledBlock;
}

/**
 * Debugging aids: with `keep`, the source of every compiled region by the linear address it
 * was compiled at; the last error the compiler hit (the block then stays interpreted).
 */
export const jitDebug = { keep: false, sources: new Map<number, string>(), lastError: null as unknown };

