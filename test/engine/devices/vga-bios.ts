// Test helper: programs the VGA the way SeaBIOS's vgabios-stdvga does (vgasrc/stdvga.c,
// stdvgaio.c, stdvgamodes.c, bochsvga.c): the same port sequences and the same register
// tables for modes 3, 12h and 13h, and the same DISPI sequence for VBE modes.

import { Clock } from '../../../engine/clock.ts';
import { InputDoor, OutputSink } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import { Vga, type VgaOptions } from '../../../engine/devices/vga.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';

export interface Rig {
  vga: Vga;
  io: PortBus;
  mem: PhysicalMemory;
  clock: Clock;
  output: OutputSink;
  ctx: DeviceContext;
}

export function makeRig(opts: VgaOptions = {}, mem = new PhysicalMemory(1 << 20)): Rig {
  const ctx: DeviceContext = { clock: new Clock(), io: new PortBus(), mem, input: new InputDoor(), output: new OutputSink() };
  const vga = new Vga(ctx, opts);
  vga.attach();
  return { vga, io: ctx.io, mem, clock: ctx.clock, output: ctx.output, ctx };
}

export interface ModeTable {
  sequ: number[];
  misc: number;
  crtc: number[];
  actl: number[];
  grdc: number[];
  dac: number[][];
  text: boolean;
  clear: { seg: number; value: number; bytes: number };
}

/** The 64-colour EGA palette (pal_ega): bits 0-2 add 2Ah to B, G, R; bits 3-5 add 15h. */
export const PAL_EGA: number[][] = Array.from({ length: 64 }, (_, i) => [
  (i & 4 ? 0x2a : 0) + (i & 32 ? 0x15 : 0),
  (i & 2 ? 0x2a : 0) + (i & 16 ? 0x15 : 0),
  (i & 1 ? 0x2a : 0) + (i & 8 ? 0x15 : 0),
]);

const ACTL_01 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08];
const ACTL_10 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x01, 0x00, 0x0f, 0x00];

export const MODE_03: ModeTable = {
  sequ: [0x00, 0x03, 0x00, 0x02],
  misc: 0x67,
  crtc: [
    0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96,
    0xb9, 0xa3, 0xff,
  ],
  actl: ACTL_01,
  grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x0f, 0xff],
  dac: PAL_EGA,
  text: true,
  clear: { seg: 0xb8000, value: 0x0720, bytes: 32 * 1024 },
};

export const MODE_04: ModeTable = {
  sequ: [0x09, 0x03, 0x00, 0x02],
  misc: 0x63,
  crtc: [
    0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x14, 0x00, 0x96,
    0xb9, 0xa2, 0xff,
  ],
  actl: [0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x01, 0x00, 0x03, 0x00],
  grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x0f, 0xff],
  dac: [], // the test sets the entries it uses
  text: false,
  clear: { seg: 0xb8000, value: 0, bytes: 32 * 1024 },
};

export const MODE_12: ModeTable = {
  sequ: [0x01, 0x0f, 0x00, 0x06],
  misc: 0xe3,
  crtc: [
    0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7,
    0x04, 0xe3, 0xff,
  ],
  actl: ACTL_10,
  grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
  dac: PAL_EGA,
  text: false,
  clear: { seg: 0xa0000, value: 0, bytes: 64 * 1024 },
};

export const MODE_13: ModeTable = {
  sequ: [0x01, 0x0f, 0x00, 0x0e],
  misc: 0x63,
  crtc: [
    0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96,
    0xb9, 0xa3, 0xff,
  ],
  actl: [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x41, 0x00, 0x0f, 0x00],
  grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff],
  dac: PAL_EGA.slice(0, 16), // stand-in for pal_vga's first entries; the test sets the ones it uses
  text: false,
  clear: { seg: 0xa0000, value: 0, bytes: 64 * 1024 },
};

/** A deterministic stand-in for the BIOS font: 16 scan lines per glyph. */
export function testGlyph(ch: number, line: number): number {
  return ((ch * 7 + line * 13) ^ (line << 4)) & 0xff;
}

export class Bios {
  constructor(readonly io: PortBus, readonly mem: PhysicalMemory) {}

  seq(i: number, v: number): void {
    this.io.out16(0x3c4, (v << 8) | i);
  }
  gc(i: number, v: number): void {
    this.io.out16(0x3ce, (v << 8) | i);
  }
  seqRead(i: number): number {
    this.io.out8(0x3c4, i);
    return this.io.in8(0x3c5);
  }
  gcRead(i: number): number {
    this.io.out8(0x3ce, i);
    return this.io.in8(0x3cf);
  }
  crtc(i: number, v: number, port = 0x3d4): void {
    this.io.out16(port, (v << 8) | i);
  }
  crtcRead(i: number, port = 0x3d4): number {
    this.io.out8(port, i);
    return this.io.in8(port + 1);
  }
  attr(i: number, v: number): void {
    this.io.in8(0x3da);
    const orig = this.io.in8(0x3c0);
    this.io.out8(0x3c0, i);
    this.io.out8(0x3c0, v);
    this.io.out8(0x3c0, orig);
  }
  attrRead(i: number): number {
    this.io.in8(0x3da);
    const orig = this.io.in8(0x3c0);
    this.io.out8(0x3c0, i);
    const v = this.io.in8(0x3c1);
    this.io.in8(0x3da);
    this.io.out8(0x3c0, orig);
    return v;
  }
  attrIndex(v: number): void {
    this.io.in8(0x3da);
    this.io.out8(0x3c0, v);
  }
  dacWrite(i: number, rgb: number[]): void {
    this.io.out8(0x3c8, i);
    for (const c of rgb) this.io.out8(0x3c9, c);
  }
  dispi(i: number, v: number): void {
    this.io.out16(0x1ce, i);
    this.io.out16(0x1cf, v);
  }
  dispiRead(i: number): number {
    this.io.out16(0x1ce, i);
    return this.io.in16(0x1cf);
  }

  /** stdvga_setup: colour mode, CPU access, more than 64 KiB. */
  setup(): void {
    this.io.out8(0x3c2, 0xc3);
    this.seq(0x04, 0x02);
  }

  /** stdvga_set_mode, in its order. */
  setMode(t: ModeTable, font = testGlyph): void {
    this.io.out8(0x3c6, 0xff);
    for (let i = 0; i < 256; i++) this.dacWrite(i, t.dac[i] ?? [0, 0, 0]);
    for (let i = 0; i <= 0x13; i++) this.attr(i, t.actl[i]);
    this.attr(0x14, 0x00);
    this.seq(0x00, 0x03);
    for (let i = 1; i <= 4; i++) this.seq(i, t.sequ[i - 1]);
    for (let i = 0; i <= 8; i++) this.gc(i, t.grdc[i]);
    const crtc = t.misc & 1 ? 0x3d4 : 0x3b4;
    this.crtc(0x11, 0x00, crtc);
    for (let i = 0; i <= 0x18; i++) this.crtc(i, t.crtc[i], crtc);
    this.io.out8(0x3c2, t.misc);
    this.attrIndex(0x20);
    for (let a = 0; a < t.clear.bytes; a += 2) this.mem.write16(t.clear.seg + a, t.clear.value);
    if (t.text) this.loadFont(font);
  }

  /** stdvga_load_font: 256 glyphs of 16 lines into plane 2, map 0. */
  loadFont(font: (ch: number, line: number) => number): void {
    this.seq(0x00, 0x01);
    this.seq(0x02, 0x04);
    this.seq(0x04, 0x07);
    this.seq(0x00, 0x03);
    this.gc(0x04, 0x02);
    this.gc(0x05, 0x00);
    this.gc(0x06, 0x04);
    for (let ch = 0; ch < 256; ch++) for (let l = 0; l < 16; l++) this.mem.write8(0xa0000 + ch * 32 + l, font(ch, l));
    this.seq(0x00, 0x01);
    this.seq(0x02, 0x03);
    this.seq(0x04, 0x03);
    this.seq(0x00, 0x03);
    this.gc(0x06, this.io.in8(0x3cc) & 1 ? 0x0e : 0x0a);
    this.gc(0x04, 0x00);
    this.gc(0x05, 0x10);
  }

  /** bochsvga_set_mode for a direct-colour or packed mode. */
  setVbeMode(width: number, height: number, bpp: number, lfb: boolean): void {
    this.dispi(4, 0x00);
    this.dispi(3, bpp);
    this.dispi(1, width);
    this.dispi(2, height);
    this.dispi(5, 0);
    this.dispi(4, 0x01 | (lfb ? 0x40 : 0));
    this.crtc(0x11, 0x00);
    this.crtc(0x01, width / 8 - 1);
    this.crtc(0x13, Math.ceil(width / 8));
    const vde = height - 1;
    this.crtc(0x12, vde & 0xff);
    this.crtc(0x07, (this.crtcRead(0x07) & ~0x42) | ((vde >> 7) & 0x02) | ((vde >> 3) & 0x40));
    this.crtc(0x09, 0x00);
    this.crtc(0x17, this.crtcRead(0x17) | 0x03);
    this.attr(0x10, this.attrRead(0x10) | 0x01);
    this.gc(0x06, 0x05);
    this.seq(0x02, 0x0f);
    this.crtc(0x14, this.crtcRead(0x14) | 0x40);
    this.attr(0x10, this.attrRead(0x10) | 0x40);
    this.seq(0x04, this.seqRead(0x04) | 0x08);
    this.gc(0x05, (this.gcRead(0x05) & ~0x20) | 0x40);
    this.attrIndex(0x20);
  }
}

/** The RGBA bytes of pixel (x, y). */
export function pixel(fb: { width: number; rgba: Uint8Array }, x: number, y: number): number[] {
  const i = (y * fb.width + x) * 4;
  return Array.from(fb.rgba.subarray(i, i + 4));
}

/** A 6-bit DAC triple as the 8-bit RGBA the renderer produces. */
export function rgb6(c: number[]): number[] {
  return [...c.map((v) => (v << 2) | (v >> 4)), 255];
}
