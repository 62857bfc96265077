// Intel 82371SB (PIIX3) IDE function, PCI 00:01.1, 8086:7010, class 01 01 80: two legacy ATA
// channels (primary 0x1F0-0x1F7 + 0x3F6 on IRQ 14, secondary 0x170-0x177 + 0x376 on IRQ 15)
// and the bus-master IDE engine behind BAR4 (PIIX3 datasheet 2.7, "Bus Master IDE Registers";
// PRD tables in guest memory). Each channel holds up to two devices:
//   ATA disks (ATA/ATAPI-6): IDENTIFY DEVICE, READ/WRITE SECTORS (EXT), READ/WRITE MULTIPLE
//     (EXT), READ/WRITE DMA (EXT), READ VERIFY, SET MULTIPLE MODE, SET FEATURES, INITIALIZE
//     DEVICE PARAMETERS (CHS translation), IDLE/STANDBY/SLEEP/CHECK POWER MODE, FLUSH CACHE,
//     READ NATIVE MAX ADDRESS, SEEK, RECALIBRATE, EXECUTE DEVICE DIAGNOSTIC; LBA28, LBA48
//     and CHS addressing; software reset with signatures; nIEN and the HOB read-back bit.
//   ATAPI CD-ROM (SFF-8020/MMC): PACKET (PIO honouring the byte count limit, or DMA),
//     IDENTIFY PACKET DEVICE, DEVICE RESET, and the packet commands TEST UNIT READY, REQUEST
//     SENSE, INQUIRY, READ CAPACITY, READ(10), READ(12), SEEK, MODE SENSE(10) (pages 01h,
//     2Ah), START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, GET CONFIGURATION, READ TOC
//     (formats 0-2), READ DISC INFORMATION, GET EVENT STATUS NOTIFICATION (polled, media
//     class), MECHANISM STATUS, SET CD SPEED; errors as CHECK CONDITION with sense data.
// Every sector goes through the block-device fault seam (`faultFilter`, engine/seams.ts).
// Time comes from the icount clock only: one timer per device; every command, data block,
// DMA transfer and reset completes after the delays in IDE_TIMING.
//
// Leaves out: IDETIM/SIDETIM timings have no effect and the legacy ports decode whatever
// IDETIM says (as on QEMU's pc); native-PCI mode; SMART, security, HPA (SET MAX),
// TRIM/DATA SET MANAGEMENT, NCQ and queued/overlapped commands; 8-bit data transfers; audio,
// READ CD, writing CD/DVD media and changer commands; unit attention after reset; media
// changes from outside the machine; a PRD region crossing 64 KiB is not refused, the
// bus-master direction bit is not checked against the command, and the bus-master error bit
// never sets (there are no PCI master or target aborts).

import type { Clock, Timer } from '../clock.ts';
import type { PhysicalMemory } from '../memory.ts';
import type { PortBus, PortHandler } from '../io-bus.ts';
import { applyCorruption, type BlockFaultFilter, type SectorVerdict } from '../seams.ts';
import { sectorCount, type BlockMedia } from '../block.ts';
import { PciDevice } from './pci-device.ts';
import type { Device, DeviceContext, IrqLine } from './device.ts';

/** Bus 0, device 1, function 1. */
export const PIIX3_IDE_BDF = (1 << 3) | 1;

/** Deterministic delays, in retired instructions (10 ns each at NOMINAL_HZ). */
export const IDE_TIMING = {
  /** Command register written -> command executes (result, first data block or DMA ready). */
  command: 1_000,
  /** Per 512-byte disk sector moved between medium and buffer. */
  sector: 500,
  /** Per 2048-byte CD sector. */
  cdSector: 2_000,
  /** PACKET written -> DRQ for the command packet; also a small non-media ATAPI data phase. */
  packet: 100,
  /** SRST released (or DEVICE RESET) -> device ready with its signature. */
  reset: 2_000,
} as const;

// ---- register bits (ATA/ATAPI-6 ch. 7) ----

const enum St {
  ERR = 0x01,
  DRQ = 0x08,
  DSC = 0x10,
  DRDY = 0x40,
  BSY = 0x80,
}
const enum Er {
  ABRT = 0x04,
  IDNF = 0x10,
  UNC = 0x40,
  ICRC = 0x80,
}
const enum Ctl {
  NIEN = 0x02,
  SRST = 0x04,
  HOB = 0x80,
}
/** ATAPI interrupt reason, in the sector count register. */
const enum Ir {
  COD = 0x01,
  IO = 0x02,
}
/** Bus-master IDE command register. */
const enum BmCmd {
  START = 0x01,
  WRITE_MEMORY = 0x08,
}
/** Bus-master IDE status register. */
const enum Bm {
  ACTIVE = 0x01,
  ERROR = 0x02,
  INTERRUPT = 0x04,
}

/** What a device's timer does when it fires. */
const enum Phase {
  Idle = 0,
  Command = 1,
  PioIn = 2,
  PioOutCommit = 3,
  Verify = 4,
  DmaWait = 5,
  DmaXfer = 6,
  AtapiExec = 7,
  AtapiData = 8,
  Reset = 9,
}

/** What finishing a PIO data block leads to. */
const enum Pio {
  None = 0,
  Buffer = 1, // IDENTIFY: one block, then done
  AtaRead = 2,
  AtaWrite = 3,
  Packet = 4,
  AtapiData = 5,
}

const SENSE_NOT_READY = 0x02;
const SENSE_MEDIUM_ERROR = 0x03;
const SENSE_ILLEGAL_REQUEST = 0x05;

/** Sectors above which a disc counts as a DVD (80-minute CD: 360,000 sectors). */
const CD_MAX_SECTORS = 360_000;
const MAX_MULTIPLE = 16;
/** Packet commands that report NOT READY without a medium. */
const NEEDS_MEDIUM: readonly number[] = [0x00, 0x25, 0x28, 0xa8, 0x2b, 0x43, 0x51];
const BUF_SIZE = 0x10000;

export interface IdeDriveConfig {
  kind: 'disk' | 'cdrom';
  /** A disk needs writable media (a CowOverlay); a CD-ROM takes 2048-byte media, or null for an empty drive. */
  media: BlockMedia | null;
  /** Name given to the fault seam (default `ide<channel>-<unit>`). */
  name?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  /** Physical CHS geometry reported by IDENTIFY (default: guessed like QEMU, from the MBR or the size). */
  geometry?: { cylinders: number; heads: number; sectors: number };
}

/** Plain-data state of one device. */
interface DriveRegs {
  feature: number;
  hobFeature: number;
  nsector: number;
  hobNsector: number;
  sector: number;
  hobSector: number;
  lcyl: number;
  hobLcyl: number;
  hcyl: number;
  hobHcyl: number;
  select: number;
  status: number;
  error: number;
  intrq: boolean;
  // settings
  heads: number;
  spt: number;
  cyls: number;
  multiple: number;
  xferMode: number;
  writeCache: boolean;
  lookAhead: boolean;
  power: number;
  // the command in progress
  phase: number;
  cmd: number;
  lba: number;
  remaining: number;
  perBlock: number;
  block: number;
  lba48: boolean;
  chs: boolean;
  dmaRead: boolean;
  fill: number;
  slowLba: number;
  dmaWaiting: boolean;
  pio: number;
  pos: number;
  end: number;
  // ATAPI
  senseKey: number;
  asc: number;
  ascq: number;
  byteLimit: number;
  atapiDma: boolean;
  atapiRead: boolean;
  atapiLba: number;
  atapiLeft: number;
  chunk: number;
  respPos: number;
  cachePos: number;
  trayOpen: boolean;
  locked: boolean;
  mediaEvent: number;
}

interface ChannelRegs {
  unit: number;
  devctl: number;
  line: boolean;
  bmCmd: number;
  bmStatus: number;
  bmPrd: number;
  prdCursor: number;
  prdAddr: number;
  prdLeft: number;
  prdEot: boolean;
}

export interface DriveState extends DriveRegs {
  buf: Uint8Array;
  resp: Uint8Array;
  cache: Uint8Array;
  media: unknown;
}

export interface PiixIdeState {
  pci: { config: Uint8Array };
  channels: { regs: ChannelRegs; drives: DriveState[] }[];
}

type SectorRead = { data: Uint8Array; valid: number } | { error: string } | { slow: number };

class Drive {
  readonly present: boolean;
  readonly atapi: boolean;
  readonly media: BlockMedia | null;
  readonly name: string;
  readonly model: string;
  readonly serial: string;
  readonly firmware: string;
  readonly total: number;
  readonly pcyls: number;
  readonly pheads: number;
  readonly pspt: number;
  readonly timer: Timer;
  readonly buf = new Uint8Array(BUF_SIZE);
  readonly cache = new Uint8Array(2048);
  resp = new Uint8Array(0);
  r: DriveRegs;
  /** The other device on the cable exists (IDENTIFY word 93). */
  peerPresent = false;

  constructor(
    readonly channel: number,
    readonly unit: number,
    cfg: IdeDriveConfig | null | undefined,
    clock: Clock,
    fire: (d: Drive) => void,
  ) {
    this.present = cfg != null;
    this.atapi = cfg?.kind === 'cdrom';
    this.media = cfg?.media ?? null;
    this.name = cfg?.name ?? `ide${channel}-${unit}`;
    const m = this.media;
    if (cfg) {
      if (this.atapi) {
        if (m && m.sectorSize !== 2048) throw new Error(`${this.name}: a CD-ROM needs 2048-byte sectors, its image has ${m.sectorSize}`);
      } else {
        if (!m) throw new Error(`${this.name}: a disk needs an image`);
        if (m.sectorSize !== 512) throw new Error(`${this.name}: a disk needs 512-byte sectors, its image has ${m.sectorSize}`);
        if (m.readOnly) throw new Error(`${this.name}: the disk image is read-only; put a CowOverlay over it`);
      }
    }
    this.total = m ? sectorCount(m) : 0;
    this.model = (cfg?.model ?? (this.atapi ? 'BITROT CD-ROM' : 'BITROT HARDDISK')).slice(0, 40);
    this.serial = (cfg?.serial ?? `BR${channel}${unit}0000`).slice(0, 20);
    this.firmware = (cfg?.firmware ?? '0.1').slice(0, 8);
    const g = cfg?.geometry ?? (m && !this.atapi ? guessGeometry(m, this.total) : { cylinders: 0, heads: 0, sectors: 0 });
    this.pcyls = g.cylinders;
    this.pheads = g.heads;
    this.pspt = g.sectors;
    this.timer = clock.timer(`piix-ide.${channel}.${unit}`, () => fire(this));
    this.r = this.powerOn();
  }

  powerOn(): DriveRegs {
    return {
      feature: 0, hobFeature: 0, nsector: 1, hobNsector: 0, sector: 1, hobSector: 0,
      lcyl: this.atapi ? 0x14 : this.present ? 0 : 0xff, hobLcyl: 0,
      hcyl: this.atapi ? 0xeb : this.present ? 0 : 0xff, hobHcyl: 0,
      select: 0, status: this.present && !this.atapi ? St.DRDY | St.DSC : 0, error: 1, intrq: false,
      heads: this.pheads, spt: this.pspt, cyls: this.pcyls, multiple: MAX_MULTIPLE, xferMode: 0,
      writeCache: true, lookAhead: true, power: 0xff,
      phase: Phase.Idle, cmd: 0, lba: 0, remaining: 0, perBlock: 1, block: 0, lba48: false, chs: false,
      dmaRead: true, fill: 0, slowLba: -1, dmaWaiting: false, pio: Pio.None, pos: 0, end: 0,
      senseKey: 0, asc: 0, ascq: 0, byteLimit: 0, atapiDma: false, atapiRead: false, atapiLba: 0,
      atapiLeft: 0, chunk: 0, respPos: 0, cachePos: 2048, trayOpen: false, locked: false, mediaEvent: 0,
    };
  }

  /** Medium present and tray closed. */
  get ready(): boolean {
    return this.media !== null && !this.r.trayOpen;
  }
}

class Channel {
  readonly drives: [Drive, Drive];
  c: ChannelRegs = Channel.powerOn();

  constructor(
    readonly index: number,
    readonly irq: IrqLine,
    d0: Drive,
    d1: Drive,
  ) {
    this.drives = [d0, d1];
  }

  static powerOn(): ChannelRegs {
    return { unit: 0, devctl: 0, line: false, bmCmd: 0, bmStatus: 0, bmPrd: 0, prdCursor: 0, prdAddr: 0, prdLeft: 0, prdEot: false };
  }

  get selected(): Drive {
    return this.drives[this.c.unit];
  }
  get empty(): boolean {
    return !this.drives[0].present && !this.drives[1].present;
  }
}

export class PiixIde extends PciDevice implements Device {
  readonly name = 'piix-ide';
  /** The block-device fault seam: consulted for every sector read or written. */
  faultFilter: BlockFaultFilter | null = null;
  private readonly clock: Clock;
  private readonly io: PortBus;
  private readonly mem: PhysicalMemory;
  private readonly chans: [Channel, Channel];
  private readonly bmHandler: PortHandler;

  constructor(ctx: DeviceContext, irqs: readonly [IrqLine, IrqLine], drives: readonly (IdeDriveConfig | null | undefined)[] = []) {
    super(PIIX3_IDE_BDF, { vendor: 0x8086, device: 0x7010, classCode: 0x010180 });
    this.clock = ctx.clock;
    this.io = ctx.io;
    this.mem = ctx.mem;
    const fire = (d: Drive) => this.fire(d);
    const mk = (ch: number, u: number) => new Drive(ch, u, drives[ch * 2 + u], ctx.clock, fire);
    this.chans = [new Channel(0, irqs[0], mk(0, 0), mk(0, 1)), new Channel(1, irqs[1], mk(1, 0), mk(1, 1))];
    for (const ch of this.chans) {
      ch.drives[0].peerPresent = ch.drives[1].present;
      ch.drives[1].peerPresent = ch.drives[0].present;
    }
    this.defineBar(4, { size: 16, io: true });
    this.writeMask[0x04] = 0x05; // I/O space and bus master only
    this.writeMask[0x05] = 0x00;
    this.writeMask[0x40] = 0xff; // IDETIM primary
    this.writeMask[0x41] = 0xf3;
    this.writeMask[0x42] = 0xff; // IDETIM secondary
    this.writeMask[0x43] = 0xf3;
    this.writeMask[0x44] = 0xff; // SIDETIM
    this.bmHandler = {
      read8: (p) => this.bmRead(p - this.barAddress[4]),
      write8: (p, v) => this.bmWrite(p - this.barAddress[4], v),
      read16: (p) => this.bmRead(p - this.barAddress[4]) | (this.bmRead(p + 1 - this.barAddress[4]) << 8),
      write16: (p, v) => {
        this.bmWrite(p - this.barAddress[4], v & 0xff);
        this.bmWrite(p + 1 - this.barAddress[4], (v >> 8) & 0xff);
      },
      read32: (p) => {
        let v = 0;
        for (let k = 0; k < 4; k++) v |= this.bmRead(p + k - this.barAddress[4]) << (8 * k);
        return v;
      },
      write32: (p, v) => {
        for (let k = 0; k < 4; k++) this.bmWrite(p + k - this.barAddress[4], (v >>> (8 * k)) & 0xff);
      },
    };
    this.resetPci();
  }

  /** Register the legacy command and control blocks. */
  attach(): void {
    const bases: [number, number][] = [
      [0x1f0, 0x3f6],
      [0x170, 0x376],
    ];
    for (const ch of this.chans) {
      const [cmd, ctl] = bases[ch.index];
      this.io.register(cmd, 8, this.commandBlock(ch, cmd));
      this.io.register(ctl, 1, {
        read8: () => this.altStatus(ch),
        write8: (_p, v) => this.deviceControl(ch, v),
      });
    }
  }

  /** A drive's medium (to inspect an overlay from outside). */
  media(channel: number, unit: number): BlockMedia | null {
    return this.chans[channel].drives[unit].media;
  }

  // ---- PCI ----

  private resetPci(): void {
    this.config.fill(0, 0x04, 0x06);
    this.config[0x06] = 0x80; // fast back-to-back capable
    this.config[0x07] = 0x02; // DEVSEL medium
    this.config.fill(0, 0x0c, 0x0e);
    this.w32(0x20, 0x00000001); // BMIBA: I/O space indicator, no address yet
    this.config[0x3c] = 0;
    this.config.fill(0, 0x40, 0x45);
    this.updateMappings();
  }

  protected barMapped(n: number, address: number, old: number): void {
    if (n !== 4) return;
    if (old >= 0) this.io.unregister(old, 16, this.bmHandler);
    if (address >= 0) this.io.claim(address, 16, this.bmHandler);
  }

  // ---- reset and state ----

  reset(): void {
    for (const ch of this.chans) {
      for (const d of ch.drives) {
        d.timer.cancel();
        d.r = d.powerOn();
        d.buf.fill(0);
        d.cache.fill(0);
        d.resp = new Uint8Array(0);
      }
      if (ch.c.line) ch.irq.set(false);
      ch.c = Channel.powerOn();
    }
    this.resetPci();
  }

  save(): PiixIdeState {
    return {
      pci: this.savePci(),
      channels: this.chans.map((ch) => ({
        regs: { ...ch.c },
        drives: ch.drives.map((d) => ({
          ...d.r,
          buf: trimZeros(d.buf),
          resp: d.resp.slice(),
          cache: d.atapi ? d.cache.slice() : new Uint8Array(0),
          media: d.media?.save ? d.media.save() : null,
        })),
      })),
    };
  }

  load(s: unknown): void {
    const st = s as PiixIdeState;
    this.loadPci(st.pci);
    for (const ch of this.chans) {
      const cs = st.channels[ch.index];
      ch.c = { ...cs.regs };
      for (const d of ch.drives) {
        const ds = cs.drives[d.unit];
        const { buf, resp, cache, media, ...regs } = ds;
        d.r = { ...regs };
        d.buf.fill(0);
        d.buf.set(buf);
        d.cache.fill(0);
        d.cache.set(cache);
        d.resp = new Uint8Array(resp);
        if (d.media?.load && media !== null) d.media.load(media);
      }
    }
  }

  // ---- interrupt ----

  /** INTRQ of the selected device, gated by nIEN; a rising edge latches the bus-master interrupt bit. */
  private updateIrq(ch: Channel): void {
    const d = ch.selected;
    const level = d.present && d.r.intrq && (ch.c.devctl & Ctl.NIEN) === 0;
    if (level === ch.c.line) return;
    ch.c.line = level;
    if (level) ch.c.bmStatus |= Bm.INTERRUPT;
    ch.irq.set(level);
  }

  private interrupt(ch: Channel, d: Drive): void {
    d.r.intrq = true;
    this.updateIrq(ch);
  }

  // ---- the command block ----

  private commandBlock(ch: Channel, base: number): PortHandler {
    const io = this.io;
    return {
      read8: (p) => (p === base ? 0xff : this.readRegister(ch, p - base)),
      write8: (p, v) => {
        if (p !== base) this.writeRegister(ch, p - base, v);
      },
      read16: (p) => (p === base ? this.dataRead16(ch) : io.in8(p) | (io.in8(p + 1) << 8)),
      write16: (p, v) => {
        if (p === base) this.dataWrite16(ch, v);
        else {
          io.out8(p, v & 0xff);
          io.out8(p + 1, v >> 8);
        }
      },
      read32: (p) => {
        if (p !== base) return io.in16(p) | (io.in16(p + 2) << 16);
        const lo = this.dataRead16(ch);
        return lo | (this.dataRead16(ch) << 16);
      },
      write32: (p, v) => {
        if (p !== base) {
          io.out16(p, v & 0xffff);
          io.out16(p + 2, v >>> 16);
          return;
        }
        this.dataWrite16(ch, v & 0xffff);
        this.dataWrite16(ch, v >>> 16);
      },
    };
  }

  private readRegister(ch: Channel, reg: number): number {
    const d = ch.selected;
    const r = d.r;
    const hob = (ch.c.devctl & Ctl.HOB) !== 0;
    if (ch.empty) return 0;
    switch (reg) {
      case 1:
        if (!d.present) return 0;
        return hob ? r.hobFeature : r.error;
      case 2:
        return hob ? r.hobNsector : r.nsector;
      case 3:
        return hob ? r.hobSector : r.sector;
      case 4:
        return hob ? r.hobLcyl : r.lcyl;
      case 5:
        return hob ? r.hobHcyl : r.hcyl;
      case 6:
        return r.select;
      default: {
        if (!d.present) return 0;
        const v = r.status;
        if (r.intrq) {
          r.intrq = false;
          this.updateIrq(ch);
        }
        return v;
      }
    }
  }

  private writeRegister(ch: Channel, reg: number, v: number): void {
    ch.c.devctl &= ~Ctl.HOB;
    for (const d of ch.drives) {
      const r = d.r;
      switch (reg) {
        case 1:
          r.hobFeature = r.feature;
          r.feature = v;
          break;
        case 2:
          r.hobNsector = r.nsector;
          r.nsector = v;
          break;
        case 3:
          r.hobSector = r.sector;
          r.sector = v;
          break;
        case 4:
          r.hobLcyl = r.lcyl;
          r.lcyl = v;
          break;
        case 5:
          r.hobHcyl = r.hcyl;
          r.hcyl = v;
          break;
        case 6:
          r.select = v;
          break;
      }
    }
    if (reg === 6) {
      ch.c.unit = (v >> 4) & 1;
      this.updateIrq(ch);
    } else if (reg === 7) {
      this.command(ch, v);
    }
  }

  private altStatus(ch: Channel): number {
    const d = ch.selected;
    return d.present ? d.r.status : 0;
  }

  private deviceControl(ch: Channel, v: number): void {
    const old = ch.c.devctl;
    ch.c.devctl = v;
    if (!(old & Ctl.SRST) && v & Ctl.SRST) {
      for (const d of ch.drives) {
        if (!d.present) continue;
        this.abortTransfer(d);
        d.r.status = St.BSY;
        d.r.intrq = false;
      }
    } else if (old & Ctl.SRST && !(v & Ctl.SRST)) {
      ch.c.unit = 0;
      for (const d of ch.drives) {
        d.r.select = 0;
        if (!d.present) {
          this.signature(d);
          continue;
        }
        d.r.phase = Phase.Reset;
        d.timer.arm(this.clock.icount + IDE_TIMING.reset);
      }
    }
    this.updateIrq(ch);
  }

  private abortTransfer(d: Drive): void {
    d.timer.cancel();
    d.r.phase = Phase.Idle;
    d.r.pio = Pio.None;
    d.r.pos = d.r.end = 0;
    d.r.dmaWaiting = false;
    d.r.fill = 0;
    d.r.slowLba = -1;
  }

  /** Reset finished: signature in the task file (ATA/ATAPI-6 9.12), no interrupt. */
  private resetDone(d: Drive): void {
    const r = d.r;
    r.phase = Phase.Idle;
    r.feature = r.hobFeature = r.hobNsector = r.hobSector = r.hobLcyl = r.hobHcyl = 0;
    this.signature(d);
    r.status = d.atapi ? 0 : St.DRDY | St.DSC;
    r.error = 0x01;
  }

  /** Signature: 01h/01h, then 00h/00h for ATA, 14h/EBh for ATAPI, FFh/FFh where no device answers (as QEMU). */
  private signature(d: Drive): void {
    const r = d.r;
    r.nsector = 1;
    r.sector = 1;
    r.lcyl = d.atapi ? 0x14 : d.present ? 0 : 0xff;
    r.hcyl = d.atapi ? 0xeb : d.present ? 0 : 0xff;
    r.select &= 0x10;
  }

  // ---- the data register ----

  private dataRead16(ch: Channel): number {
    const d = ch.selected;
    const r = d.r;
    if (!d.present || !(r.status & St.DRQ) || r.pio === Pio.None || r.pio === Pio.AtaWrite || r.pio === Pio.Packet) return 0;
    if (r.pos + 2 > r.end) return 0;
    const v = d.buf[r.pos] | (d.buf[r.pos + 1] << 8);
    r.pos += 2;
    if (r.pos >= r.end) this.blockDone(ch, d);
    return v;
  }

  private dataWrite16(ch: Channel, v: number): void {
    const d = ch.selected;
    const r = d.r;
    if (!d.present || !(r.status & St.DRQ) || (r.pio !== Pio.AtaWrite && r.pio !== Pio.Packet)) return;
    if (r.pos + 2 > r.end) return;
    d.buf[r.pos] = v & 0xff;
    d.buf[r.pos + 1] = v >> 8;
    r.pos += 2;
    if (r.pos >= r.end) this.blockDone(ch, d);
  }

  /** The host moved the last word of a PIO block. */
  private blockDone(ch: Channel, d: Drive): void {
    const r = d.r;
    const kind = r.pio;
    r.pio = Pio.None;
    r.status &= ~St.DRQ;
    const now = this.clock.icount;
    switch (kind) {
      case Pio.Buffer:
        r.status = St.DRDY | St.DSC;
        break;
      case Pio.AtaRead:
        if (r.remaining > 0) this.armReadBlock(d);
        else r.status = St.DRDY | St.DSC;
        break;
      case Pio.AtaWrite:
        r.status = St.BSY | St.DRDY;
        r.phase = Phase.PioOutCommit;
        d.timer.arm(now + r.block * IDE_TIMING.sector);
        break;
      case Pio.Packet:
        r.status = St.BSY | St.DRDY;
        r.phase = Phase.AtapiExec;
        d.timer.arm(now + IDE_TIMING.command);
        break;
      case Pio.AtapiData:
        if (r.atapiLeft > 0) this.armAtapiChunk(d);
        else this.atapiOk(ch, d);
        break;
    }
  }

  // ---- commands ----

  private command(ch: Channel, cmd: number): void {
    const d = ch.selected;
    if (!d.present) return;
    const r = d.r;
    r.intrq = false;
    this.updateIrq(ch);
    // DEVICE RESET is for packet devices, and the one command taken while BSY or DRQ is set.
    if (cmd === 0x08 && d.atapi) return this.deviceReset(d);
    if (r.status & (St.BSY | St.DRQ)) return;
    r.cmd = cmd;
    r.error = 0;
    r.slowLba = -1;
    r.fill = 0;
    r.status = St.BSY | (d.atapi ? r.status & St.DRDY : St.DRDY);
    r.phase = Phase.Command;
    d.timer.arm(this.clock.icount + (cmd === 0xa0 ? IDE_TIMING.packet : IDE_TIMING.command));
  }

  private deviceReset(d: Drive): void {
    this.abortTransfer(d);
    d.r.status = St.BSY;
    d.r.phase = Phase.Reset;
    d.timer.arm(this.clock.icount + IDE_TIMING.reset);
  }

  private fire(d: Drive): void {
    const ch = this.chans[d.channel];
    const r = d.r;
    switch (r.phase) {
      case Phase.Command:
        r.phase = Phase.Idle;
        if (d.atapi) this.executeAtapiDevice(ch, d);
        else this.executeAta(ch, d);
        break;
      case Phase.PioIn:
        this.readBlock(ch, d);
        break;
      case Phase.PioOutCommit:
        this.commitBlock(ch, d);
        break;
      case Phase.Verify:
        this.verify(ch, d);
        break;
      case Phase.DmaXfer:
        this.dmaTransfer(ch, d);
        break;
      case Phase.AtapiExec:
        r.phase = Phase.Idle;
        this.executePacket(ch, d);
        break;
      case Phase.AtapiData:
        this.atapiChunk(ch, d);
        break;
      case Phase.Reset:
        this.resetDone(d);
        break;
    }
  }

  /** Non-data command finished without error. */
  private done(ch: Channel, d: Drive): void {
    d.r.status = St.DRDY | St.DSC;
    d.r.phase = Phase.Idle;
    this.interrupt(ch, d);
  }

  private abort(ch: Channel, d: Drive): void {
    this.fail(ch, d, Er.ABRT);
  }

  private fail(ch: Channel, d: Drive, error: number): void {
    const r = d.r;
    r.status = St.DRDY | St.ERR;
    r.error = error;
    r.phase = Phase.Idle;
    r.pio = Pio.None;
    r.dmaWaiting = false;
    this.interrupt(ch, d);
  }

  private executeAta(ch: Channel, d: Drive): void {
    const r = d.r;
    switch (r.cmd) {
      case 0xec: // IDENTIFY DEVICE
        this.pioInBuffer(ch, d, identifyDevice(d));
        return;
      case 0x20: // READ SECTORS
      case 0x21:
      case 0x24: // READ SECTORS EXT
        if (this.setupTransfer(ch, d, r.cmd === 0x24, 1)) this.armReadBlock(d);
        return;
      case 0xc4: // READ MULTIPLE
      case 0x29: // READ MULTIPLE EXT
        if (r.multiple === 0) return this.abort(ch, d);
        if (this.setupTransfer(ch, d, r.cmd === 0x29, r.multiple)) this.armReadBlock(d);
        return;
      case 0x30: // WRITE SECTORS
      case 0x31:
      case 0x34: // WRITE SECTORS EXT
        if (this.setupTransfer(ch, d, r.cmd === 0x34, 1)) this.startWriteBlock(ch, d);
        return;
      case 0xc5: // WRITE MULTIPLE
      case 0x39: // WRITE MULTIPLE EXT
        if (r.multiple === 0) return this.abort(ch, d);
        if (this.setupTransfer(ch, d, r.cmd === 0x39, r.multiple)) this.startWriteBlock(ch, d);
        return;
      case 0xc8: // READ DMA
      case 0xc9:
      case 0x25: // READ DMA EXT
      case 0xca: // WRITE DMA
      case 0xcb:
      case 0x35: // WRITE DMA EXT
        if (!this.setupTransfer(ch, d, r.cmd === 0x25 || r.cmd === 0x35, 0)) return;
        r.dmaRead = r.cmd === 0xc8 || r.cmd === 0xc9 || r.cmd === 0x25;
        this.dmaReady(ch, d);
        return;
      case 0x40: // READ VERIFY SECTORS
      case 0x41:
      case 0x42: // READ VERIFY SECTORS EXT
        if (!this.setupTransfer(ch, d, r.cmd === 0x42, 0)) return;
        r.phase = Phase.Verify;
        d.timer.arm(this.clock.icount + r.remaining * IDE_TIMING.sector);
        return;
      case 0xc6: {
        // SET MULTIPLE MODE
        const n = r.nsector;
        if (n !== 0 && (n > MAX_MULTIPLE || (n & (n - 1)) !== 0)) return this.abort(ch, d);
        r.multiple = n;
        return this.done(ch, d);
      }
      case 0x91: {
        // INITIALIZE DEVICE PARAMETERS
        const heads = (r.select & 0x0f) + 1;
        const spt = r.nsector;
        if (spt === 0) return this.abort(ch, d);
        r.heads = heads;
        r.spt = spt;
        r.cyls = Math.min(65535, Math.floor(d.total / (heads * spt)));
        return this.done(ch, d);
      }
      case 0xef:
        return this.setFeatures(ch, d);
      case 0x90:
        return this.diagnostic(ch);
      case 0xe0: // STANDBY IMMEDIATE
      case 0x94:
      case 0xe2: // STANDBY
      case 0x96:
      case 0xe6: // SLEEP
      case 0x99:
        r.power = 0x00;
        return this.done(ch, d);
      case 0xe1: // IDLE IMMEDIATE
      case 0x95:
      case 0xe3: // IDLE
      case 0x97:
        r.power = 0x80;
        return this.done(ch, d);
      case 0xe5: // CHECK POWER MODE
      case 0x98:
        r.nsector = r.power;
        return this.done(ch, d);
      case 0xe7: // FLUSH CACHE
      case 0xea: // FLUSH CACHE EXT
        return this.done(ch, d);
      case 0xf8: // READ NATIVE MAX ADDRESS
        r.lba48 = false;
        r.chs = (r.select & 0x40) === 0;
        this.setAddress(d, Math.min(d.total, 0x10000000) - 1);
        return this.done(ch, d);
      case 0x27: // READ NATIVE MAX ADDRESS EXT
        r.lba48 = true;
        r.chs = false;
        this.setAddress(d, d.total - 1);
        return this.done(ch, d);
      default:
        if ((r.cmd & 0xf0) === 0x10 || (r.cmd & 0xf0) === 0x70) return this.done(ch, d); // RECALIBRATE, SEEK
        return this.abort(ch, d); // NOP, PACKET, IDENTIFY PACKET DEVICE, DEVICE RESET, SMART, ...
    }
  }

  private executeAtapiDevice(ch: Channel, d: Drive): void {
    const r = d.r;
    switch (r.cmd) {
      case 0xa1: // IDENTIFY PACKET DEVICE
        this.pioInBuffer(ch, d, identifyPacketDevice(d));
        return;
      case 0xa0: // PACKET
        if (r.feature & 0x02) return this.abort(ch, d); // overlapped: not supported
        r.atapiDma = (r.feature & 0x01) !== 0;
        r.byteLimit = r.lcyl | (r.hcyl << 8);
        r.nsector = Ir.COD;
        r.pio = Pio.Packet;
        r.pos = 0;
        r.end = 12;
        r.status = St.DRDY | St.DSC | St.DRQ; // no interrupt: DRQ within 50 us (IDENTIFY word 0)
        return;
      case 0xec: // IDENTIFY DEVICE, READ SECTORS: abort, leaving the packet signature (ATA-6 8.15.9)
      case 0x20:
      case 0x21:
        this.signature(d);
        return this.abort(ch, d);
      case 0xef:
        return this.setFeatures(ch, d);
      case 0x90:
        return this.diagnostic(ch);
      case 0xe0:
      case 0xe2:
      case 0xe6:
        r.power = 0x00;
        return this.done(ch, d);
      case 0xe1:
      case 0xe3:
        r.power = 0x80;
        return this.done(ch, d);
      case 0xe5:
        r.nsector = r.power;
        return this.done(ch, d);
      case 0xe7:
        return this.done(ch, d);
      default:
        return this.abort(ch, d);
    }
  }

  private setFeatures(ch: Channel, d: Drive): void {
    const r = d.r;
    switch (r.feature) {
      case 0x03: {
        const mode = r.nsector;
        const kind = mode >> 3;
        const n = mode & 7;
        const ok = kind === 0 ? n <= 1 : kind === 1 ? n <= 4 : kind === 2 || kind === 4 ? n <= 2 : kind === 8 ? n <= 5 : false;
        if (!ok) return this.abort(ch, d);
        r.xferMode = mode;
        return this.done(ch, d);
      }
      case 0x02:
      case 0x82:
        if (d.atapi) return this.abort(ch, d);
        r.writeCache = r.feature === 0x02;
        return this.done(ch, d);
      case 0xaa:
      case 0x55:
        r.lookAhead = r.feature === 0xaa;
        return this.done(ch, d);
      case 0x66:
      case 0xcc:
        return this.done(ch, d);
      default:
        return this.abort(ch, d);
    }
  }

  /** EXECUTE DEVICE DIAGNOSTIC: every device on the channel reports its signature; device 0 is selected. */
  private diagnostic(ch: Channel): void {
    ch.c.unit = 0;
    for (const d of ch.drives) {
      d.r.select = 0;
      this.signature(d);
      if (!d.present) continue;
      this.abortTransfer(d);
      d.r.error = 0x01;
      d.r.status = d.atapi ? 0 : St.DRDY | St.DSC;
    }
    const d0 = ch.drives[0].present ? ch.drives[0] : ch.drives[1];
    this.interrupt(ch, d0);
  }

  private pioInBuffer(ch: Channel, d: Drive, data: Uint8Array): void {
    const r = d.r;
    d.buf.set(data);
    r.pos = 0;
    r.end = data.length;
    r.pio = Pio.Buffer;
    r.status = St.DRDY | St.DSC | St.DRQ;
    this.interrupt(ch, d);
  }

  // ---- ATA addressing ----

  /** Decode the address and count; false (and the command failed) when they are invalid. */
  private setupTransfer(ch: Channel, d: Drive, lba48: boolean, perBlock: number): boolean {
    const r = d.r;
    let lba: number;
    let count: number;
    r.lba48 = lba48;
    r.chs = false;
    if (lba48) {
      count = ((r.hobNsector << 8) | r.nsector) || 65536;
      lba = r.hobHcyl * 2 ** 40 + r.hobLcyl * 2 ** 32 + r.hobSector * 2 ** 24 + ((r.hcyl << 16) | (r.lcyl << 8) | r.sector);
    } else {
      count = r.nsector || 256;
      if (r.select & 0x40) {
        lba = (r.select & 0x0f) * 2 ** 24 + ((r.hcyl << 16) | (r.lcyl << 8) | r.sector);
      } else {
        r.chs = true;
        const c = (r.hcyl << 8) | r.lcyl;
        const h = r.select & 0x0f;
        const s = r.sector;
        if (s === 0 || s > r.spt || h >= r.heads || c >= r.cyls) {
          this.fail(ch, d, Er.IDNF);
          return false;
        }
        lba = (c * r.heads + h) * r.spt + s - 1;
      }
    }
    if (lba + count > d.total) {
      this.fail(ch, d, Er.IDNF);
      return false;
    }
    r.lba = lba;
    r.remaining = count;
    r.perBlock = perBlock;
    r.power = 0xff;
    return true;
  }

  /** Put a sector address back into the task file, in the addressing the command used. */
  private setAddress(d: Drive, lba: number): void {
    const r = d.r;
    if (r.chs) {
      const hs = r.heads * r.spt;
      const c = Math.floor(lba / hs);
      const rest = lba - c * hs;
      r.hcyl = (c >> 8) & 0xff;
      r.lcyl = c & 0xff;
      r.select = (r.select & 0xf0) | (Math.floor(rest / r.spt) & 0x0f);
      r.sector = (rest % r.spt) + 1;
    } else if (r.lba48) {
      r.sector = lba & 0xff;
      r.lcyl = (lba >>> 8) & 0xff;
      r.hcyl = (lba >>> 16) & 0xff;
      const hi = Math.floor(lba / 2 ** 24);
      r.hobSector = hi & 0xff;
      r.hobLcyl = (hi >>> 8) & 0xff;
      r.hobHcyl = (hi >>> 16) & 0xff;
    } else {
      r.sector = lba & 0xff;
      r.lcyl = (lba >>> 8) & 0xff;
      r.hcyl = (lba >>> 16) & 0xff;
      r.select = (r.select & 0xf0) | ((lba >>> 24) & 0x0f);
    }
  }

  private setCount(d: Drive, n: number): void {
    d.r.nsector = n & 0xff;
    if (d.r.lba48) d.r.hobNsector = (n >> 8) & 0xff;
  }

  /** A media error at `lba` ends the command (ATA-6 error outputs: ERR, the error bit, the failing address). */
  private mediaError(ch: Channel, d: Drive, code: string, lba: number): void {
    this.setAddress(d, lba);
    this.fail(ch, d, errorBits(code));
  }

  // ---- the fault seam, one sector at a time ----

  private sectorRead(d: Drive, lba: number): SectorRead {
    let v: SectorVerdict | null = null;
    const f = this.faultFilter;
    if (f !== null) {
      if (d.r.slowLba === lba) d.r.slowLba = -1;
      else v = f.read(d.name, lba, this.clock.icount);
    }
    if (v !== null) {
      if (v.kind === 'slow' && v.delay > 0) {
        d.r.slowLba = lba;
        return { slow: v.delay };
      }
      if (v.kind === 'error') return { error: v.code };
    }
    const data = d.media!.read(lba, 1);
    let valid = data.length;
    if (v !== null) {
      if (v.kind === 'corrupt') applyCorruption(data, v);
      else if (v.kind === 'lost') valid = 0;
      else if (v.kind === 'torn') valid = Math.max(0, Math.min(data.length, v.bytes));
    }
    return { data, valid };
  }

  /** Store one sector through the seam; null when stored (or acknowledged), else the error or delay. */
  private sectorWrite(d: Drive, lba: number, data: Uint8Array): { error: string } | { slow: number } | null {
    let v: SectorVerdict | null = null;
    const f = this.faultFilter;
    if (f !== null) {
      if (d.r.slowLba === lba) d.r.slowLba = -1;
      else v = f.write(d.name, lba, data, this.clock.icount);
    }
    const m = d.media!;
    if (v === null || v.kind === 'ok') {
      m.write(lba, data);
      return null;
    }
    switch (v.kind) {
      case 'slow':
        if (v.delay > 0) {
          d.r.slowLba = lba;
          return { slow: v.delay };
        }
        m.write(lba, data);
        return null;
      case 'error':
        return { error: v.code };
      case 'corrupt': {
        const x = data.slice();
        applyCorruption(x, v);
        m.write(lba, x);
        return null;
      }
      case 'lost':
        return null;
      case 'torn': {
        const old = m.read(lba, 1);
        old.set(data.subarray(0, Math.max(0, Math.min(data.length, v.bytes))));
        m.write(lba, old);
        return null;
      }
    }
    return null;
  }

  // ---- ATA PIO ----

  private armReadBlock(d: Drive): void {
    const r = d.r;
    r.block = Math.min(r.remaining, r.perBlock);
    r.fill = 0;
    r.status = St.BSY | St.DRDY;
    r.phase = Phase.PioIn;
    d.timer.arm(this.clock.icount + r.block * IDE_TIMING.sector);
  }

  /** The next block is read from the medium: DRQ and an interrupt, or the error. */
  private readBlock(ch: Channel, d: Drive): void {
    const r = d.r;
    for (let i = r.fill; i < r.block; i++) {
      const lba = r.lba + i;
      const s = this.sectorRead(d, lba);
      if ('slow' in s) {
        r.fill = i;
        d.timer.arm(this.clock.icount + s.slow);
        return;
      }
      if ('error' in s) {
        this.setCount(d, r.remaining - i);
        return this.mediaError(ch, d, s.error, lba);
      }
      d.buf.set(s.data.subarray(0, s.valid), i * 512);
    }
    r.fill = 0;
    r.lba += r.block;
    r.remaining -= r.block;
    this.setAddress(d, r.lba - 1);
    this.setCount(d, r.remaining);
    r.pos = 0;
    r.end = r.block * 512;
    r.pio = Pio.AtaRead;
    r.phase = Phase.Idle;
    r.status = St.DRDY | St.DSC | St.DRQ;
    this.interrupt(ch, d);
  }

  /** DRQ for the next block of a write; the first block gets no interrupt (ATA-6 9.8, PIO data-out). */
  private startWriteBlock(ch: Channel, d: Drive, interrupt = false): void {
    const r = d.r;
    r.block = Math.min(r.remaining, r.perBlock);
    r.fill = 0;
    r.pos = 0;
    r.end = r.block * 512;
    r.pio = Pio.AtaWrite;
    r.phase = Phase.Idle;
    r.status = St.DRDY | St.DSC | St.DRQ;
    if (interrupt) this.interrupt(ch, d);
  }

  private commitBlock(ch: Channel, d: Drive): void {
    const r = d.r;
    for (let i = r.fill; i < r.block; i++) {
      const lba = r.lba + i;
      const w = this.sectorWrite(d, lba, d.buf.subarray(i * 512, (i + 1) * 512));
      if (w !== null && 'slow' in w) {
        r.fill = i;
        d.timer.arm(this.clock.icount + w.slow);
        return;
      }
      if (w !== null) {
        this.setCount(d, r.remaining - i);
        return this.mediaError(ch, d, w.error, lba);
      }
    }
    r.fill = 0;
    r.lba += r.block;
    r.remaining -= r.block;
    this.setAddress(d, r.lba - 1);
    this.setCount(d, r.remaining);
    r.power = 0xff;
    if (r.remaining > 0) return this.startWriteBlock(ch, d, true);
    this.done(ch, d);
  }

  private verify(ch: Channel, d: Drive): void {
    const r = d.r;
    while (r.remaining > 0) {
      const s = this.sectorRead(d, r.lba);
      if ('slow' in s) {
        d.timer.arm(this.clock.icount + s.slow);
        return;
      }
      if ('error' in s) {
        this.setCount(d, r.remaining);
        return this.mediaError(ch, d, s.error, r.lba);
      }
      r.lba++;
      r.remaining--;
    }
    this.setAddress(d, r.lba - 1);
    this.setCount(d, 0);
    this.done(ch, d);
  }

  // ---- bus-master DMA ----

  /** The device is ready to move data by DMA (DMARQ); it waits for the engine to be started. */
  private dmaReady(ch: Channel, d: Drive): void {
    const r = d.r;
    r.status = St.DRDY | St.DSC | St.DRQ;
    r.dmaWaiting = true;
    r.phase = Phase.DmaWait;
    this.kickDma(ch);
  }

  private kickDma(ch: Channel): void {
    if (!(ch.c.bmStatus & Bm.ACTIVE) || !this.busMaster) return;
    for (const d of ch.drives) {
      const r = d.r;
      if (!r.dmaWaiting) continue;
      r.dmaWaiting = false;
      r.phase = Phase.DmaXfer;
      let t: number;
      if (!d.atapi) t = r.remaining * IDE_TIMING.sector;
      else if (r.atapiRead) t = Math.ceil(r.atapiLeft / 2048) * IDE_TIMING.cdSector;
      else t = IDE_TIMING.packet;
      d.timer.arm(this.clock.icount + t);
    }
  }

  private bmRead(off: number): number {
    const ch = this.chans[(off >> 3) & 1];
    const c = ch.c;
    switch (off & 7) {
      case 0:
        return c.bmCmd;
      case 2:
        return c.bmStatus;
      case 4:
      case 5:
      case 6:
      case 7:
        return (c.bmPrd >>> (8 * ((off & 7) - 4))) & 0xff;
      default:
        return 0;
    }
  }

  private bmWrite(off: number, v: number): void {
    const ch = this.chans[(off >> 3) & 1];
    const c = ch.c;
    switch (off & 7) {
      case 0: {
        const was = c.bmCmd & BmCmd.START;
        c.bmCmd = v & (BmCmd.START | BmCmd.WRITE_MEMORY);
        if (!was && v & BmCmd.START) {
          c.bmStatus |= Bm.ACTIVE;
          c.prdCursor = c.bmPrd;
          c.prdLeft = 0;
          c.prdEot = false;
          this.kickDma(ch);
        } else if (was && !(v & BmCmd.START)) {
          c.bmStatus &= ~Bm.ACTIVE;
        }
        return;
      }
      case 2:
        // bits 5-6 (drive DMA capable) read/write, bits 1-2 write one to clear
        c.bmStatus = (v & 0x60) | (c.bmStatus & Bm.ACTIVE) | (c.bmStatus & ~v & (Bm.ERROR | Bm.INTERRUPT));
        return;
      case 4:
      case 5:
      case 6:
      case 7: {
        const shift = 8 * ((off & 7) - 4);
        c.bmPrd = ((c.bmPrd & ~(0xff << shift)) | ((v & 0xff) << shift)) & ~3;
        c.bmPrd >>>= 0;
        return;
      }
    }
  }

  /** Make sure the current PRD has bytes left; false when the table is exhausted. */
  private prdNext(ch: Channel): boolean {
    const c = ch.c;
    if (c.prdLeft > 0) return true;
    if (c.prdEot || c.prdCursor - c.bmPrd >= 0x10000) return false;
    const addr = this.mem.read32(c.prdCursor) >>> 0;
    const count = this.mem.read32((c.prdCursor + 4) >>> 0) >>> 0;
    c.prdCursor = (c.prdCursor + 8) >>> 0;
    c.prdAddr = (addr & ~1) >>> 0;
    c.prdLeft = count & 0xfffe || 0x10000;
    c.prdEot = (count & 0x80000000) !== 0;
    return true;
  }

  /** Device to memory: `n` bytes of `src`, of which only the first `valid` are stored. */
  private scatter(ch: Channel, src: Uint8Array, n: number, valid: number): boolean {
    const c = ch.c;
    let i = 0;
    while (i < n) {
      if (!this.prdNext(ch)) return false;
      const take = Math.min(c.prdLeft, n - i);
      const store = Math.max(0, Math.min(take, valid - i));
      if (store > 0) this.memWrite(c.prdAddr, src, i, store);
      c.prdAddr = (c.prdAddr + take) >>> 0;
      c.prdLeft -= take;
      i += take;
    }
    return true;
  }

  /** Memory to device. */
  private gather(ch: Channel, dst: Uint8Array, n: number): boolean {
    const c = ch.c;
    let i = 0;
    while (i < n) {
      if (!this.prdNext(ch)) return false;
      const take = Math.min(c.prdLeft, n - i);
      for (let k = 0; k < take; k++) dst[i + k] = this.mem.read8((c.prdAddr + k) >>> 0);
      c.prdAddr = (c.prdAddr + take) >>> 0;
      c.prdLeft -= take;
      i += take;
    }
    return true;
  }

  private memWrite(addr: number, src: Uint8Array, from: number, len: number): void {
    const mem = this.mem;
    let k = 0;
    while (k < len && (addr + k) & 3) {
      mem.write8((addr + k) >>> 0, src[from + k]);
      k++;
    }
    for (; k + 4 <= len; k += 4) {
      const j = from + k;
      mem.write32((addr + k) >>> 0, src[j] | (src[j + 1] << 8) | (src[j + 2] << 16) | (src[j + 3] << 24));
    }
    for (; k < len; k++) mem.write8((addr + k) >>> 0, src[from + k]);
  }

  /** The PRD table ran out before the device's transfer did: the engine stops, no interrupt (as QEMU). */
  private prdShort(ch: Channel, d: Drive): void {
    ch.c.bmStatus &= ~Bm.ACTIVE;
    d.r.status = St.DRDY | St.DSC;
    d.r.phase = Phase.Idle;
  }

  /** Transfer finished: the engine stays active only when the PRDs described more than was moved. */
  private bmFinish(ch: Channel): void {
    const c = ch.c;
    if (c.prdLeft === 0 && c.prdEot) c.bmStatus &= ~Bm.ACTIVE;
  }

  private dmaTransfer(ch: Channel, d: Drive): void {
    const r = d.r;
    if (!(ch.c.bmStatus & Bm.ACTIVE) || !this.busMaster) {
      // The engine was stopped meanwhile: wait for the next start.
      r.dmaWaiting = true;
      r.phase = Phase.DmaWait;
      return;
    }
    if (d.atapi) return this.atapiDmaTransfer(ch, d);
    while (r.remaining > 0) {
      const lba = r.lba;
      if (r.dmaRead) {
        const s = this.sectorRead(d, lba);
        if ('slow' in s) return d.timer.arm(this.clock.icount + s.slow);
        if ('error' in s) return this.dmaMediaError(ch, d, s.error, lba);
        if (!this.scatter(ch, s.data, 512, s.valid)) return this.prdShort(ch, d);
      } else {
        const c = ch.c;
        const saved = [c.prdCursor, c.prdAddr, c.prdLeft, c.prdEot] as const;
        const data = new Uint8Array(512);
        if (!this.gather(ch, data, 512)) return this.prdShort(ch, d);
        const w = this.sectorWrite(d, lba, data);
        if (w !== null && 'slow' in w) {
          [c.prdCursor, c.prdAddr, c.prdLeft, c.prdEot] = saved;
          return d.timer.arm(this.clock.icount + w.slow);
        }
        if (w !== null) return this.dmaMediaError(ch, d, w.error, lba);
      }
      r.lba++;
      r.remaining--;
    }
    this.setAddress(d, r.lba - 1);
    this.setCount(d, 0);
    this.bmFinish(ch);
    this.done(ch, d);
  }

  private dmaMediaError(ch: Channel, d: Drive, code: string, lba: number): void {
    ch.c.bmStatus &= ~Bm.ACTIVE;
    this.setCount(d, d.r.remaining);
    this.mediaError(ch, d, code, lba);
  }

  // ---- ATAPI ----

  private atapiOk(ch: Channel, d: Drive): void {
    const r = d.r;
    r.status = St.DRDY | St.DSC;
    r.nsector = Ir.IO | Ir.COD;
    r.phase = Phase.Idle;
    r.pio = Pio.None;
    this.interrupt(ch, d);
  }

  /** CHECK CONDITION: the sense key in the error register, details in REQUEST SENSE. */
  private atapiError(ch: Channel, d: Drive, key: number, asc: number, ascq = 0): void {
    const r = d.r;
    r.senseKey = key;
    r.asc = asc;
    r.ascq = ascq;
    r.status = St.DRDY | St.ERR;
    r.error = key << 4;
    r.nsector = Ir.IO | Ir.COD;
    r.phase = Phase.Idle;
    r.pio = Pio.None;
    r.dmaWaiting = false;
    this.interrupt(ch, d);
  }

  private atapiMediaError(ch: Channel, d: Drive, code: string): void {
    if (code === 'idnf') this.atapiError(ch, d, SENSE_MEDIUM_ERROR, 0x14, 0x01); // record not found
    else this.atapiError(ch, d, SENSE_MEDIUM_ERROR, 0x11, code === 'crc' ? 0x05 : 0x00); // unrecovered read error
  }

  private notReady(ch: Channel, d: Drive): void {
    this.atapiError(ch, d, SENSE_NOT_READY, 0x3a, d.r.trayOpen ? 0x02 : 0x01);
  }

  private executePacket(ch: Channel, d: Drive): void {
    const r = d.r;
    const p = d.buf.slice(0, 12);
    const op = p[0];
    if (op !== 0x03 && op !== 0x12 && op !== 0x4a) r.senseKey = r.asc = r.ascq = 0;
    const be16 = (i: number) => (p[i] << 8) | p[i + 1];
    const be32 = (i: number) => ((p[i] << 24) | (p[i + 1] << 16) | (p[i + 2] << 8) | p[i + 3]) >>> 0;
    if (NEEDS_MEDIUM.includes(op) && !d.ready) return this.notReady(ch, d);
    const total = d.total;
    switch (op) {
      case 0x00: // TEST UNIT READY
        return this.atapiOk(ch, d);
      case 0x03: {
        // REQUEST SENSE (fixed format)
        const s = new Uint8Array(18);
        s[0] = 0x70;
        s[2] = r.senseKey;
        s[7] = 10;
        s[12] = r.asc;
        s[13] = r.ascq;
        r.senseKey = r.asc = r.ascq = 0;
        return this.dataIn(ch, d, s, p[4]);
      }
      case 0x12: {
        // INQUIRY
        if (p[1] & 1) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
        const s = new Uint8Array(36);
        s[0] = 0x05; // CD/DVD device
        s[1] = 0x80; // removable
        s[2] = 0x00;
        s[3] = 0x21; // ATAPI version 2, response data format 1
        s[4] = 31;
        putAscii(s, 8, 'BITROT', 8);
        putAscii(s, 16, d.model, 16);
        putAscii(s, 32, d.firmware, 4);
        return this.dataIn(ch, d, s, be16(3));
      }
      case 0x1b: {
        // START STOP UNIT
        const loej = (p[4] & 2) !== 0;
        const start = (p[4] & 1) !== 0;
        if (loej) {
          if (!start) {
            if (r.locked) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x53, 0x02);
            if (!r.trayOpen && d.media) r.mediaEvent = 3; // media removal
            r.trayOpen = true;
          } else {
            if (r.trayOpen && d.media) r.mediaEvent = 2; // new media
            r.trayOpen = false;
          }
        }
        return this.atapiOk(ch, d);
      }
      case 0x1e: // PREVENT ALLOW MEDIUM REMOVAL
        r.locked = (p[4] & 1) !== 0;
        return this.atapiOk(ch, d);
      case 0x25: {
        // READ CAPACITY
        const s = new Uint8Array(8);
        putBe32(s, 0, total - 1);
        putBe32(s, 4, 2048);
        return this.dataIn(ch, d, s, 8);
      }
      case 0x28: // READ(10)
        return this.startCdRead(ch, d, be32(2), be16(7));
      case 0xa8: // READ(12)
        return this.startCdRead(ch, d, be32(2), be32(6));
      case 0x2b: // SEEK(10)
        if (be32(2) >= total) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x21);
        return this.atapiOk(ch, d);
      case 0x43:
        return this.readToc(ch, d, p);
      case 0x46:
        return this.getConfiguration(ch, d, p);
      case 0x4a:
        return this.getEventStatus(ch, d, p);
      case 0x51: {
        // READ DISC INFORMATION
        if (p[1] & 7) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
        const s = new Uint8Array(34);
        s[1] = 32;
        s[2] = 0x0e; // last session complete, disc complete
        s[3] = 1; // first track
        s[4] = 1; // sessions
        s[5] = 1; // first track of last session
        s[6] = 1; // last track of last session
        s[7] = 0x20; // unrestricted use
        return this.dataIn(ch, d, s, be16(7));
      }
      case 0x5a:
        return this.modeSense(ch, d, p);
      case 0xbd: {
        // MECHANISM STATUS
        const s = new Uint8Array(8);
        s[1] = r.trayOpen ? 0x10 : 0;
        return this.dataIn(ch, d, s, be16(8));
      }
      case 0xbb: // SET CD SPEED
        return this.atapiOk(ch, d);
      default:
        return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x20); // invalid command operation code
    }
  }

  private startCdRead(ch: Channel, d: Drive, lba: number, count: number): void {
    const r = d.r;
    if (lba + count > d.total) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x21); // LBA out of range
    if (count === 0) return this.atapiOk(ch, d);
    r.atapiRead = true;
    r.atapiLba = lba;
    r.atapiLeft = count * 2048;
    r.cachePos = 2048;
    r.power = 0xff;
    this.dataPhase(ch, d);
  }

  /** Reply with `data`, cut to the allocation length. */
  private dataIn(ch: Channel, d: Drive, data: Uint8Array, alloc: number): void {
    const r = d.r;
    const n = Math.min(data.length, alloc);
    if (n === 0) return this.atapiOk(ch, d);
    d.resp = data.slice(0, n);
    r.respPos = 0;
    r.atapiRead = false;
    r.atapiLeft = n;
    this.dataPhase(ch, d);
  }

  private dataPhase(ch: Channel, d: Drive): void {
    const r = d.r;
    r.fill = 0;
    if (r.atapiDma) return this.dmaReady(ch, d);
    this.armAtapiChunk(d);
  }

  private armAtapiChunk(d: Drive): void {
    const r = d.r;
    const limit = r.byteLimit === 0 || r.byteLimit === 0xffff ? 0xfffe : Math.max(2, r.byteLimit);
    let chunk = r.atapiLeft;
    if (chunk > limit) chunk = limit & ~1; // only the last DRQ block may be odd
    r.chunk = chunk;
    r.fill = 0;
    r.status = St.BSY | St.DRDY;
    r.phase = Phase.AtapiData;
    const t = r.atapiRead ? Math.ceil(chunk / 2048) * IDE_TIMING.cdSector : IDE_TIMING.packet;
    d.timer.arm(this.clock.icount + t);
  }

  /** The next DRQ block of a PIO data-in phase. */
  private atapiChunk(ch: Channel, d: Drive): void {
    const r = d.r;
    const chunk = r.chunk;
    if (r.atapiRead) {
      while (r.fill < chunk) {
        if (r.cachePos >= 2048) {
          const s = this.sectorRead(d, r.atapiLba);
          if ('slow' in s) return d.timer.arm(this.clock.icount + s.slow);
          if ('error' in s) return this.atapiMediaError(ch, d, s.error);
          d.cache.set(s.data.subarray(0, s.valid));
          r.atapiLba++;
          r.cachePos = 0;
        }
        const take = Math.min(2048 - r.cachePos, chunk - r.fill);
        d.buf.set(d.cache.subarray(r.cachePos, r.cachePos + take), r.fill);
        r.cachePos += take;
        r.fill += take;
      }
    } else {
      d.buf.set(d.resp.subarray(r.respPos, r.respPos + chunk));
      r.respPos += chunk;
    }
    r.fill = 0;
    r.atapiLeft -= chunk;
    r.lcyl = chunk & 0xff;
    r.hcyl = (chunk >> 8) & 0xff;
    r.nsector = Ir.IO;
    r.pos = 0;
    r.end = chunk;
    r.pio = Pio.AtapiData;
    r.phase = Phase.Idle;
    r.status = St.DRDY | St.DSC | St.DRQ;
    this.interrupt(ch, d);
  }

  private atapiDmaTransfer(ch: Channel, d: Drive): void {
    const r = d.r;
    if (r.atapiRead) {
      while (r.atapiLeft > 0) {
        const s = this.sectorRead(d, r.atapiLba);
        if ('slow' in s) return d.timer.arm(this.clock.icount + s.slow);
        if ('error' in s) {
          ch.c.bmStatus &= ~Bm.ACTIVE;
          return this.atapiMediaError(ch, d, s.error);
        }
        if (!this.scatter(ch, s.data, 2048, s.valid)) return this.prdShort(ch, d);
        r.atapiLba++;
        r.atapiLeft -= 2048;
      }
    } else {
      const n = r.atapiLeft;
      if (!this.scatter(ch, d.resp.subarray(r.respPos), n, n)) return this.prdShort(ch, d);
      r.respPos += n;
      r.atapiLeft = 0;
    }
    this.bmFinish(ch);
    this.atapiOk(ch, d);
  }

  private readToc(ch: Channel, d: Drive, p: Uint8Array): void {
    const msf = (p[1] & 2) !== 0;
    let format = p[2] & 0x0f;
    if (format === 0) format = p[9] >> 6; // SFF-8020 put the format in the control byte
    const start = p[6];
    const alloc = (p[7] << 8) | p[8];
    const total = d.total;
    const addr = (out: Uint8Array, at: number, lba: number, asMsf: boolean) => {
      if (asMsf) {
        const f = lba + 150;
        out[at] = 0;
        out[at + 1] = Math.floor(f / 4500);
        out[at + 2] = Math.floor(f / 75) % 60;
        out[at + 3] = f % 75;
      } else putBe32(out, at, lba);
    };
    switch (format) {
      case 0: {
        if (start > 1 && start !== 0xaa) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
        const tracks: [number, number, number][] = [];
        if (start <= 1) tracks.push([0x14, 1, 0]);
        tracks.push([0x16, 0xaa, total]);
        const out = new Uint8Array(4 + 8 * tracks.length);
        tracks.forEach(([ctl, no, lba], i) => {
          out[4 + i * 8 + 1] = ctl;
          out[4 + i * 8 + 2] = no;
          addr(out, 4 + i * 8 + 4, lba, msf);
        });
        out[0] = (out.length - 2) >> 8;
        out[1] = (out.length - 2) & 0xff;
        out[2] = 1;
        out[3] = 1;
        return this.dataIn(ch, d, out, alloc);
      }
      case 1: {
        const out = new Uint8Array(12);
        out[1] = 10;
        out[2] = 1;
        out[3] = 1;
        out[5] = 0x14;
        out[6] = 1;
        addr(out, 8, 0, msf);
        return this.dataIn(ch, d, out, alloc);
      }
      case 2: {
        // Full TOC: points A0 (first track), A1 (last track), A2 (lead-out), then track 1.
        const points: [number, number][] = [
          [0xa0, -1],
          [0xa1, -1],
          [0xa2, total],
          [1, 0],
        ];
        const out = new Uint8Array(4 + 11 * points.length);
        points.forEach(([point, lba], i) => {
          const at = 4 + i * 11;
          out[at] = 1; // session
          out[at + 1] = 0x14;
          out[at + 3] = point;
          if (point === 0xa0 || point === 0xa1) out[at + 8] = 1;
          else addr(out, at + 7, lba, true);
        });
        out[0] = (out.length - 2) >> 8;
        out[1] = (out.length - 2) & 0xff;
        out[2] = 1;
        out[3] = 1;
        return this.dataIn(ch, d, out, alloc);
      }
      default:
        return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
    }
  }

  private currentProfile(d: Drive): number {
    if (!d.ready) return 0;
    return d.total > CD_MAX_SECTORS ? 0x0010 : 0x0008;
  }

  private getConfiguration(ch: Channel, d: Drive, p: Uint8Array): void {
    const rt = p[1] & 3;
    const from = (p[2] << 8) | p[3];
    const alloc = (p[7] << 8) | p[8];
    if (rt === 3) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
    const profile = this.currentProfile(d);
    const ready = d.ready;
    const feature = (code: number, version: number, current: boolean, data: number[]) => {
      const persistent = code <= 0x0003;
      const flags = (version << 2) | (persistent ? 0x02 : 0) | (current ? 0x01 : 0);
      return { code, current, bytes: [code >> 8, code & 0xff, flags, data.length, ...data] };
    };
    const features = [
      feature(0x0000, 0, true, [0x00, 0x10, profile === 0x0010 ? 1 : 0, 0, 0x00, 0x08, profile === 0x0008 ? 1 : 0, 0]),
      feature(0x0001, 0, true, [0, 0, 0, 2]), // core: ATAPI
      feature(0x0002, 1, true, [0x02, 0, 0, 0]), // morphing: operational change events
      feature(0x0003, 0, true, [0x29 | (d.r.locked ? 0x01 : 0), 0, 0, 0]), // removable medium: tray, eject, lock
      feature(0x0010, 0, ready, [0, 0, 0x08, 0x00, 0, profile === 0x0010 ? 16 : 1, 0, 0]), // random readable
      feature(0x001e, 0, profile === 0x0008, [0, 0, 0, 0]), // CD read
      feature(0x001f, 0, profile === 0x0010, []), // DVD read
    ];
    const chosen = features.filter((f) => (rt === 2 ? f.code === from : f.code >= from && (rt === 0 || f.current)));
    const body = chosen.flatMap((f) => f.bytes);
    const out = new Uint8Array(8 + body.length);
    putBe32(out, 0, out.length - 4);
    out[6] = profile >> 8;
    out[7] = profile & 0xff;
    out.set(body, 8);
    this.dataIn(ch, d, out, alloc);
  }

  private getEventStatus(ch: Channel, d: Drive, p: Uint8Array): void {
    if (!(p[1] & 1)) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24); // only polled
    const classes = p[4];
    const alloc = (p[7] << 8) | p[8];
    const r = d.r;
    let out: Uint8Array;
    if (classes & 0x10) {
      out = new Uint8Array(8);
      out[1] = 6;
      out[2] = 0x04; // media class
      out[4] = r.mediaEvent;
      out[5] = (d.ready ? 0x02 : 0) | (r.trayOpen ? 0x01 : 0);
      r.mediaEvent = 0;
    } else {
      out = new Uint8Array(4);
      out[1] = 2;
      out[2] = 0x80; // no event available
    }
    out[3] = 0x10; // supported: media
    this.dataIn(ch, d, out, alloc);
  }

  private modeSense(ch: Channel, d: Drive, p: Uint8Array): void {
    const pc = p[2] >> 6;
    const page = p[2] & 0x3f;
    const alloc = (p[7] << 8) | p[8];
    if (pc === 3) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x39); // saving parameters not supported
    const changeable = pc === 1;
    const errorRecovery = [0x01, 0x0a, 0x00, 0x05, 0, 0, 0, 0, 0x05, 0, 0, 0];
    const capabilities = [
      0x2a, 0x12,
      0x3b, 0x00, // reads CD-R, CD-RW, method 2, DVD-ROM, DVD-R, DVD-RAM; writes nothing
      0x71, 0x60, // audio play, multisession, mode 2 form 1/2; ISRC, UPC
      0x29 | (d.r.locked ? 0x02 : 0), 0x00, // lock, eject, tray loader
      0x0b, 0x06, // maximum read speed 2822 kB/s (16x)
      0x01, 0x00, // 256 volume levels
      0x02, 0x00, // 512 KiB buffer
      0x0b, 0x06, // current read speed
      0, 0, 0, 0,
    ];
    const pages: number[][] = [];
    if (page === 0x01 || page === 0x3f) pages.push(errorRecovery);
    if (page === 0x2a || page === 0x3f) pages.push(capabilities);
    if (pages.length === 0) return this.atapiError(ch, d, SENSE_ILLEGAL_REQUEST, 0x24);
    const body = pages.flatMap((pg) => (changeable ? [pg[0], pg[1], ...new Array<number>(pg.length - 2).fill(0)] : pg));
    const out = new Uint8Array(8 + body.length);
    out[0] = (out.length - 2) >> 8;
    out[1] = (out.length - 2) & 0xff;
    out.set(body, 8);
    this.dataIn(ch, d, out, alloc);
  }
}

// ---- encoding and geometry ----

function errorBits(code: string): number {
  if (code === 'unc') return Er.UNC;
  if (code === 'idnf') return Er.IDNF;
  if (code === 'crc') return Er.ICRC | Er.ABRT;
  return Er.ABRT;
}

function putAscii(out: Uint8Array, at: number, s: string, len: number): void {
  for (let i = 0; i < len; i++) out[at + i] = i < s.length ? s.charCodeAt(i) & 0x7f : 0x20;
}

function putBe32(out: Uint8Array, at: number, v: number): void {
  out[at] = (v >>> 24) & 0xff;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** Trailing zero bytes of a buffer are not state worth carrying. */
function trimZeros(b: Uint8Array): Uint8Array {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.slice(0, n);
}

/**
 * Physical CHS geometry for IDENTIFY (QEMU's hd_geometry_guess): from a valid MBR partition
 * whose end head says 16 heads or fewer, else 16 heads, 63 sectors and the cylinders that fit.
 */
function guessGeometry(m: BlockMedia, total: number): { cylinders: number; heads: number; sectors: number } {
  if (total > 0) {
    const mbr = m.read(0, 1);
    if (mbr[510] === 0x55 && mbr[511] === 0xaa) {
      for (let i = 0; i < 4; i++) {
        const e = 0x1be + i * 16;
        const sectors = mbr[e + 12] | (mbr[e + 13] << 8) | (mbr[e + 14] << 16) | (mbr[e + 15] << 24);
        const endHead = mbr[e + 5];
        const spt = mbr[e + 6] & 63;
        if (sectors === 0 || endHead === 0 || spt === 0) continue;
        const heads = endHead + 1;
        const cylinders = Math.floor(total / (heads * spt));
        if (cylinders < 1 || cylinders > 16383) continue;
        if (heads <= 16) return { cylinders, heads, sectors: spt };
        break;
      }
    }
  }
  const cylinders = Math.max(1, Math.min(16383, Math.floor(total / (16 * 63))));
  return { cylinders, heads: 16, sectors: 63 };
}

/** Words as an IDENTIFY block: strings are two characters a word, first in the high byte. */
class IdentifyBlock {
  readonly w = new Uint16Array(256);
  str(word: number, s: string, bytes: number): void {
    for (let i = 0; i < bytes; i++) {
      const c = i < s.length ? s.charCodeAt(i) & 0x7f : 0x20;
      const k = word + (i >> 1);
      this.w[k] = i & 1 ? (this.w[k] & 0xff00) | c : (this.w[k] & 0x00ff) | (c << 8);
    }
  }
  /** Little-endian bytes, with the integrity word (ATA-6 8.15.61: A5h and a checksum). */
  bytes(): Uint8Array {
    const out = new Uint8Array(512);
    for (let i = 0; i < 255; i++) {
      out[i * 2] = this.w[i] & 0xff;
      out[i * 2 + 1] = this.w[i] >> 8;
    }
    out[510] = 0xa5;
    let sum = 0;
    for (let i = 0; i < 511; i++) sum += out[i];
    out[511] = -sum & 0xff;
    return out;
  }
}

/** The DMA mode words 62, 63 and 88 with the mode chosen by SET FEATURES marked. */
function dmaWords(b: IdentifyBlock, mode: number): void {
  const kind = mode >> 3;
  const n = mode & 7;
  b.w[62] = 0x0007 | (kind === 2 ? 0x100 << n : 0);
  b.w[63] = 0x0007 | (kind === 4 ? 0x100 << n : 0);
  b.w[88] = 0x003f | (kind === 8 ? 0x100 << n : 0);
}

function identifyDevice(d: Drive): Uint8Array {
  const r = d.r;
  const b = new IdentifyBlock();
  const w = b.w;
  w[0] = 0x0040; // fixed device
  w[1] = d.pcyls;
  w[3] = d.pheads;
  w[6] = d.pspt;
  b.str(10, d.serial, 20);
  b.str(23, d.firmware, 8);
  b.str(27, d.model, 40);
  w[47] = 0x8000 | MAX_MULTIPLE;
  w[49] = 0x0b00; // IORDY, LBA, DMA
  w[50] = 0x4000;
  w[51] = 0x0200;
  w[52] = 0x0200;
  w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
  w[54] = r.cyls;
  w[55] = r.heads;
  w[56] = r.spt;
  const cur = Math.min(r.cyls * r.heads * r.spt, 0xffffffff);
  w[57] = cur & 0xffff;
  w[58] = Math.floor(cur / 65536) & 0xffff;
  if (r.multiple) w[59] = 0x0100 | r.multiple;
  const lba28 = Math.min(d.total, 0x0fffffff);
  w[60] = lba28 & 0xffff;
  w[61] = Math.floor(lba28 / 65536);
  dmaWords(b, r.xferMode);
  w[64] = 0x0003; // PIO 3 and 4
  w[65] = w[66] = w[67] = w[68] = 120;
  w[80] = 0x007e; // ATA-1 to ATA-6
  w[82] = 0x4068; // NOP, look-ahead, write cache, power management
  w[83] = 0x7400; // FLUSH CACHE EXT, FLUSH CACHE, 48-bit addresses
  w[84] = 0x4000;
  w[85] = 0x4008 | (r.lookAhead ? 0x40 : 0) | (r.writeCache ? 0x20 : 0);
  w[86] = 0x3400;
  w[87] = 0x4000;
  w[93] = hardwareResetResult(d);
  let t = d.total;
  for (let i = 100; i < 104; i++) {
    w[i] = t % 65536;
    t = Math.floor(t / 65536);
  }
  return b.bytes();
}

function identifyPacketDevice(d: Drive): Uint8Array {
  const b = new IdentifyBlock();
  const w = b.w;
  w[0] = 0x85c0; // ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets
  b.str(10, d.serial, 20);
  b.str(23, d.firmware, 8);
  b.str(27, d.model, 40);
  w[49] = 0x0b00; // IORDY, LBA, DMA
  w[50] = 0x4000;
  w[53] = 0x0006; // words 64-70 and 88 valid
  dmaWords(b, d.r.xferMode);
  w[64] = 0x0003;
  w[65] = w[66] = 0x00b4;
  w[67] = 0x012c;
  w[68] = 0x00b4;
  w[71] = w[72] = 30;
  w[80] = 0x007e;
  w[82] = 0x4018; // NOP, PACKET, power management
  w[84] = 0x4000;
  w[85] = 0x4018;
  w[87] = 0x4000;
  w[93] = hardwareResetResult(d);
  return b.bytes();
}

/**
 * IDENTIFY word 93 (ATA-6 8.15.51): 80-conductor cable detected, device number set by jumper,
 * device 0 passed diagnostics and saw PDIAG-/DASP- when device 1 is present; device 1 asserted PDIAG-.
 */
function hardwareResetResult(d: Drive): number {
  if (d.unit === 1) return 0x6b00;
  return 0x600b | (d.peerPresent ? 0x0030 : 0);
}
