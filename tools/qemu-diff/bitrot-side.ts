// bitrot's side of the comparison: a bare machine whose CPU and RAM are loaded from QEMU's
// state, side-effect-free reads of its linear memory (no accessed/dirty bits, no #PF), and
// the register snapshot that is compared with QEMU's after every instruction.

import { createBareMachine } from '../../engine/bare.ts';
import type { Machine } from '../../engine/machine.ts';
import type { CoreRegs, MonitorState } from './qemu.ts';

export const CR0_PE = 0x1;
const CR0_PG = 0x80000000;
const CR4_PSE = 0x10;
const CR4_PAE = 0x20;
export const EFLAGS_VM = 0x20000;

/** The compared registers, in the same shape as QEMU's `g` packet gives them. */
export function bitrotCore(m: Machine): CoreRegs {
  const c = m.cpu;
  return {
    gpr: Array.from(c.regs, (v) => v >>> 0),
    eip: c.eip >>> 0,
    eflags: c.getFlags() >>> 0,
    sel: Array.from(c.segSel),
    cr: [c.cr0 >>> 0, c.cr2 >>> 0, c.cr3 >>> 0, c.cr4 >>> 0],
    fsBase: c.segBase[4] >>> 0,
    gsBase: c.segBase[5] >>> 0,
  };
}

export function newMachine(ramSize: number): Machine {
  return createBareMachine({ ramSize, noReboot: true });
}

/** Segment attributes as bitrot keeps them, from QEMU's descriptor flags (bits 8-23 of the high dword). */
export function arFromQemuFlags(flags: number): number {
  return (flags >>> 8) & 0xf0ff;
}

/** Load bitrot's CPU from QEMU's registers and monitor state. */
export function loadCpu(m: Machine, core: CoreRegs, mon: MonitorState): void {
  const cpu = m.cpu;
  const s = cpu.save();
  s.regs = Int32Array.from(core.gpr, (v) => v | 0);
  s.eip = core.eip;
  s.flags = core.eflags;
  s.segSel = Uint16Array.from(mon.segs, (g) => g.sel);
  s.segBase = Int32Array.from(mon.segs, (g) => g.base | 0);
  s.segLimit = Float64Array.from(mon.segs, (g) => g.limit >>> 0);
  s.segAR = Uint16Array.from(mon.segs, (g) => arFromQemuFlags(g.flags));
  s.cr = [mon.cr[0] | 0, mon.cr[1] | 0, mon.cr[2] | 0, mon.cr[3] | 0];
  s.dr = mon.dr.map((v) => v | 0);
  s.gdtr = [mon.gdt.base | 0, mon.gdt.limit];
  s.idtr = [mon.idt.base | 0, mon.idt.limit];
  s.ldtr = [mon.ldtr.sel, mon.ldtr.base | 0, mon.ldtr.limit >>> 0];
  s.tr = [mon.tr.sel, mon.tr.base | 0, mon.tr.limit >>> 0, arFromQemuFlags(mon.tr.flags)];
  s.cpl = mon.cpl;
  s.halted = mon.halted;
  s.irqShadowEnd = 0;
  s.nmiPending = false;
  cpu.load(s);
  setA20(m, mon.a20 !== 0);
}

export function setA20(m: Machine, open: boolean): void {
  const mask = open ? -1 : ~(1 << 20);
  if (m.mem.a20Mask !== mask) {
    m.mem.a20Mask = mask;
    m.cpu.a20Changed();
  }
}

/** Physical address of a linear one under bitrot's current paging mode, without side effects; -1 if not present. */
export function linearToPhysical(m: Machine, lin: number): number {
  const cpu = m.cpu;
  const mem = m.mem;
  const a20 = mem.a20Mask;
  lin >>>= 0;
  if (!(cpu.cr0 & CR0_PG)) return (lin & a20) >>> 0;
  const rd = (a: number): number => mem.read32((a & a20) >>> 0);
  if (cpu.cr4 & CR4_PAE) {
    const pdpte = rd((cpu.cr3 & ~0x1f) + ((lin >>> 30) << 3));
    if (!(pdpte & 1)) return -1;
    const pde = rd((pdpte & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3));
    if (!(pde & 1)) return -1;
    if (pde & 0x80) return (((pde & 0xffe00000) | (lin & 0x1fffff)) & a20) >>> 0;
    const pte = rd((pde & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3));
    if (!(pte & 1)) return -1;
    return (((pte & ~0xfff) | (lin & 0xfff)) & a20) >>> 0;
  }
  const pde = rd((cpu.cr3 & ~0xfff) + ((lin >>> 22) << 2));
  if (!(pde & 1)) return -1;
  if (pde & 0x80 && cpu.cr4 & CR4_PSE) return (((pde & 0xffc00000) | (lin & 0x3fffff)) & a20) >>> 0;
  const pte = rd((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2));
  if (!(pte & 1)) return -1;
  return (((pte & ~0xfff) | (lin & 0xfff)) & a20) >>> 0;
}

/** `n` bytes of linear memory as bitrot sees them (absent pages read as 0). */
export function readLinear(m: Machine, lin: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = linearToPhysical(m, (lin + i) >>> 0);
    out[i] = p < 0 ? 0 : m.mem.read8(p);
  }
  return out;
}
