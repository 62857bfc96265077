import { describe, expect, it } from 'vitest';
import { PhysicalMemory, PageBits } from '../../engine/memory.ts';

describe('PhysicalMemory', () => {
  it('reads and writes RAM at every width, across page boundaries', () => {
    const m = new PhysicalMemory(64 * 1024);
    m.write32(0x0ffe, 0x11223344);
    expect(m.read8(0x0ffe)).toBe(0x44);
    expect(m.read8(0x1001)).toBe(0x11);
    expect(m.read16(0x0fff)).toBe(0x2233);
    expect(m.read32(0x0ffe) >>> 0).toBe(0x11223344);
  });

  it('tracks dirty pages: first write takes the slow path, then the fast one', () => {
    const m = new PhysicalMemory(64 * 1024);
    expect(m.pageMap[3] & PageBits.WRITE_SLOW).toBeTruthy();
    m.write8(0x3005, 1);
    expect(m.pageMap[3] & PageBits.WRITE_SLOW).toBe(0);
    expect(m.takeDirty()).toEqual([3]);
    expect(m.pageMap[3] & PageBits.WRITE_SLOW).toBeTruthy();
    expect(m.takeDirty()).toEqual([]);
  });

  it('maps ROM read-only and unmapped holes as all ones', () => {
    const m = new PhysicalMemory(64 * 1024);
    const off = m.addRom(new Uint8Array([1, 2, 3, 4]));
    m.mapRom(0xfffff000 | 0, off, 4096);
    expect(m.read32(0xfffff000 | 0)).toBe(0x04030201);
    m.write8(0xfffff000 | 0, 0xaa);
    expect(m.read8(0xfffff000 | 0)).toBe(1);
    expect(m.read8(0x100000)).toBe(0xff);
  });

  it('reports writes to code pages and bumps their generation', () => {
    const m = new PhysicalMemory(64 * 1024);
    let hits = 0;
    m.onCodeWrite = () => hits++;
    m.markCode(2);
    const g = m.codeGen[2];
    m.write8(0x2000, 1);
    expect(hits).toBe(1);
    expect(m.codeGen[2]).not.toBe(g);
    m.write8(0x2001, 1);
    expect(hits).toBe(1);
  });

  it('lets a page hook force stuck bits (the memory fault seam)', () => {
    const m = new PhysicalMemory(64 * 1024);
    m.hookPage(5, { read: (_a, v) => v | 0x80, write: (_a, v) => v });
    m.write8(0x5000, 0x01);
    expect(m.read8(0x5000)).toBe(0x81);
    m.hookPage(5, undefined);
    expect(m.read8(0x5000)).toBe(0x01);
  });

  it('saves and restores RAM', () => {
    const m = new PhysicalMemory(64 * 1024);
    m.write32(0x100, 0xdeadbeef | 0);
    const s = m.save();
    m.write32(0x100, 0);
    m.restore(s);
    expect(m.read32(0x100) >>> 0).toBe(0xdeadbeef);
  });
});
