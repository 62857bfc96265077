// QEMU's firmware configuration device, fw_cfg (QEMU docs/specs/fw_cfg.rst), with the
// x86 I/O interface: selector at 0x510 (16-bit write), data at 0x511 (8-bit, reads past an
// item's end return 0), and the DMA interface at 0x514-0x51B (64-bit big-endian address of
// a FWCfgDmaAccess structure; a 32-bit write of the low half at 0x518 starts the transfer,
// which completes at once; reads return the signature "QEMU CFG").
// Items, as QEMU's `pc` machine provides them to SeaBIOS: SIGNATURE "QEMU", ID (traditional
// interface + DMA), UUID, RAM_SIZE, NOGRAPHIC, NB_CPUS, MAX_CPUS, NUMA (no nodes), BOOT_MENU,
// the file directory, and the x86 items ACPI_TABLES (none), IRQ0_OVERRIDE (1: ISA IRQ0 is
// IOAPIC pin 2) and E820_TABLE (no legacy reservations). Files, sorted by name as QEMU does:
// "etc/e820" (RAM from 0 to the end of RAM), "etc/boot-fail-wait", and whatever the machine
// adds ("bootorder", option ROMs under "genroms/", ...). `setKernel` fills the Linux
// direct-boot items exactly as QEMU's x86_load_linux does (addresses chosen from the boot
// protocol version, setup header patched), for linuxboot_dma.bin to load.
// Leaves out: writable items (a DMA write always sets the error bit), the MMIO variant, SMBIOS
// and ACPI table generation (SeaBIOS builds its own), multiboot and PVH kernels, and the
// legacy (pre-2.4) data-port writes, which QEMU also ignores.

import type { Device, DeviceContext } from './device.ts';
import type { PortHandler } from '../io-bus.ts';

/** Selector keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
export const enum FwCfgKey {
  SIGNATURE = 0x00,
  ID = 0x01,
  UUID = 0x02,
  RAM_SIZE = 0x03,
  NOGRAPHIC = 0x04,
  NB_CPUS = 0x05,
  MACHINE_ID = 0x06,
  KERNEL_ADDR = 0x07,
  KERNEL_SIZE = 0x08,
  KERNEL_CMDLINE = 0x09,
  INITRD_ADDR = 0x0a,
  INITRD_SIZE = 0x0b,
  BOOT_DEVICE = 0x0c,
  NUMA = 0x0d,
  BOOT_MENU = 0x0e,
  MAX_CPUS = 0x0f,
  KERNEL_ENTRY = 0x10,
  KERNEL_DATA = 0x11,
  INITRD_DATA = 0x12,
  CMDLINE_ADDR = 0x13,
  CMDLINE_SIZE = 0x14,
  CMDLINE_DATA = 0x15,
  SETUP_ADDR = 0x16,
  SETUP_SIZE = 0x17,
  SETUP_DATA = 0x18,
  FILE_DIR = 0x19,
  FILE_FIRST = 0x20,
  /** x86 items (the arch-local range starts at 0x8000). */
  ACPI_TABLES = 0x8000,
  SMBIOS_ENTRIES = 0x8001,
  IRQ0_OVERRIDE = 0x8002,
  E820_TABLE = 0x8003,
}

/** FWCfgDmaAccess.control bits. */
export const enum FwCfgDma {
  ERROR = 0x01,
  READ = 0x02,
  SKIP = 0x04,
  SELECT = 0x08,
  WRITE = 0x10,
}

/** FW_CFG_ID bits. */
const VERSION_TRADITIONAL = 1;
const VERSION_DMA = 2;
/** Bit 15 of a selector: an architecture-specific item. */
const ARCH_LOCAL = 0x8000;
/** Bit 14 of a selector (the old write channel) does not take part in item lookup. */
const ENTRY_MASK = 0x3fff;
const DMA_SIGNATURE = [0x51, 0x45, 0x4d, 0x55, 0x20, 0x43, 0x46, 0x47]; // "QEMU CFG"
/** ACPI data QEMU's pc keeps clear at the top of RAM when placing an initrd (acpi_data_size). */
const ACPI_DATA_SIZE = 0x28000;

export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface E820Entry {
  address: number;
  length: number;
  type: number;
}

export interface FwCfgOptions {
  /** Bytes of RAM; all of it lies below the PCI hole, from address 0. */
  ramSize: number;
  /** CPUs present and possible (NB_CPUS, MAX_CPUS). Default 1. */
  cpus?: number;
  /** BOOT_MENU: let SeaBIOS offer its F12 boot menu. Default false. */
  bootMenu?: boolean;
  /** NOGRAPHIC: SeaBIOS then uses the serial console. Default false. */
  noGraphic?: boolean;
  /** "etc/boot-fail-wait" in ms before rebooting when nothing boots; -1 waits forever (default). */
  bootFailWait?: number;
  /** 16-byte machine UUID (default all zeros). */
  uuid?: Uint8Array;
  /** Offer the DMA interface (default true; SeaBIOS uses it when ID says so). */
  dma?: boolean;
}

/** A Linux kernel for direct boot, split as the boot protocol describes (Documentation/x86/boot). */
export interface LinuxBoot {
  /** The real-mode part: boot sector and setup code, (setup_sects + 1) * 512 bytes. */
  setup: Uint8Array;
  /** The protected-mode part (the rest of the bzImage). */
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
  /** An option ROM that loads the kernel (QEMU's linuxboot_dma.bin): added as
   *  "genroms/<name>" and put first in "bootorder". */
  optionRom?: { name: string; data: Uint8Array };
}

export interface FwCfgState {
  selector: number;
  offset: number;
  dmaHigh: number;
  dmaLow: number;
}

export class FwCfg implements Device {
  readonly name = 'fw-cfg';
  /** The selected key, as written (bit 14 included). */
  selector = 0;
  /** Data offset within the selected item. */
  offset = 0;
  /** DMA address register, high and low halves. */
  dmaHigh = 0;
  dmaLow = 0;
  private readonly ctx: DeviceContext;
  private readonly dma: boolean;
  private readonly items = new Map<number, Uint8Array>();
  /** Files sorted by name; file i has key FILE_FIRST + i. */
  private readonly files: { name: string; data: Uint8Array }[] = [];
  private dir: Uint8Array | null = null;
  private bootOrder: string[] = [];

  constructor(ctx: DeviceContext, opts: FwCfgOptions) {
    this.ctx = ctx;
    this.dma = opts.dma ?? true;
    const cpus = opts.cpus ?? 1;
    this.setItem(FwCfgKey.SIGNATURE, ascii('QEMU'));
    this.setItem(FwCfgKey.ID, le32(VERSION_TRADITIONAL | (this.dma ? VERSION_DMA : 0)));
    this.setItem(FwCfgKey.UUID, opts.uuid ? opts.uuid.slice(0, 16) : new Uint8Array(16));
    this.setItem(FwCfgKey.RAM_SIZE, le64(opts.ramSize));
    this.setItem(FwCfgKey.NOGRAPHIC, le16(opts.noGraphic ? 1 : 0));
    this.setItem(FwCfgKey.NB_CPUS, le16(cpus));
    this.setItem(FwCfgKey.MAX_CPUS, le16(cpus));
    this.setItem(FwCfgKey.NUMA, new Uint8Array(8 * (1 + cpus))); // no nodes, one word per CPU
    this.setItem(FwCfgKey.BOOT_MENU, le16(opts.bootMenu ? 1 : 0));
    this.setItem(FwCfgKey.ACPI_TABLES, le16(0));
    this.setItem(FwCfgKey.IRQ0_OVERRIDE, le32(1));
    this.setItem(FwCfgKey.E820_TABLE, le32(0));
    this.setFile('etc/e820', encodeE820([{ address: 0, length: opts.ramSize, type: E820_RAM }]));
    this.setFile('etc/boot-fail-wait', le32(opts.bootFailWait ?? -1));
  }

  attach(): void {
    const data = (): number => this.readData();
    const io: PortHandler = {
      read8: data,
      write8: () => {}, // data writes: ignored since QEMU 2.4
      write16: (_p, v) => this.select(v),
    };
    const sig = (i: number): number => DMA_SIGNATURE[i] ?? 0;
    const dma: PortHandler = {
      read8: (p) => sig(p - 0x514),
      read16: (p) => sig(p - 0x514) | (sig(p - 0x513) << 8),
      read32: (p) => sig(p - 0x514) | (sig(p - 0x513) << 8) | (sig(p - 0x512) << 16) | (sig(p - 0x511) << 24),
      write32: (p, v) => {
        if (p === 0x514) this.dmaHigh = bswap32(v);
        else if (p === 0x518) {
          this.dmaLow = bswap32(v);
          this.transfer();
        }
      },
    };
    this.ctx.io.register(0x510, 2, io);
    if (this.dma) this.ctx.io.register(0x514, 8, dma);
  }

  // ---- configuration (machine set-up; items are configuration, not state) ----

  /** Set a numbered item (keys below FILE_FIRST, or arch-local ones). */
  setItem(key: number, data: Uint8Array): void {
    this.items.set(key & 0xffff & ~0x4000, data);
  }

  /** Add a named file, or replace its contents. Keys follow the sorted order of names. */
  setFile(name: string, data: Uint8Array): void {
    if (name.length === 0 || name.length > 55) throw new Error(`fw_cfg: file name '${name}' must be 1-55 characters`);
    const i = this.files.findIndex((f) => f.name === name);
    if (i >= 0) this.files[i].data = data;
    else {
      let at = this.files.length;
      while (at > 0 && name < this.files[at - 1].name) at--;
      this.files.splice(at, 0, { name, data });
    }
    this.dir = null;
  }

  /** The boot order SeaBIOS follows ("bootorder": one device path per line). */
  setBootOrder(paths: string[]): void {
    this.bootOrder = paths.slice();
    // QEMU's list: paths joined by '\n', NUL-terminated.
    this.setFile('bootorder', ascii(paths.join('\n') + '\0'));
  }

  /** The file directory item: a big-endian count, then 64-byte entries. */
  fileDir(): Uint8Array {
    if (this.dir) return this.dir;
    const d = new Uint8Array(4 + 64 * this.files.length);
    const v = new DataView(d.buffer);
    v.setUint32(0, this.files.length);
    this.files.forEach((f, i) => {
      const e = 4 + 64 * i;
      v.setUint32(e, f.data.length);
      v.setUint16(e + 4, FwCfgKey.FILE_FIRST + i);
      for (let k = 0; k < f.name.length; k++) d[e + 8 + k] = f.name.charCodeAt(k) & 0xff;
    });
    this.dir = d;
    return d;
  }

  /** The item a selector names, or undefined (reads as zeros). */
  item(selector: number): Uint8Array | undefined {
    const key = (selector & ARCH_LOCAL) | (selector & ENTRY_MASK);
    if (key === FwCfgKey.FILE_DIR) return this.fileDir();
    if (key >= FwCfgKey.FILE_FIRST && key < ARCH_LOCAL) return this.files[key - FwCfgKey.FILE_FIRST]?.data;
    return this.items.get(key);
  }

  /**
   * Linux direct boot, as QEMU's x86_load_linux: choose the real-mode, command-line and
   * protected-mode addresses from the boot protocol version, place the initrd below the top
   * of RAM (minus QEMU's ACPI area) and under the kernel's initrd_addr_max, patch the setup
   * header (loader type 0xB0, heap, command line pointer, ramdisk, vga=) and publish the
   * KERNEL_*, SETUP_*, CMDLINE_* and INITRD_* items.
   */
  setKernel(k: LinuxBoot): void {
    const setup = k.setup.slice();
    if (setup.length < 0x400) throw new Error('fw_cfg: the kernel setup part is shorter than 1 KiB; is this a bzImage?');
    const hv = new DataView(setup.buffer);
    const protocol = hv.getUint32(0x202, true) === 0x53726448 ? hv.getUint16(0x206, true) : 0; // "HdrS"
    const cmdline = k.cmdline ?? '';
    const cmdlineSize = (cmdline.length + 16) & ~15;
    let realAddr: number, cmdlineAddr: number, protAddr: number;
    if (protocol < 0x200 || !(setup[0x211] & 0x01)) {
      realAddr = 0x90000; // low kernel
      cmdlineAddr = 0x9a000 - cmdlineSize;
      protAddr = 0x10000;
    } else if (protocol < 0x202) {
      realAddr = 0x90000; // high but ancient kernel
      cmdlineAddr = 0x9a000 - cmdlineSize;
      protAddr = 0x100000;
    } else {
      realAddr = 0x10000;
      cmdlineAddr = 0x20000;
      protAddr = 0x100000;
    }
    const ramTop = this.ramSize();
    let initrdMax: number;
    if (protocol >= 0x20c && hv.getUint16(0x236, true) & 0x02) initrdMax = 0xffffffff; // XLF_CAN_BE_LOADED_ABOVE_4G
    else if (protocol >= 0x203) initrdMax = hv.getUint32(0x22c, true);
    else initrdMax = 0x37ffffff;
    if (initrdMax >= ramTop - ACPI_DATA_SIZE) initrdMax = ramTop - ACPI_DATA_SIZE - 1;

    this.setItem(FwCfgKey.CMDLINE_ADDR, le32(cmdlineAddr));
    this.setItem(FwCfgKey.CMDLINE_SIZE, le32(cmdline.length + 1));
    this.setItem(FwCfgKey.CMDLINE_DATA, ascii(cmdline + '\0'));
    if (protocol >= 0x202) hv.setUint32(0x228, cmdlineAddr, true);
    else {
      hv.setUint16(0x20, 0xa33f, true); // old command-line protocol magic
      hv.setUint16(0x22, cmdlineAddr - realAddr, true);
    }
    const vga = cmdline.indexOf('vga=');
    if (vga >= 0) hv.setUint16(0x1fa, parseVgaMode(cmdline.slice(vga + 4).split(' ')[0]), true);
    if (protocol >= 0x200) setup[0x210] = 0xb0; // type_of_loader: QEMU
    if (protocol >= 0x201) {
      setup[0x211] |= 0x80; // CAN_USE_HEAP
      hv.setUint16(0x224, cmdlineAddr - realAddr - 0x200, true);
    }
    if (k.initrd) {
      if (protocol < 0x200) throw new Error('fw_cfg: this Linux kernel is too old to load an initrd');
      const size = k.initrd.length;
      if (size >= initrdMax) throw new Error(`fw_cfg: the initrd (${size} bytes) does not fit below 0x${initrdMax.toString(16)}`);
      const initrdAddr = (initrdMax - size) & ~4095;
      this.setItem(FwCfgKey.INITRD_ADDR, le32(initrdAddr));
      this.setItem(FwCfgKey.INITRD_SIZE, le32(size));
      this.setItem(FwCfgKey.INITRD_DATA, k.initrd);
      hv.setUint32(0x218, initrdAddr, true);
      hv.setUint32(0x21c, size, true);
    }
    this.setItem(FwCfgKey.KERNEL_ADDR, le32(protAddr));
    this.setItem(FwCfgKey.KERNEL_SIZE, le32(k.kernel.length));
    this.setItem(FwCfgKey.KERNEL_DATA, k.kernel);
    this.setItem(FwCfgKey.SETUP_ADDR, le32(realAddr));
    this.setItem(FwCfgKey.SETUP_SIZE, le32(setup.length));
    this.setItem(FwCfgKey.SETUP_DATA, setup);
    if (k.optionRom) {
      const file = `genroms/${k.optionRom.name}`;
      this.setFile(file, k.optionRom.data);
      this.setBootOrder([`/rom@${file}`, ...this.bootOrder.filter((p) => p !== `/rom@${file}`)]);
    }
  }

  private ramSize(): number {
    const b = this.items.get(FwCfgKey.RAM_SIZE)!;
    const v = new DataView(b.buffer, b.byteOffset, 8);
    return v.getUint32(4, true) * 0x100000000 + v.getUint32(0, true);
  }

  // ---- the guest's side ----

  select(v: number): void {
    this.selector = v & 0xffff;
    this.offset = 0;
  }

  private readData(): number {
    const it = this.item(this.selector);
    if (!it || this.offset >= it.length) return 0;
    return it[this.offset++];
  }

  /** Run the FWCfgDmaAccess at the DMA address, then clear the address register. */
  private transfer(): void {
    const high = this.dmaHigh;
    const at = this.dmaLow >>> 0;
    this.dmaHigh = this.dmaLow = 0;
    const mem = this.ctx.mem;
    if (high !== 0 || at > 0x100000000 - 16) return; // no memory there to read or answer in
    let control = bswap32(mem.read32(at)) >>> 0;
    let length = bswap32(mem.read32(at + 4)) >>> 0;
    const addrHigh = bswap32(mem.read32(at + 8)) >>> 0;
    let address = bswap32(mem.read32(at + 12)) >>> 0;
    if (control & FwCfgDma.SELECT) this.select(control >>> 16);
    const it = this.item(this.selector);
    let read = false;
    let write = false;
    if (control & FwCfgDma.READ) read = true;
    else if (control & FwCfgDma.WRITE) write = true;
    else if (!(control & FwCfgDma.SKIP)) length = 0;
    control = 0;
    if (length > 0 && (read || write) && (addrHigh !== 0 || address + length > 0x100000000)) {
      control = FwCfgDma.ERROR; // beyond the 32-bit physical address space
      length = 0;
    }
    while (length > 0 && !(control & FwCfgDma.ERROR)) {
      let len: number;
      if (!it || this.offset >= it.length) {
        len = length;
        if (read) for (let i = 0; i < len; i++) mem.write8(address + i, 0);
        if (write) control |= FwCfgDma.ERROR; // every item is read-only
      } else {
        len = Math.min(length, it.length - this.offset);
        if (read) writeBytes(mem, address, it, this.offset, len);
        if (write) control |= FwCfgDma.ERROR;
        this.offset += len;
      }
      address += len;
      length -= len;
    }
    mem.write32(at, bswap32(control));
  }

  // ---- state ----

  reset(): void {
    this.select(FwCfgKey.SIGNATURE);
    this.dmaHigh = this.dmaLow = 0;
  }

  save(): FwCfgState {
    return { selector: this.selector, offset: this.offset, dmaHigh: this.dmaHigh, dmaLow: this.dmaLow };
  }

  load(s: FwCfgState): void {
    this.selector = s.selector;
    this.offset = s.offset;
    this.dmaHigh = s.dmaHigh;
    this.dmaLow = s.dmaLow;
  }
}

/** Split a bzImage into its real-mode setup part and protected-mode kernel (boot protocol §"LOADING THE REST"). */
export function splitBzImage(image: Uint8Array): { setup: Uint8Array; kernel: Uint8Array } {
  if (image.length < 0x400) throw new Error('fw_cfg: the kernel image is shorter than 1 KiB; is this a bzImage?');
  const sects = image[0x1f1] || 4;
  const setupSize = (sects + 1) * 512;
  if (setupSize > image.length) throw new Error('fw_cfg: invalid kernel header (setup_sects runs past the end of the image)');
  return { setup: image.slice(0, setupSize), kernel: image.slice(setupSize) };
}

/** The "etc/e820" file: packed {u64 address, u64 length, u32 type} entries, little-endian. */
export function encodeE820(entries: E820Entry[]): Uint8Array {
  const b = new Uint8Array(20 * entries.length);
  const v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    v.setUint32(20 * i, e.address % 0x100000000, true);
    v.setUint32(20 * i + 4, Math.floor(e.address / 0x100000000), true);
    v.setUint32(20 * i + 8, e.length % 0x100000000, true);
    v.setUint32(20 * i + 12, Math.floor(e.length / 0x100000000), true);
    v.setUint32(20 * i + 16, e.type, true);
  });
  return b;
}

function parseVgaMode(s: string): number {
  if (s.startsWith('normal')) return 0xffff;
  if (s.startsWith('ext')) return 0xfffe;
  if (s.startsWith('ask')) return 0xfffd;
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) throw new Error(`fw_cfg: invalid 'vga=' kernel parameter '${s}'`);
  const t = m[1];
  const n = /^0[xX]/.test(t) ? parseInt(t.slice(2), 16) : t.length > 1 && t[0] === '0' ? parseInt(t, 8) : parseInt(t, 10);
  return n & 0xffff;
}

function writeBytes(mem: DeviceContext['mem'], addr: number, src: Uint8Array, from: number, len: number): void {
  let i = 0;
  while (i < len && (addr + i) & 3) mem.write8(addr + i, src[from + i++]);
  for (; i + 4 <= len; i += 4) {
    const o = from + i;
    mem.write32(addr + i, src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24));
  }
  for (; i < len; i++) mem.write8(addr + i, src[from + i]);
}

function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff);
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function le16(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >> 8) & 0xff]);
}

function le32(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}

function le64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  const d = new DataView(b.buffer);
  d.setUint32(0, v % 0x100000000, true);
  d.setUint32(4, Math.floor(v / 0x100000000), true);
  return b;
}
