// fw_cfg read the way SeaBIOS reads it (fw/paravirt.c): signature and ID through the I/O
// ports, then the file directory and "etc/e820" through the I/O ports and through DMA;
// legacy items; Linux direct-boot items as QEMU's x86_load_linux lays them out.

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { FwCfg, FwCfgKey, FwCfgDma, splitBzImage, type FwCfgOptions } from '../../../engine/devices/fw-cfg.ts';

const MiB = 1 << 20;

function setup(opts: Partial<FwCfgOptions> = {}, ramSize = 128 * MiB) {
  const m = new Machine({ ramSize });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const fw = new FwCfg(ctx, { ramSize, ...opts });
  fw.attach();
  return { m, fw, io: m.io, mem: m.mem };
}

type Io = Machine['io'];

/** qemu_cfg_select + insb from the data port. */
function ioRead(io: Io, key: number, len: number): Uint8Array {
  io.out16(0x510, key);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = io.in8(0x511);
  return b;
}

const bswap = (v: number) => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;

/** qemu_cfg_dma_transfer: a FWCfgDmaAccess at 0x1000, data at `dst`; returns the final control. */
function dma(io: Io, mem: Machine['mem'], control: number, length: number, dst = 0x2000): number {
  const at = 0x1000;
  mem.write32(at, bswap(control));
  mem.write32(at + 4, bswap(length));
  mem.write32(at + 8, 0);
  mem.write32(at + 12, bswap(dst));
  io.out32(0x518, bswap(at));
  return bswap(mem.read32(at)) >>> 0;
}

interface DirEntry {
  size: number;
  select: number;
  name: string;
}

function parseDir(b: Uint8Array): DirEntry[] {
  const v = new DataView(b.buffer, b.byteOffset);
  const n = v.getUint32(0);
  const out: DirEntry[] = [];
  for (let i = 0; i < n; i++) {
    const e = 4 + 64 * i;
    let name = '';
    for (let k = 0; k < 56 && b[e + 8 + k]; k++) name += String.fromCharCode(b[e + 8 + k]);
    out.push({ size: v.getUint32(e), select: v.getUint16(e + 4), name });
  }
  return out;
}

const le = (b: Uint8Array) => b.reduceRight((acc, x) => acc * 256 + x, 0);

describe('fw_cfg I/O interface', () => {
  it('passes qemu_cfg_detect: signature "QEMU", then zeros past the end', () => {
    const { io } = setup();
    expect(String.fromCharCode(...ioRead(io, FwCfgKey.SIGNATURE, 6))).toBe('QEMU\0\0');
    expect(le(ioRead(io, FwCfgKey.ID, 4))).toBe(3); // traditional + DMA
    expect(le(setup({ dma: false }).fw.item(FwCfgKey.ID)!)).toBe(1);
  });

  it('reads "QEMU CFG" from the DMA address register', () => {
    const { io } = setup();
    const bytes = [0x514, 0x515, 0x516, 0x517, 0x518, 0x519, 0x51a, 0x51b].map((p) => io.in8(p));
    expect(String.fromCharCode(...bytes)).toBe('QEMU CFG');
    expect(io.in32(0x514)).toBe(0x554d4551);
    expect(setup({ dma: false }).io.in8(0x514)).toBe(0xff);
  });

  it('serves the legacy items SeaBIOS reads', () => {
    const { io } = setup({ cpus: 1, bootMenu: true });
    expect(le(ioRead(io, FwCfgKey.RAM_SIZE, 8))).toBe(128 * MiB);
    expect(le(ioRead(io, FwCfgKey.NB_CPUS, 2))).toBe(1);
    expect(le(ioRead(io, FwCfgKey.MAX_CPUS, 2))).toBe(1);
    expect(le(ioRead(io, FwCfgKey.BOOT_MENU, 2))).toBe(1);
    expect(le(ioRead(io, FwCfgKey.NOGRAPHIC, 2))).toBe(0);
    expect(le(ioRead(io, FwCfgKey.NUMA, 8))).toBe(0);
    expect(le(ioRead(io, FwCfgKey.ACPI_TABLES, 2))).toBe(0);
    expect(le(ioRead(io, FwCfgKey.IRQ0_OVERRIDE, 1))).toBe(1);
    expect(le(ioRead(io, FwCfgKey.E820_TABLE, 4))).toBe(0);
    expect(le(ioRead(io, 0x4000 | FwCfgKey.NB_CPUS, 2))).toBe(1); // bit 14 ignored for lookup
    expect(le(ioRead(io, 0x3fff, 4))).toBe(0); // absent item
  });

  it('lists files sorted by name with keys in that order; etc/e820 holds 128 MiB of RAM', () => {
    const { io, fw } = setup();
    fw.setFile('opt/org.bitrot/x', new Uint8Array([1, 2, 3]));
    fw.setBootOrder(['/pci@i0cf8/ide@1,1/drive@0/disk@0']);
    const count = new DataView(ioRead(io, FwCfgKey.FILE_DIR, 4).buffer).getUint32(0);
    const dir = parseDir(ioRead(io, FwCfgKey.FILE_DIR, 4 + 64 * count));
    expect(dir.map((d) => d.name)).toEqual(['bootorder', 'etc/boot-fail-wait', 'etc/e820', 'opt/org.bitrot/x']);
    expect(dir.map((d) => d.select)).toEqual([0x20, 0x21, 0x22, 0x23]);
    const e820 = dir.find((d) => d.name === 'etc/e820')!;
    expect(e820.size).toBe(20);
    // qemu_early_e820: walk the table in 20-byte entries.
    const t = new DataView(ioRead(io, e820.select, e820.size).buffer);
    expect([t.getBigUint64(0, true), t.getBigUint64(8, true), t.getUint32(16, true)]).toEqual([0n, 0x8000000n, 1]);
    expect(le(ioRead(io, 0x21, 4))).toBe(0xffffffff); // boot-fail-wait: wait forever
    const bo = ioRead(io, 0x20, dir[0].size);
    expect(String.fromCharCode(...bo)).toBe('/pci@i0cf8/ide@1,1/drive@0/disk@0\0');
  });

  it('ignores data-port writes and byte writes to the selector', () => {
    const { io } = setup();
    io.out16(0x510, FwCfgKey.SIGNATURE);
    io.out8(0x511, 0x41);
    io.out8(0x510, 0x01);
    expect(io.in8(0x511)).toBe(0x51); // 'Q'
  });
});

describe('fw_cfg DMA interface', () => {
  it('selects and reads the file directory and etc/e820 as qemu_cfg_read_entry does', () => {
    const { io, mem } = setup();
    const ctl = dma(io, mem, (FwCfgKey.FILE_DIR << 16) | FwCfgDma.SELECT | FwCfgDma.READ, 4);
    expect(ctl).toBe(0);
    const count = bswap(mem.read32(0x2000)) >>> 0;
    expect(count).toBe(2);
    // qemu_cfg_read continues from the current offset.
    expect(dma(io, mem, FwCfgDma.READ, 64 * count, 0x3000)).toBe(0);
    const dir = parseDir(new Uint8Array([0, 0, 0, count, ...mem.readBytes(0x3000, 64 * count)]));
    const e820 = dir.find((d) => d.name === 'etc/e820')!;
    expect(dma(io, mem, (e820.select << 16) | FwCfgDma.SELECT | FwCfgDma.READ, e820.size, 0x4000)).toBe(0);
    expect(Array.from(mem.readBytes(0x4000, 20))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(io.in32(0x518)).toBe(0x47464320); // the register reads the signature again
  });

  it('skips, zero-fills reads past the end, and rejects writes', () => {
    const { io, mem } = setup();
    mem.write32(0x2000, -1);
    mem.write32(0x2004, -1);
    expect(dma(io, mem, (FwCfgKey.SIGNATURE << 16) | FwCfgDma.SELECT | FwCfgDma.SKIP, 2)).toBe(0);
    expect(dma(io, mem, FwCfgDma.READ, 8)).toBe(0);
    expect(Array.from(mem.readBytes(0x2000, 8))).toEqual([0x4d, 0x55, 0, 0, 0, 0, 0, 0]); // "MU" + zeros
    expect(dma(io, mem, (FwCfgKey.SIGNATURE << 16) | FwCfgDma.SELECT | FwCfgDma.WRITE, 4)).toBe(FwCfgDma.ERROR);
    expect(dma(io, mem, FwCfgDma.SELECT | (0x3fff << 16) | FwCfgDma.READ, 4)).toBe(0); // absent: zeros
    expect(mem.read32(0x2000)).toBe(0);
  });

  it('takes a 64-bit address as two writes, high half first', () => {
    const { io, mem } = setup();
    mem.write32(0x1000, bswap((FwCfgKey.SIGNATURE << 16) | FwCfgDma.SELECT | FwCfgDma.READ));
    mem.write32(0x1004, bswap(4));
    mem.write32(0x1008, 0);
    mem.write32(0x100c, bswap(0x2000));
    io.out32(0x514, 0);
    io.out32(0x518, bswap(0x1000));
    expect(String.fromCharCode(...mem.readBytes(0x2000, 4))).toBe('QEMU');
    mem.write32(0x1000, bswap((FwCfgKey.SIGNATURE << 16) | FwCfgDma.SELECT | FwCfgDma.READ));
    io.out32(0x514, bswap(1)); // a structure above 4 GiB: nothing there
    io.out32(0x518, bswap(0x1000));
    expect(mem.read32(0x1000)).toBe(bswap((FwCfgKey.SIGNATURE << 16) | FwCfgDma.SELECT | FwCfgDma.READ));
  });
});

/** A minimal bzImage: boot protocol 2.15, 4 setup sectors, relocatable, initrd_addr_max 0x7fffffff. */
function bzImage(kernelBytes: number): Uint8Array {
  const img = new Uint8Array(5 * 512 + kernelBytes);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint16(0x1fe, 0xaa55, true);
  v.setUint32(0x202, 0x53726448, true); // "HdrS"
  v.setUint16(0x206, 0x020f, true);
  img[0x211] = 0x01; // LOADED_HIGH
  v.setUint32(0x22c, 0x7fffffff, true);
  for (let i = 0; i < kernelBytes; i++) img[5 * 512 + i] = i & 0xff;
  return img;
}

describe('fw_cfg Linux direct boot', () => {
  it('lays out a modern bzImage as x86_load_linux does', () => {
    const { io, fw } = setup();
    const { setup: s, kernel } = splitBzImage(bzImage(3000));
    expect(s.length).toBe(2560);
    expect(kernel.length).toBe(3000);
    const initrd = new Uint8Array(100_000).fill(7);
    const rom = new Uint8Array(512);
    rom[0] = 0x55;
    rom[1] = 0xaa;
    fw.setKernel({ setup: s, kernel, initrd, cmdline: 'console=ttyS0 vga=0x317', optionRom: { name: 'linuxboot_dma.bin', data: rom } });
    const u32 = (key: number) => le(ioRead(io, key, 4));
    expect(u32(FwCfgKey.SETUP_ADDR)).toBe(0x10000);
    expect(u32(FwCfgKey.SETUP_SIZE)).toBe(2560);
    expect(u32(FwCfgKey.KERNEL_ADDR)).toBe(0x100000);
    expect(u32(FwCfgKey.KERNEL_SIZE)).toBe(3000);
    expect(u32(FwCfgKey.CMDLINE_ADDR)).toBe(0x20000);
    expect(u32(FwCfgKey.CMDLINE_SIZE)).toBe(24);
    expect(String.fromCharCode(...ioRead(io, FwCfgKey.CMDLINE_DATA, 24))).toBe('console=ttyS0 vga=0x317\0');
    const initrdAddr = (128 * MiB - 0x28000 - 1 - 100_000) & ~4095;
    expect(u32(FwCfgKey.INITRD_ADDR)).toBe(initrdAddr);
    expect(u32(FwCfgKey.INITRD_SIZE)).toBe(100_000);
    expect(Array.from(ioRead(io, FwCfgKey.KERNEL_DATA, 4))).toEqual([0, 1, 2, 3]);
    const hdr = new DataView(ioRead(io, FwCfgKey.SETUP_DATA, 2560).buffer);
    expect(hdr.getUint8(0x210)).toBe(0xb0); // type_of_loader
    expect(hdr.getUint8(0x211)).toBe(0x81); // LOADED_HIGH | CAN_USE_HEAP
    expect(hdr.getUint16(0x224, true)).toBe(0x20000 - 0x10000 - 0x200); // heap_end_ptr
    expect(hdr.getUint32(0x228, true)).toBe(0x20000); // cmd_line_ptr
    expect(hdr.getUint32(0x218, true)).toBe(initrdAddr);
    expect(hdr.getUint32(0x21c, true)).toBe(100_000);
    expect(hdr.getUint16(0x1fa, true)).toBe(0x317); // vid_mode from vga=
    const count = new DataView(ioRead(io, FwCfgKey.FILE_DIR, 4).buffer).getUint32(0);
    const dir = parseDir(ioRead(io, FwCfgKey.FILE_DIR, 4 + 64 * count));
    expect(dir.map((d) => d.name)).toContain('genroms/linuxboot_dma.bin');
    const bo = dir.find((d) => d.name === 'bootorder')!;
    expect(String.fromCharCode(...ioRead(io, bo.select, bo.size))).toBe('/rom@genroms/linuxboot_dma.bin\0');
  });

  it('loads an old protocol kernel low and refuses what cannot work', () => {
    const { io, fw } = setup();
    const img = bzImage(100);
    img[0x211] = 0; // zImage: loaded at 0x10000
    const { setup: s, kernel } = splitBzImage(img);
    fw.setKernel({ setup: s, kernel, cmdline: 'root=/dev/hda' });
    expect(le(ioRead(io, FwCfgKey.SETUP_ADDR, 4))).toBe(0x90000);
    expect(le(ioRead(io, FwCfgKey.KERNEL_ADDR, 4))).toBe(0x10000);
    expect(le(ioRead(io, FwCfgKey.CMDLINE_ADDR, 4))).toBe(0x9a000 - 16);
    expect(() => splitBzImage(new Uint8Array(100))).toThrow(/shorter than 1 KiB/);
    const huge = new Uint8Array(128 * MiB);
    const modern = splitBzImage(bzImage(10));
    expect(() => fw.setKernel({ ...modern, initrd: huge })).toThrow(/does not fit/);
    expect(() => fw.setKernel({ ...modern, cmdline: 'vga=bogus' })).toThrow(/vga=/);
  });
});

describe('fw_cfg state', () => {
  it('saves and loads the selector, offset and DMA address; reset selects the signature', () => {
    const a = setup();
    ioRead(a.io, FwCfgKey.SIGNATURE, 2);
    a.io.out32(0x514, bswap(0x12345678));
    const s = a.fw.save();
    const b = setup();
    b.fw.load(structuredClone(s));
    expect(b.fw.save()).toEqual(s);
    expect(String.fromCharCode(b.io.in8(0x511), b.io.in8(0x511))).toBe('MU');
    b.io.out16(0x510, FwCfgKey.ID);
    b.fw.reset();
    expect(b.io.in8(0x511)).toBe(0x51);
  });
});
