// Block media: what a disk or CD drive reads its sectors from.
//
//   RawImage      a flat image over bytes the command line hands in (never modified); ISO 9660
//                 images are raw media with 2048-byte sectors.
//   Qcow2Image    a read-only QEMU qcow2 (version 2 or 3) image: L1/L2 cluster tables, zero
//                 clusters, unallocated clusters read as zeros.
//   CowOverlay    the copy-on-write layer that belongs to the run: a sparse map of written
//                 sectors over a read-only base. Its state is plain data (sector number and
//                 bytes), saved with the machine, so snapshots carry the guest's disk writes.
//
// Leaves out: qcow2 compressed clusters, backing files, encryption, external data files and
// extended L2 entries (each refused with a one-line message saying how to convert the image);
// writing qcow2 (writes go to the overlay); VMDK/VHD and other formats.

/** A random-access medium of fixed-size sectors. */
export interface BlockMedia {
  /** Size in bytes. */
  readonly size: number;
  /** Bytes per sector: 512 for disks, 2048 for CD/DVD media. */
  readonly sectorSize: number;
  /** True when `write` is refused (base images). */
  readonly readOnly?: boolean;
  /** `count` sectors from `lba`, as a fresh array the caller may modify. A partial last sector reads as zeros past the end. */
  read(lba: number, count: number): Uint8Array;
  /** Write whole sectors (`data.length` a multiple of the sector size) at `lba`. */
  write(lba: number, data: Uint8Array): void;
  /** Run state (an overlay's written sectors); absent for configuration-only media. */
  save?(): unknown;
  load?(s: unknown): void;
}

/** Sectors of a medium (a partial last sector counts). */
export function sectorCount(m: BlockMedia): number {
  return Math.ceil(m.size / m.sectorSize);
}

function checkRange(m: BlockMedia, name: string, lba: number, count: number): void {
  if (!Number.isInteger(lba) || !Number.isInteger(count) || lba < 0 || count < 0 || lba + count > sectorCount(m)) {
    throw new RangeError(`${name}: sectors ${lba}+${count} are outside the medium (${sectorCount(m)} sectors)`);
  }
}

/** A flat image. The bytes belong to the caller and are never written. */
export class RawImage implements BlockMedia {
  readonly readOnly = true;
  readonly size: number;

  constructor(
    private readonly bytes: Uint8Array,
    readonly sectorSize = 512,
    readonly name = 'raw image',
  ) {
    if (sectorSize <= 0 || (sectorSize & (sectorSize - 1)) !== 0) throw new Error(`${name}: sector size ${sectorSize} is not a power of two`);
    this.size = bytes.length;
  }

  read(lba: number, count: number): Uint8Array {
    checkRange(this, this.name, lba, count);
    const out = new Uint8Array(count * this.sectorSize);
    const from = lba * this.sectorSize;
    out.set(this.bytes.subarray(from, Math.min(from + out.length, this.size)));
    return out;
  }

  write(): void {
    throw new Error(`${this.name} is read-only: guest writes belong in a CowOverlay over it`);
  }
}

/** ISO 9660 images carry "CD001" at byte 0x8001 (the first volume descriptor, sector 16). */
export function isIso9660(bytes: Uint8Array): boolean {
  if (bytes.length < 0x8006) return false;
  return bytes[0x8001] === 0x43 && bytes[0x8002] === 0x44 && bytes[0x8003] === 0x30 && bytes[0x8004] === 0x30 && bytes[0x8005] === 0x31;
}

export interface OverlayState {
  sectorSize: number;
  /** Written sectors in ascending order. */
  sectors: [number, Uint8Array][];
}

/**
 * Copy-on-write layer: reads see the run's writes, the base stays untouched. Each written
 * sector is stored as a fresh array that is never modified afterwards, so a saved state can
 * share those arrays with the live overlay and stays valid as the run goes on.
 */
export class CowOverlay implements BlockMedia {
  readonly readOnly = false;
  private written = new Map<number, Uint8Array>();

  constructor(
    readonly base: BlockMedia,
    readonly name = 'overlay',
  ) {}

  get size(): number {
    return this.base.size;
  }
  get sectorSize(): number {
    return this.base.sectorSize;
  }
  /** Number of sectors the run has written. */
  get writtenSectors(): number {
    return this.written.size;
  }

  read(lba: number, count: number): Uint8Array {
    checkRange(this, this.name, lba, count);
    const ss = this.sectorSize;
    const out = new Uint8Array(count * ss);
    // Runs of unwritten sectors come from the base in one call.
    let runStart = -1;
    const flush = (end: number) => {
      if (runStart < 0) return;
      out.set(this.base.read(lba + runStart, end - runStart), runStart * ss);
      runStart = -1;
    };
    for (let i = 0; i < count; i++) {
      const w = this.written.get(lba + i);
      if (w === undefined) {
        if (runStart < 0) runStart = i;
      } else {
        flush(i);
        out.set(w, i * ss);
      }
    }
    flush(count);
    return out;
  }

  write(lba: number, data: Uint8Array): void {
    const ss = this.sectorSize;
    if (data.length % ss !== 0) throw new Error(`${this.name}: a write of ${data.length} bytes is not whole ${ss}-byte sectors`);
    const count = data.length / ss;
    checkRange(this, this.name, lba, count);
    for (let i = 0; i < count; i++) this.written.set(lba + i, data.slice(i * ss, (i + 1) * ss));
  }

  /** Drop every write (a fresh run over the same base). */
  discard(): void {
    this.written = new Map();
  }

  save(): OverlayState {
    const keys = [...this.written.keys()].sort((a, b) => a - b);
    return { sectorSize: this.sectorSize, sectors: keys.map((k) => [k, this.written.get(k)!]) };
  }

  load(s: unknown): void {
    const st = s as OverlayState;
    if (st.sectorSize !== this.sectorSize) {
      throw new Error(`${this.name}: snapshot overlay has ${st.sectorSize}-byte sectors, the medium has ${this.sectorSize}`);
    }
    this.written = new Map(st.sectors.map(([k, v]) => [k, ownBytes(v, this.sectorSize, this.name)] as [number, Uint8Array]));
  }
}

/**
 * A sector from a decoded snapshot, as a plain Uint8Array. Arrays that are exactly Uint8Array
 * are shared (nothing ever modifies a stored sector); views such as Node's Buffer are copied.
 */
function ownBytes(v: Uint8Array, size: number, name: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== size) throw new Error(`${name}: snapshot overlay holds a malformed sector`);
  return v.constructor === Uint8Array ? v : new Uint8Array(v);
}

// ---- qcow2 ----

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
/** Offset bits 9-55 of an L1/L2 entry, as the high and low 32-bit halves. */
const OFFSET_MASK_HI = 0x00ffffff;
const OFFSET_MASK_LO = 0xfffffe00;

/** A read-only qcow2 image (QEMU docs/interop/qcow2.txt), validated completely when opened. */
export class Qcow2Image implements BlockMedia {
  readonly readOnly = true;
  readonly sectorSize = 512;
  readonly size: number;
  readonly version: number;
  readonly clusterBits: number;
  private readonly view: DataView;
  private readonly l2Bits: number;
  /** Host offset of each guest cluster: > 0 data, 0 unallocated (zeros), -1 zero cluster. */
  private readonly map: Float64Array;

  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'qcow2 image',
  ) {
    const fail = (why: string): never => {
      throw new Error(`${name}: ${why}`);
    };
    if (bytes.length < 72) fail('too short to be a qcow2 image');
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = v;
    if (v.getUint32(0) !== QCOW2_MAGIC) fail('not a qcow2 image (bad magic)');
    const version = v.getUint32(4);
    if (version !== 2 && version !== 3) fail(`qcow2 version ${version} is not supported (only 2 and 3)`);
    this.version = version;
    if (this.u64(8) !== 0) fail('has a backing file, which bitrot does not follow; flatten it with `qemu-img convert -O qcow2`');
    const clusterBits = v.getUint32(20);
    if (clusterBits < 9 || clusterBits > 21) fail(`cluster_bits ${clusterBits} is out of range (9-21)`);
    this.clusterBits = clusterBits;
    this.size = this.u64(24);
    if (v.getUint32(32) !== 0) fail('is encrypted; decrypt it with `qemu-img convert -O qcow2`');
    const l1Size = v.getUint32(36);
    const l1Offset = this.u64(40);
    if (version === 3) {
      if (bytes.length < 104) fail('header is truncated');
      const incompatHi = v.getUint32(72);
      const incompatLo = v.getUint32(76);
      // bit 0 dirty (harmless for reading), 1 corrupt, 2 external data file, 3 compression type, 4 extended L2
      if (incompatLo & 2) fail('is marked corrupt; repair it with `qemu-img check -r all`');
      if (incompatLo & 4) fail('uses an external data file, which bitrot does not follow; convert it with `qemu-img convert -O qcow2`');
      if (incompatLo & 16) fail('uses extended L2 entries (subclusters); convert it with `qemu-img convert -O qcow2`');
      if (incompatHi !== 0 || (incompatLo & ~0x1f) !== 0) fail('uses incompatible features bitrot does not know; convert it with `qemu-img convert -O qcow2`');
    }
    const clusterSize = 2 ** clusterBits;
    this.l2Bits = clusterBits - 3;
    const clusters = Math.ceil(this.size / clusterSize);
    const l2Entries = 2 ** this.l2Bits;
    const needL1 = Math.ceil(clusters / l2Entries);
    if (l1Size < needL1) fail(`L1 table has ${l1Size} entries but the virtual size needs ${needL1}`);
    if (needL1 > 0 && (l1Offset % clusterSize !== 0 || l1Offset + needL1 * 8 > bytes.length)) fail('L1 table lies outside the file; the image is truncated or corrupt');
    const map = new Float64Array(clusters);
    for (let i = 0; i < needL1; i++) {
      const l2Offset = this.entryOffset(l1Offset + i * 8);
      if (l2Offset === 0) continue;
      if (l2Offset % clusterSize !== 0 || l2Offset + clusterSize > bytes.length) fail(`L2 table ${i} lies outside the file; the image is truncated or corrupt`);
      for (let j = 0; j < l2Entries; j++) {
        const c = i * l2Entries + j;
        if (c >= clusters) break;
        const at = l2Offset + j * 8;
        const hi = v.getUint32(at);
        const lo = v.getUint32(at + 4);
        if (hi & 0x40000000) fail('has compressed clusters, which bitrot does not read; convert it with `qemu-img convert -O qcow2` (without -c)');
        const off = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
        if (version === 3 && lo & 1) {
          map[c] = -1;
          continue;
        }
        if (off === 0) continue;
        // A data cluster at the very end of the file may be cut short (reads past the end are zeros).
        if (off % clusterSize !== 0 || off >= bytes.length) fail(`cluster ${c} lies outside the file; the image is truncated or corrupt`);
        map[c] = off;
      }
    }
    this.map = map;
  }

  private u64(at: number): number {
    return this.view.getUint32(at) * 4294967296 + this.view.getUint32(at + 4);
  }

  private entryOffset(at: number): number {
    const hi = this.view.getUint32(at);
    const lo = this.view.getUint32(at + 4);
    return (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
  }

  read(lba: number, count: number): Uint8Array {
    checkRange(this, this.name, lba, count);
    const out = new Uint8Array(count * 512);
    const clusterSize = 2 ** this.clusterBits;
    let pos = lba * 512;
    const end = Math.min(pos + out.length, this.size);
    while (pos < end) {
      const c = Math.floor(pos / clusterSize);
      const inCluster = pos - c * clusterSize;
      const n = Math.min(clusterSize - inCluster, end - pos);
      const host = this.map[c];
      if (host > 0) {
        const from = host + inCluster;
        out.set(this.bytes.subarray(from, Math.min(from + n, this.bytes.length)), pos - lba * 512);
      }
      pos += n;
    }
    return out;
  }

  write(): void {
    throw new Error(`${this.name} is read-only: guest writes belong in a CowOverlay over it`);
  }
}

export function isQcow2(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x51 && bytes[1] === 0x46 && bytes[2] === 0x49 && bytes[3] === 0xfb;
}

/**
 * Open an image the command line read: qcow2 by its magic, anything else raw. `sectorSize`
 * applies to raw images (2048 for a CD/DVD, 512 for a disk); qcow2 always has 512.
 */
export function openImage(bytes: Uint8Array, name: string, sectorSize = 512): BlockMedia {
  if (isQcow2(bytes)) {
    const q = new Qcow2Image(bytes, name);
    if (sectorSize !== 512) throw new Error(`${name}: a qcow2 image cannot be a CD; convert it to a raw ISO with \`qemu-img convert -O raw\``);
    return q;
  }
  return new RawImage(bytes, sectorSize, name);
}
