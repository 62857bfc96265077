// The project's own boot code (test/guests/bios/hello.asm) on the whole PC with Debian's
// SeaBIOS, loaded from a 1.44M floppy, from a partitioned (MBR) hard disk and from an El
// Torito CD: it prints through INT 10h, read back here from VGA memory (text and attributes),
// and through COM1, and leaves through isa-debug-exit. The expected text is what the same
// images print under QEMU (`qemu-system-i386 -fda|-hda|-cdrom IMG -serial stdio
// -device isa-debug-exit,iobase=0xf4,iosize=4`), byte for byte.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { PcConfig } from '../../engine/pc.ts';
import { elToritoIso } from './el-torito.ts';
import { biosSkipNote, haveBios, runGuest, seabiosPc } from './seabios-pc.ts';

const HELLO = readFileSync(new URL('../guests/bios/bin/hello.img', import.meta.url));
const LIMIT = 100_000_000;

function padded(size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(HELLO);
  return out;
}

const COMMON = ['bitrot hello: INT 10h and COM1', 'boot drive DD', 'base memory 639K'];

const MEDIA: { name: string; config: () => Partial<PcConfig>; drive: string; line: string; banner: string }[] = [
  {
    name: 'floppy',
    config: () => ({ fda: { bytes: padded(1474560), name: 'hello-fd.img' }, boot: ['a'] }),
    drive: '00',
    line: '80 cylinders, 2 heads, 18 sectors',
    banner: 'Booting from Floppy...',
  },
  {
    name: 'MBR hard disk',
    config: () => ({ hda: { bytes: padded(2 << 20), name: 'hello-hd.img' }, boot: ['c'] }),
    drive: '80',
    line: '4096 sectors, EDD',
    banner: 'Booting from Hard Disk...',
  },
  {
    name: 'El Torito CD',
    config: () => ({ cdrom: { bytes: elToritoIso(HELLO), name: 'hello.iso' }, boot: ['d'] }),
    drive: 'e0',
    line: '2048-byte sectors, volume CD001',
    banner: 'Booting from DVD/CD...',
  },
];

describe(`own boot code through SeaBIOS: INT 10h and COM1${biosSkipNote}`, () => {
  for (const m of MEDIA) {
    it.skipIf(!haveBios)(`${m.name}: the same text on the screen and on COM1, exit status 1, same icount twice`, { timeout: 300_000 }, () => {
      const lines = [...COMMON.map((l) => l.replace('DD', m.drive)), m.line];
      const a = runGuest(seabiosPc(m.config()), { limit: LIMIT });
      expect([a.reason, a.exitCode]).toEqual(['exit', 1]);
      expect(a.biosLog).toContain(m.banner);
      expect(a.serial).toBe(lines.map((l) => `${l}\r\n`).join('') + 'status: ok');

      const screen = a.pc.vga.textScreen();
      expect([screen.cols, screen.rows]).toEqual([80, 25]);
      expect(screen.chars.slice(0, 5).map((r) => r.trimEnd())).toEqual([...lines, '']);
      // Mode 3 cleared the screen, so SeaBIOS's own lines are gone; teletype output is grey on black.
      expect(screen.chars.slice(5).every((r, i) => (i === 5 ? true : r.trim() === ''))).toBe(true);
      expect([...screen.attrs[0].subarray(0, 6)]).toEqual([7, 7, 7, 7, 7, 7]);
      // AH=13h wrote "status: ok" at row 10, column 30, white on green, and moved the cursor.
      expect(screen.chars[10]).toBe(' '.repeat(30) + 'status: ok' + ' '.repeat(40));
      expect([...screen.attrs[10].subarray(29, 41)]).toEqual([7, ...Array<number>(10).fill(0x2f), 7]);
      expect(screen.cursor).toEqual({ x: 40, y: 10, visible: true });

      const b = runGuest(seabiosPc(m.config()), { limit: LIMIT });
      expect([b.reason, b.exitCode, b.icount]).toEqual(['exit', 1, a.icount]);
      expect(b.pc.machine.hash()).toBe(a.pc.machine.hash());
    });
  }
});
