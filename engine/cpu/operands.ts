// Operand access for decoded instructions: effective addresses, ModRM register/memory
// operands, read-modify-write, and the ALU shared by the one- and two-byte maps.

import type { CPU } from './cpu.ts';
import { LZ } from './cpu.ts';
import { DEC } from './decoder.ts';
import { F } from './constants.ts';

/** Effective address (offset within the segment) of the memory operand of slot i. */
export function ea(cpu: CPU, i: number, info: number): number {
  const a = cpu.arena;
  let v = a.disp[i];
  const b = (info >> DEC.BASE_SHIFT) & 15;
  if (b < 8) v += cpu.regs[b];
  const x = (info >> DEC.INDEX_SHIFT) & 15;
  if (x < 8) v += cpu.regs[x] << ((info >> DEC.SCALE_SHIFT) & 3);
  return info & DEC.A32 ? v | 0 : v & 0xffff;
}

export function seg(info: number): number {
  return (info >> DEC.SEG_SHIFT) & 7;
}
export function rm(info: number): number {
  return info & 7;
}
export function reg(info: number): number {
  return (info >> DEC.REG_SHIFT) & 7;
}

// ---- ModRM "E" operand: register or memory ----
export function getE8(cpu: CPU, i: number, info: number): number {
  return info & DEC.MEM ? cpu.rd8(seg(info), ea(cpu, i, info)) : cpu.r8[REG8I[info & 7]];
}
export function getE16(cpu: CPU, i: number, info: number): number {
  return info & DEC.MEM ? cpu.rd16(seg(info), ea(cpu, i, info)) : cpu.r16[(info & 7) << 1];
}
export function getE32(cpu: CPU, i: number, info: number): number {
  return info & DEC.MEM ? cpu.rd32(seg(info), ea(cpu, i, info)) : cpu.regs[info & 7];
}
export function setE8(cpu: CPU, i: number, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wr8(seg(info), ea(cpu, i, info), v);
  else cpu.r8[REG8I[info & 7]] = v;
}
export function setE16(cpu: CPU, i: number, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wr16(seg(info), ea(cpu, i, info), v);
  else cpu.r16[(info & 7) << 1] = v;
}
export function setE32(cpu: CPU, i: number, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wr32(seg(info), ea(cpu, i, info), v);
  else cpu.regs[info & 7] = v;
}

/** Linear address of the current read-modify-write memory operand. */
let rmwLin = 0;
export function rmw8(cpu: CPU, i: number, info: number): number {
  if (info & DEC.MEM) {
    rmwLin = cpu.linW(seg(info), ea(cpu, i, info), 1);
    return cpu.rdLin8(rmwLin);
  }
  return cpu.r8[REG8I[info & 7]];
}
export function rmw16(cpu: CPU, i: number, info: number): number {
  if (info & DEC.MEM) {
    rmwLin = cpu.linW(seg(info), ea(cpu, i, info), 2);
    return cpu.rdLin16(rmwLin);
  }
  return cpu.r16[(info & 7) << 1];
}
export function rmw32(cpu: CPU, i: number, info: number): number {
  if (info & DEC.MEM) {
    rmwLin = cpu.linW(seg(info), ea(cpu, i, info), 4);
    return cpu.rdLin32(rmwLin);
  }
  return cpu.regs[info & 7];
}
export function put8(cpu: CPU, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wrLin8(rmwLin, v);
  else cpu.r8[REG8I[info & 7]] = v;
}
export function put16(cpu: CPU, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wrLin16(rmwLin, v);
  else cpu.r16[(info & 7) << 1] = v;
}
export function put32(cpu: CPU, info: number, v: number): void {
  if (info & DEC.MEM) cpu.wrLin32(rmwLin, v);
  else cpu.regs[info & 7] = v;
}

// ---- ModRM "G" operand: the reg field ----
export const REG8I = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);
export function getG8(cpu: CPU, info: number): number {
  return cpu.r8[REG8I[(info >> DEC.REG_SHIFT) & 7]];
}
export function setG8(cpu: CPU, info: number, v: number): void {
  cpu.r8[REG8I[(info >> DEC.REG_SHIFT) & 7]] = v;
}
export function getG16(cpu: CPU, info: number): number {
  return cpu.r16[((info >> DEC.REG_SHIFT) & 7) << 1];
}
export function setG16(cpu: CPU, info: number, v: number): void {
  cpu.r16[((info >> DEC.REG_SHIFT) & 7) << 1] = v;
}

// ---- ALU: ADD OR ADC SBB AND SUB XOR CMP (the reg field of group 1 / bits 3-5 of 00-3F) ----
export function alu(cpu: CPU, op: number, a: number, b: number, bits: number): number {
  let r: number;
  switch (op) {
    case 0:
      r = (a + b) | 0;
      cpu.setLazy(LZ.ADD, a, b, r, bits);
      return r;
    case 1:
      r = a | b;
      cpu.setLogic(r, bits);
      return r;
    case 2:
      r = (a + b + cpu.getCF()) | 0;
      cpu.setLazy(LZ.ADD, a, b, r, bits);
      return r;
    case 3:
      r = (a - b - cpu.getCF()) | 0;
      cpu.setLazy(LZ.SUB, a, b, r, bits);
      return r;
    case 4:
      r = a & b;
      cpu.setLogic(r, bits);
      return r;
    case 6:
      r = a ^ b;
      cpu.setLogic(r, bits);
      return r;
    default: // 5 SUB, 7 CMP
      r = (a - b) | 0;
      cpu.setLazy(LZ.SUB, a, b, r, bits);
      return r;
  }
}

export function inc(cpu: CPU, a: number, bits: number): number {
  cpu.keepCF();
  const r = (a + 1) | 0;
  cpu.setLazy(LZ.ADD, a, 1, r, bits);
  cpu.lazyMask = 0x8d4; // OSZAP
  return r;
}

export function dec(cpu: CPU, a: number, bits: number): number {
  cpu.keepCF();
  const r = (a - 1) | 0;
  cpu.setLazy(LZ.SUB, a, 1, r, bits);
  cpu.lazyMask = 0x8d4;
  return r;
}

/**
 * Group 2 shifts and rotates (SDM vol. 2: RCL/RCR/ROL/ROR, SAL/SAR/SHL/SHR). `a` is the
 * operand zero-extended to `bits`; returns the result. A masked count of 0 changes nothing.
 */
export function shift(cpu: CPU, op: number, a: number, count: number, bits: number): number {
  count &= 31;
  if (count === 0) return a;
  const top = bits - 1;
  const mask = bits === 32 ? -1 : (1 << bits) - 1;
  let r: number, cf: number, of: number;
  switch (op) {
    case 0: {
      // ROL
      const c = count & top;
      r = c === 0 ? a : ((a << c) | (a >>> (bits - c))) & mask;
      cf = r & 1;
      of = ((r >>> top) & 1) ^ cf;
      setRotFlags(cpu, cf, of);
      return r;
    }
    case 1: {
      // ROR
      const c = count & top;
      r = c === 0 ? a : ((a >>> c) | (a << (bits - c))) & mask;
      cf = (r >>> top) & 1;
      of = cf ^ ((r >>> (top - 1)) & 1);
      setRotFlags(cpu, cf, of);
      return r;
    }
    case 2: {
      // RCL: rotate through CF, (bits+1)-bit rotation
      const c = bits === 32 ? count : count % (bits + 1);
      cf = cpu.getCF();
      r = a;
      for (let k = 0; k < c; k++) {
        const out = (r >>> top) & 1;
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      of = ((r >>> top) & 1) ^ cf;
      setRotFlags(cpu, cf, of);
      return r;
    }
    case 3: {
      // RCR
      const c = bits === 32 ? count : count % (bits + 1);
      cf = cpu.getCF();
      of = ((a >>> top) & 1) ^ cf;
      r = a;
      for (let k = 0; k < c; k++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << top)) & mask;
        cf = out;
      }
      setRotFlags(cpu, cf, of);
      return r;
    }
    case 4:
    case 6: {
      // SHL/SAL
      r = count < 32 ? (a << count) & mask : 0;
      cf = count <= bits ? (a >>> (bits - count)) & 1 : 0;
      if (bits === 32 && count === 32) cf = a & 1;
      of = ((r >>> top) & 1) ^ cf;
      cpu.setResultFlags(r, bits, cf, of, 0);
      return r;
    }
    case 5: {
      // SHR
      r = (a >>> count) & mask;
      cf = (a >>> (count - 1)) & 1;
      of = (a >>> top) & 1;
      cpu.setResultFlags(r, bits, cf, of, 0);
      return r;
    }
    default: {
      // SAR
      const sa = (a << (32 - bits)) >> (32 - bits);
      r = (sa >> count) & mask;
      cf = (sa >> (count - 1)) & 1;
      cpu.setResultFlags(r, bits, cf, 0, 0);
      return r;
    }
  }
}

function setRotFlags(cpu: CPU, cf: number, of: number): void {
  // Rotates change only CF and OF.
  cpu.getFlags();
  cpu.flags = (cpu.flags & ~(F.CF | F.OF)) | (cf ? F.CF : 0) | (of ? F.OF : 0);
}

/** High 32 bits of the unsigned 64-bit product a*b. */
export function mulHighU(a: number, b: number): number {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const lo = aL * bL;
  const m1 = aH * bL;
  const m2 = aL * bH;
  const carry = ((lo >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)) >>> 16;
  return (aH * bH + (m1 >>> 16) + (m2 >>> 16) + carry) | 0;
}

/** High 32 bits of the signed 64-bit product a*b. */
export function mulHighS(a: number, b: number): number {
  let h = mulHighU(a, b);
  if (a < 0) h = (h - b) | 0;
  if (b < 0) h = (h - a) | 0;
  return h;
}

/** Unsigned 64/32 division of hi:lo by d (hi < d required). Sets divQ/divR. */
export let divQ = 0;
export let divR = 0;
export function divU64(hi: number, lo: number, d: number): void {
  hi >>>= 0;
  lo >>>= 0;
  d >>>= 0;
  let num = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(num / d);
  let r = num - q1 * d;
  num = r * 65536 + (lo & 0xffff);
  const q0 = Math.floor(num / d);
  r = num - q0 * d;
  divQ = q1 * 65536 + q0;
  divR = r;
}
