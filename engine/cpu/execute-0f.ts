// Instruction semantics, two-byte opcode map 0F xx (SDM vol. 2): system instructions
// (descriptor tables, LDTR/TR, LAR/LSL/VERR/VERW, control and debug registers, MSRs,
// CPUID, RDTSC, SYSENTER/SYSEXIT), Jcc rel16/32, SETcc, CMOVcc, bit tests and scans,
// double shifts, MOVZX/MOVSX, CMPXCHG/CMPXCHG8B, XADD, BSWAP.

import type { CPU } from './cpu.ts';
import { DEC } from './decoder.ts';
import { AR, F, S, V } from './constants.ts';
import {
  ea, seg, reg, getE8, getE16, getE32, setE8, setE16, setE32, rmw8, rmw16, rmw32, put8, put16, put32,
  getG8, setG8, getG16, setG16, alu, REG8I,
} from './operands.ts';
import { jumpRel, imulTo, loadFarPointer } from './execute.ts';
import { readDescriptor, descLo, descHi, descAR, descBase, descLimit } from './segments.ts';
import {
  cpuid, rdtsc, rdmsr, wrmsr, movFromCR, movToCR, movFromDR, movToDR, sysenter, sysexit, clts, lmsw,
} from './system.ts';
import { CR4 } from './constants.ts';

export function execute0F(cpu: CPU, i: number, op: number, info: number, o32: boolean): void {
  const a = cpu.arena;
  const regs = cpu.regs;
  switch (op) {
    case 0x00: group6(cpu, i, info); return;
    case 0x01: group7(cpu, i, info, o32); return;
    case 0x02: case 0x03: larLsl(cpu, i, info, o32, op === 0x03); return;
    case 0x06: clts(cpu); return;
    case 0x08: case 0x09:
      if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
      return;
    case 0x0b: cpu.raise(V.UD); return;
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      return; // hint NOPs (prefetch, multi-byte NOP)
    case 0x20: case 0x21: case 0x22: case 0x23: {
      if (cpu.pe && cpu.cpl !== 0) cpu.raise(V.GP, 0);
      const n = reg(info);
      const r = info & 7;
      if (op === 0x20) regs[r] = movFromCR(cpu, n);
      else if (op === 0x22) movToCR(cpu, n, regs[r]);
      else if (op === 0x21) regs[r] = movFromDR(cpu, n);
      else movToDR(cpu, n, regs[r]);
      return;
    }
    case 0x30: wrmsr(cpu); return;
    case 0x31:
      if (cpu.cr4 & CR4.TSD && cpu.cpl !== 0 && cpu.pe) cpu.raise(V.GP, 0);
      {
        const t = rdtsc(cpu);
        regs[0] = t >>> 0;
        regs[2] = Math.floor(t / 4294967296) | 0;
      }
      return;
    case 0x32: rdmsr(cpu); return;
    case 0x33:
      if (!(cpu.cr4 & CR4.PCE) && cpu.cpl !== 0 && cpu.pe) cpu.raise(V.GP, 0);
      if ((regs[1] >>> 0) > 1) cpu.raise(V.GP, 0);
      regs[0] = 0;
      regs[2] = 0;
      return;
    case 0x34: sysenter(cpu); return;
    case 0x35: sysexit(cpu); return;

    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      if (o32) {
        const v = getE32(cpu, i, info);
        if (cpu.cond(op & 15)) regs[reg(info)] = v;
      } else {
        const v = getE16(cpu, i, info);
        if (cpu.cond(op & 15)) setG16(cpu, info, v);
      }
      return;

    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
      if (cpu.cond(op & 15)) jumpRel(cpu, a.imm[i], o32);
      return;
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
      setE8(cpu, i, info, cpu.cond(op & 15) ? 1 : 0);
      return;

    case 0xa0: cpu.push(cpu.segSel[S.FS], o32); return;
    case 0xa8: cpu.push(cpu.segSel[S.GS], o32); return;
    case 0xa1: case 0xa9: {
      const s = op === 0xa1 ? S.FS : S.GS;
      const v = o32 ? cpu.peek32(0) & 0xffff : cpu.peek16(0);
      cpu.loadSeg(s, v);
      cpu.addSP(o32 ? 4 : 2);
      return;
    }
    case 0xa2: cpuid(cpu); return;
    case 0xa3: case 0xab: case 0xb3: case 0xbb: {
      const kind = op === 0xa3 ? 0 : op === 0xab ? 1 : op === 0xb3 ? 2 : 3;
      bitTest(cpu, i, info, o32, o32 ? regs[reg(info)] : (getG16(cpu, info) << 16) >> 16, kind, true);
      return;
    }
    case 0xba: {
      const o = reg(info);
      if (o < 4) cpu.raise(V.UD);
      bitTest(cpu, i, info, o32, a.imm[i] & 0xff, o - 4, false);
      return;
    }
    case 0xa4: case 0xa5: case 0xac: case 0xad: {
      const cnt = (op & 1 ? cpu.r8[4] : a.imm[i]) & 31;
      doubleShift(cpu, i, info, o32, cnt, op < 0xa8);
      return;
    }
    case 0xaa: cpu.raise(V.UD); return; // RSM outside SMM
    case 0xaf: {
      const src = o32 ? getE32(cpu, i, info) : (getE16(cpu, i, info) << 16) >> 16;
      const dst = o32 ? regs[reg(info)] : (getG16(cpu, info) << 16) >> 16;
      imulTo(cpu, info, dst, src, o32);
      return;
    }
    case 0xb0: {
      const d = rmw8(cpu, i, info);
      alu(cpu, 7, cpu.r8[0], d, 8);
      if (cpu.r8[0] === d) put8(cpu, info, getG8(cpu, info));
      else {
        put8(cpu, info, d);
        cpu.r8[0] = d;
      }
      return;
    }
    case 0xb1: {
      if (o32) {
        const d = rmw32(cpu, i, info);
        alu(cpu, 7, regs[0], d, 32);
        if (regs[0] === d) put32(cpu, info, regs[reg(info)]);
        else {
          put32(cpu, info, d);
          regs[0] = d;
        }
      } else {
        const d = rmw16(cpu, i, info);
        alu(cpu, 7, cpu.r16[0], d, 16);
        if (cpu.r16[0] === d) put16(cpu, info, getG16(cpu, info));
        else {
          put16(cpu, info, d);
          cpu.r16[0] = d;
        }
      }
      return;
    }
    case 0xb2: loadFarPointer(cpu, i, info, o32, S.SS); return;
    case 0xb4: loadFarPointer(cpu, i, info, o32, S.FS); return;
    case 0xb5: loadFarPointer(cpu, i, info, o32, S.GS); return;
    case 0xb6:
      if (o32) regs[reg(info)] = getE8(cpu, i, info);
      else setG16(cpu, info, getE8(cpu, i, info));
      return;
    case 0xb7:
      if (o32) regs[reg(info)] = getE16(cpu, i, info);
      else setG16(cpu, info, getE16(cpu, i, info));
      return;
    case 0xbe:
      if (o32) regs[reg(info)] = (getE8(cpu, i, info) << 24) >> 24;
      else setG16(cpu, info, (getE8(cpu, i, info) << 24) >> 24);
      return;
    case 0xbf:
      if (o32) regs[reg(info)] = (getE16(cpu, i, info) << 16) >> 16;
      else setG16(cpu, info, getE16(cpu, i, info));
      return;
    case 0xbc: case 0xbd: {
      const v = o32 ? getE32(cpu, i, info) : getE16(cpu, i, info);
      cpu.getFlags();
      if (v === 0) {
        cpu.flags |= F.ZF;
        return;
      }
      cpu.flags &= ~F.ZF;
      const idx = op === 0xbc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
      if (o32) regs[reg(info)] = idx;
      else setG16(cpu, info, idx);
      return;
    }
    case 0xc0: {
      const d = rmw8(cpu, i, info);
      const s = getG8(cpu, info);
      const r = alu(cpu, 0, d, s, 8);
      setG8(cpu, info, d);
      put8(cpu, info, r);
      return;
    }
    case 0xc1:
      if (o32) {
        const d = rmw32(cpu, i, info);
        const r = alu(cpu, 0, d, regs[reg(info)], 32);
        regs[reg(info)] = d;
        put32(cpu, info, r);
      } else {
        const d = rmw16(cpu, i, info);
        const r = alu(cpu, 0, d, getG16(cpu, info), 16);
        setG16(cpu, info, d);
        put16(cpu, info, r);
      }
      return;
    case 0xc7: {
      if (reg(info) !== 1 || !(info & DEC.MEM)) cpu.raise(V.UD);
      const s = seg(info);
      const off = ea(cpu, i, info);
      const lin = cpu.linW(s, off, 8);
      const lo = cpu.rdLin32(lin);
      const hi = cpu.rdLin32((lin + 4) | 0);
      cpu.getFlags();
      if (lo === regs[0] && hi === regs[2]) {
        cpu.wrLin32(lin, regs[3]);
        cpu.wrLin32((lin + 4) | 0, regs[1]);
        cpu.flags |= F.ZF;
      } else {
        cpu.wrLin32(lin, lo);
        cpu.wrLin32((lin + 4) | 0, hi);
        regs[0] = lo;
        regs[2] = hi;
        cpu.flags &= ~F.ZF;
      }
      return;
    }
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const v = regs[op & 7];
      if (o32) regs[op & 7] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
      else cpu.r16[(op & 7) << 1] = 0; // BSWAP with a 16-bit operand is undefined; P6 clears it
      return;
    }
    default:
      cpu.raise(V.UD);
  }
}

function protectedOnly(cpu: CPU): void {
  if (!cpu.pe || cpu.flags & F.VM) cpu.raise(V.UD);
}

function group6(cpu: CPU, i: number, info: number): void {
  protectedOnly(cpu);
  const o = reg(info);
  switch (o) {
    case 0: storeSel(cpu, i, info, cpu.ldtrSel); return;
    case 1: storeSel(cpu, i, info, cpu.trSel); return;
    case 2: {
      if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
      const sel = getE16(cpu, i, info);
      if ((sel & 0xfffc) === 0) {
        cpu.ldtrSel = sel;
        cpu.ldtrBase = 0;
        cpu.ldtrLimit = 0;
        return;
      }
      if (sel & 4 || !readDescriptor(cpu, sel)) cpu.raise(V.GP, sel & 0xfffc);
      const ar = descAR(descHi);
      if ((ar & 0x1f) !== 0x2) cpu.raise(V.GP, sel & 0xfffc);
      if (!(ar & AR.P)) cpu.raise(V.NP, sel & 0xfffc);
      cpu.ldtrSel = sel;
      cpu.ldtrBase = descBase(descLo, descHi);
      cpu.ldtrLimit = descLimit(descLo, descHi);
      return;
    }
    case 3: {
      if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
      const sel = getE16(cpu, i, info);
      if ((sel & 0xfffc) === 0) cpu.raise(V.GP, 0);
      if (sel & 4 || !readDescriptor(cpu, sel)) cpu.raise(V.GP, sel & 0xfffc);
      const ar = descAR(descHi);
      const t = ar & 0x1f;
      if (t !== 0x1 && t !== 0x9) cpu.raise(V.GP, sel & 0xfffc);
      if (!(ar & AR.P)) cpu.raise(V.NP, sel & 0xfffc);
      cpu.trSel = sel;
      cpu.trBase = descBase(descLo, descHi);
      cpu.trLimit = descLimit(descLo, descHi);
      cpu.trAR = ar | 2;
      // Mark the TSS busy in the GDT.
      const addr = (cpu.gdtrBase + (sel & 0xfff8) + 5) | 0;
      cpu.wrSys8(addr, cpu.rdSys8(addr) | 2);
      return;
    }
    case 4: case 5: {
      // VERR / VERW
      const sel = getE16(cpu, i, info);
      cpu.getFlags();
      let ok = false;
      if ((sel & 0xfffc) !== 0 && readDescriptor(cpu, sel)) {
        const ar = descAR(descHi);
        const dpl = (ar >> 5) & 3;
        const conforming = (ar & (AR.CODE | AR.DC)) === (AR.CODE | AR.DC);
        if (ar & AR.S && (conforming || (dpl >= cpu.cpl && dpl >= (sel & 3)))) {
          if (o === 4) ok = !(ar & AR.CODE) || (ar & AR.RW) !== 0;
          else ok = !(ar & AR.CODE) && (ar & AR.RW) !== 0;
        }
      }
      if (ok) cpu.flags |= F.ZF;
      else cpu.flags &= ~F.ZF;
      return;
    }
    default:
      cpu.raise(V.UD);
  }
}

function storeSel(cpu: CPU, i: number, info: number, v: number): void {
  if (info & DEC.MEM) setE16(cpu, i, info, v);
  else if (info & DEC.O32) cpu.regs[info & 7] = v;
  else cpu.r16[(info & 7) << 1] = v;
}

function group7(cpu: CPU, i: number, info: number, o32: boolean): void {
  const o = reg(info);
  switch (o) {
    case 0: case 1: {
      if (!(info & DEC.MEM)) cpu.raise(V.UD);
      const s = seg(info);
      const off = ea(cpu, i, info);
      const limit = o === 0 ? cpu.gdtrLimit : cpu.idtrLimit;
      const base = o === 0 ? cpu.gdtrBase : cpu.idtrBase;
      cpu.checkR(s, off, 6);
      cpu.wr16(s, off, limit);
      cpu.wr32(s, info & DEC.A32 ? (off + 2) | 0 : (off + 2) & 0xffff, o32 ? base : base & 0xffffff);
      return;
    }
    case 2: case 3: {
      if (!(info & DEC.MEM)) cpu.raise(V.UD);
      if (cpu.pe && cpu.cpl !== 0) cpu.raise(V.GP, 0);
      const s = seg(info);
      const off = ea(cpu, i, info);
      const limit = cpu.rd16(s, off);
      let base = cpu.rd32(s, info & DEC.A32 ? (off + 2) | 0 : (off + 2) & 0xffff);
      if (!o32) base &= 0xffffff;
      if (o === 2) {
        cpu.gdtrBase = base;
        cpu.gdtrLimit = limit;
      } else {
        cpu.idtrBase = base;
        cpu.idtrLimit = limit;
      }
      return;
    }
    case 4:
      if (info & DEC.MEM) setE16(cpu, i, info, cpu.cr0 & 0xffff);
      else if (o32) cpu.regs[info & 7] = cpu.cr0;
      else cpu.r16[(info & 7) << 1] = cpu.cr0;
      return;
    case 6:
      lmsw(cpu, getE16(cpu, i, info));
      return;
    case 7:
      if (!(info & DEC.MEM)) cpu.raise(V.UD);
      if (cpu.pe && cpu.cpl !== 0) cpu.raise(V.GP, 0);
      cpu.invlpg((cpu.segBase[seg(info)] + ea(cpu, i, info)) | 0);
      cpu.leaveBlock = true;
      return;
    default:
      cpu.raise(V.UD);
  }
}

/** LAR / LSL (SDM vol. 2): ZF=1 and the access rights or limit when the selector is visible. */
function larLsl(cpu: CPU, i: number, info: number, o32: boolean, lsl: boolean): void {
  protectedOnly(cpu);
  const sel = getE16(cpu, i, info);
  cpu.getFlags();
  let ok = false;
  if ((sel & 0xfffc) !== 0 && readDescriptor(cpu, sel)) {
    const ar = descAR(descHi);
    const dpl = (ar >> 5) & 3;
    const t = ar & 0x1f;
    let typeOk: boolean;
    if (ar & AR.S) typeOk = true;
    else if (lsl) typeOk = t === 1 || t === 2 || t === 3 || t === 9 || t === 0xb;
    else typeOk = t === 1 || t === 2 || t === 3 || t === 4 || t === 5 || t === 9 || t === 0xb || t === 0xc;
    const conforming = (ar & (AR.CODE | AR.DC | AR.S)) === (AR.CODE | AR.DC | AR.S);
    ok = typeOk && (conforming || (dpl >= cpu.cpl && dpl >= (sel & 3)));
  }
  if (!ok) {
    cpu.flags &= ~F.ZF;
    return;
  }
  cpu.flags |= F.ZF;
  const v = lsl ? descLimit(descLo, descHi) : descHi & 0x00f0ff00;
  if (o32) cpu.regs[reg(info)] = v;
  else setG16(cpu, info, v);
}

/** BT/BTS/BTR/BTC (kind 0-3). A register bit offset can reach beyond a memory operand. */
function bitTest(cpu: CPU, i: number, info: number, o32: boolean, offset: number, kind: number, regOffset: boolean): void {
  const bits = o32 ? 32 : 16;
  let v: number;
  let bit: number;
  let memOff = 0;
  const mem = (info & DEC.MEM) !== 0;
  if (mem && regOffset) {
    memOff = o32 ? (offset >> 5) * 4 : (offset >> 4) * 2;
    bit = offset & (bits - 1);
  } else bit = offset & (bits - 1);
  cpu.getFlags();
  if (mem) {
    const s = seg(info);
    const base = ea(cpu, i, info);
    const off = info & DEC.A32 ? (base + memOff) | 0 : (base + memOff) & 0xffff;
    if (kind === 0) {
      v = o32 ? cpu.rd32(s, off) : cpu.rd16(s, off);
    } else {
      const lin = cpu.linW(s, off, bits >> 3);
      v = o32 ? cpu.rdLin32(lin) : cpu.rdLin16(lin);
      const nv = kind === 1 ? v | (1 << bit) : kind === 2 ? v & ~(1 << bit) : v ^ (1 << bit);
      if (o32) cpu.wrLin32(lin, nv);
      else cpu.wrLin16(lin, nv);
    }
  } else {
    const r = info & 7;
    v = o32 ? cpu.regs[r] : cpu.r16[r << 1];
    if (kind !== 0) {
      const nv = kind === 1 ? v | (1 << bit) : kind === 2 ? v & ~(1 << bit) : v ^ (1 << bit);
      if (o32) cpu.regs[r] = nv;
      else cpu.r16[r << 1] = nv;
    }
  }
  if ((v >>> bit) & 1) cpu.flags |= F.CF;
  else cpu.flags &= ~F.CF;
}

/** SHLD/SHRD (SDM vol. 2). */
function doubleShift(cpu: CPU, i: number, info: number, o32: boolean, cnt: number, left: boolean): void {
  if (cnt === 0) {
    // Nothing changes, but a memory operand is still checked for a write access.
    if (info & DEC.MEM) {
      if (o32) rmw32(cpu, i, info);
      else rmw16(cpu, i, info);
    }
    return;
  }
  const bits = o32 ? 32 : 16;
  const d = o32 ? rmw32(cpu, i, info) >>> 0 : rmw16(cpu, i, info);
  const s = o32 ? cpu.regs[reg(info)] >>> 0 : getG16(cpu, info);
  let r: number, cf: number;
  if (o32) {
    if (left) {
      r = (d << cnt) | (s >>> (32 - cnt));
      cf = (d >>> (32 - cnt)) & 1;
    } else {
      r = (d >>> cnt) | (s << (32 - cnt));
      cf = (d >>> (cnt - 1)) & 1;
    }
  } else if (left) {
    // 16-bit with a count above 16 is undefined; this gives the shift of the d:s pair.
    const cat = ((d << 16) | s) >>> 0;
    r = ((cat << cnt) >>> 16) & 0xffff;
    cf = cnt <= 16 ? (d >>> (16 - cnt)) & 1 : (s >>> (32 - cnt)) & 1;
  } else {
    const cat = ((s << 16) | d) >>> 0;
    r = (cat >>> cnt) & 0xffff;
    cf = (cat >>> (cnt - 1)) & 1;
  }
  const top = bits - 1;
  const of = ((r ^ d) >>> top) & 1;
  if (o32) put32(cpu, info, r);
  else put16(cpu, info, r);
  cpu.setResultFlags(r, bits, cf, of, 0);
}

void getE8;
void setE32;
void REG8I;
