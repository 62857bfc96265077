// 82077AA floppy controller with the i8237 on channel 2: the sequences SeaBIOS's floppy.c and
// dma.c send (reset, recalibrate, READ ID media sense, specify, seek, read/write/format by DMA),
// Linux's probing commands, results, interrupt icounts, the disk change line, the fault seam
// and snapshot equivalence.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Guest, MemoryFloppy, System, patternImage, replay } from './isa-harness.ts';
import { FDC_DEFAULT_TIMING, FLOPPY_FORMATS, floppyFormat, floppyMediaFromSectors, type FdcOptions } from '../../../engine/devices/i82077aa-fdc.ts';
import type { BlockFaultFilter, SectorVerdict } from '../../../engine/seams.ts';

const T = FDC_DEFAULT_TIMING;
const MB144 = 1474560;

class FloppyError extends Error {}

/** SeaBIOS's floppy driver (src/hw/floppy.c, src/hw/dma.c), port for port. */
class SeaBios {
  dor = 0;
  private seenIrqs = 0;
  /** icount of the last command or parameter byte written. */
  lastByteAt = -1;
  constructor(
    readonly g: Guest,
    readonly sys: System,
  ) {}

  dorWrite(v: number): void {
    this.g.out(0x3f2, v);
    this.dor = v;
  }

  waitIrq(): number {
    const probe = this.sys.irq6;
    while (probe.rises.length <= this.seenIrqs) {
      if (probe.level && probe.rises.length > this.seenIrqs) break;
      this.g.waitIrq(probe, this.sys.icount + 1e9);
      if (probe.rises.length <= this.seenIrqs) this.g.spin(1);
    }
    this.seenIrqs = probe.rises.length;
    return probe.rises.at(-1)!;
  }

  pio(bytes: number[], receive: number, waitIrq: boolean): number[] {
    this.send(bytes);
    if (waitIrq) this.waitIrq();
    return this.results(receive);
  }

  /** The command phase of floppy_pio. */
  send(bytes: number[]): void {
    for (let i = 0; i < bytes.length; ) {
      const sts = this.g.in(0x3f4);
      if (!(sts & 0x80)) continue;
      if (sts & 0x40) throw new FloppyError(`controller wants to talk (MSR ${sts.toString(16)})`);
      this.lastByteAt = this.sys.icount;
      this.g.out(0x3f5, bytes[i++]);
    }
  }

  /** The result phase of floppy_pio. */
  results(receive: number): number[] {
    const out: number[] = [];
    for (;;) {
      const sts = this.g.in(0x3f4);
      if (!(sts & 0x80)) continue;
      if (out.length >= receive) {
        if (sts & 0x40) throw new FloppyError('more result bytes than expected');
        break;
      }
      if (!(sts & 0x40)) throw new FloppyError(`result phase ended after ${out.length} bytes`);
      out.push(this.g.in(0x3f5));
    }
    return out;
  }

  enable(): number[][] {
    this.dorWrite((this.dor & ~0x04) | 0x08);
    this.g.spin(400); // usleep(4)
    this.dorWrite(this.dor | 0x0c);
    this.waitIrq();
    return [0, 1, 2, 3].map(() => this.pio([0x08], 2, false));
  }

  drivePio(id: number, bytes: number[], receive: number, waitIrq: boolean): number[] {
    if (!(this.dor & 0x04)) this.enable();
    this.dorWrite((0x10 << id) | 0x0c | id);
    const r = this.pio(bytes, receive, waitIrq);
    if (waitIrq && receive === 0) return this.pio([0x08], 2, false);
    return r;
  }

  recal(id: number): number[] {
    return this.drivePio(id, [0x07, id], 0, true);
  }

  readId(id: number, rate: number, head = 0): number[] {
    this.g.out(0x3f7, rate);
    return this.drivePio(id, [0x4a, (head << 2) | id], 7, true);
  }

  specify(): void {
    this.pio([0x03, 0xaf, 0x02], 0, false);
  }

  seek(id: number, cyl: number): number[] {
    return this.drivePio(id, [0x0f, id, cyl], 0, true);
  }

  dmaSetup(): void {
    this.g.out(0x0d, 0);
    this.g.out(0xda, 0);
    this.g.out(0xd6, 0xc0);
    this.g.out(0xd4, 0x00);
  }

  dmaFloppy(addr: number, count: number, isWrite: boolean): void {
    const end = count - 1;
    this.g.out(0x0a, 0x06);
    this.g.out(0x0c, 0x00);
    this.g.out(0x04, addr & 0xff);
    this.g.out(0x04, (addr >> 8) & 0xff);
    this.g.out(0x0c, 0x00);
    this.g.out(0x05, end & 0xff);
    this.g.out(0x05, (end >> 8) & 0xff);
    this.g.out(0x0b, isWrite ? 0x4a : 0x46);
    this.g.out(0x81, addr >> 16);
    this.g.out(0x0a, 0x02);
  }

  /** floppy_prep: recalibrate, media sense, specify, seek. */
  prep(id: number, cyl: number, rate = 0): void {
    expect(this.recal(id)).toEqual([0x20 | id, 0]);
    expect(this.readId(id, rate)[0] & 0xc0).toBe(0);
    this.specify();
    if (cyl !== 0) expect(this.seek(id, cyl)).toEqual([0x20 | id, cyl]);
  }

  /** floppy_read / floppy_write: sectors [sector, sector + count) of one track. */
  transfer(op: 'read' | 'write', id: number, c: number, h: number, sector: number, count: number, addr: number): number[] {
    this.dmaFloppy(addr, count * 512, op === 'write');
    const cmd = op === 'read' ? 0xe6 : 0xc5;
    return this.drivePio(id, [cmd, (h << 2) | id, c, h, sector, 2, sector + count - 1, 0x1b, 0xff], 7, true);
  }
}

function boot(opts: FdcOptions = {}) {
  const image = new MemoryFloppy(patternImage(MB144));
  const sys = new System({ fdc: { drives: [{ media: image, name: 'boot.img' }], ...opts } });
  const g = new Guest(sys);
  const bios = new SeaBios(g, sys);
  bios.dmaSetup();
  return { sys, g, bios, image };
}

function sector(image: MemoryFloppy, lba: number, count = 1): number[] {
  return Array.from(image.bytes.subarray(lba * 512, (lba + count) * 512));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function memory(sys: System, addr: number, len: number): number[] {
  return Array.from(sys.ctx.mem.readBytes(addr, len));
}

describe('82077AA reset and control commands', () => {
  it('comes out of reset with one interrupt and four polling statuses (SeaBIOS floppy_enable_controller)', () => {
    const { sys, g, bios } = boot();
    expect(g.in(0x3f4)).toBe(0x00); // held in reset since power-on (DOR = 0)
    bios.dorWrite(0x08);
    g.spin(400);
    bios.dorWrite(0x0c);
    const released = sys.icount - 1;
    expect(g.in(0x3f4)).toBe(0x80);
    expect(bios.waitIrq()).toBe(released + T.resetDelay);
    expect(bios.pio([0x08], 2, false)).toEqual([0xc0, 0x00]);
    expect(sys.irq6.level).toBe(false);
    expect(bios.pio([0x08], 2, false)).toEqual([0xc1, 0x00]);
    expect(bios.pio([0x08], 2, false)).toEqual([0xc2, 0x00]);
    expect(bios.pio([0x08], 2, false)).toEqual([0xc3, 0x00]);
    expect(bios.pio([0x08], 1, false)).toEqual([0x80]); // nothing pending
    expect(sys.irq6.rises.length).toBe(1);
  });

  it('gates INT with DOR DMAGATE#, and DSR bit 7 is a software reset', () => {
    const { sys, g } = boot();
    g.out(0x3f2, 0x04); // reset released, DMAGATE# low
    g.spin(T.resetDelay + 10);
    expect(sys.irq6.level).toBe(false);
    g.out(0x3f2, 0x0c);
    expect(sys.irq6.level).toBe(true);
    g.out(0x3f4, 0x80); // software reset: interrupt cleared, new polling round
    expect(sys.irq6.level).toBe(false);
    const at = sys.icount - 1;
    g.spin(T.resetDelay);
    expect(sys.irq6.rises).toEqual([at - 1, at + T.resetDelay]); // when DMAGATE# went high, then the new polling round
  });

  it('RECALIBRATE and SEEK interrupt after their steps; SENSE INTERRUPT reports SE and the PCN; busy bits in MSR', () => {
    const { g, bios } = boot();
    bios.enable();
    bios.dorWrite(0x1c);
    bios.pio([0x0f, 0x00, 10], 0, false);
    const issued = bios.lastByteAt;
    expect(g.in(0x3f4)).toBe(0x81); // RQM, drive 0 busy
    const at = bios.waitIrq();
    expect(at).toBe(issued + T.commandDelay + 10 * T.stepDelay);
    expect(bios.pio([0x08], 2, false)).toEqual([0x20, 10]);
    expect(g.in(0x3f4)).toBe(0x80);
    // SENSE DRIVE STATUS: not track 0, ready, two-sided bit.
    expect(bios.pio([0x04, 0x00], 1, false)).toEqual([0x28]);
    bios.pio([0x07, 0x00], 0, false);
    const recalAt = bios.waitIrq();
    expect(recalAt).toBe(bios.lastByteAt + T.commandDelay + 10 * T.stepDelay);
    expect(bios.pio([0x08], 2, false)).toEqual([0x20, 0]);
    expect(bios.pio([0x04, 0x04], 1, false)).toEqual([0x3c]); // head 1 asked: HD bit; track 0
    // RELATIVE SEEK out by 3 from 0 stays at the stop; in by 5.
    bios.pio([0xcf, 0x00, 5], 0, false);
    bios.waitIrq();
    expect(bios.pio([0x08], 2, false)).toEqual([0x20, 5]);
  });

  it('RECALIBRATE gives up after 79 steps (SE + EC) when the head is further out, and reaches 0 the second time', () => {
    const { bios } = boot();
    bios.enable();
    bios.dorWrite(0x1c);
    bios.pio([0x0f, 0x00, 83], 0, false);
    bios.waitIrq();
    expect(bios.pio([0x08], 2, false)).toEqual([0x20, 83]);
    expect(bios.recal(0)).toEqual([0x70, 0]);
    expect(bios.recal(0)).toEqual([0x20, 0]);
    // Nothing answers for drive 1 (not connected): 79 steps, no TRK0.
    expect(bios.recal(1)).toEqual([0x71, 0]);
  });

  it('VERSION, DUMPREG, CONFIGURE, LOCK, PERPENDICULAR MODE, SPECIFY, invalid opcodes (Linux get_fdc_version)', () => {
    const { sys, bios } = boot();
    bios.enable();
    expect(bios.pio([0x10], 1, false)).toEqual([0x90]);
    bios.specify();
    bios.pio([0x13, 0x00, 0x57, 0x00], 0, false); // Linux fdc_configure: EIS, FIFO off, poll off, thr 7
    bios.pio([0x12, 0x80 | (1 << 2) | 3], 0, false); // perpendicular drive 0, GAP, WGATE
    expect(bios.pio([0x94], 1, false)).toEqual([0x10]); // LOCK
    expect(bios.pio([0x0e], 10, false)).toEqual([0, 0, 0, 0, 0xaf, 0x02, 0, 0x80 | 0x04 | 0x03, 0x57, 0x00]);
    expect(bios.pio([0x14], 1, false)).toEqual([0x00]); // UNLOCK
    expect(bios.pio([0x18], 1, false)).toEqual([0x80]); // PART ID: invalid on the 82077AA
    expect(bios.pio([0xff], 1, false)).toEqual([0x80]);
    expect(sys.irq6.rises.length).toBe(1); // only the reset interrupt
    // A software reset keeps SPECIFY and (unlocked) resets CONFIGURE and the perpendicular GAP/WGATE.
    bios.dorWrite(0x08);
    bios.dorWrite(0x0c);
    bios.waitIrq();
    for (let i = 0; i < 4; i++) bios.pio([0x08], 2, false);
    expect(bios.pio([0x0e], 10, false)).toEqual([0, 0, 0, 0, 0xaf, 0x02, 0, 0x04, 0x20, 0x00]);
  });
});

describe('82077AA data transfers by DMA', () => {
  it('SeaBIOS boot: recalibrate, READ ID, specify, read sector 0 to 0000:7C00', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 0);
    const r = bios.transfer('read', 0, 0, 0, 1, 1, 0x7c00);
    // MT = 1 and the final sector is EOT on head 0: H complemented, R = 1 (Table 5-6).
    expect(r).toEqual([0x00, 0x00, 0x00, 0, 1, 1, 2]);
    expect(memory(sys, 0x7c00, 512)).toEqual(sector(image, 0));
    expect(memory(sys, 0x7e00, 4)).toEqual([0, 0, 0, 0]);
    // The interrupt came a command delay plus one sector after the last command byte.
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + T.sectorDelay);
    expect(bios.g.in(0x08)).toBe(0x04); // DMA: TC on channel 2
  });

  it('READ ID reports the sector under the head; the wrong data rate finds nothing (ST1 MA after two revolutions)', () => {
    const { sys, bios } = boot();
    bios.enable();
    bios.recal(0);
    const r = bios.readId(0, 0);
    const start = bios.lastByteAt + T.commandDelay;
    expect(sys.irq6.rises.at(-1)).toBe(start + T.sectorDelay);
    expect(r).toEqual([0x00, 0x00, 0x00, 0, 0, 1 + (Math.floor((start + T.sectorDelay) / T.sectorDelay) % 18), 2]);
    const bad = bios.readId(0, 2); // 250 kbps
    expect(bad.slice(0, 3)).toEqual([0x40, 0x01, 0x00]);
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + 2 * 18 * T.sectorDelay);
    // Motor off: the drive is not selected, no index pulses.
    bios.g.out(0x3f7, 0);
    bios.dorWrite(0x0c);
    expect(bios.pio([0x4a, 0x00], 7, true).slice(0, 3)).toEqual([0x40, 0x01, 0x00]);
  });

  it('reads several sectors across both heads with MT (Linux-style), result per Table 5-6', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 2);
    bios.dmaFloppy(0x10000, 4 * 512, false);
    const r = bios.drivePio(0, [0xe6, 0x00, 2, 0, 17, 2, 18, 0x1b, 0xff], 7, true);
    expect(r).toEqual([0x04, 0x00, 0x00, 2, 1, 3, 2]); // ended on head 1: HD in ST0
    const lba = (2 * 2 + 0) * 18 + 16;
    expect(memory(sys, 0x10000, 4 * 512)).toEqual(sector(image, lba, 4));
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + 4 * T.sectorDelay);
    // Ending exactly on the last sector of head 1: C + 1, H complemented, R = 1.
    bios.dmaFloppy(0x20000, 512, false);
    expect(bios.drivePio(0, [0xe6, 0x04, 2, 1, 18, 2, 18, 0x1b, 0xff], 7, true)).toEqual([0x04, 0, 0, 3, 0, 1, 2]);
  });

  it('without TC the command ends after EOT: ST0 abnormal, ST1 EN, C + 1, R = 1', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 0);
    bios.dmaFloppy(0x30000, 8 * 512, false);
    const r = bios.drivePio(0, [0x66, 0x00, 0, 0, 1, 2, 2, 0x1b, 0xff], 7, true);
    expect(r).toEqual([0x40, 0x80, 0x00, 1, 0, 1, 2]);
    expect(memory(sys, 0x30000, 1024)).toEqual(sector(image, 0, 2));
    expect(memory(sys, 0x30400, 4)).toEqual([0, 0, 0, 0]);
    bios.g.out(0x0c, 0);
    expect(bios.g.in(0x05) | (bios.g.in(0x05) << 8)).toBe(8 * 512 - 1 - 1024);
  });

  it('TC in the middle of a sector stops the transfer; the result names the next sector', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 0);
    bios.dmaFloppy(0x40000, 700, false);
    expect(bios.drivePio(0, [0xe6, 0x00, 0, 0, 3, 2, 18, 0x1b, 0xff], 7, true)).toEqual([0, 0, 0, 0, 0, 5, 2]);
    expect(memory(sys, 0x40000, 700)).toEqual(sector(image, 2, 2).slice(0, 700));
    expect(memory(sys, 0x40000 + 700, 2)).toEqual([0, 0]);
  });

  it('a sector waits for a masked DMA channel and moves the moment the guest unmasks it', () => {
    const { sys, g, bios, image } = boot();
    bios.prep(0, 0);
    bios.dmaFloppy(0x7c00, 512, false);
    g.out(0x0a, 0x06); // mask channel 2 again
    bios.dorWrite(0x1c);
    bios.send([0xe6, 0x00, 0, 0, 9, 2, 9, 0x1b, 0xff]);
    g.spin(T.commandDelay + 50_000);
    expect(g.in(0x08) & 0x40).toBe(0x40); // DREQ 2 pending
    expect(memory(sys, 0x7c00, 4)).toEqual([0, 0, 0, 0]);
    g.out(0x0a, 0x02);
    const unmasked = sys.icount - 1;
    expect(memory(sys, 0x7c00, 512)).toEqual(sector(image, 8));
    expect(bios.waitIrq()).toBe(unmasked + T.sectorDelay);
    expect(bios.results(7)).toEqual([0, 0, 0, 0, 1, 1, 2]);
  });

  it('seeks, then reads cylinder 5 head 1; a read on the wrong cylinder is ND + WC', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 5);
    expect(bios.transfer('read', 0, 5, 1, 3, 2, 0x50000)).toEqual([0x04, 0, 0, 6, 0, 1, 2]);
    expect(memory(sys, 0x50000, 1024)).toEqual(sector(image, (5 * 2 + 1) * 18 + 2, 2));
    const r = bios.transfer('read', 0, 9, 0, 1, 1, 0x50000);
    expect(r).toEqual([0x40, 0x04, 0x10, 9, 0, 1, 2]);
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + 2 * 18 * T.sectorDelay);
    // With implied seek (CONFIGURE EIS) the same read works.
    bios.pio([0x13, 0x00, 0x60, 0x00], 0, false);
    expect(bios.transfer('read', 0, 9, 0, 1, 1, 0x50000)).toEqual([0x00, 0, 0, 9, 1, 1, 2]);
    expect(memory(sys, 0x50000, 512)).toEqual(sector(image, 9 * 36));
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + 4 * T.stepDelay + T.sectorDelay);
  });

  it('sector numbers past the track and FM mode find nothing', () => {
    const { bios } = boot();
    bios.prep(0, 0);
    expect(bios.transfer('read', 0, 0, 0, 19, 1, 0x1000).slice(0, 3)).toEqual([0x40, 0x04, 0x00]);
    bios.dmaFloppy(0x1000, 512, false);
    expect(bios.drivePio(0, [0xa6, 0x00, 0, 0, 1, 2, 1, 0x1b, 0xff], 7, true).slice(0, 3)).toEqual([0x40, 0x01, 0x00]);
  });

  it('writes sectors from memory (SeaBIOS floppy_write) and refuses a write-protected medium', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 1);
    const data = Uint8Array.from({ length: 1024 }, (_, i) => (i * 13 + 5) & 0xff);
    sys.ctx.mem.load(0x60000, data);
    expect(bios.transfer('write', 0, 1, 0, 7, 2, 0x60000)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    expect(sector(image, 36 + 6, 2)).toEqual(Array.from(data));
    expect(sector(image, 36 + 8)).toEqual(sector(new MemoryFloppy(patternImage(MB144)), 36 + 8));

    const ro = boot({ drives: [{ media: new MemoryFloppy(patternImage(MB144)), writeProtected: true }] });
    ro.bios.prep(0, 0);
    expect(ro.bios.transfer('write', 0, 0, 0, 1, 1, 0x60000)).toEqual([0x40, 0x02, 0x00, 0, 0, 1, 2]);
    ro.bios.g.out(0x0c, 0);
    expect(ro.bios.g.in(0x05) | (ro.bios.g.in(0x05) << 8)).toBe(511); // nothing moved
    expect(ro.bios.pio([0x04, 0x00], 1, false)).toEqual([0x78]); // WP, RDY, T0, bit 3
  });

  it('formats a track (SeaBIOS floppy_format): IDs by DMA, sectors filled with F6h', () => {
    const { sys, bios, image } = boot();
    bios.prep(0, 3);
    const ids: number[] = [];
    for (let r = 1; r <= 18; r++) ids.push(3, 1, r, 2);
    sys.ctx.mem.load(0x70000, Uint8Array.from(ids));
    bios.dmaFloppy(0x70000, 18 * 4, true);
    expect(bios.drivePio(0, [0x4d, 0x04, 2, 18, 0x6c, 0xf6], 7, true)).toEqual([0x04, 0, 0, 3, 1, 18, 2]);
    expect(sector(image, (3 * 2 + 1) * 18, 18)).toEqual(new Array(18 * 512).fill(0xf6));
    expect(sector(image, (3 * 2 + 0) * 18 + 17)).not.toEqual(new Array(512).fill(0xf6));
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + 18 * T.sectorDelay);
  });

  it('non-DMA mode: bytes through the FIFO with RQM/DIO/NON-DMA, ending at EOT with ST1 EN', () => {
    const { sys, g, bios, image } = boot();
    bios.prep(0, 0);
    bios.pio([0x03, 0xaf, 0x03], 0, false); // ND = 1
    bios.dorWrite(0x1c);
    bios.send([0x66, 0x00, 0, 0, 4, 2, 5, 0x1b, 0xff]); // MT = 0: stop at EOT
    const got: number[] = [];
    while (got.length < 1024) {
      const sts = g.in(0x3f4);
      if ((sts & 0xe0) === 0xe0) got.push(g.in(0x3f5));
      else expect(sts & 0xc0).not.toBe(0xc0);
    }
    expect(got).toEqual(sector(image, 3, 2));
    bios.waitIrq();
    expect(bios.results(7)).toEqual([0x40, 0x80, 0x00, 1, 0, 1, 2]);
    expect(sys.irq6.rises.length).toBe(1 /* reset */ + 2 /* recal, READ ID */ + 2 /* sectors */ + 1 /* result */);
  });
});

describe('82077AA drives and media', () => {
  it('infers geometry from the image size and rejects other sizes', () => {
    expect(FLOPPY_FORMATS.map((f) => [f.label, f.cylinders * f.heads * f.sectors * 512 === f.size])).toEqual([
      ['160K', true], ['180K', true], ['320K', true], ['360K', true], ['720K', true], ['1.2M', true], ['1.44M', true], ['2.88M', true],
    ]);
    expect(floppyFormat(2949120)).toMatchObject({ cylinders: 80, heads: 2, sectors: 36, cmosType: 5 });
    expect(() => new System({ fdc: { drives: [{ media: new MemoryFloppy(new Uint8Array(1474561)), name: 'dos.img' }] } })).toThrow(
      /^dos\.img: 1474561 bytes is not a floppy size; use an image of 160K \(163840\)/,
    );
    const sys = new System({ fdc: { drives: [{ media: new MemoryFloppy(new Uint8Array(368640)) }, {}] } });
    expect([sys.fdc.cmosDriveType(0), sys.fdc.cmosDriveType(1)]).toEqual([1, 4]);
    expect(new System().fdc.cmosDriveType(0)).toBe(0);
  });

  it('reads a 360K disk at 300 kbps and a 160K disk (one side) at 250 kbps, through a sector-addressed medium', () => {
    const bytes = patternImage(163840);
    const blocks = {
      size: bytes.length,
      sectorSize: 512,
      read: (lba: number, count: number) => bytes.slice(lba * 512, (lba + count) * 512),
      write: (lba: number, data: Uint8Array) => bytes.set(data, lba * 512),
    };
    const sys = new System({ fdc: { drives: [{ media: floppyMediaFromSectors(blocks) }] } });
    const g = new Guest(sys);
    const bios = new SeaBios(g, sys);
    bios.dmaSetup();
    bios.prep(0, 39, 2);
    expect(bios.transfer('read', 0, 39, 0, 8, 1, 0x1000)).toEqual([0, 0, 0, 39, 1, 1, 2]);
    expect(memory(sys, 0x1000, 512)).toEqual(Array.from(bytes.subarray(319 * 512, 320 * 512)));
    expect(bios.readId(0, 2, 1).slice(0, 3)).toEqual([0x44, 0x01, 0x00]); // no second side
    const dd = new System({ fdc: { drives: [{ media: new MemoryFloppy(patternImage(368640)) }] } });
    const b2 = new SeaBios(new Guest(dd), dd);
    b2.dmaSetup();
    b2.prep(0, 0, 1);
    expect(b2.transfer('read', 0, 0, 1, 9, 1, 0x2000)).toEqual([0x04, 0, 0, 1, 0, 1, 2]);
  });

  it('disk change: set at power-on and on eject, seen only with the drive selected and its motor on, cleared by a step', () => {
    const { sys, g, bios } = boot();
    bios.enable();
    expect(g.in(0x3f7)).toBe(0x00); // motor off
    bios.dorWrite(0x1c);
    expect(g.in(0x3f7)).toBe(0x80);
    bios.recal(0); // at track 0 already: no step pulse
    expect(g.in(0x3f7)).toBe(0x80);
    bios.seek(0, 1);
    expect(g.in(0x3f7)).toBe(0x00);
    sys.ctx.input.push(sys.icount + 100, 'floppy-eject', 0, sys.icount);
    g.spin(100);
    expect(g.in(0x3f7)).toBe(0x80);
    bios.seek(0, 0);
    expect(g.in(0x3f7)).toBe(0x80); // no medium: the line stays
    expect(bios.readId(0, 0).slice(0, 3)).toEqual([0x40, 0x01, 0x00]);
    expect(bios.pio([0x04, 0x00], 1, false)).toEqual([0x78]); // an empty drive reads write-protected
  });

  it('inserts media by name through the input door and restores them by name', () => {
    const disks: Record<string, MemoryFloppy> = { 'a.img': new MemoryFloppy(patternImage(737280)) };
    const opts: FdcOptions = { drives: [{}], resolveMedia: (n) => disks[n] };
    const sys = new System({ fdc: opts });
    sys.ctx.input.push(50, 'floppy-insert', { drive: 0, image: 'a.img', writeProtected: true }, 0);
    sys.advance(60);
    expect(sys.fdc.cmosDriveType(0)).toBe(3);
    const other = new System({ fdc: opts });
    other.load(sys.save());
    expect(other.fdc.save()).toEqual(sys.fdc.save());
    const bios = new SeaBios(new Guest(other), other);
    bios.dmaSetup();
    bios.prep(0, 0, 2);
    expect(bios.transfer('read', 0, 0, 0, 2, 1, 0x3000)[0]).toBe(0);
    expect(memory(other, 0x3000, 512)).toEqual(sector(disks['a.img'], 1));
    expect(() => sys.ctx.input.push(70, 'floppy-insert', { drive: 2, image: 'a.img' }, 60)).not.toThrow();
    expect(() => sys.advance(80)).toThrow(/floppy-insert input: payload must be/);
    expect(() => new System({ fdc: { drives: [{}] } }).load(sys.save())).toThrow(/no media resolver/);
  });
});

describe('82077AA fault seam', () => {
  class Plan implements BlockFaultFilter {
    reads: [string, number][] = [];
    writes: [string, number, number][] = [];
    constructor(
      readonly onRead: Record<number, SectorVerdict> = {},
      readonly onWrite: Record<number, SectorVerdict> = {},
    ) {}
    read(drive: string, lba: number): SectorVerdict {
      this.reads.push([drive, lba]);
      return this.onRead[lba] ?? { kind: 'ok' };
    }
    write(drive: string, lba: number, data: Uint8Array): SectorVerdict {
      this.writes.push([drive, lba, data[2]]);
      return this.onWrite[lba] ?? { kind: 'ok' };
    }
  }

  it('is asked about every sector; a data CRC error moves the sector, then ST1 DE + ST2 DD', () => {
    const { sys, bios, image } = boot();
    const plan = new Plan({ 1: { kind: 'error', code: 'crc' } });
    sys.fdc.sectorFilter = plan;
    bios.prep(0, 0);
    expect(bios.transfer('read', 0, 0, 0, 1, 3, 0x8000)).toEqual([0x40, 0x20, 0x20, 0, 0, 2, 2]);
    expect(plan.reads).toEqual([['fd0', 0], ['fd0', 1]]);
    expect(memory(sys, 0x8000, 1024)).toEqual(sector(image, 0, 2));
    expect(memory(sys, 0x8400, 2)).toEqual([0, 0]);
  });

  it('idnf and lost are ND, unc is MA + MD, corrupt XORs silently, torn is a partial sector with a CRC error, slow delays', () => {
    const { sys, bios, image } = boot();
    const xor = new Uint8Array(512);
    xor[10] = 0xff;
    sys.fdc.sectorFilter = new Plan({
      2: { kind: 'error', code: 'idnf' },
      3: { kind: 'lost' },
      4: { kind: 'error', code: 'unc' },
      5: { kind: 'corrupt', xor },
      6: { kind: 'torn', bytes: 100 },
      7: { kind: 'slow', delay: 12345 },
    });
    bios.prep(0, 0);
    expect(bios.transfer('read', 0, 0, 0, 3, 1, 0x9000).slice(0, 3)).toEqual([0x40, 0x04, 0x00]);
    expect(bios.transfer('read', 0, 0, 0, 4, 1, 0x9000).slice(0, 3)).toEqual([0x40, 0x04, 0x00]);
    expect(bios.transfer('read', 0, 0, 0, 5, 1, 0x9000).slice(0, 3)).toEqual([0x40, 0x01, 0x01]);
    expect(memory(sys, 0x9000, 4)).toEqual([0, 0, 0, 0]);
    expect(bios.transfer('read', 0, 0, 0, 6, 1, 0x9000)).toEqual([0, 0, 0, 0, 1, 1, 2]);
    const expected = sector(image, 5);
    expected[10] ^= 0xff;
    expect(memory(sys, 0x9000, 512)).toEqual(expected);
    expect(bios.transfer('read', 0, 0, 0, 7, 1, 0x9000).slice(0, 3)).toEqual([0x40, 0x20, 0x20]);
    expect(memory(sys, 0x9000, 512)).toEqual([...sector(image, 6).slice(0, 100), ...new Array(412).fill(0)]);
    expect(bios.transfer('read', 0, 0, 0, 8, 1, 0x9000)[0]).toBe(0);
    expect(sys.irq6.rises.at(-1)).toBe(bios.lastByteAt + T.commandDelay + T.sectorDelay + 12345);
  });

  it('write verdicts: lost and torn report success, an ID CRC error writes nothing', () => {
    const { sys, bios, image } = boot();
    const orig = new MemoryFloppy(patternImage(MB144));
    const plan = new Plan({}, { 0: { kind: 'lost' }, 1: { kind: 'torn', bytes: 3 }, 2: { kind: 'error', code: 'crc' } });
    sys.fdc.sectorFilter = plan;
    bios.prep(0, 0);
    sys.ctx.mem.load(0xa000, new Uint8Array(1536).fill(0xee));
    expect(bios.transfer('write', 0, 0, 0, 1, 3, 0xa000)).toEqual([0x40, 0x20, 0x00, 0, 0, 3, 2]);
    expect(plan.writes).toEqual([['fd0', 0, 0xee], ['fd0', 1, 0xee], ['fd0', 2, 0xee]]);
    expect(sector(image, 0)).toEqual(sector(orig, 0));
    expect(sector(image, 1)).toEqual([0xee, 0xee, 0xee, ...sector(orig, 1).slice(3)]);
    expect(sector(image, 2)).toEqual(sector(orig, 2));
  });
});

describe('82077AA snapshots', () => {
  it('a SeaBIOS boot-and-copy run restored at any instruction gives the same reads, interrupts, memory and disk', () => {
    const script = (bios: SeaBios) => {
      bios.prep(0, 0);
      bios.transfer('read', 0, 0, 0, 1, 18, 0x10000);
      bios.seek(0, 7);
      bios.transfer('read', 0, 7, 1, 2, 3, 0x20000);
      bios.transfer('write', 0, 7, 0, 1, 4, 0x10000);
      bios.pio([0x03, 0xaf, 0x03], 0, false);
      bios.dorWrite(0x1c);
      bios.send([0x66, 0x00, 7, 0, 1, 2, 1, 0x1b, 0xff]);
      for (let n = 0; n < 512; ) {
        if ((bios.g.in(0x3f4) & 0xe0) === 0xe0) {
          bios.g.in(0x3f5);
          n++;
        }
      }
      bios.waitIrq();
      bios.results(7);
    };
    const ref = boot();
    script(ref.bios);
    const end = ref.sys.icount;
    const log = ref.g.log;
    expect(ref.sys.irq6.rises.length).toBe(9);
    expect(sameBytes(ref.image.bytes, patternImage(MB144))).toBe(false);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), (frac) => {
        const at = Math.floor(frac * end);
        const a = boot();
        // The first four accesses (dmaSetup) already ran in boot().
        expect(replay(a.sys, log.filter((x) => x.at < at).slice(4), 4)).toEqual([]);
        a.sys.advance(at);
        const snap = a.sys.save([a.image]);
        const b = boot();
        b.sys.load(snap, [b.image]);
        expect(b.sys.fdc.save()).toEqual(a.sys.fdc.save());
        expect(replay(b.sys, log, at)).toEqual([]);
        b.sys.advance(end);
        expect([...a.sys.irq6.changes.filter(([t]) => t <= at), ...b.sys.irq6.changes]).toEqual(ref.sys.irq6.changes);
        expect(sameBytes(b.sys.ctx.mem.readBytes(0, 1 << 20), ref.sys.ctx.mem.readBytes(0, 1 << 20))).toBe(true);
        expect(sameBytes(b.image.bytes, ref.image.bytes)).toBe(true);
        expect(b.sys.fdc.save()).toEqual(ref.sys.fdc.save());
        expect(b.sys.dma.save()).toEqual(ref.sys.dma.save());
      }),
      { numRuns: 40, seed: 11 },
    );
  });
});
