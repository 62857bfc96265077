// The whole PC (engine/pc.ts) with the real SeaBIOS (Debian's seabios package,
// /usr/share/seabios/bios-256k.bin and vgabios-stdvga.bin; BITROT_SEABIOS and BITROT_VGABIOS
// override) booting the modes guest (test/guests/bin/modes.img) from a 1.44M floppy, an IDE
// hard disk and an El Torito CD-ROM (no emulation), each time through to the guest's own
// isa-debug-exit status 1 (all checks passed); and a stand-in Linux kernel through fw_cfg
// and QEMU's linuxboot_dma.bin (skipped without /usr/share/qemu/linuxboot_dma.bin). Debian's SeaBIOS writes its log to port 0x402,
// as on QEMU; the guest reports on port 0xE9. Skipped when the SeaBIOS images are missing.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createPc, type PcConfig } from '../../engine/pc.ts';
import { elToritoIso } from './el-torito.ts';

const BIOS = process.env.BITROT_SEABIOS ?? '/usr/share/seabios/bios-256k.bin';
const VGABIOS = process.env.BITROT_VGABIOS ?? '/usr/share/seabios/vgabios-stdvga.bin';
const haveBios = existsSync(BIOS) && existsSync(VGABIOS);
const skipNote = haveBios ? '' : ` (skipped: no SeaBIOS at ${BIOS}; apt-get install seabios)`;
const GUEST = new URL('../guests/bin/modes.img', import.meta.url);
const LIMIT = 100_000_000;
const LINUXBOOT = process.env.BITROT_LINUXBOOT ?? '/usr/share/qemu/linuxboot_dma.bin';
const haveLinuxboot = haveBios && existsSync(LINUXBOOT);

function padded(size: number): Uint8Array {
  const g = readFileSync(GUEST);
  const out = new Uint8Array(Math.max(size, Math.ceil(g.length / 512) * 512));
  out.set(g);
  return out;
}

/**
 * A stand-in bzImage (boot protocol 2.15, four setup sectors; the same as in
 * devices/seabios-chipset.test.ts): its setup code prints
 * "fake linux setup" on port 0xE9 and leaves through isa-debug-exit with 0 when it was entered
 * at 1020:0000 with DS = 1000h, as linuxboot_dma.bin must do.
 */
function fakeBzImage(): Uint8Array {
  const img = new Uint8Array(5 * 512 + 4096).fill(0x5a, 5 * 512);
  img.fill(0, 0, 5 * 512);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint16(0x1fe, 0xaa55, true);
  img.set([0xeb, 0x66], 0x200); // jmp 0x268
  v.setUint32(0x202, 0x53726448, true); // "HdrS"
  v.setUint16(0x206, 0x020f, true);
  img[0x211] = 0x01;
  v.setUint32(0x22c, 0x7fffffff, true);
  img.set([0xe9, 0x95, 0x00], 0x268); // jmp 0x300
  // prettier-ignore
  img.set([
    0xba, 0xe9, 0x00, 0xbe, 0x26, 0x03, 0x8a, 0x04, 0x84, 0xc0, 0x74, 0x04, // mov dx,0xe9; mov si,msg; lodsb loop
    0xee, 0x46, 0xeb, 0xf6, 0x8c, 0xc8, 0x3d, 0x20, 0x10, 0x75, 0x0b, 0x8c, //   out; cmp cs,1020h
    0xd8, 0x3d, 0x00, 0x10, 0x75, 0x04, 0xb0, 0x00, 0xe6, 0xf4, 0xb0, 0x01, //   cmp ds,1000h; out 0xf4,0 / 1
    0xe6, 0xf4,
  ], 0x300);
  img.set([...'fake linux setup\n\0'].map((c) => c.charCodeAt(0)), 0x326);
  return img;
}

interface Boot {
  reason: string;
  exitCode?: number;
  icount: number;
  biosLog: string;
  guest: string;
  screen: string[];
}

function boot(media: Partial<PcConfig>): Boot {
  const pc = createPc({ ramSize: 32 << 20, bios: readFileSync(BIOS), vgaBios: readFileSync(VGABIOS), noReboot: true, ...media });
  let biosLog = '';
  // Which port is which: SeaBIOS's log on 0x402, the guest's report on 0xE9.
  pc.machine.io.claim(0x402, 1, { read8: () => 0xe9, write8: (_p, v) => (biosLog += String.fromCharCode(v)) });
  const r = pc.machine.run(LIMIT);
  return { ...r, biosLog, guest: pc.machine.output.text('debugcon'), screen: pc.vga.screenDump() };
}

describe(`the PC booting the modes guest through SeaBIOS${skipNote}`, () => {
  it.skipIf(!haveBios)('floppy: SeaBIOS banner on 0x402, "Booting from Floppy", guest passes; same icount twice', { timeout: 300_000 }, () => {
    const fda = { bytes: padded(1474560), name: 'modes-fd.img' };
    const a = boot({ fda, boot: ['a'] });
    expect(a.biosLog).toMatch(/^SeaBIOS \(version /);
    expect(a.biosLog).toContain('Running on QEMU (i440fx)');
    expect(a.biosLog).toContain('Start SeaVGABIOS');
    expect(a.biosLog).toContain('Booting from Floppy...');
    expect(a.guest).toContain('modes: 13 checks, 0 failed');
    expect([a.reason, a.exitCode]).toEqual(['exit', 1]);
    expect(a.screen.join('\n')).toContain('Booting from Floppy...');
    const b = boot({ fda, boot: ['a'] });
    expect([b.reason, b.exitCode, b.icount]).toEqual(['exit', 1, a.icount]);
    expect(b.biosLog).toBe(a.biosLog);
  });

  it.skipIf(!haveBios)('hard disk: "Booting from Hard Disk", guest passes; same icount twice', { timeout: 300_000 }, () => {
    const hda = { bytes: padded(64 * 512), name: 'modes-hd.img' };
    const a = boot({ hda, boot: ['c'] });
    expect(a.biosLog).toContain('ata0-0: BITROT HARDDISK');
    expect(a.biosLog).toContain('Booting from Hard Disk...');
    expect(a.guest).toContain('modes: 13 checks, 0 failed');
    expect([a.reason, a.exitCode]).toEqual(['exit', 1]);
    const b = boot({ hda, boot: ['c'] });
    expect([b.reason, b.exitCode, b.icount]).toEqual(['exit', 1, a.icount]);
  });

  it.skipIf(!haveBios)('CD-ROM: El Torito no-emulation boot, "Booting from DVD/CD", guest passes', { timeout: 300_000 }, () => {
    const cdrom = { bytes: elToritoIso(padded(0)), name: 'modes.iso' };
    const a = boot({ cdrom, boot: ['d'] });
    expect(a.biosLog).toContain('DVD/CD [ata1-0: BITROT CD-ROM');
    expect(a.biosLog).toContain('Booting from DVD/CD...');
    expect(a.guest).toContain('modes: 13 checks, 0 failed');
    expect([a.reason, a.exitCode]).toEqual(['exit', 1]);
  });

  it.skipIf(!haveLinuxboot)('-kernel: linuxboot_dma.bin loads the setup, kernel, initrd and command line', { timeout: 300_000 }, () => {
    const a = boot({
      kernel: { image: fakeBzImage(), initrd: new Uint8Array(5000).fill(0x11), cmdline: 'console=ttyS0', linuxboot: readFileSync(LINUXBOOT) },
    });
    expect(a.biosLog).toContain('Searching bootorder for: /rom@genroms/linuxboot_dma.bin');
    expect(a.guest).toContain('fake linux setup');
    expect([a.reason, a.exitCode]).toEqual(['exit', 1]);
  });

  it.skipIf(!haveBios)('a snapshot taken during POST restores into a new PC and finishes the same way', { timeout: 300_000 }, () => {
    const config = (): PcConfig => ({
      ramSize: 32 << 20,
      bios: readFileSync(BIOS),
      vgaBios: readFileSync(VGABIOS),
      fda: { bytes: padded(1474560), name: 'modes-fd.img' },
      boot: ['a'],
      noReboot: true,
    });
    const a = createPc(config()).machine;
    a.run(3_000_000);
    const snapshot = structuredClone(a.save());
    const end = a.run(LIMIT);
    const b = createPc(config()).machine;
    b.load(snapshot);
    expect(b.run(LIMIT)).toEqual(end);
    expect(end).toMatchObject({ reason: 'exit', exitCode: 1 });
    expect(b.hash()).toBe(a.hash());
  });
});
