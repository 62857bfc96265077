import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { CowOverlay, RawImage } from '../../../engine/block.ts';
import { IDE_TIMING as T } from '../../../engine/devices/piix-ide.ts';
import type { BlockFaultFilter, SectorVerdict } from '../../../engine/seams.ts';
import { StateHasher } from '../../../engine/hash.ts';
import { PRIMARY as P, SECONDARY as S, DC_HD15, DH_LBA, Rig, STAT, diskPattern } from './ide-harness.ts';

/** A fault plan by sector: what each read or write of a sector gets, and a log of every question. */
class Script implements BlockFaultFilter {
  readonly reads: [string, number, number][] = [];
  readonly writes: [string, number, number, Uint8Array][] = [];
  constructor(
    readonly onRead: Record<number, SectorVerdict> = {},
    readonly onWrite: Record<number, SectorVerdict> = {},
  ) {}
  read(drive: string, lba: number, icount: number): SectorVerdict {
    this.reads.push([drive, lba, icount]);
    return this.onRead[lba] ?? { kind: 'ok' };
  }
  write(drive: string, lba: number, data: Uint8Array, icount: number): SectorVerdict {
    this.writes.push([drive, lba, icount, data.slice()]);
    return this.onWrite[lba] ?? { kind: 'ok' };
  }
}

const pristine = diskPattern(64);
function diskRig(filter: Script | null, cd = false) {
  const media = new CowOverlay(new RawImage(pristine.slice(), 512, 'disk.img'));
  const iso = diskPattern(32, 2048, 0x21);
  const rig = new Rig([{ kind: 'disk', media, name: 'hda' }, null, cd ? { kind: 'cdrom', media: new RawImage(iso, 2048), name: 'cd' } : null]);
  rig.ide.faultFilter = filter;
  rig.pciSetup();
  return { rig, media, iso };
}

const lbaCmd = (command: number, lba: number, count: number) => ({ command, count, lbaLow: lba, device: DH_LBA });
const sector = (lba: number) => pristine.subarray(lba * 512, (lba + 1) * 512);

describe('PIIX3 IDE: block-device fault seam (ATA)', () => {
  it('fails a PIO read at the faulty sector with UNC, the failing LBA and the sectors left', () => {
    const f = new Script({ 7: { kind: 'error', code: 'unc' } });
    const { rig } = diskRig(f);
    const r = rig.pioCommand(P, false, lbaCmd(0x20, 5, 4), 4);
    expect(r.ret).toBe(-6); // SeaBIOS: "more sectors left"
    expect(r.data.subarray(0, 1024)).toEqual(pristine.subarray(5 * 512, 7 * 512));
    expect([rig.inb(P.cmd + 7), rig.inb(P.cmd + 1), rig.inb(P.cmd + 2), rig.inb(P.cmd + 3)]).toEqual([0x41, 0x40, 2, 7]);
    expect(f.reads.map(([d, l]) => [d, l])).toEqual([
      ['hda', 5],
      ['hda', 6],
      ['hda', 7],
    ]);
  });

  it('maps idnf to IDNF and crc to ICRC|ABRT, also by DMA, where the engine stops with its interrupt bit', () => {
    const f = new Script({ 3: { kind: 'error', code: 'idnf' }, 9: { kind: 'error', code: 'crc' } });
    const { rig } = diskRig(f);
    expect(rig.pioCommand(P, false, lbaCmd(0x20, 3, 1), 1).ret).toBe(-4);
    expect(rig.inb(P.cmd + 1)).toBe(0x10);
    rig.mem.load(0x40000, new Uint8Array(1536).fill(0xcc));
    const r = rig.dmaCommand(P, false, lbaCmd(0xc8, 8, 3), 0x40000, 1536, false);
    expect([r.ret, r.bm, r.ide]).toEqual([-1, 0x04, 0x41]);
    expect(rig.inb(P.cmd + 1)).toBe(0x84);
    expect(rig.inb(P.cmd + 3)).toBe(9);
    expect(rig.mem.readBytes(0x40000, 512)).toEqual(sector(8));
    expect(rig.mem.readBytes(0x40200, 1024).every((b) => b === 0xcc)).toBe(true);
  });

  it('corrupts, loses or tears what is read', () => {
    const xor = new Uint8Array([0xff, 0, 0x01]);
    const f = new Script({ 2: { kind: 'corrupt', xor }, 4: { kind: 'lost' }, 11: { kind: 'torn', bytes: 64 }, 12: { kind: 'lost' } });
    const { rig } = diskRig(f);
    const c = rig.pioCommand(P, false, lbaCmd(0x20, 2, 1), 1).data;
    const want = sector(2).slice();
    want[0] ^= 0xff;
    want[2] ^= 0x01;
    expect(c).toEqual(want);
    // A lost PIO read hands over what the drive's buffer held: the previous sector.
    expect(rig.pioCommand(P, false, lbaCmd(0x20, 3, 1), 1).data).toEqual(sector(3));
    expect(rig.pioCommand(P, false, lbaCmd(0x20, 4, 1), 1).data).toEqual(sector(3));
    // By DMA, a lost sector leaves memory alone and a torn one stores only its first bytes.
    rig.mem.load(0x50000, new Uint8Array(1536).fill(0xcc));
    expect(rig.dmaCommand(P, false, lbaCmd(0xc8, 10, 3), 0x50000, 1536, false).ret).toBe(0);
    expect(rig.mem.readBytes(0x50000, 512)).toEqual(sector(10));
    const torn = rig.mem.readBytes(0x50200, 512);
    expect(torn.subarray(0, 64)).toEqual(sector(11).subarray(0, 64));
    expect(torn.subarray(64).every((b) => b === 0xcc)).toBe(true);
    expect(rig.mem.readBytes(0x50400, 512).every((b) => b === 0xcc)).toBe(true);
  });

  it('loses, tears, corrupts or refuses what is written; the filter sees the data', () => {
    const f = new Script({}, {
      11: { kind: 'lost' },
      12: { kind: 'torn', bytes: 100 },
      13: { kind: 'corrupt', xor: new Uint8Array([0, 0x80]) },
      20: { kind: 'error', code: 'unc' },
    });
    const { rig, media } = diskRig(f);
    const data = new Uint8Array(4 * 512).fill(0x5e);
    expect(rig.pioCommand(P, false, lbaCmd(0x30, 10, 4), 4, data).ret).toBe(0);
    expect(media.read(10, 1).every((b) => b === 0x5e)).toBe(true);
    expect(media.read(11, 1)).toEqual(sector(11));
    const t = media.read(12, 1);
    expect(t.subarray(0, 100).every((b) => b === 0x5e)).toBe(true);
    expect(t.subarray(100)).toEqual(sector(12).subarray(100));
    const c = media.read(13, 1);
    expect([c[0], c[1], c[2]]).toEqual([0x5e, 0xde, 0x5e]);
    expect(f.writes.map(([d, l, , b]) => [d, l, b[0]])).toEqual([
      ['hda', 10, 0x5e],
      ['hda', 11, 0x5e],
      ['hda', 12, 0x5e],
      ['hda', 13, 0x5e],
    ]);
    rig.mem.load(0x60000, new Uint8Array(1024).fill(0x77));
    const r = rig.dmaCommand(P, false, lbaCmd(0xca, 19, 2), 0x60000, 1024, true);
    expect([r.ret, rig.inb(P.cmd + 1), rig.inb(P.cmd + 3)]).toEqual([-1, 0x40, 20]);
    expect(media.read(19, 1).every((b) => b === 0x77)).toBe(true);
    expect(media.read(20, 1)).toEqual(sector(20));
  });

  it('delays a slow sector by exactly its delay and asks about it only once', () => {
    const f = new Script({ 6: { kind: 'slow', delay: 5000 }, 31: { kind: 'slow', delay: 7000 } });
    const { rig } = diskRig(f);
    rig.outb(P.ctl, DC_HD15);
    rig.sendCmd(P, false, lbaCmd(0x20, 5, 2));
    const t0 = rig.now;
    rig.awaitIde(P, STAT.BSY | STAT.DRQ, STAT.DRQ);
    expect(rig.now).toBe(t0 + T.command + T.sector);
    for (let i = 0; i < 256; i++) rig.inw(P.cmd);
    const t1 = rig.now;
    rig.awaitIde(P, STAT.BSY | STAT.DRQ, STAT.DRQ);
    expect(rig.now).toBe(t1 + T.sector + 5000);
    for (let i = 0; i < 256; i++) rig.inw(P.cmd);
    expect(f.reads.filter(([, l]) => l === 6).length).toBe(1);
    // By DMA the interrupt comes late by the same amount.
    rig.irqLog.length = 0;
    const t2 = rig.now;
    expect(rig.dmaCommand(P, false, lbaCmd(0xc8, 30, 3), 0x70000, 1536, false).ret).toBe(0);
    expect(rig.irqLog[0]).toEqual([t2 + T.command + 3 * T.sector + 7000, 14, true]);
    expect(rig.mem.readBytes(0x70000, 1536)).toEqual(pristine.subarray(30 * 512, 33 * 512));
    expect(f.reads.filter(([, l]) => l === 31).length).toBe(1);
  });
});

describe('PIIX3 IDE: block-device fault seam (ATAPI)', () => {
  it('turns a read error into MEDIUM ERROR sense, by PIO and by DMA', () => {
    const f = new Script({ 5: { kind: 'error', code: 'unc' }, 9: { kind: 'error', code: 'idnf' } });
    const { rig, iso } = diskRig(f, true);
    const r = rig.atapi(S, false, [0x28, 0, 0, 0, 0, 4, 0, 0, 2], 2048, 2);
    expect([r.ret, r.error]).toEqual([-6, 0]);
    expect(rig.inb(S.cmd + 7) & 0xc9).toBe(0x41);
    expect(rig.inb(S.cmd + 1)).toBe(0x30);
    expect(r.data.subarray(0, 2048)).toEqual(iso.subarray(4 * 2048, 5 * 2048));
    expect(rig.sense(S, false)).toEqual([3, 0x11, 0]);
    expect(f.reads.map(([d]) => d)).toEqual(['cd', 'cd']);
    // DMA
    rig.mem.write32(0x1000, 0x80000);
    rig.mem.write32(0x1004, 0x80000000 | 4096);
    rig.io.out32(S.bm + 4, 0x1000);
    rig.outb(S.bm, 0x08);
    rig.outb(S.ctl, DC_HD15);
    rig.sendCmd(S, false, { feature: 1, lbaMid: 0, lbaHigh: 0x80, command: 0xa0 });
    expect(rig.waitData(S)).toBe(0);
    const cdb = [0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0, 0, 0];
    for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
    rig.outb(S.bm, 0x09);
    while (!(rig.inb(S.bm + 2) & 0x04)) rig.step();
    expect(rig.inb(S.bm + 2)).toBe(0x04);
    expect(rig.inb(S.cmd + 7) & 0xc9).toBe(0x41);
    expect(rig.sense(S, false)).toEqual([3, 0x14, 0x01]);
    expect(rig.mem.readBytes(0x80000, 2048)).toEqual(iso.subarray(8 * 2048, 9 * 2048));
  });
});

// ---- save/load in the middle of a command ----

interface Snap {
  clock: ReturnType<Rig['clock']['save']>;
  mem: ReturnType<Rig['mem']['save']>;
  ide: unknown;
}

function snapshot(rig: Rig): Snap {
  // Through msgpack, as a recording would carry it: the state must be plain data.
  return unpack(pack({ clock: rig.clock.save(), mem: rig.mem.save(true), ide: rig.ide.save() })) as Snap;
}
function restore(rig: Rig, s: Snap): void {
  rig.mem.restore(s.mem);
  rig.clock.load(s.clock);
  rig.ide.load(s.ide);
}
function stateHash(rig: Rig): string {
  return new StateHasher().value(rig.ide.save()).num(rig.clock.icount).hex();
}

/** Run `rest` on the rig that took the snapshot and on a fresh rig loaded from it; both must agree. */
function equivalent(make: () => Rig, before: (rig: Rig) => void, rest: (rig: Rig) => unknown): void {
  const a = make();
  before(a);
  const snap = snapshot(a);
  const hashAtSnap = stateHash(a);
  const logAt = a.irqLog.length;
  const outA = rest(a);
  const b = make();
  restore(b, snap);
  expect(stateHash(b)).toBe(hashAtSnap);
  const outB = rest(b);
  expect(outB).toEqual(outA);
  expect(b.irqLog).toEqual(a.irqLog.slice(logAt));
  expect(b.clock.icount).toBe(a.clock.icount);
  expect(stateHash(b)).toBe(stateHash(a));
  const ram = (r: Rig) => new StateHasher().bytes(r.mem.backing.subarray(0, r.mem.ramSize)).hex();
  expect(ram(b)).toBe(ram(a));
}

describe('PIIX3 IDE: save/load mid-command', () => {
  const script = () =>
    new Script(
      { 3: { kind: 'slow', delay: 3000 }, 13: { kind: 'slow', delay: 4000 }, 14: { kind: 'corrupt', xor: new Uint8Array([1, 2, 3]) } },
      { 40: { kind: 'torn', bytes: 10 } },
    );
  const make = () => {
    const r = diskRig(script(), true).rig;
    r.outb(P.ctl, DC_HD15);
    r.outb(S.ctl, DC_HD15);
    return r;
  };
  const readAll = (rig: Rig, c = P) => {
    const words: number[] = [];
    for (;;) {
      const st = rig.awaitNotBusy(c);
      if (!(st & STAT.DRQ)) return { words, st, at: rig.now };
      while (rig.inb(c.ctl) & STAT.DRQ) words.push(rig.inw(c.cmd));
    }
  };

  it('in the middle of a READ MULTIPLE block, after a write left data in the overlay', () => {
    equivalent(
      make,
      (rig) => {
        expect(rig.pioCommand(P, false, lbaCmd(0x30, 40, 1), 1, new Uint8Array(512).fill(9)).ret).toBe(0);
        rig.outb(P.ctl, DC_HD15);
        rig.sendCmd(P, false, { command: 0xc6, count: 4 });
        rig.awaitNotBusy(P);
        rig.sendCmd(P, false, lbaCmd(0xc4, 1, 8));
        rig.awaitIde(P, STAT.BSY | STAT.DRQ, STAT.DRQ);
        for (let i = 0; i < 300; i++) rig.inw(P.cmd);
      },
      (rig) => {
        const r = readAll(rig);
        const back = rig.pioCommand(P, false, lbaCmd(0x20, 40, 1), 1).data;
        return { ...r, back: [...back.subarray(0, 12)] };
      },
    );
  });

  it('with a DMA transfer held up by a slow sector', () => {
    equivalent(
      make,
      (rig) => {
        rig.mem.write32(0x1000, 0x90000);
        rig.mem.write32(0x1004, 0x80000000 | 4096);
        rig.io.out32(P.bm + 4, 0x1000);
        rig.outb(P.bm, 0x08);
        rig.sendCmd(P, false, lbaCmd(0xc8, 10, 8));
        rig.outb(P.bm, 0x09);
        rig.advance(T.command + 8 * T.sector + 100); // sectors 10-12 moved, 13 is slow
        expect(rig.mem.read8(0x90000)).toBe(10);
        expect(rig.mem.read8(0x90600)).toBe(0);
      },
      (rig) => {
        while (!(rig.inb(P.bm + 2) & 0x04)) rig.step();
        return { bm: rig.inb(P.bm + 2), st: rig.inb(P.cmd + 7), at: rig.now };
      },
    );
  });

  it('between byte-count-limited ATAPI blocks that split a sector', () => {
    equivalent(
      make,
      (rig) => {
        rig.sendCmd(S, false, { lbaMid: 1000 & 0xff, lbaHigh: 1000 >> 8, command: 0xa0 });
        rig.waitData(S);
        const cdb = [0x28, 0, 0, 0, 0, 13, 0, 0, 2, 0, 0, 0];
        for (let i = 0; i < 12; i += 2) rig.outw(S.cmd, cdb[i] | (cdb[i + 1] << 8));
        for (let k = 0; k < 2; k++) {
          rig.awaitIde(S, STAT.BSY | STAT.DRQ, STAT.DRQ);
          for (let i = 0; i < 500; i++) rig.inw(S.cmd);
        }
        rig.awaitIde(S, STAT.BSY | STAT.DRQ, STAT.DRQ);
        for (let i = 0; i < 10; i++) rig.inw(S.cmd);
      },
      (rig) => readAll(rig, S),
    );
  });

  it('while software reset is under way', () => {
    equivalent(
      make,
      (rig) => {
        rig.outb(P.ctl, DC_HD15 | 0x04);
        rig.advance(10);
        rig.outb(P.ctl, DC_HD15);
        rig.advance(5);
      },
      (rig) => {
        const st = rig.awaitNotBusy(P);
        return { st, at: rig.now, sig: [2, 3, 4, 5].map((k) => rig.inb(P.cmd + k)) };
      },
    );
  });
});
