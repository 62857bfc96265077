// Intel 82441FX PCI and Memory Controller (PMC), the host bridge of the 440FX chipset
// (82441FX PMC datasheet, order 290549), as QEMU's `pc` machine presents it at 00:00.0:
// 8086:1237 rev 02, class 0600, subsystem 1AF4:1100 (SeaBIOS only trusts fw_cfg on a board
// with that subsystem ID, paravirt.c qemu_detect).
//   - PCI configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): CONFADD at 0xCF8 (dword accesses
//     only) and CONFDATA at 0xCFC-0xCFF (byte, word, dword). Type-0 cycles on bus 0 go to the
//     functions the machine plugs in; absent functions and every other bus read all ones.
//   - PAM0-PAM6 (0x59-0x5F, datasheet §3.2.17): thirteen shadow segments between 0xC0000
//     and 0xFFFFF (twelve of 16 KiB, 0xF0000 of 64 KiB). RE=0 reads go to PCI, i.e. to the
//     BIOS image's ISA alias or an option-ROM area the machine declared (nothing: all ones);
//     WE=0 writes go to PCI and are lost. Read-only, read/write and disabled segments are
//     plain page-map entries; write-only (read ROM, write RAM) pages take the MMIO slow path.
//   - The BIOS flash at the top of 4 GiB, its last 128 KiB aliased below 1 MiB (the alias
//     is what PAM switches away from; the image's backing copy is never written).
//   - SMRAM (0x72, §3.2.21): the register, C_BASE_SEG fixed at 010b, and the D_LCK lock.
// Leaves out: SMM itself (D_OPEN/G_SMRAME do not remap 0xA0000-0xBFFFF), the DRAM
// controller (DRB/DRT/DRAMC hold whatever is written), error reporting, caching and
// turbo controls, and buses behind PCI-to-PCI bridges.

import type { Device, DeviceContext } from './device.ts';
import { PciDevice } from './pci-device.ts';
import type { PhysicalMemory, MmioHandler } from '../memory.ts';
import type { PortHandler } from '../io-bus.ts';

/** PAM0, the first Programmable Attribute Map register. */
export const I440FX_PAM0 = 0x59;
/** SMRAM control register. */
export const I440FX_SMRAM = 0x72;

const SMRAM_D_OPEN = 0x40;
const SMRAM_D_CLS = 0x20;
const SMRAM_D_LCK = 0x10;
const SMRAM_G_SMRAME = 0x08;
const SMRAM_C_BASE_SEG = 0x02;

/** Shadow window: 0xC0000-0xFFFFF, 64 pages. */
const SHADOW_BASE = 0xc0000;
const SHADOW_PAGES = 64;
/** The ISA alias of the BIOS covers at most its last 128 KiB (0xE0000-0xFFFFF). */
const ISA_BIOS_MAX = 128 * 1024;

/** Attribute of one PAM segment: bit 0 RE (reads from DRAM), bit 1 WE (writes to DRAM). */
const RE = 1;
const WE = 2;

/** The 13 PAM segments: [base, size, config register, bit shift of its RE/WE pair]. */
const SEGMENTS: readonly (readonly [number, number, number, number])[] = [
  [0xf0000, 0x10000, 0x59, 4],
  ...Array.from({ length: 12 }, (_, i) => [0xc0000 + i * 0x4000, 0x4000, 0x5a + (i >> 1), (i & 1) * 4] as const),
];

export interface I440fxOptions {
  /** The BIOS image: its backing offset (from `mem.addRom`) and size (a multiple of 4 KiB). */
  bios?: { offset: number; size: number };
}

export interface I440fxState {
  config: Uint8Array;
  configAddress: number;
}

export class I440fx extends PciDevice implements Device {
  readonly name = 'i440fx';
  /** CONFADD: bit 31 enable, 23:16 bus, 15:11 device, 10:8 function, 7:2 register. */
  configAddress = 0;
  /** Bus 0 functions by devfn (the host bridge itself is devfn 0). */
  private readonly functions: (PciDevice | undefined)[] = new Array<PciDevice | undefined>(256);
  private readonly mem: PhysicalMemory;
  private readonly ctx: DeviceContext;
  private readonly bios: { offset: number; size: number } | undefined;
  /** What PCI answers for reads of each shadow page: a backing offset, or -1 (nothing). */
  private readonly pciRom = new Int32Array(SHADOW_PAGES).fill(-1);
  /** Attribute currently mapped per segment (-1: not yet mapped). Derived, not saved. */
  private readonly applied = new Int8Array(SEGMENTS.length).fill(-1);
  private readonly powerOn: Uint8Array;
  /** Reads ROM (PCI), writes RAM: the write-only PAM setting. */
  private readonly writeOnly: MmioHandler;

  constructor(ctx: DeviceContext, opts: I440fxOptions = {}) {
    super(0, {
      vendor: 0x8086,
      device: 0x1237,
      revision: 0x02,
      classCode: 0x060000,
      subsystemVendor: 0x1af4,
      subsystem: 0x1100,
    });
    this.ctx = ctx;
    this.mem = ctx.mem;
    this.bios = opts.bios;
    this.w16(0x04, 0x0006); // PCICMD: memory and bus master (datasheet default)
    this.w16(0x06, 0x0280); // PCISTS: fast back-to-back, DEVSEL medium
    // Device-specific registers are read/write, PAM and SMRAM with their reserved bits fixed.
    for (let o = 0x40; o < 0x100; o++) this.writeMask[o] = 0xff;
    this.writeMask[I440FX_PAM0] = 0x30;
    for (let o = I440FX_PAM0 + 1; o <= I440FX_PAM0 + 6; o++) this.writeMask[o] = 0x33;
    this.config[I440FX_SMRAM] = SMRAM_C_BASE_SEG;
    this.writeMask[I440FX_SMRAM] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME;
    this.powerOn = this.config.slice();
    this.functions[0] = this;

    if (this.bios) {
      const { offset, size } = this.bios;
      if (size <= 0 || size % 4096 !== 0) throw new Error('i440fx: the BIOS image size must be a non-zero multiple of 4 KiB');
      const isa = Math.min(size, ISA_BIOS_MAX);
      this.setPciRom(0x100000 - isa, offset + size - isa, isa);
    }

    const mem = this.mem;
    const pciRom = this.pciRom;
    const romByte = (addr: number): number => {
      const off = pciRom[((addr >>> 12) - (SHADOW_BASE >>> 12)) & 63];
      return off < 0 ? 0xff : mem.backing[off + (addr & 0xfff)];
    };
    this.writeOnly = {
      read8: romByte,
      write8: (addr, v) => {
        if (addr >= mem.ramSize) return;
        mem.backing[addr] = v;
        mem.dirty[addr >>> 12] = 1;
      },
    };
  }

  /**
   * Declare what PCI answers below 1 MiB when a PAM segment reads from PCI: `size` bytes at
   * `address` (inside 0xC0000-0xFFFFF, 4 KiB aligned) come from backing offset `offset`
   * (an option-ROM area added with `mem.addRom`). Call before `attach`.
   */
  setPciRom(address: number, offset: number, size: number): void {
    if (address < SHADOW_BASE || address + size > 0x100000 || address % 4096 !== 0) {
      throw new Error(`i440fx: ROM area 0x${address.toString(16)}+0x${size.toString(16)} is not inside the PAM window`);
    }
    for (let i = 0; i < size; i += 4096) this.pciRom[(address + i - SHADOW_BASE) >>> 12] = offset + i;
    this.applied.fill(-1);
  }

  /** Plug a PCI function into bus 0 (the machine file does this, once per function). */
  addFunction(fn: PciDevice): void {
    if (fn.bdf >> 8 !== 0) throw new Error(`i440fx: function ${fmtBdf(fn.bdf)} is not on bus 0`);
    if (this.functions[fn.bdf & 0xff]) throw new Error(`i440fx: PCI slot ${fmtBdf(fn.bdf)} is taken`);
    this.functions[fn.bdf & 0xff] = fn;
  }

  /** The function at a bus/device/function number, if any. */
  getFunction(bdf: number): PciDevice | undefined {
    return bdf >> 8 === 0 ? this.functions[bdf & 0xff] : undefined;
  }

  attach(): void {
    const confAdd: PortHandler = {
      read32: () => this.configAddress,
      write32: (_p, v) => {
        this.configAddress = v & 0x80fffffc;
      },
    };
    const confData: PortHandler = {
      read8: (p) => this.dataRead(p, 1),
      read16: (p) => this.dataRead(p, 2),
      read32: (p) => this.dataRead(p, 4),
      write8: (p, v) => this.dataWrite(p, v, 1),
      write16: (p, v) => this.dataWrite(p, v, 2),
      write32: (p, v) => this.dataWrite(p, v, 4),
    };
    this.ctx.io.register(0xcf8, 1, confAdd);
    this.ctx.io.register(0xcfc, 4, confData);
    if (this.bios) this.mem.mapRom(0x100000000 - this.bios.size, this.bios.offset, this.bios.size);
    this.applyPam(true);
  }

  // ---- configuration mechanism #1 ----

  private target(): PciDevice | undefined {
    const a = this.configAddress;
    if ((a & 0x80000000) === 0 || (a & 0x00ff0000) !== 0) return undefined;
    return this.functions[(a >>> 8) & 0xff];
  }

  private dataRead(port: number, size: 1 | 2 | 4): number {
    const fn = this.target();
    if (!fn) return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    return fn.readConfig((this.configAddress & 0xfc) | (port & 3), size);
  }

  private dataWrite(port: number, v: number, size: 1 | 2 | 4): void {
    const fn = this.target();
    if (fn) fn.writeConfig((this.configAddress & 0xfc) | (port & 3), v, size);
  }

  // ---- the host bridge's own registers ----

  protected barMapped(): void {}

  protected override configWritten(offset: number, size: number): void {
    if (offset <= I440FX_SMRAM && offset + size > I440FX_SMRAM) this.smramWritten();
    if (offset < I440FX_PAM0 + 7 && offset + size > I440FX_PAM0) this.applyPam(false);
  }

  /** D_LCK (§3.2.21): once set, D_OPEN clears and only D_CLS stays writable until reset. */
  private smramWritten(): void {
    if (this.config[I440FX_SMRAM] & SMRAM_D_LCK) {
      this.config[I440FX_SMRAM] &= ~SMRAM_D_OPEN;
      this.writeMask[I440FX_SMRAM] = SMRAM_D_CLS;
    }
  }

  /** The RE/WE attribute of PAM segment `s`. */
  pamAttribute(s: number): number {
    const [, , reg, shift] = SEGMENTS[s];
    return (this.config[reg] >> shift) & 3;
  }

  /** Point the page map of every PAM segment whose attribute changed at RAM, ROM or nothing. */
  private applyPam(force: boolean): void {
    const mem = this.mem;
    for (let s = 0; s < SEGMENTS.length; s++) {
      const attr = this.pamAttribute(s);
      if (!force && this.applied[s] === attr) continue;
      this.applied[s] = attr;
      const [base, size] = SEGMENTS[s];
      for (let a = base; a < base + size; a += 4096) {
        const rom = this.pciRom[(a - SHADOW_BASE) >>> 12];
        const ram = a + 4096 <= mem.ramSize;
        const read = attr & RE && ram ? RE : 0;
        const write = attr & WE && ram ? WE : 0;
        if (read && write) mem.mapRam(a, 4096);
        else if (read) mem.mapRom(a, a, 4096); // DRAM, read-only: the RAM page's own backing
        else if (write) mem.mapMmio(a, 4096, this.writeOnly);
        else if (rom >= 0) mem.mapRom(a, rom, 4096);
        else mem.unmap(a, 4096);
      }
    }
  }

  // ---- state ----

  reset(): void {
    this.config.set(this.powerOn);
    this.writeMask[I440FX_SMRAM] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME;
    this.configAddress = 0;
    this.applyPam(false);
  }

  save(): I440fxState {
    return { config: this.config.slice(), configAddress: this.configAddress };
  }

  load(s: I440fxState): void {
    this.config.set(s.config);
    this.configAddress = s.configAddress;
    this.writeMask[I440FX_SMRAM] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME;
    this.smramWritten();
    this.applyPam(true);
  }
}

function fmtBdf(bdf: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `${h(bdf >> 8)}:${h((bdf >> 3) & 31)}.${bdf & 7}`;
}
