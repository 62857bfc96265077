// The real VGA BIOS of QEMU's `-vga std` (SeaBIOS vgabios-stdvga.bin) driving the device on
// the bare machine: its POST entry, then INT 10h mode sets, teletype output, pixel writes and
// VBE mode sets, each checked on the rendered screen. The ROM comes from the host (Debian's
// seabios package puts it in /usr/share/seabios; BITROT_VGABIOS overrides); without it these
// tests are skipped.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createBareMachine } from '../../../engine/bare.ts';
import { Vga } from '../../../engine/devices/vga.ts';
import { PAL_EGA, pixel, rgb6 } from './vga-bios.ts';

const ROM_PATH = process.env.BITROT_VGABIOS ?? '/usr/share/seabios/vgabios-stdvga.bin';
const haveRom = existsSync(ROM_PATH);
const skipNote = haveRom ? '' : ` (skipped: no VGA BIOS at ${ROM_PATH})`;

// A few real-mode instructions, assembled by hand.
const w = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const asm = {
  /** cli; ss = ds = 0; sp = 7000h; ax = FFFFh (no PCI address); call far C000:0003 (the ROM's POST entry) */
  post: [0xfa, 0x31, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x70, 0x8e, 0xd8, 0xb8, 0xff, 0xff, 0x9a, 0x03, 0x00, 0x00, 0xc0],
  ax: (v: number) => [0xb8, ...w(v)],
  bx: (v: number) => [0xbb, ...w(v)],
  cx: (v: number) => [0xb9, ...w(v)],
  dx: (v: number) => [0xba, ...w(v)],
  di: (v: number) => [0xbf, ...w(v)],
  eax: (v: number) => [0x66, 0xb8, ...w(v), ...w(v >>> 16)],
  esFromAx: [0x8e, 0xc0],
  stosd: [0xfc, 0x66, 0xab],
  stosb: [0xfc, 0xaa],
  int10: [0xcd, 0x10],
  /** isa-debug-exit with 0, then hlt */
  exit: [0xb0, 0x00, 0xe6, 0xf4, 0xf4],
};

function teletype(s: string): number[] {
  return [...s].flatMap((c) => [...asm.ax(0x0e00 | c.charCodeAt(0)), ...asm.bx(0x0007), ...asm.int10]);
}

function boot(program: number[]): { vga: Vga; debug: string } {
  const m = createBareMachine({ image: Uint8Array.from([...asm.post, ...program, ...asm.exit]) });
  const vga = new Vga({ clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output });
  vga.attach();
  m.addDevice(vga);
  m.mem.load(0xc0000, readFileSync(ROM_PATH)); // the ROM writes its own variables while it initialises
  const r = m.run(100_000_000);
  const debug = m.output.text('debugcon');
  expect(r.reason, debug).toBe('exit');
  return { vga, debug };
}

/** The IBM VGA 8x16 glyph of 'H', as every VGA BIOS font has it. */
const GLYPH_H = [0x00, 0x00, 0xc6, 0xc6, 0xc6, 0xc6, 0xfe, 0xc6, 0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00];

describe(`SeaBIOS vgabios-stdvga on the VGA${skipNote}`, () => {
  it.skipIf(!haveRom)('POST finds the DISPI interface and 16 MiB; mode 3 and teletype output show up as text', () => {
    const { vga, debug } = boot([...asm.ax(0x0003), ...asm.int10, ...teletype('Hi\r\n!')]);
    expect(debug).toContain('VBE DISPI: lfb_addr=e0000000, size 16 MB');
    expect(debug).toContain('set VGA mode 3');
    expect(vga.displayMode()).toEqual({ kind: 'text', width: 720, height: 400, bpp: 4 });
    expect(vga.screenDump().slice(0, 3)).toEqual(['Hi', '!', '']);
    expect(vga.textScreen().cursor).toEqual({ x: 1, y: 1, visible: true });
    // the font the BIOS loaded into plane 2, and the glyph as drawn (grey on black)
    expect(Array.from({ length: 16 }, (_, l) => vga.vram[(0x48 * 32 + l) * 4 + 2])).toEqual(GLYPH_H);
    const fb = vga.framebuffer();
    const grey = rgb6(PAL_EGA[7]);
    const black = rgb6(PAL_EGA[0]);
    for (let l = 0; l < 16; l++) for (let d = 0; d < 9; d++) expect(pixel(fb, d, l)).toEqual(d < 8 && (GLYPH_H[l] >> (7 - d)) & 1 ? grey : black);
  });

  it.skipIf(!haveRom)('mode 13h: INT 10h pixel writes and direct writes to A000h', () => {
    const { vga } = boot([
      ...asm.ax(0x0013),
      ...asm.int10,
      ...asm.ax(0x0c04), // write pixel, colour 4
      ...asm.bx(0),
      ...asm.cx(10),
      ...asm.dx(20),
      ...asm.int10,
      ...asm.ax(0xa000),
      ...asm.esFromAx,
      ...asm.di(199 * 320 + 319),
      ...asm.ax(0x000f),
      ...asm.stosb,
    ]);
    const fb = vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([320, 200]);
    expect(pixel(fb, 10, 20)).toEqual(rgb6([0x2a, 0x00, 0x00]));
    expect(pixel(fb, 319, 199)).toEqual(rgb6([0x3f, 0x3f, 0x3f]));
    expect(pixel(fb, 11, 20)).toEqual([0, 0, 0, 255]);
  });

  it.skipIf(!haveRom)('mode 12h: INT 10h pixel writes go through the planes', () => {
    const { vga } = boot([
      ...asm.ax(0x0012),
      ...asm.int10,
      ...asm.ax(0x0c0c), // light red
      ...asm.bx(0),
      ...asm.cx(3),
      ...asm.dx(5),
      ...asm.int10,
      ...asm.ax(0x0c09), // light blue, next to it
      ...asm.cx(4),
      ...asm.int10,
    ]);
    const fb = vga.framebuffer();
    expect([fb.width, fb.height]).toEqual([640, 480]);
    expect(pixel(fb, 3, 5)).toEqual(rgb6(PAL_EGA[0x3c]));
    expect(pixel(fb, 4, 5)).toEqual(rgb6(PAL_EGA[0x39]));
    expect(pixel(fb, 5, 5)).toEqual([0, 0, 0, 255]);
  });

  it.skipIf(!haveRom)('VBE mode 143h (800x600x32) through the 64 KiB window', () => {
    const { vga } = boot([
      ...asm.ax(0x4f02),
      ...asm.bx(0x0143),
      ...asm.int10,
      ...asm.ax(0xa000),
      ...asm.esFromAx,
      ...asm.di(4 * 801), // pixel (1, 1)
      ...asm.eax(0x00336699),
      ...asm.stosd,
    ]);
    expect(vga.displayMode()).toEqual({ kind: 'vbe', width: 800, height: 600, bpp: 32 });
    const fb = vga.framebuffer();
    expect(pixel(fb, 1, 1)).toEqual([0x33, 0x66, 0x99, 255]);
    expect(pixel(fb, 0, 0)).toEqual([0, 0, 0, 255]);
  });

  it.skipIf(!haveRom)('VBE mode 102h (800x600, 16 planar colours) and 101h (640x480x8, packed)', () => {
    const planar = boot([
      ...asm.ax(0x4f02),
      ...asm.bx(0x0102),
      ...asm.int10,
      ...asm.ax(0x0c0e), // yellow
      ...asm.bx(0),
      ...asm.cx(799),
      ...asm.dx(599),
      ...asm.int10,
    ]).vga;
    expect(planar.displayMode()).toEqual({ kind: 'vbe', width: 800, height: 600, bpp: 4 });
    expect(pixel(planar.framebuffer(), 799, 599)).toEqual(rgb6(PAL_EGA[0x3e]));
    expect(pixel(planar.framebuffer(), 798, 599)).toEqual([0, 0, 0, 255]);
    const packed = boot([
      ...asm.ax(0x4f02),
      ...asm.bx(0x0101),
      ...asm.int10,
      ...asm.ax(0x0c20), // colour 20h of the default 256-colour palette: pure blue
      ...asm.bx(0),
      ...asm.cx(10), // the BIOS writes packed pixels in the first 64 KiB only (no bank switching)
      ...asm.dx(20),
      ...asm.int10,
    ]).vga;
    expect(packed.displayMode()).toEqual({ kind: 'vbe', width: 640, height: 480, bpp: 8 });
    expect(pixel(packed.framebuffer(), 10, 20)).toEqual(rgb6([0x00, 0x00, 0x3f]));
    expect(pixel(packed.framebuffer(), 11, 20)).toEqual([0, 0, 0, 255]);
  });
});
