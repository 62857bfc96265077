// Intel 82077AA floppy disk controller in PC-AT mode at 0x3F0-0x3F7 (IRQ 6, ISA DMA channel 2),
// with two 3.5"/5.25" drives. Section numbers below are the 82077AA datasheet's.
//
// Registers (§2): DOR 0x3F2 (read/write; RESET#, DMAGATE#, drive select, motor enables),
// MSR 0x3F4 read (RQM, DIO, NON-DMA, CMD BSY, drive busy bits), DSR 0x3F4 write (software reset,
// precompensation, data rate), FIFO 0x3F5, DIR 0x3F7 read (DSKCHG in bit 7; bits 6-0 read 0),
// CCR 0x3F7 write (data rate). 0x3F6 is not decoded (the IDE controller's port).
//
// Commands (§5): READ DATA, WRITE DATA (multi-sector and multi-track, MT), READ ID, FORMAT TRACK,
// SPECIFY, SENSE DRIVE STATUS, RECALIBRATE, SEEK, RELATIVE SEEK, SENSE INTERRUPT STATUS,
// VERSION (90h), CONFIGURE, LOCK/UNLOCK, PERPENDICULAR MODE, DUMPREG. Any other opcode is an
// invalid command: a one-byte result phase with ST0 = 80h and no interrupt (Table 5-1), which is
// also how Linux tells a post-1991 82077AA (PART ID is invalid here).
//
// Behaviour worth knowing:
//   - The drive that moves, reads or writes is the one the DOR selects, and only while its motor
//     enable is set; the DS bits of a command only choose the PCN register and the status bits
//     (Table 5-1 note). A drive that is not selected gives no index pulses.
//   - After a reset (DOR RESET# low then high, or DSR bit 7) the polling emulation reports a
//     ready change for all four drives: one interrupt, then SENSE INTERRUPT STATUS returns
//     C0h-C3h (§7.4). SENSE INTERRUPT with nothing pending returns 80h (§5.2.4).
//   - Execution ends on DMA terminal count (normal termination), or after the EOT sector without
//     TC (abnormal termination, ST1 EN), or on an error. Result C/H/R/N follow Table 5-6; on an
//     error they name the sector in error.
//   - A medium reads only at its data rate (DSR/CCR): 500 kbps for 1.2M and 1.44M, 1 Mbps for
//     2.88M, 250 kbps for 720K, 250 or 300 kbps for 5.25" double-density media (360K drive or
//     1.2M drive). At the wrong rate, with no medium, an unselected drive, FM (MFM = 0), head 1 of
//     a single-sided medium or a cylinder past the medium's last, nothing is found: after two
//     revolutions ST0 IC = 01 and ST1 MA (§5.1.1, §5.2.1). A real controller would wait forever
//     for index pulses from an empty drive; here it gives up after two revolutions instead.
//   - Sector not found (R beyond the track, wrong N, or the head is not on cylinder C without an
//     implied seek) sets ST1 ND, and ST2 WC (BC when C = FFh) for a cylinder mismatch.
//   - Disk change (DIR bit 7) is latched at power-on and on insert/eject, and cleared by a step
//     pulse with a medium in the drive; it reads 0 unless the drive is selected with its motor on.
//   - RECALIBRATE gives up after 79 step pulses without TRK0 (ST0 SE + EC, abnormal) (§5.2.2).
//   - The INT and DRQ outputs are gated by DOR DMAGATE# (PC-AT mode). INT drops when the first
//     result byte is read, or on SENSE INTERRUPT STATUS for seek/recalibrate/polling statuses.
//   - Non-DMA mode (SPECIFY ND = 1): data goes through the FIFO register, with RQM/DIO/NON-DMA
//     in MSR and INT held while a sector's bytes are waiting. Non-DMA transfers end at EOT
//     (ST1 EN), which Linux's pseudo-DMA expects.
//   - WRITE DATA or FORMAT TRACK on a write-protected medium: ST0 IC = 01, ST1 NW, nothing moves.
//   - A write cut short by TC mid-sector writes the rest of the data field as zeros.
//
// Timing is deterministic, in instructions (FdcTiming): command phase to execution
// (commandDelay, plus stepDelay per cylinder of an implied seek), one sectorDelay per sector,
// stepDelay per cylinder for SEEK/RECALIBRATE, resetDelay to the polling interrupt. Each sector's
// bytes move through DMA as soon as the sector starts; the next sector (or the result phase and
// IRQ 6) comes one sectorDelay later. READ ID reports the sector passing under the head then:
// 1 + floor(icount / sectorDelay) mod sectors-per-track.
//
// Fault seam: `sectorFilter` (engine/seams.ts) is asked about every sector read and written
// (drive names 'fd0', 'fd1'; lba = (C * heads + H) * sectors + R - 1). Reads: 'crc' moves the
// sector's data, then ends with ST1 DE + ST2 DD (data-field CRC, §5.1.1); 'unc' ends with ST1 MA
// + ST2 MD (data address mark not found) and moves nothing; 'idnf' and 'lost' end with ST1 ND
// after two revolutions; 'corrupt' XORs the data and reports nothing; 'torn' moves the first
// `bytes` bytes and zeros, then ST1 DE + ST2 DD; 'slow' makes the sector take `delay` more
// instructions. Writes: 'crc' (an ID-field CRC error) ends with ST1 DE, 'unc' with ST1 MA,
// 'idnf' with ST1 ND, each writing nothing; 'corrupt' writes data XOR mask, 'lost' writes
// nothing, 'torn' writes the first `bytes` bytes only, all reporting success; 'slow' as reads.
//
// Leaves out: READ TRACK, VERIFY, READ/WRITE DELETED DATA, SCAN commands (invalid here); deleted
// data marks and SK; the FIFO threshold and overrun/underrun (a DMA channel left masked just
// stalls the transfer); drive polling beyond the post-reset statuses; perpendicular recording
// (PERPENDICULAR MODE is stored and dumped, 2.88M media read and write without it); power-down
// (DSR bit 6, POWERDOWN mode); SRA/SRB (PS/2 modes) and the tape drive register; sector sizes
// other than 512 bytes and any format that does not match the image's geometry (FORMAT TRACK
// records only IDs that fit it); drives 2 and 3 (never present); spin-up time.

import type { Timer } from '../clock.ts';
import type { Payload } from '../doors.ts';
import { applyCorruption, type BlockFaultFilter, type SectorVerdict } from '../seams.ts';
import type { DeviceContext, DmaChannel, DmaClient, IrqLine } from './device.ts';

/** What a floppy drive reads and writes: a flat image of a standard size, by byte offset. */
export interface FloppyMedia {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
}

/** A sector-addressed medium (engine/block.ts's BlockMedia has this shape) seen as FloppyMedia. */
export function floppyMediaFromSectors(m: {
  readonly size: number;
  readonly sectorSize: number;
  read(lba: number, count: number): Uint8Array;
  write(lba: number, data: Uint8Array): void;
}): FloppyMedia {
  const ss = m.sectorSize;
  return {
    size: m.size,
    read: (offset, length) => m.read(offset / ss, length / ss),
    write: (offset, data) => m.write(offset / ss, data),
  };
}

/** Data rate codes of DSR/CCR bits 1-0. */
export const FDC_RATE = { R500K: 0, R300K: 1, R250K: 2, R1M: 3 } as const;

export interface FloppyFormat {
  label: string;
  size: number;
  cylinders: number;
  heads: number;
  sectors: number;
  /** CMOS drive type (0x10) for a drive holding this medium, as SeaBIOS numbers them. */
  cmosType: number;
  /** DSR/CCR data rates the medium reads at. */
  rates: readonly number[];
}

const DD525 = [FDC_RATE.R250K, FDC_RATE.R300K];
export const FLOPPY_FORMATS: readonly FloppyFormat[] = [
  { label: '160K', size: 163840, cylinders: 40, heads: 1, sectors: 8, cmosType: 6, rates: DD525 },
  { label: '180K', size: 184320, cylinders: 40, heads: 1, sectors: 9, cmosType: 7, rates: DD525 },
  { label: '320K', size: 327680, cylinders: 40, heads: 2, sectors: 8, cmosType: 8, rates: DD525 },
  { label: '360K', size: 368640, cylinders: 40, heads: 2, sectors: 9, cmosType: 1, rates: DD525 },
  { label: '720K', size: 737280, cylinders: 80, heads: 2, sectors: 9, cmosType: 3, rates: [FDC_RATE.R250K] },
  { label: '1.2M', size: 1228800, cylinders: 80, heads: 2, sectors: 15, cmosType: 2, rates: [FDC_RATE.R500K] },
  { label: '1.44M', size: 1474560, cylinders: 80, heads: 2, sectors: 18, cmosType: 4, rates: [FDC_RATE.R500K] },
  { label: '2.88M', size: 2949120, cylinders: 80, heads: 2, sectors: 36, cmosType: 5, rates: [FDC_RATE.R1M] },
];

/** The geometry of a floppy image from its size; a clear error for any other size. */
export function floppyFormat(size: number, name = 'floppy image'): FloppyFormat {
  const f = FLOPPY_FORMATS.find((x) => x.size === size);
  if (f) return f;
  const sizes = FLOPPY_FORMATS.map((x) => `${x.label} (${x.size})`).join(', ');
  throw new Error(`${name}: ${size} bytes is not a floppy size; use an image of ${sizes} bytes`);
}

export interface FdcTiming {
  /** From the last command byte to the start of execution (head load and settle). */
  commandDelay: number;
  /** Per cylinder stepped (SEEK, RECALIBRATE, implied seek). */
  stepDelay: number;
  /** One sector passing under the head. */
  sectorDelay: number;
  /** From the end of a reset to the polling interrupt. */
  resetDelay: number;
}

/** Default timing, in instructions (10 ns each): a fast drive, not an instant one. */
export const FDC_DEFAULT_TIMING: FdcTiming = { commandDelay: 1000, stepDelay: 1000, sectorDelay: 5000, resetDelay: 1000 };

export interface FloppyDriveConfig {
  /** The medium in the drive; null or absent for an empty drive. */
  media?: FloppyMedia | null;
  /** Name of the medium (recorded in snapshots, resolved again by `resolveMedia`). */
  name?: string;
  writeProtected?: boolean;
}

export interface FdcOptions {
  /** Drives 0 and 1; null/absent: no drive connected. */
  drives?: readonly (FloppyDriveConfig | null | undefined)[];
  timing?: Partial<FdcTiming>;
  /** Media by name, for the 'floppy-insert' input and for restoring snapshots taken after a change. */
  resolveMedia?: (name: string) => FloppyMedia;
}

// Main status register.
const MSR_RQM = 0x80;
const MSR_DIO = 0x40;
const MSR_NDM = 0x20;
const MSR_CB = 0x10;
// DOR.
const DOR_RESET = 0x04;
const DOR_DMAGATE = 0x08;
// ST0.
const ST0_ABNORMAL = 0x40;
const ST0_INVALID = 0x80;
const ST0_SE = 0x20;
const ST0_EC = 0x10;
// ST1.
const ST1_EN = 0x80;
const ST1_DE = 0x20;
const ST1_ND = 0x04;
const ST1_NW = 0x02;
const ST1_MA = 0x01;
// ST2.
const ST2_DD = 0x20;
const ST2_WC = 0x10;
const ST2_BC = 0x02;
const ST2_MD = 0x01;

const SECTOR = 512;
/** Mechanical stop of the drives' head carriage. */
const MAX_CYLINDER = 83;

const enum Phase {
  Reset = 0,
  Command = 1,
  Execution = 2,
  Result = 3,
}

type ExecOp = 'read' | 'write' | 'format' | 'readid';
/** start: waiting to begin; transfer: the sector's bytes are moving; sectorEnd: the sector passes; result: done. */
type ExecStage = 'start' | 'transfer' | 'sectorEnd' | 'result';

/** A data command (or READ ID) between its command and result phases. */
interface Exec {
  op: ExecOp;
  /** Command drive select (0-3) and physical head. */
  ds: number;
  head: number;
  /** The physical drive doing the work (-1: none answers). */
  unit: number;
  mt: boolean;
  mfm: boolean;
  c: number;
  h: number;
  r: number;
  n: number;
  eot: number;
  /** FORMAT: sectors to format, filler byte, sectors done. */
  sc: number;
  fill: number;
  formatted: number;
  stage: ExecStage;
  /** icount of the next stage (Infinity: waiting for DMA or the host). */
  at: number;
  buf: Uint8Array;
  pos: number;
  len: number;
  /** The current sector's bytes have all moved (or TC cut it short). */
  sectorDone: boolean;
  tc: boolean;
  /** Extra instructions the current sector takes (the 'slow' verdict). */
  extra: number;
  /** Error to report when the current sector ends (fault seam verdicts): [st1, st2]. */
  pendingError: number[] | null;
  /** Result bytes waiting for the 'result' stage. */
  result: number[];
}

interface DriveState {
  cyl: number;
  changed: boolean;
  mediaName: string | null;
  writeProtected: boolean;
}

export interface I82077aaState {
  drives: DriveState[];
  dor: number;
  rate: number;
  precomp: number;
  srt: number;
  hut: number;
  hlt: number;
  nd: boolean;
  eis: boolean;
  efifo: boolean;
  poll: boolean;
  fifothr: number;
  pretrk: number;
  lock: boolean;
  perpendicular: number;
  gap: boolean;
  wgate: boolean;
  pcn: number[];
  phase: number;
  command: number[];
  result: number[];
  resultPos: number;
  resultClearsInt: boolean;
  intPending: boolean;
  intLevel: boolean;
  dreq: boolean;
  busy: number;
  /** icounts of pending events; -1: none. */
  seekAt: number[];
  seekSt0: number[];
  sense: number[];
  polling: number;
  resetIrqAt: number;
  lastScEot: number;
  exec: Exec | null;
}

interface Drive {
  connected: boolean;
  media: FloppyMedia | null;
  format: FloppyFormat | null;
  state: DriveState;
}

/** Parameter bytes of each command (after the opcode), or -1 for an invalid opcode. */
function commandLength(op: number): number {
  if ((op & 0x1f) === 0x06) return 8; // READ DATA
  if ((op & 0x3f) === 0x05) return 8; // WRITE DATA
  if ((op & 0xbf) === 0x0a) return 1; // READ ID
  if ((op & 0xbf) === 0x0d) return 5; // FORMAT TRACK
  if ((op & 0xbf) === 0x8f) return 2; // RELATIVE SEEK
  if ((op & 0x7f) === 0x14) return 0; // LOCK
  switch (op) {
    case 0x03: return 2; // SPECIFY
    case 0x04: return 1; // SENSE DRIVE STATUS
    case 0x07: return 1; // RECALIBRATE
    case 0x08: return 0; // SENSE INTERRUPT STATUS
    case 0x0e: return 0; // DUMPREG
    case 0x0f: return 2; // SEEK
    case 0x10: return 0; // VERSION
    case 0x12: return 1; // PERPENDICULAR MODE
    case 0x13: return 3; // CONFIGURE
    default: return -1;
  }
}

export class I82077aaFdc implements DmaClient {
  readonly name = 'fdc';
  /** Fault seam: consulted on every sector read and write. */
  sectorFilter: BlockFaultFilter | null = null;
  readonly timing: FdcTiming;

  private readonly drives: Drive[] = [];
  private readonly resolveMedia: ((name: string) => FloppyMedia) | null;
  private readonly timer: Timer;

  private dor = 0;
  private rate = FDC_RATE.R250K as number;
  private precomp = 0;
  private srt = 0;
  private hut = 0;
  private hlt = 0;
  private nd = false;
  private eis = false;
  private efifo = true;
  private poll = false;
  private fifothr = 0;
  private pretrk = 0;
  private lock = false;
  private perpendicular = 0;
  private gap = false;
  private wgate = false;
  private pcn = [0, 0, 0, 0];
  private phase: Phase = Phase.Reset;
  private command: number[] = [];
  private result: number[] = [];
  private resultPos = 0;
  private resultClearsInt = false;
  private intPending = false;
  private intLevel = false;
  private dreq = false;
  /** MSR drive busy bits: set by SEEK/RECALIBRATE until SENSE INTERRUPT STATUS reports it. */
  private busy = 0;
  private seekAt = [Infinity, Infinity, Infinity, Infinity];
  private seekSt0 = [0, 0, 0, 0];
  /** Seek/recalibrate status waiting for SENSE INTERRUPT STATUS (-1: none). */
  private sense = [-1, -1, -1, -1];
  /** Drives whose post-reset polling status is still to be reported. */
  private polling = 0;
  private resetIrqAt = Infinity;
  private lastScEot = 0;
  private exec: Exec | null = null;

  constructor(
    private readonly ctx: DeviceContext,
    private readonly irq: IrqLine,
    private readonly dma: DmaChannel | null,
    opts: FdcOptions = {},
  ) {
    this.timing = { ...FDC_DEFAULT_TIMING, ...opts.timing };
    for (const [k, v] of Object.entries(this.timing)) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`fdc: timing.${k} must be a whole number of instructions >= 1, got ${v}`);
    }
    this.resolveMedia = opts.resolveMedia ?? null;
    for (let d = 0; d < 2; d++) {
      const cfg = opts.drives?.[d];
      const drive: Drive = {
        connected: cfg !== null && cfg !== undefined,
        media: null,
        format: null,
        state: { cyl: 0, changed: true, mediaName: null, writeProtected: false },
      };
      this.drives.push(drive);
      if (cfg?.media) this.insert(d, cfg.media, cfg.name ?? `fd${d}`, cfg.writeProtected ?? false);
    }
    this.timer = ctx.clock.timer('fdc', () => this.onTimer());
    ctx.input.handle('floppy-eject', (p) => this.onEjectInput(p));
    if (this.resolveMedia) ctx.input.handle('floppy-insert', (p) => this.onInsertInput(p));
    this.hardReset();
  }

  attach(): void {
    const io = this.ctx.io;
    io.register(0x3f2, 1, { read8: () => this.dor, write8: (_p, v) => this.writeDor(v) });
    io.register(0x3f4, 2, {
      read8: (p) => (p === 0x3f4 ? this.readMsr() : this.readFifo()),
      write8: (p, v) => (p === 0x3f4 ? this.writeDsr(v) : this.writeFifo(v)),
    });
    io.register(0x3f7, 1, { read8: () => this.readDir(), write8: (_p, v) => (this.rate = v & 3) });
  }

  // ---- media ----

  /**
   * Put a medium in drive `d` (0 or 1) at machine set-up. Throws for a size that is not a
   * standard floppy. During a run, media change only through the 'floppy-insert' and
   * 'floppy-eject' inputs.
   */
  insert(d: number, media: FloppyMedia, name: string, writeProtected = false): void {
    const drive = this.drive(d);
    const format = floppyFormat(media.size, name);
    drive.connected = true;
    drive.media = media;
    drive.format = format;
    drive.state.mediaName = name;
    drive.state.writeProtected = writeProtected;
    drive.state.changed = true;
  }

  eject(d: number): void {
    const drive = this.drive(d);
    drive.media = null;
    drive.format = null;
    drive.state.mediaName = null;
    drive.state.changed = true;
  }

  /** CMOS drive type for drive `d` (0 when no drive; 1.44M for an empty drive). */
  cmosDriveType(d: number): number {
    const drive = this.drive(d);
    if (drive.format) return drive.format.cmosType;
    return drive.connected ? 4 : 0;
  }

  private drive(d: number): Drive {
    if (d !== 0 && d !== 1) throw new Error(`fdc: drive ${d} does not exist (0 or 1)`);
    return this.drives[d];
  }

  private onEjectInput(p: Payload): void {
    if (p !== 0 && p !== 1) throw new Error(`floppy-eject input: payload must be the drive number 0 or 1, got ${JSON.stringify(p)}`);
    this.eject(p);
  }

  private onInsertInput(p: Payload): void {
    const o = p as { drive?: unknown; image?: unknown; writeProtected?: unknown };
    if (typeof p !== 'object' || p instanceof Uint8Array || Array.isArray(p) || (o.drive !== 0 && o.drive !== 1) || typeof o.image !== 'string') {
      throw new Error(`floppy-insert input: payload must be { drive: 0 | 1, image: string, writeProtected?: boolean }`);
    }
    this.insert(o.drive, this.resolveMedia!(o.image), o.image, o.writeProtected === true);
  }

  // ---- registers ----

  private writeDor(v: number): void {
    const old = this.dor;
    this.dor = v;
    if (old & DOR_RESET && !(v & DOR_RESET)) this.enterReset(false);
    if (!(old & DOR_RESET) && v & DOR_RESET) this.leaveReset();
    this.updateLine();
    this.updateDreq();
  }

  private writeDsr(v: number): void {
    this.rate = v & 3;
    this.precomp = (v >> 2) & 7;
    if (v & 0x80) {
      this.enterReset(false);
      if (this.dor & DOR_RESET) this.leaveReset();
      this.updateLine();
    }
  }

  private readMsr(): number {
    switch (this.phase) {
      case Phase.Reset:
        return 0;
      case Phase.Command:
        return MSR_RQM | (this.command.length > 0 ? MSR_CB : 0) | this.busy;
      case Phase.Result:
        return MSR_RQM | MSR_DIO | MSR_CB | this.busy;
      case Phase.Execution: {
        const e = this.exec!;
        let v = MSR_CB | this.busy;
        if (this.nd && e.op !== 'readid') {
          v |= MSR_NDM;
          if (this.moving(e)) v |= MSR_RQM | (e.op === 'read' ? MSR_DIO : 0);
        }
        return v;
      }
    }
  }

  private readDir(): number {
    const u = this.selectedUnit();
    return u >= 0 && this.drives[u].state.changed ? 0x80 : 0;
  }

  /** The drive the DOR selects with its motor on, or -1. */
  private selectedUnit(): number {
    const sel = this.dor & 3;
    if (sel > 1 || !(this.dor & (0x10 << sel)) || !this.drives[sel].connected) return -1;
    return sel;
  }

  private readFifo(): number {
    if (this.phase === Phase.Result) {
      const v = this.result[this.resultPos++];
      if (this.resultClearsInt) {
        this.resultClearsInt = false;
        this.setInt(false);
      }
      if (this.resultPos >= this.result.length) {
        this.phase = Phase.Command;
        this.result = [];
        this.resultPos = 0;
      }
      return v;
    }
    const e = this.exec;
    if (this.phase === Phase.Execution && this.nd && e && e.op === 'read' && this.moving(e)) {
      const v = e.buf[e.pos++];
      if (e.pos >= e.len) this.sectorComplete(e);
      return v;
    }
    return 0xff;
  }

  private writeFifo(v: number): void {
    if (this.phase === Phase.Command) {
      this.command.push(v);
      const n = commandLength(this.command[0]);
      if (n < 0) {
        this.command = [];
        this.enterResult([ST0_INVALID], false);
      } else if (this.command.length === n + 1) {
        const cmd = this.command;
        this.command = [];
        this.runCommand(cmd);
      }
      return;
    }
    const e = this.exec;
    if (this.phase === Phase.Execution && this.nd && e && (e.op === 'write' || e.op === 'format') && this.moving(e)) {
      e.buf[e.pos++] = v;
      if (e.pos >= e.len) this.sectorComplete(e);
    }
  }

  /** Bytes of the current sector are waiting to move. */
  private moving(e: Exec): boolean {
    return e.stage === 'transfer' && !e.sectorDone && e.pos < e.len;
  }

  // ---- interrupt and DMA request outputs ----

  private setInt(v: boolean): void {
    this.intPending = v;
    this.updateLine();
  }

  private updateLine(): void {
    const level = this.intPending && (this.dor & DOR_DMAGATE) !== 0;
    if (level === this.intLevel) return;
    this.intLevel = level;
    this.irq.set(level);
  }

  private setDreq(v: boolean): void {
    this.dreq = v;
    this.updateDreq();
  }

  private updateDreq(): void {
    this.dma?.request(this.dreq && (this.dor & DOR_DMAGATE) !== 0);
  }

  // ---- reset ----

  private hardReset(): void {
    this.dor = 0;
    this.lock = false;
    this.perpendicular = 0;
    this.srt = this.hut = this.hlt = 0;
    this.nd = false;
    this.rate = FDC_RATE.R250K;
    this.precomp = 0;
    this.pcn = [0, 0, 0, 0];
    this.enterReset(true);
    this.updateLine();
  }

  /** Controller reset: command state, interrupts and, unless LOCKed, the CONFIGURE FIFO settings. */
  private enterReset(hard: boolean): void {
    this.phase = Phase.Reset;
    this.exec = null;
    this.command = [];
    this.result = [];
    this.resultPos = 0;
    this.resultClearsInt = false;
    this.intPending = false;
    this.busy = 0;
    this.seekAt = [Infinity, Infinity, Infinity, Infinity];
    this.sense = [-1, -1, -1, -1];
    this.polling = 0;
    this.resetIrqAt = Infinity;
    this.eis = false;
    this.poll = false;
    this.gap = false;
    this.wgate = false;
    if (hard || !this.lock) {
      this.efifo = true;
      this.fifothr = 0;
      this.pretrk = 0;
    }
    this.setDreq(false);
    this.schedule();
  }

  private leaveReset(): void {
    this.phase = Phase.Command;
    this.polling = 0x0f;
    this.resetIrqAt = this.ctx.clock.icount + this.timing.resetDelay;
    this.schedule();
  }

  /** Hardware reset: DOR = 0 holds the controller in reset until the BIOS releases it. */
  reset(): void {
    this.hardReset();
  }

  // ---- commands ----

  private runCommand(cmd: number[]): void {
    const op = cmd[0];
    if ((op & 0x1f) === 0x06) return this.startData('read', cmd);
    if ((op & 0x3f) === 0x05) return this.startData('write', cmd);
    if ((op & 0xbf) === 0x0a) return this.startData('readid', cmd);
    if ((op & 0xbf) === 0x0d) return this.startData('format', cmd);
    if ((op & 0xbf) === 0x8f) return this.startSeek(cmd[1] & 3, 'relative', op & 0x40 ? cmd[2] : -cmd[2]);
    if ((op & 0x7f) === 0x14) {
      this.lock = (op & 0x80) !== 0;
      return this.enterResult([this.lock ? 0x10 : 0], false);
    }
    switch (op) {
      case 0x03:
        this.srt = cmd[1] >> 4;
        this.hut = cmd[1] & 0x0f;
        this.hlt = cmd[2] >> 1;
        this.nd = (cmd[2] & 1) !== 0;
        return;
      case 0x04:
        return this.enterResult([this.st3(cmd[1])], false);
      case 0x07:
        return this.startSeek(cmd[1] & 3, 'recalibrate', 0);
      case 0x08:
        return this.senseInterrupt();
      case 0x0e:
        return this.enterResult(
          [
            ...this.pcn,
            (this.srt << 4) | this.hut,
            (this.hlt << 1) | (this.nd ? 1 : 0),
            this.lastScEot,
            (this.lock ? 0x80 : 0) | (this.perpendicular << 2) | (this.gap ? 2 : 0) | (this.wgate ? 1 : 0),
            (this.eis ? 0x40 : 0) | (this.efifo ? 0x20 : 0) | (this.poll ? 0x10 : 0) | this.fifothr,
            this.pretrk,
          ],
          false,
        );
      case 0x0f:
        return this.startSeek(cmd[1] & 3, 'seek', cmd[2]);
      case 0x10:
        return this.enterResult([0x90], false);
      case 0x12:
        if (cmd[1] & 0x80) this.perpendicular = (cmd[1] >> 2) & 0x0f;
        this.gap = (cmd[1] & 2) !== 0;
        this.wgate = (cmd[1] & 1) !== 0;
        return;
      case 0x13:
        this.eis = (cmd[2] & 0x40) !== 0;
        this.efifo = (cmd[2] & 0x20) !== 0;
        this.poll = (cmd[2] & 0x10) !== 0;
        this.fifothr = cmd[2] & 0x0f;
        this.pretrk = cmd[3];
        return;
    }
  }

  private st3(p: number): number {
    const ds = p & 3;
    const head = (p >> 2) & 1;
    const u = this.selectedUnit();
    let v = 0x20 | 0x08 | (head << 2) | ds; // RDY and bit 3 read 1 on the 82077AA
    if (u >= 0) {
      const d = this.drives[u];
      if (!d.media || d.state.writeProtected) v |= 0x40;
      if (d.state.cyl === 0) v |= 0x10;
    }
    return v;
  }

  private enterResult(bytes: number[], raiseInt: boolean): void {
    this.exec = null;
    this.phase = Phase.Result;
    this.result = bytes;
    this.resultPos = 0;
    this.resultClearsInt = raiseInt;
    this.setDreq(false);
    if (raiseInt) this.setInt(true);
    this.schedule();
  }

  private senseInterrupt(): void {
    for (let d = 0; d < 4; d++) {
      if (this.sense[d] >= 0) {
        const st0 = this.sense[d];
        this.sense[d] = -1;
        this.busy &= ~(1 << d);
        this.setInt(this.sense.some((s) => s >= 0));
        return this.enterResult([st0, this.pcn[d]], false);
      }
    }
    if (this.polling) {
      const d = 31 - Math.clz32(this.polling & -this.polling);
      this.polling &= ~(1 << d);
      this.setInt(this.sense.some((s) => s >= 0));
      return this.enterResult([0xc0 | d, this.pcn[d]], false);
    }
    this.enterResult([ST0_INVALID], false);
  }

  /** Move the selected drive's head by `delta` cylinders; returns the step pulses issued. */
  private step(unit: number, delta: number): number {
    if (unit < 0 || delta === 0) return Math.abs(delta);
    const d = this.drives[unit];
    d.state.cyl = Math.max(0, Math.min(MAX_CYLINDER, d.state.cyl + delta));
    if (d.media) d.state.changed = false;
    return Math.abs(delta);
  }

  private startSeek(ds: number, kind: 'seek' | 'recalibrate' | 'relative', arg: number): void {
    const unit = this.selectedUnit();
    let st0 = ST0_SE | ds;
    let steps: number;
    if (kind === 'recalibrate') {
      if (unit >= 0 && this.drives[unit].state.cyl <= 79) {
        steps = this.step(unit, -this.drives[unit].state.cyl);
      } else {
        steps = this.step(unit, -79);
        st0 |= ST0_ABNORMAL | ST0_EC; // TRK0 never seen after 79 step pulses
      }
      this.pcn[ds] = 0;
    } else if (kind === 'seek') {
      steps = this.step(unit, arg - this.pcn[ds]);
      this.pcn[ds] = arg;
    } else {
      steps = this.step(unit, arg);
      this.pcn[ds] = (this.pcn[ds] + arg) & 0xff;
    }
    this.busy |= 1 << ds;
    this.seekSt0[ds] = st0;
    this.seekAt[ds] = this.ctx.clock.icount + this.timing.commandDelay + steps * this.timing.stepDelay;
    this.schedule();
  }

  private startData(op: ExecOp, cmd: number[]): void {
    const ds = cmd[1] & 3;
    const head = (cmd[1] >> 2) & 1;
    const e: Exec = {
      op,
      ds,
      head,
      unit: -1,
      mt: (cmd[0] & 0x80) !== 0,
      mfm: (cmd[0] & 0x40) !== 0,
      c: 0,
      h: head,
      r: 1,
      n: 2,
      eot: 0,
      sc: 0,
      fill: 0,
      formatted: 0,
      stage: 'start',
      at: Infinity,
      buf: new Uint8Array(SECTOR),
      pos: 0,
      len: 0,
      sectorDone: true,
      tc: false,
      extra: 0,
      pendingError: null,
      result: [],
    };
    let steps = 0;
    if (op === 'read' || op === 'write') {
      [e.c, e.h, e.r, e.n, e.eot] = [cmd[2], cmd[3], cmd[4], cmd[5], cmd[6]];
      this.lastScEot = e.eot;
      if (this.eis) {
        steps = this.step(this.selectedUnit(), e.c - this.pcn[ds]);
        this.pcn[ds] = e.c;
      }
    } else if (op === 'format') {
      [e.n, e.sc, e.fill] = [cmd[2], cmd[3], cmd[5]];
      this.lastScEot = e.sc;
    }
    this.exec = e;
    this.phase = Phase.Execution;
    e.at = this.ctx.clock.icount + this.timing.commandDelay + steps * this.timing.stepDelay;
    this.schedule();
  }

  // ---- execution ----

  private revolutions(n: number, unit: number): number {
    const spt = unit >= 0 ? (this.drives[unit].format?.sectors ?? 18) : 18;
    return n * spt * this.timing.sectorDelay;
  }

  /** End the command: result bytes after `delay` instructions, then IRQ 6. */
  private finish(e: Exec, st0: number, st1: number, st2: number, chrn: number[], delay: number): void {
    this.setDreq(false);
    e.result = [st0 | (e.head << 2) | e.ds, st1, st2, ...chrn];
    e.stage = 'result';
    e.at = this.ctx.clock.icount + delay;
    this.schedule();
  }

  private fail(e: Exec, st1: number, st2: number, delay: number): void {
    this.finish(e, ST0_ABNORMAL, st1, st2, [e.c, e.h, e.r, e.n], delay);
  }

  /** Execution starts: find the track, check the medium, start the first sector. */
  private execStart(e: Exec): void {
    const unit = this.selectedUnit();
    e.unit = unit;
    const d = unit >= 0 ? this.drives[unit] : null;
    const f = d?.format ?? null;
    const notFound = this.revolutions(2, unit);
    if (!d || !f || !f.rates.includes(this.rate) || !e.mfm || e.head >= f.heads || d.state.cyl >= f.cylinders) {
      if (e.op === 'readid') e.c = d ? d.state.cyl : 0;
      return this.fail(e, ST1_MA, 0, notFound);
    }
    const cyl = d.state.cyl;
    if (e.op === 'readid') {
      const at = this.ctx.clock.icount + this.timing.sectorDelay;
      const r = 1 + (Math.floor(at / this.timing.sectorDelay) % f.sectors);
      return this.finish(e, 0, 0, 0, [cyl, e.head, r, 2], this.timing.sectorDelay);
    }
    if ((e.op === 'write' || e.op === 'format') && d.state.writeProtected) return this.fail(e, ST1_NW, 0, 0);
    if (e.op === 'format') {
      e.c = cyl;
      return this.beginSector(e);
    }
    if (e.c !== cyl) return this.fail(e, ST1_ND, e.c === 0xff ? ST2_BC : ST2_WC, notFound);
    if (e.n !== 2 || e.h !== e.head || e.r < 1 || e.r > f.sectors) return this.fail(e, ST1_ND, 0, notFound);
    this.beginSector(e);
  }

  private lba(e: Exec, r = e.r): number {
    const f = this.drives[e.unit].format!;
    return (e.c * f.heads + e.head) * f.sectors + r - 1;
  }

  private verdict(v: SectorVerdict | undefined): SectorVerdict {
    return v ?? { kind: 'ok' };
  }

  /** Start moving the current sector (read: fetch it; write/format: wait for its bytes). */
  private beginSector(e: Exec): void {
    const d = this.drives[e.unit];
    e.stage = 'transfer';
    e.at = Infinity;
    e.pos = 0;
    e.sectorDone = false;
    e.extra = 0;
    e.pendingError = null;
    if (e.op === 'read') {
      const lba = this.lba(e);
      const v = this.verdict(this.sectorFilter?.read(`fd${e.unit}`, lba, this.ctx.clock.icount));
      e.len = SECTOR;
      const data = d.media!.read(lba * SECTOR, SECTOR);
      e.buf.fill(0);
      switch (v.kind) {
        case 'error':
          if (v.code === 'idnf') return this.fail(e, ST1_ND, 0, this.revolutions(2, e.unit));
          if (v.code === 'unc') return this.fail(e, ST1_MA, ST2_MD, this.timing.sectorDelay);
          e.buf.set(data);
          e.pendingError = [ST1_DE, ST2_DD];
          break;
        case 'lost':
          return this.fail(e, ST1_ND, 0, this.revolutions(2, e.unit));
        case 'corrupt':
          e.buf.set(data);
          applyCorruption(e.buf.subarray(0, SECTOR), v);
          break;
        case 'torn':
          e.buf.set(data.subarray(0, Math.max(0, Math.min(SECTOR, v.bytes))));
          e.pendingError = [ST1_DE, ST2_DD];
          break;
        case 'slow':
          e.extra = Math.max(0, v.delay);
          e.buf.set(data);
          break;
        default:
          e.buf.set(data);
      }
    } else {
      e.len = e.op === 'format' ? 4 : SECTOR;
      e.buf.fill(0);
    }
    // Ask for the bytes: DRQ (the DMA may move them all right here), or INT in non-DMA mode.
    if (this.nd) this.setInt(true);
    else this.setDreq(true);
  }

  /** The sector's bytes have moved (or TC cut it short): the sector ends one sectorDelay later. */
  private sectorComplete(e: Exec): void {
    if (e.sectorDone) return;
    e.sectorDone = true;
    if (this.nd) this.setInt(false);
    else this.setDreq(false);
    if (e.op === 'write') this.commitWrite(e);
    else if (e.op === 'format') this.commitFormat(e);
    e.stage = 'sectorEnd';
    e.at = this.ctx.clock.icount + this.timing.sectorDelay + e.extra;
    this.schedule();
  }

  /** Result C/H/R/N after a normal termination whose final sector was the current one (Table 5-6). */
  private nextId(e: Exec): number[] {
    if (e.r !== e.eot) return [e.c, e.h, e.r + 1, e.n];
    if (!e.mt) return [e.c + 1, e.h, 1, e.n];
    return e.head === 0 ? [e.c, e.h ^ 1, 1, e.n] : [e.c + 1, e.h ^ 1, 1, e.n];
  }

  private sectorEnd(e: Exec): void {
    if (e.pendingError) return this.fail(e, e.pendingError[0], e.pendingError[1], 0);
    if (e.op === 'format') {
      e.formatted++;
      if (e.tc || e.formatted >= e.sc) return this.finish(e, 0, 0, 0, [e.c, e.h, e.r, e.n], 0);
      return this.beginSector(e);
    }
    if (e.tc) return this.finish(e, 0, 0, 0, this.nextId(e), 0);
    // Next sector: R + 1, or side 1 of the same cylinder (MT), or the end of the cylinder.
    const f = this.drives[e.unit].format!;
    if (e.r === e.eot) {
      if (e.mt && e.head === 0) {
        e.head = 1;
        e.h ^= 1;
        e.r = 1;
        if (f.heads < 2) return this.fail(e, ST1_MA, 0, this.revolutions(2, e.unit));
        return this.beginSector(e);
      }
      return this.finish(e, ST0_ABNORMAL, ST1_EN, 0, this.nextId(e), 0);
    }
    e.r = (e.r + 1) & 0xff;
    if (e.r < 1 || e.r > f.sectors) return this.fail(e, ST1_ND, 0, this.revolutions(2, e.unit));
    this.beginSector(e);
  }

  /** The write fault verdict's error as [st1, st2]: an ID-field CRC error, a missing ID address mark, or no such sector. */
  private writeError(code: 'unc' | 'idnf' | 'crc'): number[] {
    return code === 'crc' ? [ST1_DE, 0] : code === 'unc' ? [ST1_MA, 0] : [ST1_ND, 0];
  }

  /** Store `data` at `lba` as the fault seam decides. */
  private store(e: Exec, lba: number, data: Uint8Array): void {
    const media = this.drives[e.unit].media!;
    const v = this.verdict(this.sectorFilter?.write(`fd${e.unit}`, lba, data.slice(), this.ctx.clock.icount));
    switch (v.kind) {
      case 'error':
        e.pendingError = this.writeError(v.code);
        return;
      case 'lost':
        return;
      case 'slow':
        e.extra = Math.max(0, v.delay);
        break;
      case 'corrupt':
        data = data.slice();
        applyCorruption(data.subarray(0, SECTOR), v);
        break;
      case 'torn': {
        const old = media.read(lba * SECTOR, SECTOR).slice();
        old.set(data.subarray(0, Math.max(0, Math.min(SECTOR, v.bytes))));
        data = old;
        break;
      }
    }
    media.write(lba * SECTOR, data.slice());
  }

  /** WRITE DATA: the sector's bytes are in (a TC cut leaves zeros in the rest). */
  private commitWrite(e: Exec): void {
    this.store(e, this.lba(e), e.buf);
  }

  /** FORMAT TRACK: one ID (C, H, R, N) is in; fill its sector if it fits the image's geometry. */
  private commitFormat(e: Exec): void {
    if (e.pos < 4) return;
    const d = this.drives[e.unit];
    const f = d.format!;
    const [c, h, r, n] = e.buf;
    [e.c, e.h, e.r, e.n] = [c, h, r, n];
    if (c !== d.state.cyl || h !== e.head || n !== 2 || r < 1 || r > f.sectors) return;
    this.store(e, (c * f.heads + h) * f.sectors + r - 1, new Uint8Array(SECTOR).fill(e.fill));
  }

  // ---- DMA client ----

  dmaRead(): number {
    const e = this.exec;
    if (!e || e.op !== 'read' || !this.moving(e)) return 0xff;
    const v = e.buf[e.pos++];
    if (e.pos >= e.len) this.sectorComplete(e);
    return v;
  }

  dmaWrite(value: number): void {
    const e = this.exec;
    if (!e || (e.op !== 'write' && e.op !== 'format') || !this.moving(e)) return;
    e.buf[e.pos++] = value;
    if (e.pos >= e.len) this.sectorComplete(e);
  }

  dmaTerminalCount(): void {
    const e = this.exec;
    if (!e || e.op === 'readid' || (e.stage !== 'transfer' && e.stage !== 'sectorEnd')) return;
    e.tc = true;
    if (e.stage === 'transfer') this.sectorComplete(e); // a write cut short keeps the zeros already in the rest of the buffer
  }

  // ---- timer ----

  private schedule(): void {
    let t = this.resetIrqAt;
    for (const s of this.seekAt) if (s < t) t = s;
    if (this.exec && this.exec.at < t) t = this.exec.at;
    if (t === Infinity) this.timer.cancel();
    else this.timer.arm(t);
  }

  private onTimer(): void {
    const now = this.ctx.clock.icount;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.resetIrqAt <= now) {
        this.resetIrqAt = Infinity;
        this.setInt(true);
        continue;
      }
      const d = this.seekAt.findIndex((s) => s <= now);
      if (d >= 0) {
        this.seekAt[d] = Infinity;
        this.sense[d] = this.seekSt0[d];
        this.setInt(true);
        continue;
      }
      const e = this.exec;
      if (e && e.at <= now) {
        e.at = Infinity;
        if (e.stage === 'start') this.execStart(e);
        else if (e.stage === 'sectorEnd') this.sectorEnd(e);
        else this.enterResult(e.result, true);
        continue;
      }
      break;
    }
    this.schedule();
  }

  // ---- state ----

  save(): I82077aaState {
    const e = this.exec;
    return {
      drives: this.drives.map((d) => ({ ...d.state })),
      dor: this.dor,
      rate: this.rate,
      precomp: this.precomp,
      srt: this.srt,
      hut: this.hut,
      hlt: this.hlt,
      nd: this.nd,
      eis: this.eis,
      efifo: this.efifo,
      poll: this.poll,
      fifothr: this.fifothr,
      pretrk: this.pretrk,
      lock: this.lock,
      perpendicular: this.perpendicular,
      gap: this.gap,
      wgate: this.wgate,
      pcn: [...this.pcn],
      phase: this.phase,
      command: [...this.command],
      result: [...this.result],
      resultPos: this.resultPos,
      resultClearsInt: this.resultClearsInt,
      intPending: this.intPending,
      intLevel: this.intLevel,
      dreq: this.dreq,
      busy: this.busy,
      seekAt: this.seekAt.map(never),
      seekSt0: [...this.seekSt0],
      sense: [...this.sense],
      polling: this.polling,
      resetIrqAt: never(this.resetIrqAt),
      lastScEot: this.lastScEot,
      exec: e ? { ...e, at: never(e.at), buf: e.buf.slice(), pendingError: e.pendingError ? [...e.pendingError] : null, result: [...e.result] } : null,
    };
  }

  load(s: unknown): void {
    const st = s as I82077aaState;
    st.drives.forEach((ds, i) => {
      const d = this.drives[i];
      if (ds.mediaName !== d.state.mediaName) {
        if (ds.mediaName === null) {
          d.media = null;
          d.format = null;
        } else {
          if (!this.resolveMedia) throw new Error(`fdc: the snapshot has floppy '${ds.mediaName}' in drive ${i}, but no media resolver was given to find it`);
          const m = this.resolveMedia(ds.mediaName);
          d.media = m;
          d.format = floppyFormat(m.size, ds.mediaName);
          d.connected = true;
        }
      }
      d.state = { ...ds };
    });
    this.dor = st.dor;
    this.rate = st.rate;
    this.precomp = st.precomp;
    this.srt = st.srt;
    this.hut = st.hut;
    this.hlt = st.hlt;
    this.nd = st.nd;
    this.eis = st.eis;
    this.efifo = st.efifo;
    this.poll = st.poll;
    this.fifothr = st.fifothr;
    this.pretrk = st.pretrk;
    this.lock = st.lock;
    this.perpendicular = st.perpendicular;
    this.gap = st.gap;
    this.wgate = st.wgate;
    this.pcn = [...st.pcn];
    this.phase = st.phase as Phase;
    this.command = [...st.command];
    this.result = [...st.result];
    this.resultPos = st.resultPos;
    this.resultClearsInt = st.resultClearsInt;
    this.intPending = st.intPending;
    this.intLevel = st.intLevel;
    this.dreq = st.dreq;
    this.busy = st.busy;
    this.seekAt = st.seekAt.map(whenever);
    this.seekSt0 = [...st.seekSt0];
    this.sense = [...st.sense];
    this.polling = st.polling;
    this.resetIrqAt = whenever(st.resetIrqAt);
    this.lastScEot = st.lastScEot;
    const e = st.exec;
    this.exec = e ? { ...e, at: whenever(e.at), buf: Uint8Array.from(e.buf), pendingError: e.pendingError ? [...e.pendingError] : null, result: [...e.result] } : null;
  }
}

/** Saved form of an icount that may be "never" (Infinity): -1. */
function never(t: number): number {
  return t === Infinity ? -1 : t;
}

function whenever(t: number): number {
  return t < 0 ? Infinity : t;
}
