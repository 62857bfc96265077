import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { CowOverlay, isIso9660, isQcow2, openImage, Qcow2Image, RawImage, sectorCount } from '../../engine/block.ts';

/** Sector `lba` of a test image: every byte says which sector and offset it is. */
function patterned(sectors: number, ss = 512): Uint8Array {
  const b = new Uint8Array(sectors * ss);
  for (let i = 0; i < b.length; i++) b[i] = (Math.floor(i / ss) * 7 + i) & 0xff;
  return b;
}

describe('RawImage', () => {
  it('reads sectors as fresh copies and refuses writes', () => {
    const bytes = patterned(8);
    const img = new RawImage(bytes, 512, 'disk.img');
    expect(img.size).toBe(4096);
    expect(sectorCount(img)).toBe(8);
    const s = img.read(2, 2);
    expect(s).toEqual(bytes.subarray(1024, 2048));
    s[0] ^= 0xff;
    expect(img.read(2, 1)[0]).toBe(bytes[1024]);
    expect(() => img.write()).toThrow(/disk\.img is read-only.*CowOverlay/);
    expect(() => img.read(7, 2)).toThrow(RangeError);
  });

  it('pads a partial last sector with zeros', () => {
    const img = new RawImage(new Uint8Array(700).fill(9));
    expect(sectorCount(img)).toBe(2);
    const s = img.read(1, 1);
    expect(s.subarray(0, 188).every((b) => b === 9)).toBe(true);
    expect(s.subarray(188).every((b) => b === 0)).toBe(true);
  });

  it('recognises ISO 9660 images, read as 2048-byte sectors', () => {
    const iso = new Uint8Array(20 * 2048);
    iso.set([1, 0x43, 0x44, 0x30, 0x30, 0x31, 1], 16 * 2048);
    expect(isIso9660(iso)).toBe(true);
    expect(isIso9660(new Uint8Array(20 * 2048))).toBe(false);
    const m = openImage(iso, 'cd.iso', 2048);
    expect(m.sectorSize).toBe(2048);
    expect(sectorCount(m)).toBe(20);
    expect(m.read(16, 1).subarray(1, 6)).toEqual(new Uint8Array([0x43, 0x44, 0x30, 0x30, 0x31]));
  });
});

describe('CowOverlay', () => {
  it('shows writes in reads and never touches the base image', () => {
    const bytes = patterned(16);
    const pristine = bytes.slice();
    const ov = new CowOverlay(new RawImage(bytes));
    const w = new Uint8Array(1024).fill(0xab);
    ov.write(5, w);
    const r = ov.read(4, 4);
    expect(r.subarray(0, 512)).toEqual(pristine.subarray(4 * 512, 5 * 512));
    expect(r.subarray(512, 1536).every((b) => b === 0xab)).toBe(true);
    expect(r.subarray(1536)).toEqual(pristine.subarray(7 * 512, 8 * 512));
    expect(bytes).toEqual(pristine);
    expect(ov.writtenSectors).toBe(2);
    // The caller's buffer is copied, not kept.
    w.fill(0);
    expect(ov.read(5, 1)[0]).toBe(0xab);
  });

  it('saves and loads its sectors as plain data; a saved state is unaffected by later writes', () => {
    const base = new RawImage(patterned(16));
    const a = new CowOverlay(base);
    a.write(3, new Uint8Array(512).fill(1));
    a.write(1, new Uint8Array(512).fill(2));
    const saved = a.save();
    expect(saved.sectors.map(([k]) => k)).toEqual([1, 3]);
    a.write(3, new Uint8Array(512).fill(7));
    a.write(9, new Uint8Array(512).fill(8));
    const b = new CowOverlay(base);
    b.load(unpack(pack(saved)));
    expect(b.read(3, 1).every((x) => x === 1)).toBe(true);
    expect(b.read(1, 1).every((x) => x === 2)).toBe(true);
    expect(b.read(9, 1)).toEqual(base.read(9, 1));
    expect(b.writtenSectors).toBe(2);
    expect(() => new CowOverlay(new RawImage(new Uint8Array(4096), 2048)).load(saved)).toThrow(/has 512-byte sectors, the medium has 2048/);
  });

  it('refuses partial-sector writes and writes past the end', () => {
    const ov = new CowOverlay(new RawImage(new Uint8Array(2048)));
    expect(() => ov.write(0, new Uint8Array(100))).toThrow(/not whole/);
    expect(() => ov.write(4, new Uint8Array(512))).toThrow(RangeError);
  });
});

// ---- qcow2, written by hand ----

interface Qcow2Spec {
  version: 2 | 3;
  clusterBits: number;
  size: number;
  /** guest cluster -> contents, or 'zero' for a v3 zero cluster (given a host cluster anyway). */
  clusters: Map<number, Uint8Array | 'zero'>;
  backing?: boolean;
  compressed?: number;
  encrypted?: boolean;
  incompatible?: number;
}

function buildQcow2(spec: Qcow2Spec): Uint8Array {
  const cs = 2 ** spec.clusterBits;
  const l2Entries = cs / 8;
  const guestClusters = Math.ceil(spec.size / cs);
  const l1Size = Math.ceil(guestClusters / l2Entries);
  // Layout: header, refcount table, L1, one L2 per L1 entry, then data clusters.
  const l1At = 2 * cs;
  const l2At = (i: number) => (3 + i) * cs;
  let next = 3 + l1Size;
  const host = new Map<number, number>();
  for (const c of [...spec.clusters.keys()].sort((x, y) => x - y)) host.set(c, next++ * cs);
  const out = new Uint8Array(next * cs);
  const v = new DataView(out.buffer);
  const u64 = (at: number, x: number) => {
    v.setUint32(at, Math.floor(x / 2 ** 32));
    v.setUint32(at + 4, x >>> 0);
  };
  v.setUint32(0, 0x514649fb);
  v.setUint32(4, spec.version);
  if (spec.backing) {
    u64(8, 200);
    v.setUint32(16, 8);
    out.set(new TextEncoder().encode('base.img'), 200);
  }
  v.setUint32(20, spec.clusterBits);
  u64(24, spec.size);
  v.setUint32(32, spec.encrypted ? 1 : 0);
  v.setUint32(36, l1Size);
  u64(40, l1At);
  u64(48, cs);
  v.setUint32(56, 1);
  if (spec.version === 3) {
    u64(72, spec.incompatible ?? 0);
    v.setUint32(96, 4);
    v.setUint32(100, 104);
  }
  for (let i = 0; i < l1Size; i++) u64(l1At + i * 8, l2At(i));
  for (const [c, data] of spec.clusters) {
    const l1 = Math.floor(c / l2Entries);
    const at = l2At(l1) + (c % l2Entries) * 8;
    const h = host.get(c)!;
    v.setUint32(at, 0x80000000 | Math.floor(h / 2 ** 32));
    v.setUint32(at + 4, (h >>> 0) | (data === 'zero' ? 1 : 0));
    if (c === spec.compressed) v.setUint32(at, v.getUint32(at) | 0x40000000);
    out.set(data === 'zero' ? new Uint8Array(cs).fill(0xee) : data, h);
  }
  return out;
}

describe('Qcow2Image', () => {
  const fill = (n: number, b: number) => new Uint8Array(n).fill(b);

  it('reads a hand-built v3 image: data, zero and unallocated clusters, across two L2 tables', () => {
    const clusters = new Map<number, Uint8Array | 'zero'>([
      [0, fill(512, 0x11)],
      [3, patterned(1)],
      [5, 'zero'],
      [70, fill(512, 0x77)],
    ]);
    const file = buildQcow2({ version: 3, clusterBits: 9, size: 128 * 512, clusters });
    expect(isQcow2(file)).toBe(true);
    const q = new Qcow2Image(file, 'tiny.qcow2');
    expect(q.size).toBe(65536);
    expect(q.version).toBe(3);
    const all = q.read(0, 128);
    const want = new Uint8Array(65536);
    want.set(fill(512, 0x11), 0);
    want.set(patterned(1), 3 * 512);
    want.set(fill(512, 0x77), 70 * 512);
    expect(all).toEqual(want);
    // openImage picks the format by its magic.
    expect(openImage(file, 'tiny.qcow2').read(70, 1)).toEqual(fill(512, 0x77));
    expect(() => openImage(file, 'tiny.qcow2', 2048)).toThrow(/cannot be a CD/);
  });

  it('reads a v2 image with 4 KiB clusters, sectors straddling clusters', () => {
    const c1 = patterned(8);
    const file = buildQcow2({ version: 2, clusterBits: 12, size: 10000, clusters: new Map([[1, c1]]) });
    const q = new Qcow2Image(file);
    expect(sectorCount(q)).toBe(20);
    const r = q.read(6, 4); // bytes 3072..5120: the end of cluster 0 (zeros) and the start of cluster 1
    expect(r.subarray(0, 1024).every((b) => b === 0)).toBe(true);
    expect(r.subarray(1024)).toEqual(c1.subarray(0, 1024));
    // The partial last sector reads as zeros past the virtual size.
    expect(q.read(19, 1).every((b) => b === 0)).toBe(true);
    expect(() => q.write()).toThrow(/read-only/);
  });

  it('refuses what it does not read, with a message saying how to convert', () => {
    const base = { version: 3 as const, clusterBits: 9, size: 4096, clusters: new Map<number, Uint8Array | 'zero'>([[0, fill(512, 1)]]) };
    expect(() => new Qcow2Image(buildQcow2({ ...base, backing: true }), 'b.qcow2')).toThrow(/^b\.qcow2: has a backing file.*qemu-img convert/);
    expect(() => new Qcow2Image(buildQcow2({ ...base, compressed: 0 }), 'c.qcow2')).toThrow(/compressed clusters.*qemu-img convert/);
    expect(() => new Qcow2Image(buildQcow2({ ...base, encrypted: true }))).toThrow(/encrypted/);
    expect(() => new Qcow2Image(buildQcow2({ ...base, incompatible: 2 }))).toThrow(/corrupt/);
    expect(() => new Qcow2Image(buildQcow2({ ...base, incompatible: 16 }))).toThrow(/extended L2/);
    expect(() => new Qcow2Image(buildQcow2({ ...base, incompatible: 1 }))).not.toThrow(); // dirty: fine to read
    const v4 = buildQcow2(base);
    new DataView(v4.buffer).setUint32(4, 4);
    expect(() => new Qcow2Image(v4)).toThrow(/version 4/);
    expect(() => new Qcow2Image(new Uint8Array(512))).toThrow(/bad magic/);
    const cut = buildQcow2(base);
    expect(() => new Qcow2Image(cut.subarray(0, cut.length - 512))).toThrow(/truncated or corrupt/);
  });

  it('serves as the base of an overlay', () => {
    const file = buildQcow2({ version: 3, clusterBits: 9, size: 8192, clusters: new Map([[2, fill(512, 0x42)]]) });
    const ov = new CowOverlay(new Qcow2Image(file));
    ov.write(3, fill(512, 0x43));
    expect(ov.read(2, 2)).toEqual(new Uint8Array([...fill(512, 0x42), ...fill(512, 0x43)]));
  });
});
