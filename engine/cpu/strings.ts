// String instructions with REP prefixes (SDM vol. 2: MOVS, CMPS, STOS, LODS, SCAS, INS,
// OUTS). Each iteration retires as one instruction (DESIGN.md contract 1): a REP runs as
// many iterations as the deadline allows, then leaves EIP on itself to continue later.
// Registers are updated per iteration, so a fault mid-string is precise.

import type { CPU } from './cpu.ts';
import { LZ } from './cpu.ts';
import { DEC } from './decoder.ts';
import { F, S } from './constants.ts';
import { seg } from './operands.ts';
import { checkIoPermission } from './system.ts';

export function stringOp(cpu: CPU, _i: number, op: number, info: number): void {
  const a32 = (info & DEC.A32) !== 0;
  const rep = (info & (DEC.REP | DEC.REPNE)) !== 0;
  const size = op & 1 ? (info & DEC.O32 ? 4 : 2) : 1;
  const r = cpu.regs;
  const step = cpu.flags & F.DF ? -size : size;
  const src = seg(info);
  const isIo = op < 0x70;
  if (isIo) checkIoPermission(cpu, cpu.r16[4], size);
  let count = 1;
  if (rep) {
    count = a32 ? r[1] >>> 0 : cpu.r16[2];
    if (count === 0) return;
  }
  const avail = cpu.deadline - cpu.clock.icount;
  let n = count < avail ? count : avail;
  if (n < 1) n = 1;
  const cmp = op === 0xa6 || op === 0xa7 || op === 0xae || op === 0xaf;
  const repz = (info & DEC.REP) !== 0;
  let k = 0;
  for (; k < n; k++) {
    const si = a32 ? r[6] : r[6] & 0xffff;
    const di = a32 ? r[7] : r[7] & 0xffff;
    switch (op) {
      case 0xa4: cpu.wr8(S.ES, di, cpu.rd8(src, si)); advSI(cpu, a32, step); advDI(cpu, a32, step); break;
      case 0xa5:
        if (size === 2) cpu.wr16(S.ES, di, cpu.rd16(src, si));
        else cpu.wr32(S.ES, di, cpu.rd32(src, si));
        advSI(cpu, a32, step);
        advDI(cpu, a32, step);
        break;
      case 0xa6: case 0xa7: {
        const x = size === 1 ? cpu.rd8(src, si) : size === 2 ? cpu.rd16(src, si) : cpu.rd32(src, si);
        const y = size === 1 ? cpu.rd8(S.ES, di) : size === 2 ? cpu.rd16(S.ES, di) : cpu.rd32(S.ES, di);
        cpu.setLazy(LZ.SUB, x, y, (x - y) | 0, size * 8);
        advSI(cpu, a32, step);
        advDI(cpu, a32, step);
        break;
      }
      case 0xaa: cpu.wr8(S.ES, di, cpu.r8[0]); advDI(cpu, a32, step); break;
      case 0xab:
        if (size === 2) cpu.wr16(S.ES, di, cpu.r16[0]);
        else cpu.wr32(S.ES, di, r[0]);
        advDI(cpu, a32, step);
        break;
      case 0xac: cpu.r8[0] = cpu.rd8(src, si); advSI(cpu, a32, step); break;
      case 0xad:
        if (size === 2) cpu.r16[0] = cpu.rd16(src, si);
        else r[0] = cpu.rd32(src, si);
        advSI(cpu, a32, step);
        break;
      case 0xae: case 0xaf: {
        const y = size === 1 ? cpu.rd8(S.ES, di) : size === 2 ? cpu.rd16(S.ES, di) : cpu.rd32(S.ES, di);
        const x = size === 1 ? cpu.r8[0] : size === 2 ? cpu.r16[0] : r[0];
        cpu.setLazy(LZ.SUB, x, y, (x - y) | 0, size * 8);
        advDI(cpu, a32, step);
        break;
      }
      case 0x6c: case 0x6d: {
        // INS: the destination is checked before the port is read.
        cpu.linW(S.ES, di, size);
        const port = cpu.r16[4];
        const v = size === 1 ? cpu.io.in8(port) : size === 2 ? cpu.io.in16(port) : cpu.io.in32(port);
        if (size === 1) cpu.wr8(S.ES, di, v);
        else if (size === 2) cpu.wr16(S.ES, di, v);
        else cpu.wr32(S.ES, di, v);
        advDI(cpu, a32, step);
        break;
      }
      default: {
        // OUTS
        const port = cpu.r16[4];
        if (size === 1) cpu.io.out8(port, cpu.rd8(src, si));
        else if (size === 2) cpu.io.out16(port, cpu.rd16(src, si));
        else cpu.io.out32(port, cpu.rd32(src, si));
        advSI(cpu, a32, step);
        break;
      }
    }
    if (rep) {
      let c: number;
      if (a32) c = r[1] = (r[1] - 1) | 0;
      else c = cpu.r16[2] = cpu.r16[2] - 1;
      if (cmp && cpu.getZF() !== repz) break;
      if (c === 0) break;
    }
    if (cpu.debugStop) break; // a watchpoint hit: the rest of the string runs later
    if (k + 1 < n) cpu.clock.icount++;
  }
  if (rep) {
    // The block's budget counts instructions, not iterations: end the block here.
    cpu.leaveBlock = true;
    const left = a32 ? r[1] : cpu.r16[2];
    const stopped = cmp && cpu.getZF() !== repz;
    if (left !== 0 && !stopped) {
      // Not finished within the deadline: run this instruction again later.
      cpu.nextEip = cpu.eip;
      cpu.leaveBlock = true;
    }
  }
  if (isIo) cpu.leaveBlock = true;
}

function advSI(cpu: CPU, a32: boolean, step: number): void {
  if (a32) cpu.regs[6] = (cpu.regs[6] + step) | 0;
  else cpu.r16[12] = cpu.r16[12] + step;
}

function advDI(cpu: CPU, a32: boolean, step: number): void {
  if (a32) cpu.regs[7] = (cpu.regs[7] + step) | 0;
  else cpu.r16[14] = cpu.r16[14] + step;
}
