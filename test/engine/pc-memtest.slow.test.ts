// memtest86+ (Debian's memtest86+ package, the ia32 build) booted the way QEMU's -kernel
// does it: SeaBIOS runs linuxboot_dma.bin, which loads the image through fw_cfg and enters
// it with the Linux boot protocol. On COM1 (console=ttyS0) memtest86+ reaches
// "Status: Testing" and finishes tests #0-#4: test #5 has started, with no errors. The run
// is done twice and reaches each test at the same instruction count.
// Skipped without SeaBIOS, /boot/memtest86+ia32.bin (apt-get install memtest86+) or QEMU's
// linuxboot_dma.bin (qemu-system-data).

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { LINUXBOOT, haveBios, runGuest, seabiosPc } from './seabios-pc.ts';

const MEMTEST = '/boot/memtest86+ia32.bin';
const ready = haveBios && existsSync(MEMTEST) && existsSync(LINUXBOOT);
const skipNote = ready ? '' : ' (skipped: needs seabios, memtest86+ and qemu-system-data)';

/**
 * Boot to test #5: the instruction counts at which "Status: Testing" and each test heading
 * (#0-#5; memtest86+ redraws the changed parts of its screen on COM1 once a second) first
 * show on COM1, and the output.
 */
function memtestToTest5(): { at: Map<string, number>; serial: string; screen: string } {
  const pc = seabiosPc({
    ramSize: 16 << 20,
    kernel: { image: readFileSync(MEMTEST), cmdline: 'console=ttyS0,115200', linuxboot: readFileSync(LINUXBOOT) },
  });
  const at = new Map<string, number>();
  let tail = '';
  pc.machine.output.listen((e) => {
    if (e.kind !== 'serial' || typeof e.data !== 'number') return;
    tail = (tail + String.fromCharCode(e.data)).slice(-64);
    const m = /(Status: Testing|#\d {2}\[)$/.exec(tail);
    if (m && !at.has(m[1])) at.set(m[1], e.icount);
  });
  const r = runGuest(pc, { limit: 4_000_000_000, until: /#5 {2}\[/ });
  expect(r.reason).toBe('matched');
  return { at, serial: r.serial, screen: pc.vga.screenDump().join('\n') };
}

describe(`memtest86+ with -kernel${skipNote}`, () => {
  it.skipIf(!ready)('reaches "Status: Testing" on COM1 and finishes tests #0-#4 with no errors; same icounts twice', { timeout: 900_000 }, () => {
    const a = memtestToTest5();
    expect(a.serial).toMatch(/Memtest86\+ v6\.\d+/);
    expect(a.serial).toContain('Memory  :   16MB');
    // in order: testing, then each test; test #5 started, so #0-#4 are done
    const seen = [...a.at.keys()];
    expect(seen[0]).toBe('Status: Testing');
    expect(seen.slice(1)).toEqual([...seen.slice(1)].sort());
    expect(seen).toContain('#0  [');
    expect(seen.at(-1)).toBe('#5  [');
    expect(a.serial).not.toMatch(/Errors: [1-9]/);
    expect(a.screen).toContain('Errors: 0');
    expect(a.screen).toMatch(/Time: +0:00:\d\d/);
    const b = memtestToTest5();
    expect([...b.at]).toEqual([...a.at]);
  });
});
