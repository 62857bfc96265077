// The standard VGA with the Bochs VBE ("DISPI") extensions, as QEMU's `-vga std`: PCI function
// 1234:1111 (class 030000) with 16 MiB of video memory, exposed by BAR0 as a prefetchable
// linear framebuffer; BAR2 is QEMU's 4 KiB register window (VGA ports at 0x400, DISPI
// registers at 0x500, extension registers at 0x600). SeaBIOS's vgabios-stdvga.bin drives it.
//
// Models: the legacy window A0000-BFFFF (four memory maps; chain-4, odd/even and planar
// access; latches, write modes 0-3, read modes 0-1, set/reset, rotate, logical operation,
// bit mask, map mask: IBM VGA Technical Reference, "Graphics Controller Registers"); the
// sequencer, CRTC (3Dx or 3Bx by misc output bit 0, CR0-7 write protection), graphics and
// attribute controllers (flip-flop reset by reading input status 1), DAC with read/write
// indices and PEL mask, misc output, feature control, input status 0/1. Input status 1's
// retrace and display-enable bits come from icount and the CRTC timing registers at each
// read (70 Hz in mode 3, 60 Hz in mode 12h). Bochs VBE at 1CEh (index), 1CFh and 1D0h (data):
// ID B0C0-B0C5, XRES, YRES, BPP 4/8/15/16/24/32, ENABLE (GETCAPS, 8BIT_DAC, LFB, NOCLEARMEM),
// BANK, VIRT_WIDTH/HEIGHT, X/Y_OFFSET, VIDEO_MEMORY_64K, with QEMU's fix-ups and the VGA
// registers QEMU forces while VBE is on. Pictures are made on demand by vga-render.ts.
//
// Leaves out: the option ROM (the machine hands vgabios-stdvga.bin to the firmware), EDID
// (BAR2 offset 0 reads zero, as QEMU's edid=off), the big-endian framebuffer switch, the
// vertical retrace interrupt (not wired on PCI VGA), misc output's RAM-enable bit (ignored,
// as by QEMU), and the CRTC's byte/word/doubleword address translation: video memory is kept
// in QEMU's layout (four planes per CRTC address), where it only shows across mode changes.

import type { Device, DeviceContext } from './device.ts';
import { PciDevice } from './pci-device.ts';
import type { MmioHandler } from '../memory.ts';
import type { PortHandler } from '../io-bus.ts';
import { NOMINAL_HZ } from '../clock.ts';
import {
  displayMode,
  framebuffer,
  screenLines,
  textScreen,
  vbeGeometry,
  type DisplayMode,
  type Framebuffer,
  type TextScreen,
  type VgaView,
} from './vga-render.ts';

export type { DisplayMode, Framebuffer, TextScreen } from './vga-render.ts';

/** Video memory, and the size of BAR0. */
export const VRAM_SIZE = 16 << 20;
const VRAM_DWORDS = VRAM_SIZE >> 2;
const PAGE_SHIFT = 12;
/** Size of BAR2, QEMU's register window. */
export const VGA_MMIO_SIZE = 0x1000;

/** Bochs VBE register indices (QEMU include/hw/display/bochs-vbe.h). */
export const enum Vbe {
  ID = 0x0,
  XRES = 0x1,
  YRES = 0x2,
  BPP = 0x3,
  ENABLE = 0x4,
  BANK = 0x5,
  VIRT_WIDTH = 0x6,
  VIRT_HEIGHT = 0x7,
  X_OFFSET = 0x8,
  Y_OFFSET = 0x9,
  /** Read-only: video memory in 64 KiB units. Not stored; the registers above are. */
  VIDEO_MEMORY_64K = 0xa,
}

/** Number of stored DISPI registers (ID through Y_OFFSET). */
const VBE_REGS = 0xa;

const VBE_ID0 = 0xb0c0;
const VBE_ID5 = 0xb0c5;
const VBE_ENABLED = 0x01;
const VBE_GETCAPS = 0x02;
const VBE_NOCLEARMEM = 0x80;
const VBE_MAX_XRES = 16000;
const VBE_MAX_YRES = 12000;
const VBE_MAX_BPP = 32;

/** Writable bits of the sequencer and graphics controller registers (QEMU's sr_mask/gr_mask). */
const SEQ_MASK = [0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff];
const GC_MASK = [0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0];

/** A 4-bit plane set expanded to a 32-bit word: byte p is 0xFF when bit p is set. */
const EXPAND = new Int32Array(16);
for (let i = 0; i < 16; i++) {
  EXPAND[i] = (i & 1 ? 0xff : 0) | (i & 2 ? 0xff00 : 0) | (i & 4 ? 0xff0000 : 0) | (i & 8 ? 0xff000000 : 0);
}

/** Dot clocks selected by misc output bits 2-3 (25.175 and 28.322 MHz; the others as 25). */
const DOT_CLOCK_HZ = [25_175_000, 28_322_000, 25_175_000, 25_175_000];

/**
 * The machine can map guest-physical pages straight onto video memory, so LFB and chain-4
 * accesses skip the device (vram must then be a view of the memory's backing buffer).
 */
export interface VramMapper {
  /** Map `size` bytes at physical `addr` onto vram bytes from `vramOffset`, read/write, as RAM. */
  map(addr: number, size: number, vramOffset: number): void;
}

export interface VgaOptions {
  /** PCI bus/device/function (default 00:02.0, where QEMU's pc machine puts it). */
  bdf?: number;
  /** Backing for the 16 MiB of video memory (4-byte aligned); default: a buffer of its own. */
  vram?: Uint8Array;
  /** Maps pages onto `vram` as plain RAM (requires `vram`); without it everything is MMIO. */
  mapper?: VramMapper;
}

export interface VgaState {
  pci: { config: Uint8Array };
  misc: number;
  featureControl: number;
  seqIndex: number;
  seq: Uint8Array;
  gcIndex: number;
  gc: Uint8Array;
  crtcIndex: number;
  crtc: Uint8Array;
  attrIndex: number;
  attrFlipFlop: number;
  attr: Uint8Array;
  dac: Uint8Array;
  dacReadIndex: number;
  dacWriteIndex: number;
  dacSubIndex: number;
  dacState: number;
  dacLatch: Uint8Array;
  pelMask: number;
  latch: number;
  vbeIndex: number;
  vbe: number[];
  bankOffset: number;
  /** Indices of the 4 KiB pages of video memory that are not all zero, and their bytes. */
  vramPages: number[];
  vramData: Uint8Array;
}

export class Vga extends PciDevice implements Device, VgaView {
  readonly name = 'vga';
  readonly vram: Uint8Array;
  private readonly vram32: Int32Array;
  private readonly mapper: VramMapper | undefined;
  /** Pages of vram that may hold non-zero bytes (a superset; keeps save() from scanning 16 MiB). */
  private readonly touched = new Uint8Array(VRAM_SIZE >> PAGE_SHIFT);

  misc = 0;
  featureControl = 0;
  seqIndex = 0;
  readonly seq = new Uint8Array(8);
  gcIndex = 0;
  readonly gc = new Uint8Array(16);
  crtcIndex = 0;
  readonly crtc = new Uint8Array(256);
  attrIndex = 0;
  attrFlipFlop = 0;
  readonly attr = new Uint8Array(0x15);
  readonly dac = new Uint8Array(768);
  dacReadIndex = 0;
  dacWriteIndex = 0;
  dacSubIndex = 0;
  dacState = 0;
  private readonly dacLatch = new Uint8Array(3);
  pelMask = 0xff;
  /** The four plane latches, plane p in byte p. */
  latch = 0;
  vbeIndex = 0;
  readonly vbe = new Uint16Array(VBE_REGS);
  bankOffset = 0;
  /** How the legacy window is mapped now ('mmio', or a direct chain-4 mapping's key; '' before attach). */
  private windowKey = '';
  private attached = false;

  private readonly ports: PortHandler;
  private readonly vbePorts: PortHandler;
  private readonly windowHandler: MmioHandler;
  private readonly lfbHandler: MmioHandler;
  private readonly regsHandler: MmioHandler;

  constructor(
    private readonly ctx: DeviceContext,
    opts: VgaOptions = {},
  ) {
    super(opts.bdf ?? 2 << 3, {
      vendor: 0x1234,
      device: 0x1111,
      classCode: 0x030000,
      revision: 2, // QEMU: 2 when the extension registers are present
      subsystemVendor: 0x1af4,
      subsystem: 0x1100,
    });
    this.defineBar(0, { size: VRAM_SIZE, io: false, prefetchable: true });
    this.defineBar(2, { size: VGA_MMIO_SIZE, io: false });
    if (opts.mapper && !opts.vram) throw new Error('vga: a VramMapper needs the vram it maps onto');
    this.vram = opts.vram ?? new Uint8Array(VRAM_SIZE);
    if (this.vram.length !== VRAM_SIZE || (this.vram.byteOffset & 3) !== 0) {
      throw new Error(`vga: vram must be ${VRAM_SIZE} bytes, 4-byte aligned`);
    }
    this.vram32 = new Int32Array(this.vram.buffer, this.vram.byteOffset, VRAM_DWORDS);
    this.mapper = opts.mapper;
    this.ports = {
      read8: (p) => this.readPort(p),
      write8: (p, v) => this.writePort(p, v),
    };
    this.vbePorts = {
      read16: (p) => (p === 0x1ce ? this.vbeIndex : this.readVbe()),
      write16: (p, v) => {
        if (p === 0x1ce) this.vbeIndex = v;
        else this.writeVbe(v);
      },
    };
    this.windowHandler = {
      read8: (a) => this.readWindow(a),
      write8: (a, v) => this.writeWindow(a, v),
    };
    const lfb = new DataView(this.vram.buffer, this.vram.byteOffset, VRAM_SIZE);
    // Offsets into a BAR: the low bits of the address (BARs are aligned to their size).
    const lfbOff = (a: number): number => a & (VRAM_SIZE - 1);
    const regOff = (a: number): number => a & (VGA_MMIO_SIZE - 1);
    this.lfbHandler = {
      read8: (a) => this.vram[lfbOff(a)],
      read16: (a) => lfb.getUint16(lfbOff(a), true),
      read32: (a) => lfb.getInt32(lfbOff(a), true),
      write8: (a, v) => {
        const o = lfbOff(a);
        this.vram[o] = v;
        this.touched[o >>> PAGE_SHIFT] = 1;
      },
      write16: (a, v) => {
        const o = lfbOff(a);
        lfb.setUint16(o, v, true);
        this.touched[o >>> PAGE_SHIFT] = 1;
      },
      write32: (a, v) => {
        const o = lfbOff(a);
        lfb.setInt32(o, v, true);
        this.touched[o >>> PAGE_SHIFT] = 1;
      },
    };
    this.regsHandler = {
      read8: (a) => this.readRegs(regOff(a), 1),
      read16: (a) => this.readRegs(regOff(a), 2),
      read32: (a) => this.readRegs(regOff(a), 4),
      write8: (a, v) => this.writeRegs(regOff(a), v, 1),
      write16: (a, v) => this.writeRegs(regOff(a), v, 2),
      write32: (a, v) => this.writeRegs(regOff(a), v, 4),
    };
    this.resetRegisters();
  }

  /** Claim the VGA and VBE ports and the legacy memory window. */
  attach(): void {
    const io = this.ctx.io;
    io.register(0x3b4, 2, this.ports);
    io.register(0x3ba, 1, this.ports);
    io.register(0x3c0, 16, this.ports);
    io.register(0x3d4, 2, this.ports);
    io.register(0x3da, 1, this.ports);
    io.register(0x1ce, 3, this.vbePorts);
    this.attached = true;
    this.windowKey = '';
    this.updateWindowMapping();
  }

  // ---- what the guest shows ----

  textScreen(): TextScreen {
    return textScreen(this);
  }

  framebuffer(): Framebuffer {
    return framebuffer(this);
  }

  /** The text screen as plain lines, trailing spaces trimmed (empty in graphics modes). */
  screenDump(): string[] {
    return screenLines(this);
  }

  displayMode(): DisplayMode {
    return displayMode(this);
  }

  /** Send the text screen out through the output sink ('vga', one string, lines joined by \n). */
  emitScreen(): void {
    this.ctx.output.emit(this.ctx.clock.icount, 'vga', this.screenDump().join('\n'));
  }

  // ---- I/O ports ----

  private readPort(port: number): number {
    if (this.wrongCrtcBlock(port)) return 0xff;
    switch (port) {
      case 0x3c0:
        return this.attrIndex;
      case 0x3c1: {
        const i = this.attrIndex & 0x1f;
        return i < 0x15 ? this.attr[i] : 0;
      }
      case 0x3c2:
        return 0; // input status 0: no switch sense, no retrace interrupt (as QEMU)
      case 0x3c4:
        return this.seqIndex;
      case 0x3c5:
        return this.seq[this.seqIndex];
      case 0x3c6:
        return this.pelMask;
      case 0x3c7:
        return this.dacState;
      case 0x3c8:
        return this.dacWriteIndex;
      case 0x3c9: {
        const v = this.dac[this.dacReadIndex * 3 + this.dacSubIndex];
        if (++this.dacSubIndex === 3) {
          this.dacSubIndex = 0;
          this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
        }
        return v;
      }
      case 0x3ca:
        return this.featureControl;
      case 0x3cc:
        return this.misc;
      case 0x3ce:
        return this.gcIndex;
      case 0x3cf:
        return this.gc[this.gcIndex];
      case 0x3b4:
      case 0x3d4:
        return this.crtcIndex;
      case 0x3b5:
      case 0x3d5:
        return this.crtc[this.crtcIndex];
      case 0x3ba:
      case 0x3da:
        this.attrFlipFlop = 0;
        return this.inputStatus1();
      default:
        return 0;
    }
  }

  private writePort(port: number, v: number): void {
    if (this.wrongCrtcBlock(port)) return;
    switch (port) {
      case 0x3c0:
        if (this.attrFlipFlop === 0) this.attrIndex = v & 0x3f;
        else this.writeAttr(this.attrIndex & 0x1f, v);
        this.attrFlipFlop ^= 1;
        return;
      case 0x3c2:
        this.misc = v & ~0x10;
        return;
      case 0x3c4:
        this.seqIndex = v & 7;
        return;
      case 0x3c5:
        this.seq[this.seqIndex] = v & SEQ_MASK[this.seqIndex];
        this.updateWindowMapping();
        return;
      case 0x3c6:
        this.pelMask = v;
        return;
      case 0x3c7:
        this.dacReadIndex = v;
        this.dacSubIndex = 0;
        this.dacState = 3;
        return;
      case 0x3c8:
        this.dacWriteIndex = v;
        this.dacSubIndex = 0;
        this.dacState = 0;
        return;
      case 0x3c9:
        this.dacLatch[this.dacSubIndex] = this.dac8bit ? v : v & 0x3f;
        if (++this.dacSubIndex === 3) {
          this.dac.set(this.dacLatch, this.dacWriteIndex * 3);
          this.dacSubIndex = 0;
          this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
        }
        return;
      case 0x3ce:
        this.gcIndex = v & 0x0f;
        return;
      case 0x3cf:
        this.gc[this.gcIndex] = v & GC_MASK[this.gcIndex];
        this.vbeForceVgaRegs();
        this.updateWindowMapping();
        return;
      case 0x3b4:
      case 0x3d4:
        this.crtcIndex = v;
        return;
      case 0x3b5:
      case 0x3d5:
        this.writeCrtc(this.crtcIndex, v);
        return;
      case 0x3ba:
      case 0x3da:
        this.featureControl = v & 0x10;
        return;
    }
  }

  /** The colour block (3Dx) answers only with misc output bit 0 set, the mono block (3Bx) only without. */
  private wrongCrtcBlock(port: number): boolean {
    return this.misc & 1 ? port >= 0x3b0 && port <= 0x3bf : port >= 0x3d0 && port <= 0x3df;
  }

  private writeAttr(i: number, v: number): void {
    if (i < 0x10) this.attr[i] = v & 0x3f;
    else if (i === 0x10) this.attr[i] = v & ~0x10;
    else if (i === 0x11) this.attr[i] = v;
    else if (i === 0x12) this.attr[i] = v & 0x3f;
    else if (i === 0x13 || i === 0x14) this.attr[i] = v & 0x0f;
  }

  private writeCrtc(i: number, v: number): void {
    // CR11 bit 7 protects CR0-CR7, except the line compare bit 4 of CR7.
    if (this.crtc[0x11] & 0x80 && i <= 0x07) {
      if (i === 0x07) this.crtc[7] = (this.crtc[7] & ~0x10) | (v & 0x10);
    } else {
      this.crtc[i] = v;
    }
    this.vbeForceVgaRegs();
  }

  /**
   * Input status 1: bit 3 vertical retrace, bit 0 display disabled (blanking or retrace),
   * from where the beam is at this icount (one frame = CRTC vertical total x horizontal total).
   */
  inputStatus1(): number {
    const c = this.crtc;
    let clock = DOT_CLOCK_HZ[(this.misc >> 2) & 3];
    let dots = this.seq[1] & 1 ? 8 : 9;
    let htotal = c[0x00] + 5;
    let vtotal = (c[0x06] | ((c[0x07] & 0x01) << 8) | ((c[0x07] & 0x20) << 4)) + 2;
    let vrStart = c[0x10] | ((c[0x07] & 0x04) << 6) | ((c[0x07] & 0x80) << 2);
    let vrLength = ((c[0x11] - vrStart) & 0x0f) || 16; // ends when line bits 0-3 match CR11 bits 0-3
    let vdEnd = c[0x12] | ((c[0x07] & 0x02) << 7) | ((c[0x07] & 0x40) << 3);
    let hdEnd = c[0x01];
    if (c[0x00] === 0 || c[0x06] === 0) {
      // CRTC not programmed yet: 640x480 at 60 Hz timing.
      [clock, dots, htotal, vtotal, vrStart, vrLength, vdEnd, hdEnd] = [25_175_000, 8, 100, 525, 490, 2, 479, 79];
    }
    if (this.seq[1] & 0x08) htotal <<= 1; // half dot clock: each character takes twice as long
    // Character clocks since power-on = icount * clock / (dots * NOMINAL_HZ), modulo one frame,
    // in exact integers: reduce the ratio, then take icount modulo frame * denominator.
    const frame = htotal * vtotal;
    const g = gcd(clock, dots * NOMINAL_HZ);
    const num = clock / g;
    const den = (dots * NOMINAL_HZ) / g;
    const r = this.ctx.clock.icount % (frame * den);
    const pos = Math.floor((r * num) / den) % frame;
    const line = Math.floor(pos / htotal);
    const ch = pos - line * htotal;
    const vretrace = line >= vrStart && line < vrStart + vrLength;
    const disabled = vretrace || line > vdEnd || ch > hdEnd;
    return (vretrace ? 0x08 : 0) | (disabled ? 0x01 : 0);
  }

  // ---- Bochs VBE ----

  get vbeEnabled(): boolean {
    return (this.vbe[Vbe.ENABLE] & VBE_ENABLED) !== 0;
  }

  private get dac8bit(): boolean {
    return (this.vbe[Vbe.ENABLE] & 0x20) !== 0;
  }

  private readVbe(): number {
    const i = this.vbeIndex;
    if (i < VBE_REGS) {
      if (this.vbe[Vbe.ENABLE] & VBE_GETCAPS) {
        if (i === Vbe.XRES) return VBE_MAX_XRES;
        if (i === Vbe.YRES) return VBE_MAX_YRES;
        if (i === Vbe.BPP) return VBE_MAX_BPP;
      }
      return this.vbe[i];
    }
    if (i === Vbe.VIDEO_MEMORY_64K) return VRAM_SIZE >> 16;
    return 0;
  }

  private writeVbe(v: number): void {
    const r = this.vbe;
    switch (this.vbeIndex) {
      case Vbe.ID:
        if (v >= VBE_ID0 && v <= VBE_ID5) r[Vbe.ID] = v;
        return;
      case Vbe.XRES:
      case Vbe.YRES:
      case Vbe.BPP:
      case Vbe.VIRT_WIDTH:
      case Vbe.X_OFFSET:
      case Vbe.Y_OFFSET:
        r[this.vbeIndex] = v;
        this.vbeFixup();
        this.vbeForceVgaRegs();
        this.updateWindowMapping();
        return;
      case Vbe.BANK:
        r[Vbe.BANK] = v & ((VRAM_SIZE >> 16) - 1);
        this.bankOffset = r[Vbe.BANK] << 16;
        this.updateWindowMapping();
        return;
      case Vbe.ENABLE:
        if (v & VBE_ENABLED && !(r[Vbe.ENABLE] & VBE_ENABLED)) {
          r[Vbe.VIRT_WIDTH] = 0;
          r[Vbe.X_OFFSET] = 0;
          r[Vbe.Y_OFFSET] = 0;
          r[Vbe.ENABLE] |= VBE_ENABLED;
          this.vbeFixup();
          this.vbeForceVgaRegs();
          if (!(v & VBE_NOCLEARMEM)) this.vram.fill(0, 0, Math.min(VRAM_SIZE, r[Vbe.YRES] * vbeGeometry(this).lineOffset));
        } else {
          this.bankOffset = 0;
        }
        r[Vbe.ENABLE] = v;
        this.updateWindowMapping();
        return;
    }
  }

  /** Clamp the DISPI registers to a mode that fits (QEMU vbe_fixup_regs). */
  private vbeFixup(): void {
    const r = this.vbe;
    if (!(r[Vbe.ENABLE] & VBE_ENABLED)) return;
    let bits: number;
    switch (r[Vbe.BPP]) {
      case 4:
      case 8:
      case 16:
      case 24:
      case 32:
        bits = r[Vbe.BPP];
        break;
      case 15:
        bits = 16;
        break;
      default:
        bits = r[Vbe.BPP] = 8;
    }
    r[Vbe.XRES] &= ~7;
    if (r[Vbe.XRES] === 0) r[Vbe.XRES] = 8;
    if (r[Vbe.XRES] > VBE_MAX_XRES) r[Vbe.XRES] = VBE_MAX_XRES;
    r[Vbe.VIRT_WIDTH] &= ~7;
    if (r[Vbe.VIRT_WIDTH] > VBE_MAX_XRES) r[Vbe.VIRT_WIDTH] = VBE_MAX_XRES;
    if (r[Vbe.VIRT_WIDTH] < r[Vbe.XRES]) r[Vbe.VIRT_WIDTH] = r[Vbe.XRES];
    const lineLength = Math.floor((r[Vbe.VIRT_WIDTH] * bits) / 8);
    const maxY = Math.floor(VRAM_SIZE / lineLength);
    if (r[Vbe.YRES] === 0) r[Vbe.YRES] = 1;
    if (r[Vbe.YRES] > VBE_MAX_YRES) r[Vbe.YRES] = VBE_MAX_YRES;
    if (r[Vbe.YRES] > maxY) r[Vbe.YRES] = maxY;
    if (r[Vbe.X_OFFSET] > VBE_MAX_XRES) r[Vbe.X_OFFSET] = VBE_MAX_XRES;
    if (r[Vbe.Y_OFFSET] > VBE_MAX_YRES) r[Vbe.Y_OFFSET] = VBE_MAX_YRES;
    let offset = Math.floor((r[Vbe.X_OFFSET] * bits) / 8) + r[Vbe.Y_OFFSET] * lineLength;
    if (offset + r[Vbe.YRES] * lineLength > VRAM_SIZE) {
      r[Vbe.Y_OFFSET] = 0;
      offset = Math.floor((r[Vbe.X_OFFSET] * bits) / 8);
      if (offset + r[Vbe.YRES] * lineLength > VRAM_SIZE) r[Vbe.X_OFFSET] = 0;
    }
    r[Vbe.VIRT_HEIGHT] = maxY;
  }

  /** While VBE is on, QEMU keeps the VGA registers describing a graphics mode (vbe_update_vgaregs). */
  private vbeForceVgaRegs(): void {
    if (!this.vbeEnabled) return;
    const c = this.crtc;
    const r = this.vbe;
    this.gc[0x06] = (this.gc[0x06] & ~0x0c) | 0x04 | 0x01; // graphics, A0000 64 KiB
    c[0x17] |= 3; // no CGA address substitution
    c[0x13] = vbeGeometry(this).lineOffset >> 3;
    c[0x01] = (r[Vbe.XRES] >> 3) - 1;
    const h = r[Vbe.YRES] - 1;
    c[0x12] = h;
    c[0x07] = (c[0x07] & ~0x42) | ((h >> 7) & 0x02) | ((h >> 3) & 0x40);
    c[0x18] = 0xff; // line compare at 1023
    c[0x07] |= 0x10;
    c[0x09] |= 0x40;
    const shift = r[Vbe.BPP] === 4 ? 0 : 2;
    this.gc[0x05] = (this.gc[0x05] & ~0x60) | (shift << 5);
    c[0x09] &= ~0x9f; // no double scan
  }

  /** The sequencer as memory access sees it: VBE modes above 4 bpp force chain-4 and all planes. */
  private seqEffective(i: number): number {
    const v = this.seq[i];
    if (!this.vbeEnabled || this.vbe[Vbe.BPP] === 4) return v;
    if (i === 4) return v | 0x08;
    if (i === 2) return v | 0x0f;
    return v;
  }

  // ---- the legacy window A0000-BFFFF ----

  /** Offset into video memory for a window address, or -1 where the memory map does not decode. */
  private windowOffset(addr: number): number {
    const off = (addr - 0xa0000) & 0x1ffff;
    switch ((this.gc[0x06] >> 2) & 3) {
      case 0:
        return off;
      case 1:
        return off < 0x10000 ? off + this.bankOffset : -1;
      case 2:
        return off >= 0x10000 && off < 0x18000 ? off - 0x10000 : -1;
      default:
        return off >= 0x18000 ? off - 0x18000 : -1;
    }
  }

  readWindow(addr: number): number {
    let off = this.windowOffset(addr);
    if (off < 0) return 0xff;
    if (this.seqEffective(4) & 0x08) return this.vram[off]; // chain-4: plane = address bits 0-1
    const gc = this.gc;
    let plane: number;
    if (gc[0x05] & 0x10) {
      plane = (gc[0x04] & 2) | (off & 1); // odd/even: address bit 0 picks plane 0/1 (or 2/3)
      off >>= 1;
    } else {
      plane = gc[0x04] & 3;
    }
    if (off >= VRAM_DWORDS) return 0xff;
    const latch = (this.latch = this.vram32[off]);
    if ((gc[0x05] & 0x08) === 0) return (latch >>> (plane * 8)) & 0xff; // read mode 0
    // Read mode 1: 1 bits where every plane in Color Don't Care matches Color Compare.
    let x = (latch ^ EXPAND[gc[0x02] & 0x0f]) & EXPAND[gc[0x07] & 0x0f];
    x |= x >>> 16;
    x |= x >>> 8;
    return ~x & 0xff;
  }

  writeWindow(addr: number, value: number): void {
    let off = this.windowOffset(addr);
    if (off < 0) return;
    const sr4 = this.seqEffective(4);
    let mask = this.seqEffective(2) & 0x0f;
    if (sr4 & 0x08) {
      if (mask & (1 << (off & 3))) {
        this.vram[off] = value;
        this.touched[off >>> PAGE_SHIFT] = 1;
      }
      return;
    }
    const gc = this.gc;
    if ((sr4 & 0x04) === 0) mask &= off & 1 ? 0x0a : 0x05; // odd/even: odd addresses to planes 1 and 3
    if (gc[0x05] & 0x10) off >>= 1;
    if (off >= VRAM_DWORDS) return;
    const latch = this.latch;
    let val: number;
    let bitMask: number;
    switch (gc[0x05] & 3) {
      case 0: {
        const r = gc[0x03] & 7;
        val = (((value >> r) | (value << (8 - r))) & 0xff) * 0x01010101;
        const enable = EXPAND[gc[0x01] & 0x0f];
        val = (val & ~enable) | (EXPAND[gc[0x00] & 0x0f] & enable);
        bitMask = gc[0x08];
        break;
      }
      case 1:
        this.storePlanes(off, latch, mask);
        return;
      case 2:
        val = EXPAND[value & 0x0f];
        bitMask = gc[0x08];
        break;
      default: {
        const r = gc[0x03] & 7;
        bitMask = gc[0x08] & (((value >> r) | (value << (8 - r))) & 0xff);
        val = EXPAND[gc[0x00] & 0x0f];
      }
    }
    switch ((gc[0x03] >> 3) & 3) {
      case 1:
        val &= latch;
        break;
      case 2:
        val |= latch;
        break;
      case 3:
        val ^= latch;
        break;
    }
    const bm = bitMask * 0x01010101;
    this.storePlanes(off, (val & bm) | (latch & ~bm), mask);
  }

  private storePlanes(dword: number, val: number, planes: number): void {
    const wm = EXPAND[planes];
    this.vram32[dword] = (this.vram32[dword] & ~wm) | (val & wm);
    this.touched[dword >>> (PAGE_SHIFT - 2)] = 1;
  }

  /**
   * With a mapper, chain-4 access with all planes enabled goes straight to video memory
   * (QEMU's chain-4 alias); otherwise the whole window is MMIO through this device.
   */
  private updateWindowMapping(): void {
    if (!this.attached) return;
    let key = 'mmio';
    let base = 0;
    let size = 0;
    let offset = 0;
    if (this.mapper && this.seqEffective(4) & 0x08 && (this.seqEffective(2) & 0x0f) === 0x0f) {
      switch ((this.gc[0x06] >> 2) & 3) {
        case 0:
          [base, size] = [0xa0000, 0x20000];
          break;
        case 1:
          [base, size, offset] = [0xa0000, 0x10000, this.bankOffset];
          break;
        case 2:
          [base, size] = [0xb0000, 0x8000];
          break;
        default:
          [base, size] = [0xb8000, 0x8000];
      }
      key = `${base}:${size}:${offset}`;
    }
    if (key === this.windowKey) return;
    this.windowKey = key;
    this.ctx.mem.mapMmio(0xa0000, 0x20000, this.windowHandler);
    if (size > 0) {
      this.touchRange(offset, size);
      this.mapper!.map(base, size, offset);
    }
  }

  private touchRange(offset: number, size: number): void {
    this.touched.fill(1, offset >>> PAGE_SHIFT, (offset + size + (1 << PAGE_SHIFT) - 1) >>> PAGE_SHIFT);
  }

  // ---- PCI ----

  /** `address` is a signed 32-bit value (BARs above 2 GiB are negative); -1 means not decoded. */
  protected barMapped(n: number, address: number, old: number): void {
    const mem = this.ctx.mem;
    if (n === 0) {
      if (old !== -1) mem.unmap(old >>> 0, VRAM_SIZE);
      if (address === -1) return;
      if (this.mapper) {
        this.touchRange(0, VRAM_SIZE);
        this.mapper.map(address >>> 0, VRAM_SIZE, 0);
      } else {
        mem.mapMmio(address >>> 0, VRAM_SIZE, this.lfbHandler);
      }
    } else if (n === 2) {
      if (old !== -1) mem.unmap(old >>> 0, VGA_MMIO_SIZE);
      if (address !== -1) mem.mapMmio(address >>> 0, VGA_MMIO_SIZE, this.regsHandler);
    }
  }

  /** BAR2: VGA ports 3C0-3DF at 0x400, DISPI registers at 0x500 (16 bits each), QEMU extension at 0x600. */
  private readRegs(off: number, size: number): number {
    if (off >= 0x400 && off < 0x420) {
      let v = 0;
      for (let k = 0; k < size && off + k < 0x420; k++) v |= this.readPort(0x3c0 + off + k - 0x400) << (8 * k);
      return v;
    }
    if (off >= 0x500 && off < 0x516) {
      this.vbeIndex = (off - 0x500) >> 1;
      const v = this.readVbe();
      if (size === 1) return (v >> ((off & 1) * 8)) & 0xff;
      if (size === 4 && off + 2 < 0x516) {
        this.vbeIndex++;
        return v | (this.readVbe() << 16);
      }
      return v;
    }
    if (off === 0x600) return 8; // size of the extension region
    if (off === 0x604) return 0x1e1e1e1e; // little-endian framebuffer
    return 0;
  }

  private writeRegs(off: number, v: number, size: number): void {
    if (off >= 0x400 && off < 0x420) {
      // Bytes in ascending order, so one word write sets an index register and then its data.
      for (let k = 0; k < size && off + k < 0x420; k++) this.writePort(0x3c0 + off + k - 0x400, (v >>> (8 * k)) & 0xff);
      return;
    }
    if (off >= 0x500 && off < 0x516) {
      this.vbeIndex = (off - 0x500) >> 1;
      this.writeVbe(size === 1 ? (v & 0xff) << ((off & 1) * 8) : v & 0xffff);
      if (size === 4 && off + 2 < 0x516) {
        this.vbeIndex++;
        this.writeVbe((v >>> 16) & 0xffff);
      }
    }
  }

  // ---- state ----

  private resetRegisters(): void {
    this.misc = 0;
    this.featureControl = 0;
    this.seqIndex = 0;
    this.seq.fill(0);
    this.gcIndex = 0;
    this.gc.fill(0);
    this.crtcIndex = 0;
    this.crtc.fill(0);
    this.attrIndex = 0;
    this.attrFlipFlop = 0;
    this.attr.fill(0);
    this.dac.fill(0);
    this.dacReadIndex = 0;
    this.dacWriteIndex = 0;
    this.dacSubIndex = 0;
    this.dacState = 0;
    this.dacLatch.fill(0);
    this.pelMask = 0xff;
    this.latch = 0;
    this.vbeIndex = 0;
    this.vbe.fill(0);
    this.vbe[Vbe.ID] = VBE_ID5;
    this.bankOffset = 0;
  }

  /** Hardware reset: registers to their power-on values, PCI decoding off. Video memory is kept. */
  reset(): void {
    this.resetRegisters();
    this.writeConfig(0x04, 0, 2);
    for (const n of [0, 2]) this.writeConfig(0x10 + n * 4, 0, 4);
    this.updateWindowMapping();
  }

  save(): VgaState {
    const pages: number[] = [];
    const words = new Int32Array(this.vram.buffer, this.vram.byteOffset, VRAM_DWORDS);
    for (let p = 0; p < this.touched.length; p++) {
      if (!this.touched[p]) continue;
      const w0 = p << (PAGE_SHIFT - 2);
      let nonzero = false;
      for (let i = w0; i < w0 + (1 << (PAGE_SHIFT - 2)); i++) {
        if (words[i] !== 0) {
          nonzero = true;
          break;
        }
      }
      if (nonzero) pages.push(p);
    }
    const vramData = new Uint8Array(pages.length << PAGE_SHIFT);
    pages.forEach((p, k) => vramData.set(this.vram.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT), k << PAGE_SHIFT));
    return {
      pci: this.savePci(),
      misc: this.misc,
      featureControl: this.featureControl,
      seqIndex: this.seqIndex,
      seq: this.seq.slice(),
      gcIndex: this.gcIndex,
      gc: this.gc.slice(),
      crtcIndex: this.crtcIndex,
      crtc: this.crtc.slice(),
      attrIndex: this.attrIndex,
      attrFlipFlop: this.attrFlipFlop,
      attr: this.attr.slice(),
      dac: this.dac.slice(),
      dacReadIndex: this.dacReadIndex,
      dacWriteIndex: this.dacWriteIndex,
      dacSubIndex: this.dacSubIndex,
      dacState: this.dacState,
      dacLatch: this.dacLatch.slice(),
      pelMask: this.pelMask,
      latch: this.latch,
      vbeIndex: this.vbeIndex,
      vbe: Array.from(this.vbe),
      bankOffset: this.bankOffset,
      vramPages: pages,
      vramData,
    };
  }

  load(state: unknown): void {
    const s = state as VgaState;
    this.misc = s.misc;
    this.featureControl = s.featureControl;
    this.seqIndex = s.seqIndex;
    this.seq.set(s.seq);
    this.gcIndex = s.gcIndex;
    this.gc.set(s.gc);
    this.crtcIndex = s.crtcIndex;
    this.crtc.set(s.crtc);
    this.attrIndex = s.attrIndex;
    this.attrFlipFlop = s.attrFlipFlop;
    this.attr.set(s.attr);
    this.dac.set(s.dac);
    this.dacReadIndex = s.dacReadIndex;
    this.dacWriteIndex = s.dacWriteIndex;
    this.dacSubIndex = s.dacSubIndex;
    this.dacState = s.dacState;
    this.dacLatch.set(s.dacLatch);
    this.pelMask = s.pelMask;
    this.latch = s.latch;
    this.vbeIndex = s.vbeIndex;
    this.vbe.set(s.vbe);
    this.bankOffset = s.bankOffset;
    this.vram.fill(0);
    this.touched.fill(0);
    s.vramPages.forEach((p, k) => {
      this.vram.set(s.vramData.subarray(k << PAGE_SHIFT, (k + 1) << PAGE_SHIFT), p << PAGE_SHIFT);
      this.touched[p] = 1;
    });
    this.loadPci(s.pci);
    if (this.mapper && this.barAddress[0] !== -1) this.touchRange(0, VRAM_SIZE);
    this.windowKey = '';
    this.updateWindowMapping();
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
