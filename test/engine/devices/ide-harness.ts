// A bench for the PIIX3 IDE function without a CPU: the clock, the port bus and RAM, IRQ
// lines that log every level change with its icount, and a guest driver that talks to the
// controller the way SeaBIOS's src/hw/ata.c does (polling status, nIEN around PIO, the
// bus-master engine for DMA). Time only moves when the guest has to wait: the bench jumps
// to the next timer deadline, so every result lands at an exact icount.

import { Clock } from '../../../engine/clock.ts';
import { InputDoor, OutputSink } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import type { IrqLine } from '../../../engine/devices/device.ts';
import { PiixIde, type IdeDriveConfig } from '../../../engine/devices/piix-ide.ts';

export const PRIMARY = { cmd: 0x1f0, ctl: 0x3f6, bm: 0xc000, irq: 14 };
export const SECONDARY = { cmd: 0x170, ctl: 0x376, bm: 0xc008, irq: 15 };
export type Chan = typeof PRIMARY;

// SeaBIOS names (src/hw/ata.h)
export const STAT = { BSY: 0x80, RDY: 0x40, DF: 0x20, DSC: 0x10, DRQ: 0x08, ERR: 0x01 };
export const DC_HD15 = 0x08;
export const DC_NIEN = 0x02;
export const DC_SRST = 0x04;
export const DH_DEV0 = 0xa0;
export const DH_DEV1 = 0xb0;
export const DH_LBA = 0x40;

export interface AtaCommand {
  feature?: number;
  count?: number;
  lbaLow?: number;
  lbaMid?: number;
  lbaHigh?: number;
  device?: number;
  command: number;
  feature2?: number;
  count2?: number;
  lbaLow2?: number;
  lbaMid2?: number;
  lbaHigh2?: number;
  /** Write the HOB registers even for a command SeaBIOS does not send as 48-bit. */
  ext?: boolean;
}

export class Rig {
  readonly clock = new Clock();
  readonly io = new PortBus();
  readonly mem = new PhysicalMemory(4 << 20);
  /** [icount, irq, level] for every change of IRQ 14/15. */
  readonly irqLog: [number, number, boolean][] = [];
  readonly ide: PiixIde;

  constructor(drives: (IdeDriveConfig | null)[]) {
    const line = (n: number): IrqLine => ({
      set: (l) => this.irqLog.push([this.clock.icount, n, l]),
      raise: () => this.irqLog.push([this.clock.icount, n, true]),
      lower: () => this.irqLog.push([this.clock.icount, n, false]),
    });
    this.ide = new PiixIde(
      { clock: this.clock, io: this.io, mem: this.mem, input: new InputDoor(), output: new OutputSink() },
      [line(14), line(15)],
      drives,
    );
    this.ide.attach();
  }

  /** What SeaBIOS's pciinit and ata.c do to the function: BAR4, I/O and bus master on, decode enable. */
  pciSetup(): void {
    this.ide.writeConfig(0x20, PRIMARY.bm | 1, 4);
    this.ide.writeConfig(0x04, 0x0005, 2);
    this.ide.writeConfig(0x40, 0x8000, 2);
    this.ide.writeConfig(0x42, 0x8000, 2);
  }

  get now(): number {
    return this.clock.icount;
  }

  /** Let `n` instructions pass, firing what falls due. */
  advance(n: number): void {
    const to = this.clock.icount + n;
    while (this.clock.next <= to) {
      this.clock.icount = Math.max(this.clock.icount, this.clock.next);
      this.clock.fireDue();
    }
    this.clock.icount = to;
  }

  /** Jump to the next deadline and fire it (the guest is spinning on a status bit). */
  step(): void {
    if (this.clock.next === Infinity) throw new Error('the controller will never change state (nothing scheduled)');
    this.clock.icount = Math.max(this.clock.icount, this.clock.next);
    this.clock.fireDue();
  }

  inb(p: number): number {
    return this.io.in8(p);
  }
  outb(p: number, v: number): void {
    this.io.out8(p, v);
  }
  inw(p: number): number {
    return this.io.in16(p);
  }
  outw(p: number, v: number): void {
    this.io.out16(p, v);
  }

  // ---- SeaBIOS ata.c ----

  awaitIde(c: Chan, mask: number, flags: number): number {
    for (;;) {
      const s = this.inb(c.cmd + 7);
      if ((s & mask) === flags) return s;
      this.step();
    }
  }
  awaitNotBusy(c: Chan): number {
    return this.awaitIde(c, STAT.BSY, 0);
  }
  pauseAwaitNotBusy(c: Chan): number {
    this.inb(c.ctl);
    return this.awaitNotBusy(c);
  }

  ataReset(c: Chan, slave: boolean): number {
    this.outb(c.ctl, DC_HD15 | DC_NIEN | DC_SRST);
    this.advance(500); // udelay(5)
    this.outb(c.ctl, DC_HD15 | DC_NIEN);
    let status = this.awaitNotBusy(c);
    if (slave) {
      this.outb(c.cmd + 6, DH_DEV1);
      status = this.awaitNotBusy(c);
    } else {
      this.outb(c.cmd + 6, DH_DEV0);
    }
    this.outb(c.ctl, DC_HD15);
    return status;
  }

  sendCmd(c: Chan, slave: boolean, cmd: AtaCommand): void {
    this.awaitNotBusy(c);
    const newdh = ((cmd.device ?? 0) & ~0x10) | (slave ? DH_DEV1 : DH_DEV0);
    const olddh = this.inb(c.cmd + 6);
    this.outb(c.cmd + 6, newdh);
    if ((olddh ^ newdh) & 0x10) this.awaitNotBusy(c);
    if ((cmd.command & ~0x11) === 0x24 || cmd.ext) {
      this.outb(c.cmd + 1, cmd.feature2 ?? 0);
      this.outb(c.cmd + 2, cmd.count2 ?? 0);
      this.outb(c.cmd + 3, cmd.lbaLow2 ?? 0);
      this.outb(c.cmd + 4, cmd.lbaMid2 ?? 0);
      this.outb(c.cmd + 5, cmd.lbaHigh2 ?? 0);
    }
    this.outb(c.cmd + 1, cmd.feature ?? 0);
    this.outb(c.cmd + 2, cmd.count ?? 0);
    this.outb(c.cmd + 3, cmd.lbaLow ?? 0);
    this.outb(c.cmd + 4, cmd.lbaMid ?? 0);
    this.outb(c.cmd + 5, cmd.lbaHigh ?? 0);
    this.outb(c.cmd + 7, cmd.command);
  }

  /** ata_wait_data: 0, or SeaBIOS's negative error code. */
  waitData(c: Chan): number {
    const s = this.awaitNotBusy(c);
    if (s & STAT.ERR) return -4;
    if (!(s & STAT.DRQ)) return -5;
    return 0;
  }

  /** ata_pio_transfer (16-bit): `count` blocks of `blocksize` bytes. */
  pioTransfer(c: Chan, write: Uint8Array | null, count: number, blocksize: number, into?: Uint8Array): number {
    let off = 0;
    let status: number;
    for (;;) {
      for (let i = 0; i < blocksize; i += 2) {
        if (write) this.outw(c.cmd, write[off + i] | (write[off + i + 1] << 8));
        else {
          const w = this.inw(c.cmd);
          if (into) {
            into[off + i] = w & 0xff;
            into[off + i + 1] = w >> 8;
          }
        }
      }
      off += blocksize;
      status = this.pauseAwaitNotBusy(c);
      count--;
      if (!count) break;
      if ((status & (STAT.BSY | STAT.DRQ | STAT.ERR)) !== STAT.DRQ) return -6;
    }
    status &= STAT.BSY | STAT.DF | STAT.DRQ | STAT.ERR;
    if (!write) status &= ~STAT.DF;
    return status !== 0 ? -7 : 0;
  }

  /** ata_pio_cmd_data: a PIO command with nIEN set, then interrupts back on. */
  pioCommand(c: Chan, slave: boolean, cmd: AtaCommand, count: number, write: Uint8Array | null = null): { ret: number; data: Uint8Array } {
    const data = new Uint8Array(count * 512);
    this.outb(c.ctl, DC_HD15 | DC_NIEN);
    this.sendCmd(c, slave, cmd);
    let ret = this.waitData(c);
    if (ret === 0) ret = this.pioTransfer(c, write, count, 512, data);
    this.outb(c.ctl, DC_HD15);
    return { ret, data };
  }

  /** ata_try_dma + ata_dma_transfer, with the PRD table at `prdAt`, splitting at 64 KiB boundaries. */
  dmaCommand(c: Chan, slave: boolean, cmd: AtaCommand, buf: number, bytes: number, write: boolean, prdAt = 0x1000): { ret: number; bm: number; ide: number } {
    let dest = buf;
    let left = bytes;
    let at = prdAt;
    while (left) {
      let count = Math.min(left, 0x10000 - (dest & 0xffff));
      left -= count;
      const len = count;
      if (!left) count |= 0x80000000;
      this.mem.write32(at, dest);
      this.mem.write32(at + 4, count | 0);
      dest += len;
      at += 8;
    }
    this.io.out32(c.bm + 4, prdAt);
    const oldcmd = this.inb(c.bm) & ~0x09;
    this.outb(c.bm, oldcmd | (write ? 0 : 0x08));
    this.outb(c.bm + 2, 0x06);
    this.sendCmd(c, slave, cmd);
    this.outb(c.bm, this.inb(c.bm) | 0x01);
    let bm: number;
    for (;;) {
      bm = this.inb(c.bm + 2);
      if (bm & 0x04) break;
      this.step();
    }
    this.outb(c.bm, oldcmd & ~0x01);
    const ide = this.pauseAwaitNotBusy(c);
    const ok = (bm & 0x05) === 0x04 && (ide & (STAT.BSY | STAT.DF | STAT.DRQ | STAT.ERR)) === 0;
    return { ret: ok ? 0 : -1, bm, ide };
  }

  /** ata_atapi_process_op: a packet command by PIO, byte count limit = blocksize. */
  atapi(c: Chan, slave: boolean, cdb: number[], blocksize: number, count = 1): { ret: number; data: Uint8Array; status: number; error: number } {
    const data = new Uint8Array(blocksize * count);
    this.outb(c.ctl, DC_HD15 | DC_NIEN);
    this.sendCmd(c, slave, { lbaMid: blocksize & 0xff, lbaHigh: blocksize >> 8, command: 0xa0 });
    let ret = this.waitData(c);
    let status = 0;
    let error = 0;
    if (ret === 0) {
      const packet = [...cdb, ...new Array<number>(12).fill(0)].slice(0, 12);
      for (let i = 0; i < 12; i += 2) this.outw(c.cmd, packet[i] | (packet[i + 1] << 8));
      status = this.pauseAwaitNotBusy(c);
      if (status & STAT.ERR) {
        error = this.inb(c.cmd + 1);
        ret = -2;
      } else if (blocksize) {
        if (!(status & STAT.DRQ)) ret = -3;
        else ret = this.pioTransfer(c, null, count, blocksize, data);
        status = this.inb(c.ctl);
      }
    }
    this.outb(c.ctl, DC_HD15);
    return { ret, data, status, error };
  }

  /** REQUEST SENSE: [key, asc, ascq]. */
  sense(c: Chan, slave: boolean): number[] {
    const r = this.atapi(c, slave, [0x03, 0, 0, 0, 18, 0], 18);
    return [r.data[2] & 0x0f, r.data[12], r.data[13]];
  }
}

/** 512-byte sector `lba` of the test disks: a recognisable pattern. */
export function diskPattern(sectors: number, ss = 512, seed = 0): Uint8Array {
  const b = new Uint8Array(sectors * ss);
  for (let s = 0; s < sectors; s++) {
    for (let i = 0; i < ss; i++) b[s * ss + i] = (s * 13 + i * 7 + seed) & 0xff;
    b[s * ss] = s & 0xff;
    b[s * ss + 1] = (s >> 8) & 0xff;
  }
  return b;
}

/** An IDENTIFY string (two characters a word, first in the high byte). */
export function identifyString(id: Uint8Array, word: number, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) s += String.fromCharCode(id[(word + i) * 2 + 1], id[(word + i) * 2]);
  return s.trimEnd();
}

export function word(id: Uint8Array, w: number): number {
  return id[w * 2] | (id[w * 2 + 1] << 8);
}
