import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { encodePng } from '../../cli/png.ts';

interface Chunk {
  type: string;
  data: Buffer;
  crc: number;
}

function chunks(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  let o = 8;
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    out.push({ type: png.toString('latin1', o + 4, o + 8), data: png.subarray(o + 8, o + 8 + len), crc: png.readUInt32BE(o + 8 + len) });
    o += 12 + len;
  }
  return out;
}

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

/** Decode what encodePng writes: 8-bit RGB or RGBA, filter 0 on every row. */
function decode(png: Buffer): { width: number; height: number; rgba: Uint8Array; colourType: number } {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const cs = chunks(png);
  expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  for (const c of cs) expect(c.crc).toBe(crc32(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data])));
  const ihdr = cs[0].data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  expect(ihdr[8]).toBe(8);
  const colourType = ihdr[9];
  const ch = colourType === 6 ? 4 : 3;
  const raw = inflateSync(cs[1].data);
  expect(raw.length).toBe(height * (width * ch + 1));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = y * (width * ch + 1);
    expect(raw[row]).toBe(0);
    for (let x = 0; x < width; x++) {
      const s = row + 1 + x * ch;
      rgba.set([raw[s], raw[s + 1], raw[s + 2], ch === 4 ? raw[s + 3] : 255], (y * width + x) * 4);
    }
  }
  return { width, height, rgba, colourType };
}

describe('encodePng', () => {
  it('round-trips an opaque image as 8-bit RGB', () => {
    const w = 7;
    const h = 5;
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.set([(i * 37) & 0xff, (i * 11) & 0xff, (i * 5 + 3) & 0xff, 255], i * 4);
    const d = decode(encodePng(w, h, rgba));
    expect([d.width, d.height, d.colourType]).toEqual([w, h, 2]);
    expect(Buffer.from(d.rgba).equals(Buffer.from(rgba))).toBe(true);
  });

  it('keeps alpha when some pixel is not opaque', () => {
    const rgba = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 255]);
    const d = decode(encodePng(2, 1, rgba));
    expect(d.colourType).toBe(6);
    expect(Array.from(d.rgba)).toEqual(Array.from(rgba));
  });

  it('refuses sizes that do not match the pixels', () => {
    expect(() => encodePng(2, 2, new Uint8Array(12))).toThrow(/not 2x2 RGBA/);
    expect(() => encodePng(0, 2, new Uint8Array(0))).toThrow(/cannot encode/);
  });
});
