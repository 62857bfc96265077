// Interrupt and exception delivery, and IRET (SDM vol. 3 ch. 6 and §20.3 for virtual-8086
// mode): the real-mode IVT, IDT interrupt/trap/task gates, stack switches through the TSS,
// error codes, and returns to the same level, an outer level, virtual-8086 mode or the
// previous task (NT).

import type { CPU } from './cpu.ts';
import { AR, F, S, V } from './constants.ts';
import {
  readDescriptor, descLo, descHi, descBase, descLimit, descAR, tssStack, saveSeg, restoreSeg,
  nullInaccessibleSegments, descriptorAddress,
} from './segments.ts';
import { taskSwitch, TaskSource } from './tasks.ts';

export const enum IntKind {
  /** A hardware interrupt or NMI (EXT=1 in error codes). */
  EXTERNAL = 0,
  /** A fault or trap raised by an instruction. */
  EXCEPTION = 1,
  /** INT n: the gate's DPL is checked against CPL. */
  SOFTWARE = 2,
  /** INT3 / INTO: exceptions raised by an instruction, DPL-checked like INT n. */
  SOFTWARE_EXC = 3,
  /** INT1 (ICEBP): a #DB delivered without the DPL check. */
  ICEBP = 4,
}

/**
 * Transfer control to the handler of `vec`. `returnEip` is the EIP saved in the frame (the
 * faulting instruction for faults, the next one for traps and INT n). On return, CS:EIP is
 * the handler's first instruction.
 */
export function deliverInterrupt(cpu: CPU, vec: number, code: number, kind: IntKind, returnEip: number): void {
  cpu.halted = false;
  if (!cpu.pe) {
    realModeInterrupt(cpu, vec, returnEip);
    return;
  }
  const ext = kind === IntKind.EXTERNAL ? 1 : 0;
  const idtErr = vec * 8 + 2 + ext;
  if (vec * 8 + 7 > cpu.idtrLimit) cpu.raise(V.GP, idtErr);
  const gAddr = (cpu.idtrBase + vec * 8) | 0;
  const lo = cpu.rdSys32(gAddr);
  const hi = cpu.rdSys32((gAddr + 4) | 0);
  const type = (hi >> 8) & 0x1f;
  const gdpl = (hi >> 13) & 3;
  if (type !== 5 && type !== 6 && type !== 7 && type !== 0xe && type !== 0xf) cpu.raise(V.GP, idtErr);
  if ((kind === IntKind.SOFTWARE || kind === IntKind.SOFTWARE_EXC) && gdpl < cpu.cpl) cpu.raise(V.GP, vec * 8 + 2);
  if (!(hi & 0x8000)) cpu.raise(V.NP, idtErr);
  if (type === 5) {
    const tss = lo >>> 16;
    if (!readDescriptor(cpu, tss)) cpu.raise(V.TS, (tss & 0xfffc) + ext);
    cpu.eip = returnEip;
    taskSwitch(cpu, tss, TaskSource.INT, code);
    cpu.eip = cpu.nextEip;
    return;
  }
  const gate32 = (type & 8) !== 0;
  const trap = (type & 1) !== 0;
  const sel = lo >>> 16;
  const off = gate32 ? (lo & 0xffff) | (hi & 0xffff0000) : lo & 0xffff;
  if ((sel & 0xfffc) === 0) cpu.raise(V.GP, ext);
  if (!readDescriptor(cpu, sel)) cpu.raise(V.GP, (sel & 0xfffc) + ext);
  const car = descAR(descHi);
  const cdpl = (car >> 5) & 3;
  if (!(car & AR.S) || !(car & AR.CODE) || cdpl > cpu.cpl) cpu.raise(V.GP, (sel & 0xfffc) + ext);
  if (!(car & AR.P)) cpu.raise(V.NP, (sel & 0xfffc) + ext);
  const cLo = descLo, cHi = descHi;
  if ((off >>> 0) > descLimit(cLo, cHi)) cpu.raise(V.GP, ext);
  const flags = cpu.getFlags();
  const vm = (flags & F.VM) !== 0;
  const oldCs = cpu.segSel[S.CS];
  const oldCpl = cpu.cpl;
  const savedSS = saveSeg(cpu, S.SS);
  const oldEsp = cpu.regs[4];
  const savedFlags = cpu.flags;
  try {
    if (!(car & AR.DC) && cdpl < cpu.cpl) {
      // Inner privilege: new stack from the TSS.
      if (vm && cdpl !== 0) cpu.raise(V.GP, (sel & 0xfffc) + ext);
      const { ss, esp } = tssStack(cpu, cdpl);
      if ((ss & 0xfffc) === 0) cpu.raise(V.TS, ext);
      if (!readDescriptor(cpu, ss)) cpu.raise(V.TS, (ss & 0xfffc) + ext);
      const sar = descAR(descHi);
      if ((ss & 3) !== cdpl || ((sar >> 5) & 3) !== cdpl || !(sar & AR.S) || sar & AR.CODE || !(sar & AR.RW)) cpu.raise(V.TS, (ss & 0xfffc) + ext);
      if (!(sar & AR.P)) cpu.raise(V.SS, (ss & 0xfffc) + ext);
      const oldSS = cpu.segSel[S.SS];
      cpu.cpl = cdpl;
      cpu.flags &= ~F.VM;
      cpu.updateAccessMode();
      cpu.setSegRaw(S.SS, ss, descBase(descLo, descHi), descLimit(descLo, descHi), sar);
      cpu.regs[4] = cpu.ssB ? esp : esp & 0xffff;
      if (vm) {
        cpu.push(cpu.segSel[S.GS], gate32);
        cpu.push(cpu.segSel[S.FS], gate32);
        cpu.push(cpu.segSel[S.DS], gate32);
        cpu.push(cpu.segSel[S.ES], gate32);
      }
      cpu.push(oldSS, gate32);
      cpu.push(oldEsp, gate32);
    } else {
      if (vm) cpu.raise(V.GP, (sel & 0xfffc) + ext);
    }
    cpu.push(flags, gate32);
    cpu.push(oldCs, gate32);
    cpu.push(returnEip, gate32);
    if (code >= 0) cpu.push(code, gate32);
  } catch (e) {
    cpu.cpl = oldCpl;
    cpu.flags = savedFlags;
    cpu.updateAccessMode();
    restoreSeg(cpu, S.SS, savedSS);
    cpu.regs[4] = oldEsp;
    throw e;
  }
  if (vm) {
    for (const s of [S.GS, S.FS, S.DS, S.ES]) cpu.setSegRaw(s, 0, 0, 0, 0);
  }
  const newCpl = !(car & AR.DC) && cdpl < oldCpl ? cdpl : oldCpl;
  const dLo = descLo, dHi = descHi;
  void dLo;
  void dHi;
  cpu.setSegRaw(S.CS, (sel & 0xfffc) | newCpl, descBase(cLo, cHi), descLimit(cLo, cHi), descAR(cHi));
  setAccessedCS(cpu, sel, cHi);
  cpu.cpl = newCpl;
  let nf = cpu.flags & ~(F.TF | F.NT | F.VM | F.RF);
  if (!trap) nf &= ~F.IF;
  cpu.flags = nf;
  cpu.updateAccessMode();
  cpu.eip = gate32 ? off : off & 0xffff;
  cpu.leaveBlock = true;
}

function setAccessedCS(cpu: CPU, sel: number, hi: number): void {
  if (hi & 0x100) return;
  cpu.wrSys8((descriptorAddress(cpu, sel) + 5) | 0, ((hi | 0x100) >> 8) & 0xff);
}

function realModeInterrupt(cpu: CPU, vec: number, returnEip: number): void {
  if (vec * 4 + 3 > cpu.idtrLimit) cpu.raise(V.GP, 0);
  const flags = cpu.getFlags();
  const sp = (cpu.regs[4] - 6) & 0xffff;
  cpu.segCheckRange(S.SS, cpu.ssB ? (cpu.regs[4] - 6) | 0 : sp, 6, true);
  const ip = cpu.rdLin16((cpu.idtrBase + vec * 4) | 0);
  const cs = cpu.rdLin16((cpu.idtrBase + vec * 4 + 2) | 0);
  cpu.push16(flags & 0xffff);
  cpu.push16(cpu.segSel[S.CS]);
  cpu.push16(returnEip & 0xffff);
  cpu.flags = flags & ~(F.IF | F.TF | F.AC | F.RF);
  cpu.setSegReal(S.CS, cs);
  cpu.eip = ip;
  cpu.leaveBlock = true;
}

/** IRET/IRETD (SDM vol. 2 IRET). */
export function iret(cpu: CPU, o32: boolean): void {
  const step = o32 ? 4 : 2;
  if (!cpu.pe || cpu.flags & F.VM) {
    if (cpu.flags & F.VM && (cpu.flags & F.IOPL) !== F.IOPL) cpu.raise(V.GP, 0);
    const ip = peekFrame(cpu, o32, 0);
    const cs = peekFrame(cpu, o32, step) & 0xffff;
    const fl = peekFrame(cpu, o32, 2 * step);
    if ((ip >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
    cpu.addSP(3 * step);
    const old = cpu.getFlags();
    let nf: number;
    if (cpu.flags & F.VM) {
      // IOPL is not changed from virtual-8086 mode.
      nf = o32 ? (fl & ~(F.IOPL | F.VM | F.VIP | F.VIF)) | (old & (F.IOPL | F.VM | F.VIP | F.VIF)) : (old & 0xffff3000) | (fl & 0xcfff);
    } else {
      nf = o32 ? (fl & ~(F.VM | F.VIP | F.VIF)) | (old & (F.VM | F.VIP | F.VIF)) : (old & 0xffff0000) | (fl & 0xffff);
    }
    cpu.setSegReal(S.CS, cs);
    cpu.setFlags(nf);
    cpu.nextEip = ip;
    cpu.leaveBlock = true;
    return;
  }
  if (cpu.flags & F.NT) {
    // Return to the previous task through the back link.
    const link = cpu.rdSys16(cpu.trBase);
    if (link & 4) cpu.raise(V.TS, link & 0xfffc);
    if (!readDescriptor(cpu, link)) cpu.raise(V.TS, link & 0xfffc);
    const type = descAR(descHi) & 0x1f;
    if (type !== 0x3 && type !== 0xb) cpu.raise(V.TS, link & 0xfffc);
    taskSwitch(cpu, link, TaskSource.IRET, -1);
    return;
  }
  const ip = peekFrame(cpu, o32, 0);
  const cs = peekFrame(cpu, o32, step) & 0xffff;
  const fl = peekFrame(cpu, o32, 2 * step);
  if (o32 && fl & F.VM && cpu.cpl === 0) {
    returnToV86(cpu, ip, cs, fl);
    return;
  }
  const err = cs & 0xfffc;
  if (err === 0) cpu.raise(V.GP, 0);
  if (!readDescriptor(cpu, cs)) cpu.raise(V.GP, err);
  const ar = descAR(descHi);
  const rpl = cs & 3;
  if (!(ar & AR.S) || !(ar & AR.CODE) || rpl < cpu.cpl) cpu.raise(V.GP, err);
  const dpl = (ar >> 5) & 3;
  if (ar & AR.DC ? dpl > rpl : dpl !== rpl) cpu.raise(V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
  const cLo = descLo, cHi = descHi;
  if ((ip >>> 0) > descLimit(cLo, cHi)) cpu.raise(V.GP, 0);
  const oldCpl = cpu.cpl;
  const old = cpu.getFlags();
  if (rpl === cpu.cpl) {
    cpu.addSP(3 * step);
  } else {
    const nEsp = peekFrame(cpu, o32, 3 * step);
    const nSS = peekFrame(cpu, o32, 4 * step) & 0xffff;
    const serr = nSS & 0xfffc;
    if (serr === 0) cpu.raise(V.GP, 0);
    if (!readDescriptor(cpu, nSS)) cpu.raise(V.GP, serr);
    const sar = descAR(descHi);
    if ((nSS & 3) !== rpl || ((sar >> 5) & 3) !== rpl || !(sar & AR.S) || sar & AR.CODE || !(sar & AR.RW)) cpu.raise(V.GP, serr);
    if (!(sar & AR.P)) cpu.raise(V.SS, serr);
    cpu.setSegRaw(S.SS, nSS, descBase(descLo, descHi), descLimit(descLo, descHi), sar);
    if (cpu.ssB) cpu.regs[4] = nEsp;
    else cpu.r16[8] = nEsp;
  }
  cpu.setSegRaw(S.CS, cs, descBase(cLo, cHi), descLimit(cLo, cHi), descAR(cHi));
  cpu.cpl = rpl;
  // Which flags IRET may change (SDM IRET: IOPL only at CPL 0, IF only when CPL <= IOPL).
  let mask = F.CF | F.PF | F.AF | F.ZF | F.SF | F.TF | F.DF | F.OF | F.NT | F.RF;
  if (o32) mask |= F.AC | F.ID;
  if (oldCpl === 0) {
    mask |= F.IOPL;
    if (o32) mask |= F.VIF | F.VIP;
  }
  if (oldCpl <= (old & F.IOPL) >> 12) mask |= F.IF;
  if (!o32) mask &= 0xffff;
  cpu.setFlags((old & ~mask) | (fl & mask));
  cpu.updateAccessMode();
  if (rpl !== oldCpl) nullInaccessibleSegments(cpu);
  cpu.nextEip = ip;
  cpu.leaveBlock = true;
}

function returnToV86(cpu: CPU, ip: number, cs: number, fl: number): void {
  const esp = cpu.peek32(12);
  const ss = cpu.peek32(16) & 0xffff;
  const es = cpu.peek32(20) & 0xffff;
  const ds = cpu.peek32(24) & 0xffff;
  const fs = cpu.peek32(28) & 0xffff;
  const gs = cpu.peek32(32) & 0xffff;
  cpu.setFlags((fl & 0x3f7fd5) | 2);
  cpu.cpl = 3;
  for (const [s, v] of [[S.CS, cs], [S.SS, ss], [S.ES, es], [S.DS, ds], [S.FS, fs], [S.GS, gs]] as const) {
    cpu.setSegRaw(s, v, v << 4, 0xffff, 0xf3);
  }
  cpu.regs[4] = esp;
  cpu.updateAccessMode();
  cpu.nextEip = ip & 0xffff;
  cpu.leaveBlock = true;
}

/** A word or dword of the IRET frame, `d` bytes above the stack top. */
function peekFrame(cpu: CPU, o32: boolean, d: number): number {
  return o32 ? cpu.peek32(d) : cpu.peek16(d);
}
