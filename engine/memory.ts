// Physical memory map at 4 KiB granularity (DESIGN.md: "The machine", contracts 4 and 5).
//
// One backing buffer holds RAM followed by ROM images. `pageMap[physPage]` holds the
// backing offset of the page (4 KiB aligned) OR-ed with kind bits in the low 12 bits, so a
// hot access is one typed-array load plus a bit test:
//   read:  (e & READ_SLOW) === 0  -> backing[(e & ~0xfff) | offset]
//   write: (e & WRITE_SLOW) === 0 -> backing[...] = v
// Everything else (MMIO, ROM writes, first write to a clean page, writes to pages holding
// decoded code, fault-seam pages with stuck bits, unmapped holes) takes the slow path.
//
// Leaves out: memory-type ranges (MTRR/PAT have no effect on an emulator), ECC.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
const NUM_PAGES = 1 << 20; // 4 GiB physical

/** Low bits of a pageMap entry. */
export const enum PageBits {
  WRITE_SLOW = 1,
  READ_SLOW = 2,
  /** RAM not written since the dirty set was last taken (first write marks it dirty). */
  CLEAN = 4,
  /** RAM holding decoded instructions: a write invalidates them. */
  CODE = 8,
  ROM = 16,
  MMIO = 32,
  /** A fault seam hooked this page (stuck-at bits, coupling faults). */
  HOOKED = 64,
  UNMAPPED = 128,
  /** A debugger watches this page: every data access is reported to `onWatch`. */
  WATCHED = 256,
}

export interface MmioHandler {
  read8(addr: number): number;
  write8(addr: number, value: number): void;
  read16?(addr: number): number;
  write16?(addr: number, value: number): void;
  read32?(addr: number): number;
  write32?(addr: number, value: number): void;
}

/**
 * Fault seam for physical memory: a hook on one page sees every access to it. `read`
 * returns the value the CPU sees; `write` returns the value actually stored.
 */
export interface MemoryPageHook {
  read(addr: number, stored: number): number;
  write(addr: number, value: number, old: number): number;
}

export interface MemoryState {
  ramSize: number;
  a20: boolean;
  /** RAM pages, as [pageIndex, bytes] pairs: all pages, or the dirty ones since a base. */
  pages: [number, Uint8Array][];
  full: boolean;
}

export class PhysicalMemory {
  readonly backing: Uint8Array;
  readonly pageMap = new Int32Array(NUM_PAGES);
  readonly ramSize: number;
  private romTop: number;
  /** Bumped each time a page holding decoded code is written; keys the decoded-block cache. */
  readonly codeGen = new Uint32Array(NUM_PAGES);
  /** RAM pages written since the last `takeDirty()`. */
  readonly dirty: Uint8Array;
  /** RAM pages written (or restored) since power-on: the others are all zeros. */
  private readonly everWritten: Uint8Array;
  private readonly mmio = new Map<number, MmioHandler>();
  private readonly hooks = new Map<number, MemoryPageHook>();
  /** 0xffffffff with the A20 gate open, 0xffefffff with it closed (bit 20 forced low). */
  a20Mask = -1;
  /** Called when a write hits a CODE page (the CPU drops its decoded blocks there). */
  onCodeWrite: (page: number) => void = () => {};
  /**
   * Debugger watchpoints (gdbstub/): every access to a WATCHED page is reported, byte by byte
   * (or once for a 16/32-bit MMIO access), before it happens, while `watchQuiet` is 0.
   * Instruction fetches and page walks raise `watchQuiet`: they are not data accesses.
   */
  onWatch: ((addr: number, size: number, write: boolean) => void) | null = null;
  watchQuiet = 0;
  /** Number of WATCHED pages (0: the CPU skips the quiet bookkeeping of page walks). */
  watchedCount = 0;
  private readonly watched = new Set<number>();

  constructor(ramSize: number, romSpace = 1 << 20) {
    if (ramSize % PAGE_SIZE !== 0) throw new Error('memory: RAM size must be a multiple of 4 KiB');
    this.ramSize = ramSize;
    this.romTop = ramSize;
    this.backing = new Uint8Array(ramSize + romSpace);
    this.dirty = new Uint8Array(ramSize >>> PAGE_SHIFT);
    this.everWritten = new Uint8Array(ramSize >>> PAGE_SHIFT);
    this.pageMap.fill(PageBits.UNMAPPED | PageBits.READ_SLOW | PageBits.WRITE_SLOW);
    for (let p = 0; p < ramSize >>> PAGE_SHIFT; p++) this.pageMap[p] = (p << PAGE_SHIFT) | PageBits.CLEAN | PageBits.WRITE_SLOW;
  }

  // ---- map construction (machine set-up, PAM, MMIO BARs) ----

  /** Copy a ROM image into the backing buffer and return its backing offset. */
  addRom(image: Uint8Array): number {
    const size = (image.length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (this.romTop + size > this.backing.length) throw new Error('memory: ROM space exhausted');
    const off = this.romTop;
    this.backing.set(image, off);
    this.romTop += size;
    return off;
  }

  /** Map `size` bytes at physical `addr` to the ROM copy at backing offset `off`. */
  mapRom(addr: number, off: number, size: number): void {
    for (let i = 0; i < size; i += PAGE_SIZE) {
      this.setPage((addr + i) >>> PAGE_SHIFT, (off + i) | PageBits.ROM | PageBits.WRITE_SLOW);
    }
  }

  /** Map physical pages back to the RAM behind them (e.g. PAM set to read/write RAM). */
  mapRam(addr: number, size: number): void {
    for (let i = 0; i < size; i += PAGE_SIZE) {
      const p = (addr + i) >>> PAGE_SHIFT;
      const bits = this.dirty[p] ? 0 : PageBits.CLEAN | PageBits.WRITE_SLOW;
      this.setPage(p, (p << PAGE_SHIFT) | bits);
    }
  }

  mapMmio(addr: number, size: number, h: MmioHandler): void {
    for (let i = 0; i < size; i += PAGE_SIZE) {
      const p = (addr + i) >>> PAGE_SHIFT;
      this.mmio.set(p, h);
      this.setPage(p, PageBits.MMIO | PageBits.READ_SLOW | PageBits.WRITE_SLOW);
    }
  }

  unmap(addr: number, size: number): void {
    for (let i = 0; i < size; i += PAGE_SIZE) {
      const p = (addr + i) >>> PAGE_SHIFT;
      this.mmio.delete(p);
      this.setPage(p, PageBits.UNMAPPED | PageBits.READ_SLOW | PageBits.WRITE_SLOW);
    }
  }

  private setPage(p: number, entry: number): void {
    if (this.pageMap[p] & PageBits.CODE) this.invalidateCode(p);
    if (this.hooks.has(p)) entry |= PageBits.HOOKED | PageBits.READ_SLOW | PageBits.WRITE_SLOW;
    if (this.watched.has(p)) entry |= PageBits.WATCHED | PageBits.READ_SLOW | PageBits.WRITE_SLOW;
    this.pageMap[p] = entry;
    this.codeGen[p]++;
  }

  // ---- fault seam ----

  /** Hook every access to a RAM page (the fault seam for stuck-at and coupling faults). */
  hookPage(page: number, hook: MemoryPageHook | undefined): void {
    if (hook) {
      this.hooks.set(page, hook);
      this.pageMap[page] |= PageBits.HOOKED | PageBits.READ_SLOW | PageBits.WRITE_SLOW;
    } else {
      this.hooks.delete(page);
      const e = this.pageMap[page] & ~(PageBits.HOOKED | PageBits.READ_SLOW | PageBits.WRITE_SLOW);
      const mmio = (e & (PageBits.MMIO | PageBits.UNMAPPED)) !== 0;
      const slowW = mmio || (e & (PageBits.CLEAN | PageBits.CODE | PageBits.ROM | PageBits.WATCHED)) !== 0;
      const slowR = mmio || (e & PageBits.WATCHED) !== 0;
      this.pageMap[page] = e | (slowR ? PageBits.READ_SLOW : 0) | (slowW ? PageBits.WRITE_SLOW : 0);
    }
    this.codeGen[page]++;
  }

  // ---- debugger watch seam ----

  /** Watch (or stop watching) every access to one physical page (debugger watchpoints). */
  watchPage(page: number, on: boolean): void {
    if (on === this.watched.has(page)) return;
    if (on) {
      this.watched.add(page);
      this.pageMap[page] |= PageBits.WATCHED | PageBits.READ_SLOW | PageBits.WRITE_SLOW;
    } else {
      this.watched.delete(page);
      const e = this.pageMap[page] & ~(PageBits.WATCHED | PageBits.READ_SLOW | PageBits.WRITE_SLOW);
      const slow = (e & (PageBits.MMIO | PageBits.UNMAPPED | PageBits.HOOKED)) !== 0;
      const slowW = slow || (e & (PageBits.CLEAN | PageBits.CODE | PageBits.ROM)) !== 0;
      this.pageMap[page] = e | (slow ? PageBits.READ_SLOW : 0) | (slowW ? PageBits.WRITE_SLOW : 0);
    }
    this.watchedCount = this.watched.size;
  }

  private watchHit(addr: number, size: number, write: boolean): void {
    if (this.watchQuiet === 0 && this.onWatch !== null) this.onWatch(addr, size, write);
  }

  /** Flip one bit of physical memory, now (the transient-flip seam). Bypasses hooks. */
  flipBit(addr: number, bit: number): void {
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if (e & (PageBits.MMIO | PageBits.UNMAPPED)) return;
    const i = (e & ~0xfff) | (addr & 0xfff);
    this.backing[i] ^= 1 << bit;
    this.noteWrite(addr >>> PAGE_SHIFT);
  }

  // ---- code tracking ----

  /** The CPU decoded instructions from this page: writes to it must invalidate them. */
  markCode(page: number): void {
    const e = this.pageMap[page];
    if ((e & (PageBits.CODE | PageBits.ROM | PageBits.MMIO | PageBits.UNMAPPED)) === 0) {
      this.pageMap[page] = e | PageBits.CODE | PageBits.WRITE_SLOW;
    }
  }

  private invalidateCode(p: number): void {
    this.codeGen[p]++;
    this.onCodeWrite(p);
  }

  private noteWrite(p: number): void {
    const e = this.pageMap[p];
    if (e & PageBits.CODE) this.invalidateCode(p);
    if (e & (PageBits.CLEAN | PageBits.CODE)) {
      let n = e & ~(PageBits.CLEAN | PageBits.CODE);
      if ((n & (PageBits.HOOKED | PageBits.ROM | PageBits.WATCHED)) === 0) n &= ~PageBits.WRITE_SLOW;
      this.pageMap[p] = n;
    }
    if (p < this.dirty.length) this.dirty[p] = 1;
  }

  // ---- access (physical addresses; the A20 mask is applied by the caller) ----

  read8(addr: number): number {
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((e & PageBits.READ_SLOW) === 0) return this.backing[(e & ~0xfff) | (addr & 0xfff)];
    return this.slowRead8(addr, e);
  }

  write8(addr: number, v: number): void {
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((e & PageBits.WRITE_SLOW) === 0) {
      this.backing[(e & ~0xfff) | (addr & 0xfff)] = v;
      return;
    }
    this.slowWrite8(addr, v & 0xff, e);
  }

  read16(addr: number): number {
    if ((addr & 0xfff) === 0xfff) return this.read8(addr) | (this.read8((addr + 1) | 0) << 8);
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((e & PageBits.READ_SLOW) === 0) {
      const i = (e & ~0xfff) | (addr & 0xfff);
      return this.backing[i] | (this.backing[i + 1] << 8);
    }
    const h = e & PageBits.MMIO ? this.mmio.get(addr >>> PAGE_SHIFT) : undefined;
    if (h && h.read16) {
      if (e & PageBits.WATCHED) this.watchHit(addr, 2, false);
      return h.read16(addr) & 0xffff;
    }
    return this.slowRead8(addr, e) | (this.slowRead8(addr + 1, e) << 8);
  }

  read32(addr: number): number {
    if ((addr & 0xfff) > 0xffc) return this.read16(addr) | (this.read16((addr + 2) | 0) << 16);
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((e & PageBits.READ_SLOW) === 0) {
      const b = this.backing;
      const i = (e & ~0xfff) | (addr & 0xfff);
      return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    }
    const h = e & PageBits.MMIO ? this.mmio.get(addr >>> PAGE_SHIFT) : undefined;
    if (h && h.read32) {
      if (e & PageBits.WATCHED) this.watchHit(addr, 4, false);
      return h.read32(addr) | 0;
    }
    return (
      this.slowRead8(addr, e) |
      (this.slowRead8(addr + 1, e) << 8) |
      (this.slowRead8(addr + 2, e) << 16) |
      (this.slowRead8(addr + 3, e) << 24)
    );
  }

  write16(addr: number, v: number): void {
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((addr & 0xfff) !== 0xfff && (e & PageBits.WRITE_SLOW) === 0) {
      const i = (e & ~0xfff) | (addr & 0xfff);
      this.backing[i] = v;
      this.backing[i + 1] = v >> 8;
      return;
    }
    const h = e & PageBits.MMIO && (addr & 0xfff) !== 0xfff ? this.mmio.get(addr >>> PAGE_SHIFT) : undefined;
    if (h && h.write16) {
      if (e & PageBits.WATCHED) this.watchHit(addr, 2, true);
      return h.write16(addr, v & 0xffff);
    }
    this.write8(addr, v & 0xff);
    this.write8((addr + 1) | 0, (v >> 8) & 0xff);
  }

  write32(addr: number, v: number): void {
    const e = this.pageMap[addr >>> PAGE_SHIFT];
    if ((addr & 0xfff) <= 0xffc && (e & PageBits.WRITE_SLOW) === 0) {
      const b = this.backing;
      const i = (e & ~0xfff) | (addr & 0xfff);
      b[i] = v;
      b[i + 1] = v >> 8;
      b[i + 2] = v >> 16;
      b[i + 3] = v >> 24;
      return;
    }
    const h = e & PageBits.MMIO && (addr & 0xfff) <= 0xffc ? this.mmio.get(addr >>> PAGE_SHIFT) : undefined;
    if (h && h.write32) {
      if (e & PageBits.WATCHED) this.watchHit(addr, 4, true);
      return h.write32(addr, v | 0);
    }
    this.write16(addr, v & 0xffff);
    this.write16((addr + 2) | 0, (v >>> 16) & 0xffff);
  }

  private slowRead8(addr: number, e: number): number {
    const p = addr >>> PAGE_SHIFT;
    if (e & PageBits.WATCHED) this.watchHit(addr, 1, false);
    if (e & PageBits.MMIO) {
      const h = this.mmio.get(p);
      return h ? h.read8(addr) & 0xff : 0xff;
    }
    if (e & PageBits.UNMAPPED) return 0xff;
    const stored = this.backing[(e & ~0xfff) | (addr & 0xfff)];
    if (e & PageBits.HOOKED) {
      const h = this.hooks.get(p);
      if (h) return h.read(addr, stored) & 0xff;
    }
    return stored;
  }

  private slowWrite8(addr: number, v: number, e: number): void {
    const p = addr >>> PAGE_SHIFT;
    if (e & PageBits.WATCHED) this.watchHit(addr, 1, true);
    if (e & PageBits.MMIO) {
      this.mmio.get(p)?.write8(addr, v);
      return;
    }
    if (e & (PageBits.UNMAPPED | PageBits.ROM)) return;
    const i = (e & ~0xfff) | (addr & 0xfff);
    if (e & PageBits.HOOKED) {
      const h = this.hooks.get(p);
      if (h) v = h.write(addr, v, this.backing[i]) & 0xff;
    }
    this.backing[i] = v;
    this.noteWrite(p);
  }

  /** Read a span of physical memory (no side effects on MMIO: holes read as 0xff). */
  readBytes(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const a = addr + i;
      const e = this.pageMap[a >>> PAGE_SHIFT];
      out[i] = e & (PageBits.MMIO | PageBits.UNMAPPED) ? 0xff : this.backing[(e & ~0xfff) | (a & 0xfff)];
    }
    return out;
  }

  /** Load bytes into RAM/ROM backing (machine set-up, test harnesses). Marks pages dirty. */
  load(addr: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const a = addr + i;
      const p = a >>> PAGE_SHIFT;
      const e = this.pageMap[p];
      if (e & (PageBits.MMIO | PageBits.UNMAPPED)) continue;
      this.backing[(e & ~0xfff) | (a & 0xfff)] = data[i];
      if ((i & 0xfff) === 0 || (a & 0xfff) === 0) this.noteWrite(p);
    }
    if (data.length > 0) this.noteWrite((addr + data.length - 1) >>> PAGE_SHIFT);
  }

  // ---- snapshots ----

  /**
   * A consumer of the dirty set (the incremental state hash, a snapshot store) gets its own
   * bitmap: `syncDirty()` ORs the pages written since the last sync into every tracker and
   * puts those pages back on the slow path, so each consumer sees every write exactly once
   * whoever synced last. A consumer clears bits in its own bitmap as it uses them.
   */
  addDirtyTracker(): Uint8Array {
    const t = new Uint8Array(this.dirty.length);
    this.trackers.push(t);
    return t;
  }

  removeDirtyTracker(t: Uint8Array): void {
    const i = this.trackers.indexOf(t);
    if (i >= 0) this.trackers.splice(i, 1);
  }

  private readonly trackers: Uint8Array[] = [];

  /**
   * RAM pages that may hold something other than zeros: written (or restored) since power-on.
   * Every other page is all zeros, which lets a state hash skip them.
   */
  mayBeNonZero(p: number): boolean {
    return this.dirty[p] !== 0 || this.everWritten[p] !== 0;
  }

  /** Move the pages written since the last sync into every tracker; those pages turn CLEAN. */
  syncDirty(): void {
    const d = this.dirty;
    const ts = this.trackers;
    for (let p = 0; p < d.length; p++) {
      if (d[p] === 0) continue;
      d[p] = 0;
      this.everWritten[p] = 1;
      for (let k = 0; k < ts.length; k++) ts[k][p] = 1;
      const e = this.pageMap[p];
      if ((e & ~0xfff) === p << PAGE_SHIFT && (e & (PageBits.MMIO | PageBits.UNMAPPED | PageBits.ROM)) === 0) {
        this.pageMap[p] = e | PageBits.CLEAN | PageBits.WRITE_SLOW;
      }
    }
  }

  /** Pages written since the last call (through a tracker of its own), and reset the set. */
  takeDirty(): number[] {
    if (this.ownTracker === null) this.ownTracker = this.addDirtyTracker();
    this.syncDirty();
    const t = this.ownTracker;
    const out: number[] = [];
    for (let p = 0; p < t.length; p++) {
      if (t[p]) {
        out.push(p);
        t[p] = 0;
      }
    }
    return out;
  }

  private ownTracker: Uint8Array | null = null;

  /** All RAM (`full`), or the pages written since the last sync. */
  save(full = true): MemoryState {
    const pages: [number, Uint8Array][] = [];
    const n = this.ramSize >>> PAGE_SHIFT;
    const d = this.dirty;
    for (let p = 0; p < n; p++) {
      if (full || d[p]) pages.push([p, this.backing.slice(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT)]);
    }
    return { ramSize: this.ramSize, a20: this.a20Mask === -1, pages, full };
  }

  restore(s: MemoryState): void {
    if (s.ramSize !== this.ramSize) throw new Error(`memory: snapshot has ${s.ramSize} bytes of RAM, machine has ${this.ramSize}`);
    if (s.full) {
      this.backing.fill(0, 0, this.ramSize);
      this.markAllRestored();
      for (const [p, bytes] of s.pages) this.backing.set(bytes, p << PAGE_SHIFT);
    } else for (const [p, bytes] of s.pages) this.restorePage(p, bytes);
    this.a20Mask = s.a20 ? -1 : ~(1 << 20);
  }

  /**
   * Put one RAM page back to saved contents (snapshot restore). Decoded code on it is
   * dropped and every dirty tracker sees the page as written.
   */
  restorePage(p: number, bytes: Uint8Array): void {
    this.backing.set(bytes, p << PAGE_SHIFT);
    this.everWritten[p] = 1;
    this.codeGen[p]++;
    if (this.pageMap[p] & PageBits.CODE) this.onCodeWrite(p);
    const ts = this.trackers;
    for (let k = 0; k < ts.length; k++) ts[k][p] = 1;
  }

  private markAllRestored(): void {
    const n = this.ramSize >>> PAGE_SHIFT;
    this.everWritten.fill(1);
    for (let p = 0; p < n; p++) {
      this.codeGen[p]++;
      if (this.pageMap[p] & PageBits.CODE) this.onCodeWrite(p);
    }
    for (const t of this.trackers) t.fill(1);
  }


}
