// A P6-class IA-32 CPU (Intel SDM vols. 1-3): the state, memory access through segmentation
// and paging, lazy flags, the decoded-block cache and the run loop.
//
// The instruction semantics live in execute.ts (one-byte map), execute-0f.ts (two-byte
// map) and x87.ts (the x87 FPU: the escapes D8-DF and WAIT, binary64 arithmetic; its header
// says what it leaves out); protected-mode transfers in segments.ts, interrupts.ts and
// tasks.ts; the page walk in paging.ts; CPUID/MSRs/control registers in system.ts.
//
// Hot paths are written for V8: fields are typed arrays or numbers, no allocation per
// instruction, exceptions are a single preallocated sentinel thrown to the run loop.
//
// Leaves out (for now): MMX/SSE and FXSAVE/FXRSTOR (CPUID does not claim them), SMM, MCA, VME/PVI.

import type { Clock } from '../clock.ts';
import type { OutputSink } from '../doors.ts';
import { PageBits, type PhysicalMemory } from '../memory.ts';
import { AR, CR0, CR4, F, OSZAPC, PARITY, REG8, S, V } from './constants.ts';
import { decodeBlock, Arena, DEC, crossedLin } from './decoder.ts';
import { execute } from './execute.ts';
import { compileBlock, type CompiledBlock } from './jit.ts';
import { pageWalk } from './paging.ts';
import { deliverInterrupt, IntKind } from './interrupts.ts';
import { loadSegmentProtected } from './segments.ts';
import { X87, type X87State } from './x87.ts';

export interface IoBus {
  in8(port: number): number;
  in16(port: number): number;
  in32(port: number): number;
  out8(port: number, v: number): void;
  out16(port: number, v: number): void;
  out32(port: number, v: number): void;
}

/** The interrupt controller side of the INTR line (PIC or LAPIC). */
export interface InterruptAcknowledge {
  /** INTA cycle: the vector of the highest-priority pending interrupt. */
  acknowledge(): number;
}

/** Thrown (never allocated per throw) when an instruction raises an exception. */
export const CPU_FAULT = Object.freeze({ cpuFault: true });

/** Lazy-flag operation kinds. */
export const enum LZ {
  ADD = 0,
  SUB = 1,
  LOGIC = 2,
}

/** TLB entry bits (low 12 bits of an entry; the high 20 are the physical page). */
export const enum TLB {
  SUP_READ = 1,
  USER_READ = 2,
  SUP_WRITE = 4,
  USER_WRITE = 8,
  GLOBAL = 16,
}

const NUM_BLOCKS = 1 << 15;
const HASH_SIZE = 1 << 16;
const MAX_BLOCK_INSNS = 64;

export interface CpuState {
  regs: Int32Array;
  eip: number;
  flags: number;
  segSel: Uint16Array;
  segBase: Int32Array;
  segLimit: Float64Array;
  segAR: Uint16Array;
  cr: number[];
  dr: number[];
  gdtr: number[];
  idtr: number[];
  ldtr: number[];
  tr: number[];
  cpl: number;
  halted: boolean;
  msr: Record<string, number>;
  irqShadowEnd: number;
  nmiPending: boolean;
  nmiMasked: boolean;
  tscOffset: number;
  fpu: X87State;
}

export class CPU {
  // ---- general registers: EAX ECX EDX EBX ESP EBP ESI EDI ----
  readonly regs = new Int32Array(8);
  readonly r16 = new Uint16Array(this.regs.buffer);
  readonly r8 = new Uint8Array(this.regs.buffer);
  /** EIP of the instruction being executed (or about to be). */
  eip = 0;
  /** EIP of the following instruction; branches overwrite it. */
  nextEip = 0;

  // ---- EFLAGS, with OSZAPC evaluated lazily ----
  flags = 2;
  lazyMask = 0;
  lzOp = 0;
  lzA = 0;
  lzB = 0;
  lzR = 0;
  lzTop = 31;

  // ---- segments (index: ES CS SS DS FS GS) ----
  readonly segSel = new Uint16Array(6);
  readonly segBase = new Int32Array(6);
  readonly segLimit = new Float64Array(6);
  readonly segAR = new Uint16Array(6);
  /** Largest offset for which an access of 1 byte can be checked by one compare (-1: slow). */
  readonly segRLim = new Float64Array(6);
  readonly segWLim = new Float64Array(6);

  // ---- system registers ----
  cr0 = CR0.ET | 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  readonly dr = new Int32Array(8);
  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0x3ff;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0xffff;
  trAR = 0x8b;
  cpl = 0;
  /** cr0.PE */
  pe = false;
  /** Default operand/address size of the code segment is 32 bits. */
  csD = false;
  /** SS.B: the stack pointer is ESP (else SP). */
  ssB = false;

  // ---- x87 FPU (x87.ts) ----
  readonly fpu = new X87();
  /**
   * The FERR# output (SDM vol. 1 §8.7, vol. 3 §22.18.6.7): called with true when an unmasked
   * x87 exception becomes pending with CR0.NE = 0 (MS-DOS compatibility mode), with false
   * when it is cleared. A PC routes it to IRQ13 and drives `fpu.ignne` from its port F0h
   * latch. With nothing wired the pending error is ignored at the next waiting instruction,
   * as if IGNNE# were asserted; once wired, that instruction waits for the interrupt.
   */
  onFerr: ((asserted: boolean) => void) | null = null;

  // ---- MSRs ----
  tscOffset = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  apicBase = 0xfee00900;
  /** A local APIC is wired to this CPU (CPUID.1:EDX.APIC); set by the LAPIC device. */
  hasApic = false;
  readonly mtrr = new Map<number, number>();

  // ---- interrupts and halting ----
  /** The INTR line from the interrupt controller is asserted. */
  intr = false;
  nmiPending = false;
  nmiMasked = false;
  irqShadowEnd = 0;
  halted = false;
  /** Vector of the exception being delivered, for double-fault detection (-1 none). */
  private delivering = -1;
  /** Set by `raise`: the pending exception. */
  excVector = 0;
  excCode = -1;
  /** The vector delivered by the last `step()` (-1 none); for test harnesses. */
  lastException = -1;
  /** DR6 bits accumulated by the current instruction (data breakpoints), raised as a trap after it. */
  pendingDbTrap = 0;

  // ---- paging: one TLB entry per linear page ----
  readonly tlb = new Int32Array(1 << 20);
  private readonly tlbFilled = new Int32Array(1 << 16);
  private tlbCount = 0;
  private tlbOverflow = false;
  needR = TLB.SUP_READ;
  needW = TLB.SUP_WRITE;
  /** Accesses are checked as CPL 3 (user) when 1. */
  userAccess = 0;

  // ---- decoded-block cache ----
  readonly arena = new Arena(1 << 18);
  private readonly hash = new Int32Array(HASH_SIZE).fill(-1);
  private readonly bPhys = new Int32Array(NUM_BLOCKS);
  private readonly bMode = new Uint8Array(NUM_BLOCKS);
  private readonly bGen = new Uint32Array(NUM_BLOCKS);
  private readonly bFirst = new Int32Array(NUM_BLOCKS);
  private readonly bCount = new Uint16Array(NUM_BLOCKS);
  private readonly bBytes = new Uint16Array(NUM_BLOCKS);
  /** Second physical page of a block whose last instruction crosses a page end (-1: none). */
  private readonly bPhys2 = new Int32Array(NUM_BLOCKS);
  private readonly bGen2 = new Uint32Array(NUM_BLOCKS);
  /** Times each block was entered through the interpreter; hot blocks get compiled. */
  private readonly bHeat = new Uint16Array(NUM_BLOCKS);
  /** Compiled JavaScript for hot blocks (null: not compiled, or not compilable). */
  private readonly bFn: (CompiledBlock | null)[] = new Array<CompiledBlock | null>(NUM_BLOCKS).fill(null);
  /**
   * Compile blocks to JavaScript once they have run this many times (0 disables the
   * compiler). Each compiled region costs V8 about a millisecond to parse and compile, so
   * code that runs a few hundred times (firmware POST, set-up code) is cheaper interpreted:
   * at 16 a cold SeaBIOS boot compiled 845 regions and took twice as long as at 1024 (246),
   * while hot loops reach either threshold at once (cpumix runs the same at both).
   */
  jitThreshold = 1024;
  private nBlocks = 1;
  /** A write hit a page holding decoded code: leave the current block now. */
  leaveBlock = false;
  /** icount at which the current run must stop (REP loops split themselves at it). */
  deadline = 0;
  /** Leave the run loop at the next instruction boundary (stop request, reset, mode change). */
  stop = false;
  /** Slow everything down to one instruction at a time with full checks (TF, DR7, debugger). */
  singleStep = false;

  readonly backing: Uint8Array;
  readonly pageMap: Int32Array;
  io: IoBus;
  pic: InterruptAcknowledge | null = null;
  /** Called on a triple fault or a CPU-initiated reset (the machine resets everything). */
  onReset: (reason: string) => void = () => {};
  /** Debugger hook: per-instruction check before execution when `singleStep` is set. */
  beforeInstruction: ((cpu: CPU) => boolean) | null = null;

  // ---- debugger breakpoints (gdbstub/): by linear address, any number, free while none ----
  /**
   * Per linear page, the number of breakpoints in it (null while there are none). A block
   * that starts in a marked page runs interpreted and only up to the next breakpoint; a
   * compiled region never reaches into a marked page; so every breakpoint address is looked
   * at before its instruction runs, and unmarked pages run at full speed.
   */
  breakPages: Uint16Array | null = null;
  private breakPagesStore: Uint16Array | null = null;
  /** The breakpoints' linear addresses (unsigned). */
  readonly breakpoints = new Set<number>();
  /** Resuming from a breakpoint: it is not taken again while icount is still breakSkipIcount. */
  breakSkipLin = -1;
  breakSkipIcount = -1;
  /**
   * Called when the instruction at a breakpoint is about to run (it has not run; `stop` is
   * set). While null, breakpoints are not taken (a debugger seeking through history).
   */
  onBreakpoint: ((lin: number) => void) | null = null;
  /** Set by a debugger's watchpoint: a REP string instruction stops after the current iteration. */
  debugStop = false;
  /** Called after every TLB flush (paging may have changed): watchpoints follow the mapping. */
  onTlbFlush: (() => void) | null = null;
  /**
   * Fault seam (execution triggers): called before each instruction that starts on a page
   * hooked through PhysicalMemory.hookPage, with its linear and physical address. Blocks are
   * never cached on hooked pages, so no instruction there escapes it, and pages without a
   * hook pay nothing. Returning false stops the CPU before the instruction (the machine then
   * fires due timers and resumes at it).
   */
  execHook: ((lin: number, phys: number) => boolean) | null = null;

  constructor(
    readonly mem: PhysicalMemory,
    readonly clock: Clock,
    readonly output: OutputSink,
    io: IoBus,
  ) {
    this.backing = mem.backing;
    this.pageMap = mem.pageMap;
    this.io = io;
    mem.onCodeWrite = () => {
      this.leaveBlock = true;
    };
    // A device armed a timer before the current deadline: stop there instead.
    clock.onEarlierEvent = () => {
      const at = clock.next > clock.icount ? clock.next : clock.icount;
      clock.runLimit = at;
      if (at < this.deadline) this.deadline = at;
      this.stop = true;
    };
    this.reset();
  }

  get icount(): number {
    return this.clock.icount;
  }

  // =====================================================================================
  // Reset (SDM vol. 3 §9.1.1: state after RESET)
  // =====================================================================================

  /**
   * RESET, or INIT with `init` (SDM vol. 3 table 9-1). RESET puts the x87 FPU in its power-up
   * state (control word 0040H, R0-R7 = +0.0 tagged valid); INIT leaves the x87 FPU alone.
   */
  reset(init = false): void {
    if (!init) this.fpu.reset();
    this.regs.fill(0);
    this.regs[2] = 0x0663; // EDX: family 6 model 6 stepping 3 (a Pentium II class part)
    this.flags = 2;
    this.lazyMask = 0;
    this.cr0 = CR0.ET | CR0.CD | CR0.NW;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.pe = false;
    this.cpl = 0;
    for (let s = 0; s < 6; s++) this.setSegRaw(s, 0, 0, 0xffff, 0x93);
    this.setSegRaw(S.CS, 0xf000, 0xffff0000 | 0, 0xffff, 0x9b);
    this.eip = 0xfff0;
    this.gdtrBase = 0;
    this.gdtrLimit = 0xffff;
    this.idtrBase = 0;
    this.idtrLimit = 0xffff;
    this.ldtrSel = 0;
    this.ldtrBase = 0;
    this.ldtrLimit = 0xffff;
    this.trSel = 0;
    this.trBase = 0;
    this.trLimit = 0xffff;
    this.trAR = 0x8b;
    this.halted = false;
    this.nmiPending = false;
    this.nmiMasked = false;
    this.delivering = -1;
    this.irqShadowEnd = 0;
    this.sysenterCs = this.sysenterEsp = this.sysenterEip = 0;
    this.apicBase = 0xfee00900;
    this.mtrr.clear();
    this.tscOffset = -this.clock.icount;
    this.updateAccessMode();
    this.flushTlb(true);
    this.flushBlocks();
  }

  // =====================================================================================
  // Lazy flags
  // =====================================================================================

  setLazy(op: number, a: number, b: number, r: number, bits: number): void {
    this.lzOp = op;
    this.lzA = a;
    this.lzB = b;
    this.lzR = r;
    this.lzTop = bits - 1;
    this.lazyMask = OSZAPC;
  }

  /** Result flags SF ZF PF from `r`; CF=OF=0 (AND, OR, XOR, TEST); AF undefined (0). */
  setLogic(r: number, bits: number): void {
    this.lzOp = LZ.LOGIC;
    this.lzR = r;
    this.lzTop = bits - 1;
    this.lazyMask = OSZAPC;
  }

  /** SF ZF PF lazy from `r`, the other three given explicitly (shifts, multiplies). */
  setResultFlags(r: number, bits: number, cf: number, of: number, af: number): void {
    this.lzOp = LZ.LOGIC;
    this.lzR = r;
    this.lzTop = bits - 1;
    this.flags = (this.flags & ~(F.CF | F.OF | F.AF)) | (cf ? F.CF : 0) | (of ? F.OF : 0) | (af ? F.AF : 0);
    this.lazyMask = F.SF | F.ZF | F.PF;
  }

  getCF(): number {
    if ((this.lazyMask & F.CF) === 0) return this.flags & F.CF;
    const a = this.lzA, b = this.lzB, r = this.lzR;
    switch (this.lzOp) {
      case LZ.ADD:
        return (((a & b) | ((a | b) & ~r)) >>> this.lzTop) & 1;
      case LZ.SUB:
        return (((~a & b) | ((~a | b) & r)) >>> this.lzTop) & 1;
      default:
        return 0;
    }
  }

  getOF(): boolean {
    if ((this.lazyMask & F.OF) === 0) return (this.flags & F.OF) !== 0;
    const a = this.lzA, b = this.lzB, r = this.lzR;
    switch (this.lzOp) {
      case LZ.ADD:
        return ((((a ^ r) & (b ^ r)) >>> this.lzTop) & 1) !== 0;
      case LZ.SUB:
        return ((((a ^ b) & (a ^ r)) >>> this.lzTop) & 1) !== 0;
      default:
        return false;
    }
  }

  getAF(): boolean {
    if ((this.lazyMask & F.AF) === 0) return (this.flags & F.AF) !== 0;
    if (this.lzOp === LZ.LOGIC) return false;
    return ((this.lzA ^ this.lzB ^ this.lzR) & 0x10) !== 0;
  }

  getZF(): boolean {
    if ((this.lazyMask & F.ZF) === 0) return (this.flags & F.ZF) !== 0;
    return this.lzR << (31 - this.lzTop) === 0;
  }

  getSF(): boolean {
    if ((this.lazyMask & F.SF) === 0) return (this.flags & F.SF) !== 0;
    return ((this.lzR >>> this.lzTop) & 1) !== 0;
  }

  getPF(): boolean {
    if ((this.lazyMask & F.PF) === 0) return (this.flags & F.PF) !== 0;
    return PARITY[this.lzR & 0xff] !== 0;
  }

  /** EFLAGS with every lazy flag evaluated. */
  getFlags(): number {
    const m = this.lazyMask;
    if (m === 0) return this.flags;
    let f = this.flags & ~m;
    if (m & F.CF && this.getCF()) f |= F.CF;
    if (m & F.PF && this.getPF()) f |= F.PF;
    if (m & F.AF && this.getAF()) f |= F.AF;
    if (m & F.ZF && this.getZF()) f |= F.ZF;
    if (m & F.SF && this.getSF()) f |= F.SF;
    if (m & F.OF && this.getOF()) f |= F.OF;
    this.flags = f;
    this.lazyMask = 0;
    return f;
  }

  /** Replace EFLAGS wholesale (reserved bits forced; mode side effects applied). */
  setFlags(v: number): void {
    const old = this.flags;
    this.flags = (v & 0x3f7fd5) | 2;
    this.lazyMask = 0;
    if ((old ^ this.flags) & (F.VM | F.AC | F.TF)) this.updateAccessMode();
  }

  /** Evaluate every lazy flag into `flags` before an instruction edits some of them directly. */
  keepFlagsExcept(_edited: number): void {
    this.getFlags();
  }

  /** Materialize CF into `flags` (before an instruction that keeps CF but makes the rest lazy). */
  keepCF(): void {
    if (this.lazyMask & F.CF) {
      this.flags = (this.flags & ~F.CF) | this.getCF();
    }
  }

  /** Condition code test for Jcc/SETcc/CMOVcc (SDM vol. 1 app. B). */
  cond(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0: r = this.getOF(); break;
      case 1: r = this.getCF() !== 0; break;
      case 2: r = this.getZF(); break;
      case 3: r = this.getCF() !== 0 || this.getZF(); break;
      case 4: r = this.getSF(); break;
      case 5: r = this.getPF(); break;
      case 6: r = this.getSF() !== this.getOF(); break;
      default: r = this.getZF() || this.getSF() !== this.getOF(); break;
    }
    return (cc & 1) !== 0 ? !r : r;
  }

  // =====================================================================================
  // Registers
  // =====================================================================================

  getReg8(r: number): number {
    return this.r8[REG8[r]];
  }
  setReg8(r: number, v: number): void {
    this.r8[REG8[r]] = v;
  }
  getReg16(r: number): number {
    return this.r16[r << 1];
  }
  setReg16(r: number, v: number): void {
    this.r16[r << 1] = v;
  }

  // =====================================================================================
  // Segments
  // =====================================================================================

  /** Load a segment register's hidden part directly (reset, real mode, descriptor loads). */
  setSegRaw(s: number, sel: number, base: number, limit: number, ar: number): void {
    this.segSel[s] = sel;
    this.segBase[s] = base | 0;
    this.segLimit[s] = limit >>> 0;
    this.segAR[s] = ar;
    if (s === S.CS) this.csD = (ar & AR.DB) !== 0;
    else if (s === S.SS) this.ssB = (ar & AR.DB) !== 0;
    this.updateFastLimit(s);
  }

  /** Real-mode style load: base = selector << 4 (limit and attributes stay: unreal mode works). */
  setSegReal(s: number, sel: number): void {
    sel &= 0xffff;
    this.segSel[s] = sel;
    this.segBase[s] = sel << 4;
    if (this.flags & F.VM) {
      this.segLimit[s] = 0xffff;
      this.segAR[s] = 0xf3;
      if (s === S.CS) this.csD = false;
      if (s === S.SS) this.ssB = false;
    }
    this.updateFastLimit(s);
  }

  /** MOV/POP/LxS into a data or stack segment register, in the current mode. */
  loadSeg(s: number, sel: number): void {
    if (!this.pe || this.flags & F.VM) this.setSegReal(s, sel);
    else loadSegmentProtected(this, s, sel & 0xffff);
  }

  updateFastLimit(s: number): void {
    const ar = this.segAR[s];
    let r = -1, w = -1;
    const usable = (ar & AR.P) !== 0 && !this.slowMem;
    if (usable && (ar & AR.S || !this.pe)) {
      const lim = this.segLimit[s];
      const code = (ar & AR.CODE) !== 0;
      const expandDown = !code && (ar & AR.DC) !== 0;
      if (!expandDown) {
        if (!code || ar & AR.RW || !this.pe) r = lim;
        if ((!code && ar & AR.RW) || !this.pe) w = lim;
      }
    }
    if (this.pe && !(this.flags & F.VM) && s !== S.CS && s !== S.SS && (this.segSel[s] & 0xfffc) === 0) r = w = -1;
    this.segRLim[s] = r;
    this.segWLim[s] = w;
  }

  /** All memory accesses take the checked path (alignment checks, data breakpoints). */
  slowMem = false;

  updateAccessMode(): void {
    this.cpl = !this.pe ? 0 : this.flags & F.VM ? 3 : this.cpl;
    this.userAccess = this.cpl === 3 ? 1 : 0;
    this.needR = this.userAccess ? TLB.USER_READ : TLB.SUP_READ;
    this.needW = this.userAccess ? TLB.USER_WRITE : TLB.SUP_WRITE;
    const ac = (this.cr0 & CR0.AM) !== 0 && (this.flags & F.AC) !== 0 && this.cpl === 3;
    const dbData = (this.dr[7] & 0xff) !== 0 && (this.dr[7] & 0x33330000) !== 0 && this.hasDataBreakpoint();
    this.slowMem = ac || dbData;
    for (let s = 0; s < 6; s++) this.updateFastLimit(s);
    this.singleStep = (this.flags & F.TF) !== 0 || (this.dr[7] & 0xff) !== 0 || this.beforeInstruction !== null;
  }

  private hasDataBreakpoint(): boolean {
    const d7 = this.dr[7];
    for (let i = 0; i < 4; i++) if ((d7 >> (i * 2)) & 3 && ((d7 >>> (16 + i * 4)) & 3) !== 0) return true;
    return false;
  }

  /**
   * The checked path for a segment access (SDM vol. 3 §5.3): null selector, limits (expand-down
   * too), type, alignment check, data breakpoints. Returns normally or raises #GP/#SS/#AC.
   */
  segCheck(s: number, off: number, size: number, write: boolean): void {
    const ar = this.segAR[s];
    const fault = s === S.SS ? V.SS : V.GP;
    if (this.pe && !(this.flags & F.VM)) {
      if (s !== S.SS && s !== S.CS && (this.segSel[s] & 0xfffc) === 0) this.raise(V.GP, 0);
      if (!(ar & AR.P)) this.raise(fault, 0);
      if (ar & AR.CODE) {
        if (write || !(ar & AR.RW)) this.raise(V.GP, 0);
      } else if (write && !(ar & AR.RW)) this.raise(fault, 0);
    }
    const o = off >>> 0;
    const end = o + size - 1;
    const lim = this.segLimit[s];
    if (!(ar & AR.CODE) && ar & AR.DC && this.pe) {
      const upper = ar & AR.DB ? 0xffffffff : 0xffff;
      if (o <= lim || end > upper) this.raise(fault, 0);
    } else if (end > lim) {
      this.raise(fault, 0);
    }
    if (this.slowMem) {
      const lin = (this.segBase[s] + off) | 0;
      if (size > 1 && (lin & (size - 1)) !== 0 && this.cr0 & CR0.AM && this.flags & F.AC && this.cpl === 3) this.raise(V.AC, 0);
      this.checkDataBreakpoint(lin, size, write);
    }
  }

  checkDataBreakpoint(lin: number, size: number, write: boolean): void {
    const d7 = this.dr[7];
    for (let i = 0; i < 4; i++) {
      if (((d7 >> (i * 2)) & 3) === 0) continue;
      const rw = (d7 >>> (16 + i * 4)) & 3;
      if (rw === 0 || rw === 2) continue;
      if (rw === 1 && !write) continue;
      const len = ((d7 >>> (18 + i * 4)) & 3) + 1;
      const a = this.dr[i] & ~(len === 3 ? 3 : len - 1);
      const l = len === 3 ? 4 : len;
      if (lin < a + l && a < lin + size) this.pendingDbTrap |= 1 << i;
    }
  }

  // =====================================================================================
  // Linear memory (paging + physical map). `lin` is a signed 32-bit linear address.
  // =====================================================================================

  /** Translate for a read; raises #PF. Returns a physical address. */
  translateR(lin: number): number {
    let e = this.tlb[lin >>> 12];
    if ((e & this.needR) === 0) e = this.tlbMiss(lin, false, this.userAccess);
    return (e & ~0xfff) | (lin & 0xfff);
  }

  translateW(lin: number): number {
    let e = this.tlb[lin >>> 12];
    if ((e & this.needW) === 0) e = this.tlbMiss(lin, true, this.userAccess);
    return (e & ~0xfff) | (lin & 0xfff);
  }

  /** Fill the TLB for `lin` (page walk when paging, identity otherwise). Returns the entry. */
  tlbMiss(lin: number, write: boolean, user: number): number {
    const page = lin >>> 12;
    let e: number;
    if (!(this.cr0 & CR0.PG)) {
      e = (((page << 12) & this.mem.a20Mask) | TLB.SUP_READ | TLB.USER_READ | TLB.SUP_WRITE | TLB.USER_WRITE) | 0;
    } else if (this.mem.watchedCount === 0) {
      e = pageWalk(this, lin, write, user);
    } else {
      // A page walk is not a data access of the program: watchpoints do not see it.
      this.mem.watchQuiet++;
      try {
        e = pageWalk(this, lin, write, user);
      } finally {
        this.mem.watchQuiet--;
      }
    }
    if (this.tlb[page] === 0) {
      if (this.tlbCount < this.tlbFilled.length) this.tlbFilled[this.tlbCount++] = page;
      else this.tlbOverflow = true;
    }
    this.tlb[page] = e;
    return e;
  }

  /** Flush the TLB; with `global` false, entries of global pages (CR4.PGE) survive. */
  flushTlb(global: boolean): void {
    if (this.tlbOverflow) {
      if (global || !(this.cr4 & CR4.PGE)) this.tlb.fill(0);
      else for (let p = 0; p < this.tlb.length; p++) if (!(this.tlb[p] & TLB.GLOBAL)) this.tlb[p] = 0;
      this.tlbOverflow = false;
      this.tlbCount = 0;
      if (!global && this.cr4 & CR4.PGE) for (let p = 0; p < this.tlb.length; p++) if (this.tlb[p] !== 0) this.tlbFilled[this.tlbCount++] = p;
      if (this.onTlbFlush !== null) this.onTlbFlush();
      return;
    }
    const keepGlobal = !global && (this.cr4 & CR4.PGE) !== 0;
    let k = 0;
    for (let i = 0; i < this.tlbCount; i++) {
      const p = this.tlbFilled[i];
      if (keepGlobal && this.tlb[p] & TLB.GLOBAL) this.tlbFilled[k++] = p;
      else this.tlb[p] = 0;
    }
    this.tlbCount = k;
    if (this.onTlbFlush !== null) this.onTlbFlush();
  }

  invlpg(lin: number): void {
    this.tlb[lin >>> 12] = 0;
  }

  rdPhys8(phys: number): number {
    const pe = this.pageMap[phys >>> 12];
    if ((pe & PageBits.READ_SLOW) === 0) return this.backing[(pe & ~0xfff) | (phys & 0xfff)];
    return this.mem.read8(phys);
  }

  rdLin8(lin: number): number {
    let e = this.tlb[lin >>> 12];
    if ((e & this.needR) === 0) e = this.tlbMiss(lin, false, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.READ_SLOW) === 0) return this.backing[(pe & ~0xfff) | (lin & 0xfff)];
    return this.mem.read8((e & ~0xfff) | (lin & 0xfff));
  }

  rdLin16(lin: number): number {
    if ((lin & 0xfff) === 0xfff) return this.rdLin8(lin) | (this.rdLin8((lin + 1) | 0) << 8);
    let e = this.tlb[lin >>> 12];
    if ((e & this.needR) === 0) e = this.tlbMiss(lin, false, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.READ_SLOW) === 0) {
      const i = (pe & ~0xfff) | (lin & 0xfff);
      return this.backing[i] | (this.backing[i + 1] << 8);
    }
    return this.mem.read16((e & ~0xfff) | (lin & 0xfff));
  }

  rdLin32(lin: number): number {
    if ((lin & 0xfff) > 0xffc) return this.rdLin16(lin) | (this.rdLin16((lin + 2) | 0) << 16);
    let e = this.tlb[lin >>> 12];
    if ((e & this.needR) === 0) e = this.tlbMiss(lin, false, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.READ_SLOW) === 0) {
      const b = this.backing;
      const i = (pe & ~0xfff) | (lin & 0xfff);
      return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    }
    return this.mem.read32((e & ~0xfff) | (lin & 0xfff));
  }

  wrLin8(lin: number, v: number): void {
    let e = this.tlb[lin >>> 12];
    if ((e & this.needW) === 0) e = this.tlbMiss(lin, true, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.WRITE_SLOW) === 0) this.backing[(pe & ~0xfff) | (lin & 0xfff)] = v;
    else this.mem.write8((e & ~0xfff) | (lin & 0xfff), v & 0xff);
  }

  wrLin16(lin: number, v: number): void {
    if ((lin & 0xfff) === 0xfff) {
      // Check both pages before writing either (a fault leaves memory unchanged).
      this.translateW((lin + 1) | 0);
      this.wrLin8(lin, v);
      this.wrLin8((lin + 1) | 0, v >> 8);
      return;
    }
    let e = this.tlb[lin >>> 12];
    if ((e & this.needW) === 0) e = this.tlbMiss(lin, true, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.WRITE_SLOW) === 0) {
      const i = (pe & ~0xfff) | (lin & 0xfff);
      this.backing[i] = v;
      this.backing[i + 1] = v >> 8;
    } else this.mem.write16((e & ~0xfff) | (lin & 0xfff), v & 0xffff);
  }

  wrLin32(lin: number, v: number): void {
    if ((lin & 0xfff) > 0xffc) {
      this.translateW((lin + 3) | 0);
      this.translateW(lin);
      this.wrLin16(lin, v);
      this.wrLin16((lin + 2) | 0, v >> 16);
      return;
    }
    let e = this.tlb[lin >>> 12];
    if ((e & this.needW) === 0) e = this.tlbMiss(lin, true, this.userAccess);
    const pe = this.pageMap[e >>> 12];
    if ((pe & PageBits.WRITE_SLOW) === 0) {
      const b = this.backing;
      const i = (pe & ~0xfff) | (lin & 0xfff);
      b[i] = v;
      b[i + 1] = v >> 8;
      b[i + 2] = v >> 16;
      b[i + 3] = v >> 24;
    } else this.mem.write32((e & ~0xfff) | (lin & 0xfff), v);
  }

  /** Supervisor-mode accesses (descriptor tables, TSS, interrupt stacks) regardless of CPL. */
  rdSys8(lin: number): number {
    const u = this.userAccess;
    if (u === 0) return this.rdLin8(lin);
    this.setUser(0);
    try {
      return this.rdLin8(lin);
    } finally {
      this.setUser(u);
    }
  }
  rdSys16(lin: number): number {
    return this.rdSys8(lin) | (this.rdSys8((lin + 1) | 0) << 8);
  }
  rdSys32(lin: number): number {
    const u = this.userAccess;
    if (u === 0) return this.rdLin32(lin);
    this.setUser(0);
    try {
      return this.rdLin32(lin);
    } finally {
      this.setUser(u);
    }
  }
  wrSys8(lin: number, v: number): void {
    const u = this.userAccess;
    this.setUser(0);
    try {
      this.wrLin8(lin, v);
    } finally {
      this.setUser(u);
    }
  }
  wrSys16(lin: number, v: number): void {
    const u = this.userAccess;
    this.setUser(0);
    try {
      this.wrLin16(lin, v);
    } finally {
      this.setUser(u);
    }
  }
  wrSys32(lin: number, v: number): void {
    const u = this.userAccess;
    this.setUser(0);
    try {
      this.wrLin32(lin, v);
    } finally {
      this.setUser(u);
    }
  }

  setUser(u: number): void {
    this.userAccess = u;
    this.needR = u ? TLB.USER_READ : TLB.SUP_READ;
    this.needW = u ? TLB.USER_WRITE : TLB.SUP_WRITE;
  }

  // ---- segment:offset accesses (the instruction operand path) ----

  rd8(s: number, off: number): number {
    if ((off >>> 0) > this.segRLim[s]) this.segCheck(s, off, 1, false);
    return this.rdLin8((this.segBase[s] + off) | 0);
  }
  rd16(s: number, off: number): number {
    if ((off >>> 0) + 1 > this.segRLim[s]) this.segCheck(s, off, 2, false);
    return this.rdLin16((this.segBase[s] + off) | 0);
  }
  rd32(s: number, off: number): number {
    if ((off >>> 0) + 3 > this.segRLim[s]) this.segCheck(s, off, 4, false);
    return this.rdLin32((this.segBase[s] + off) | 0);
  }
  wr8(s: number, off: number, v: number): void {
    if ((off >>> 0) > this.segWLim[s]) this.segCheck(s, off, 1, true);
    this.wrLin8((this.segBase[s] + off) | 0, v);
  }
  wr16(s: number, off: number, v: number): void {
    if ((off >>> 0) + 1 > this.segWLim[s]) this.segCheck(s, off, 2, true);
    this.wrLin16((this.segBase[s] + off) | 0, v);
  }
  wr32(s: number, off: number, v: number): void {
    if ((off >>> 0) + 3 > this.segWLim[s]) this.segCheck(s, off, 4, true);
    this.wrLin32((this.segBase[s] + off) | 0, v);
  }
  /** Check a write access and return its linear address (read-modify-write operands). */
  linW(s: number, off: number, size: number): number {
    if ((off >>> 0) + size - 1 > this.segWLim[s]) this.segCheck(s, off, size, true);
    const lin = (this.segBase[s] + off) | 0;
    this.translateW(lin);
    if (((lin & 0xfff) + size) > 0x1000) this.translateW((lin + size - 1) | 0);
    return lin;
  }
  /** Check an access of `size` bytes (0: just the offset) without performing it. */
  segCheckRange(s: number, off: number, size: number, write: boolean): void {
    const lim = write ? this.segWLim[s] : this.segRLim[s];
    if ((off >>> 0) + (size > 0 ? size - 1 : 0) > lim) this.segCheck(s, off, size > 0 ? size : 1, write);
  }
  /** Check a read access of `size` bytes without reading (e.g. far pointers, BOUND). */
  checkR(s: number, off: number, size: number): void {
    if ((off >>> 0) + size - 1 > this.segRLim[s]) this.segCheck(s, off, size, false);
  }

  // =====================================================================================
  // Stack
  // =====================================================================================

  push16(v: number): void {
    const sp = this.ssB ? (this.regs[4] - 2) | 0 : (this.regs[4] - 2) & 0xffff;
    this.wr16(S.SS, sp, v);
    if (this.ssB) this.regs[4] = sp;
    else this.r16[8] = sp;
  }
  push32(v: number): void {
    const sp = this.ssB ? (this.regs[4] - 4) | 0 : (this.regs[4] - 4) & 0xffff;
    this.wr32(S.SS, sp, v);
    if (this.ssB) this.regs[4] = sp;
    else this.r16[8] = sp;
  }
  push(v: number, o32: boolean): void {
    if (o32) this.push32(v);
    else this.push16(v);
  }
  pop16(): number {
    const sp = this.ssB ? this.regs[4] : this.regs[4] & 0xffff;
    const v = this.rd16(S.SS, sp);
    if (this.ssB) this.regs[4] = (sp + 2) | 0;
    else this.r16[8] = sp + 2;
    return v;
  }
  pop32(): number {
    const sp = this.ssB ? this.regs[4] : this.regs[4] & 0xffff;
    const v = this.rd32(S.SS, sp);
    if (this.ssB) this.regs[4] = (sp + 4) | 0;
    else this.r16[8] = sp + 4;
    return v;
  }
  pop(o32: boolean): number {
    return o32 ? this.pop32() : this.pop16();
  }
  /** Read the stack `depth` bytes above the top without popping. */
  peek16(depth: number): number {
    const sp = this.ssB ? (this.regs[4] + depth) | 0 : (this.regs[4] + depth) & 0xffff;
    return this.rd16(S.SS, sp);
  }
  peek32(depth: number): number {
    const sp = this.ssB ? (this.regs[4] + depth) | 0 : (this.regs[4] + depth) & 0xffff;
    return this.rd32(S.SS, sp);
  }
  addSP(n: number): void {
    if (this.ssB) this.regs[4] = (this.regs[4] + n) | 0;
    else this.r16[8] = this.regs[4] + n;
  }

  // =====================================================================================
  // Exceptions and interrupts
  // =====================================================================================

  /** Raise an exception from inside an instruction (`code` -1: no error code). */
  raise(vector: number, code = -1): never {
    this.excVector = vector;
    this.excCode = code;
    throw CPU_FAULT;
  }

  /**
   * Deliver an exception raised by the current instruction (EIP points at it), with the
   * double-fault rules of SDM vol. 3 §6.15 table 6-5.
   */
  takeException(vector: number, code: number): void {
    this.lastException = vector;
    const prev = this.delivering;
    // Delivering an exception takes one tick of the clock, as it takes time on hardware:
    // a handler that faults again (a fault loop) must not stop time and hang the run.
    if (prev < 0) this.clock.icount++;
    if (prev >= 0) {
      if (prev === V.DF) {
        this.tripleFault();
        return;
      }
      if ((contributory(prev) && contributory(vector)) || (prev === V.PF && (contributory(vector) || vector === V.PF))) {
        vector = V.DF;
        code = 0;
      }
    }
    this.delivering = vector;
    try {
      if (vector === V.DB) this.dr[7] &= ~0x2000; // GD is cleared on entry to the #DB handler
      deliverInterrupt(this, vector, code, IntKind.EXCEPTION, this.eip);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
    } finally {
      this.delivering = prev;
    }
  }

  tripleFault(): void {
    this.output.emit(this.clock.icount, 'reset', 'triple-fault');
    this.delivering = -1;
    this.onReset('triple-fault');
    this.stop = true;
  }

  /** Whether a maskable interrupt can be taken now. */
  private canTakeIntr(): boolean {
    return this.intr && (this.flags & F.IF) !== 0 && this.clock.icount >= this.irqShadowEnd && this.pic !== null;
  }

  /** Take a pending NMI or external interrupt, if any. Returns true if one was delivered. */
  private serviceInterrupts(): boolean {
    if (this.nmiPending && !this.nmiMasked && this.clock.icount >= this.irqShadowEnd) {
      this.nmiPending = false;
      this.nmiMasked = true;
      this.halted = false;
      this.deliverExternal(V.NMI);
      return true;
    }
    if (this.canTakeIntr()) {
      const vec = this.pic!.acknowledge();
      this.halted = false;
      if (vec >= 0) this.deliverExternal(vec);
      return true;
    }
    return false;
  }

  private deliverExternal(vec: number): void {
    try {
      deliverInterrupt(this, vec, -1, IntKind.EXTERNAL, this.eip);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
    }
  }

  // =====================================================================================
  // Running
  // =====================================================================================

  /**
   * Run until icount reaches `deadline` (never past it), the CPU halts with nothing to wake
   * it before the deadline, or `stop` is set.
   */
  run(deadline: number): void {
    const clock = this.clock;
    this.stop = false;
    this.deadline = deadline;
    clock.runLimit = deadline;
    try {
      while (clock.icount < this.deadline && !this.stop) {
        if (this.halted) {
          // Halted: only an interrupt wakes the CPU. The machine moves time to its next event.
          if (!this.serviceInterrupts()) return;
          continue;
        }
        if (this.intr || this.nmiPending) {
          if (this.serviceInterrupts()) continue;
          // In an interrupt shadow (after STI, MOV SS): one instruction, then look again, so
          // `sti; nop; cli` takes a pending interrupt after the nop as hardware does.
          if (clock.icount < this.irqShadowEnd) {
            this.stepInstruction();
            continue;
          }
        }
        if (this.singleStep) this.stepInstruction();
        else this.runBlock(this.deadline);
      }
    } finally {
      clock.runLimit = Infinity;
    }
  }

  /**
   * Exactly one instruction, or the delivery of one pending exception/interrupt (tests,
   * debuggers). `lastException` tells which vector, if any, was delivered.
   */
  step(): void {
    this.lastException = -1;
    this.stop = false;
    if (this.halted) {
      if (!this.serviceInterrupts()) this.clock.icount++;
      return;
    }
    if ((this.intr || this.nmiPending) && this.serviceInterrupts()) return;
    this.stepInstruction();
  }

  /** One instruction with every per-instruction check (TF, DR0-3, the debugger hook). */
  private stepInstruction(): void {
    const clock = this.clock;
    if (this.breakPages !== null) {
      const lin = (this.segBase[S.CS] + this.eip) | 0;
      if (this.breakPages[lin >>> 12] !== 0 && this.atBreakpoint(lin)) return;
    }
    if (this.execHook !== null && !this.execHookAllows()) {
      this.stop = true;
      return;
    }
    if (this.dr[7] & 0xff && !(this.flags & F.RF) && this.checkCodeBreakpoint()) return;
    if (this.beforeInstruction !== null && !this.beforeInstruction(this)) {
      this.stop = true;
      return;
    }
    const tf = (this.flags & F.TF) !== 0;
    const savedDeadline = this.deadline;
    this.deadline = clock.icount + 1;
    const i = this.decodeScratch();
    if (i < 0) return;
    this.pendingDbTrap = 0;
    // RF suppresses instruction breakpoints for one instruction: it is cleared as the
    // instruction starts, so an IRET or task switch that loads RF=1 keeps it for the next.
    const rf = this.flags & F.RF;
    this.flags &= ~F.RF;
    try {
      this.nextEip = (this.eip + this.arena.len[i]) | 0;
      execute(this, i);
      this.eip = this.nextEip;
      clock.icount++;
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.flags |= rf;
      this.takeException(this.excVector, this.excCode);
      return;
    } finally {
      this.deadline = savedDeadline;
    }
    if (this.pendingDbTrap !== 0 || tf) {
      this.dr[6] |= this.pendingDbTrap | (tf ? 0x4000 : 0);
      this.pendingDbTrap = 0;
      this.deliverTrap(V.DB);
    }
  }

  private checkCodeBreakpoint(): boolean {
    const d7 = this.dr[7];
    const lin = (this.segBase[S.CS] + this.eip) | 0;
    let hit = 0;
    for (let k = 0; k < 4; k++) {
      if (((d7 >> (k * 2)) & 3) !== 0 && ((d7 >>> (16 + k * 4)) & 0xf) === 0 && this.dr[k] === lin) hit |= 1 << k;
    }
    if (hit === 0) return false;
    this.dr[6] = (this.dr[6] & ~0xf) | hit;
    this.lastException = V.DB;
    try {
      deliverInterrupt(this, V.DB, -1, IntKind.EXCEPTION, this.eip);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
    }
    return true;
  }

  /** Deliver a trap-class exception after the instruction (EIP already advanced). */
  deliverTrap(vec: number): void {
    this.lastException = vec;
    try {
      deliverInterrupt(this, vec, -1, IntKind.EXCEPTION, this.eip);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
    }
  }

  /** Decode the instruction at CS:EIP into the arena's scratch slot (uncached). */
  private decodeScratch(): number {
    try {
      const lin = (this.segBase[S.CS] + this.eip) | 0;
      decodeBlock(this, this.arena, 0, lin, this.eip, 1, true);
      return 0;
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
      return -1;
    }
  }

  /** The execution seam for the single-step path: the next instruction's addresses, if its page is hooked. */
  private execHookAllows(): boolean {
    const lin = (this.segBase[S.CS] + this.eip) | 0;
    let e = this.tlb[lin >>> 12];
    if ((e & this.needR) === 0) {
      try {
        e = this.tlbMiss(lin, false, this.userAccess);
      } catch (x) {
        if (x !== CPU_FAULT) throw x;
        return true; // the fetch faults; the instruction's own decode raises it
      }
    }
    const phys = (e & ~0xfff) | (lin & 0xfff);
    if ((this.pageMap[phys >>> 12] & PageBits.HOOKED) === 0) return true;
    return this.execHook!(lin, phys);
  }

  /** Find or decode the block at CS:EIP and run it for at most `deadline - icount` instructions. */
  private runBlock(deadline: number): void {
    const clock = this.clock;
    const arena = this.arena;
    let first: number, count: number;
    let fn: CompiledBlock | null = null;
    let breakLin = -1;
    try {
      const eip = this.eip;
      const lin = (this.segBase[S.CS] + eip) | 0;
      if (this.breakPages !== null && this.breakPages[lin >>> 12] !== 0) {
        if (this.atBreakpoint(lin)) return;
        breakLin = lin;
      }
      let e = this.tlb[lin >>> 12];
      if ((e & this.needR) === 0) e = this.tlbMiss(lin, false, this.userAccess);
      const phys = (e & ~0xfff) | (lin & 0xfff);
      const page = phys >>> 12;
      const mode = this.csD ? 1 : 0;
      const h = (phys ^ (phys >>> 11) ^ mode) & (HASH_SIZE - 1);
      let b = this.hash[h];
      if (
        b < 0 ||
        this.bPhys[b] !== phys ||
        this.bMode[b] !== mode ||
        this.bGen[b] !== this.mem.codeGen[page] ||
        (eip >>> 0) + this.bBytes[b] - 1 > this.segLimit[S.CS] ||
        (this.bPhys2[b] !== -1 && !this.secondPageValid(b, lin))
      ) {
        b = this.newBlock(lin, phys, mode, h);
        if (b < 0) {
          if (this.execHook !== null && (this.pageMap[page] & PageBits.HOOKED) !== 0 && !this.execHook(lin, phys)) {
            this.stop = true;
            return;
          }
          // Not cacheable (MMIO code, page-crossing first instruction, hooked page): run one decoded slot.
          decodeBlock(this, arena, 0, lin, eip, 1, true);
          first = 0;
          count = 1;
        } else {
          first = this.bFirst[b];
          count = this.bCount[b];
        }
      } else {
        first = this.bFirst[b];
        count = this.bCount[b];
        fn = this.bFn[b];
        if (breakLin !== -1) fn = null;
        else if (fn === null && this.jitThreshold > 0 && ++this.bHeat[b] === this.jitThreshold) {
          fn = this.bFn[b] = compileBlock(this, first, count);
        }
      }
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
      return;
    }
    let budget = deadline - clock.icount;
    if (breakLin !== -1) {
      const k = this.insnsBeforeBreak(breakLin, first, count);
      if (k < budget) budget = k;
    }
    this.leaveBlock = false;
    if (fn !== null) {
      try {
        fn(this, budget);
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        this.takeException(this.excVector, this.excCode);
      }
      return;
    }
    const end = first + (count < budget ? count : budget);
    const len = arena.len;
    let i = first;
    try {
      for (; i < end; i++) {
        this.nextEip = (this.eip + len[i]) | 0;
        execute(this, i);
        this.eip = this.nextEip;
        clock.icount++;
        if (this.leaveBlock || this.stop) break;
      }
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.takeException(this.excVector, this.excCode);
    }
  }

  /**
   * Replace the debugger's breakpoints (linear addresses). Decoded and compiled blocks are
   * dropped so that none runs past a new breakpoint.
   */
  setBreakpoints(lins: Iterable<number>): void {
    const old = this.breakPagesStore;
    if (old !== null) for (const a of this.breakpoints) old[a >>> 12] = 0;
    this.breakpoints.clear();
    for (const l of lins) {
      const a = l >>> 0;
      if (this.breakpoints.has(a)) continue;
      this.breakpoints.add(a);
      if (this.breakPagesStore === null) this.breakPagesStore = new Uint16Array(1 << 20);
      this.breakPagesStore[a >>> 12]++;
    }
    this.breakPages = this.breakpoints.size > 0 ? this.breakPagesStore : null;
    this.flushBlocks();
  }

  /** At a breakpoint (not the one being resumed from): stop before the instruction. */
  private atBreakpoint(lin: number): boolean {
    const a = lin >>> 0;
    if (!this.breakpoints.has(a) || this.onBreakpoint === null) return false;
    if (a === this.breakSkipLin && this.clock.icount === this.breakSkipIcount) return false;
    this.stop = true;
    this.onBreakpoint(a);
    return true;
  }

  /** How many instructions of a decoded block run before one that starts at a breakpoint. */
  private insnsBeforeBreak(lin: number, first: number, count: number): number {
    const len = this.arena.len;
    let a = lin;
    for (let k = 1; k < count; k++) {
      a = (a + len[first + k - 1]) | 0;
      if (this.breakpoints.has(a >>> 0)) return k;
    }
    return count;
  }

  /** A page-crossing block is valid while its second page maps and holds the same code. */
  private secondPageValid(b: number, lin: number): boolean {
    const lin2 = ((lin & ~0xfff) + 0x1000) | 0;
    const e = this.tlb[lin2 >>> 12];
    if ((e & this.needR) === 0) return false;
    const p2 = e >>> 12;
    return p2 === this.bPhys2[b] && this.bGen2[b] === this.mem.codeGen[p2];
  }

  private newBlock(lin: number, phys: number, mode: number, h: number): number {
    const page = phys >>> 12;
    const pe = this.pageMap[page];
    if (pe & (PageBits.MMIO | PageBits.UNMAPPED | PageBits.HOOKED)) return -1;
    if (this.nBlocks >= NUM_BLOCKS || this.arena.free < MAX_BLOCK_INSNS + 1) this.flushBlocks();
    const first = this.arena.top;
    const n = decodeBlockCached(this, lin, MAX_BLOCK_INSNS);
    if (n === 0) return -1;
    const b = this.nBlocks++;
    this.bPhys[b] = phys;
    this.bMode[b] = mode;
    this.mem.markCode(page);
    this.bGen[b] = this.mem.codeGen[page];
    this.bFirst[b] = first;
    this.bCount[b] = n;
    this.bPhys2[b] = -1;
    if (crossedLin !== -1) {
      const p2 = this.translateR(crossedLin) >>> 12;
      const pe2 = this.pageMap[p2];
      if (pe2 & (PageBits.MMIO | PageBits.UNMAPPED | PageBits.HOOKED)) {
        this.nBlocks--;
        this.arena.top = first;
        return -1;
      }
      this.mem.markCode(p2);
      this.bPhys2[b] = p2;
      this.bGen2[b] = this.mem.codeGen[p2];
    }
    this.bHeat[b] = 0;
    this.bFn[b] = null;
    let bytes = 0;
    for (let k = 0; k < n; k++) bytes += this.arena.len[first + k];
    this.bBytes[b] = bytes;
    this.hash[h] = b;
    return b;
  }

  /** Drop every decoded block (arena full, or a change that affects decoding everywhere). */
  flushBlocks(): void {
    this.hash.fill(-1);
    this.nBlocks = 1;
    this.arena.top = 1;
  }

  // =====================================================================================
  // Control registers (side effects shared by MOV CR, LMSW, CLTS, task switches)
  // =====================================================================================

  setCR0(v: number): void {
    if ((v & CR0.PG) !== 0 && (v & CR0.PE) === 0) this.raise(V.GP, 0);
    if ((v & CR0.NW) !== 0 && (v & CR0.CD) === 0) this.raise(V.GP, 0);
    const old = this.cr0;
    this.cr0 = (v | CR0.ET) & 0xe005003f;
    this.pe = (this.cr0 & CR0.PE) !== 0;
    if ((old ^ this.cr0) & (CR0.PG | CR0.WP | CR0.PE)) this.flushTlb(true);
    this.updateAccessMode();
  }

  setCR3(v: number): void {
    this.cr3 = this.cr4 & CR4.PAE ? v & ~0x1f : v & ~0xfff;
    this.cr3 |= 0;
    this.flushTlb(false);
  }

  setCR4(v: number): void {
    if (v & ~0x1ff) this.raise(V.GP, 0);
    if (v & (CR4.VME | CR4.PVI)) this.raise(V.GP, 0); // not implemented, not advertised
    const old = this.cr4;
    this.cr4 = v;
    if ((old ^ v) & (CR4.PSE | CR4.PAE | CR4.PGE)) this.flushTlb(true);
  }

  /** A20 gate changed (port 0x92, i8042): physical addresses in the TLB are stale. */
  a20Changed(): void {
    this.flushTlb(true);
    this.flushBlocks();
  }

  // =====================================================================================
  // Save / load
  // =====================================================================================

  save(): CpuState {
    return {
      regs: this.regs.slice(),
      eip: this.eip,
      flags: this.getFlags(),
      segSel: this.segSel.slice(),
      segBase: this.segBase.slice(),
      segLimit: this.segLimit.slice(),
      segAR: this.segAR.slice(),
      cr: [this.cr0, this.cr2, this.cr3, this.cr4],
      dr: Array.from(this.dr),
      gdtr: [this.gdtrBase, this.gdtrLimit],
      idtr: [this.idtrBase, this.idtrLimit],
      ldtr: [this.ldtrSel, this.ldtrBase, this.ldtrLimit],
      tr: [this.trSel, this.trBase, this.trLimit, this.trAR],
      cpl: this.cpl,
      halted: this.halted,
      msr: {
        sysenterCs: this.sysenterCs,
        sysenterEsp: this.sysenterEsp,
        sysenterEip: this.sysenterEip,
        apicBase: this.apicBase,
        ...Object.fromEntries([...this.mtrr].map(([k, v]) => [`mtrr${k}`, v])),
      },
      irqShadowEnd: this.irqShadowEnd,
      nmiPending: this.nmiPending,
      nmiMasked: this.nmiMasked,
      tscOffset: this.tscOffset,
      fpu: this.fpu.save(),
    };
  }

  load(s: CpuState): void {
    this.regs.set(s.regs);
    this.eip = s.eip;
    [this.cr0, this.cr2, this.cr3, this.cr4] = s.cr;
    this.pe = (this.cr0 & CR0.PE) !== 0;
    this.dr.set(s.dr);
    [this.gdtrBase, this.gdtrLimit] = s.gdtr;
    [this.idtrBase, this.idtrLimit] = s.idtr;
    [this.ldtrSel, this.ldtrBase, this.ldtrLimit] = s.ldtr;
    [this.trSel, this.trBase, this.trLimit, this.trAR] = s.tr;
    this.cpl = s.cpl;
    this.flags = s.flags;
    this.lazyMask = 0;
    for (let k = 0; k < 6; k++) this.setSegRaw(k, s.segSel[k], s.segBase[k], s.segLimit[k], s.segAR[k]);
    this.halted = s.halted;
    this.sysenterCs = s.msr.sysenterCs;
    this.sysenterEsp = s.msr.sysenterEsp;
    this.sysenterEip = s.msr.sysenterEip;
    this.apicBase = s.msr.apicBase;
    this.mtrr.clear();
    for (const [k, v] of Object.entries(s.msr)) if (k.startsWith('mtrr')) this.mtrr.set(Number(k.slice(4)), v);
    this.irqShadowEnd = s.irqShadowEnd;
    this.nmiPending = s.nmiPending;
    this.nmiMasked = s.nmiMasked;
    this.tscOffset = s.tscOffset;
    this.fpu.load(s.fpu);
    this.delivering = -1;
    this.updateAccessMode();
    this.flushTlb(true);
    this.flushBlocks();
  }
}

/** Contributory exceptions for the double-fault rules (SDM vol. 3 table 6-4). */
function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/** Decode a block at the arena top (cached path). Returns the instruction count. */
function decodeBlockCached(cpu: CPU, lin: number, max: number): number {
  const arena = cpu.arena;
  const first = arena.top;
  const n = decodeBlock(cpu, arena, first, lin, cpu.eip, max, false);
  arena.top = first + n;
  return n;
}

export { DEC };
