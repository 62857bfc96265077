// The common part of a PCI function (PCI Local Bus Specification 3.0, ch. 6): a 256-byte
// configuration space with the standard type-0 header, read-only/writable masks, BAR sizing
// (the guest writes all ones and reads back the size mask), and the command register's I/O
// and memory enables. When a BAR's decoded address changes, `barMapped` tells the device so
// it can (un)register its ports or MMIO range. The host bridge (i440fx.ts) owns the bus and
// configuration mechanism #1; functions are plugged in by the machine file.

export const enum PciCommand {
  IO = 0x1,
  MEMORY = 0x2,
  BUS_MASTER = 0x4,
  INTX_DISABLE = 0x400,
}

export interface BarSpec {
  /** Size in bytes (power of two; I/O BARs at least 4, memory BARs at least 16). */
  size: number;
  io: boolean;
  prefetchable?: boolean;
}

export interface PciFunctionIds {
  vendor: number;
  device: number;
  classCode: number; // 24 bits: class, subclass, prog-if
  revision?: number;
  subsystemVendor?: number;
  subsystem?: number;
  headerType?: number;
  /** Interrupt pin: 1 = INTA# ... 4 = INTD#, 0 = none. */
  interruptPin?: number;
}

export abstract class PciDevice {
  readonly config = new Uint8Array(256);
  /** Bits the guest may write, per byte of configuration space. */
  protected readonly writeMask = new Uint8Array(256);
  readonly bars: (BarSpec | null)[] = [null, null, null, null, null, null];
  /** Address each BAR currently decodes at (-1: not decoded). */
  readonly barAddress = [-1, -1, -1, -1, -1, -1];

  constructor(
    /** bus << 8 | device << 3 | function */
    readonly bdf: number,
    ids: PciFunctionIds,
  ) {
    this.w16(0x00, ids.vendor);
    this.w16(0x02, ids.device);
    this.config[0x08] = ids.revision ?? 0;
    this.config[0x09] = ids.classCode & 0xff;
    this.config[0x0a] = (ids.classCode >> 8) & 0xff;
    this.config[0x0b] = (ids.classCode >> 16) & 0xff;
    this.config[0x0e] = ids.headerType ?? 0;
    this.w16(0x2c, ids.subsystemVendor ?? 0);
    this.w16(0x2e, ids.subsystem ?? 0);
    this.config[0x3d] = ids.interruptPin ?? 0;
    this.writeMask[0x04] = 0x07; // command: I/O, memory, bus master
    this.writeMask[0x05] = 0x04; // INTx disable
    this.writeMask[0x0c] = 0xff; // cache line size
    this.writeMask[0x0d] = 0xff; // latency timer
    this.writeMask[0x3c] = 0xff; // interrupt line
  }

  /** Declare BAR n (call in the constructor). */
  protected defineBar(n: number, spec: BarSpec): void {
    this.bars[n] = spec;
    const low = spec.io ? 1 : spec.prefetchable ? 8 : 0;
    this.w32(0x10 + n * 4, low);
  }

  /** Called when BAR n starts or stops decoding at an address (-1: unmapped). */
  protected abstract barMapped(n: number, address: number, old: number): void;

  readConfig(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.config[(offset + k) & 0xff] << (8 * k);
    return size === 4 ? v | 0 : v;
  }

  writeConfig(offset: number, value: number, size: 1 | 2 | 4): void {
    for (let k = 0; k < size; k++) {
      const o = (offset + k) & 0xff;
      const b = (value >>> (8 * k)) & 0xff;
      if (o >= 0x10 && o < 0x28) {
        this.writeBarByte(o, b);
        continue;
      }
      if (o === 0x06 || o === 0x07) {
        // status: write 1 to clear the error bits
        this.config[o] &= ~(b & (o === 0x07 ? 0xf9 : 0));
        continue;
      }
      const m = this.writeMask[o];
      this.config[o] = (this.config[o] & ~m) | (b & m);
    }
    this.configWritten(offset, size);
    this.updateMappings();
  }

  /** Hook for device-specific registers (after the write landed in `config`). */
  protected configWritten(_offset: number, _size: number): void {}

  private writeBarByte(o: number, b: number): void {
    const n = (o - 0x10) >> 2;
    const spec = this.bars[n];
    if (!spec) return;
    const byteInBar = o & 3;
    const sizeMask = ~(spec.size - 1);
    const low = spec.io ? 1 : spec.prefetchable ? 8 : 0;
    const keepLow = spec.io ? 0x3 : 0xf;
    let mask = (sizeMask >>> (8 * byteInBar)) & 0xff;
    if (byteInBar === 0) mask &= ~keepLow;
    this.config[o] = (this.config[o] & ~mask) | (b & mask);
    if (byteInBar === 0) this.config[o] = (this.config[o] & ~keepLow) | low;
  }

  /** Recompute which BARs decode where, after a command or BAR change. */
  updateMappings(): void {
    const cmd = this.config[0x04];
    for (let n = 0; n < 6; n++) {
      const spec = this.bars[n];
      if (!spec) continue;
      const raw = this.readConfig(0x10 + n * 4, 4);
      const enabled = spec.io ? cmd & PciCommand.IO : cmd & PciCommand.MEMORY;
      let addr = spec.io ? raw & 0xfffc : (raw & ~0xf) >>> 0;
      if (!enabled || addr === 0 || (spec.io && addr + spec.size > 0x10000)) addr = -1;
      if (addr !== this.barAddress[n]) {
        const old = this.barAddress[n];
        this.barAddress[n] = addr;
        this.barMapped(n, addr, old);
      }
    }
  }

  get busMaster(): boolean {
    return (this.config[0x04] & PciCommand.BUS_MASTER) !== 0;
  }

  protected w16(o: number, v: number): void {
    this.config[o] = v & 0xff;
    this.config[o + 1] = (v >> 8) & 0xff;
  }
  protected w32(o: number, v: number): void {
    this.w16(o, v & 0xffff);
    this.w16(o + 2, (v >>> 16) & 0xffff);
  }

  savePci(): { config: Uint8Array } {
    return { config: this.config.slice() };
  }

  loadPci(s: { config: Uint8Array }): void {
    this.config.set(s.config);
    this.updateMappings();
  }
}
