// The x87 FPU of a P6-class processor (Intel SDM vol. 1 ch. 8, the instruction pages of
// vol. 2, vol. 3 §9.2 and §22.18): the register stack with its tag, status and control words,
// the last-instruction and operand pointers, every 387 instruction (loads and stores of all
// memory formats, arithmetic, compares, FXAM, FCOMI and FCMOV of the P6, transcendentals,
// FPREM/FPREM1, FSCALE, FXTRACT, environment and state save/restore), stack faults, the six
// exceptions with their masked responses, and their delivery at the next waiting instruction:
// #MF with CR0.NE = 1, otherwise (MS-DOS compatibility mode) the FERR# pin (`CPU.onFerr`),
// the waiting instruction then waiting for the interrupt unless IGNNE# (`X87.ignne`) is
// asserted or nothing is wired to FERR#.
//
// Arithmetic is IEEE binary64: every register holds a double, computed with one rounding
// (rounding control honoured, precision and underflow detected exactly by error-free
// transformations). Where binary64 cannot hold a value that the 80-bit format can (an FLD m80
// operand with a 64-bit significand or beyond binary64's range, FILD/FBLD of an integer above
// 2^53, NaN payloads, unsupported encodings), the register also keeps the exact 80-bit value,
// so moves, FSTP m80, FISTP m64, FBSTP, FSAVE/FRSTOR, FCHS/FABS, FRNDINT, FSCALE, FXTRACT and
// compares are exact; arithmetic on such a register uses the nearest double.
//
// Leaves out: precision control (PC is stored but results always have 53-bit significands),
// the exponent range of 80-bit registers in arithmetic (binary64 overflows near 1.8e308;
// OE/UE are reported where binary64 overflows/underflows), the exponent rebias of unmasked
// OE/UE on register destinations (the masked result is stored), the hardware's 66-bit pi in
// FSIN/FCOS/FPTAN (arguments are reduced with a 159-bit pi), FXSAVE/FXRSTOR, MMX and SSE.
// Transcendentals are computed by series in plain double arithmetic, never by the host's
// Math.sin and the like (whose last bits differ between engines), so every host gives the
// same bits.

import type { CPU } from './cpu.ts';
import { CR0, F, V } from './constants.ts';
import { DEC } from './decoder.ts';
import { ea } from './operands.ts';

/** Status word bits (SDM vol. 1 §8.1.3). */
export const enum SW {
  IE = 0x1,
  DE = 0x2,
  ZE = 0x4,
  OE = 0x8,
  UE = 0x10,
  PE = 0x20,
  SF = 0x40,
  ES = 0x80,
  C0 = 0x100,
  C1 = 0x200,
  C2 = 0x400,
  TOP = 0x3800,
  C3 = 0x4000,
  B = 0x8000,
}
const CC = SW.C0 | SW.C1 | SW.C2 | SW.C3;
const EXC = 0x3f;

/** Control word fields (SDM vol. 1 §8.1.5). */
export const enum CW {
  MASKS = 0x3f,
  PC = 0x300,
  RC = 0xc00,
  X = 0x1000,
}

/** Control word after FNINIT; after power-up and RESET it is 0040H (SDM vol. 3 table 9-1). */
export const CW_FNINIT = 0x037f;
export const CW_RESET = 0x0040;

export interface X87State {
  /** R0-R7 as binary64 (NaNs are stored canonically; their exact form is in x*). */
  st: Float64Array;
  /** Exact 80-bit images (significand low/high dwords, sign+exponent) of the registers in `exact`. */
  xLo: Int32Array;
  xHi: Int32Array;
  xSe: Uint16Array;
  exact: number;
  empty: number;
  top: number;
  cw: number;
  sw: number;
  fip: number;
  fcs: number;
  fdp: number;
  fds: number;
  fop: number;
  ferr: boolean;
  ignne: boolean;
}

export class X87 {
  /** Physical registers R0-R7 (ST(i) is R[(top + i) & 7]). */
  readonly st = new Float64Array(8);
  /** Exact 80-bit value of register p when bit p of `exact` is set (p's value is not a double). */
  readonly xLo = new Int32Array(8);
  readonly xHi = new Int32Array(8);
  readonly xSe = new Uint16Array(8);
  exact = 0;
  /** Bit p: register p is empty (tag 11). The other tags are derived from the contents. */
  empty = 0;
  top = 0;
  /** Status word without TOP (bits 11-13 are kept 0 here). */
  sw = 0;
  cw = CW_RESET;
  /** Last non-control instruction: CS:EIP (linear EIP in real and virtual-8086 mode), opcode. */
  fip = 0;
  fcs = 0;
  fop = 0;
  /** Its memory operand (linear offset in real and virtual-8086 mode) and segment selector. */
  fdp = 0;
  fds = 0;
  /** The FERR# output is asserted. */
  ferr = false;
  /** The IGNNE# input is asserted (the chipset's port F0h latch): a pending error is ignored. */
  ignne = false;

  /** Power-up and RESET (SDM vol. 3 table 9-1): R0-R7 = +0.0, tags 5555H, CW 0040H. */
  reset(): void {
    this.st.fill(0);
    this.exact = 0;
    this.empty = 0;
    this.top = 0;
    this.sw = 0;
    this.cw = CW_RESET;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
    this.ferr = false;
    this.ignne = false;
  }

  /** FNINIT: CW 037FH, SW 0, every register empty, pointers cleared (register contents stay). */
  init(): void {
    this.cw = CW_FNINIT;
    this.sw = 0;
    this.top = 0;
    this.empty = 0xff;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
  }

  statusWord(): number {
    return (this.sw & ~SW.TOP) | (this.top << 11);
  }

  /** The full tag word as FSTENV/FSAVE store it (SDM vol. 1 §8.1.7). */
  tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) tw |= this.tagOf(p) << (p * 2);
    return tw;
  }

  private tagOf(p: number): number {
    if (this.empty & (1 << p)) return 3;
    if (this.exact & (1 << p)) {
      const e = this.xSe[p] & 0x7fff;
      if (e === 0x7fff || e === 0 || this.xHi[p] >= 0) return 2; // NaN, inf, denormal, unsupported
      return 0;
    }
    const v = this.st[p];
    if (v === 0) return 1;
    return v - v === 0 ? 0 : 2;
  }

  save(): X87State {
    // NaNs are written with one bit pattern so the state (and its hash) does not depend on
    // how the host moves NaN payloads; a NaN register's value lives in x*.
    const st = this.st.slice();
    const dv = new DataView(st.buffer);
    for (let p = 0; p < 8; p++) {
      if (st[p] !== st[p]) {
        dv.setUint32(p * 8, 0, true);
        dv.setUint32(p * 8 + 4, 0x7ff80000, true);
      }
    }
    return {
      st,
      xLo: this.xLo.slice(),
      xHi: this.xHi.slice(),
      xSe: this.xSe.slice(),
      exact: this.exact,
      empty: this.empty,
      top: this.top,
      cw: this.cw,
      sw: this.sw,
      fip: this.fip,
      fcs: this.fcs,
      fdp: this.fdp,
      fds: this.fds,
      fop: this.fop,
      ferr: this.ferr,
      ignne: this.ignne,
    };
  }

  load(s: X87State): void {
    this.st.set(s.st);
    this.xLo.set(s.xLo);
    this.xHi.set(s.xHi);
    this.xSe.set(s.xSe);
    this.exact = s.exact;
    this.empty = s.empty;
    this.top = s.top;
    this.cw = s.cw;
    this.sw = s.sw;
    this.fip = s.fip;
    this.fcs = s.fcs;
    this.fdp = s.fdp;
    this.fds = s.fds;
    this.fop = s.fop;
    this.ferr = s.ferr;
    this.ignne = s.ignne;
  }
}

// =====================================================================================
// Bit-level helpers (module scratch: nothing is allocated per instruction)
// =====================================================================================

const cvt = new DataView(new ArrayBuffer(8));
/** High and low dwords of the last `split`. */
let dHi = 0, dLo = 0;
function split(v: number): void {
  cvt.setFloat64(0, v, true);
  dHi = cvt.getUint32(4, true);
  dLo = cvt.getUint32(0, true);
}
function fromBits(hi: number, lo: number): number {
  cvt.setUint32(4, hi >>> 0, true);
  cvt.setUint32(0, lo >>> 0, true);
  return cvt.getFloat64(0, true);
}
function pow2(n: number): number {
  return fromBits((n + 1023) << 20, 0); // -1022 <= n <= 1023
}
/** x * 2^n, exact whenever the result is a normal double or x is scaled up. */
function scale(x: number, n: number): number {
  while (n > 1023) {
    x *= pow2(1023);
    n -= 1023;
  }
  while (n < -1022) {
    x *= pow2(-1022);
    n += 1022;
  }
  return x * pow2(n);
}
/** floor(log2(|x|)) of a finite nonzero double. */
function expOf(x: number): number {
  split(x);
  const e = (dHi >>> 20) & 0x7ff;
  if (e !== 0) return e - 1023;
  const h = dHi & 0xfffff;
  return (h !== 0 ? 31 - Math.clz32(h) + 32 : 31 - Math.clz32(dLo)) - 1074;
}

const MAX_DOUBLE = 1.7976931348623157e308;
const MIN_NORMAL = 2.2250738585072014e-308;

/** The next double toward +infinity. */
function nextUp(r: number): number {
  if (r === 0) return fromBits(0, 1);
  split(r);
  let h = dHi, l = dLo;
  if (r > 0) {
    l = (l + 1) >>> 0;
    if (l === 0) h = (h + 1) >>> 0;
  } else {
    if (l === 0) h = (h - 1) >>> 0;
    l = (l - 1) >>> 0;
  }
  return fromBits(h, l);
}
function nextDown(r: number): number {
  return -nextUp(-r);
}

// ---- the 80-bit scratch value: sign+exponent, significand high and low (unsigned) ----
let xs = 0, xh = 0, xl = 0;

/** Double -> 80-bit scratch (always exact). */
function dblToX(v: number): void {
  split(v);
  const sign = (dHi >>> 31) << 15;
  const e = (dHi >>> 20) & 0x7ff;
  const fh = dHi & 0xfffff, fl = dLo;
  if (e === 0x7ff) {
    xs = sign | 0x7fff;
    xh = (0x80000000 | (fh << 11) | (fl >>> 21)) >>> 0;
    xl = (fl << 11) >>> 0;
  } else if (e === 0) {
    if (fh === 0 && fl === 0) {
      xs = sign;
      xh = xl = 0;
      return;
    }
    const lz = fh !== 0 ? Math.clz32(fh) : 32 + Math.clz32(fl);
    shl64(fh, fl, lz);
    xh = sh;
    xl = sl;
    xs = sign | (15372 - lz);
  } else {
    xs = sign | (e + 15360);
    xh = (0x80000000 | (fh << 11) | (fl >>> 21)) >>> 0;
    xl = (fl << 11) >>> 0;
  }
}

/** (h:l) << n into sh:sl, 0 <= n < 64. */
let sh = 0, sl = 0;
function shl64(h: number, l: number, n: number): void {
  if (n === 0) {
    sh = h >>> 0;
    sl = l >>> 0;
  } else if (n < 32) {
    sh = ((h << n) | (l >>> (32 - n))) >>> 0;
    sl = (l << n) >>> 0;
  } else {
    sh = (l << (n - 32)) >>> 0;
    sl = 0;
  }
}

function clz64(h: number, l: number): number {
  return h !== 0 ? Math.clz32(h) : 32 + Math.clz32(l);
}

// ---- rounding a 64-bit significand ----
let qh = 0, ql = 0;
let sInexact = false, sUp = false;
/**
 * (h:l) >>> k (k >= 0, any size) into qh:ql, rounded by RC (0 nearest-even, 1 down, 2 up,
 * 3 toward zero) for a value of sign `neg`. sUp: the magnitude was rounded up.
 */
function shiftRound(h: number, l: number, k: number, rc: number, neg: boolean): void {
  let half = 0, sticky = false;
  h >>>= 0;
  l >>>= 0;
  if (k === 0) {
    qh = h;
    ql = l;
  } else if (k < 32) {
    ql = ((l >>> k) | (h << (32 - k))) >>> 0;
    qh = h >>> k;
    half = (l >>> (k - 1)) & 1;
    sticky = (l & ((1 << (k - 1)) - 1)) !== 0;
  } else if (k === 32) {
    ql = h;
    qh = 0;
    half = l >>> 31;
    sticky = (l & 0x7fffffff) !== 0;
  } else if (k < 64) {
    ql = h >>> (k - 32);
    qh = 0;
    half = (h >>> (k - 33)) & 1;
    sticky = (h & ((1 << (k - 33)) - 1)) !== 0 || l !== 0;
  } else if (k === 64) {
    qh = ql = 0;
    half = h >>> 31;
    sticky = (h & 0x7fffffff) !== 0 || l !== 0;
  } else {
    qh = ql = 0;
    sticky = h !== 0 || l !== 0;
  }
  sInexact = half !== 0 || sticky;
  switch (rc) {
    case 0: sUp = half !== 0 && (sticky || (ql & 1) !== 0); break;
    case 1: sUp = sInexact && neg; break;
    case 2: sUp = sInexact && !neg; break;
    default: sUp = false;
  }
  if (sUp) {
    ql = (ql + 1) >>> 0;
    if (ql === 0) qh = (qh + 1) >>> 0;
  }
}

// ---- 80-bit -> binary32/binary64 ----
/** Encoding produced by toBinary: the m32 word in outLo, or the m64 dwords. */
let outHi = 0, outLo = 0;
/** Flags of the last conversion (IE PE UE OE), C1, and whether the result was tiny. */
let cFlags = 0, cUp = false, cTiny = false;

/** Round the 80-bit scratch value to binary32 (p = 24) or binary64 (p = 53) by RC. */
function toBinary(p: number, rc: number): void {
  cFlags = 0;
  cUp = false;
  cTiny = false;
  const neg = (xs & 0x8000) !== 0;
  const sbit = neg ? 0x80000000 : 0;
  const E = xs & 0x7fff;
  const single = p === 24;
  const bias = single ? 127 : 1023;
  let h = xh, l = xl;
  if (E === 0x7fff || (E !== 0 && h < 0x80000000)) {
    if (h < 0x80000000) {
      // Pseudo-infinity, pseudo-NaN, unnormal: unsupported (invalid operand).
      cFlags = SW.IE;
      outHi = single ? 0 : 0xfff80000;
      outLo = single ? 0xffc00000 : 0;
      return;
    }
    if ((h & 0x7fffffff) === 0 && l === 0) {
      outHi = single ? 0 : (sbit | 0x7ff00000) >>> 0;
      outLo = single ? (sbit | 0x7f800000) >>> 0 : 0;
      return;
    }
    // NaN: quieted, significand truncated (SNaN: invalid).
    if ((h & 0x40000000) === 0) cFlags = SW.IE;
    h |= 0x40000000;
    if (single) {
      outHi = 0;
      outLo = (sbit | 0x7f800000 | ((h >>> 8) & 0x7fffff)) >>> 0;
    } else {
      outHi = (sbit | 0x7ff00000 | ((h >>> 11) & 0xfffff)) >>> 0;
      outLo = ((h << 21) | (l >>> 11)) >>> 0;
    }
    return;
  }
  if (h === 0 && l === 0) {
    outHi = single ? 0 : sbit >>> 0;
    outLo = single ? sbit >>> 0 : 0;
    return;
  }
  let e = (E === 0 ? 1 : E) - 16383;
  if (h < 0x80000000) {
    const n = clz64(h, l);
    shl64(h, l, n);
    h = sh;
    l = sl;
    e -= n;
  }
  const emin = 1 - bias;
  let k = 64 - p;
  const tiny = e < emin;
  if (tiny) k += emin - e;
  shiftRound(h, l, k, rc, neg);
  if (!tiny) {
    if (single ? ql === 0x1000000 : qh === 0x200000) {
      if (single) ql = 0x800000;
      else qh = 0x100000;
      e++;
    }
    if (e > bias) {
      cFlags = SW.OE | SW.PE;
      const inf = rc === 0 || (rc === 1 && neg) || (rc === 2 && !neg);
      cUp = inf;
      if (single) {
        outHi = 0;
        outLo = (sbit | (inf ? 0x7f800000 : 0x7f7fffff)) >>> 0;
      } else {
        outHi = (sbit | (inf ? 0x7ff00000 : 0x7fefffff)) >>> 0;
        outLo = inf ? 0 : 0xffffffff;
      }
      return;
    }
    if (single) {
      outHi = 0;
      outLo = (sbit | ((e + bias) << 23) | (ql & 0x7fffff)) >>> 0;
    } else {
      outHi = (sbit | ((e + bias) << 20) | (qh & 0xfffff)) >>> 0;
      outLo = ql;
    }
  } else {
    cTiny = true;
    outHi = single ? 0 : (sbit | qh) >>> 0;
    outLo = single ? (sbit | ql) >>> 0 : ql;
  }
  if (sInexact) {
    cFlags |= SW.PE | (tiny ? SW.UE : 0);
    cUp = sUp;
  }
}

/** The 80-bit scratch value as the nearest double (NaN for NaNs and unsupported encodings). */
function xToDouble(): number {
  toBinary(53, 0);
  return fromBits(outHi, outLo);
}

// ---- 80-bit <-> integers ----
/** Integer result (two's complement dwords) and its flags. */
let iHi = 0, iLo = 0, iFlags = 0, iUp = false;

/** Round the 80-bit scratch value to a signed integer of `bits` (16, 32, 64) by RC. */
function toInt(bits: number, rc: number): void {
  iFlags = 0;
  iUp = false;
  iHi = iLo = 0;
  const E = xs & 0x7fff;
  const neg = (xs & 0x8000) !== 0;
  if (E === 0x7fff || (E !== 0 && xh < 0x80000000)) {
    intIndefinite(bits);
    return;
  }
  if (xh === 0 && xl === 0) return;
  const k = 63 - ((E === 0 ? 1 : E) - 16383);
  if (k < 0) {
    intIndefinite(bits);
    return;
  }
  shiftRound(xh, xl, k, rc, neg);
  const ok =
    bits === 64
      ? qh < 0x80000000 || (neg && qh === 0x80000000 && ql === 0)
      : qh === 0 && (bits === 32 ? ql < 0x80000000 || (neg && ql === 0x80000000) : ql < 0x8000 || (neg && ql === 0x8000));
  if (!ok) {
    intIndefinite(bits);
    return;
  }
  iHi = qh | 0;
  iLo = ql | 0;
  if (neg) negate64();
  if (sInexact) {
    iFlags = SW.PE;
    iUp = sUp;
  }
}

function intIndefinite(bits: number): void {
  iFlags = SW.IE;
  iHi = bits === 64 ? 0x80000000 | 0 : 0;
  iLo = bits === 64 ? 0 : bits === 32 ? 0x80000000 | 0 : 0x8000;
}

function negate64(): void {
  iLo = (~iLo + 1) | 0;
  iHi = (~iHi + (iLo === 0 ? 1 : 0)) | 0;
}

/** Signed 64-bit integer (dwords) -> 80-bit scratch, exactly. */
function intToX(hi: number, lo: number): void {
  iHi = hi | 0;
  iLo = lo | 0;
  const neg = iHi < 0;
  if (neg) negate64();
  if (iHi === 0 && iLo === 0) {
    xs = xh = xl = 0;
    return;
  }
  const n = clz64(iHi >>> 0, iLo >>> 0);
  shl64(iHi, iLo, n);
  xh = sh;
  xl = sl;
  xs = (neg ? 0x8000 : 0) | (16383 + 63 - n);
}

// =====================================================================================
// Error-free transformations: the sign of (exact result - rounded result)
// =====================================================================================

let tpP = 0, tpE = 0;
/** a * b = tpP + tpE exactly (|a|, |b| well inside the range: the Veltkamp split must not overflow). */
function twoProd(a: number, b: number): void {
  const C = 134217729; // 2^27 + 1
  let t = C * a;
  const ah = t - (t - a), al = a - ah;
  t = C * b;
  const bh = t - (t - b), bl = b - bh;
  tpP = a * b;
  tpE = ((ah * bh - tpP) + ah * bl + al * bh) + al * bl;
}

function sign(v: number): number {
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

/** Sign of (x + y) - r, r = fl(x + y) finite. */
function errAdd(x: number, y: number, r: number): number {
  const bv = r - x;
  return sign((x - (r - bv)) + (y - bv));
}

/** Sign of x * y - r for finite nonzero x, y and finite r = fl(x * y). */
function errMul(x: number, y: number, r: number): number {
  const ex = expOf(x), ey = expOf(y);
  const sx = scale(Math.abs(x), -ex), sy = scale(Math.abs(y), -ey);
  const rs = scale(Math.abs(r), -(ex + ey));
  twoProd(sx, sy);
  const s = sign((tpP - rs) + tpE);
  return r < 0 || (r === 0 && (x < 0) !== (y < 0)) ? -s : s;
}

/** Sign of x / y - r for finite nonzero x, y and finite r = fl(x / y). */
function errDiv(x: number, y: number, r: number): number {
  const ex = expOf(x), ey = expOf(y);
  const sx = scale(Math.abs(x), -ex), sy = scale(Math.abs(y), -ey);
  const rs = scale(Math.abs(r), ey - ex);
  twoProd(rs, sy);
  const s = sign((sx - tpP) - tpE);
  return (x < 0) !== (y < 0) ? -s : s;
}

/** Sign of sqrt(x) - r for finite x > 0, r = fl(sqrt(x)). */
function errSqrt(x: number, r: number): number {
  const k = Math.floor(expOf(x) / 2);
  const sx = scale(x, -2 * k), sr = scale(r, -k);
  twoProd(sr, sr);
  return sign((sx - tpP) - tpE);
}

// =====================================================================================
// Transcendental kernels (plain double arithmetic; series evaluated in a fixed order)
// =====================================================================================

const PIO2_1 = 1.5707963267948966, PIO2_2 = 6.123233995736766e-17, PIO2_3 = -1.4973849048591698e-33;
const PI_HI = 3.141592653589793, PI_LO = 1.2246467991473532e-16;
const PIO4_HI = 0.7853981633974483, PIO4_LO = 3.061616997868383e-17;
const TWO_OVER_PI = 0.6366197723675814;
const LN2_HI = 0.6931471805599453, LN2_LO = 2.3190468138462996e-17;
const LOG2E_HI = 1.4426950408889634, LOG2E_LO = 2.0355273740931033e-17;
const SQRT2 = 1.4142135623730951;
const TAN_PI_8 = 0.41421356237309503;
/** 1 / (2n + 1) for the atan and atanh series. */
const ODD_INV = new Float64Array(32);
for (let n = 0; n < 32; n++) ODD_INV[n] = 1 / (2 * n + 1);

/** x reduced by multiples of pi/2: x = k * pi/2 + (redHi + redLo), redQ = k mod 4. */
let redHi = 0, redLo = 0, redQ = 0;
function reduce(x: number): void {
  redHi = x;
  redLo = 0;
  redQ = 0;
  // Up to |x| < 2^63 the first k (the double nearest x * 2/pi) can be off by a few hundred;
  // the second pass removes what is left. Every product is exact (twoProd) and every sum
  // keeps its rounding error, so the reduced value carries about 100 good bits.
  for (let pass = 0; pass < 2 && Math.abs(redHi) > PIO4_HI; pass++) {
    const k = Math.round(redHi * TWO_OVER_PI);
    twoProd(k, PIO2_1);
    const p1 = tpP, e1 = tpE;
    twoProd(k, PIO2_2);
    const p2 = tpP, e2 = tpE;
    let s = redHi - p1; // exact: p1 is within a factor of 2 of redHi
    let lo = redLo - e2 - k * PIO2_3;
    let t = s - e1;
    let bv = t - s;
    lo += (s - (t - bv)) + (-e1 - bv);
    s = t;
    t = s - p2;
    bv = t - s;
    lo += (s - (t - bv)) + (-p2 - bv);
    redHi = t + lo;
    redLo = lo - (redHi - t);
    redQ = (redQ + (k % 4) + 4) % 4;
  }
}

/** sin(h + l) for |h| <= ~pi/4, l tiny. */
function sinKernel(h: number, l: number): number {
  const z = h * h;
  let t = 1 - z / 420;
  t = 1 - (z / 342) * t;
  t = 1 - (z / 272) * t;
  t = 1 - (z / 210) * t;
  t = 1 - (z / 156) * t;
  t = 1 - (z / 110) * t;
  t = 1 - (z / 72) * t;
  t = 1 - (z / 42) * t;
  t = 1 - (z / 20) * t;
  return h - (h * (z / 6) * t - l);
}

/** cos(h + l) for |h| <= ~pi/4, l tiny. */
function cosKernel(h: number, l: number): number {
  const z = h * h;
  let t = 1 - z / 380;
  t = 1 - (z / 306) * t;
  t = 1 - (z / 240) * t;
  t = 1 - (z / 182) * t;
  t = 1 - (z / 132) * t;
  t = 1 - (z / 90) * t;
  t = 1 - (z / 56) * t;
  t = 1 - (z / 30) * t;
  t = 1 - (z / 12) * t;
  return 1 - ((z / 2) * t + h * l);
}

/** sin and cos of a reduced argument, by quadrant: into kSin, kCos. */
let kSin = 0, kCos = 0;
function sinCos(x: number): void {
  reduce(x);
  const s = sinKernel(redHi, redLo), c = cosKernel(redHi, redLo);
  switch (redQ) {
    case 0: kSin = s; kCos = c; break;
    case 1: kSin = c; kCos = -s; break;
    case 2: kSin = -s; kCos = -c; break;
    default: kSin = -c; kCos = s;
  }
}

/** atan(u) for |u| <= ~0.42. */
function atanSeries(u: number): number {
  const z = u * u;
  let p = ODD_INV[24];
  for (let n = 23; n >= 1; n--) p = ODD_INV[n] - z * p;
  return u - u * z * p;
}

/** atan(y / x) for finite y >= 0, x > 0. */
function atanRatio(y: number, x: number): number {
  if (y > x) {
    // pi/2 - atan(x / y)
    const a = atanRatio(x, y);
    return (PIO2_1 - a) + PIO2_2;
  }
  const t = y / x;
  if (t <= TAN_PI_8) return atanSeries(t);
  // atan(t) = pi/4 + atan((t - 1) / (t + 1)), computed from y and x to avoid rounding t first
  const u = (y - x) / (y + x);
  return PIO4_HI + (atanSeries(u) + PIO4_LO);
}

/** atan2(y, x) with the signed-zero and infinity cases of FPATAN (SDM vol. 2 table). */
function atan2(y: number, x: number): number {
  const ny = y < 0 || Object.is(y, -0);
  const nx = x < 0 || Object.is(x, -0);
  const ay = Math.abs(y), ax = Math.abs(x);
  let r: number;
  if (ay === 0) r = nx ? PI_HI : 0;
  else if (ax === 0) r = PIO2_1;
  else if (ay === Infinity) r = ax === Infinity ? (nx ? 3 * PIO4_HI : PIO4_HI) : PIO2_1;
  else if (ax === Infinity) r = nx ? PI_HI : 0;
  else {
    r = atanRatio(ay, ax);
    if (nx) r = (PI_HI - r) + PI_LO;
  }
  return ny ? -r : r;
}

/** ln(1 + f) for |f| small (f = m - 1 with m in [sqrt(1/2), sqrt(2)], or FYL2XP1's operand). */
function log1pSeries(f: number): number {
  const s = f / (2 + f);
  const z = s * s;
  let p = ODD_INV[13];
  for (let n = 12; n >= 1; n--) p = ODD_INV[n] + z * p;
  return 2 * s + 2 * s * z * p;
}

/** Set by log2Pos: the result is exact (x is a power of two). */
let logExact = false;
/** log2(x) for finite x > 0. */
function log2Pos(x: number): number {
  let adj = 0;
  if (x < MIN_NORMAL) {
    x *= 18446744073709551616; // 2^64
    adj = -64;
  }
  split(x);
  let e = ((dHi >>> 20) & 0x7ff) - 1023 + adj;
  let m = fromBits((dHi & 0xfffff) | 0x3ff00000, dLo);
  if (m > SQRT2) {
    m *= 0.5;
    e++;
  }
  const f = m - 1;
  logExact = f === 0;
  if (logExact) return e;
  const ln = log1pSeries(f);
  return e + (ln * LOG2E_HI + ln * LOG2E_LO);
}

/** log2(1 + x) for x > -1. */
function log2p1(x: number): number {
  if (Math.abs(x) < 0.29) {
    logExact = x === 0;
    if (logExact) return x;
    const ln = log1pSeries(x);
    return ln * LOG2E_HI + ln * LOG2E_LO;
  }
  return log2Pos(1 + x);
}

/** e^y - 1 for |y| <= ~0.7. */
function expm1Series(y: number): number {
  let t = 1 + y / 21;
  for (let n = 20; n >= 3; n--) t = 1 + (y / n) * t;
  return y + y * (y / 2) * t;
}

/** 2^x - 1 (F2XM1; defined by the SDM for -1 <= x <= 1, computed for any finite x). */
function exp2m1(x: number): number {
  if (x === 0 || x === 1 || x === -1) return x === 0 ? x : x === 1 ? 1 : -0.5;
  if (Math.abs(x) <= 1) return expm1Series(x * LN2_HI + x * LN2_LO);
  if (x > 1100) return Infinity;
  if (x < -1100) return -1;
  const n = Math.round(x);
  const f = x - n;
  return scale(1 + expm1Series(f * LN2_HI + f * LN2_LO), n) - 1;
}

// =====================================================================================
// Register access
// =====================================================================================

const MEM = 8; // operand source: the memory operand scratch below

/** The memory operand: value, denormal (DE), and its exact form when it is a NaN. */
let mVal = 0, mDenormal = false, mSe = 0, mHi = 0, mLo = 0;

function loadF32(bits: number): void {
  const e = (bits >>> 23) & 0xff, frac = bits & 0x7fffff;
  mDenormal = e === 0 && frac !== 0;
  if (e === 0xff && frac !== 0) {
    mVal = NaN;
    mSe = ((bits >>> 31) << 15) | 0x7fff;
    mHi = (0x80000000 | (frac << 8)) >>> 0;
    mLo = 0;
    return;
  }
  cvt.setUint32(0, bits >>> 0, true);
  mVal = cvt.getFloat32(0, true);
}

function loadF64(hi: number, lo: number): void {
  const e = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  mDenormal = e === 0 && (fh !== 0 || lo !== 0);
  if (e === 0x7ff && (fh !== 0 || lo !== 0)) {
    mVal = NaN;
    mSe = ((hi >>> 31) << 15) | 0x7fff;
    mHi = (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0;
    mLo = (lo << 11) >>> 0;
    return;
  }
  mVal = fromBits(hi, lo);
}

function phys(f: X87, i: number): number {
  return (f.top + i) & 7;
}
function isEmpty(f: X87, p: number): boolean {
  return (f.empty & (1 << p)) !== 0;
}

/** Register p <- a double result (a NaN here can only be the default NaN). */
function putD(f: X87, p: number, v: number): void {
  if (v !== v) {
    putIndefinite(f, p);
    return;
  }
  f.st[p] = v;
  f.exact &= ~(1 << p);
  f.empty &= ~(1 << p);
}

/** Register p <- the 80-bit scratch value (kept exactly unless it is a double). */
function putX(f: X87, p: number): void {
  const v = xToDouble();
  f.empty &= ~(1 << p);
  if (cFlags === 0 && v === v) {
    f.st[p] = v;
    f.exact &= ~(1 << p);
    return;
  }
  f.st[p] = v;
  f.xSe[p] = xs;
  f.xHi[p] = xh | 0;
  f.xLo[p] = xl | 0;
  f.exact |= 1 << p;
}

/** The QNaN floating-point indefinite (SDM vol. 1 §4.8.3.7). */
function putIndefinite(f: X87, p: number): void {
  xs = 0xffff;
  xh = 0xc0000000;
  xl = 0;
  putX(f, p);
}

/** 80-bit scratch <- register p. */
function getX(f: X87, p: number): void {
  if (f.exact & (1 << p)) {
    xs = f.xSe[p];
    xh = f.xHi[p] >>> 0;
    xl = f.xLo[p] >>> 0;
  } else dblToX(f.st[p]);
}

function copyReg(f: X87, dst: number, src: number): void {
  f.st[dst] = f.st[src];
  f.empty &= ~(1 << dst);
  if (f.exact & (1 << src)) {
    f.xSe[dst] = f.xSe[src];
    f.xHi[dst] = f.xHi[src];
    f.xLo[dst] = f.xLo[src];
    f.exact |= 1 << dst;
  } else f.exact &= ~(1 << dst);
}

/** An 80-bit denormal in register p (only an exact register can hold one). */
function denormalReg(f: X87, p: number): boolean {
  return (f.exact & (1 << p)) !== 0 && (f.xSe[p] & 0x7fff) === 0 && (f.xHi[p] !== 0 || f.xLo[p] !== 0);
}
function denormalOp(f: X87, src: number): number {
  return (src === MEM ? mDenormal : denormalReg(f, src)) ? SW.DE : 0;
}

/** Bits of an exception set the status word; an unmasked one sets ES and B (and FERR#). */
function signal(f: X87, flags: number): void {
  f.sw |= flags;
  if (flags & ~f.cw & EXC) f.sw |= SW.ES | SW.B;
}
function unmasked(f: X87, flags: number): boolean {
  return (flags & ~f.cw & EXC) !== 0;
}
function setC1(f: X87, on: boolean): void {
  f.sw = on ? f.sw | SW.C1 : f.sw & ~SW.C1;
}
function setCodes(f: X87, c: number): void {
  f.sw = (f.sw & ~CC) | c;
}
/** After FLDCW, FLDENV, FRSTOR: ES and B follow the unmasked exception flags. */
function recomputeES(f: X87): void {
  if (f.sw & ~f.cw & EXC) f.sw |= SW.ES | SW.B;
  else f.sw &= ~(SW.ES | SW.B);
}

function pop(f: X87): void {
  f.empty |= 1 << f.top;
  f.top = (f.top + 1) & 7;
}

/**
 * Make room for a push. Stack overflow (ST(7) in use): IE, SF, C1 = 1; masked, the default
 * NaN is pushed. Returns false when the instruction must not go on.
 */
function pushOk(f: X87): boolean {
  const p = (f.top - 1) & 7;
  if (!isEmpty(f, p)) {
    f.sw |= SW.C1;
    signal(f, SW.IE | SW.SF);
    if (!unmasked(f, SW.IE)) {
      f.top = p;
      putIndefinite(f, p);
    }
    return false;
  }
  f.top = p;
  return true;
}

/**
 * Stack underflow (an operand register is empty): IE, SF, C1 = 0; masked, `dst` (if any)
 * gets the default NaN. Returns whether the instruction completes (masked).
 */
function underflow(f: X87, dst: number): boolean {
  f.sw &= ~SW.C1;
  signal(f, SW.IE | SW.SF);
  if (unmasked(f, SW.IE)) return false;
  if (dst >= 0) putIndefinite(f, dst);
  return true;
}

function rcOf(f: X87): number {
  return (f.cw >> 10) & 3;
}

// =====================================================================================
// Results: rounding, overflow, NaN propagation
// =====================================================================================

/** Flags and C1 of the instruction in progress. */
let fl = 0, c1 = false;

/** The masked overflow response for a result of sign `neg` (SDM vol. 1 §4.9.1.4). */
function overflowValue(rc: number, neg: boolean): number {
  const inf = rc === 0 || (rc === 1 && neg) || (rc === 2 && !neg);
  c1 = inf;
  const v = inf ? Infinity : MAX_DOUBLE;
  return neg ? -v : v;
}

/**
 * Finish a rounded result r whose exact value differs from it by `err` (its sign): directed
 * rounding, PE, C1, underflow, overflow when rounding up passes the largest double.
 */
function finish(f: X87, r: number, err: number): number {
  c1 = false;
  if (err !== 0) {
    fl |= SW.PE;
    switch (rcOf(f)) {
      case 0:
        c1 = r !== 0 && r > 0 === err < 0;
        break;
      case 1:
        if (err < 0) r = nextDown(r);
        c1 = r < 0;
        break;
      case 2:
        if (err > 0) r = nextUp(r);
        c1 = r > 0;
        break;
      default:
        if (r > 0 ? err < 0 : r < 0 && err > 0) r = r > 0 ? nextDown(r) : nextUp(r);
    }
    if (r === Infinity || r === -Infinity) {
      fl |= SW.OE;
      c1 = true;
    }
  }
  if ((r !== 0 && Math.abs(r) < MIN_NORMAL) || (r === 0 && err !== 0)) {
    if (err !== 0 || unmasked(f, SW.UE)) fl |= SW.UE;
  }
  return r;
}

/**
 * Result of an operation on NaN operands a, b (register numbers or MEM; b may be -1 for a
 * one-operand instruction) into `dst` (SDM vol. 1 table 4-7): the QNaN with the larger
 * significand, a QNaN over an SNaN, SNaNs quieted (IE), unsupported operands the default NaN.
 * Returns whether the instruction completes.
 */
function nanResult(f: X87, dst: number, a: number, b: number): boolean {
  let aNaN = false, bNaN = false;
  let aS = 0, aH = 0, aL = 0, bS = 0, bH = 0, bL = 0;
  let invalid = false, indefinite = false;
  if (valueOf(f, a) !== valueOf(f, a)) {
    nanOperand(f, a);
    aS = xs; aH = xh; aL = xl;
    aNaN = true;
  }
  if (b >= 0 && valueOf(f, b) !== valueOf(f, b)) {
    nanOperand(f, b);
    bS = xs; bH = xh; bL = xl;
    bNaN = true;
  }
  // Unsupported encodings (J = 0) are invalid operands with the default NaN as result.
  if ((aNaN && aH < 0x80000000) || (bNaN && bH < 0x80000000)) {
    invalid = indefinite = true;
  }
  const aSNaN = aNaN && (aH & 0x40000000) === 0, bSNaN = bNaN && (bH & 0x40000000) === 0;
  if (aSNaN || bSNaN) invalid = true;
  let useA: boolean;
  if (aNaN && bNaN) {
    if (aSNaN !== bSNaN) useA = bSNaN;
    else {
      const am = (aH & 0x3fffffff) >>> 0, bm = (bH & 0x3fffffff) >>> 0;
      useA = am !== bm ? am > bm : aL !== bL ? aL > bL : (aS & 0x8000) === 0 || (bS & 0x8000) !== 0;
    }
  } else useA = aNaN;
  fl = invalid ? SW.IE : 0;
  f.sw &= ~SW.C1;
  if (invalid && unmasked(f, SW.IE)) {
    signal(f, fl);
    return false;
  }
  if (indefinite) putIndefinite(f, dst);
  else {
    xs = useA ? aS : bS;
    xh = ((useA ? aH : bH) | 0x40000000) >>> 0;
    xl = useA ? aL : bL;
    putX(f, dst);
  }
  signal(f, fl);
  return true;
}

function valueOf(f: X87, src: number): number {
  return src === MEM ? mVal : f.st[src];
}

/** The exact form of a NaN operand into the scratch. */
function nanOperand(f: X87, src: number): void {
  if (src === MEM) {
    xs = mSe;
    xh = mHi;
    xl = mLo;
  } else getX(f, src);
}

/** A NaN operand is an SNaN or an unsupported encoding (invalid even for FUCOM). */
function signalingOperand(f: X87, src: number): boolean {
  if (valueOf(f, src) === valueOf(f, src)) return false;
  nanOperand(f, src);
  return xh < 0x80000000 || (xh & 0x40000000) === 0;
}

// =====================================================================================
// Arithmetic
// =====================================================================================

const OP_ADD = 0, OP_MUL = 1, OP_SUB = 4, OP_DIV = 6;

/**
 * dst <- a OP b (OP: add, mul, sub, div), a and b register numbers or MEM. Returns whether the
 * instruction completes (the P forms pop only then).
 */
function arith(f: X87, op: number, dst: number, a: number, b: number): boolean {
  if ((a !== MEM && isEmpty(f, a)) || (b !== MEM && isEmpty(f, b))) return underflow(f, dst);
  const x = valueOf(f, a), y = valueOf(f, b);
  if (x !== x || y !== y) return nanResult(f, dst, a, b);
  fl = denormalOp(f, a) | denormalOp(f, b);
  if (op === OP_DIV && y === 0 && x !== 0 && x - x === 0) fl |= SW.ZE;
  if (unmasked(f, fl)) {
    signal(f, fl);
    return false;
  }
  let r: number;
  switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    default: r = x / y;
  }
  c1 = false;
  if (r !== r) {
    fl |= SW.IE;
    if (unmasked(f, SW.IE)) {
      signal(f, fl);
      return false;
    }
  } else if (r - r === 0) {
    let err = 0;
    if (x - x === 0 && y - y === 0) {
      switch (op) {
        case OP_ADD: err = errAdd(x, y, r); break;
        case OP_SUB: err = errAdd(x, -y, r); break;
        case OP_MUL: err = x === 0 || y === 0 ? 0 : errMul(x, y, r); break;
        default: err = x === 0 ? 0 : errDiv(x, y, r);
      }
    }
    r = finish(f, r, err);
  } else if (x - x === 0 && y - y === 0 && !(fl & SW.ZE)) {
    fl |= SW.OE | SW.PE;
    r = overflowValue(rcOf(f), r < 0);
  }
  putD(f, dst, r);
  setC1(f, c1);
  signal(f, fl);
  return true;
}

/** A one-operand function of ST(0) in place: check the stack and NaNs. Returns ST(0)'s register or -1. */
function unaryOperand(f: X87): number {
  const p = f.top;
  if (isEmpty(f, p)) {
    underflow(f, p);
    return -1;
  }
  if (f.st[p] !== f.st[p]) {
    nanResult(f, p, p, -1);
    return -1;
  }
  fl = denormalOp(f, p);
  if (unmasked(f, fl)) {
    signal(f, fl);
    return -1;
  }
  return p;
}

/** Store a computed result of ST(0)'s kind: NaN -> IE (default NaN). */
function putResult(f: X87, p: number, r: number): boolean {
  if (r !== r) {
    fl |= SW.IE;
    if (unmasked(f, SW.IE)) {
      signal(f, fl);
      return false;
    }
  }
  putD(f, p, r);
  setC1(f, c1);
  signal(f, fl);
  return true;
}

function fsqrt(f: X87): void {
  const p = unaryOperand(f);
  if (p < 0) return;
  const x = f.st[p];
  c1 = false;
  let r: number;
  if (x < 0) r = NaN;
  else {
    r = Math.sqrt(x);
    if (x !== 0 && x !== Infinity) r = finish(f, r, errSqrt(x, r));
  }
  putResult(f, p, r);
}

/** FRNDINT: round ST(0) to an integer by RC, on the exact value. */
function frndint(f: X87): void {
  const p = unaryOperand(f);
  if (p < 0) return;
  getX(f, p);
  const E = xs & 0x7fff;
  c1 = false;
  if (E !== 0x7fff && (xh !== 0 || xl !== 0)) {
    const e = (E === 0 ? 1 : E) - 16383;
    if (e < 63) {
      const neg = (xs & 0x8000) !== 0;
      shiftRound(xh, xl, 63 - e, rcOf(f), neg);
      if (sInexact) {
        fl |= SW.PE;
        c1 = sUp;
      }
      if (qh === 0 && ql === 0) {
        xs &= 0x8000;
        xh = xl = 0;
      } else {
        const n = clz64(qh, ql);
        shl64(qh, ql, n);
        xh = sh;
        xl = sl;
        xs = (neg ? 0x8000 : 0) | (16383 + 63 - n);
      }
    }
  }
  putX(f, p);
  setC1(f, c1);
  signal(f, fl);
}

/** FSCALE: ST(0) * 2^trunc(ST(1)), exact on the 80-bit value (rounded only below its range). */
function fscale(f: X87): void {
  const p0 = f.top, p1 = phys(f, 1);
  if (isEmpty(f, p0) || isEmpty(f, p1)) {
    underflow(f, p0);
    return;
  }
  const x = f.st[p0], y = f.st[p1];
  if (x !== x || y !== y) {
    nanResult(f, p0, p0, p1);
    return;
  }
  fl = denormalOp(f, p0) | denormalOp(f, p1);
  if (unmasked(f, fl)) {
    signal(f, fl);
    return;
  }
  c1 = false;
  if (y === Infinity || y === -Infinity) {
    if ((x === 0 && y > 0) || ((x === Infinity || x === -Infinity) && y < 0)) {
      putResult(f, p0, NaN);
      return;
    }
    putResult(f, p0, x === 0 || x - x !== 0 ? x : y > 0 ? x * Infinity : x * 0);
    return;
  }
  getX(f, p0);
  let E = xs & 0x7fff;
  if (E === 0x7fff || (xh === 0 && xl === 0)) {
    putResult(f, p0, x);
    return;
  }
  let n = Math.trunc(y);
  if (n > 65536) n = 65536;
  if (n < -65536) n = -65536;
  const neg = (xs & 0x8000) !== 0;
  if (E === 0) E = 1;
  if (xh < 0x80000000) {
    const z = clz64(xh, xl);
    shl64(xh, xl, z);
    xh = sh;
    xl = sl;
    E -= z;
  }
  E += n;
  if (E >= 0x7fff) {
    fl |= SW.OE | SW.PE;
    const rc = rcOf(f);
    const inf = rc === 0 || (rc === 1 && neg) || (rc === 2 && !neg);
    c1 = inf;
    xs = (neg ? 0x8000 : 0) | (inf ? 0x7fff : 0x7ffe);
    xh = inf ? 0x80000000 : 0xffffffff;
    xl = inf ? 0 : 0xffffffff;
  } else if (E <= 0) {
    shiftRound(xh, xl, 1 - E, rcOf(f), neg);
    if (sInexact) {
      fl |= SW.PE | SW.UE;
      c1 = sUp;
    } else if (unmasked(f, SW.UE)) fl |= SW.UE;
    xs = (neg ? 0x8000 : 0) | (qh >= 0x80000000 ? 1 : 0);
    xh = qh;
    xl = ql;
  } else xs = (neg ? 0x8000 : 0) | E;
  putX(f, p0);
  setC1(f, c1);
  signal(f, fl);
}

/** FPREM (IEEE = false) and FPREM1 (IEEE = true): partial remainder, quotient bits in C0 C3 C1. */
function fprem(f: X87, ieee: boolean): void {
  const p0 = f.top, p1 = phys(f, 1);
  if (isEmpty(f, p0) || isEmpty(f, p1)) {
    underflow(f, p0);
    return;
  }
  const x = f.st[p0], y = f.st[p1];
  if (x !== x || y !== y) {
    nanResult(f, p0, p0, p1);
    return;
  }
  fl = denormalOp(f, p0) | denormalOp(f, p1);
  if (unmasked(f, fl)) {
    signal(f, fl);
    return;
  }
  if (x - x !== 0 || y === 0) {
    f.sw &= ~SW.C2;
    putResult(f, p0, NaN);
    return;
  }
  let codes = 0;
  if (x !== 0 && y - y === 0) {
    const ax = Math.abs(x), ay = Math.abs(y);
    const d = expOf(ax) - expOf(ay);
    if (d >= 64) {
      // Incomplete: reduce by ST(1) * 2^(D - N), N between 32 and 63; C2 = 1, C0 C1 C3 = 0.
      const n = 32 + (d % 32);
      const r = ax % scale(ay, d - n);
      putD(f, p0, x < 0 ? -r : r);
      setCodes(f, SW.C2);
      signal(f, fl);
      return;
    }
    let r = ax % ay;
    const y8 = ay * 8;
    const r8 = y8 === Infinity ? ax : ax % y8;
    let q = Math.round((r8 - r) / ay) & 7;
    if (ieee) {
      const t = ay - r;
      if (r > t || (r === t && (q & 1) !== 0)) {
        r = -t;
        q = (q + 1) & 7;
      }
    }
    codes = (q & 4 ? SW.C0 : 0) | (q & 2 ? SW.C3 : 0) | (q & 1 ? SW.C1 : 0);
    putD(f, p0, x < 0 ? -r : r);
  } else putD(f, p0, x);
  setCodes(f, codes);
  signal(f, fl);
}

/** FXTRACT: ST(0) <- exponent, then push the significand. */
function fxtract(f: X87): void {
  const p0 = f.top;
  if (isEmpty(f, p0)) {
    if (underflow(f, p0) && pushOkQuiet(f)) putIndefinite(f, f.top);
    return;
  }
  if (!isEmpty(f, (f.top - 1) & 7)) {
    pushOk(f);
    return;
  }
  const x = f.st[p0];
  if (x !== x) {
    if (nanResult(f, p0, p0, -1)) {
      f.top = (f.top - 1) & 7;
      copyReg(f, f.top, p0);
    }
    return;
  }
  // Classified on the exact value: an 80-bit denormal is not zero, a value beyond binary64's
  // range is not infinite.
  getX(f, p0);
  const neg = (xs & 0x8000) !== 0;
  const zero = xh === 0 && xl === 0;
  const inf = (xs & 0x7fff) === 0x7fff;
  fl = denormalOp(f, p0);
  if (zero) fl |= SW.ZE;
  if (unmasked(f, fl)) {
    signal(f, fl);
    return;
  }
  if (zero) {
    putD(f, p0, -Infinity);
    f.top = (f.top - 1) & 7;
    putD(f, f.top, neg ? -0 : 0);
  } else if (inf) {
    putD(f, p0, Infinity);
    f.top = (f.top - 1) & 7;
    putD(f, f.top, x);
  } else {
    let E = xs & 0x7fff;
    if (E === 0) E = 1;
    if (xh < 0x80000000) {
      const z = clz64(xh, xl);
      shl64(xh, xl, z);
      xh = sh;
      xl = sl;
      E -= z;
    }
    putD(f, p0, E - 16383);
    xs = (neg ? 0x8000 : 0) | 16383;
    f.top = (f.top - 1) & 7;
    putX(f, f.top);
  }
  f.sw &= ~SW.C1;
  signal(f, fl);
}

/** For masked stack faults of pushing instructions: push without another overflow check. */
function pushOkQuiet(f: X87): boolean {
  f.top = (f.top - 1) & 7;
  return true;
}

/** FSIN, FCOS, FSINCOS, FPTAN (SDM vol. 2): |x| >= 2^63 sets C2 and leaves ST(0) alone. */
function trig(f: X87, kind: number): void {
  const pushes = kind >= 2; // 2 FSINCOS, 3 FPTAN
  const p0 = f.top;
  if (isEmpty(f, p0) || (pushes && !isEmpty(f, (f.top - 1) & 7))) {
    if (isEmpty(f, p0)) {
      if (underflow(f, p0) && pushes) {
        f.top = (f.top - 1) & 7;
        putIndefinite(f, f.top);
      }
    } else {
      f.sw |= SW.C1;
      signal(f, SW.IE | SW.SF);
      if (!unmasked(f, SW.IE)) {
        putIndefinite(f, p0);
        f.top = (f.top - 1) & 7;
        putIndefinite(f, f.top);
      }
    }
    return;
  }
  const x = f.st[p0];
  if (x !== x) {
    if (nanResult(f, p0, p0, -1) && pushes) {
      f.top = (f.top - 1) & 7;
      copyReg(f, f.top, p0);
    }
    f.sw &= ~SW.C2;
    return;
  }
  fl = denormalOp(f, p0);
  if (unmasked(f, fl)) {
    signal(f, fl);
    return;
  }
  if (Math.abs(x) >= 9223372036854775808) {
    // An infinite double is a true infinity unless the register holds a finite 80-bit value
    // beyond binary64's range (exact), which is merely out of range.
    if (x - x !== 0 && !(f.exact & (1 << p0))) {
      fl |= SW.IE;
      if (unmasked(f, SW.IE)) {
        signal(f, fl);
        return;
      }
      putIndefinite(f, p0);
      if (pushes) {
        f.top = (f.top - 1) & 7;
        putIndefinite(f, f.top);
      }
      f.sw &= ~(SW.C1 | SW.C2);
      signal(f, fl);
      return;
    }
    f.sw = (f.sw & ~SW.C1) | SW.C2;
    signal(f, fl);
    return;
  }
  f.sw &= ~(SW.C1 | SW.C2);
  if (x === 0) {
    // sin(+-0) = +-0, cos(0) = 1, tan(+-0) = +-0: exact.
    if (kind === 1) putD(f, p0, 1);
    else if (kind === 2) {
      putD(f, p0, x);
      f.top = (f.top - 1) & 7;
      putD(f, f.top, 1);
    } else if (kind === 3) {
      f.top = (f.top - 1) & 7;
      putD(f, f.top, 1);
    }
    signal(f, fl);
    return;
  }
  fl |= SW.PE;
  sinCos(x);
  switch (kind) {
    case 0: putD(f, p0, kSin); break;
    case 1: putD(f, p0, kCos); break;
    case 2:
      putD(f, p0, kSin);
      f.top = (f.top - 1) & 7;
      putD(f, f.top, kCos);
      break;
    default:
      putD(f, p0, kSin / kCos);
      f.top = (f.top - 1) & 7;
      putD(f, f.top, 1);
  }
  signal(f, fl);
}

/** FPATAN, FYL2X, FYL2XP1: ST(1) <- fn(ST(1), ST(0)), pop. */
function binaryPop(f: X87, kind: number): void {
  const p0 = f.top, p1 = phys(f, 1);
  let done: boolean;
  if (isEmpty(f, p0) || isEmpty(f, p1)) done = underflow(f, p1);
  else {
    const x = f.st[p0], y = f.st[p1];
    if (x !== x || y !== y) done = nanResult(f, p1, p1, p0);
    else {
      fl = denormalOp(f, p0) | denormalOp(f, p1);
      c1 = false;
      let r: number;
      if (kind === 0) {
        r = atan2(y, x);
        if (!(y === 0 || (x === Infinity && y - y === 0))) fl |= SW.PE;
      } else {
        let l: number;
        logExact = true;
        if (kind === 1) {
          if (x < 0) l = NaN;
          else if (x === 0) {
            l = -Infinity;
            if (y !== 0 && y - y === 0) fl |= SW.ZE;
          } else l = x === Infinity ? Infinity : log2Pos(x);
        } else l = x < -1 ? NaN : x === -1 ? -Infinity : x === Infinity ? Infinity : log2p1(x);
        r = y * l;
        if (!logExact && r === r && r - r === 0 && r !== 0) fl |= SW.PE;
      }
      if (unmasked(f, fl & (SW.DE | SW.ZE))) {
        signal(f, fl);
        return;
      }
      done = putResult(f, p1, r);
    }
  }
  if (done) pop(f);
}

function f2xm1(f: X87): void {
  const p = unaryOperand(f);
  if (p < 0) return;
  const x = f.st[p];
  c1 = false;
  const r = x === -Infinity ? -1 : x === Infinity ? Infinity : exp2m1(x);
  if (x - x === 0 && x !== 0 && x !== 1 && x !== -1) fl |= SW.PE;
  putResult(f, p, r);
}

// =====================================================================================
// Compares
// =====================================================================================

/** Compare a with b (register numbers or MEM): 0 greater, 1 less, 2 equal, 3 unordered. */
function compareValues(f: X87, a: number, b: number): number {
  const x = valueOf(f, a), y = valueOf(f, b);
  if (x > y) return 0;
  if (x < y) return 1;
  // Equal as doubles: an exact 80-bit register may still differ.
  if ((a !== MEM && f.exact & (1 << a)) || (b !== MEM && f.exact & (1 << b))) {
    if (a === MEM) dblToX(x);
    else getX(f, a);
    const as = xs, ah = xh, al = xl;
    if (b === MEM) dblToX(y);
    else getX(f, b);
    const c = cmp80(as, ah, al, xs, xh, xl);
    return c > 0 ? 0 : c < 0 ? 1 : 2;
  }
  return 2;
}

/** Compare two finite 80-bit values. */
function cmp80(as: number, ah: number, al: number, bs: number, bh: number, bl: number): number {
  const az = ah === 0 && al === 0, bz = bh === 0 && bl === 0;
  if (az && bz) return 0;
  const an = (as & 0x8000) !== 0, bn = (bs & 0x8000) !== 0;
  if (az) return bn ? 1 : -1;
  if (bz) return an ? -1 : 1;
  if (an !== bn) return an ? -1 : 1;
  // Same sign: compare magnitudes as (exponent of the leading bit, normalized significand).
  let ae = (as & 0x7fff) || 1, be = (bs & 0x7fff) || 1;
  let n = clz64(ah, al);
  shl64(ah, al, n);
  ae -= n;
  ah = sh;
  al = sl;
  n = clz64(bh, bl);
  shl64(bh, bl, n);
  be -= n;
  bh = sh;
  bl = sl;
  let m = ae !== be ? ae - be : ah !== bh ? ah - bh : al - bl;
  if (an) m = -m;
  return m > 0 ? 1 : m < 0 ? -1 : 0;
}

const CODES = [0, SW.C0, SW.C3, SW.C3 | SW.C2 | SW.C0];
const EFL = [0, F.CF, F.ZF, F.ZF | F.PF | F.CF];

/**
 * FCOM/FUCOM family and FCOMI/FUCOMI: compare ST(0) (register a) with b; `quiet` (FUCOM)
 * raises IE only for SNaNs. Results go to C3 C2 C0, or to ZF PF CF when `eflags`. Returns
 * whether the instruction completes (the P forms pop only then).
 */
function compare(cpu: CPU, f: X87, a: number, b: number, quiet: boolean, eflags: boolean): boolean {
  let res: number;
  fl = 0;
  if (isEmpty(f, a) || (b !== MEM && isEmpty(f, b))) {
    f.sw &= ~SW.C1;
    signal(f, SW.IE | SW.SF);
    if (unmasked(f, SW.IE)) return false;
    res = 3;
  } else {
    const x = valueOf(f, a), y = valueOf(f, b);
    if (x !== x || y !== y) {
      res = 3;
      if (!quiet || signalingOperand(f, a) || signalingOperand(f, b)) fl |= SW.IE;
    } else res = -1;
    fl |= denormalOp(f, a) | denormalOp(f, b);
    if (unmasked(f, fl)) {
      signal(f, fl);
      return false;
    }
    if (res < 0) res = compareValues(f, a, b);
    signal(f, fl);
  }
  f.sw &= ~SW.C1;
  if (eflags) {
    const fr = cpu.getFlags() & ~(F.OF | F.SF | F.ZF | F.AF | F.PF | F.CF);
    cpu.flags = fr | EFL[res];
  } else setCodes(f, CODES[res]);
  return true;
}

/** FXAM (SDM vol. 2): the class of ST(0) in C3 C2 C0, its sign in C1. */
function fxam(f: X87): void {
  const p = f.top;
  getX(f, p);
  let c = (xs & 0x8000) !== 0 ? SW.C1 : 0;
  if (isEmpty(f, p)) c |= SW.C3 | SW.C0;
  else {
    const E = xs & 0x7fff;
    const zeroM = xh === 0 && xl === 0;
    if (E === 0x7fff) {
      if (xh < 0x80000000) c |= 0; // unsupported
      else c |= (xh & 0x7fffffff) === 0 && xl === 0 ? SW.C2 | SW.C0 : SW.C0;
    } else if (E === 0) c |= zeroM ? SW.C3 : SW.C3 | SW.C2;
    else if (xh >= 0x80000000) c |= SW.C2;
  }
  setCodes(f, c);
}

// =====================================================================================
// Memory operands
// =====================================================================================

/** Read the memory operand of a float/int arithmetic or compare form into the m* scratch. */
function readOperand(cpu: CPU, esc: number, s: number, off: number): void {
  mDenormal = false;
  switch (esc) {
    case 0: loadF32(cpu.rd32(s, off)); break;
    case 2: mVal = cpu.rd32(s, off); break;
    case 4: {
      cpu.checkR(s, off, 8);
      const lo = cpu.rd32(s, off);
      loadF64(cpu.rd32(s, (off + 4) | 0) >>> 0, lo >>> 0);
      break;
    }
    default: mVal = (cpu.rd16(s, off) << 16) >> 16;
  }
}

/** FLD m80 / FBLD / FILD m64 / FRSTOR: read 10 bytes (8 for m64) into rd* scratch. */
let rdLo = 0, rdHi = 0, rdSe = 0;
function read80(cpu: CPU, s: number, off: number, bytes: number): void {
  cpu.checkR(s, off, bytes);
  rdLo = cpu.rd32(s, off);
  rdHi = cpu.rd32(s, (off + 4) | 0);
  rdSe = bytes === 10 ? cpu.rd16(s, (off + 8) | 0) : 0;
}

/** Linear address of a store of `size` bytes after every check (a fault changes nothing). */
function storeLin(cpu: CPU, s: number, off: number, size: number): number {
  return cpu.linW(s, off, size);
}

function write64(cpu: CPU, lin: number, hi: number, lo: number): void {
  cpu.wrLin32(lin, lo);
  cpu.wrLin32((lin + 4) | 0, hi);
}

/** FST/FSTP m32/m64 (p = 24/53) of ST(0). Returns whether to pop (the store completed). */
function storeFloat(cpu: CPU, f: X87, s: number, off: number, p: number): boolean {
  const size = p === 24 ? 4 : 8;
  const lin = storeLin(cpu, s, off, size);
  const r = f.top;
  let flags: number;
  if (isEmpty(f, r)) {
    flags = SW.IE | SW.SF;
    outHi = p === 24 ? 0 : 0xfff80000;
    outLo = p === 24 ? 0xffc00000 : 0;
    cUp = false;
  } else {
    const de = denormalReg(f, r) ? SW.DE : 0;
    getX(f, r);
    toBinary(p, rcOf(f));
    flags = cFlags | de;
    if (cTiny && unmasked(f, SW.UE)) flags |= SW.UE;
  }
  // Unmasked invalid, denormal, overflow, underflow: nothing is stored (precision: stored).
  if (flags & ~f.cw & (SW.IE | SW.DE | SW.OE | SW.UE)) {
    setC1(f, (flags & SW.SF) === 0 && cUp);
    signal(f, flags);
    return false;
  }
  if (p === 24) cpu.wrLin32(lin, outLo);
  else write64(cpu, lin, outHi, outLo);
  setC1(f, (flags & SW.SF) === 0 && cUp);
  signal(f, flags);
  return true;
}

/** FIST/FISTP m16/m32/m64 of ST(0). Returns whether to pop. */
function storeInt(cpu: CPU, f: X87, s: number, off: number, bits: number): boolean {
  const lin = storeLin(cpu, s, off, bits >> 3);
  const r = f.top;
  let flags: number;
  if (isEmpty(f, r)) {
    intIndefinite(bits);
    flags = SW.IE | SW.SF;
    iUp = false;
  } else {
    getX(f, r);
    toInt(bits, rcOf(f));
    flags = iFlags;
  }
  setC1(f, (flags & SW.IE) === 0 && iUp);
  if (flags & ~f.cw & SW.IE) {
    signal(f, flags);
    return false;
  }
  if (bits === 16) cpu.wrLin16(lin, iLo);
  else if (bits === 32) cpu.wrLin32(lin, iLo);
  else write64(cpu, lin, iHi, iLo);
  signal(f, flags);
  return true;
}

const BCD_MAX_HI = 0x0de0b6b3, BCD_MAX_LO = 0xa763ffff; // 10^18 - 1

/** FBSTP m80: ST(0) rounded by RC to 18 packed BCD digits. Returns whether to pop. */
function storeBcd(cpu: CPU, f: X87, s: number, off: number): boolean {
  const lin = storeLin(cpu, s, off, 10);
  const r = f.top;
  let flags: number;
  let neg = false;
  if (isEmpty(f, r)) {
    flags = SW.IE | SW.SF;
  } else {
    getX(f, r);
    neg = (xs & 0x8000) !== 0;
    toInt(64, rcOf(f));
    flags = iFlags;
    if (!(flags & SW.IE)) {
      if (iHi < 0) negate64();
      const hi = iHi >>> 0, lo = iLo >>> 0;
      if (hi > BCD_MAX_HI || (hi === BCD_MAX_HI && lo > BCD_MAX_LO)) flags = SW.IE;
    }
  }
  setC1(f, (flags & SW.IE) === 0 && iUp);
  if (flags & ~f.cw & SW.IE) {
    signal(f, flags);
    return false;
  }
  if (flags & SW.IE) {
    // The packed BCD indefinite: FFFF C000 0000 0000 0000.
    cpu.wrLin32(lin, 0);
    cpu.wrLin32((lin + 4) | 0, 0xc0000000 | 0);
    cpu.wrLin16((lin + 8) | 0, 0xffff);
  } else {
    let hi = iHi >>> 0, lo = iLo >>> 0;
    let w0 = 0, w1 = 0, w2 = 0;
    for (let d = 0; d < 18; d++) {
      // (hi:lo) / 10 by long division on 32-bit halves.
      const qhi = Math.floor(hi / 10);
      const t = (hi - qhi * 10) * 4294967296 + lo;
      const qlo = Math.floor(t / 10);
      const digit = t - qlo * 10;
      hi = qhi;
      lo = qlo;
      if (d < 8) w0 |= digit << (d * 4);
      else if (d < 16) w1 |= digit << ((d - 8) * 4);
      else w2 |= digit << ((d - 16) * 4);
    }
    cpu.wrLin32(lin, w0);
    cpu.wrLin32((lin + 4) | 0, w1);
    cpu.wrLin16((lin + 8) | 0, w2 | (neg ? 0x8000 : 0));
  }
  signal(f, flags);
  return true;
}

/** FBLD m80: 18 packed BCD digits and a sign, exactly. */
function bcdToX(lo: number, hi: number, se: number): void {
  let vh = 0, vl = 0;
  for (let d = 17; d >= 0; d--) {
    const digit = d < 8 ? (lo >>> (d * 4)) & 15 : d < 16 ? (hi >>> ((d - 8) * 4)) & 15 : (se >>> ((d - 16) * 4)) & 15;
    const t = vl * 10 + digit;
    const carry = Math.floor(t / 4294967296);
    vl = t - carry * 4294967296;
    vh = (vh * 10 + carry) >>> 0;
  }
  intToX(vh, vl);
  if (se & 0x8000) xs |= 0x8000;
}

// ---- environment (SDM vol. 1 figures 8-9 to 8-12) ----

const env = new Int32Array(7);

/** Fill `env` with the 7 fields of the environment in the layout for the mode and size. */
function packEnv(cpu: CPU, f: X87, o32: boolean): number {
  const real = !cpu.pe || (cpu.flags & F.VM) !== 0;
  const cw = f.cw, sw = f.statusWord(), tw = f.tagWord();
  if (o32) {
    env[0] = cw | 0xffff0000;
    env[1] = sw | 0xffff0000;
    env[2] = tw | 0xffff0000;
    if (real) {
      env[3] = (f.fip & 0xffff) | 0xffff0000;
      env[4] = ((f.fip >>> 16) << 12) | (f.fop & 0x7ff);
      env[5] = (f.fdp & 0xffff) | 0xffff0000;
      env[6] = (f.fdp >>> 16) << 12;
    } else {
      env[3] = f.fip;
      env[4] = (f.fcs & 0xffff) | ((f.fop & 0x7ff) << 16);
      env[5] = f.fdp;
      env[6] = (f.fds & 0xffff) | 0xffff0000;
    }
    return 28;
  }
  env[0] = cw;
  env[1] = sw;
  env[2] = tw;
  if (real) {
    env[3] = f.fip & 0xffff;
    env[4] = (((f.fip >>> 16) & 0xf) << 12) | (f.fop & 0x7ff);
    env[5] = f.fdp & 0xffff;
    env[6] = ((f.fdp >>> 16) & 0xf) << 12;
  } else {
    env[3] = f.fip & 0xffff;
    env[4] = f.fcs;
    env[5] = f.fdp & 0xffff;
    env[6] = f.fds;
  }
  return 14;
}

function writeEnv(cpu: CPU, lin: number, o32: boolean): void {
  for (let k = 0; k < 7; k++) {
    if (o32) cpu.wrLin32((lin + k * 4) | 0, env[k]);
    else cpu.wrLin16((lin + k * 2) | 0, env[k]);
  }
}

function readEnv(cpu: CPU, s: number, off: number, o32: boolean): void {
  cpu.checkR(s, off, o32 ? 28 : 14);
  for (let k = 0; k < 7; k++) env[k] = o32 ? cpu.rd32(s, (off + k * 4) | 0) : cpu.rd16(s, (off + k * 2) | 0);
}

/** Load the environment read by readEnv. */
function unpackEnv(cpu: CPU, f: X87, o32: boolean): void {
  const real = !cpu.pe || (cpu.flags & F.VM) !== 0;
  f.cw = (env[0] & 0x1f3f) | 0x40;
  const sw = env[1] & 0xffff;
  f.sw = sw & ~SW.TOP;
  f.top = (sw >> 11) & 7;
  const tw = env[2] & 0xffff;
  let empty = 0;
  for (let p = 0; p < 8; p++) if (((tw >> (p * 2)) & 3) === 3) empty |= 1 << p;
  f.empty = empty;
  if (real) {
    const hiShift = o32 ? 0xffff : 0xf;
    f.fip = ((env[3] & 0xffff) | (((env[4] >>> 12) & hiShift) << 16)) >>> 0;
    f.fop = env[4] & 0x7ff;
    f.fdp = ((env[5] & 0xffff) | (((env[6] >>> 12) & hiShift) << 16)) >>> 0;
    f.fcs = f.fds = 0;
  } else if (o32) {
    f.fip = env[3];
    f.fcs = env[4] & 0xffff;
    f.fop = (env[4] >>> 16) & 0x7ff;
    f.fdp = env[5];
    f.fds = env[6] & 0xffff;
  } else {
    f.fip = env[3] & 0xffff;
    f.fcs = env[4] & 0xffff;
    f.fdp = env[5] & 0xffff;
    f.fds = env[6] & 0xffff;
  }
  recomputeES(f);
}

function fnstenv(cpu: CPU, f: X87, s: number, off: number, o32: boolean): void {
  const size = packEnv(cpu, f, o32);
  const lin = storeLin(cpu, s, off, size);
  writeEnv(cpu, lin, o32);
  // All exceptions masked "so they cannot interrupt the exception handler" (vol. 2 FSTENV):
  // nothing unmasked is pending any more, so ES and B clear too.
  f.cw |= CW.MASKS;
  f.sw &= ~(SW.ES | SW.B);
}

function fnsave(cpu: CPU, f: X87, s: number, off: number, o32: boolean): void {
  const size = packEnv(cpu, f, o32);
  const lin = storeLin(cpu, s, off, size + 80);
  writeEnv(cpu, lin, o32);
  for (let i = 0; i < 8; i++) {
    getX(f, phys(f, i));
    const a = (lin + size + i * 10) | 0;
    cpu.wrLin32(a, xl);
    cpu.wrLin32((a + 4) | 0, xh);
    cpu.wrLin16((a + 8) | 0, xs);
  }
  f.init();
}

const rstLo = new Int32Array(8), rstHi = new Int32Array(8), rstSe = new Uint16Array(8);

function frstor(cpu: CPU, f: X87, s: number, off: number, o32: boolean): void {
  const size = o32 ? 28 : 14;
  cpu.checkR(s, off, size + 80);
  readEnv(cpu, s, off, o32);
  for (let i = 0; i < 8; i++) {
    read80(cpu, s, (off + size + i * 10) | 0, 10);
    rstLo[i] = rdLo;
    rstHi[i] = rdHi;
    rstSe[i] = rdSe;
  }
  unpackEnv(cpu, f, o32);
  const empty = f.empty;
  for (let i = 0; i < 8; i++) {
    xs = rstSe[i];
    xh = rstHi[i] >>> 0;
    xl = rstLo[i] >>> 0;
    putX(f, phys(f, i));
  }
  f.empty = empty;
}

// =====================================================================================
// Dispatch
// =====================================================================================

/** Instruction kinds: undefined, no-wait control, waiting control (no pointer update), normal. */
const K_UD = 0, K_NOWAIT = 1, K_CONTROL = 2, K_NORMAL = 3;
/** Memory forms by (escape << 3) | reg. */
const KIND_MEM = new Uint8Array(64).fill(K_NORMAL);
/** Register forms by (escape << 6) | (modrm & 0x3f). */
const KIND_REG = new Uint8Array(512).fill(K_NORMAL);
{
  const m = (esc: number, r: number, k: number): void => {
    KIND_MEM[(esc << 3) | r] = k;
  };
  const g = (esc: number, from: number, to: number, k: number): void => {
    for (let b = from; b <= to; b++) KIND_REG[(esc << 6) | (b & 0x3f)] = k;
  };
  m(1, 1, K_UD); m(1, 4, K_CONTROL); m(1, 5, K_CONTROL); m(1, 6, K_NOWAIT); m(1, 7, K_NOWAIT);
  m(3, 1, K_UD); m(3, 4, K_UD); m(3, 6, K_UD);
  m(5, 1, K_UD); m(5, 4, K_CONTROL); m(5, 5, K_UD); m(5, 6, K_NOWAIT); m(5, 7, K_NOWAIT);
  m(7, 1, K_UD);
  g(1, 0xd1, 0xd7, K_UD); g(1, 0xe2, 0xe3, K_UD); g(1, 0xe6, 0xe7, K_UD); g(1, 0xef, 0xef, K_UD);
  g(2, 0xe0, 0xff, K_UD); g(2, 0xe9, 0xe9, K_NORMAL);
  g(3, 0xe0, 0xe4, K_NOWAIT); g(3, 0xe5, 0xe7, K_UD); g(3, 0xf8, 0xff, K_UD);
  g(5, 0xf0, 0xff, K_UD);
  g(6, 0xd8, 0xd8, K_UD); g(6, 0xda, 0xdf, K_UD);
  g(7, 0xe0, 0xe0, K_NOWAIT); g(7, 0xe1, 0xe7, K_UD); g(7, 0xf8, 0xff, K_UD);
}

/**
 * A pending unmasked exception (ES) at a waiting instruction (SDM vol. 1 §8.7): #MF with
 * CR0.NE = 1. With NE = 0 (MS-DOS compatibility) FERR# is already asserted; if something is
 * wired to it and IGNNE# is not asserted the processor freezes until an interrupt (modelled
 * as a halt with EIP at the waiting instruction, which runs again after the handler);
 * otherwise the error is ignored as with IGNNE#. Returns whether the instruction proceeds.
 */
function waitPending(cpu: CPU, f: X87): boolean {
  if (!(f.sw & SW.ES)) return true;
  if (cpu.cr0 & CR0.NE) cpu.raise(V.MF);
  syncFerr(cpu, f);
  if (cpu.onFerr === null || f.ignne) return true;
  cpu.halted = true;
  cpu.nextEip = cpu.eip;
  cpu.leaveBlock = true;
  return false;
}

/** FERR# follows ES in MS-DOS compatibility mode (CR0.NE = 0); the P6 asserts it as the instruction completes. */
function syncFerr(cpu: CPU, f: X87): void {
  const want = (f.sw & SW.ES) !== 0 && (cpu.cr0 & CR0.NE) === 0;
  if (want === f.ferr) return;
  f.ferr = want;
  if (cpu.onFerr !== null) {
    cpu.onFerr(want);
    cpu.leaveBlock = true;
  }
}

/** WAIT/FWAIT (9B). */
export function x87Wait(cpu: CPU): void {
  if ((cpu.cr0 & (CR0.MP | CR0.TS)) === (CR0.MP | CR0.TS)) cpu.raise(V.NM);
  waitPending(cpu, cpu.fpu);
}

/** Constants of FLD1 ... FLDZ as 80-bit values rounded to nearest, and whether RC up/down changes them. */
const CONST_SE = [0x3fff, 0x4000, 0x3fff, 0x4000, 0x3ffd, 0x3ffe, 0];
const CONST_HI = [0x80000000, 0xd49a784b, 0xb8aa3b29, 0xc90fdaa2, 0x9a209a84, 0xb17217f7, 0];
const CONST_LO = [0, 0xcd1b8afe, 0x5c17f0bc, 0x2168c235, 0xfbcff799, 0xd1cf79ac, 0];
/** +1: the nearest value is the truncated one (rounding up adds one); -1: nearest rounded up. */
const CONST_DIR = [0, 1, -1, -1, -1, -1, 0];

/** The x87 escape opcodes D8-DF. */
export function x87Escape(cpu: CPU, i: number, op: number, info: number): void {
  // #NM comes first, even for undefined encodings (SDM vol. 3 §22.18.6.6).
  if (cpu.cr0 & (CR0.EM | CR0.TS)) cpu.raise(V.NM);
  const f = cpu.fpu;
  const esc = op & 7;
  const mem = (info & DEC.MEM) !== 0;
  const r = (info >> DEC.REG_SHIFT) & 7;
  const modrm = info & 0xff;
  const kind = mem ? KIND_MEM[(esc << 3) | r] : KIND_REG[(esc << 6) | (modrm & 0x3f)];
  if (kind === K_UD) cpu.raise(V.UD);
  if (kind !== K_NOWAIT && f.sw & SW.ES && !waitPending(cpu, f)) return;
  let s = 0, off = 0;
  if (mem) {
    s = (info >> DEC.SEG_SHIFT) & 7;
    off = ea(cpu, i, info);
    memForm(cpu, f, esc, r, s, off, (info & DEC.O32) !== 0);
  } else regForm(cpu, f, esc, r, modrm & 7);
  if (kind === K_NORMAL) {
    // The last non-control instruction: CS:EIP (of its first prefix), opcode, operand.
    const real = !cpu.pe || (cpu.flags & F.VM) !== 0;
    f.fcs = cpu.segSel[1];
    f.fip = real ? (cpu.segBase[1] + cpu.eip) >>> 0 : cpu.eip >>> 0;
    f.fop = (esc << 8) | modrm;
    if (mem) {
      f.fds = cpu.segSel[s];
      f.fdp = real ? (cpu.segBase[s] + off) >>> 0 : off >>> 0;
    }
  }
  syncFerr(cpu, f);
}

function memForm(cpu: CPU, f: X87, esc: number, r: number, s: number, off: number, o32: boolean): void {
  if ((esc & 1) === 0) {
    // D8 m32fp, DA m32int, DC m64fp, DE m16int: arithmetic and compares with ST(0).
    readOperand(cpu, esc, s, off);
    const t = f.top;
    switch (r) {
      case 2: compare(cpu, f, t, MEM, false, false); return;
      case 3: if (compare(cpu, f, t, MEM, false, false)) pop(f); return;
      case 4: arith(f, OP_SUB, t, t, MEM); return;
      case 5: arith(f, OP_SUB, t, MEM, t); return;
      case 6: arith(f, OP_DIV, t, t, MEM); return;
      case 7: arith(f, OP_DIV, t, MEM, t); return;
      default: arith(f, r, t, t, MEM); return;
    }
  }
  switch ((esc << 3) | r) {
    case 0x08: // D9 /0 FLD m32fp
    case 0x28: // DD /0 FLD m64fp
      if (esc === 1) loadF32(cpu.rd32(s, off));
      else readOperand(cpu, 4, s, off);
      loadValue(f);
      return;
    case 0x0a: storeFloat(cpu, f, s, off, 24); return; // FST m32fp
    case 0x0b: if (storeFloat(cpu, f, s, off, 24)) pop(f); return; // FSTP m32fp
    case 0x2a: storeFloat(cpu, f, s, off, 53); return; // FST m64fp
    case 0x2b: if (storeFloat(cpu, f, s, off, 53)) pop(f); return; // FSTP m64fp
    case 0x0c: // FLDENV
      readEnv(cpu, s, off, o32);
      unpackEnv(cpu, f, o32);
      return;
    case 0x0d: // FLDCW
      f.cw = (cpu.rd16(s, off) & 0x1f3f) | 0x40;
      recomputeES(f);
      return;
    case 0x0e: fnstenv(cpu, f, s, off, o32); return;
    case 0x0f: cpu.wr16(s, off, f.cw); return; // FNSTCW
    case 0x18: // DB /0 FILD m32int
      mVal = cpu.rd32(s, off);
      mDenormal = false;
      loadValue(f);
      return;
    case 0x38: // DF /0 FILD m16int
      mVal = (cpu.rd16(s, off) << 16) >> 16;
      mDenormal = false;
      loadValue(f);
      return;
    case 0x3d: // DF /5 FILD m64int
      read80(cpu, s, off, 8);
      intToX(rdHi, rdLo);
      loadX(f);
      return;
    case 0x1d: // DB /5 FLD m80fp
      read80(cpu, s, off, 10);
      xs = rdSe;
      xh = rdHi >>> 0;
      xl = rdLo >>> 0;
      loadX(f);
      return;
    case 0x3c: // DF /4 FBLD
      read80(cpu, s, off, 10);
      bcdToX(rdLo, rdHi, rdSe);
      loadX(f);
      return;
    case 0x1a: storeInt(cpu, f, s, off, 32); return; // FIST m32int
    case 0x1b: if (storeInt(cpu, f, s, off, 32)) pop(f); return; // FISTP m32int
    case 0x3a: storeInt(cpu, f, s, off, 16); return; // FIST m16int
    case 0x3b: if (storeInt(cpu, f, s, off, 16)) pop(f); return; // FISTP m16int
    case 0x3f: if (storeInt(cpu, f, s, off, 64)) pop(f); return; // FISTP m64int
    case 0x3e: if (storeBcd(cpu, f, s, off)) pop(f); return; // FBSTP
    case 0x1f: { // DB /7 FSTP m80fp
      const lin = storeLin(cpu, s, off, 10);
      if (isEmpty(f, f.top)) {
        f.sw &= ~SW.C1;
        signal(f, SW.IE | SW.SF);
        if (unmasked(f, SW.IE)) return;
        xs = 0xffff;
        xh = 0xc0000000;
        xl = 0;
      } else {
        getX(f, f.top);
        f.sw &= ~SW.C1;
      }
      cpu.wrLin32(lin, xl);
      cpu.wrLin32((lin + 4) | 0, xh);
      cpu.wrLin16((lin + 8) | 0, xs);
      pop(f);
      return;
    }
    case 0x2c: frstor(cpu, f, s, off, o32); return;
    case 0x2e: fnsave(cpu, f, s, off, o32); return;
    case 0x2f: cpu.wr16(s, off, f.statusWord()); return; // FNSTSW m16
  }
}

/** Push the memory operand value (FLD m32/m64, FILD m16/m32): NaNs keep their payload; SNaN -> IE. */
function loadValue(f: X87): void {
  let flags = mDenormal ? SW.DE : 0;
  const nan = mVal !== mVal;
  if (nan && (mHi & 0x40000000) === 0) flags |= SW.IE;
  if (unmasked(f, flags)) {
    signal(f, flags);
    return;
  }
  if (!pushOk(f)) return;
  if (nan) {
    xs = mSe;
    xh = (mHi | 0x40000000) >>> 0;
    xl = mLo;
    putX(f, f.top);
  } else putD(f, f.top, mVal);
  f.sw &= ~SW.C1;
  signal(f, flags);
}

/** Push the 80-bit scratch value (FLD m80, FILD m64, FBLD: no exceptions but stack overflow). */
function loadX(f: X87): void {
  const s = xs, h = xh, l = xl;
  if (!pushOk(f)) return;
  xs = s;
  xh = h;
  xl = l;
  putX(f, f.top);
  f.sw &= ~SW.C1;
}

function regForm(cpu: CPU, f: X87, esc: number, r: number, i: number): void {
  const t = f.top;
  const sti = (t + i) & 7;
  switch (esc) {
    case 0: // D8: ST(0) <- ST(0) op ST(i)
      switch (r) {
        case 2: compare(cpu, f, t, sti, false, false); return;
        case 3: if (compare(cpu, f, t, sti, false, false)) pop(f); return;
        case 4: arith(f, OP_SUB, t, t, sti); return;
        case 5: arith(f, OP_SUB, t, sti, t); return;
        case 6: arith(f, OP_DIV, t, t, sti); return;
        case 7: arith(f, OP_DIV, t, sti, t); return;
        default: arith(f, r, t, t, sti); return;
      }
    case 4: // DC: ST(i) <- ST(i) op ST(0) (SUB/SUBR and DIV/DIVR swapped against D8)
    case 6: { // DE: the same, then pop
      let done: boolean;
      switch (r) {
        case 2: done = compare(cpu, f, t, sti, false, false); if (esc === 4) return; break; // FCOM2 / FCOMP5
        case 3:
          if (esc === 4) { if (compare(cpu, f, t, sti, false, false)) pop(f); return; } // FCOMP3
          if (compare(cpu, f, t, phys(f, 1), false, false)) { pop(f); pop(f); } // FCOMPP
          return;
        case 4: done = arith(f, OP_SUB, sti, t, sti); break;
        case 5: done = arith(f, OP_SUB, sti, sti, t); break;
        case 6: done = arith(f, OP_DIV, sti, t, sti); break;
        case 7: done = arith(f, OP_DIV, sti, sti, t); break;
        default: done = arith(f, r, sti, sti, t);
      }
      if (esc === 6 && done) pop(f);
      return;
    }
    case 1: d9(cpu, f, r, i, sti); return;
    case 2: // DA: FCMOVB/E/BE/U, FUCOMPP
      if (r < 4) { fcmov(cpu, f, sti, FCMOV_CC[r]); return; }
      if (compare(cpu, f, t, phys(f, 1), true, false)) { pop(f); pop(f); }
      return;
    case 3: // DB: FCMOVNB/NE/NBE/NU, FNCLEX, FNINIT, FUCOMI, FCOMI
      if (r < 4) { fcmov(cpu, f, sti, FCMOV_CC[r] + 1); return; }
      if (r === 4) {
        if (i === 2) f.sw &= ~(EXC | SW.SF | SW.ES | SW.B); // FNCLEX
        else if (i === 3) f.init(); // FNINIT; FENI, FDISI, FSETPM do nothing on a 387 or later
        return;
      }
      compare(cpu, f, t, sti, r === 5, true);
      return;
    case 5: // DD: FFREE, FXCH4, FST, FSTP, FUCOM, FUCOMP
      switch (r) {
        case 0: f.empty |= 1 << sti; return;
        case 1: fxch(f, sti); return;
        case 2: fst(f, sti, false); return;
        case 3: fst(f, sti, true); return;
        case 4: compare(cpu, f, t, sti, true, false); return;
        default: if (compare(cpu, f, t, sti, true, false)) pop(f); return;
      }
    default: // DF: FFREEP, FXCH7, FSTP8, FSTP9, FNSTSW AX, FUCOMIP, FCOMIP
      switch (r) {
        case 0: f.empty |= 1 << sti; pop(f); return;
        case 1: fxch(f, sti); return;
        case 2: case 3: fst(f, sti, true); return;
        case 4: cpu.r16[0] = f.statusWord(); return;
        default: if (compare(cpu, f, t, sti, r === 5, true)) pop(f); return;
      }
  }
}

/** FCMOVcc condition codes (Jcc numbering): B, E, BE, U; the DB forms are the negations. */
const FCMOV_CC = [2, 4, 6, 10];

function fcmov(cpu: CPU, f: X87, sti: number, cc: number): void {
  const t = f.top;
  if (isEmpty(f, t) || isEmpty(f, sti)) {
    underflow(f, t);
    return;
  }
  f.sw &= ~SW.C1;
  if (cpu.cond(cc)) copyReg(f, t, sti);
}

function fxch(f: X87, sti: number): void {
  const t = f.top;
  if (isEmpty(f, t) || isEmpty(f, sti)) {
    f.sw &= ~SW.C1;
    signal(f, SW.IE | SW.SF);
    if (unmasked(f, SW.IE)) return;
    if (isEmpty(f, t)) putIndefinite(f, t);
    if (isEmpty(f, sti)) putIndefinite(f, sti);
  }
  f.sw &= ~SW.C1;
  const v = f.st[t], lo = f.xLo[t], hi = f.xHi[t], se = f.xSe[t];
  const ex = (f.exact >> t) & 1;
  copyReg(f, t, sti);
  f.st[sti] = v;
  f.xLo[sti] = lo;
  f.xHi[sti] = hi;
  f.xSe[sti] = se;
  f.exact = (f.exact & ~(1 << sti)) | (ex << sti);
}

function fst(f: X87, sti: number, popAfter: boolean): void {
  const t = f.top;
  if (isEmpty(f, t)) {
    if (!underflow(f, sti)) return;
  } else {
    f.sw &= ~SW.C1;
    copyReg(f, sti, t);
  }
  if (popAfter) pop(f);
}

function d9(cpu: CPU, f: X87, r: number, i: number, sti: number): void {
  const t = f.top;
  switch (r) {
    case 0: { // FLD ST(i)
      if (!isEmpty(f, (t - 1) & 7)) {
        pushOk(f);
        return;
      }
      if (isEmpty(f, sti)) {
        if (underflow(f, -1)) {
          f.top = (t - 1) & 7;
          putIndefinite(f, f.top);
        }
        return;
      }
      f.top = (t - 1) & 7;
      copyReg(f, f.top, sti);
      f.sw &= ~SW.C1;
      return;
    }
    case 1: fxch(f, sti); return;
    case 2: return; // FNOP
    case 3: fst(f, sti, true); return; // FSTP1
    case 4:
      switch (i) {
        case 0: case 1: { // FCHS, FABS
          if (isEmpty(f, t)) {
            underflow(f, t);
            return;
          }
          f.sw &= ~SW.C1;
          const v = f.st[t];
          f.st[t] = i === 0 ? -v : Math.abs(v);
          if (f.exact & (1 << t)) f.xSe[t] = i === 0 ? f.xSe[t] ^ 0x8000 : f.xSe[t] & 0x7fff;
          return;
        }
        case 4: // FTST
          mVal = 0;
          mDenormal = false;
          compare(cpu, f, t, MEM, false, false);
          return;
        default: fxam(f); return; // FXAM
      }
    case 5: { // FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ
      if (!pushOk(f)) return;
      xs = CONST_SE[i];
      xh = CONST_HI[i] >>> 0;
      xl = CONST_LO[i] >>> 0;
      // The constants are rounded by RC like any result (SDM vol. 1 §8.3.8).
      const rc = rcOf(f), dir = CONST_DIR[i];
      if (dir === 1 && rc === 2) xl = (xl + 1) >>> 0;
      else if (dir === -1 && (rc === 1 || rc === 3)) xl = (xl - 1) >>> 0;
      putX(f, f.top);
      f.sw &= ~SW.C1;
      return;
    }
    case 6:
      switch (i) {
        case 0: f2xm1(f); return;
        case 1: binaryPop(f, 1); return; // FYL2X
        case 2: trig(f, 3); return; // FPTAN
        case 3: binaryPop(f, 0); return; // FPATAN
        case 4: fxtract(f); return;
        case 5: fprem(f, true); return; // FPREM1
        case 6: f.top = (t - 1) & 7; f.sw &= ~SW.C1; return; // FDECSTP
        default: f.top = (t + 1) & 7; f.sw &= ~SW.C1; return; // FINCSTP
      }
    default:
      switch (i) {
        case 0: fprem(f, false); return;
        case 1: binaryPop(f, 2); return; // FYL2XP1
        case 2: fsqrt(f); return;
        case 3: trig(f, 2); return; // FSINCOS
        case 4: frndint(f); return;
        case 5: fscale(f); return;
        case 6: trig(f, 0); return; // FSIN
        default: trig(f, 1); return; // FCOS
      }
  }
}

// =====================================================================================
// Debugger access (gdbstub/): a physical register as its 80-bit image
// =====================================================================================

/** Register R`p`'s 80-bit image: [significand low dword, high dword, sign and exponent]. */
export function registerImage(f: X87, p: number): [number, number, number] {
  getX(f, p);
  return [xl >>> 0, xh >>> 0, xs & 0xffff];
}

/** Set register R`p` from an 80-bit image (kept exactly, as FLD m80 keeps it); it becomes valid. */
export function setRegisterImage(f: X87, p: number, lo: number, hi: number, se: number): void {
  xl = lo >>> 0;
  xh = hi >>> 0;
  xs = se & 0xffff;
  putX(f, p);
}
