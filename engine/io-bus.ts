// The x86 I/O port space (64 Ki byte ports). Devices register handlers for port ranges in
// one place (the machine file). Unclaimed ports read as all ones and ignore writes, as on a
// PC's ISA bus. Wider accesses to a device without a wide handler are split into bytes.

import type { IoBus } from './cpu/cpu.ts';

export interface PortHandler {
  read8?(port: number): number;
  write8?(port: number, v: number): void;
  read16?(port: number): number;
  write16?(port: number, v: number): void;
  read32?(port: number): number;
  write32?(port: number, v: number): void;
}

const NONE: PortHandler = {};

export class PortBus implements IoBus {
  private readonly handlers: PortHandler[] = new Array<PortHandler>(0x10000).fill(NONE);

  register(port: number, count: number, h: PortHandler): void {
    for (let p = port; p < port + count; p++) {
      if (this.handlers[p] !== NONE) throw new Error(`port bus: port 0x${p.toString(16)} claimed twice`);
      this.handlers[p] = h;
    }
  }

  /** Release ports (PCI BARs move when the guest reprograms them). */
  unregister(port: number, count: number, h: PortHandler): void {
    for (let p = port; p < port + count; p++) if (this.handlers[p] === h) this.handlers[p] = NONE;
  }

  /** Register, replacing whatever held the ports (used for PCI BAR mapping). */
  claim(port: number, count: number, h: PortHandler): void {
    for (let p = port; p < port + count; p++) this.handlers[p] = h;
  }

  in8(port: number): number {
    const h = this.handlers[port & 0xffff];
    return h.read8 ? h.read8(port & 0xffff) & 0xff : 0xff;
  }
  in16(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h.read16) return h.read16(port & 0xffff) & 0xffff;
    return this.in8(port) | (this.in8(port + 1) << 8);
  }
  in32(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h.read32) return h.read32(port & 0xffff) | 0;
    return this.in16(port) | (this.in16(port + 2) << 16);
  }
  out8(port: number, v: number): void {
    const h = this.handlers[port & 0xffff];
    if (h.write8) h.write8(port & 0xffff, v & 0xff);
  }
  out16(port: number, v: number): void {
    const h = this.handlers[port & 0xffff];
    if (h.write16) return h.write16(port & 0xffff, v & 0xffff);
    this.out8(port, v);
    this.out8(port + 1, v >> 8);
  }
  out32(port: number, v: number): void {
    const h = this.handlers[port & 0xffff];
    if (h.write32) return h.write32(port & 0xffff, v | 0);
    this.out16(port, v);
    this.out16(port + 2, v >>> 16);
  }
}
