// The i440FX host bridge driven the way SeaBIOS drives it: configuration mechanism #1 probing
// and enumeration (hw/pci.c), BAR sizing (fw/pciinit.c pci_bios_get_bar), and the shadow RAM
// dance of fw/shadow.c (make_bios_writable, then make_bios_readonly).

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { I440fx } from '../../../engine/devices/i440fx.ts';
import { Piix3 } from '../../../engine/devices/piix3.ts';
import { PciDevice } from '../../../engine/devices/pci-device.ts';
import type { PortBus } from '../../../engine/io-bus.ts';

const BIOS_SIZE = 128 * 1024;

function ctxOf(m: Machine): DeviceContext {
  return { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
}

/** A BIOS image whose every 4 KiB page starts with its page number and ends in a signature. */
function biosImage(): Uint8Array {
  const img = new Uint8Array(BIOS_SIZE);
  for (let p = 0; p < BIOS_SIZE / 4096; p++) {
    img[p * 4096] = 0xb0 + p;
    img[p * 4096 + 1] = 0x55;
  }
  img[BIOS_SIZE - 16] = 0xea; // reset vector: jmp far
  return img;
}

class TestFunction extends PciDevice {
  readonly mapped: [number, number, number][] = [];
  constructor(bdf: number) {
    super(bdf, { vendor: 0x1234, device: 0x5678, classCode: 0x020000, interruptPin: 1 });
    this.defineBar(0, { size: 0x20, io: true });
    this.defineBar(1, { size: 0x1000, io: false });
  }
  protected barMapped(n: number, address: number, old: number): void {
    this.mapped.push([n, address, old]);
  }
}

function setup(ramSize = 128 << 20) {
  const m = new Machine({ ramSize });
  const ctx = ctxOf(m);
  const offset = m.mem.addRom(biosImage());
  const host = new I440fx(ctx, { bios: { offset, size: BIOS_SIZE } });
  host.attach();
  const piix3 = new Piix3(ctx, { isaIrq: () => ({ set: () => {}, raise: () => {}, lower: () => {} }) });
  piix3.attach();
  host.addFunction(piix3);
  const nic = new TestFunction(3 << 3);
  host.addFunction(nic);
  return { m, host, piix3, nic, io: m.io, offset };
}

// SeaBIOS hw/pci.c accessors.
const cmd = (bdf: number, addr: number) => (0x80000000 | (bdf << 8) | (addr & 0xfc)) | 0;
function readl(io: PortBus, bdf: number, addr: number): number {
  io.out32(0xcf8, cmd(bdf, addr));
  return io.in32(0xcfc) >>> 0;
}
function readw(io: PortBus, bdf: number, addr: number): number {
  io.out32(0xcf8, cmd(bdf, addr));
  return io.in16(0xcfc + (addr & 2));
}
function readb(io: PortBus, bdf: number, addr: number): number {
  io.out32(0xcf8, cmd(bdf, addr));
  return io.in8(0xcfc + (addr & 3));
}
function writel(io: PortBus, bdf: number, addr: number, v: number): void {
  io.out32(0xcf8, cmd(bdf, addr));
  io.out32(0xcfc, v);
}
function writeb(io: PortBus, bdf: number, addr: number, v: number): void {
  io.out32(0xcf8, cmd(bdf, addr));
  io.out8(0xcfc + (addr & 3), v);
}

/** pci_next(): every present function on bus 0, honouring the multi-function bit. */
function enumerate(io: PortBus): number[] {
  const found: number[] = [];
  let bdf = 0;
  while (bdf < 256) {
    const v = readw(io, bdf, 0);
    if (v !== 0 && v !== 0xffff) {
      found.push(bdf);
      if ((bdf & 7) === 0 && (readb(io, bdf, 0x0e) & 0x80) === 0) bdf += 8;
      else bdf += 1;
    } else bdf += (bdf & 7) === 0 ? 8 : 1;
  }
  return found;
}

describe('i440FX configuration mechanism #1', () => {
  it('passes pci_probe_host and identifies as QEMU i440fx (qemu_detect)', () => {
    const { io } = setup();
    io.out32(0xcf8, 0x80000000 | 0);
    expect(io.in32(0xcf8) >>> 0).toBe(0x80000000);
    expect(readl(io, 0, 0x00)).toBe(0x12378086);
    expect(readw(io, 0, 0x2c)).toBe(0x1af4);
    expect(readw(io, 0, 0x2e)).toBe(0x1100);
    expect(readl(io, 0, 0x08)).toBe(0x06000002); // host bridge, rev 02
    expect(readb(io, 0, 0x72)).toBe(0x02); // SMRAM C_BASE_SEG
  });

  it('enumerates bus 0 as SeaBIOS pci_next does, multi-function PIIX3 included', () => {
    const { io } = setup();
    expect(enumerate(io)).toEqual([0x00, 0x08, 0x18]);
    expect(readl(io, 0x08, 0x00)).toBe(0x70008086);
    expect(readb(io, 0x08, 0x0e)).toBe(0x80);
    expect(readw(io, 0x08, 0x0a)).toBe(0x0601);
  });

  it('reads all ones from absent functions, other buses, and with the enable bit clear', () => {
    const { io } = setup();
    expect(readl(io, 0x10, 0)).toBe(0xffffffff);
    expect(readl(io, 0x100, 0)).toBe(0xffffffff);
    io.out32(0xcf8, 0x00000000);
    expect(io.in32(0xcfc) >>> 0).toBe(0xffffffff);
    expect(io.in8(0xcfd)).toBe(0xff);
    writel(io, 0x10, 0x10, 0x1234); // ignored
  });

  it('serves byte, word and dword accesses at every data port offset', () => {
    const { io } = setup();
    expect(readb(io, 0, 0x00)).toBe(0x86);
    expect(readb(io, 0, 0x01)).toBe(0x80);
    expect(readb(io, 0, 0x02)).toBe(0x37);
    expect(readb(io, 0, 0x03)).toBe(0x12);
    expect(readw(io, 0, 0x02)).toBe(0x1237);
    writeb(io, 0, 0x0d, 0x40); // latency timer
    expect(readl(io, 0, 0x0c) >>> 0).toBe(0x00004000);
  });

  it('sizes and maps BARs as pci_bios_get_bar and pci_bios_map_devices do', () => {
    const { io, nic } = setup();
    const bdf = 0x18;
    const sizes: number[] = [];
    for (const ofs of [0x10, 0x14, 0x18]) {
      const old = readl(io, bdf, ofs);
      const mask = old & 1 ? 0xfffffffc : 0xfffffff0;
      writel(io, bdf, ofs, -1);
      const val = readl(io, bdf, ofs);
      writel(io, bdf, ofs, old);
      sizes.push(val === 0 ? 0 : (~(val & mask) + 1) >>> 0);
    }
    expect(sizes).toEqual([0x20, 0x1000, 0]);
    writel(io, bdf, 0x10, 0xc000);
    writel(io, bdf, 0x14, 0x80000000);
    expect(nic.mapped).toEqual([]);
    io.out32(0xcf8, cmd(bdf, 0x04));
    io.out16(0xcfc, 0x0003); // pci_config_maskw(PCI_COMMAND, 0, IO | MEMORY)
    expect(nic.mapped).toEqual([
      [0, 0xc000, -1],
      [1, 0x80000000, -1],
    ]);
    expect(readl(io, bdf, 0x10)).toBe(0xc001);
  });

  it('refuses a second function in a taken slot or off bus 0', () => {
    const { host } = setup();
    expect(() => host.addFunction(new TestFunction(3 << 3))).toThrow(/00:03.0 is taken/);
    expect(() => host.addFunction(new TestFunction(0x100))).toThrow(/not on bus 0/);
  });
});

describe('i440FX PAM shadow RAM', () => {
  const F = 0xf0000;

  it('starts with the BIOS readable below 1 MiB and at the top of 4 GiB, writes lost', () => {
    const { m } = setup();
    expect(m.mem.read8(0xfffe0000 | 0)).toBe(0xb0);
    expect(m.mem.read8(0xfffffff0 | 0)).toBe(0xea);
    expect(m.mem.read8(0xe0000)).toBe(0xb0);
    expect(m.mem.read8(F)).toBe(0xb0 + 16);
    expect(m.mem.read8(0xffff0)).toBe(0xea);
    m.mem.write8(F, 0x12);
    expect(m.mem.read8(F)).toBe(0xb0 + 16);
    expect(m.mem.read8(0xc0000)).toBe(0xff); // nothing on PCI there
  });

  it('follows make_bios_writable and make_bios_readonly (fw/shadow.c)', () => {
    const { m, io, offset } = setup();
    // __make_bios_writable_intel: read PAM0-PAM6 as two dwords from 0x58.
    const pam = new Uint8Array(8);
    const dv = new DataView(pam.buffer);
    dv.setUint32(0, readl(io, 0, 0x58), true);
    dv.setUint32(4, readl(io, 0, 0x5c), true);
    expect(pam[1] & 0x10).toBe(0); // ram not present: SeaBIOS must copy
    for (let i = 0; i < 6; i++) pam[2 + i] = 0x33;
    pam[1] = 0x30;
    writel(io, 0, 0x58, dv.getUint32(0, true));
    writel(io, 0, 0x5c, dv.getUint32(4, true));
    // The shadow is RAM now, empty until the BIOS copies itself from the high flash.
    expect(m.mem.read8(F)).toBe(0);
    for (let a = 0xe0000; a < 0x100000; a += 4) m.mem.write32(a, m.mem.read32((a + 0xfff00000) | 0));
    expect(m.mem.read8(F)).toBe(0xb0 + 16);
    m.mem.write8(F + 2, 0x77); // the BIOS updates its own variables
    expect(m.mem.read8(F + 2)).toBe(0x77);
    expect(m.mem.backing[offset + 0x10002]).toBe(0); // the flash image is untouched
    expect(m.mem.read8(0xffff0002 | 0)).toBe(0);

    // make_bios_readonly_intel: 0xC0000-0xEFFFF read-only up to the last ROM, 0xF0000 read-only.
    dv.setUint32(0, readl(io, 0, 0x58), true);
    dv.setUint32(4, readl(io, 0, 0x5c), true);
    for (let i = 0; i < 6; i++) pam[2 + i] = 0x11;
    pam[1] = 0x10;
    writel(io, 0, 0x58, dv.getUint32(0, true));
    writel(io, 0, 0x5c, dv.getUint32(4, true));
    expect(readb(io, 0, 0x59)).toBe(0x10);
    expect(readb(io, 0, 0x5a)).toBe(0x11);
    m.mem.write8(F + 2, 0x99);
    expect(m.mem.read8(F + 2)).toBe(0x77);
    expect(m.mem.read8(F)).toBe(0xb0 + 16);

    // A second make_bios_writable finds RAM present and only reopens writes.
    writeb(io, 0, 0x59, 0x30);
    m.mem.write8(F + 2, 0x99);
    expect(m.mem.read8(F + 2)).toBe(0x99);
  });

  it('reads ROM and writes RAM in write-only mode, the classic shadowing copy', () => {
    const { m, io } = setup();
    writeb(io, 0, 0x5e, 0x02); // 0xE0000-0xE3FFF write-only
    for (let a = 0xe0000; a < 0xe4000; a++) m.mem.write8(a, m.mem.read8(a));
    m.mem.write8(0xe0001, 0x66);
    expect(m.mem.read8(0xe0001)).toBe(0x55); // reads still see the ROM
    writeb(io, 0, 0x5e, 0x01); // read-only: the copy shows
    expect(m.mem.read8(0xe0000)).toBe(0xb0);
    expect(m.mem.read8(0xe0001)).toBe(0x66);
    expect(m.mem.takeDirty()).toContain(0xe0);
  });

  it('masks reserved PAM bits and returns to the ROM view on reset', () => {
    const { m, host, io } = setup();
    writeb(io, 0, 0x59, 0xff);
    expect(readb(io, 0, 0x59)).toBe(0x30);
    writeb(io, 0, 0x5a, 0xff);
    expect(readb(io, 0, 0x5a)).toBe(0x33);
    m.mem.write8(F, 0x42);
    expect(m.mem.read8(F)).toBe(0x42);
    host.reset();
    expect(readb(io, 0, 0x59)).toBe(0);
    expect(m.mem.read8(F)).toBe(0xb0 + 16);
  });

  it('locks SMRAM with D_LCK until reset (SMM itself left out)', () => {
    const { host, io } = setup();
    writeb(io, 0, 0x72, 0x4a); // D_OPEN | G_SMRAME
    expect(readb(io, 0, 0x72)).toBe(0x4a);
    writeb(io, 0, 0x72, 0x5a); // + D_LCK
    expect(readb(io, 0, 0x72)).toBe(0x1a);
    writeb(io, 0, 0x72, 0x40);
    expect(readb(io, 0, 0x72)).toBe(0x1a);
    writeb(io, 0, 0x72, 0x3a);
    expect(readb(io, 0, 0x72)).toBe(0x3a);
    host.reset();
    expect(readb(io, 0, 0x72)).toBe(0x02);
  });

  it('saves and loads: the page map follows the restored PAM registers', () => {
    const a = setup(16 << 20);
    writeb(a.io, 0, 0x59, 0x30);
    a.m.mem.write8(F, 0x42);
    writeb(a.io, 0, 0x59, 0x10);
    a.io.out32(0xcf8, cmd(0x18, 0x3c));
    const s = a.host.save();
    const ram = a.m.mem.save(true);

    const b = setup(16 << 20);
    b.m.mem.restore(ram);
    b.host.load(structuredClone(s));
    expect(b.host.save()).toEqual(s);
    expect(b.m.mem.read8(F)).toBe(0x42);
    b.m.mem.write8(F, 0x43);
    expect(b.m.mem.read8(F)).toBe(0x42);
    expect(b.io.in32(0xcf8) >>> 0).toBe(cmd(0x18, 0x3c) >>> 0);
    b.host.load({ ...s, config: new Uint8Array(s.config).fill(0, 0x59, 0x60) });
    expect(b.m.mem.read8(F)).toBe(0xb0 + 16);
  });
});
