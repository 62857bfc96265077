import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { Bios, MODE_03, MODE_04, MODE_12, MODE_13, PAL_EGA, makeRig, pixel, rgb6, testGlyph } from './vga-bios.ts';
import { VRAM_SIZE, type VgaState, type VramMapper } from '../../../engine/devices/vga.ts';
import { CP437 } from '../../../engine/devices/vga-render.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import { NOMINAL_HZ } from '../../../engine/clock.ts';
import { hashState } from '../../../engine/hash.ts';

function textRig() {
  const rig = makeRig();
  const bios = new Bios(rig.io, rig.mem);
  bios.setup();
  bios.setMode(MODE_03);
  return { ...rig, bios };
}

function putText(mem: PhysicalMemory, row: number, col: number, s: string, attr: number): void {
  for (let i = 0; i < s.length; i++) mem.write16(0xb8000 + (row * 80 + col + i) * 2, s.charCodeAt(i) | (attr << 8));
}

describe('VGA text mode (mode 3 as vgabios-stdvga sets it)', () => {
  it('shows characters, attributes and the cursor from B8000', () => {
    const { vga, mem, bios } = textRig();
    putText(mem, 0, 0, 'Hello, world', 0x1f);
    putText(mem, 24, 70, 'bottom', 0x07);
    mem.write16(0xb8000 + (2 * 80 + 3) * 2, 0xc4 | (0x07 << 8));
    bios.crtc(0x0e, (2 * 80 + 5) >> 8);
    bios.crtc(0x0f, (2 * 80 + 5) & 0xff);
    const t = vga.textScreen();
    expect([t.cols, t.rows]).toEqual([80, 25]);
    expect(t.chars[0].slice(0, 12)).toBe('Hello, world');
    expect(t.attrs[0][0]).toBe(0x1f);
    expect(t.attrs[1][0]).toBe(0x07); // cleared with 0720
    expect(t.cursor).toEqual({ x: 5, y: 2, visible: true });
    const dump = vga.screenDump();
    expect(dump).toHaveLength(25);
    expect(dump[0]).toBe('Hello, world');
    expect(dump[1]).toBe('');
    expect(dump[2]).toBe('   ─');
    expect(dump[24]).toBe(' '.repeat(70) + 'bottom');
    expect(vga.displayMode()).toEqual({ kind: 'text', width: 720, height: 400, bpp: 4 });
  });

  it('hides the cursor when CR0A bit 5 is set', () => {
    const { vga, bios } = textRig();
    bios.crtc(0x0a, 0x20);
    expect(vga.textScreen().cursor.visible).toBe(false);
  });

  it('renders glyphs from plane 2 with the attribute palette and the DAC', () => {
    const { vga, mem, bios } = textRig();
    putText(mem, 0, 0, 'H', 0x1f);
    putText(mem, 1, 1, '\u00c4', 0x4e); // C4h: a line-graphics character, 9th column repeated
    bios.crtc(0x0e, 0);
    bios.crtc(0x0f, 79); // cursor out of the way, on row 0 column 79
    const fb = vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([720, 400]);
    const white = rgb6(PAL_EGA[0x3f]);
    const blue = rgb6(PAL_EGA[0x01]);
    expect(white).toEqual([255, 255, 255, 255]);
    expect(blue).toEqual([0, 0, 0xaa, 255]);
    for (let line = 0; line < 16; line++) {
      const g = testGlyph(0x48, line);
      for (let d = 0; d < 8; d++) expect(pixel(fb, d, line)).toEqual((g >> (7 - d)) & 1 ? white : blue);
      expect(pixel(fb, 8, line)).toEqual(blue);
    }
    // attribute 4Eh: yellow (palette 0Eh -> DAC 3Eh) on red (palette 04h -> DAC 04h)
    const yellow = rgb6(PAL_EGA[0x3e]);
    const red = rgb6(PAL_EGA[0x04]);
    for (let line = 0; line < 16; line++) {
      const g = testGlyph(0xc4, line);
      const y = 16 + line;
      for (let d = 0; d < 8; d++) expect(pixel(fb, 9 + d, y)).toEqual((g >> (7 - d)) & 1 ? yellow : red);
      expect(pixel(fb, 9 + 8, y)).toEqual(g & 1 ? yellow : red);
    }
  });

  it('draws the cursor on scan lines CR0A-CR0B of its cell', () => {
    const { vga, mem, bios } = textRig();
    putText(mem, 3, 10, ' ', 0x07);
    bios.crtc(0x0e, (3 * 80 + 10) >> 8);
    bios.crtc(0x0f, (3 * 80 + 10) & 0xff);
    const fb = vga.framebuffer();
    const grey = rgb6(PAL_EGA[0x07]);
    const black = rgb6(PAL_EGA[0]);
    const x0 = 10 * 9;
    const y0 = 3 * 16;
    const g = testGlyph(0x20, 12);
    expect(pixel(fb, x0, y0 + 12)).toEqual(g & 0x80 ? grey : black);
    for (const line of [13, 14]) for (let d = 0; d < 9; d++) expect(pixel(fb, x0 + d, y0 + line)).toEqual(grey);
  });

  it('follows the CRTC start address and the 40-column half dot clock', () => {
    const { vga, mem, bios } = textRig();
    putText(mem, 1, 0, 'second row', 0x07);
    bios.crtc(0x0c, 0);
    bios.crtc(0x0d, 80);
    expect(vga.screenDump()[0]).toBe('second row');
    bios.seq(0x01, 0x08);
    expect(vga.framebuffer().width).toBe(80 * 18);
  });

  it('blanks the picture while the attribute palette address source bit is clear', () => {
    const { vga, mem, io } = textRig();
    putText(mem, 0, 0, '\u00db', 0x0f);
    io.in8(0x3da);
    io.out8(0x3c0, 0x00);
    expect(vga.displayMode().kind).toBe('blank');
    expect(pixel(vga.framebuffer(), 0, 0)).toEqual([0, 0, 0, 255]);
    expect(vga.screenDump()[0]).toBe('█'); // the text itself is still there
  });

  it('answers the mono CRTC ports only in mono mode', () => {
    const { io, bios } = textRig();
    expect(io.in8(0x3b4)).toBe(0xff);
    io.out8(0x3c2, 0x66);
    bios.crtc(0x0a, 0x0b, 0x3b4);
    expect(bios.crtcRead(0x0a, 0x3b4)).toBe(0x0b);
    expect(io.in8(0x3d5)).toBe(0xff);
  });

  it('emits the text screen through the output sink', () => {
    const { vga, mem, output, clock } = textRig();
    putText(mem, 0, 0, 'boot ok', 0x07);
    clock.icount = 1234;
    vga.emitScreen();
    const e = output.log.at(-1)!;
    expect(e.kind).toBe('vga');
    expect(e.icount).toBe(1234);
    expect(String(e.data).split('\n')[0]).toBe('boot ok');
  });
});

describe('VGA registers', () => {
  it('resets the attribute flip-flop when input status 1 is read', () => {
    const { vga, io } = textRig();
    io.in8(0x3da);
    io.out8(0x3c0, 0x05); // index
    io.in8(0x3da); // flip-flop back to index
    io.out8(0x3c0, 0x06 | 0x20); // index again, not data
    io.out8(0x3c0, 0x2a); // data for register 6
    expect(vga.attr[5]).toBe(0x05);
    expect(vga.attr[6]).toBe(0x2a);
    expect(io.in8(0x3c0)).toBe(0x26);
  });

  it('protects CR0-CR7 with CR11 bit 7, except the line compare bit of CR7', () => {
    const { bios } = textRig();
    bios.crtc(0x11, 0x80 | 0x0e);
    bios.crtc(0x01, 0x10);
    bios.crtc(0x07, 0xff);
    expect(bios.crtcRead(0x01)).toBe(0x4f);
    expect(bios.crtcRead(0x07)).toBe(0x1f);
    bios.crtc(0x07, 0x00);
    expect(bios.crtcRead(0x07)).toBe(0x0f);
  });

  it('reads and writes the DAC with separate indices and auto-increment', () => {
    const { io, bios } = textRig();
    bios.dacWrite(0x80, [0x01, 0x02, 0x03, 0x3f, 0x7f, 0x15]);
    expect(io.in8(0x3c8)).toBe(0x82);
    io.out8(0x3c7, 0x80);
    expect(io.in8(0x3c7)).toBe(3);
    expect([0, 1, 2, 3, 4, 5].map(() => io.in8(0x3c9))).toEqual([0x01, 0x02, 0x03, 0x3f, 0x3f, 0x15]);
    io.out8(0x3c6, 0x0f);
    expect(io.in8(0x3c6)).toBe(0x0f);
  });

  it('derives vertical retrace from icount and the CRTC timing (mode 3: 70 Hz)', () => {
    const { io, clock } = textRig();
    const rises: number[] = [];
    const falls: number[] = [];
    let was = false;
    const step = 100;
    for (let t = 0; t < 4_000_000; t += step) {
      clock.icount = t;
      const v = io.in8(0x3da);
      const r = (v & 0x08) !== 0;
      if (r) expect(v & 0x01).toBe(1); // retrace is never displayed
      if (r && !was) rises.push(t);
      if (!r && was) falls.push(t);
      was = r;
    }
    // 28.322 MHz / 9 dots / (100 x 449 characters) = 70.09 Hz; retrace lasts 2 lines of 100 characters
    const frame = NOMINAL_HZ / (28_322_000 / 9 / (100 * 449));
    const retrace = (2 * frame) / 449;
    expect(rises.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < rises.length; i++) expect(Math.abs(rises[i] - rises[i - 1] - frame)).toBeLessThanOrEqual(step);
    for (let i = 0; i < falls.length; i++) expect(Math.abs(falls[i] - rises[i] - retrace)).toBeLessThanOrEqual(step);
    // the same icount always reads the same status
    clock.icount = rises[0];
    const a = io.in8(0x3da);
    expect(a & 0x08).toBe(0x08);
    expect(io.in8(0x3da)).toBe(a);
  });

  it('reports display-disabled during horizontal blanking too', () => {
    const { io, clock } = textRig();
    const seen = new Set<number>();
    for (let t = 0; t < 20_000; t += 3) {
      clock.icount = t;
      seen.add(io.in8(0x3da));
    }
    expect(seen).toEqual(new Set([0, 1]));
  });
});

describe('VGA planar 16-colour mode (mode 12h)', () => {
  function mode12() {
    const rig = makeRig();
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    bios.setMode(MODE_12);
    return { ...rig, bios };
  }

  /** Put one pixel the way BIOS int 10h/0Ch does in planar modes: write mode 2 and the bit mask. */
  function plot(bios: Bios, x: number, y: number, colour: number): void {
    const addr = 0xa0000 + y * 80 + (x >> 3);
    bios.gc(0x08, 0x80 >> (x & 7));
    bios.gc(0x05, 0x02);
    bios.mem.read8(addr); // load the latches
    bios.mem.write8(addr, colour);
    bios.gc(0x08, 0xff);
    bios.gc(0x05, 0x00);
  }

  it('writes pixels with write mode 2 and the bit mask, and shows them in 640x480', () => {
    const { vga, bios } = mode12();
    plot(bios, 3, 5, 12);
    plot(bios, 4, 5, 9);
    plot(bios, 639, 479, 15);
    const fb = vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([640, 480]);
    expect(vga.displayMode()).toEqual({ kind: 'graphics', width: 640, height: 480, bpp: 4 });
    expect(pixel(fb, 3, 5)).toEqual(rgb6(PAL_EGA[0x3c])); // light red
    expect(pixel(fb, 4, 5)).toEqual(rgb6(PAL_EGA[0x39])); // light blue
    expect(pixel(fb, 2, 5)).toEqual([0, 0, 0, 255]);
    expect(pixel(fb, 639, 479)).toEqual([255, 255, 255, 255]);
    // planes at address 5*80: bit 4 (x=3) in planes 2,3 (colour 1100b); bit 3 (x=4) in planes 0,3
    const o = (5 * 80) * 4;
    expect(Array.from(vga.vram.subarray(o, o + 4))).toEqual([0x08, 0x00, 0x10, 0x18]);
    expect(vga.textScreen().rows).toBe(0);
  });

  it('write mode 0 with set/reset, rotate and XOR; read modes 0 and 1; write modes 1 and 3', () => {
    const { vga, bios, mem } = mode12();
    const a = 0xa0000 + 100;
    // set/reset: planes 0 and 2 forced from set/reset value 0101b, planes 1 and 3 from the CPU byte
    bios.gc(0x00, 0x05);
    bios.gc(0x01, 0x0f & 0x05);
    mem.write8(a, 0x3c);
    expect(Array.from(vga.vram.subarray(400, 404))).toEqual([0xff, 0x3c, 0xff, 0x3c]);
    bios.gc(0x01, 0x00);
    // rotate by 4 and XOR with the latches (read first)
    bios.gc(0x03, (3 << 3) | 4);
    mem.read8(a);
    mem.write8(a, 0x0f); // rotated: F0h
    expect(Array.from(vga.vram.subarray(400, 404))).toEqual([0x0f, 0xcc, 0x0f, 0xcc]);
    bios.gc(0x03, 0x00);
    // read mode 0 reads the plane the read map select names
    bios.gc(0x04, 1);
    expect(mem.read8(a)).toBe(0xcc);
    // read mode 1: colour compare 0101b over all planes
    bios.gc(0x05, 0x08);
    bios.gc(0x02, 0x05);
    bios.gc(0x07, 0x0f);
    expect(mem.read8(a)).toBe(0x03); // bits where planes read 1,0,1,0 (0x0f & ~0xcc)
    bios.gc(0x07, 0x00);
    expect(mem.read8(a)).toBe(0xff); // no plane cares: everything matches
    bios.gc(0x05, 0x00);
    // write mode 1 copies the latches to another address
    mem.read8(a);
    bios.gc(0x05, 0x01);
    mem.write8(a + 1, 0x00);
    expect(Array.from(vga.vram.subarray(404, 408))).toEqual([0x0f, 0xcc, 0x0f, 0xcc]);
    // write mode 3: set/reset colour through (CPU byte AND bit mask)
    bios.gc(0x05, 0x03);
    bios.gc(0x00, 0x0a);
    mem.read8(a + 2);
    mem.write8(a + 2, 0xf0);
    expect(Array.from(vga.vram.subarray(408, 412))).toEqual([0x00, 0xf0, 0x00, 0xf0]);
    // the map mask keeps planes out of a write
    bios.gc(0x05, 0x00);
    bios.seq(0x02, 0x01);
    mem.write8(a + 2, 0xaa);
    expect(Array.from(vga.vram.subarray(408, 412))).toEqual([0xaa, 0xf0, 0x00, 0xf0]);
  });

  it('honours the colour plane enable register', () => {
    const { vga, bios } = mode12();
    plot(bios, 0, 0, 15);
    bios.attr(0x12, 0x01);
    expect(pixel(vga.framebuffer(), 0, 0)).toEqual(rgb6(PAL_EGA[0x01]));
  });
});

describe('VGA mode 13h (chain-4)', () => {
  it('stores byte n in plane n&3 and shows 320x200 through the DAC', () => {
    const rig = makeRig();
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    bios.setMode(MODE_13);
    bios.dacWrite(0x42, [0x3f, 0x20, 0x00]);
    bios.dacWrite(0x43, [0x00, 0x10, 0x3f]);
    rig.mem.write8(0xa0000 + 7 * 320 + 11, 0x42);
    rig.mem.write16(0xa0000 + 199 * 320 + 318, 0x4342);
    const fb = rig.vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([320, 200]);
    expect(pixel(fb, 11, 7)).toEqual(rgb6([0x3f, 0x20, 0x00]));
    expect(pixel(fb, 319, 199)).toEqual(rgb6([0x00, 0x10, 0x3f]));
    expect(pixel(fb, 12, 7)).toEqual(rgb6(PAL_EGA[0]));
    expect(rig.vga.vram[7 * 320 + 11]).toBe(0x42);
    expect(rig.mem.read8(0xa0000 + 7 * 320 + 11)).toBe(0x42);
    expect(rig.mem.read16(0xa0000 + 199 * 320 + 318)).toBe(0x4342);
    expect(rig.vga.displayMode()).toEqual({ kind: 'graphics', width: 320, height: 200, bpp: 8 });
  });

  it('shows an unchained (mode X style) picture from the same planes', () => {
    const rig = makeRig();
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    bios.setMode(MODE_13);
    bios.seq(0x04, 0x06); // chain-4 off
    bios.crtc(0x14, 0x00);
    bios.crtc(0x17, 0xe3);
    bios.dacWrite(9, [0x3f, 0x3f, 0x3f]);
    bios.seq(0x02, 1 << (5 & 3));
    rig.mem.write8(0xa0000 + 2 * 80 + (5 >> 2), 9); // pixel (5, 2)
    expect(pixel(rig.vga.framebuffer(), 5, 2)).toEqual([255, 255, 255, 255]);
  });
});

describe('VGA CGA-compatible mode 4', () => {
  it('interleaves two banks by scan line and two bits per pixel from planes 0 and 1', () => {
    const rig = makeRig();
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    bios.setMode(MODE_04);
    bios.dacWrite(0x13, [0x15, 0x3f, 0x3f]);
    bios.dacWrite(0x15, [0x3f, 0x15, 0x3f]);
    bios.dacWrite(0x17, [0x3f, 0x3f, 0x3f]);
    rig.mem.write8(0xb8000 + 0x2000, 0b00_01_10_11); // line 1, pixels 0-3
    rig.mem.write8(0xb8001, 0b11_00_00_00); // line 0, pixel 4
    rig.mem.write8(0xb8000 + 80 * 99 + 79, 0b00_00_00_10); // line 198, pixel 319
    const fb = rig.vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([320, 200]);
    expect([0, 1, 2, 3].map((x) => pixel(fb, x, 1))).toEqual([
      [0, 0, 0, 255],
      rgb6([0x15, 0x3f, 0x3f]),
      rgb6([0x3f, 0x15, 0x3f]),
      [255, 255, 255, 255],
    ]);
    expect(pixel(fb, 4, 0)).toEqual([255, 255, 255, 255]);
    expect(pixel(fb, 319, 198)).toEqual(rgb6([0x3f, 0x15, 0x3f]));
    expect(rig.mem.read8(0xb8000 + 0x2000)).toBe(0b00_01_10_11);
    expect(rig.vga.displayMode().bpp).toBe(2);
  });
});

describe('Bochs VBE', () => {
  function vbeRig() {
    const rig = makeRig({}, new PhysicalMemory(1 << 20));
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    // firmware puts BAR0 at E0000000 and turns on memory decoding
    rig.vga.writeConfig(0x10, 0xe0000000 | 0, 4);
    rig.vga.writeConfig(0x04, 0x0002, 2);
    return { ...rig, bios };
  }

  it('is a PCI function 1234:1111 of class 030000 with a 16 MiB prefetchable BAR0', () => {
    const { vga } = makeRig();
    expect(vga.readConfig(0x00, 4) >>> 0).toBe(0x11111234);
    expect(vga.readConfig(0x08, 4) >>> 8).toBe(0x030000);
    vga.writeConfig(0x10, -1, 4);
    expect(vga.readConfig(0x10, 4) >>> 0).toBe(0xff000008);
    vga.writeConfig(0x18, -1, 4);
    expect(vga.readConfig(0x18, 4) >>> 0).toBe(0xfffff000);
    expect(vga.readConfig(0x14, 4)).toBe(0);
  });

  it('answers the DISPI identification and capability reads SeaBIOS makes', () => {
    const { bios } = vbeRig();
    bios.dispi(0, 0xb0c0);
    expect(bios.dispiRead(0)).toBe(0xb0c0);
    bios.dispi(0, 0x1234);
    expect(bios.dispiRead(0)).toBe(0xb0c0);
    bios.dispi(0, 0xb0c5);
    expect(bios.dispiRead(0)).toBe(0xb0c5);
    expect(bios.dispiRead(0xa)).toBe(VRAM_SIZE >> 16);
    bios.dispi(4, 0x02);
    expect([bios.dispiRead(1), bios.dispiRead(2), bios.dispiRead(3)]).toEqual([16000, 12000, 32]);
    bios.dispi(4, 0x00);
    expect(bios.io.in8(0x1ce)).toBe(0xff); // 16-bit ports
    bios.io.out16(0x1ce, 1);
    expect(bios.io.in16(0x1d0)).toBe(0); // 1D0h is a data alias
  });

  it('800x600x32 with the linear framebuffer', () => {
    const { vga, bios, mem } = vbeRig();
    mem.write32(0xe0000000, 0x12345678); // cleared by the mode set
    bios.setVbeMode(800, 600, 32, true);
    expect(mem.read32(0xe0000000)).toBe(0);
    expect(bios.dispiRead(6)).toBe(800);
    expect(bios.dispiRead(7)).toBe(Math.floor(VRAM_SIZE / 3200));
    const put = (x: number, y: number, rgb: number) => mem.write32(0xe0000000 + (y * 800 + x) * 4, rgb);
    put(0, 0, 0xff0000);
    put(799, 599, 0x00ff00);
    put(400, 300, 0x123456);
    const fb = vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([800, 600]);
    expect(pixel(fb, 0, 0)).toEqual([255, 0, 0, 255]);
    expect(pixel(fb, 799, 599)).toEqual([0, 255, 0, 255]);
    expect(pixel(fb, 400, 300)).toEqual([0x12, 0x34, 0x56, 255]);
    expect(vga.displayMode()).toEqual({ kind: 'vbe', width: 800, height: 600, bpp: 32 });
    expect(vga.textScreen().cols).toBe(0);
    // the same memory through a 64 KiB bank at A0000
    const at = (300 * 800 + 400) * 4;
    bios.dispi(5, at >> 16);
    expect(mem.read32(0xa0000 + (at & 0xffff))).toBe(0x123456);
    bios.dispi(5, 1);
    mem.write32(0xa0000, 0x00abcdef);
    expect(pixel(vga.framebuffer(), 0x10000 / 4 - 800 * 20, 20)).toEqual([0xab, 0xcd, 0xef, 255]);
    // panning with Y_OFFSET
    bios.dispi(9, 300);
    expect(pixel(vga.framebuffer(), 400, 0)).toEqual([0x12, 0x34, 0x56, 255]);
    // disabling VBE hands the display back to the VGA registers
    bios.dispi(4, 0);
    expect(vga.displayMode().kind).toBe('graphics');
  });

  it('16, 15, 24 bpp and 8 bpp with the 8-bit DAC', () => {
    const { vga, bios, mem } = vbeRig();
    bios.setVbeMode(640, 480, 16, true);
    mem.write16(0xe0000000 + 2, 0xf800 | 0x07e0);
    expect(pixel(vga.framebuffer(), 1, 0)).toEqual([255, 255, 0, 255]);
    bios.setVbeMode(640, 480, 15, true);
    mem.write16(0xe0000000, 0x001f);
    expect(pixel(vga.framebuffer(), 0, 0)).toEqual([0, 0, 255, 255]);
    bios.setVbeMode(320, 200, 24, true);
    mem.write8(0xe0000000 + 3, 0x11);
    mem.write8(0xe0000000 + 4, 0x22);
    mem.write8(0xe0000000 + 5, 0x33);
    expect(pixel(vga.framebuffer(), 1, 0)).toEqual([0x33, 0x22, 0x11, 255]);
    bios.setVbeMode(640, 480, 8, true);
    bios.dispi(4, 0x01 | 0x40 | 0x20 | 0x80); // 8-bit DAC
    bios.dacWrite(5, [0xfe, 0x80, 0x01]);
    mem.write8(0xe0000000 + 640 + 2, 5);
    expect(pixel(vga.framebuffer(), 2, 1)).toEqual([0xfe, 0x80, 0x01, 255]);
  });

  it('clamps impossible modes like QEMU', () => {
    const { bios } = vbeRig();
    bios.dispi(3, 7);
    bios.dispi(1, 0);
    bios.dispi(2, 0);
    bios.dispi(4, 0x01);
    expect([bios.dispiRead(1), bios.dispiRead(2), bios.dispiRead(3)]).toEqual([8, 1, 8]);
  });

  it('exposes the registers through BAR2 too', () => {
    const { vga, mem, bios } = vbeRig();
    vga.writeConfig(0x18, 0xe1000000 | 0, 4);
    mem.write16(0xe1000000 + 0x500 + 2 * 1, 1024);
    expect(bios.dispiRead(1)).toBe(1024);
    expect(mem.read16(0xe1000000 + 0x500)).toBe(0xb0c5);
    mem.write16(0xe1000000 + 0x404, 0x0302);
    expect(bios.seqRead(2)).toBe(0x03);
    expect(mem.read32(0xe1000000 + 0x604) >>> 0).toBe(0x1e1e1e1e);
    expect(mem.read8(0xe1000000)).toBe(0); // no EDID
  });
});

describe('VGA save/load', () => {
  it('restores exactly: same state hash, same picture, same behaviour afterwards', () => {
    const a = textRig();
    putText(a.mem, 4, 2, 'snapshot me', 0x2e);
    a.bios.crtc(0x0e, 0);
    a.bios.crtc(0x0f, 4 * 80 + 2);
    a.io.in8(0x3da);
    a.io.out8(0x3c0, 0x31); // leave the flip-flop on "data"
    a.io.out8(0x3c8, 0x10);
    a.io.out8(0x3c9, 0x01); // and the DAC mid-triple
    a.mem.read8(0xb8000 + 1);
    const state = unpack(pack(a.vga.save())) as VgaState;
    const b = makeRig();
    b.vga.load(state);
    expect(hashState(b.vga.save())).toBe(hashState(a.vga.save()));
    expect(b.vga.screenDump()).toEqual(a.vga.screenDump());
    expect(Buffer.from(b.vga.framebuffer().rgba).equals(Buffer.from(a.vga.framebuffer().rgba))).toBe(true);
    for (const r of [a, b]) {
      r.io.out8(0x3c0, 0x3f);
      r.io.out8(0x3c9, 0x02);
      r.io.out8(0x3c9, 0x03);
      putText(r.mem, 5, 0, 'after', 0x07);
    }
    expect(hashState(b.vga.save())).toBe(hashState(a.vga.save()));
    expect(b.vga.attr[0x11]).toBe(0x3f);
    expect(b.vga.screenDump()[5]).toBe('after');
  });

  it('saves only the non-zero pages of video memory', () => {
    const { vga } = textRig();
    const s = vga.save();
    expect(s.vramPages.length).toBeGreaterThan(0);
    expect(s.vramData.length).toBe(s.vramPages.length * 4096);
    expect(s.vramData.length).toBeLessThan(VRAM_SIZE / 32);
  });

  it('keeps video memory over a hardware reset but turns PCI decoding off', () => {
    const rig = textRig();
    putText(rig.mem, 0, 0, 'kept', 0x07);
    rig.vga.writeConfig(0x10, 0xe0000000 | 0, 4);
    rig.vga.writeConfig(0x04, 2, 2);
    expect(rig.mem.read8(0xe0000000)).toBe(0x6b); // 'k' in plane 0 at address 0
    rig.vga.reset();
    expect(rig.mem.read8(0xe0000000)).toBe(0xff);
    expect(rig.vga.barAddress[0]).toBe(-1);
    expect(rig.vga.vram[0]).toBe(0x6b);
    expect(rig.vga.displayMode().kind).toBe('blank');
  });
});

describe('direct mapping through a VramMapper', () => {
  it('maps the LFB and the chain-4 window onto video memory as RAM pages', () => {
    const mem = new PhysicalMemory(1 << 20, VRAM_SIZE + (1 << 20));
    const off = mem.addRom(new Uint8Array(VRAM_SIZE));
    const vram = mem.backing.subarray(off, off + VRAM_SIZE);
    const maps: [number, number, number][] = [];
    const mapper: VramMapper = {
      map(addr, size, vramOffset) {
        maps.push([addr, size, vramOffset]);
        for (let i = 0; i < size; i += 4096) mem.pageMap[(addr + i) >>> 12] = off + vramOffset + i; // plain RAM entry
      },
    };
    const rig = makeRig({ vram, mapper }, mem);
    const bios = new Bios(rig.io, rig.mem);
    bios.setup();
    bios.setMode(MODE_13);
    expect(maps.at(-1)).toEqual([0xa0000, 0x10000, 0]);
    mem.write8(0xa0000 + 321, 0x42);
    expect(rig.vga.vram[321]).toBe(0x42);
    bios.seq(0x02, 0x01); // not all planes: back to MMIO
    mem.write8(0xa0000 + 322, 0x42);
    expect(rig.vga.vram[322]).toBe(0); // plane 2 is masked
    rig.vga.writeConfig(0x10, 0xe0000000 | 0, 4);
    rig.vga.writeConfig(0x04, 2, 2);
    expect(maps.at(-1)).toEqual([0xe0000000, VRAM_SIZE, 0]);
    expect(mem.read8(0xe0000000 + 321)).toBe(0x42);
    expect(rig.vga.save().vramPages).toEqual([0]);
  });
});

describe('code page 437', () => {
  it('has 256 characters', () => {
    expect([...CP437]).toHaveLength(256);
    expect(CP437[0x41]).toBe('A');
    expect(CP437[0xc4]).toBe('─');
    expect(CP437[0xdb]).toBe('█');
  });
});
