// Instruction decoder for IA-32 (SDM vol. 2 ch. 2): prefixes, opcode, ModRM/SIB,
// displacement and immediates, decoded once into a struct-of-arrays arena so a cached
// block executes without re-decoding. One arena slot per instruction:
//   op    opcode (0x000-0x0ff one-byte map, 0x100-0x1ff two-byte map 0F xx)
//   info  packed ModRM fields, prefixes and the effective-address form (DEC bits)
//   disp  displacement (or moffs), imm / imm2 immediates, len byte length
// Slot 0 is scratch, for instructions executed without caching.

import type { CPU } from './cpu.ts';
import { CPU_FAULT } from './cpu.ts';
import { S, V } from './constants.ts';

/** Bits of `info`. */
export const enum DEC {
  RM_MASK = 7,
  REG_SHIFT = 3,
  MOD_SHIFT = 6,
  O32 = 1 << 8,
  A32 = 1 << 9,
  SEG_SHIFT = 10,
  SEG_OVERRIDE = 1 << 13,
  REP = 1 << 14,
  REPNE = 1 << 15,
  LOCK = 1 << 16,
  MEM = 1 << 17,
  BASE_SHIFT = 18,
  INDEX_SHIFT = 22,
  SCALE_SHIFT = 26,
  NONE = 8,
}

export class Arena {
  readonly op: Uint16Array;
  readonly info: Int32Array;
  readonly disp: Int32Array;
  readonly imm: Int32Array;
  readonly imm2: Int32Array;
  readonly len: Uint8Array;
  top = 1;
  constructor(readonly capacity: number) {
    this.op = new Uint16Array(capacity);
    this.info = new Int32Array(capacity);
    this.disp = new Int32Array(capacity);
    this.imm = new Int32Array(capacity);
    this.imm2 = new Int32Array(capacity);
    this.len = new Uint8Array(capacity);
  }
  get free(): number {
    return this.capacity - this.top;
  }
}

// ---- opcode properties ----
const M = 1; // has ModRM
const IB = 1 << 1;
const IW = 2 << 1;
const IZ = 3 << 1;
const AP = 4 << 1;
const MO = 5 << 1; // moffs
const IWIB = 6 << 1;
const IMM_MASK = 7 << 1;
const END = 1 << 4; // ends a decoded block
const PREFIX = 1 << 5;

const PROPS = new Uint8Array(512);
function set(ops: number[], p: number): void {
  for (const o of ops) PROPS[o] |= p;
}
function range(a: number, b: number): number[] {
  const r: number[] = [];
  for (let i = a; i <= b; i++) r.push(i);
  return r;
}
// One-byte map.
for (let base = 0; base < 0x40; base += 8) {
  set([base, base + 1, base + 2, base + 3], M);
  set([base + 4], IB);
  set([base + 5], IZ);
}
set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3], PREFIX);
set([0x62, 0x63, 0x69, 0x6b], M);
set([0x69, 0x68], IZ);
set([0x6a, 0x6b], IB);
set(range(0x70, 0x7f), IB | END);
set([0x80, 0x82, 0x83, 0xc0, 0xc1, 0xc6], M | IB);
set([0x81, 0xc7], M | IZ);
set(range(0x84, 0x8f), M);
set([0x9a, 0xea], AP | END);
set(range(0xa0, 0xa3), MO);
set([0xa8, 0xcd, 0xd4, 0xd5, 0xe4, 0xe5, 0xe6, 0xe7, 0xeb, 0xe0, 0xe1, 0xe2, 0xe3], IB);
set([0xa9, 0xe8, 0xe9], IZ);
set(range(0xb0, 0xb7), IB);
set(range(0xb8, 0xbf), IZ);
set([0xc2, 0xca], IW);
set([0xc4, 0xc5], M);
set([0xc8], IWIB);
set(range(0xd0, 0xd3), M);
set(range(0xd8, 0xdf), M);
set([0xf6, 0xf7, 0xfe, 0xff], M);
// Block ends: control transfers, mode/interrupt-state changes, I/O, HLT.
set([0x07, 0x17, 0x1f, 0x8e, 0x9a, 0x9d, 0xc2, 0xc3, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe8, 0xe9, 0xeb], END);
set([0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f, 0xf4, 0xfa, 0xfb, 0xff, 0xf1, 0xc4, 0xc5, 0x62, 0xd6], END);
// Two-byte map (0x100 + second byte).
const T = 0x100;
set([T + 0x00, T + 0x01, T + 0x02, T + 0x03], M | END);
set([T + 0x06, T + 0x08, T + 0x09, T + 0x0b, T + 0x30, T + 0x31, T + 0x32, T + 0x33, T + 0x34, T + 0x35, T + 0xa2, T + 0xaa], END);
set(range(T + 0x18, T + 0x1f), M);
set(range(T + 0x20, T + 0x23), M | END);
set(range(T + 0x40, T + 0x4f), M);
set(range(T + 0x80, T + 0x8f), IZ | END);
set(range(T + 0x90, T + 0x9f), M);
set([T + 0xa0, T + 0xa8], 0);
set([T + 0xa1, T + 0xa9], END);
set([T + 0xa3, T + 0xa5, T + 0xab, T + 0xad, T + 0xaf, T + 0xb0, T + 0xb1, T + 0xb3, T + 0xb6, T + 0xb7], M);
set([T + 0xbb, T + 0xbc, T + 0xbd, T + 0xbe, T + 0xbf, T + 0xc0, T + 0xc1, T + 0xc7], M);
set([T + 0xb2, T + 0xb4, T + 0xb5], M | END);
set([T + 0xa4, T + 0xac, T + 0xba], M | IB);
// Undefined two-byte opcodes end the block (they raise #UD when reached).
for (let o = T; o < T + 0x100; o++) if (PROPS[o] === 0 && !(o >= T + 0xc8 && o <= T + 0xcf) && o !== T + 0xa0 && o !== T + 0xa8) PROPS[o] = END;

/** Thrown inside the decoder to end a cached block before the current instruction. */
const STOP_BLOCK = Object.freeze({ stopBlock: true });

// Fetch state for one decodeBlock call (module-level: no closure or object per decode).
let fCpu: CPU;
let fLin = 0; // linear address of the next byte
let fOff = 0; // CS offset of the next byte
let fLimit = 0; // CS limit
let fPageEnd = 0; // first linear address past the block's page (cached mode)
let fFirst = false; // decoding the first instruction of the block (faults are real)
let fScratch = false;
let fStart = 0; // CS offset of the current instruction
/** Linear address of the second page when the block's last instruction crosses a page end (-1: none). */
export let crossedLin = -1;

function fetch8(): number {
  if ((fOff >>> 0) > fLimit || (fOff - fStart) >= 15) {
    if (fFirst) fCpu.raise(V.GP, 0);
    throw STOP_BLOCK;
  }
  if (!fScratch && fLin === fPageEnd) {
    // Crossing into the next page: the first instruction may (its faults are real); a later
    // one only if the next page is already in the TLB, so decoding never walks page tables.
    if (!fFirst) {
      const e = fCpu.tlb[fLin >>> 12];
      if ((e & fCpu.needR) === 0) throw STOP_BLOCK;
    }
    crossedLin = fLin;
  }
  const v = fCpu.rdLin8(fLin);
  fLin = (fLin + 1) | 0;
  fOff = fCpu.csD ? (fOff + 1) | 0 : (fOff + 1) & 0xffff;
  return v;
}
function fetch16(): number {
  const lo = fetch8();
  return lo | (fetch8() << 8);
}
function fetch32(): number {
  const lo = fetch16();
  return lo | (fetch16() << 16);
}

/**
 * Decode up to `max` instructions starting at linear `lin` / CS offset `eip` into arena slots
 * from `at`. In cached mode the block stays within one page and ends after any instruction
 * that transfers control or changes state the decoder depends on. Returns the count (0 when
 * the first instruction crosses the page end in cached mode). Faults on the first instruction
 * (#PF on fetch, #GP past the CS limit or beyond 15 bytes) are raised.
 */
export function decodeBlock(cpu: CPU, a: Arena, at: number, lin: number, eip: number, max: number, scratch: boolean): number {
  // Instruction fetches are not data accesses: debugger watchpoints do not see them.
  const mem = cpu.mem;
  mem.watchQuiet++;
  try {
    return decodeInsns(cpu, a, at, lin, eip, max, scratch);
  } finally {
    mem.watchQuiet--;
  }
}

function decodeInsns(cpu: CPU, a: Arena, at: number, lin: number, eip: number, max: number, scratch: boolean): number {
  fCpu = cpu;
  fLin = lin;
  fOff = eip;
  fLimit = cpu.segLimit[S.CS];
  fPageEnd = ((lin & ~0xfff) + 0x1000) | 0;
  fScratch = scratch;
  crossedLin = -1;
  const d32 = cpu.csD;
  let n = 0;
  const userMode = cpu.userAccess;
  // Instruction fetches obey the current privilege: rdLin8 uses it already.
  void userMode;
  while (n < max) {
    fFirst = n === 0;
    fStart = fOff;
    const startLin = fLin;
    const i = at + n;
    let props: number;
    try {
      props = decodeOne(a, i, d32);
    } catch (e) {
      if (e === STOP_BLOCK) {
        crossedLin = -1;
        if (n === 0 && !scratch) return 0;
        break;
      }
      if (e === CPU_FAULT && !fFirst) {
        crossedLin = -1;
        break; // a later instruction faults when it is reached
      }
      throw e;
    }
    a.len[i] = (fLin - startLin) & 0xff;
    n++;
    if (props & END || crossedLin !== -1) break;
  }
  return n;
}

function decodeOne(a: Arena, i: number, d32: boolean): number {
  let o32 = d32;
  let a32 = d32;
  let seg = -1;
  let flags = 0;
  let b = fetch8();
  for (;;) {
    if (!(PROPS[b] & PREFIX)) break;
    switch (b) {
      case 0x26: seg = S.ES; break;
      case 0x2e: seg = S.CS; break;
      case 0x36: seg = S.SS; break;
      case 0x3e: seg = S.DS; break;
      case 0x64: seg = S.FS; break;
      case 0x65: seg = S.GS; break;
      case 0x66: o32 = !d32; break;
      case 0x67: a32 = !d32; break;
      case 0xf0: flags |= DEC.LOCK; break;
      case 0xf2: flags = (flags & ~DEC.REP) | DEC.REPNE; break;
      case 0xf3: flags = (flags & ~DEC.REPNE) | DEC.REP; break;
    }
    b = fetch8();
  }
  let op = b;
  if (b === 0x0f) op = 0x100 | fetch8();
  const props = PROPS[op];
  if (o32) flags |= DEC.O32;
  if (a32) flags |= DEC.A32;
  let disp = 0;
  let defSeg = S.DS;
  let base: number = DEC.NONE, index: number = DEC.NONE, scale = 0;
  if (props & M) {
    const modrm = fetch8();
    const mod = modrm >> 6;
    const rm = modrm & 7;
    flags |= modrm & 0xff;
    if (mod !== 3) {
      flags |= DEC.MEM;
      if (!a32) {
        switch (rm) {
          case 0: base = 3; index = 6; break;
          case 1: base = 3; index = 7; break;
          case 2: base = 5; index = 6; defSeg = S.SS; break;
          case 3: base = 5; index = 7; defSeg = S.SS; break;
          case 4: base = 6; break;
          case 5: base = 7; break;
          case 6: if (mod !== 0) { base = 5; defSeg = S.SS; } break;
          case 7: base = 3; break;
        }
        if (mod === 1) disp = (fetch8() << 24) >> 24;
        else if (mod === 2 || (mod === 0 && rm === 6)) disp = fetch16();
      } else {
        if (rm === 4) {
          const sib = fetch8();
          scale = sib >> 6;
          const idx = (sib >> 3) & 7;
          if (idx !== 4) index = idx;
          const bs = sib & 7;
          if (bs === 5 && mod === 0) {
            disp = fetch32();
          } else {
            base = bs;
            if (bs === 4 || bs === 5) defSeg = S.SS;
          }
        } else if (rm === 5 && mod === 0) {
          disp = fetch32();
        } else {
          base = rm;
          if (rm === 5) defSeg = S.SS;
        }
        if (mod === 1) disp = (disp + ((fetch8() << 24) >> 24)) | 0;
        else if (mod === 2) disp = (disp + fetch32()) | 0;
      }
    }
  }
  let imm = 0, imm2 = 0;
  switch (props & IMM_MASK) {
    case IB: imm = (fetch8() << 24) >> 24; break;
    case IW: imm = fetch16(); break;
    case IZ: imm = o32 ? fetch32() : fetch16(); break;
    case AP: imm = o32 ? fetch32() : fetch16(); imm2 = fetch16(); break;
    case MO: disp = a32 ? fetch32() : fetch16(); flags |= DEC.MEM; break;
    case IWIB: imm = fetch16(); imm2 = fetch8(); break;
  }
  // TEST in group 3 carries an immediate that other members do not.
  if ((op === 0xf6 || op === 0xf7) && ((flags >> DEC.REG_SHIFT) & 7) < 2) {
    imm = op === 0xf6 ? (fetch8() << 24) >> 24 : o32 ? fetch32() : fetch16();
  }
  if (seg >= 0) flags |= DEC.SEG_OVERRIDE;
  flags |= (seg >= 0 ? seg : defSeg) << DEC.SEG_SHIFT;
  flags |= (base << DEC.BASE_SHIFT) | (index << DEC.INDEX_SHIFT) | (scale << DEC.SCALE_SHIFT);
  // LOCK is only valid on a read-modify-write of memory by a lockable instruction (#UD otherwise).
  if (flags & DEC.LOCK && !lockable(op, flags)) op = 0x10b;
  a.op[i] = op;
  a.info[i] = flags;
  a.disp[i] = disp;
  a.imm[i] = imm;
  a.imm2[i] = imm2;
  let p = props;
  // Group 5 (INC/DEC/CALL/JMP/PUSH): only the transfers end a block; likewise group 7.
  if (op === 0xff && (((flags >> DEC.REG_SHIFT) & 7) < 2 || ((flags >> DEC.REG_SHIFT) & 7) === 6)) p &= ~END;
  // MOV to SS (and other segment moves) ends a block for the interrupt shadow.
  return p;
}

/** Instructions that accept a LOCK prefix (SDM vol. 2 LOCK), given a memory destination. */
function lockable(op: number, flags: number): boolean {
  if (!(flags & DEC.MEM)) return false;
  const r = (flags >> DEC.REG_SHIFT) & 7;
  if (op < 0x40) return (op & 7) < 2 && (op >> 3) !== 7;
  switch (op) {
    case 0x80: case 0x81: case 0x82: case 0x83: return r !== 7;
    case 0x86: case 0x87: return true;
    case 0xf6: case 0xf7: return r === 2 || r === 3;
    case 0xfe: case 0xff: return r < 2;
    case 0x1ab: case 0x1b3: case 0x1bb: case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1: return true;
    case 0x1ba: return r >= 5;
    case 0x1c7: return r === 1;
    default: return false;
  }
}
