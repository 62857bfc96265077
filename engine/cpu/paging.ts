// The page walk (SDM vol. 3 ch. 4): 32-bit paging with 4 KiB and 4 MiB (PSE) pages, and
// PAE paging with 4 KiB and 2 MiB pages. Sets accessed/dirty bits, honours CR0.WP and
// global pages (CR4.PGE), raises #PF with CR2 and the error code. The result is a TLB entry.
//
// Leaves out: physical addresses above 4 GiB (PAE entries' high bits are ignored), NX
// (P6 has no EFER.NXE), reserved-bit faults, PCD/PWT (caching has no effect here).

import type { CPU } from './cpu.ts';
import { TLB } from './cpu.ts';
import { CR0, CR4, V } from './constants.ts';

const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80, G = 0x100;

function pageFault(cpu: CPU, lin: number, present: boolean, write: boolean, user: number): never {
  cpu.cr2 = lin;
  cpu.raise(V.PF, (present ? 1 : 0) | (write ? 2 : 0) | (user ? 4 : 0));
}

export function pageWalk(cpu: CPU, lin: number, write: boolean, user: number): number {
  const mem = cpu.mem;
  const a20 = mem.a20Mask;
  let physPage: number;
  let flags: number; // combined RW/US of every level
  let leaf: number;
  let leafAddr: number;
  let upperAddr = -1;
  let upper = 0;
  if (cpu.cr4 & CR4.PAE) {
    const pdpteAddr = ((cpu.cr3 & ~0x1f) + ((lin >>> 30) << 3)) & a20;
    const pdpte = mem.read32(pdpteAddr);
    if (!(pdpte & P)) pageFault(cpu, lin, false, write, user);
    const pdeAddr = ((pdpte & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) & a20;
    const pde = mem.read32(pdeAddr);
    if (!(pde & P)) pageFault(cpu, lin, false, write, user);
    if (pde & PS) {
      leaf = pde;
      leafAddr = pdeAddr;
      flags = pde;
      physPage = (pde & 0xffe00000) | (lin & 0x1ff000);
    } else {
      const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3)) & a20;
      const pte = mem.read32(pteAddr);
      if (!(pte & P)) pageFault(cpu, lin, false, write, user);
      upper = pde;
      upperAddr = pdeAddr;
      leaf = pte;
      leafAddr = pteAddr;
      flags = pde & pte;
      physPage = pte & ~0xfff;
    }
  } else {
    const pdeAddr = ((cpu.cr3 & ~0xfff) + ((lin >>> 22) << 2)) & a20;
    const pde = mem.read32(pdeAddr);
    if (!(pde & P)) pageFault(cpu, lin, false, write, user);
    if (pde & PS && cpu.cr4 & CR4.PSE) {
      leaf = pde;
      leafAddr = pdeAddr;
      flags = pde;
      physPage = (pde & 0xffc00000) | (lin & 0x3ff000);
    } else {
      const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) & a20;
      const pte = mem.read32(pteAddr);
      if (!(pte & P)) pageFault(cpu, lin, false, write, user);
      upper = pde;
      upperAddr = pdeAddr;
      leaf = pte;
      leafAddr = pteAddr;
      flags = pde & pte;
      physPage = pte & ~0xfff;
    }
  }
  const userOk = (flags & US) !== 0;
  const writable = (flags & RW) !== 0;
  const wp = (cpu.cr0 & CR0.WP) !== 0;
  if (user && !userOk) pageFault(cpu, lin, true, write, user);
  if (write && ((user && !writable) || (!user && !writable && wp))) pageFault(cpu, lin, true, write, user);
  // Accessed bits on every level; dirty on the leaf for a write.
  if (upperAddr >= 0 && !(upper & A)) mem.write32(upperAddr, upper | A);
  let nl = leaf | A;
  if (write) nl |= D;
  if (nl !== leaf) mem.write32(leafAddr, nl);
  let e = ((physPage & a20) | TLB.SUP_READ) | 0;
  if (userOk) e |= TLB.USER_READ;
  if (nl & D) {
    if (writable || !wp) e |= TLB.SUP_WRITE;
    if (userOk && writable) e |= TLB.USER_WRITE;
  }
  if (nl & G && cpu.cr4 & CR4.PGE) e |= TLB.GLOBAL;
  return e;
}
