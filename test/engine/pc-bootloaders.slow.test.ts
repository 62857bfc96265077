// Real bootloaders on the whole PC with Debian's SeaBIOS, each loading Debian's memtest86+
// through the Linux boot protocol:
//   - SYSLINUX on a FAT 1.44M floppy (syslinux --install): its "boot:" prompt on COM1; the
//     label typed on COM1 loads memtest86+ from the floppy;
//   - a GRUB rescue CD (grub-mkrescue, El Torito with GRUB's own boot image): its menu on
//     COM1; Enter pressed on the PS/2 keyboard boots the first entry, which loads memtest86+
//     from the CD.
// The serial text is what QEMU prints for the same images. Each run is done twice and must
// reach the same points at the same instruction counts. The images are built here with the
// Debian tools (syslinux, mtools, dosfstools; grub-pc-bin, xorriso); a test is skipped when
// they are missing (scripts/setup.sh installs them).

import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PcConfig } from '../../engine/pc.ts';
import { biosSkipNote, haveBios, runGuest, seabiosPc } from './seabios-pc.ts';

const MEMTEST = '/boot/memtest86+ia32.bin';
const dir = mkdtempSync(join(tmpdir(), 'bitrot-bootloaders-'));

function have(...commands: string[]): boolean {
  return commands.every((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

const haveSyslinux = haveBios && existsSync(MEMTEST) && have('syslinux', 'mkfs.fat', 'mcopy');
const haveGrub = haveBios && existsSync(MEMTEST) && have('grub-mkrescue', 'xorriso', 'mformat') && existsSync('/usr/lib/grub/i386-pc');
const note = (ok: boolean, what: string) => (ok ? '' : ` (skipped: needs seabios, memtest86+ and ${what})`);

/** A 1.44M FAT floppy with SYSLINUX, waiting at its prompt, and memtest86+ as label "memtest". */
function syslinuxFloppy(): Uint8Array {
  const img = join(dir, 'syslinux.img');
  const cfg = join(dir, 'syslinux.cfg');
  execFileSync('mkfs.fat', ['-C', img, '1440'], { stdio: 'ignore' });
  writeFileSync(cfg, 'SERIAL 0 115200\nPROMPT 1\nTIMEOUT 0\nLABEL memtest\n  KERNEL memtest\n  APPEND console=ttyS0,115200\n');
  execFileSync('mcopy', ['-i', img, cfg, '::/syslinux.cfg']);
  execFileSync('mcopy', ['-i', img, MEMTEST, '::/memtest']);
  execFileSync('syslinux', ['--install', img]);
  return readFileSync(img);
}

/** A GRUB rescue CD whose menu (no timeout) has memtest86+ first and "halt" second. */
function grubCd(): Uint8Array {
  const root = join(dir, 'grub-root');
  mkdirSync(join(root, 'boot/grub'), { recursive: true });
  copyFileSync(MEMTEST, join(root, 'boot/memtest'));
  writeFileSync(
    join(root, 'boot/grub/grub.cfg'),
    [
      'serial --unit=0 --speed=115200',
      'terminal_input serial console',
      'terminal_output serial console',
      'set timeout=-1',
      'menuentry "memtest86+ (serial console)" {',
      '  linux /boot/memtest console=ttyS0,115200',
      '}',
      'menuentry "halt" {',
      '  halt',
      '}',
      '',
    ].join('\n'),
  );
  const iso = join(dir, 'grub.iso');
  execFileSync('grub-mkrescue', ['-o', iso, root], { stdio: 'ignore' });
  return readFileSync(iso);
}

interface Milestones {
  prompt: number;
  memtest: number;
  serial: string;
}

/** Boot to the bootloader's prompt, `answer` it, and run until memtest86+ is testing. */
function bootToMemtest(config: Partial<PcConfig>, prompt: RegExp, answer: (pc: ReturnType<typeof seabiosPc>) => void): Milestones {
  const pc = seabiosPc(config);
  const a = runGuest(pc, { limit: 400_000_000, until: prompt });
  expect(a.reason).toBe('matched');
  answer(pc);
  const b = runGuest(pc, { limit: 600_000_000, until: /Status: Testing/ });
  expect(b.reason).toBe('matched');
  return { prompt: a.icount, memtest: b.icount, serial: a.serial + b.serial };
}

describe(`SYSLINUX from a floppy${biosSkipNote || note(haveSyslinux, 'syslinux, mtools, dosfstools')}`, () => {
  it.skipIf(!haveSyslinux)('shows its prompt on COM1; "memtest" typed on COM1 boots memtest86+; same icounts twice', { timeout: 300_000 }, () => {
    const fda = { bytes: syslinuxFloppy(), name: 'syslinux.img' };
    const run = () =>
      bootToMemtest({ fda, boot: ['a'] }, /boot: $/, (pc) => pc.machine.input.push(pc.machine.clock.icount, 'serial0', 'memtest\r', pc.machine.clock.icount));
    const a = run();
    expect(a.serial).toMatch(/^\r\nSYSLINUX 6\.\d+ \d{8} Copyright \(C\) 1994-2015 H\. Peter Anvin et al\r\nboot: memtest/);
    expect(a.serial).toContain('\r\nLoading memtest... ok\r\n');
    expect(a.serial).toContain('Memtest86+ v');
    const b = run();
    expect([b.prompt, b.memtest]).toEqual([a.prompt, a.memtest]);
  });
});

describe(`a GRUB rescue CD${biosSkipNote || note(haveGrub, 'grub-pc-bin, xorriso, mtools')}`, () => {
  it.skipIf(!haveGrub)('shows its menu on COM1; Enter on the PS/2 keyboard boots memtest86+; same icounts twice', { timeout: 300_000 }, () => {
    const cdrom = { bytes: grubCd(), name: 'grub.iso' };
    const enter = (pc: ReturnType<typeof seabiosPc>) => {
      const now = pc.machine.clock.icount;
      pc.machine.input.push(now, 'key', { code: 'Enter', down: true }, now);
      pc.machine.input.push(now + 100_000, 'key', { code: 'Enter', down: false }, now);
    };
    const run = () => bootToMemtest({ cdrom, boot: ['d'] }, /before booting or `c' for a command-line\./, enter);
    const a = run();
    expect(a.serial).toContain('GNU GRUB  version 2.');
    expect(a.serial).toContain('*memtest86+ (serial console)');
    expect(a.serial).toContain(' halt');
    expect(a.serial).toContain('Memtest86+ v');
    const b = run();
    expect([b.prompt, b.memtest]).toEqual([a.prompt, a.memtest]);
  });
});
