// Protected-mode segmentation (SDM vol. 3 ch. 3 and 5): descriptor loads with their
// privilege and type checks, and far JMP/CALL/RET, including call gates with a stack switch
// and transfers to task gates and TSS descriptors. Real and virtual-8086 mode far transfers
// are the simple selector<<4 form.

import type { CPU } from './cpu.ts';
import { AR, F, S, V } from './constants.ts';
import { taskSwitch, TaskSource } from './tasks.ts';

/** The last descriptor read by readDescriptor (no allocation). */
export let descLo = 0;
export let descHi = 0;

/** Linear address of the descriptor for `sel` (GDT or LDT), or -1 past the table limit. */
export function descriptorAddress(cpu: CPU, sel: number): number {
  const index = sel & 0xfff8;
  if (sel & 4) {
    if ((cpu.ldtrSel & 0xfffc) === 0 || index + 7 > cpu.ldtrLimit) return -1;
    return (cpu.ldtrBase + index) | 0;
  }
  if (index + 7 > cpu.gdtrLimit) return -1;
  return (cpu.gdtrBase + index) | 0;
}

/** Read the descriptor of `sel` into descLo/descHi; false when outside its table. */
export function readDescriptor(cpu: CPU, sel: number): boolean {
  const addr = descriptorAddress(cpu, sel);
  if (addr === -1) return false;
  descLo = cpu.rdSys32(addr);
  descHi = cpu.rdSys32((addr + 4) | 0);
  return true;
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}
export function descLimit(lo: number, hi: number): number {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? ((l << 12) | 0xfff) >>> 0 : l;
}
export function descAR(hi: number): number {
  return (hi >> 8) & 0xf0ff;
}

/** Set the accessed bit of a code/data descriptor in memory, if clear. */
function setAccessed(cpu: CPU, sel: number): void {
  if (descHi & 0x100) return;
  descHi |= 0x100;
  cpu.wrSys8((descriptorAddress(cpu, sel) + 5) | 0, (descHi >> 8) & 0xff);
}

function loadFromDescriptor(cpu: CPU, s: number, sel: number): void {
  cpu.setSegRaw(s, sel, descBase(descLo, descHi), descLimit(descLo, descHi), descAR(descHi));
}

/** MOV/POP/LxS to SS, DS, ES, FS, GS in protected mode (SDM vol. 2 MOV, table "Segment load"). */
export function loadSegmentProtected(cpu: CPU, s: number, sel: number): void {
  const rpl = sel & 3;
  const err = sel & 0xfffc;
  if (s === S.SS) {
    if (err === 0) cpu.raise(V.GP, 0);
    if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, err);
    const ar = descAR(descHi);
    const dpl = (ar >> 5) & 3;
    if (rpl !== cpu.cpl || dpl !== cpu.cpl || !(ar & AR.S) || ar & AR.CODE || !(ar & AR.RW)) cpu.raise(V.GP, err);
    if (!(ar & AR.P)) cpu.raise(V.SS, err);
    setAccessed(cpu, sel);
    loadFromDescriptor(cpu, s, sel);
    return;
  }
  if (err === 0) {
    // A null selector loads fine; using the segment faults.
    cpu.setSegRaw(s, sel, 0, 0, 0);
    return;
  }
  if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, err);
  const ar = descAR(descHi);
  const dpl = (ar >> 5) & 3;
  if (!(ar & AR.S) || (ar & AR.CODE && !(ar & AR.RW))) cpu.raise(V.GP, err);
  const conformingCode = (ar & (AR.CODE | AR.DC)) === (AR.CODE | AR.DC);
  if (!conformingCode && (rpl > dpl || cpu.cpl > dpl)) cpu.raise(V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
  setAccessed(cpu, sel);
  loadFromDescriptor(cpu, s, sel);
}

/** Load CS from the descriptor in descLo/descHi with the given CPL (checks already done). */
function loadCS(cpu: CPU, sel: number, cpl: number): void {
  setAccessed(cpu, sel);
  cpu.setSegRaw(S.CS, (sel & 0xfffc) | cpl, descBase(descLo, descHi), descLimit(descLo, descHi), descAR(descHi));
  cpu.cpl = cpl;
  cpu.updateAccessMode();
}

function realModeTransfer(cpu: CPU, sel: number, off: number): void {
  if ((off >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
  cpu.setSegReal(S.CS, sel);
  cpu.nextEip = off;
}

/** Check a code-segment target for JMP/CALL (same privilege). Leaves it in descLo/descHi. */
function checkCodeTarget(cpu: CPU, sel: number): void {
  const err = sel & 0xfffc;
  const ar = descAR(descHi);
  const dpl = (ar >> 5) & 3;
  if (ar & AR.DC) {
    if (dpl > cpu.cpl) cpu.raise(V.GP, err);
  } else if ((sel & 3) > cpu.cpl || dpl !== cpu.cpl) cpu.raise(V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
}

export function farJump(cpu: CPU, sel: number, off: number, o32: boolean): void {
  if (!cpu.pe || cpu.flags & F.VM) {
    realModeTransfer(cpu, sel, o32 ? off : off & 0xffff);
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, err);
  const ar = descAR(descHi);
  if (ar & AR.S) {
    if (!(ar & AR.CODE)) cpu.raise(V.GP, err);
    checkCodeTarget(cpu, sel);
    if ((off >>> 0) > descLimit(descLo, descHi)) cpu.raise(V.GP, 0);
    loadCS(cpu, sel, cpu.cpl);
    cpu.nextEip = off;
    cpu.leaveBlock = true;
    return;
  }
  const type = ar & 0xf;
  const dpl = (ar >> 5) & 3;
  switch (type) {
    case 1: case 9: case 5: {
      // TSS or task gate
      if (dpl < cpu.cpl || dpl < (sel & 3)) cpu.raise(V.GP, err);
      if (!(ar & AR.P)) cpu.raise(V.NP, err);
      let tssSel = sel;
      if (type === 5) {
        tssSel = descLo >>> 16;
        if (!readDescriptor(cpu, tssSel)) cpu.raise(V.GP, tssSel & 0xfffc);
      }
      taskSwitch(cpu, tssSel, TaskSource.JMP, -1);
      return;
    }
    case 4: case 12: {
      // Call gate: JMP may not change privilege.
      if (dpl < cpu.cpl || dpl < (sel & 3)) cpu.raise(V.GP, err);
      if (!(ar & AR.P)) cpu.raise(V.NP, err);
      const target = descLo >>> 16;
      const gOff = type === 12 ? (descLo & 0xffff) | (descHi & 0xffff0000) : descLo & 0xffff;
      if ((target & 0xfffc) === 0) cpu.raise(V.GP, 0);
      if (!readDescriptor(cpu, target)) cpu.raise(V.GP, target & 0xfffc);
      const tar = descAR(descHi);
      if (!(tar & AR.S) || !(tar & AR.CODE)) cpu.raise(V.GP, target & 0xfffc);
      const tdpl = (tar >> 5) & 3;
      if (tar & AR.DC ? tdpl > cpu.cpl : tdpl !== cpu.cpl) cpu.raise(V.GP, target & 0xfffc);
      if (!(tar & AR.P)) cpu.raise(V.NP, target & 0xfffc);
      if ((gOff >>> 0) > descLimit(descLo, descHi)) cpu.raise(V.GP, 0);
      loadCS(cpu, target, cpu.cpl);
      cpu.nextEip = gOff;
      cpu.leaveBlock = true;
      return;
    }
    default:
      cpu.raise(V.GP, err);
  }
}

export function farCall(cpu: CPU, sel: number, off: number, o32: boolean): void {
  if (!cpu.pe || cpu.flags & F.VM) {
    const t = o32 ? off : off & 0xffff;
    // Check the stack for both pushes before changing anything.
    const sp = cpu.ssB ? (cpu.regs[4] - (o32 ? 8 : 4)) | 0 : (cpu.regs[4] - (o32 ? 8 : 4)) & 0xffff;
    cpu.segCheckRange(S.SS, sp, o32 ? 8 : 4, true);
    if ((t >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
    cpu.push(cpu.segSel[S.CS], o32);
    cpu.push(cpu.nextEip, o32);
    cpu.setSegReal(S.CS, sel);
    cpu.nextEip = t;
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, err);
  const ar = descAR(descHi);
  if (ar & AR.S) {
    if (!(ar & AR.CODE)) cpu.raise(V.GP, err);
    checkCodeTarget(cpu, sel);
    const lo = descLo, hi = descHi;
    const sp = cpu.ssB ? (cpu.regs[4] - (o32 ? 8 : 4)) | 0 : (cpu.regs[4] - (o32 ? 8 : 4)) & 0xffff;
    cpu.segCheckRange(S.SS, sp, o32 ? 8 : 4, true);
    if ((off >>> 0) > descLimit(lo, hi)) cpu.raise(V.GP, 0);
    cpu.push(cpu.segSel[S.CS], o32);
    cpu.push(cpu.nextEip, o32);
    descLo = lo;
    descHi = hi;
    loadCS(cpu, sel, cpu.cpl);
    cpu.nextEip = off;
    cpu.leaveBlock = true;
    return;
  }
  const type = ar & 0xf;
  const dpl = (ar >> 5) & 3;
  switch (type) {
    case 1: case 9: case 5: {
      if (dpl < cpu.cpl || dpl < (sel & 3)) cpu.raise(V.GP, err);
      if (!(ar & AR.P)) cpu.raise(V.NP, err);
      let tssSel = sel;
      if (type === 5) {
        tssSel = descLo >>> 16;
        if (!readDescriptor(cpu, tssSel)) cpu.raise(V.GP, tssSel & 0xfffc);
      }
      taskSwitch(cpu, tssSel, TaskSource.CALL, -1);
      return;
    }
    case 4: case 12:
      callGate(cpu, sel, type === 12);
      return;
    default:
      cpu.raise(V.GP, err);
  }
}

/** CALL through a call gate (SDM vol. 3 §5.8.5), with a stack switch to an inner level. */
function callGate(cpu: CPU, gateSel: number, gate32: boolean): void {
  const err = gateSel & 0xfffc;
  const ar = descAR(descHi);
  const dpl = (ar >> 5) & 3;
  if (dpl < cpu.cpl || dpl < (gateSel & 3)) cpu.raise(V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
  const target = descLo >>> 16;
  const gOff = gate32 ? (descLo & 0xffff) | (descHi & 0xffff0000) : descLo & 0xffff;
  const paramCount = descHi & 0x1f;
  if ((target & 0xfffc) === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, target)) cpu.raise(V.GP, target & 0xfffc);
  const tar = descAR(descHi);
  const tdpl = (tar >> 5) & 3;
  if (!(tar & AR.S) || !(tar & AR.CODE) || tdpl > cpu.cpl) cpu.raise(V.GP, target & 0xfffc);
  if (!(tar & AR.P)) cpu.raise(V.NP, target & 0xfffc);
  const tLo = descLo, tHi = descHi;
  if ((gOff >>> 0) > descLimit(tLo, tHi)) cpu.raise(V.GP, 0);
  const retEip = cpu.nextEip;
  const oldCs = cpu.segSel[S.CS];
  if (!(tar & AR.DC) && tdpl < cpu.cpl) {
    // More privileged: switch to the stack of level tdpl from the TSS.
    const { ss: newSS, esp: newESP } = tssStack(cpu, tdpl);
    if ((newSS & 0xfffc) === 0) cpu.raise(V.TS, newSS & 0xfffc);
    if (!readDescriptor(cpu, newSS)) cpu.raise(V.TS, newSS & 0xfffc);
    const sar = descAR(descHi);
    if ((newSS & 3) !== tdpl || ((sar >> 5) & 3) !== tdpl || !(sar & AR.S) || sar & AR.CODE || !(sar & AR.RW)) cpu.raise(V.TS, newSS & 0xfffc);
    if (!(sar & AR.P)) cpu.raise(V.SS, newSS & 0xfffc);
    const ssLo = descLo, ssHi = descHi;
    const oldSS = cpu.segSel[S.SS];
    const oldESP = cpu.regs[4];
    const oldSsB = cpu.ssB;
    // Copy parameters from the old stack.
    const params: number[] = [];
    for (let k = paramCount - 1; k >= 0; k--) {
      const off = oldSsB ? (oldESP + k * (gate32 ? 4 : 2)) | 0 : (oldESP + k * (gate32 ? 4 : 2)) & 0xffff;
      params.push(gate32 ? cpu.rd32(S.SS, off) : cpu.rd16(S.SS, off));
    }
    // Switch CPL first so stack writes are checked at the new level.
    descLo = ssLo;
    descHi = ssHi;
    const savedSeg = saveSeg(cpu, S.SS);
    const savedCpl = cpu.cpl;
    try {
      cpu.cpl = tdpl;
      cpu.updateAccessMode();
      setAccessedAt(cpu, newSS, ssHi);
      cpu.setSegRaw(S.SS, newSS, descBase(ssLo, ssHi), descLimit(ssLo, ssHi), descAR(ssHi));
      cpu.regs[4] = cpu.ssB ? newESP : newESP & 0xffff;
      cpu.push(oldSS, gate32);
      cpu.push(oldESP, gate32);
      for (const p of params) cpu.push(p, gate32);
      cpu.push(oldCs, gate32);
      cpu.push(retEip, gate32);
    } catch (e) {
      restoreSeg(cpu, S.SS, savedSeg);
      cpu.regs[4] = oldESP;
      cpu.cpl = savedCpl;
      cpu.updateAccessMode();
      throw e;
    }
    descLo = tLo;
    descHi = tHi;
    loadCS(cpu, target, tdpl);
  } else {
    cpu.push(oldCs, gate32);
    cpu.push(retEip, gate32);
    descLo = tLo;
    descHi = tHi;
    loadCS(cpu, target, cpu.cpl);
  }
  cpu.nextEip = gate32 ? gOff : gOff & 0xffff;
  cpu.leaveBlock = true;
}

function setAccessedAt(cpu: CPU, sel: number, hi: number): void {
  if (hi & 0x100) return;
  cpu.wrSys8((descriptorAddress(cpu, sel) + 5) | 0, ((hi | 0x100) >> 8) & 0xff);
}

/** Inner stack for privilege level `dpl` from the current TSS (SDM vol. 3 §7.2.1). */
export function tssStack(cpu: CPU, dpl: number): { ss: number; esp: number } {
  const t32 = (cpu.trAR & 0x8) !== 0;
  const at = t32 ? dpl * 8 + 4 : dpl * 4 + 2;
  if (at + (t32 ? 5 : 3) > cpu.trLimit) cpu.raise(V.TS, cpu.trSel & 0xfffc);
  if (t32) return { esp: cpu.rdSys32((cpu.trBase + at) | 0), ss: cpu.rdSys16((cpu.trBase + at + 4) | 0) };
  return { esp: cpu.rdSys16((cpu.trBase + at) | 0), ss: cpu.rdSys16((cpu.trBase + at + 2) | 0) };
}

export function saveSeg(cpu: CPU, s: number): [number, number, number, number] {
  return [cpu.segSel[s], cpu.segBase[s], cpu.segLimit[s], cpu.segAR[s]];
}
export function restoreSeg(cpu: CPU, s: number, v: [number, number, number, number]): void {
  cpu.setSegRaw(s, v[0], v[1], v[2], v[3]);
}

/** RETF [imm16] (SDM vol. 2 RET, far return in protected mode). */
export function farReturn(cpu: CPU, o32: boolean, popBytes: number): void {
  const step = o32 ? 4 : 2;
  if (!cpu.pe || cpu.flags & F.VM) {
    const off = o32 ? cpu.peek32(0) : cpu.peek16(0);
    const sel = o32 ? cpu.peek32(4) & 0xffff : cpu.peek16(2);
    if ((off >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
    cpu.addSP(2 * step + popBytes);
    cpu.setSegReal(S.CS, sel);
    cpu.nextEip = off;
    return;
  }
  const off = o32 ? cpu.peek32(0) : cpu.peek16(0);
  const sel = o32 ? cpu.peek32(4) & 0xffff : cpu.peek16(2);
  const err = sel & 0xfffc;
  if (err === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, err);
  const ar = descAR(descHi);
  const rpl = sel & 3;
  if (!(ar & AR.S) || !(ar & AR.CODE) || rpl < cpu.cpl) cpu.raise(V.GP, err);
  const dpl = (ar >> 5) & 3;
  if (ar & AR.DC ? dpl > rpl : dpl !== rpl) cpu.raise(V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
  const cLo = descLo, cHi = descHi;
  if (rpl === cpu.cpl) {
    if ((off >>> 0) > descLimit(cLo, cHi)) cpu.raise(V.GP, 0);
    cpu.addSP(2 * step + popBytes);
    loadCS(cpu, sel, cpu.cpl);
    cpu.nextEip = off;
    cpu.leaveBlock = true;
    return;
  }
  // Return to an outer level: pop SS:ESP as well.
  const base = 2 * step + popBytes;
  const nEsp = o32 ? cpu.peek32(base) : cpu.peek16(base);
  const nSS = o32 ? cpu.peek32(base + 4) & 0xffff : cpu.peek16(base + 2);
  const serr = nSS & 0xfffc;
  if (serr === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, nSS)) cpu.raise(V.GP, serr);
  const sar = descAR(descHi);
  if ((nSS & 3) !== rpl || ((sar >> 5) & 3) !== rpl || !(sar & AR.S) || sar & AR.CODE || !(sar & AR.RW)) cpu.raise(V.GP, serr);
  if (!(sar & AR.P)) cpu.raise(V.SS, serr);
  const sLo = descLo, sHi = descHi;
  if ((off >>> 0) > descLimit(cLo, cHi)) cpu.raise(V.GP, 0);
  descLo = cLo;
  descHi = cHi;
  loadCS(cpu, sel, rpl);
  descLo = sLo;
  descHi = sHi;
  setAccessedAt(cpu, nSS, sHi);
  cpu.setSegRaw(S.SS, nSS, descBase(sLo, sHi), descLimit(sLo, sHi), descAR(sHi));
  if (cpu.ssB) cpu.regs[4] = (nEsp + popBytes) | 0;
  else cpu.r16[8] = nEsp + popBytes;
  nullInaccessibleSegments(cpu);
  cpu.nextEip = off;
  cpu.leaveBlock = true;
}

/** After a return to an outer level, data segments the new CPL may not use become null. */
export function nullInaccessibleSegments(cpu: CPU): void {
  for (const s of [S.ES, S.DS, S.FS, S.GS]) {
    const ar = cpu.segAR[s];
    const dpl = (ar >> 5) & 3;
    const conformingCode = (ar & (AR.CODE | AR.DC)) === (AR.CODE | AR.DC);
    if ((cpu.segSel[s] & 0xfffc) !== 0 && (!(ar & AR.S) || (!conformingCode && dpl < cpu.cpl))) {
      cpu.setSegRaw(s, 0, 0, 0, 0);
    }
  }
}
