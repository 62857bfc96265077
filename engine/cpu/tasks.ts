// Hardware task switching (SDM vol. 3 ch. 7): through JMP/CALL to a TSS descriptor or a
// task gate, through an interrupt/exception task gate, and back with IRET when NT is set.
// 32-bit and 16-bit TSS formats, busy bits, the back link and NT, CR0.TS, and the loads of
// LDTR, CR3 and the segment registers of the new task with #TS on a bad selector.

import type { CPU } from './cpu.ts';
import { AR, F, S, V } from './constants.ts';
import { readDescriptor, descLo, descHi, descBase, descLimit, descAR, descriptorAddress } from './segments.ts';

export const enum TaskSource {
  JMP = 0,
  CALL = 1,
  INT = 2,
  IRET = 3,
}

/**
 * Switch to the task whose TSS selector is `sel`; its descriptor must be in descLo/descHi.
 * For INT, `cpu.eip` holds the EIP to save; otherwise `cpu.nextEip` is saved. `code` >= 0 is
 * an exception error code to push on the new task's stack.
 */
export function taskSwitch(cpu: CPU, sel: number, source: TaskSource, code: number): void {
  const err = sel & 0xfffc;
  const lo = descLo;
  let hi = descHi;
  const ar = descAR(hi);
  const type = ar & 0x1f;
  if (sel & 4) cpu.raise(V.TS, err);
  const t32 = (type & 8) !== 0;
  if (type !== 0x1 && type !== 0x3 && type !== 0x9 && type !== 0xb) cpu.raise(V.GP, err);
  const busy = (type & 2) !== 0;
  if (source === TaskSource.IRET ? !busy : busy) cpu.raise(source === TaskSource.IRET ? V.TS : V.GP, err);
  if (!(ar & AR.P)) cpu.raise(V.NP, err);
  const nBase = descBase(lo, hi);
  const nLimit = descLimit(lo, hi);
  if (nLimit < (t32 ? 0x67 : 0x2b)) cpu.raise(V.TS, err);

  // Save the outgoing task.
  const oBase = cpu.trBase;
  const o32 = (cpu.trAR & 8) !== 0;
  const saveEip = source === TaskSource.INT ? cpu.eip : cpu.nextEip;
  let oflags = cpu.getFlags();
  if (source === TaskSource.IRET) oflags &= ~F.NT;
  const r = cpu.regs;
  if (o32) {
    cpu.wrSys32((oBase + 0x20) | 0, saveEip);
    cpu.wrSys32((oBase + 0x24) | 0, oflags);
    for (let k = 0; k < 8; k++) cpu.wrSys32((oBase + 0x28 + k * 4) | 0, r[k]);
    for (let s = 0; s < 6; s++) cpu.wrSys16((oBase + 0x48 + s * 4) | 0, cpu.segSel[s]);
  } else {
    cpu.wrSys16((oBase + 0x0e) | 0, saveEip);
    cpu.wrSys16((oBase + 0x10) | 0, oflags);
    for (let k = 0; k < 8; k++) cpu.wrSys16((oBase + 0x12 + k * 2) | 0, r[k]);
    for (let s = 0; s < 4; s++) cpu.wrSys16((oBase + 0x22 + s * 2) | 0, cpu.segSel[s]);
  }
  // Busy bits: JMP and IRET free the old task; all but IRET mark the new one busy.
  if (source === TaskSource.JMP || source === TaskSource.IRET) setBusy(cpu, cpu.trSel, false);
  // Read the incoming task's state.
  let eip: number, eflags: number, ldt: number, cr3 = 0;
  const nr = new Int32Array(8);
  const nsel = new Uint16Array(6);
  if (t32) {
    cr3 = cpu.rdSys32((nBase + 0x1c) | 0);
    eip = cpu.rdSys32((nBase + 0x20) | 0);
    eflags = cpu.rdSys32((nBase + 0x24) | 0);
    for (let k = 0; k < 8; k++) nr[k] = cpu.rdSys32((nBase + 0x28 + k * 4) | 0);
    for (let s = 0; s < 6; s++) nsel[s] = cpu.rdSys16((nBase + 0x48 + s * 4) | 0);
    ldt = cpu.rdSys16((nBase + 0x60) | 0);
  } else {
    eip = cpu.rdSys16((nBase + 0x0e) | 0);
    eflags = cpu.rdSys16((nBase + 0x10) | 0) | (cpu.getFlags() & 0xffff0000 & ~(F.VM | F.RF));
    for (let k = 0; k < 8; k++) nr[k] = cpu.rdSys16((nBase + 0x12 + k * 2) | 0);
    for (let s = 0; s < 4; s++) nsel[s] = cpu.rdSys16((nBase + 0x22 + s * 2) | 0);
    ldt = cpu.rdSys16((nBase + 0x2a) | 0);
  }
  if (source === TaskSource.CALL || source === TaskSource.INT) {
    cpu.wrSys16(nBase, cpu.trSel);
    eflags |= F.NT;
  }
  if (source !== TaskSource.IRET) {
    readDescriptor(cpu, sel);
    hi = descHi;
    setBusy(cpu, sel, true);
  }
  // Commit: TR, CR0.TS, CR3, registers, flags.
  cpu.trSel = sel;
  cpu.trBase = nBase;
  cpu.trLimit = nLimit;
  cpu.trAR = descAR(hi) | 2;
  cpu.cr0 |= 0x8; // TS
  if (t32 && cpu.cr0 & 0x80000000) cpu.setCR3(cr3);
  cpu.regs.set(nr);
  cpu.setFlags(eflags);
  cpu.eip = eip;
  cpu.nextEip = eip;
  // Selectors first (so a fault below leaves the new task's selectors visible), then descriptors.
  const vm = (eflags & F.VM) !== 0;
  for (let s = 0; s < 6; s++) {
    cpu.segSel[s] = nsel[s];
    cpu.segAR[s] = 0;
    cpu.updateFastLimit(s);
  }
  cpu.ldtrSel = ldt;
  cpu.cpl = vm ? 3 : nsel[S.CS] & 3;
  cpu.updateAccessMode();
  // LDT
  if ((ldt & 0xfffc) === 0) {
    cpu.ldtrBase = 0;
    cpu.ldtrLimit = 0;
  } else {
    if (ldt & 4 || !readDescriptor(cpu, ldt)) cpu.raise(V.TS, ldt & 0xfffc);
    const lar = descAR(descHi);
    if ((lar & 0x1f) !== 0x2) cpu.raise(V.TS, ldt & 0xfffc);
    if (!(lar & AR.P)) cpu.raise(V.TS, ldt & 0xfffc);
    cpu.ldtrBase = descBase(descLo, descHi);
    cpu.ldtrLimit = descLimit(descLo, descHi);
  }
  if (vm) {
    for (let s = 0; s < 6; s++) cpu.setSegRaw(s, nsel[s], nsel[s] << 4, 0xffff, 0xf3);
  } else {
    loadTaskSeg(cpu, S.CS, nsel[S.CS]);
    loadTaskSeg(cpu, S.SS, nsel[S.SS]);
    for (const s of [S.ES, S.DS, S.FS, S.GS]) loadTaskSeg(cpu, s, nsel[s]);
  }
  cpu.updateAccessMode();
  if ((eip >>> 0) > cpu.segLimit[S.CS]) cpu.raise(V.GP, 0);
  if (code >= 0) cpu.push(code, t32);
  cpu.leaveBlock = true;
}

function setBusy(cpu: CPU, sel: number, on: boolean): void {
  const addr = descriptorAddress(cpu, sel);
  if (addr < 0) return;
  const b = cpu.rdSys8((addr + 5) | 0);
  cpu.wrSys8((addr + 5) | 0, on ? b | 2 : b & ~2);
}

/** Segment loads during a task switch: faults are #TS with the selector (SDM §7.3 step 12). */
function loadTaskSeg(cpu: CPU, s: number, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0) {
    if (s === S.CS || s === S.SS) cpu.raise(V.TS, 0);
    cpu.setSegRaw(s, sel, 0, 0, 0);
    return;
  }
  if (!readDescriptor(cpu, sel)) cpu.raise(V.TS, err);
  const ar = descAR(descHi);
  const dpl = (ar >> 5) & 3;
  const rpl = sel & 3;
  if (!(ar & AR.S)) cpu.raise(V.TS, err);
  if (s === S.CS) {
    if (!(ar & AR.CODE)) cpu.raise(V.TS, err);
    if (ar & AR.DC ? dpl > rpl : dpl !== rpl) cpu.raise(V.TS, err);
    if (!(ar & AR.P)) cpu.raise(V.NP, err);
  } else if (s === S.SS) {
    if (ar & AR.CODE || !(ar & AR.RW) || dpl !== cpu.cpl || rpl !== cpu.cpl) cpu.raise(V.TS, err);
    if (!(ar & AR.P)) cpu.raise(V.SS, err);
  } else {
    if (ar & AR.CODE && !(ar & AR.RW)) cpu.raise(V.TS, err);
    const conforming = (ar & (AR.CODE | AR.DC)) === (AR.CODE | AR.DC);
    if (!conforming && (rpl > dpl || cpu.cpl > dpl)) cpu.raise(V.TS, err);
    if (!(ar & AR.P)) cpu.raise(V.NP, err);
  }
  cpu.setSegRaw(s, sel, descBase(descLo, descHi), descLimit(descLo, descHi), ar);
}
