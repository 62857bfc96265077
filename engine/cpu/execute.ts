// Instruction semantics, one-byte opcode map (SDM vol. 2). The two-byte map (0F xx) is in
// execute-0f.ts. Each case reads its decoded fields from the arena slot `i`; control
// transfers write `cpu.nextEip`. Exceptions are raised with `cpu.raise`, which throws.

import type { CPU } from './cpu.ts';
import { LZ } from './cpu.ts';
import { DEC } from './decoder.ts';
import { F, S, V } from './constants.ts';
import {
  ea, seg, reg, getE8, getE16, getE32, setE8, setE16, setE32, rmw8, rmw16, rmw32, put8, put16, put32,
  getG8, setG8, getG16, setG16, alu, inc, dec, shift, mulHighU, mulHighS, divU64, divQ, divR, REG8I,
} from './operands.ts';
import { execute0F } from './execute-0f.ts';
import { farJump, farCall, farReturn } from './segments.ts';
import { deliverInterrupt, iret, IntKind } from './interrupts.ts';
import { stringOp } from './strings.ts';
import { checkIoPermission } from './system.ts';
import { x87Escape, x87Wait } from './x87.ts';

export function execute(cpu: CPU, i: number): void {
  const a = cpu.arena;
  const op = a.op[i];
  const info = a.info[i];
  const o32 = (info & DEC.O32) !== 0;
  if (op < 0x40 && (op & 7) < 6) {
    aluOp(cpu, i, op, info, o32);
    return;
  }
  const regs = cpu.regs;
  switch (op) {
    // ---- segment push/pop, BCD adjust ----
    case 0x06: cpu.push(cpu.segSel[S.ES], o32); return;
    case 0x0e: cpu.push(cpu.segSel[S.CS], o32); return;
    case 0x16: cpu.push(cpu.segSel[S.SS], o32); return;
    case 0x1e: cpu.push(cpu.segSel[S.DS], o32); return;
    case 0x07: popSeg(cpu, S.ES, o32); return;
    case 0x17: popSeg(cpu, S.SS, o32); cpu.irqShadowEnd = cpu.clock.icount + 2; return;
    case 0x1f: popSeg(cpu, S.DS, o32); return;
    case 0x27: daa(cpu); return;
    case 0x2f: das(cpu); return;
    case 0x37: aaa(cpu, true); return;
    case 0x3f: aaa(cpu, false); return;

    // ---- INC/DEC/PUSH/POP r ----
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      if (o32) regs[op & 7] = inc(cpu, regs[op & 7], 32);
      else cpu.r16[(op & 7) << 1] = inc(cpu, cpu.r16[(op & 7) << 1], 16);
      return;
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      if (o32) regs[op & 7] = dec(cpu, regs[op & 7], 32);
      else cpu.r16[(op & 7) << 1] = dec(cpu, cpu.r16[(op & 7) << 1], 16);
      return;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      if (o32) cpu.push32(regs[op & 7]);
      else cpu.push16(cpu.r16[(op & 7) << 1]);
      return;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      if (o32) {
        const v = cpu.pop32();
        regs[op & 7] = v;
      } else {
        const v = cpu.pop16();
        cpu.r16[(op & 7) << 1] = v;
      }
      return;

    case 0x60: pusha(cpu, o32); return;
    case 0x61: popa(cpu, o32); return;
    case 0x62: bound(cpu, i, info, o32); return;
    case 0x63: arpl(cpu, i, info); return;
    case 0x68: cpu.push(a.imm[i], o32); return;
    case 0x6a: cpu.push(a.imm[i], o32); return;
    case 0x69: case 0x6b: {
      const src = o32 ? getE32(cpu, i, info) : (getE16(cpu, i, info) << 16) >> 16;
      const imm = o32 ? a.imm[i] : (a.imm[i] << 16) >> 16;
      imulTo(cpu, info, src, imm, o32);
      return;
    }
    case 0x6c: case 0x6d: case 0x6e: case 0x6f:
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
      stringOp(cpu, i, op, info);
      return;

    // ---- Jcc rel8 ----
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (cpu.cond(op & 15)) jumpRel(cpu, a.imm[i], o32);
      return;

    // ---- group 1 ----
    case 0x80: case 0x82: {
      const o = reg(info);
      if (o === 7) alu(cpu, 7, getE8(cpu, i, info), a.imm[i] & 0xff, 8);
      else put8(cpu, info, alu(cpu, o, rmw8(cpu, i, info), a.imm[i] & 0xff, 8));
      return;
    }
    case 0x81: case 0x83: {
      const o = reg(info);
      if (o32) {
        if (o === 7) alu(cpu, 7, getE32(cpu, i, info), a.imm[i], 32);
        else put32(cpu, info, alu(cpu, o, rmw32(cpu, i, info), a.imm[i], 32));
      } else {
        if (o === 7) alu(cpu, 7, getE16(cpu, i, info), a.imm[i] & 0xffff, 16);
        else put16(cpu, info, alu(cpu, o, rmw16(cpu, i, info), a.imm[i] & 0xffff, 16));
      }
      return;
    }
    case 0x84: cpu.setLogic(getE8(cpu, i, info) & getG8(cpu, info), 8); return;
    case 0x85:
      if (o32) cpu.setLogic(getE32(cpu, i, info) & regs[reg(info)], 32);
      else cpu.setLogic(getE16(cpu, i, info) & getG16(cpu, info), 16);
      return;
    case 0x86: {
      const v = rmw8(cpu, i, info);
      put8(cpu, info, getG8(cpu, info));
      setG8(cpu, info, v);
      return;
    }
    case 0x87:
      if (o32) {
        const v = rmw32(cpu, i, info);
        put32(cpu, info, regs[reg(info)]);
        regs[reg(info)] = v;
      } else {
        const v = rmw16(cpu, i, info);
        put16(cpu, info, getG16(cpu, info));
        setG16(cpu, info, v);
      }
      return;
    case 0x88: setE8(cpu, i, info, getG8(cpu, info)); return;
    case 0x89:
      if (o32) setE32(cpu, i, info, regs[reg(info)]);
      else setE16(cpu, i, info, getG16(cpu, info));
      return;
    case 0x8a: setG8(cpu, info, getE8(cpu, i, info)); return;
    case 0x8b:
      if (o32) regs[reg(info)] = getE32(cpu, i, info);
      else setG16(cpu, info, getE16(cpu, i, info));
      return;
    case 0x8c: {
      const s = reg(info);
      if (s > 5) cpu.raise(V.UD);
      // A register destination with a 32-bit operand size gets the selector zero-extended.
      if (info & DEC.MEM) setE16(cpu, i, info, cpu.segSel[s]);
      else if (o32) regs[info & 7] = cpu.segSel[s];
      else cpu.r16[(info & 7) << 1] = cpu.segSel[s];
      return;
    }
    case 0x8d:
      if (!(info & DEC.MEM)) cpu.raise(V.UD);
      if (o32) regs[reg(info)] = ea(cpu, i, info);
      else setG16(cpu, info, ea(cpu, i, info));
      return;
    case 0x8e: {
      const s = reg(info);
      if (s === S.CS || s > 5) cpu.raise(V.UD);
      cpu.loadSeg(s, getE16(cpu, i, info));
      if (s === S.SS) cpu.irqShadowEnd = cpu.clock.icount + 2;
      return;
    }
    case 0x8f: {
      // POP Ev: ESP is incremented before the effective address is computed (SDM POP).
      if (reg(info) !== 0) cpu.raise(V.UD);
      const oldSp = regs[4];
      const v = o32 ? cpu.pop32() : cpu.pop16();
      try {
        if (o32) setE32(cpu, i, info, v);
        else setE16(cpu, i, info, v);
      } catch (e) {
        regs[4] = oldSp;
        throw e;
      }
      return;
    }

    case 0x90:
      return; // NOP (also PAUSE with F3)
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
      if (o32) {
        const t = regs[0];
        regs[0] = regs[op & 7];
        regs[op & 7] = t;
      } else {
        const t = cpu.r16[0];
        cpu.r16[0] = cpu.r16[(op & 7) << 1];
        cpu.r16[(op & 7) << 1] = t;
      }
      return;
    case 0x98:
      if (o32) regs[0] = (regs[0] << 16) >> 16;
      else cpu.r16[0] = (regs[0] << 24) >> 24;
      return;
    case 0x99:
      if (o32) regs[2] = regs[0] >> 31;
      else cpu.r16[2 << 1] = (regs[0] << 16) >> 31;
      return;
    case 0x9a: farCall(cpu, a.imm2[i], o32 ? a.imm[i] : a.imm[i] & 0xffff, o32); return;
    case 0x9b: x87Wait(cpu); return; // WAIT/FWAIT
    case 0x9c: pushf(cpu, o32); return;
    case 0x9d: popf(cpu, o32); return;
    case 0x9e: {
      const f = cpu.getFlags();
      cpu.flags = (f & ~0xd5) | (cpu.r8[1] & 0xd5) | 2;
      return;
    }
    case 0x9f: cpu.r8[1] = (cpu.getFlags() & 0xd7) | 2; return;

    case 0xa0: cpu.r8[0] = cpu.rd8(seg(info), a.disp[i]); return;
    case 0xa1:
      if (o32) regs[0] = cpu.rd32(seg(info), a.disp[i]);
      else cpu.r16[0] = cpu.rd16(seg(info), a.disp[i]);
      return;
    case 0xa2: cpu.wr8(seg(info), a.disp[i], cpu.r8[0]); return;
    case 0xa3:
      if (o32) cpu.wr32(seg(info), a.disp[i], regs[0]);
      else cpu.wr16(seg(info), a.disp[i], cpu.r16[0]);
      return;
    case 0xa8: cpu.setLogic(cpu.r8[0] & a.imm[i] & 0xff, 8); return;
    case 0xa9:
      if (o32) cpu.setLogic(regs[0] & a.imm[i], 32);
      else cpu.setLogic(cpu.r16[0] & a.imm[i] & 0xffff, 16);
      return;

    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      cpu.r8[REG8I[op & 7]] = a.imm[i];
      return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      if (o32) regs[op & 7] = a.imm[i];
      else cpu.r16[(op & 7) << 1] = a.imm[i];
      return;

    // ---- group 2 ----
    case 0xc0: case 0xd0: case 0xd2: {
      const cnt = op === 0xc0 ? a.imm[i] : op === 0xd0 ? 1 : cpu.r8[4];
      const v = rmw8(cpu, i, info);
      put8(cpu, info, shift(cpu, reg(info), v, cnt, 8));
      return;
    }
    case 0xc1: case 0xd1: case 0xd3: {
      const cnt = op === 0xc1 ? a.imm[i] : op === 0xd1 ? 1 : cpu.r8[4];
      if (o32) {
        const v = rmw32(cpu, i, info) >>> 0;
        put32(cpu, info, shift(cpu, reg(info), v, cnt, 32));
      } else {
        const v = rmw16(cpu, i, info);
        put16(cpu, info, shift(cpu, reg(info), v, cnt, 16));
      }
      return;
    }

    case 0xc2: case 0xc3: {
      const t = o32 ? cpu.pop32() : cpu.pop16();
      if ((t >>> 0) > cpu.segLimit[S.CS]) {
        cpu.addSP(o32 ? -4 : -2);
        cpu.raise(V.GP, 0);
      }
      if (op === 0xc2) cpu.addSP(a.imm[i]);
      cpu.nextEip = t;
      return;
    }
    case 0xc4: case 0xc5: loadFarPointer(cpu, i, info, o32, op === 0xc4 ? S.ES : S.DS); return;
    case 0xc6:
      if (reg(info) !== 0) cpu.raise(V.UD);
      setE8(cpu, i, info, a.imm[i]);
      return;
    case 0xc7:
      if (reg(info) !== 0) cpu.raise(V.UD);
      if (o32) setE32(cpu, i, info, a.imm[i]);
      else setE16(cpu, i, info, a.imm[i]);
      return;
    case 0xc8: enter(cpu, a.imm[i], a.imm2[i] & 31, o32); return;
    case 0xc9: {
      // LEAVE: (E)SP <- (E)BP, then pop (E)BP.
      const sp = cpu.ssB ? regs[5] : regs[5] & 0xffff;
      const v = o32 ? cpu.rd32(S.SS, sp) : cpu.rd16(S.SS, sp);
      if (cpu.ssB) regs[4] = (sp + (o32 ? 4 : 2)) | 0;
      else cpu.r16[8] = sp + (o32 ? 4 : 2);
      if (o32) regs[5] = v;
      else cpu.r16[10] = v;
      return;
    }
    case 0xca: farReturn(cpu, o32, a.imm[i]); return;
    case 0xcb: farReturn(cpu, o32, 0); return;
    case 0xcc: softInt(cpu, V.BP, IntKind.SOFTWARE_EXC); return;
    case 0xcd: {
      const vec = a.imm[i] & 0xff;
      // In virtual-8086 mode with IOPL < 3, INT n faults to the monitor (SDM vol. 3 §20.3.3).
      if (cpu.flags & F.VM && (cpu.flags & F.IOPL) !== F.IOPL) cpu.raise(V.GP, 0);
      softInt(cpu, vec, IntKind.SOFTWARE);
      return;
    }
    case 0xce:
      if (cpu.getOF()) softInt(cpu, V.OF, IntKind.SOFTWARE_EXC);
      return;
    case 0xcf: iret(cpu, o32); return;

    case 0xd4: {
      // AAM: divide by an immediate base (0 raises #DE).
      const base = a.imm[i] & 0xff;
      if (base === 0) cpu.raise(V.DE);
      const al = cpu.r8[0];
      cpu.r8[1] = (al / base) | 0;
      cpu.r8[0] = al % base;
      cpu.setLogic(cpu.r8[0], 8);
      return;
    }
    case 0xd5: {
      // AAD
      const base = a.imm[i] & 0xff;
      const al = cpu.r8[0], ah = cpu.r8[1];
      const t = (ah * base) & 0xff;
      const r = (al + t) & 0xff;
      cpu.setLazy(LZ.ADD, al, t, al + t, 8);
      cpu.r16[0] = r;
      return;
    }
    case 0xd6: cpu.r8[0] = cpu.getCF() ? 0xff : 0; return; // SALC (undocumented, present on P6)
    case 0xd7: {
      const off = info & DEC.A32 ? (regs[3] + cpu.r8[0]) | 0 : (regs[3] + cpu.r8[0]) & 0xffff;
      cpu.r8[0] = cpu.rd8(seg(info), off);
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      x87Escape(cpu, i, op, info);
      return;

    // ---- LOOP/JCXZ ----
    case 0xe0: case 0xe1: case 0xe2: {
      let c: number;
      if (info & DEC.A32) c = regs[1] = (regs[1] - 1) | 0;
      else c = cpu.r16[2] = cpu.r16[2] - 1;
      let take = c !== 0;
      if (op === 0xe0) take = take && !cpu.getZF();
      else if (op === 0xe1) take = take && cpu.getZF();
      if (take) jumpRel(cpu, a.imm[i], o32);
      return;
    }
    case 0xe3:
      if ((info & DEC.A32 ? regs[1] : cpu.r16[2]) === 0) jumpRel(cpu, a.imm[i], o32);
      return;

    // ---- IN/OUT ----
    case 0xe4: inPort(cpu, a.imm[i] & 0xff, 1); return;
    case 0xe5: inPort(cpu, a.imm[i] & 0xff, o32 ? 4 : 2); return;
    case 0xe6: outPort(cpu, a.imm[i] & 0xff, 1); return;
    case 0xe7: outPort(cpu, a.imm[i] & 0xff, o32 ? 4 : 2); return;
    case 0xec: inPort(cpu, cpu.r16[4], 1); return;
    case 0xed: inPort(cpu, cpu.r16[4], o32 ? 4 : 2); return;
    case 0xee: outPort(cpu, cpu.r16[4], 1); return;
    case 0xef: outPort(cpu, cpu.r16[4], o32 ? 4 : 2); return;

    case 0xe8:
      if (o32) {
        cpu.push32(cpu.nextEip);
        jumpRel(cpu, a.imm[i], true);
      } else {
        cpu.push16(cpu.nextEip);
        jumpRel(cpu, a.imm[i], false);
      }
      return;
    case 0xe9: case 0xeb: jumpRel(cpu, a.imm[i], o32); return;
    case 0xea: farJump(cpu, a.imm2[i], o32 ? a.imm[i] : a.imm[i] & 0xffff, o32); return;

    case 0xf1:
      // INT1 / ICEBP: a #DB trap delivered like an external event (no IOPL/DPL checks).
      cpu.eip = cpu.nextEip;
      deliverInterrupt(cpu, V.DB, -1, IntKind.ICEBP, cpu.nextEip);
      cpu.nextEip = cpu.eip;
      return;
    case 0xf4:
      if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
      cpu.halted = true;
      cpu.leaveBlock = true;
      return;
    case 0xf5: cpu.keepFlagsExcept(F.CF); cpu.flags ^= F.CF; return;
    case 0xf6: group3(cpu, i, info, 8); return;
    case 0xf7: group3(cpu, i, info, o32 ? 32 : 16); return;
    case 0xf8: cpu.keepFlagsExcept(F.CF); cpu.flags &= ~F.CF; return;
    case 0xf9: cpu.keepFlagsExcept(F.CF); cpu.flags |= F.CF; return;
    case 0xfa:
      if (!iopl(cpu)) cpu.raise(V.GP, 0);
      cpu.flags &= ~F.IF;
      return;
    case 0xfb:
      if (!iopl(cpu)) cpu.raise(V.GP, 0);
      if (!(cpu.flags & F.IF)) cpu.irqShadowEnd = cpu.clock.icount + 2;
      cpu.flags |= F.IF;
      return;
    case 0xfc: cpu.flags &= ~F.DF; return;
    case 0xfd: cpu.flags |= F.DF; return;
    case 0xfe: {
      const o = reg(info);
      if (o > 1) cpu.raise(V.UD);
      const v = rmw8(cpu, i, info);
      put8(cpu, info, o === 0 ? inc(cpu, v, 8) : dec(cpu, v, 8));
      return;
    }
    case 0xff: group5(cpu, i, info, o32); return;
    default:
      if (op >= 0x100) {
        execute0F(cpu, i, op & 0xff, info, o32);
        return;
      }
      cpu.raise(V.UD);
  }
}

function aluOp(cpu: CPU, i: number, op: number, info: number, o32: boolean): void {
  const o = op >> 3;
  const regs = cpu.regs;
  switch (op & 7) {
    case 0:
      if (o === 7) alu(cpu, 7, getE8(cpu, i, info), getG8(cpu, info), 8);
      else put8(cpu, info, alu(cpu, o, rmw8(cpu, i, info), getG8(cpu, info), 8));
      return;
    case 1:
      if (o32) {
        if (o === 7) alu(cpu, 7, getE32(cpu, i, info), regs[reg(info)], 32);
        else put32(cpu, info, alu(cpu, o, rmw32(cpu, i, info), regs[reg(info)], 32));
      } else {
        if (o === 7) alu(cpu, 7, getE16(cpu, i, info), getG16(cpu, info), 16);
        else put16(cpu, info, alu(cpu, o, rmw16(cpu, i, info), getG16(cpu, info), 16));
      }
      return;
    case 2: {
      const r = alu(cpu, o, getG8(cpu, info), getE8(cpu, i, info), 8);
      if (o !== 7) setG8(cpu, info, r);
      return;
    }
    case 3:
      if (o32) {
        const r = alu(cpu, o, regs[reg(info)], getE32(cpu, i, info), 32);
        if (o !== 7) regs[reg(info)] = r;
      } else {
        const r = alu(cpu, o, getG16(cpu, info), getE16(cpu, i, info), 16);
        if (o !== 7) setG16(cpu, info, r);
      }
      return;
    case 4: {
      const r = alu(cpu, o, cpu.r8[0], cpu.arena.imm[i] & 0xff, 8);
      if (o !== 7) cpu.r8[0] = r;
      return;
    }
    default:
      if (o32) {
        const r = alu(cpu, o, regs[0], cpu.arena.imm[i], 32);
        if (o !== 7) regs[0] = r;
      } else {
        const r = alu(cpu, o, cpu.r16[0], cpu.arena.imm[i] & 0xffff, 16);
        if (o !== 7) cpu.r16[0] = r;
      }
  }
}

/** Near relative jump; the target is truncated to 16 bits with a 16-bit operand size. */
export function jumpRel(cpu: CPU, rel: number, o32: boolean): void {
  const t = o32 ? (cpu.nextEip + rel) | 0 : (cpu.nextEip + rel) & 0xffff;
  if ((t >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
  cpu.nextEip = t;
}

export function jumpNear(cpu: CPU, t: number): void {
  if ((t >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
  cpu.nextEip = t;
}

function popSeg(cpu: CPU, s: number, o32: boolean): void {
  const v = o32 ? cpu.peek32(0) & 0xffff : cpu.peek16(0);
  cpu.loadSeg(s, v);
  cpu.addSP(o32 ? 4 : 2);
}

function softInt(cpu: CPU, vec: number, kind: IntKind): void {
  deliverInterrupt(cpu, vec, -1, kind, cpu.nextEip);
  cpu.nextEip = cpu.eip;
}

/** CLI/STI are allowed when CPL <= IOPL (always in real mode). */
function iopl(cpu: CPU): boolean {
  if (!cpu.pe) return true;
  return cpu.cpl <= ((cpu.flags & F.IOPL) >> 12);
}

function pushf(cpu: CPU, o32: boolean): void {
  if (cpu.flags & F.VM && (cpu.flags & F.IOPL) !== F.IOPL) cpu.raise(V.GP, 0);
  const f = cpu.getFlags() & ~(F.RF | F.VM);
  if (o32) cpu.push32(f);
  else cpu.push16(f & 0xffff);
}

function popf(cpu: CPU, o32: boolean): void {
  const vm = (cpu.flags & F.VM) !== 0;
  if (vm && (cpu.flags & F.IOPL) !== F.IOPL) cpu.raise(V.GP, 0);
  const v = o32 ? cpu.pop32() : cpu.pop16();
  const old = cpu.getFlags();
  // Which bits POPF may change depends on CPL and IOPL (SDM POPF, table 4-?).
  let mask = F.CF | F.PF | F.AF | F.ZF | F.SF | F.TF | F.DF | F.OF | F.NT;
  if (o32) mask |= F.AC | F.ID;
  if (!cpu.pe || (!vm && cpu.cpl === 0)) mask |= F.IOPL | F.IF;
  else if (vm || cpu.cpl <= (old & F.IOPL) >> 12) mask |= F.IF;
  if (!o32) mask &= 0xffff;
  const nf = (old & ~mask) | (v & mask);
  // Unlike STI, POPF opens no interrupt shadow: a pending interrupt is taken right after it.
  cpu.setFlags(nf);
}

function pusha(cpu: CPU, o32: boolean): void {
  const r = cpu.regs;
  const sp0 = r[4];
  // Check the whole frame first so a fault leaves ESP unchanged.
  checkStackSlots(cpu, sp0, o32, true);
  for (let k = 0; k < 8; k++) {
    const v = k === 4 ? sp0 : r[k];
    if (o32) cpu.push32(v);
    else cpu.push16(v & 0xffff);
  }
}

function popa(cpu: CPU, o32: boolean): void {
  const r = cpu.regs;
  checkStackSlots(cpu, r[4], o32, false);
  for (let k = 7; k >= 0; k--) {
    if (k === 4) {
      cpu.addSP(o32 ? 4 : 2);
      continue;
    }
    if (o32) r[k] = cpu.pop32();
    else cpu.r16[k << 1] = cpu.pop16();
  }
}

/**
 * Check all eight PUSHA/POPA slots before touching any, so a fault leaves (E)SP unchanged.
 * With a 16-bit stack each slot wraps at 64 KiB like the pushes themselves do.
 */
function checkStackSlots(cpu: CPU, sp: number, o32: boolean, push: boolean): void {
  const step = o32 ? 4 : 2;
  for (let k = 0; k < 8; k++) {
    const d = push ? -(k + 1) * step : k * step;
    const off = cpu.ssB ? (sp + d) | 0 : (sp + d) & 0xffff;
    cpu.segCheckRange(S.SS, off, step, push);
  }
}

function bound(cpu: CPU, i: number, info: number, o32: boolean): void {
  if (!(info & DEC.MEM)) cpu.raise(V.UD);
  const s = seg(info);
  const off = ea(cpu, i, info);
  const aoff = info & DEC.A32 ? off : 0;
  void aoff;
  if (o32) {
    const lo = cpu.rd32(s, off);
    const hi = cpu.rd32(s, info & DEC.A32 ? (off + 4) | 0 : (off + 4) & 0xffff);
    const v = cpu.regs[reg(info)];
    if (v < lo || v > hi) cpu.raise(V.BR);
  } else {
    const lo = (cpu.rd16(s, off) << 16) >> 16;
    const hi = (cpu.rd16(s, info & DEC.A32 ? (off + 2) | 0 : (off + 2) & 0xffff) << 16) >> 16;
    const v = (getG16(cpu, info) << 16) >> 16;
    if (v < lo || v > hi) cpu.raise(V.BR);
  }
}

function arpl(cpu: CPU, i: number, info: number): void {
  if (!cpu.pe || cpu.flags & F.VM) cpu.raise(V.UD);
  const d = rmw16(cpu, i, info);
  const s = getG16(cpu, info);
  cpu.getFlags();
  if ((d & 3) < (s & 3)) {
    put16(cpu, info, (d & ~3) | (s & 3));
    cpu.flags |= F.ZF;
  } else {
    put16(cpu, info, d);
    cpu.flags &= ~F.ZF;
  }
}

function imulTo(cpu: CPU, info: number, a: number, b: number, o32: boolean): void {
  if (o32) {
    const lo = Math.imul(a, b);
    const hi = mulHighS(a, b);
    const ovf = hi !== lo >> 31;
    cpu.regs[reg(info)] = lo;
    cpu.setResultFlags(lo, 32, ovf ? 1 : 0, ovf ? 1 : 0, 0);
  } else {
    const r = a * b;
    const ovf = r !== (r << 16) >> 16;
    setG16(cpu, info, r);
    cpu.setResultFlags(r, 16, ovf ? 1 : 0, ovf ? 1 : 0, 0);
  }
}
export { imulTo };

function loadFarPointer(cpu: CPU, i: number, info: number, o32: boolean, s: number): void {
  if (!(info & DEC.MEM)) cpu.raise(V.UD);
  const sg = seg(info);
  const off = ea(cpu, i, info);
  const step = o32 ? 4 : 2;
  const noff = info & DEC.A32 ? (off + step) | 0 : (off + step) & 0xffff;
  const v = o32 ? cpu.rd32(sg, off) : cpu.rd16(sg, off);
  const sel = cpu.rd16(sg, noff);
  cpu.loadSeg(s, sel);
  if (s === S.SS) cpu.irqShadowEnd = cpu.clock.icount + 2;
  if (o32) cpu.regs[reg(info)] = v;
  else setG16(cpu, info, v);
}
export { loadFarPointer };

function enter(cpu: CPU, size: number, level: number, o32: boolean): void {
  const r = cpu.regs;
  const step = o32 ? 4 : 2;
  const bpMask = cpu.ssB ? -1 : 0xffff;
  // Check the frame for faults before changing any register (SDM ENTER).
  const frameTemp0 = cpu.ssB ? (r[4] - step) | 0 : (r[4] - step) & 0xffff;
  cpu.segCheckRange(S.SS, frameTemp0, step, true);
  if (o32) cpu.push32(r[5]);
  else cpu.push16(r[5] & 0xffff);
  const frameTemp = cpu.ssB ? r[4] : r[4] & 0xffff;
  if (level > 0) {
    let bp = r[5] & bpMask;
    for (let k = 1; k < level; k++) {
      bp = cpu.ssB ? (bp - step) | 0 : (bp - step) & 0xffff;
      const v = o32 ? cpu.rd32(S.SS, bp) : cpu.rd16(S.SS, bp);
      if (o32) cpu.push32(v);
      else cpu.push16(v);
    }
    if (o32) cpu.push32(frameTemp);
    else cpu.push16(frameTemp);
  }
  if (o32) r[5] = cpu.ssB ? frameTemp : (r[5] & ~0xffff) | frameTemp;
  else cpu.r16[10] = frameTemp;
  const nsp = cpu.ssB ? (r[4] - size) | 0 : (r[4] - size) & 0xffff;
  cpu.segCheckRange(S.SS, nsp, 0, true);
  if (cpu.ssB) r[4] = nsp;
  else cpu.r16[8] = nsp;
}

function group3(cpu: CPU, i: number, info: number, bits: number): void {
  const o = reg(info);
  const r = cpu.regs;
  switch (o) {
    case 0:
    case 1: {
      const v = bits === 8 ? getE8(cpu, i, info) : bits === 16 ? getE16(cpu, i, info) : getE32(cpu, i, info);
      cpu.setLogic(v & cpu.arena.imm[i], bits);
      return;
    }
    case 2: {
      if (bits === 8) put8(cpu, info, ~rmw8(cpu, i, info));
      else if (bits === 16) put16(cpu, info, ~rmw16(cpu, i, info));
      else put32(cpu, info, ~rmw32(cpu, i, info));
      return;
    }
    case 3: {
      const v = bits === 8 ? rmw8(cpu, i, info) : bits === 16 ? rmw16(cpu, i, info) : rmw32(cpu, i, info);
      const res = (0 - v) | 0;
      cpu.setLazy(LZ.SUB, 0, v, res, bits);
      if (bits === 8) put8(cpu, info, res);
      else if (bits === 16) put16(cpu, info, res);
      else put32(cpu, info, res);
      return;
    }
    case 4: {
      // MUL
      if (bits === 8) {
        const p = cpu.r8[0] * getE8(cpu, i, info);
        cpu.r16[0] = p;
        const c = p > 0xff ? 1 : 0;
        cpu.setResultFlags(p, 8, c, c, 0);
      } else if (bits === 16) {
        const p = cpu.r16[0] * getE16(cpu, i, info);
        cpu.r16[0] = p;
        cpu.r16[4] = p >>> 16;
        const c = p > 0xffff ? 1 : 0;
        cpu.setResultFlags(p, 16, c, c, 0);
      } else {
        const s = getE32(cpu, i, info);
        const lo = Math.imul(r[0], s);
        const hi = mulHighU(r[0], s);
        r[0] = lo;
        r[2] = hi;
        const c = hi !== 0 ? 1 : 0;
        cpu.setResultFlags(lo, 32, c, c, 0);
      }
      return;
    }
    case 5: {
      // IMUL (one operand)
      if (bits === 8) {
        const p = ((cpu.r8[0] << 24) >> 24) * ((getE8(cpu, i, info) << 24) >> 24);
        cpu.r16[0] = p;
        const c = p !== (p << 24) >> 24 ? 1 : 0;
        cpu.setResultFlags(p, 8, c, c, 0);
      } else if (bits === 16) {
        const p = ((cpu.r16[0] << 16) >> 16) * ((getE16(cpu, i, info) << 16) >> 16);
        cpu.r16[0] = p;
        cpu.r16[4] = p >> 16;
        const c = p !== (p << 16) >> 16 ? 1 : 0;
        cpu.setResultFlags(p, 16, c, c, 0);
      } else {
        const s = getE32(cpu, i, info);
        const lo = Math.imul(r[0], s);
        const hi = mulHighS(r[0], s);
        r[0] = lo;
        r[2] = hi;
        const c = hi !== lo >> 31 ? 1 : 0;
        cpu.setResultFlags(lo, 32, c, c, 0);
      }
      return;
    }
    case 6: {
      // DIV
      if (bits === 8) {
        const d = getE8(cpu, i, info);
        if (d === 0) cpu.raise(V.DE);
        const n = cpu.r16[0];
        const q = (n / d) | 0;
        if (q > 0xff) cpu.raise(V.DE);
        cpu.r8[0] = q;
        cpu.r8[1] = n % d;
      } else if (bits === 16) {
        const d = getE16(cpu, i, info);
        if (d === 0) cpu.raise(V.DE);
        const n = (cpu.r16[4] << 16 | cpu.r16[0]) >>> 0;
        const q = Math.floor(n / d);
        if (q > 0xffff) cpu.raise(V.DE);
        cpu.r16[0] = q;
        cpu.r16[4] = n % d;
      } else {
        const d = getE32(cpu, i, info) >>> 0;
        if (d === 0) cpu.raise(V.DE);
        if ((r[2] >>> 0) >= d) cpu.raise(V.DE);
        divU64(r[2], r[0], d);
        r[0] = divQ;
        r[2] = divR;
      }
      return;
    }
    default: {
      // IDIV
      if (bits === 8) {
        const d = (getE8(cpu, i, info) << 24) >> 24;
        if (d === 0) cpu.raise(V.DE);
        const n = (cpu.r16[0] << 16) >> 16;
        const q = (n / d) | 0;
        if (q > 127 || q < -128) cpu.raise(V.DE);
        cpu.r8[0] = q;
        cpu.r8[1] = n % d;
      } else if (bits === 16) {
        const d = (getE16(cpu, i, info) << 16) >> 16;
        if (d === 0) cpu.raise(V.DE);
        const n = (cpu.r16[4] << 16) | cpu.r16[0];
        const q = (n / d) | 0;
        if (q > 32767 || q < -32768) cpu.raise(V.DE);
        cpu.r16[0] = q;
        cpu.r16[4] = n % d;
      } else {
        const d = getE32(cpu, i, info);
        if (d === 0) cpu.raise(V.DE);
        let hi = r[2], lo = r[0];
        const neg = hi < 0;
        if (neg) {
          // two's complement negate of hi:lo
          lo = (~lo + 1) | 0;
          hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
        }
        const ad = d < 0 ? -d >>> 0 : d;
        if ((hi >>> 0) >= ad) cpu.raise(V.DE);
        divU64(hi, lo, ad);
        const qneg = neg !== d < 0;
        const q = qneg ? -divQ : divQ;
        if (q > 0x7fffffff || q < -0x80000000) cpu.raise(V.DE);
        r[0] = q;
        r[2] = neg ? -divR : divR;
      }
    }
  }
}

function group5(cpu: CPU, i: number, info: number, o32: boolean): void {
  const o = reg(info);
  switch (o) {
    case 0:
      if (o32) put32(cpu, info, inc(cpu, rmw32(cpu, i, info), 32));
      else put16(cpu, info, inc(cpu, rmw16(cpu, i, info), 16));
      return;
    case 1:
      if (o32) put32(cpu, info, dec(cpu, rmw32(cpu, i, info), 32));
      else put16(cpu, info, dec(cpu, rmw16(cpu, i, info), 16));
      return;
    case 2: {
      const t = o32 ? getE32(cpu, i, info) : getE16(cpu, i, info);
      if ((t >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
      cpu.push(cpu.nextEip, o32);
      cpu.nextEip = t;
      return;
    }
    case 3:
    case 5: {
      if (!(info & DEC.MEM)) cpu.raise(V.UD);
      const s = seg(info);
      const off = ea(cpu, i, info);
      const t = o32 ? cpu.rd32(s, off) : cpu.rd16(s, off);
      const sel = cpu.rd16(s, info & DEC.A32 ? (off + (o32 ? 4 : 2)) | 0 : (off + (o32 ? 4 : 2)) & 0xffff);
      if (o === 3) farCall(cpu, sel, t, o32);
      else farJump(cpu, sel, t, o32);
      return;
    }
    case 4: {
      const t = o32 ? getE32(cpu, i, info) : getE16(cpu, i, info);
      jumpNear(cpu, t);
      return;
    }
    case 6:
      if (o32) cpu.push32(getE32(cpu, i, info));
      else cpu.push16(getE16(cpu, i, info));
      return;
    default:
      cpu.raise(V.UD);
  }
}

function inPort(cpu: CPU, port: number, size: number): void {
  checkIoPermission(cpu, port, size);
  if (size === 1) cpu.r8[0] = cpu.io.in8(port);
  else if (size === 2) cpu.r16[0] = cpu.io.in16(port);
  else cpu.regs[0] = cpu.io.in32(port);
}

function outPort(cpu: CPU, port: number, size: number): void {
  checkIoPermission(cpu, port, size);
  if (size === 1) cpu.io.out8(port, cpu.r8[0]);
  else if (size === 2) cpu.io.out16(port, cpu.r16[0]);
  else cpu.io.out32(port, cpu.regs[0]);
  cpu.leaveBlock = true;
}

// ---- BCD adjust (SDM: DAA, DAS, AAA, AAS) ----
function daa(cpu: CPU): void {
  const f = cpu.getFlags();
  const oldAl = cpu.r8[0];
  const oldCf = f & F.CF;
  let al = oldAl;
  let cf = 0, af = 0;
  if ((al & 0xf) > 9 || f & F.AF) {
    al = (al + 6) & 0xff;
    cf = oldCf || oldAl + 6 > 0xff ? 1 : 0;
    af = 1;
  }
  if (oldAl > 0x99 || oldCf) {
    al = (al + 0x60) & 0xff;
    cf = 1;
  }
  cpu.r8[0] = al;
  cpu.setResultFlags(al, 8, cf, 0, af);
}

function das(cpu: CPU): void {
  const f = cpu.getFlags();
  const oldAl = cpu.r8[0];
  const oldCf = f & F.CF;
  let al = oldAl;
  let cf = 0, af = 0;
  if ((al & 0xf) > 9 || f & F.AF) {
    al = (al - 6) & 0xff;
    cf = oldCf || oldAl < 6 ? 1 : 0;
    af = 1;
  }
  if (oldAl > 0x99 || oldCf) {
    al = (al - 0x60) & 0xff;
    cf = 1;
  }
  cpu.r8[0] = al;
  cpu.setResultFlags(al, 8, cf, 0, af);
}

function aaa(cpu: CPU, add: boolean): void {
  const f = cpu.getFlags();
  let ax = cpu.r16[0];
  let c = 0;
  if ((ax & 0xf) > 9 || f & F.AF) {
    // SDM AAA/AAS: AX <- AX +/- 6 (AL's carry or borrow reaches AH), then AH <- AH +/- 1.
    if (add) ax = (ax + 0x106) & 0xffff;
    else ax = (((ax - 6) & 0xffff) - 0x100) & 0xffff;
    c = 1;
  }
  cpu.r16[0] = ax & 0xff0f;
  cpu.setResultFlags(ax & 0xff0f, 8, c, 0, c);
}
