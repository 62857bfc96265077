// Guest memory as the debugger sees it: linear addresses translated through the current
// paging mode without side effects (no accessed/dirty bits, no TLB fill, no #PF), physical
// addresses read from the backing store (VGA's window through the VGA, its latches kept),
// and descriptor lookups for `monitor linear`.

import type { Machine } from '../engine/machine.ts';
import { PageBits } from '../engine/memory.ts';
import { CR0, CR4 } from '../engine/cpu/constants.ts';
import type { DebugDevices } from './target.ts';

/** Read a physical dword with no side effects (MMIO and holes read as 0). */
function phys32(m: Machine, addr: number): number {
  const mem = m.mem;
  let v = 0;
  for (let i = 3; i >= 0; i--) {
    const a = (addr + i) >>> 0;
    const e = mem.pageMap[a >>> 12];
    const b = e & (PageBits.MMIO | PageBits.UNMAPPED) ? 0 : mem.backing[(e & ~0xfff) | (a & 0xfff)];
    v = (v << 8) | b;
  }
  return v >>> 0;
}

export interface Translation {
  phys: number;
  writable: boolean;
  user: boolean;
}

/** The physical address of linear `lin` under the current paging, or null when unmapped. */
export function translate(m: Machine, lin: number): Translation | null {
  const cpu = m.cpu;
  const a20 = m.mem.a20Mask;
  lin >>>= 0;
  if (!(cpu.cr0 & CR0.PG)) return { phys: (lin & a20) >>> 0, writable: true, user: true };
  if (cpu.cr4 & CR4.PAE) {
    const pdpte = phys32(m, ((cpu.cr3 & ~0x1f) + ((lin >>> 30) << 3)) & a20);
    if (!(pdpte & 1)) return null;
    const pde = phys32(m, ((pdpte & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) & a20);
    if (!(pde & 1)) return null;
    if (pde & 0x80) return { phys: (((pde & 0xffe00000) | (lin & 0x1fffff)) & a20) >>> 0, writable: (pde & 2) !== 0, user: (pde & 4) !== 0 };
    const pte = phys32(m, ((pde & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3)) & a20);
    if (!(pte & 1)) return null;
    return { phys: (((pte & ~0xfff) | (lin & 0xfff)) & a20) >>> 0, writable: (pde & pte & 2) !== 0, user: (pde & pte & 4) !== 0 };
  }
  const pde = phys32(m, ((cpu.cr3 & ~0xfff) + ((lin >>> 22) << 2)) & a20);
  if (!(pde & 1)) return null;
  if (pde & 0x80 && cpu.cr4 & CR4.PSE) return { phys: (((pde & 0xffc00000) | (lin & 0x3fffff)) & a20) >>> 0, writable: (pde & 2) !== 0, user: (pde & 4) !== 0 };
  const pte = phys32(m, ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) & a20);
  if (!(pte & 1)) return null;
  return { phys: (((pte & ~0xfff) | (lin & 0xfff)) & a20) >>> 0, writable: (pde & pte & 2) !== 0, user: (pde & pte & 4) !== 0 };
}

const VGA_LO = 0xa0000;
const VGA_HI = 0xc0000;

/** Read physical memory without side effects; null for bytes nothing backs. */
export function readPhysical(m: Machine, devices: DebugDevices, addr: number, len: number): Uint8Array | null {
  const mem = m.mem;
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const a = (addr + i) >>> 0;
    const e = mem.pageMap[a >>> 12];
    if (e & PageBits.MMIO) {
      if (devices !== null && a >= VGA_LO && a < VGA_HI) {
        const vga = devices.vga;
        const latch = vga.latch;
        out[i] = vga.readWindow(a);
        vga.latch = latch;
        continue;
      }
      if (i === 0) return null;
      return out.subarray(0, i);
    }
    if (e & PageBits.UNMAPPED) {
      if (i === 0) return null;
      return out.subarray(0, i);
    }
    out[i] = mem.backing[(e & ~0xfff) | (a & 0xfff)];
  }
  return out;
}

/**
 * Read `len` bytes at `addr` (linear through paging, or physical): the readable prefix, or
 * null when not even the first byte is.
 */
export function readMemory(m: Machine, devices: DebugDevices, addr: number, len: number, physical: boolean): Uint8Array | null {
  if (physical) return readPhysical(m, devices, addr, len);
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const lin = (addr + done) >>> 0;
    const t = translate(m, lin);
    if (t === null) break;
    const n = Math.min(len - done, 0x1000 - (lin & 0xfff));
    const part = readPhysical(m, devices, t.phys, n);
    if (part === null) break;
    out.set(part, done);
    done += part.length;
    if (part.length < n) break;
  }
  if (done === 0 && len > 0) return null;
  return out.subarray(0, done);
}

/**
 * Physical addresses of `len` bytes at `addr` for a write, page by page; null when a page
 * is not mapped (nothing is written then).
 */
export function physicalSpans(m: Machine, addr: number, len: number, physical: boolean): { phys: number; len: number }[] | null {
  const spans: { phys: number; len: number }[] = [];
  let done = 0;
  while (done < len) {
    const a = (addr + done) >>> 0;
    const n = Math.min(len - done, 0x1000 - (a & 0xfff));
    let p: number;
    if (physical) p = a;
    else {
      const t = translate(m, a);
      if (t === null) return null;
      p = t.phys;
    }
    const e = m.mem.pageMap[p >>> 12];
    if (e & PageBits.UNMAPPED) return null;
    spans.push({ phys: p, len: n });
    done += n;
  }
  return spans;
}

/**
 * Write bytes to physical memory as the debugger (a door input handler calls this): RAM
 * and ROM directly, MMIO through its device. Watchpoints do not see it; decoded code is
 * dropped.
 */
export function writePhysical(m: Machine, addr: number, bytes: Uint8Array): void {
  const mem = m.mem;
  mem.watchQuiet++;
  try {
    for (let i = 0; i < bytes.length; i++) {
      const a = (addr + i) >>> 0;
      const e = mem.pageMap[a >>> 12];
      if (e & PageBits.MMIO) mem.write8(a, bytes[i]);
      else if (!(e & PageBits.UNMAPPED)) mem.load(a, bytes.subarray(i, i + 1));
    }
  } finally {
    mem.watchQuiet--;
  }
  m.cpu.flushBlocks();
}

export interface Descriptor {
  base: number;
  limit: number;
  /** Access rights as the CPU keeps them (type, S, DPL, P in bits 0-7; AVL, L, D/B, G in 12-15). */
  ar: number;
}

/** The descriptor a selector names in the current GDT or LDT, or an error message. */
export function readDescriptor(m: Machine, sel: number): Descriptor | string {
  const cpu = m.cpu;
  const ti = (sel & 4) !== 0;
  const tableBase = ti ? cpu.ldtrBase : cpu.gdtrBase;
  const tableLimit = ti ? cpu.ldtrLimit : cpu.gdtrLimit;
  const index = sel & ~7;
  if (!ti && index === 0) return `selector ${hex16(sel)} is the null selector`;
  if (index + 7 > tableLimit) return `selector ${hex16(sel)} is beyond the ${ti ? 'LDT' : 'GDT'} limit (${hex16(tableLimit)})`;
  const raw = readMemory(m, null, (tableBase + index) >>> 0, 8, false);
  if (raw === null || raw.length < 8) return `the ${ti ? 'LDT' : 'GDT'} entry of selector ${hex16(sel)} is not mapped`;
  const lo = raw[0] | (raw[1] << 8) | (raw[2] << 16) | (raw[3] << 24);
  const hi = raw[4] | (raw[5] << 8) | (raw[6] << 16) | (raw[7] << 24);
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if (hi & 0x800000) limit = ((limit << 12) | 0xfff) >>> 0;
  return { base, limit, ar: (hi >>> 8) & 0xf0ff };
}

/** `seg:off` to a linear address in the current mode: [linear, how it was computed]. */
export function segmentToLinear(m: Machine, seg: number, off: number): [number, string] | string {
  const cpu = m.cpu;
  if (!cpu.pe || cpu.getFlags() & 0x20000) return [((seg << 4) + off) >>> 0, `real-mode segment: ${hex16(seg)} * 16 + ${hex32(off)}`];
  const d = readDescriptor(m, seg);
  if (typeof d === 'string') return d;
  if (!(d.ar & 0x80)) return `selector ${hex16(seg)} names a descriptor that is not present`;
  return [(d.base + off) >>> 0, `descriptor base ${hex32(d.base)}, limit ${hex32(d.limit)}`];
}

export function hex16(v: number): string {
  return '0x' + (v & 0xffff).toString(16).padStart(4, '0');
}

export function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

