// What the VGA in vga.ts shows: its state turned into a text screen (characters and
// attributes, for text modes) and an RGBA framebuffer (for every mode), on demand. Nothing
// here runs per frame or changes device state; it reads video memory the way the CRTC,
// the graphics controller's shift registers, the attribute controller and the DAC would.
//
// Video memory layout (QEMU's, which the Bochs VBE linear framebuffer relies on): byte
// 4*a + p of `vram` is plane p at CRTC memory address a. Text modes keep the character in
// plane 0, the attribute in plane 1 and the font in plane 2 (32 bytes per glyph, eight 8 KiB
// character maps chosen by sequencer register 3), exactly where the VGA BIOS loads it; no
// font is built in.
//
// Frame sizes are the mode's logical resolution: text modes give columns x character width
// (8 or 9 dots, doubled when the sequencer halves the dot clock) by rows x character height;
// graphics modes collapse double scanning and repeated scan lines (mode 13h is 320x200,
// mode 12h 640x480); VBE modes are XRES x YRES.
//
// Leaves out: blinking (blinking characters and the cursor are drawn in their visible
// phase), horizontal pixel panning and preset row scan, the cursor skew, the CRTC's
// count-by-two/four, and the overscan border.

/** The parts of the VGA's state the renderer reads (vga.ts implements it). */
export interface VgaView {
  readonly vram: Uint8Array;
  readonly seq: Uint8Array;
  readonly crtc: Uint8Array;
  readonly gc: Uint8Array;
  readonly attr: Uint8Array;
  readonly attrIndex: number;
  readonly dac: Uint8Array;
  readonly pelMask: number;
  readonly vbe: Uint16Array;
}

export interface TextScreen {
  cols: number;
  rows: number;
  /** One string per row, `cols` characters each, code page 437 mapped to Unicode. */
  chars: string[];
  attrs: Uint8Array[];
  cursor: { x: number; y: number; visible: boolean };
}

export interface Framebuffer {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major, R G B A. */
  rgba: Uint8Array;
}

export type DisplayKind = 'text' | 'graphics' | 'vbe' | 'blank';

export interface DisplayMode {
  kind: DisplayKind;
  width: number;
  height: number;
  /** Bits per pixel as the guest sees it: 4 (planar or text), 2 (CGA), 8, 15, 16, 24, 32. */
  bpp: number;
}

// Bochs VBE register indices used here.
const VBE_XRES = 1;
const VBE_YRES = 2;
const VBE_BPP = 3;
const VBE_ENABLE = 4;
const VBE_VIRT_WIDTH = 6;
const VBE_X_OFFSET = 8;
const VBE_Y_OFFSET = 9;
const VBE_ENABLED = 0x01;
const VBE_8BIT_DAC = 0x20;

const VGA_PLANE_MASK = 0xffff; // 64 Ki addresses of 4 planes: the 256 KiB of a VGA

/** Code page 437 as Unicode (0x00 as a space, 0xFF as a no-break space). */
export const CP437 =
  ' ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼' +
  ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~⌂' +
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»' +
  '░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export function vbeEnabled(v: VgaView): boolean {
  return (v.vbe[VBE_ENABLE] & VBE_ENABLED) !== 0;
}

/** Where the VBE display starts and how far apart its lines are, in bytes of vram. */
export function vbeGeometry(v: VgaView): { bits: number; lineOffset: number; start: number } {
  const bpp = v.vbe[VBE_BPP];
  const bits = bpp === 15 ? 16 : bpp;
  const lineOffset = Math.floor((v.vbe[VBE_VIRT_WIDTH] * bits) / 8);
  const start = Math.floor((v.vbe[VBE_X_OFFSET] * bits) / 8) + v.vbe[VBE_Y_OFFSET] * lineOffset;
  return { bits, lineOffset, start };
}

// ---- CRTC geometry ----

function verticalDisplayEnd(c: Uint8Array): number {
  return c[0x12] | ((c[0x07] & 0x02) << 7) | ((c[0x07] & 0x40) << 3);
}

function lineCompare(c: Uint8Array): number {
  return c[0x18] | ((c[0x07] & 0x10) << 4) | ((c[0x09] & 0x40) << 3);
}

function startAddress(c: Uint8Array): number {
  return (c[0x0c] << 8) | c[0x0d];
}

interface TextGeometry {
  cols: number;
  rows: number;
  charHeight: number;
  doubleScan: number;
  /** CRTC memory address of the first character of each row. */
  rowStart: number[];
}

function textGeometry(v: VgaView): TextGeometry {
  const c = v.crtc;
  const cols = c[0x01] + 1;
  const charHeight = (c[0x09] & 0x1f) + 1;
  const doubleScan = c[0x09] & 0x80 ? 2 : 1;
  const rows = Math.floor((verticalDisplayEnd(c) + 1) / (charHeight * doubleScan));
  const stride = c[0x13] * 2;
  const lc = lineCompare(c);
  const rowStart: number[] = [];
  let addr = startAddress(c);
  let line = 0;
  for (let r = 0; r < rows; r++) {
    rowStart.push(addr & VGA_PLANE_MASK);
    const next = line + charHeight * doubleScan;
    addr += stride;
    if (line < lc && next >= lc) addr = 0; // split screen: the rest starts at address 0
    line = next;
  }
  return { cols, rows, charHeight, doubleScan, rowStart };
}

function isGraphics(v: VgaView): boolean {
  return vbeEnabled(v) || (v.gc[0x06] & 0x01) !== 0;
}

function isBlank(v: VgaView): boolean {
  if ((v.attrIndex & 0x20) === 0) return true; // palette address source: video off
  return !vbeEnabled(v) && (v.seq[0x01] & 0x20) !== 0; // sequencer screen off
}

// ---- colours ----

function dacColour(v: VgaView, index: number): number {
  const i = (index & v.pelMask) * 3;
  let r = v.dac[i];
  let g = v.dac[i + 1];
  let b = v.dac[i + 2];
  if ((v.vbe[VBE_ENABLE] & VBE_8BIT_DAC) === 0) {
    r = ((r & 0x3f) << 2) | ((r >> 4) & 3);
    g = ((g & 0x3f) << 2) | ((g >> 4) & 3);
    b = ((b & 0x3f) << 2) | ((b >> 4) & 3);
  }
  return rgba(r, g, b);
}

function rgba(r: number, g: number, b: number): number {
  return (r | (g << 8) | (b << 16) | 0xff000000) >>> 0; // little-endian R G B A in a Uint32Array
}

/** The 16 colours the attribute controller's palette registers select, as RGBA words. */
function attributePalette(v: VgaView): Uint32Array {
  const a = v.attr;
  const out = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    let idx = a[i] & 0x3f;
    if (a[0x10] & 0x80) idx = ((a[0x14] & 0x0f) << 4) | (idx & 0x0f);
    else idx = ((a[0x14] & 0x0c) << 4) | idx;
    out[i] = dacColour(v, idx);
  }
  return out;
}

function dacPalette(v: VgaView): Uint32Array {
  const out = new Uint32Array(256);
  for (let i = 0; i < 256; i++) out[i] = dacColour(v, i);
  return out;
}

// ---- mode ----

export function displayMode(v: VgaView): DisplayMode {
  if (vbeEnabled(v)) {
    const kind = isBlank(v) ? 'blank' : 'vbe';
    return { kind, width: v.vbe[VBE_XRES], height: v.vbe[VBE_YRES], bpp: v.vbe[VBE_BPP] };
  }
  if (!isGraphics(v)) {
    const g = textGeometry(v);
    const cw = charWidth(v);
    return { kind: isBlank(v) ? 'blank' : 'text', width: g.cols * cw, height: g.rows * g.charHeight * g.doubleScan, bpp: 4 };
  }
  const geo = graphicsGeometry(v);
  return { kind: isBlank(v) ? 'blank' : 'graphics', width: geo.width, height: geo.height, bpp: geo.bpp };
}

function charWidth(v: VgaView): number {
  const dots = v.seq[0x01] & 0x01 ? 8 : 9;
  return v.seq[0x01] & 0x08 ? dots * 2 : dots;
}

// ---- text ----

export function textScreen(v: VgaView): TextScreen {
  if (isGraphics(v)) return { cols: 0, rows: 0, chars: [], attrs: [], cursor: { x: 0, y: 0, visible: false } };
  const g = textGeometry(v);
  const vram = v.vram;
  const chars: string[] = [];
  const attrs: Uint8Array[] = [];
  for (let r = 0; r < g.rows; r++) {
    const a = new Uint8Array(g.cols);
    let s = '';
    for (let x = 0; x < g.cols; x++) {
      const o = ((g.rowStart[r] + x) & VGA_PLANE_MASK) * 4;
      s += CP437[vram[o]];
      a[x] = vram[o + 1];
    }
    chars.push(s);
    attrs.push(a);
  }
  return { cols: g.cols, rows: g.rows, chars, attrs, cursor: cursorOf(v, g) };
}

function cursorOf(v: VgaView, g: TextGeometry): { x: number; y: number; visible: boolean } {
  const c = v.crtc;
  const at = (c[0x0e] << 8) | c[0x0f];
  const startLine = c[0x0a] & 0x1f;
  const endLine = c[0x0b] & 0x1f;
  for (let r = 0; r < g.rows; r++) {
    const x = (at - g.rowStart[r]) & VGA_PLANE_MASK;
    if (x < g.cols) {
      const visible = (c[0x0a] & 0x20) === 0 && startLine <= endLine && startLine < g.charHeight;
      return { x, y: r, visible };
    }
  }
  return { x: 0, y: 0, visible: false };
}

/** The text screen as plain lines, trailing spaces trimmed (no lines in graphics modes). */
export function screenLines(v: VgaView): string[] {
  return textScreen(v).chars.map((s) => s.replace(/[ \u00a0]+$/, ''));
}

function renderText(v: VgaView): Framebuffer {
  const g = textGeometry(v);
  const dots = v.seq[0x01] & 0x01 ? 8 : 9;
  const stretch = v.seq[0x01] & 0x08 ? 2 : 1;
  const cw = dots * stretch;
  const width = g.cols * cw;
  const height = g.rows * g.charHeight * g.doubleScan;
  const fb = blankFrame(width, height);
  if (isBlank(v)) return fb;
  const px = new Uint32Array(fb.rgba.buffer);
  const pal = attributePalette(v);
  const vram = v.vram;
  const c = v.crtc;
  const sr3 = v.seq[0x03];
  // Character map A (attribute bit 3 set) and B, as plane-2 addresses (SR3; VGA ref. "Character Map Select").
  const mapA = (((sr3 >> 2) & 3) << 14) | (((sr3 >> 5) & 1) << 13);
  const mapB = ((sr3 & 3) << 14) | (((sr3 >> 4) & 1) << 13);
  const blinkMode = (v.attr[0x10] & 0x08) !== 0;
  const lineGraphics = (v.attr[0x10] & 0x04) !== 0;
  const underline = c[0x14] & 0x1f;
  const cur = cursorOf(v, g);
  const curStart = c[0x0a] & 0x1f;
  const curEnd = Math.min(c[0x0b] & 0x1f, g.charHeight - 1);
  for (let r = 0; r < g.rows; r++) {
    for (let x = 0; x < g.cols; x++) {
      const o = ((g.rowStart[r] + x) & VGA_PLANE_MASK) * 4;
      const ch = vram[o];
      const at = vram[o + 1];
      const fg = pal[at & 0x0f];
      const bg = pal[blinkMode ? (at >> 4) & 7 : at >> 4];
      const font = (at & 0x08 ? mapA : mapB) + ch * 32;
      const dup9 = dots === 9 && lineGraphics && ch >= 0xc0 && ch <= 0xdf;
      const isCursor = cur.visible && cur.y === r && cur.x === x;
      for (let line = 0; line < g.charHeight; line++) {
        let bits = vram[((font + line) & VGA_PLANE_MASK) * 4 + 2];
        const solid = ((at & 0x77) === 0x01 && line === underline) || (isCursor && line >= curStart && line <= curEnd);
        if (solid) bits = 0xff;
        const bit8 = solid || dup9 ? bits & 1 : 0;
        for (let ds = 0; ds < g.doubleScan; ds++) {
          let p = (r * g.charHeight * g.doubleScan + line * g.doubleScan + ds) * width + x * cw;
          for (let d = 0; d < dots; d++) {
            const on = d < 8 ? (bits >> (7 - d)) & 1 : bit8;
            const col = on ? fg : bg;
            for (let s = 0; s < stretch; s++) px[p++] = col;
          }
        }
      }
    }
  }
  return fb;
}

// ---- VGA graphics ----

interface GraphicsGeometry {
  width: number;
  height: number;
  bpp: number;
  shift: number;
  /** CRTC address of each logical line. */
  lineAddress(y: number): number;
}

function graphicsGeometry(v: VgaView): GraphicsGeometry {
  const c = v.crtc;
  const shift = (v.gc[0x05] >> 5) & 3;
  const chars = c[0x01] + 1;
  const width = shift >= 2 ? chars * 4 : chars * 8;
  const bpp = shift >= 2 ? 8 : shift === 1 ? 2 : 4;
  const scanlines = verticalDisplayEnd(c) + 1;
  const dbl = c[0x09] & 0x80 ? 2 : 1;
  const scansPerRow = (c[0x09] & 0x1f) + 1;
  // CGA compatibility: row scan counter bits 0/1 replace CRTC address bits 13/14 of the
  // output (CR17 bits 0/1 clear), so the scan lines of one character row show different data.
  const cga0 = (c[0x17] & 0x01) === 0;
  const cga1 = (c[0x17] & 0x02) === 0;
  const repeat = cga0 || cga1 ? 1 : scansPerRow;
  const height = Math.floor(scanlines / dbl / repeat);
  // Address bit the row scan counter replaces, in CRTC address units (word/doubleword modes shift).
  const addrShift = c[0x14] & 0x40 ? 2 : c[0x17] & 0x40 ? 0 : 1;
  const b13 = 13 - addrShift;
  const b14 = 14 - addrShift;
  const stride = c[0x13] * 2;
  const start = startAddress(c);
  const lc = lineCompare(c);
  return {
    width,
    height,
    bpp,
    shift,
    lineAddress(y: number): number {
      const phys = y * repeat * dbl; // the first scan line showing logical line y
      let base = start;
      let t = y * repeat;
      if (lc < scanlines && phys > lc) {
        base = 0;
        t = Math.floor((phys - lc - 1) / dbl);
      }
      const row = Math.floor(t / scansPerRow);
      const rs = t % scansPerRow;
      let a = base + row * stride;
      if (cga0) a = (a & ~(1 << b13)) | ((rs & 1) << b13);
      if (cga1) a = (a & ~(1 << b14)) | (((rs >> 1) & 1) << b14);
      return a & VGA_PLANE_MASK;
    },
  };
}

function renderGraphics(v: VgaView): Framebuffer {
  const geo = graphicsGeometry(v);
  const fb = blankFrame(geo.width, geo.height);
  if (isBlank(v)) return fb;
  const px = new Uint32Array(fb.rgba.buffer);
  const vram = v.vram;
  const planeEnable = v.attr[0x12] & 0x0f;
  if (geo.shift >= 2) {
    const pal = dacPalette(v);
    for (let y = 0; y < geo.height; y++) {
      const a = geo.lineAddress(y);
      let p = y * geo.width;
      for (let x = 0; x < geo.width; x++) {
        px[p++] = pal[vram[((a + (x >> 2)) & VGA_PLANE_MASK) * 4 + (x & 3)]];
      }
    }
    return fb;
  }
  const pal = attributePalette(v);
  for (let y = 0; y < geo.height; y++) {
    const a = geo.lineAddress(y);
    let p = y * geo.width;
    for (let m = 0; m < geo.width >> 3; m++) {
      const o = ((a + m) & VGA_PLANE_MASK) * 4;
      p = drawEight(px, p, vram[o], vram[o + 1], vram[o + 2], vram[o + 3], geo.shift, planeEnable, pal);
    }
  }
  return fb;
}

/** Eight pixels from one address of the four planes (shift register mode 0 or 1, interleaved). */
function drawEight(
  px: Uint32Array,
  p: number,
  p0: number,
  p1: number,
  p2: number,
  p3: number,
  shift: number,
  planeEnable: number,
  pal: Uint32Array,
): number {
  if (shift === 0) {
    for (let b = 7; b >= 0; b--) {
      const i = ((p0 >> b) & 1) | (((p1 >> b) & 1) << 1) | (((p2 >> b) & 1) << 2) | (((p3 >> b) & 1) << 3);
      px[p++] = pal[i & planeEnable];
    }
    return p;
  }
  // Shift register interleave (CGA 4-colour): two bits per pixel, planes 0 then 1, with 2 and 3 above.
  for (let half = 0; half < 2; half++) {
    const lo = half ? p1 : p0;
    const hi = half ? p3 : p2;
    for (let b = 6; b >= 0; b -= 2) {
      const i = ((lo >> b) & 3) | (((hi >> b) & 3) << 2);
      px[p++] = pal[i & planeEnable];
    }
  }
  return p;
}

// ---- Bochs VBE ----

function renderVbe(v: VgaView): Framebuffer {
  const width = v.vbe[VBE_XRES];
  const height = v.vbe[VBE_YRES];
  const fb = blankFrame(width, height);
  if (isBlank(v)) return fb;
  const px = new Uint32Array(fb.rgba.buffer);
  const vram = v.vram;
  const mask = vram.length - 1;
  const { bits, lineOffset, start } = vbeGeometry(v);
  if (bits === 4) {
    const pal = attributePalette(v);
    const planeEnable = v.attr[0x12] & 0x0f;
    for (let y = 0; y < height; y++) {
      const a = (start + y * lineOffset) >> 2;
      let p = y * width;
      for (let m = 0; m < width >> 3; m++) {
        const o = ((a + m) * 4) & mask;
        p = drawEight(px, p, vram[o], vram[o + 1], vram[o + 2], vram[o + 3], 0, planeEnable, pal);
      }
    }
    return fb;
  }
  const pal = bits === 8 ? dacPalette(v) : null;
  const bpp15 = v.vbe[VBE_BPP] === 15;
  for (let y = 0; y < height; y++) {
    let o = start + y * lineOffset;
    let p = y * width;
    for (let x = 0; x < width; x++) {
      let col: number;
      if (pal) {
        col = pal[vram[o & mask]];
        o += 1;
      } else if (bits === 16) {
        const w = vram[o & mask] | (vram[(o + 1) & mask] << 8);
        o += 2;
        if (bpp15) col = rgba(five((w >> 10) & 31), five((w >> 5) & 31), five(w & 31));
        else col = rgba(five((w >> 11) & 31), six((w >> 5) & 63), five(w & 31));
      } else {
        col = rgba(vram[(o + 2) & mask], vram[(o + 1) & mask], vram[o & mask]);
        o += bits === 24 ? 3 : 4;
      }
      px[p++] = col;
    }
  }
  return fb;
}

function five(c: number): number {
  return (c << 3) | (c >> 2);
}
function six(c: number): number {
  return (c << 2) | (c >> 4);
}

function blankFrame(width: number, height: number): Framebuffer {
  const w = Math.max(0, width);
  const h = Math.max(0, height);
  const rgba = new Uint8Array(w * h * 4);
  new Uint32Array(rgba.buffer).fill(0xff000000);
  return { width: w, height: h, rgba };
}

/** The picture on the monitor now, for any mode. */
export function framebuffer(v: VgaView): Framebuffer {
  if (vbeEnabled(v)) return renderVbe(v);
  if (isGraphics(v)) return renderGraphics(v);
  return renderText(v);
}
