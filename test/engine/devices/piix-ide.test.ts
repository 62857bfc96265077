import { describe, expect, it } from 'vitest';
import { CowOverlay, RawImage, type BlockMedia } from '../../../engine/block.ts';
import { IDE_TIMING as T, PIIX3_IDE_BDF } from '../../../engine/devices/piix-ide.ts';
import { PRIMARY as P, SECONDARY as S, DC_HD15, DC_NIEN, DH_DEV0, DH_DEV1, DH_LBA, Rig, STAT, diskPattern, identifyString, word } from './ide-harness.ts';

function disk(sectors = 64, name?: string) {
  const bytes = diskPattern(sectors);
  const base = new RawImage(bytes, 512, 'disk.img');
  const media = new CowOverlay(base);
  return { bytes, pristine: bytes.slice(), media, cfg: { kind: 'disk' as const, media, name } };
}

const lbaCmd = (command: number, lba: number, count: number) => ({
  command,
  count,
  lbaLow: lba & 0xff,
  lbaMid: (lba >> 8) & 0xff,
  lbaHigh: (lba >> 16) & 0xff,
  device: DH_LBA | ((lba >> 24) & 0xf),
});

describe('PIIX3 IDE: PCI function', () => {
  it('identifies as 8086:7010 class 01 01 80 with an I/O BAR4 for the bus-master registers', () => {
    const rig = new Rig([]);
    const ide = rig.ide;
    expect(ide.bdf).toBe(PIIX3_IDE_BDF);
    expect(ide.readConfig(0x00, 4) >>> 0).toBe(0x70108086);
    expect(ide.readConfig(0x08, 4) >>> 0).toBe(0x01018000);
    expect(ide.readConfig(0x06, 2)).toBe(0x0280);
    expect(ide.readConfig(0x20, 4)).toBe(1);
    ide.writeConfig(0x20, -1, 4);
    expect(ide.readConfig(0x20, 4) >>> 0).toBe(0xfffffff1);
    ide.writeConfig(0x04, 0xffff, 2);
    expect(ide.readConfig(0x04, 2)).toBe(0x0005); // I/O and bus master only
    ide.writeConfig(0x40, 0xffff, 2);
    expect(ide.readConfig(0x40, 2)).toBe(0xf3ff); // IDETIM, reserved bits 11:10 read zero
    // BAR4 decodes only with I/O enabled.
    const r2 = new Rig([]);
    r2.ide.writeConfig(0x20, 0xc001, 4);
    r2.outb(0xc002, 0x60);
    expect(r2.inb(0xc002)).toBe(0xff);
    r2.ide.writeConfig(0x04, 1, 2);
    r2.outb(0xc002, 0x60);
    expect(r2.inb(0xc002)).toBe(0x60);
    r2.ide.writeConfig(0x20, 0xd001, 4);
    expect(r2.inb(0xc002)).toBe(0xff);
    expect(r2.inb(0xd002)).toBe(0x60);
  });
});

describe('PIIX3 IDE: ATA disk, driven as SeaBIOS ata.c does', () => {
  it('detects the disk: register check, SRST with signature, IDENTIFY PACKET refused, IDENTIFY', () => {
    const d = disk(2048);
    const rig = new Rig([{ ...d.cfg, model: 'TEST DISK', serial: 'SN1234', firmware: 'FW1' }]);
    rig.pciSetup();
    expect(rig.inb(P.cmd + 7)).toBe(0x50);
    // Register check (ata_detect)
    rig.outb(P.cmd + 6, DH_DEV0);
    expect(rig.inb(P.cmd + 6)).toBe(DH_DEV0);
    rig.outb(P.cmd + 2, 0x55);
    rig.outb(P.cmd + 3, 0xaa);
    expect([rig.inb(P.cmd + 2), rig.inb(P.cmd + 3)]).toEqual([0x55, 0xaa]);
    // ata_reset: SRST for 500 instructions, then ready exactly T.reset after release.
    rig.advance(1000);
    rig.outb(P.ctl, DC_HD15 | DC_NIEN | 0x04);
    expect(rig.inb(P.ctl)).toBe(STAT.BSY);
    rig.advance(500);
    rig.outb(P.ctl, DC_HD15 | DC_NIEN);
    const released = rig.now;
    rig.advance(T.reset - 1);
    expect(rig.inb(P.ctl)).toBe(STAT.BSY);
    rig.advance(1);
    expect(rig.inb(P.ctl)).toBe(0x50);
    expect(rig.now).toBe(released + T.reset);
    expect([1, 2, 3, 4, 5, 6].map((r) => rig.inb(P.cmd + r))).toEqual([0x01, 0x01, 0x01, 0x00, 0x00, 0x00]);
    rig.outb(P.ctl, DC_HD15);
    // init_drive_atapi: IDENTIFY PACKET DEVICE is aborted by a disk.
    const atapi = rig.pioCommand(P, false, { command: 0xa1 }, 1);
    expect(atapi.ret).toBe(-4);
    expect(rig.inb(P.cmd + 7)).toBe(0x41);
    expect(rig.inb(P.cmd + 1)).toBe(0x04);
    // init_drive_ata: IDENTIFY DEVICE
    const t0 = rig.now;
    const id = rig.pioCommand(P, false, { command: 0xec }, 1);
    expect(id.ret).toBe(0);
    expect(rig.now).toBe(t0 + T.command);
    const b = id.data;
    expect(word(b, 0)).toBe(0x0040);
    expect([word(b, 1), word(b, 3), word(b, 6)]).toEqual([2, 16, 63]);
    expect(identifyString(b, 10, 10)).toBe('SN1234');
    expect(identifyString(b, 23, 4)).toBe('FW1');
    expect(identifyString(b, 27, 20)).toBe('TEST DISK');
    expect(word(b, 47)).toBe(0x8010);
    expect(word(b, 49) & 0x0300).toBe(0x0300);
    expect(word(b, 59)).toBe(0x0110);
    expect(word(b, 60) | (word(b, 61) << 16)).toBe(2048);
    expect(word(b, 83) & 0x0400).toBe(0x0400);
    expect(word(b, 100) + word(b, 101) * 65536).toBe(2048);
    expect(word(b, 63)).toBe(0x0007);
    expect(word(b, 80)).toBe(0x007e); // SeaBIOS prints ATA-6
    expect(word(b, 93) & 0xdf61).not.toBe(0x4041); // SeaBIOS then probes device 1
    expect(b[510]).toBe(0xa5);
    expect(b.reduce((s, x) => s + x, 0) & 0xff).toBe(0);
    // Device 1 is absent: its registers echo (written to both devices) but status reads 0
    // and commands are ignored, so SeaBIOS gives up on it.
    rig.outb(P.cmd + 6, DH_DEV1);
    expect(rig.inb(P.cmd + 6)).toBe(DH_DEV1);
    rig.outb(P.cmd + 2, 0x55);
    rig.outb(P.cmd + 3, 0xaa);
    expect([rig.inb(P.cmd + 2), rig.inb(P.cmd + 3)]).toEqual([0x55, 0xaa]);
    // After SRST the phantom device 1 shows the no-device signature, as on QEMU (Linux's classify reads it).
    rig.ataReset(P, false);
    rig.outb(P.cmd + 6, DH_DEV1);
    expect([1, 2, 3, 4, 5, 7].map((k) => rig.inb(P.cmd + k))).toEqual([0, 1, 1, 0xff, 0xff, 0]);
    const slave = rig.pioCommand(P, true, { command: 0xa1 }, 1);
    expect(slave.ret).toBe(-5);
    expect(rig.inb(P.cmd + 7)).toBe(0);
    // With nIEN set throughout, IRQ 14 never moved.
    expect(rig.irqLog).toEqual([]);
  });

  it('reads sectors by PIO: a block per DRQ, an interrupt per block, exact icounts', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.advance(100);
    rig.outb(P.ctl, DC_HD15); // interrupts on
    rig.sendCmd(P, false, lbaCmd(0x20, 5, 3));
    const t0 = rig.now;
    expect(rig.inb(P.cmd + 7)).toBe(STAT.BSY | STAT.RDY);
    const got = new Uint8Array(3 * 512);
    const drqAt: number[] = [];
    for (let blk = 0; blk < 3; blk++) {
      const st = rig.awaitIde(P, STAT.BSY | STAT.DRQ, STAT.DRQ);
      expect(st).toBe(0x58);
      drqAt.push(rig.now);
      for (let i = 0; i < 512; i += 2) {
        const w = rig.inw(P.cmd);
        got[blk * 512 + i] = w & 0xff;
        got[blk * 512 + i + 1] = w >> 8;
      }
    }
    expect(drqAt).toEqual([t0 + T.command + T.sector, t0 + T.command + 2 * T.sector, t0 + T.command + 3 * T.sector]);
    expect(rig.inb(P.cmd + 7)).toBe(0x50);
    expect(got).toEqual(d.pristine.subarray(5 * 512, 8 * 512));
    // The interrupt rises with each DRQ and falls when the status register is read.
    expect(rig.irqLog).toEqual(drqAt.flatMap((t) => [[t, 14, true], [t, 14, false]]));
    // LBA registers hold the last sector read; the count is used up.
    expect([rig.inb(P.cmd + 2), rig.inb(P.cmd + 3), rig.inb(P.cmd + 6) & 0x4f]).toEqual([0, 7, 0x40]);
  });

  it('reads sectors by bus-master DMA through a PRD table, as ata_try_dma sets it up', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.pciSetup();
    // Spans a 64 KiB boundary: two PRDs.
    const buf = 0x2ff00;
    const t0 = rig.now;
    const r = rig.dmaCommand(P, false, lbaCmd(0xc8, 9, 4), buf, 4 * 512, false);
    expect(r).toEqual({ ret: 0, bm: 0x04, ide: 0x50 });
    expect(rig.mem.readBytes(buf, 2048)).toEqual(d.pristine.subarray(9 * 512, 13 * 512));
    expect(rig.irqLog[0]).toEqual([t0 + T.command + 4 * T.sector, 14, true]);
    // Bytes around the buffer are untouched.
    expect(rig.mem.read8(buf - 1)).toBe(0);
    expect(rig.mem.read8(buf + 2048)).toBe(0);
  });

  it('keeps the engine active when the PRDs describe more than the device moved, and stops short PRDs without an interrupt', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.pciSetup();
    const r = rig.dmaCommand(P, false, lbaCmd(0xc8, 0, 1), 0x40000, 1024, false); // PRD 1024, transfer 512
    expect(r.bm).toBe(0x05);
    expect(r.ret).toBe(-1);
    // A PRD of 512 for 2 sectors: the engine runs dry, no interrupt, device idle.
    rig.mem.write32(0x1000, 0x50000);
    rig.mem.write32(0x1004, 0x80000000 | 512);
    rig.io.out32(P.bm + 4, 0x1000);
    rig.outb(P.bm, 0x08);
    rig.outb(P.bm + 2, 0x06);
    rig.sendCmd(P, false, lbaCmd(0xc8, 0, 2));
    rig.outb(P.bm, 0x09);
    rig.advance(T.command + 2 * T.sector);
    expect(rig.inb(P.bm + 2)).toBe(0x00);
    expect(rig.inb(P.ctl)).toBe(0x50);
    expect(rig.mem.readBytes(0x50000, 512)).toEqual(d.pristine.subarray(0, 512));
  });

  it('waits for the engine when the command comes first and BM start later', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.pciSetup();
    rig.mem.write32(0x1000, 0x60000);
    rig.mem.write32(0x1004, 0x80000000 | 512);
    rig.io.out32(P.bm + 4, 0x1000);
    rig.outb(P.bm, 0x08);
    rig.sendCmd(P, false, lbaCmd(0xc8, 3, 1));
    rig.advance(5000);
    expect(rig.inb(P.ctl)).toBe(0x58); // DMA requested, waiting for the engine
    const start = rig.now;
    rig.outb(P.bm, 0x09);
    rig.advance(T.sector - 1);
    expect(rig.inb(P.bm + 2) & 0x04).toBe(0);
    rig.advance(1);
    expect(rig.inb(P.bm + 2)).toBe(0x04);
    expect(rig.irqLog).toEqual([[start + T.sector, 14, true]]);
  });

  it('writes sectors by PIO into the overlay and never into the image', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.outb(P.ctl, DC_HD15);
    const data = new Uint8Array(1024).map((_, i) => (i * 3) ^ 0x5a);
    rig.sendCmd(P, false, lbaCmd(0x30, 20, 2));
    const t0 = rig.now;
    rig.awaitIde(P, STAT.BSY | STAT.DRQ, STAT.DRQ);
    expect(rig.now).toBe(t0 + T.command);
    expect(rig.irqLog).toEqual([]); // no interrupt before the first block of a PIO write
    for (let blk = 0; blk < 2; blk++) {
      for (let i = 0; i < 512; i += 2) rig.outw(P.cmd, data[blk * 512 + i] | (data[blk * 512 + i + 1] << 8));
      const written = rig.now;
      expect(rig.inb(P.ctl)).toBe(STAT.BSY | STAT.RDY);
      const st = rig.awaitNotBusy(P);
      expect(rig.now).toBe(written + T.sector);
      expect(st).toBe(blk === 0 ? 0x58 : 0x50);
    }
    expect(rig.irqLog.filter(([, , l]) => l).map(([t]) => t)).toEqual([t0 + T.command + T.sector, t0 + T.command + 2 * T.sector]);
    expect(d.media.read(20, 2)).toEqual(data);
    expect(d.bytes).toEqual(d.pristine);
    expect(d.media.writtenSectors).toBe(2);
    // And through the SeaBIOS path, then read back by DMA.
    rig.pciSetup();
    const more = new Uint8Array(512).fill(0x3c);
    expect(rig.pioCommand(P, false, lbaCmd(0x30, 40, 1), 1, more).ret).toBe(0);
    rig.mem.load(0x70000, new Uint8Array(1024).fill(0x99));
    expect(rig.dmaCommand(P, false, lbaCmd(0xca, 41, 2), 0x70000, 1024, true).ret).toBe(0);
    expect(d.media.read(40, 3)).toEqual(new Uint8Array([...more, ...new Uint8Array(1024).fill(0x99)]));
    expect(d.bytes).toEqual(d.pristine);
  });

  it('READ/WRITE MULTIPLE move a block of SET MULTIPLE MODE sectors per DRQ', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    const nd = (cmd: number, count = 0) => {
      rig.sendCmd(P, false, { command: cmd, count });
      return rig.awaitNotBusy(P);
    };
    expect(nd(0xc6, 3)).toBe(0x41); // not a power of two
    expect(nd(0xc6, 4)).toBe(0x50);
    expect(word(rig.pioCommand(P, false, { command: 0xec }, 1).data, 59)).toBe(0x0104);
    rig.sendCmd(P, false, lbaCmd(0xc4, 2, 6));
    const sizes: number[] = [];
    const got: number[] = [];
    for (;;) {
      const st = rig.awaitNotBusy(P);
      if (!(st & STAT.DRQ)) break;
      let n = 0;
      while (rig.inb(P.ctl) & STAT.DRQ) {
        const w = rig.inw(P.cmd);
        got.push(w & 0xff, w >> 8);
        n += 2;
      }
      sizes.push(n);
    }
    expect(sizes).toEqual([2048, 1024]);
    expect(new Uint8Array(got)).toEqual(d.pristine.subarray(1024, 4096));
    // WRITE MULTIPLE EXT, two blocks
    const data = new Uint8Array(5 * 512).fill(0xe1);
    rig.sendCmd(P, false, { command: 0x39, count: 5, lbaLow: 30, device: DH_LBA, ext: true });
    let off = 0;
    for (;;) {
      const st = rig.awaitNotBusy(P);
      if (!(st & STAT.DRQ)) break;
      while (rig.inb(P.ctl) & STAT.DRQ) {
        rig.outw(P.cmd, data[off] | (data[off + 1] << 8));
        off += 2;
      }
    }
    expect(off).toBe(2560);
    expect(d.media.read(30, 5)).toEqual(data);
    expect(nd(0xc6, 0)).toBe(0x50);
    rig.sendCmd(P, false, lbaCmd(0xc4, 0, 1));
    expect(rig.awaitNotBusy(P)).toBe(0x41); // multiple mode disabled
  });

  it('addresses 48-bit LBAs through the HOB registers and reports both capacities', () => {
    class BigDisk implements BlockMedia {
      readonly sectorSize = 512;
      readonly size = 2 ** 29 * 512;
      read(lba: number, count: number): Uint8Array {
        const out = new Uint8Array(count * 512);
        for (let i = 0; i < count; i++) new DataView(out.buffer).setFloat64(i * 512, lba + i);
        return out;
      }
      write(): void {}
    }
    const rig = new Rig([{ kind: 'disk', media: new BigDisk() }]);
    const id = rig.pioCommand(P, false, { command: 0xec }, 1).data;
    expect(word(id, 60) | (word(id, 61) << 16)).toBe(0x0fffffff);
    expect(word(id, 100) + word(id, 101) * 65536 + word(id, 102) * 2 ** 32).toBe(2 ** 29);
    const lba = 0x1234567e;
    const r = rig.pioCommand(P, false, { command: 0x24, count: 3, lbaLow: 0x7e, lbaMid: 0x56, lbaHigh: 0x34, lbaLow2: 0x12, device: DH_LBA }, 3);
    expect(r.ret).toBe(0);
    const v = new DataView(r.data.buffer);
    expect([v.getFloat64(0), v.getFloat64(512), v.getFloat64(1024)]).toEqual([lba, lba + 1, lba + 2]);
    // Last sector 0x12345680 in the task file, its high bytes behind HOB.
    expect([3, 4, 5].map((k) => rig.inb(P.cmd + k))).toEqual([0x80, 0x56, 0x34]);
    rig.outb(P.ctl, DC_HD15 | 0x80);
    expect([3, 4, 5].map((k) => rig.inb(P.cmd + k))).toEqual([0x12, 0, 0]);
    rig.outb(P.cmd + 2, 0); // any register write clears HOB
    expect(rig.inb(P.cmd + 3)).toBe(0x80);
    // A 28-bit command past the end of a small disk: IDNF.
    const small = new Rig([disk(64).cfg]);
    expect(small.pioCommand(P, false, lbaCmd(0x20, 63, 2), 2).ret).toBe(-4);
    expect(small.inb(P.cmd + 1)).toBe(0x10);
  });

  it('translates CHS with the default geometry, an MBR-derived one and INITIALIZE DEVICE PARAMETERS', () => {
    const d = disk(2048);
    const rig = new Rig([d.cfg]);
    const chs = (c: number, h: number, s: number, n = 1) =>
      rig.pioCommand(P, false, { command: 0x20, count: n, lbaLow: s, lbaMid: c & 0xff, lbaHigh: c >> 8, device: DH_DEV0 | h }, n);
    // 16 heads, 63 sectors: C/H/S 1/2/3 is LBA (1*16+2)*63+2.
    expect(chs(1, 2, 3).data).toEqual(d.pristine.subarray(1136 * 512, 1137 * 512));
    expect(chs(0, 0, 0).ret).toBe(-4); // sector 0 does not exist
    expect(rig.inb(P.cmd + 1)).toBe(0x10);
    rig.sendCmd(P, false, { command: 0x91, count: 17, device: 3 });
    expect(rig.awaitNotBusy(P)).toBe(0x50);
    const id = rig.pioCommand(P, false, { command: 0xec }, 1).data;
    expect([word(id, 54), word(id, 55), word(id, 56)]).toEqual([30, 4, 17]);
    expect([word(id, 1), word(id, 3), word(id, 6)]).toEqual([2, 16, 63]);
    const r = chs(1, 2, 3, 2);
    expect(r.data).toEqual(d.pristine.subarray(104 * 512, 106 * 512));
    // The task file ends at the last sector, in CHS: 1/2/4.
    expect([rig.inb(P.cmd + 3), rig.inb(P.cmd + 4), rig.inb(P.cmd + 6) & 0xf]).toEqual([4, 1, 2]);
    // Geometry guessed from an MBR partition ending at head 3, sector 17.
    const mbr = diskPattern(2048);
    mbr.fill(0, 0x1be, 0x1fe);
    mbr.set([0x80, 1, 1, 0, 0x0c, 3, 17, 29], 0x1be);
    mbr.set([1, 0, 0, 0, 0xff, 0x07, 0, 0], 0x1be + 8);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    const g = new Rig([{ kind: 'disk', media: new CowOverlay(new RawImage(mbr)) }]);
    const gid = g.pioCommand(P, false, { command: 0xec }, 1).data;
    expect([word(gid, 1), word(gid, 3), word(gid, 6)]).toEqual([30, 4, 17]);
  });

  it('answers SET FEATURES, power management, FLUSH CACHE and unknown commands', () => {
    const rig = new Rig([disk().cfg]);
    rig.outb(P.ctl, DC_HD15);
    const nd = (command: number, feature = 0, count = 0) => {
      rig.sendCmd(P, false, { command, feature, count, device: DH_LBA });
      const st = rig.awaitNotBusy(P);
      return [st, rig.inb(P.cmd + 1), rig.inb(P.cmd + 2)];
    };
    expect(nd(0xef, 0x03, 0x22)[0]).toBe(0x50); // MWDMA2
    expect(word(rig.pioCommand(P, false, { command: 0xec }, 1).data, 63)).toBe(0x0407);
    expect(nd(0xef, 0x03, 0x45)[0]).toBe(0x50); // UDMA5
    expect(word(rig.pioCommand(P, false, { command: 0xec }, 1).data, 88)).toBe(0x203f);
    expect(nd(0xef, 0x03, 0x50)[0]).toBe(0x41); // no such transfer mode
    expect(nd(0xef, 0x82)[0]).toBe(0x50);
    expect(word(rig.pioCommand(P, false, { command: 0xec }, 1).data, 85) & 0x20).toBe(0);
    expect(nd(0xef, 0x99).slice(0, 2)).toEqual([0x41, 0x04]);
    expect(nd(0xe0)[0]).toBe(0x50);
    expect(nd(0xe5)[2]).toBe(0x00); // standby
    expect(rig.pioCommand(P, false, lbaCmd(0x20, 0, 1), 1).ret).toBe(0);
    expect(nd(0xe5)[2]).toBe(0xff); // active again
    expect(nd(0xe1)[0]).toBe(0x50);
    expect(nd(0xe5)[2]).toBe(0x80);
    expect(nd(0xe7)[0]).toBe(0x50);
    expect(nd(0xea)[0]).toBe(0x50);
    expect(nd(0x10)[0]).toBe(0x50);
    expect(nd(0xb0).slice(0, 2)).toEqual([0x41, 0x04]); // SMART: not there
    expect(nd(0x00).slice(0, 2)).toEqual([0x41, 0x04]); // NOP always aborts
    expect(nd(0xf8)[0]).toBe(0x50);
    expect([rig.inb(P.cmd + 3), rig.inb(P.cmd + 4), rig.inb(P.cmd + 6)]).toEqual([63, 0, 0xe0]);
    // EXECUTE DEVICE DIAGNOSTIC: signature, error 01h, interrupt.
    rig.irqLog.length = 0;
    rig.sendCmd(P, false, { command: 0x90 });
    const t = rig.now;
    expect(rig.awaitNotBusy(P)).toBe(0x50);
    expect([1, 2, 3, 4, 5].map((k) => rig.inb(P.cmd + k))).toEqual([1, 1, 1, 0, 0]);
    expect(rig.irqLog[0]).toEqual([t + T.command, 14, true]);
  });

  it('gates INTRQ with nIEN, drops it on a status read or a new command, and latches the bus-master interrupt bit', () => {
    const rig = new Rig([disk().cfg]);
    rig.pciSetup();
    rig.outb(P.ctl, DC_HD15 | DC_NIEN);
    rig.sendCmd(P, false, { command: 0xe7 });
    rig.advance(T.command);
    expect(rig.irqLog).toEqual([]);
    expect(rig.inb(P.bm + 2) & 0x04).toBe(0);
    rig.outb(P.ctl, DC_HD15); // the device still asserts INTRQ: the line rises now
    expect(rig.irqLog).toEqual([[rig.now, 14, true]]);
    expect(rig.inb(P.bm + 2) & 0x04).toBe(0x04);
    expect(rig.inb(P.ctl)).toBe(0x50); // alternate status leaves it
    expect(rig.irqLog.length).toBe(1);
    rig.inb(P.cmd + 7);
    expect(rig.irqLog[1]).toEqual([rig.now, 14, false]);
    rig.outb(P.bm + 2, 0x04); // write one to clear
    expect(rig.inb(P.bm + 2) & 0x04).toBe(0);
    rig.sendCmd(P, false, { command: 0xe7 });
    rig.advance(T.command);
    expect(rig.irqLog.length).toBe(3);
    rig.sendCmd(P, false, { command: 0xe7 }); // a new command drops the old interrupt
    expect(rig.irqLog[3]).toEqual([rig.now, 14, false]);
  });

  it('survives a hardware reset with its overlay and loses its bus-master mapping', () => {
    const d = disk();
    const rig = new Rig([d.cfg]);
    rig.pciSetup();
    expect(rig.pioCommand(P, false, lbaCmd(0x30, 1, 1), 1, new Uint8Array(512).fill(7)).ret).toBe(0);
    rig.outb(P.bm + 2, 0x60);
    rig.ide.reset();
    expect(rig.inb(P.bm + 2)).toBe(0xff);
    expect(rig.ide.readConfig(0x04, 2)).toBe(0);
    expect(rig.inb(P.cmd + 7)).toBe(0x50);
    expect(d.media.read(1, 1).every((b) => b === 7)).toBe(true);
  });
});

// ---- ATAPI ----

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** A small El Torito CD: volume descriptors, a boot catalog and a no-emulation boot image. */
function elToritoIso(sectors = 64): Uint8Array {
  const iso = diskPattern(sectors, 2048, 0x33);
  const at = (lba: number) => lba * 2048;
  iso.fill(0, at(16), at(21));
  iso.set([1, ...ascii('CD001'), 1], at(16));
  iso.set([0, ...ascii('CD001'), 1, ...ascii('EL TORITO SPECIFICATION')], at(17));
  new DataView(iso.buffer).setUint32(at(17) + 0x47, 19, true);
  iso.set([255, ...ascii('CD001'), 1], at(18));
  const cat = at(19);
  iso[cat] = 1;
  iso[cat + 0x1e] = 0x55;
  iso[cat + 0x1f] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum += iso[cat + i] | (iso[cat + i + 1] << 8);
  new DataView(iso.buffer).setUint16(cat + 0x1c, -sum & 0xffff, true);
  iso.set([0x88, 0, 0, 0, 0, 0, 4, 0], cat + 32);
  new DataView(iso.buffer).setUint32(cat + 32 + 8, 20, true);
  iso[at(20) + 510] = 0x55;
  iso[at(20) + 511] = 0xaa;
  return iso;
}

function cdrom(iso = elToritoIso()) {
  return { iso, cfg: { kind: 'cdrom' as const, media: new RawImage(iso, 2048, 'boot.iso') } };
}

describe('PIIX3 IDE: ATAPI CD-ROM', () => {
  it('is detected as SeaBIOS does: packet signature, IDENTIFY refused, IDENTIFY PACKET DEVICE', () => {
    const rig = new Rig([null, null, cdrom().cfg]);
    expect(rig.inb(S.cmd + 7)).toBe(0x00);
    rig.ataReset(S, false);
    expect([2, 3, 4, 5].map((k) => rig.inb(S.cmd + k))).toEqual([1, 1, 0x14, 0xeb]);
    const id = rig.pioCommand(S, false, { command: 0xa1 }, 1);
    expect(id.ret).toBe(0);
    expect(word(id.data, 0)).toBe(0x85c0);
    expect((word(id.data, 0) >> 8) & 0x1f).toBe(5); // SeaBIOS: iscd
    expect(identifyString(id.data, 27, 20)).toBe('BITROT CD-ROM');
    expect(word(id.data, 49) & 0x0100).toBe(0x0100); // DMA
    const ata = rig.pioCommand(S, false, { command: 0xec }, 1);
    expect(ata.ret).toBe(-4);
    expect([4, 5].map((k) => rig.inb(S.cmd + k))).toEqual([0x14, 0xeb]);
    // The primary channel is empty: everything reads 0.
    expect([1, 2, 3, 4, 5, 6, 7].map((k) => rig.inb(P.cmd + k))).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('answers INQUIRY, TEST UNIT READY and READ CAPACITY', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    const inq = rig.atapi(S, false, [0x12, 0, 0, 0, 36, 0], 36);
    expect(inq.ret).toBe(0);
    expect([inq.data[0], inq.data[1]]).toEqual([0x05, 0x80]);
    expect(String.fromCharCode(...inq.data.subarray(8, 32))).toBe('BITROT  BITROT CD-ROM   ');
    const tur = rig.atapi(S, false, [0x00], 0);
    expect(tur.ret).toBe(0);
    expect(rig.inb(S.cmd + 2)).toBe(3); // I/O and C/D: status phase
    const cap = rig.atapi(S, false, [0x25], 8);
    expect(cap.ret).toBe(0);
    const v = new DataView(cap.data.buffer);
    expect([v.getUint32(0), v.getUint32(4)]).toEqual([iso.length / 2048 - 1, 2048]);
  });

  it('reads by PIO with a 2048-byte limit: exact DRQ icounts, one interrupt per block and one for status', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    rig.outb(S.ctl, DC_HD15);
    rig.sendCmd(S, false, { lbaMid: 0x00, lbaHigh: 0x08, command: 0xa0 });
    const t0 = rig.now;
    expect(rig.waitData(S)).toBe(0);
    expect(rig.now).toBe(t0 + T.packet);
    expect(rig.inb(S.cmd + 2)).toBe(1); // C/D: the packet
    const cdb = [0x28, 0, 0, 0, 0, 30, 0, 0, 2, 0, 0, 0];
    for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
    const t1 = rig.now;
    const got: number[] = [];
    const drq: number[] = [];
    for (;;) {
      const st = rig.pauseAwaitNotBusy(S);
      if (!(st & STAT.DRQ)) {
        expect(st).toBe(0x50);
        break;
      }
      drq.push(rig.now);
      expect(rig.inb(S.cmd + 2)).toBe(2);
      expect(rig.inb(S.cmd + 4) | (rig.inb(S.cmd + 5) << 8)).toBe(2048);
      for (let i = 0; i < 2048; i += 2) {
        const w = rig.inw(S.cmd);
        got.push(w & 0xff, w >> 8);
      }
    }
    expect(drq).toEqual([t1 + T.command + T.cdSector, t1 + T.command + 2 * T.cdSector]);
    expect(new Uint8Array(got)).toEqual(iso.subarray(30 * 2048, 32 * 2048));
    expect(rig.inb(S.cmd + 2)).toBe(3);
    expect(rig.irqLog.filter(([, , l]) => l).map(([t]) => t)).toEqual([...drq, drq[1]]);
  });

  it('honours the byte count limit, splitting sectors and keeping intermediate blocks even', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    for (const limit of [1000, 1001]) {
      rig.sendCmd(S, false, { lbaMid: limit & 0xff, lbaHigh: limit >> 8, command: 0xa0 });
      expect(rig.waitData(S)).toBe(0);
      const cdb = [0xa8, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0]; // READ(12)
      for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
      const sizes: number[] = [];
      const got: number[] = [];
      while (rig.pauseAwaitNotBusy(S) & STAT.DRQ) {
        const n = rig.inb(S.cmd + 4) | (rig.inb(S.cmd + 5) << 8);
        sizes.push(n);
        for (let i = 0; i < n; i += 2) {
          const w = rig.inw(S.cmd);
          got.push(w & 0xff, w >> 8);
        }
      }
      expect(sizes).toEqual([1000, 1000, 1000, 1000, 96]);
      expect(new Uint8Array(got)).toEqual(iso.subarray(2 * 2048, 4 * 2048));
    }
  });

  it('boots like SeaBIOS cdrom_boot: boot record, catalog, then the no-emulation image', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    rig.ataReset(S, false);
    expect(rig.atapi(S, false, [0x00], 0).ret).toBe(0); // scsi_is_ready
    const read = (lba: number, count: number) =>
      rig.atapi(S, false, [0x28, 0, lba >>> 24, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, count >> 8, count & 0xff], 2048, count);
    const br = read(0x11, 1).data;
    expect(br[0]).toBe(0);
    expect(String.fromCharCode(...br.subarray(1, 6))).toBe('CD001');
    expect(String.fromCharCode(...br.subarray(7, 30))).toBe('EL TORITO SPECIFICATION');
    const catLba = new DataView(br.buffer).getUint32(0x47, true);
    const cat = read(catLba, 1).data;
    expect([cat[0], cat[0x1e], cat[0x1f], cat[0x20], cat[0x21]]).toEqual([1, 0x55, 0xaa, 0x88, 0]);
    let sum = 0;
    for (let i = 0; i < 32; i += 2) sum += cat[i] | (cat[i + 1] << 8);
    expect(sum & 0xffff).toBe(0);
    const dv = new DataView(cat.buffer);
    const nb = dv.getUint16(0x26, true);
    const imgLba = dv.getUint32(0x28, true);
    const img = read(imgLba, Math.ceil(nb / 4));
    expect(img.ret).toBe(0);
    expect(img.data).toEqual(iso.subarray(20 * 2048, 21 * 2048));
    expect([img.data[510], img.data[511]]).toEqual([0x55, 0xaa]);
  });

  it('reads by DMA when the PACKET feature asks for it', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    rig.pciSetup();
    rig.outb(S.ctl, DC_HD15);
    rig.mem.write32(0x1000, 0x80000);
    rig.mem.write32(0x1004, 0x80000000 | (3 * 2048));
    rig.io.out32(S.bm + 4, 0x1000);
    rig.outb(S.bm, 0x08);
    rig.sendCmd(S, false, { feature: 1, lbaMid: 0xfe, lbaHigh: 0xff, command: 0xa0 });
    expect(rig.waitData(S)).toBe(0);
    const cdb = [0x28, 0, 0, 0, 0, 40, 0, 0, 3, 0, 0, 0];
    for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
    const t1 = rig.now;
    rig.outb(S.bm, 0x09);
    while (!(rig.inb(S.bm + 2) & 0x04)) rig.step();
    expect(rig.now).toBe(t1 + T.command + 3 * T.cdSector);
    expect(rig.inb(S.bm + 2)).toBe(0x04);
    expect(rig.inb(S.cmd + 7)).toBe(0x50);
    expect(rig.inb(S.cmd + 2)).toBe(3);
    expect(rig.mem.readBytes(0x80000, 3 * 2048)).toEqual(iso.subarray(40 * 2048, 43 * 2048));
  });

  it('reports errors as CHECK CONDITION with sense data; eject, lock and media events', () => {
    const { cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    const bad = rig.atapi(S, false, [0xff], 0);
    expect([bad.ret, bad.status & 0xc9, bad.error]).toEqual([-2, 0x41, 0x50]);
    expect(rig.sense(S, false)).toEqual([5, 0x20, 0]);
    expect(rig.sense(S, false)).toEqual([0, 0, 0]); // REQUEST SENSE clears it
    expect(rig.atapi(S, false, [0x28, 0, 0, 0, 0, 63, 0, 0, 2], 2048, 2).ret).toBe(-2);
    expect(rig.sense(S, false)).toEqual([5, 0x21, 0]);
    const gesn = () => rig.atapi(S, false, [0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8], 8).data;
    expect([...gesn()]).toEqual([0, 6, 4, 0x10, 0, 2, 0, 0]); // no event, medium present
    expect(rig.atapi(S, false, [0x1b, 0, 0, 0, 0x02], 0).ret).toBe(0); // eject
    const tur = rig.atapi(S, false, [0x00], 0);
    expect(tur.error).toBe(0x20); // NOT READY: SeaBIOS's "skip Not Ready"
    expect(rig.sense(S, false)).toEqual([2, 0x3a, 0x02]);
    expect([...gesn()]).toEqual([0, 6, 4, 0x10, 3, 1, 0, 0]); // media removal, tray open
    expect(rig.atapi(S, false, [0x1b, 0, 0, 0, 0x03], 0).ret).toBe(0); // load
    expect(gesn()[4]).toBe(2); // new media
    expect(rig.atapi(S, false, [0x00], 0).ret).toBe(0);
    expect(rig.atapi(S, false, [0x1e, 0, 0, 0, 1], 0).ret).toBe(0); // prevent removal
    expect(rig.atapi(S, false, [0x1b, 0, 0, 0, 0x02], 0).ret).toBe(-2);
    expect(rig.sense(S, false)).toEqual([5, 0x53, 0x02]);
    expect(rig.atapi(S, false, [0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8], 8).ret).toBe(-2); // asynchronous GESN
    // An empty drive.
    const empty = new Rig([null, null, { kind: 'cdrom', media: null }]);
    expect(empty.atapi(S, false, [0x00], 0).ret).toBe(-2);
    expect(empty.sense(S, false)).toEqual([2, 0x3a, 0x01]);
  });

  it('takes DEVICE RESET even in the middle of a data phase, without an interrupt', () => {
    const { cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    rig.outb(S.ctl, DC_HD15);
    rig.sendCmd(S, false, { lbaMid: 0, lbaHigh: 8, command: 0xa0 });
    rig.waitData(S);
    const cdb = [0x28, 0, 0, 0, 0, 1, 0, 0, 4, 0, 0, 0];
    for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
    rig.awaitIde(S, STAT.BSY | STAT.DRQ, STAT.DRQ);
    rig.inw(S.cmd);
    const irqs = rig.irqLog.length;
    rig.outb(S.cmd + 7, 0x08);
    const t = rig.now;
    expect(rig.inb(S.ctl)).toBe(STAT.BSY);
    expect(rig.awaitNotBusy(S)).toBe(0);
    expect(rig.now).toBe(t + T.reset);
    expect([1, 2, 3, 4, 5].map((k) => rig.inb(S.cmd + k))).toEqual([1, 1, 1, 0x14, 0xeb]);
    expect(rig.irqLog.slice(irqs).filter(([, , l]) => l)).toEqual([]);
    expect(rig.atapi(S, false, [0x00], 0).ret).toBe(0);
    // A disk refuses it.
    const r2 = new Rig([disk().cfg]);
    r2.sendCmd(P, false, { command: 0x08 });
    expect(r2.awaitNotBusy(P)).toBe(0x41);
  });

  it('answers MODE SENSE(10), READ TOC, GET CONFIGURATION and READ DISC INFORMATION', () => {
    const { iso, cfg } = cdrom();
    const rig = new Rig([null, null, cfg]);
    const total = iso.length / 2048;
    const ms = rig.atapi(S, false, [0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 28], 28);
    expect(ms.ret).toBe(0);
    expect([ms.data[1], ms.data[8], ms.data[9]]).toEqual([26, 0x2a, 0x12]);
    expect(rig.atapi(S, false, [0x5a, 0, 0x05, 0, 0, 0, 0, 0, 28], 28).ret).toBe(-2);
    const toc = rig.atapi(S, false, [0x43, 0, 0, 0, 0, 0, 0, 0, 20], 20).data;
    expect([...toc.subarray(0, 4)]).toEqual([0, 18, 1, 1]);
    expect([toc[5], toc[6], toc[13], toc[14]]).toEqual([0x14, 1, 0x16, 0xaa]);
    expect(new DataView(toc.buffer).getUint32(16)).toBe(total);
    const msf = rig.atapi(S, false, [0x43, 2, 0, 0, 0, 0, 0, 0, 20], 20).data;
    expect([...msf.subarray(8, 12)]).toEqual([0, 0, 2, 0]); // LBA 0 = 00:02:00
    const f = total + 150;
    expect([...msf.subarray(16, 20)]).toEqual([0, Math.floor(f / 4500), Math.floor(f / 75) % 60, f % 75]);
    const ses = rig.atapi(S, false, [0x43, 0, 1, 0, 0, 0, 0, 0, 12], 12).data;
    expect([...ses.subarray(0, 7)]).toEqual([0, 10, 1, 1, 0, 0x14, 1]);
    const conf = rig.atapi(S, false, [0x46, 0, 0, 0, 0, 0, 0, 0, 8], 8).data;
    expect([conf[6], conf[7]]).toEqual([0, 0x08]); // CD-ROM profile
    const core = rig.atapi(S, false, [0x46, 2, 0, 1, 0, 0, 0, 0, 16], 16).data;
    expect([...core.subarray(8, 16)]).toEqual([0, 1, 3, 4, 0, 0, 0, 2]);
    const di = rig.atapi(S, false, [0x51, 0, 0, 0, 0, 0, 0, 0, 34], 34).data;
    expect([di[1], di[2], di[3], di[4]]).toEqual([32, 0x0e, 1, 1]);
  });
});
