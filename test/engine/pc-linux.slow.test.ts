// Debian's i386 Linux kernel (linux-image-686, a bzImage) booted the way QEMU's -kernel does
// it: SeaBIOS runs linuxboot_dma.bin, which loads the kernel and an initramfs through fw_cfg.
// The initramfs (test/guests/linux/build-initramfs.sh: static busybox and a shell /init)
// prints marker lines on COM1 from userspace and powers off; without ACPI the kernel halts
// the CPU for good. The run is done twice and gives the same instruction counts.
//
// The command line: the console at 115200 baud (the kernel's default is 9600, and the UART
// sends at its programmed rate, so that would cost ten times the instructions), and
// cryptomgr.notests, which leaves out the crypto self-tests (their RSA and Diffie-Hellman
// vectors alone take about 3.2 billion instructions; they pass when run). About 3 billion
// instructions remain, 2.4 billion of them the XZ decompression of the kernel.
// Skipped without SeaBIOS, QEMU's linuxboot_dma.bin (qemu-system-data), a
// /boot/vmlinuz-*-686 (linux-image-686:i386), a 32-bit /bin/busybox (busybox-static:i386) or
// cpio; the PAE boot also without /boot/vmlinuz-*-686-pae (linux-image-686-pae:i386).
// scripts/setup.sh installs them all.

import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINUXBOOT, haveBios, runGuest, seabiosPc } from './seabios-pc.ts';

/** The newest Debian kernel of a flavour ('686', '686-pae') in /boot. */
function findKernel(flavour: string): string | null {
  if (!existsSync('/boot')) return null;
  const names = readdirSync('/boot')
    .filter((n) => n.startsWith('vmlinuz-') && n.endsWith(`-${flavour}`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.length > 0 ? join('/boot', names[names.length - 1]) : null;
}

function is32BitElf(path: string): boolean {
  if (!existsSync(path)) return false;
  const b = readFileSync(path).subarray(0, 5);
  return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46 && b[4] === 1;
}

function haveCpio(): boolean {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const KERNEL = process.env.BITROT_LINUX_KERNEL ?? findKernel('686');
const KERNEL_PAE = findKernel('686-pae');
const BUSYBOX = process.env.BUSYBOX ?? '/bin/busybox';
const ready = haveBios && existsSync(LINUXBOOT) && KERNEL !== null && is32BitElf(BUSYBOX) && haveCpio();
const skipNote = ready ? '' : ' (skipped: needs seabios, qemu-system-data, linux-image-686:i386, busybox-static:i386 and cpio)';
const paeSkipNote = ready && KERNEL_PAE !== null ? '' : ' (skipped: needs linux-image-686-pae:i386 as well)';
const CMDLINE = 'console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 panic=-1 cryptomgr.notests';

/** The initramfs, built by the project's script into a temporary directory. */
function buildInitramfs(): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'bitrot-linux-'));
  try {
    const out = join(dir, 'initrd.cpio.gz');
    execFileSync('bash', [fileURLToPath(new URL('../guests/linux/build-initramfs.sh', import.meta.url)), out], { stdio: 'ignore', env: { ...process.env, BUSYBOX } });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Boot to the halt after /init powers off: the icount at which each console line ended, and the output. */
function bootLinux(kernel: Uint8Array, initrd: Uint8Array) {
  const pc = seabiosPc({
    ramSize: 128 << 20,
    kernel: { image: kernel, initrd, cmdline: CMDLINE, linuxboot: readFileSync(LINUXBOOT) },
  });
  const lines: { icount: number; text: string }[] = [];
  let line = '';
  pc.machine.output.listen((e) => {
    if (e.kind !== 'serial' || e.channel !== 0 || typeof e.data !== 'number') return;
    if (e.data === 0x0a) {
      lines.push({ icount: e.icount, text: line.replace(/\r$/, '') });
      line = '';
    } else line += String.fromCharCode(e.data);
  });
  const r = runGuest(pc, { limit: 6_000_000_000 });
  return { reason: r.reason, icount: r.icount, serial: r.serial, lines };
}

/** What every boot must show: the kernel's log up to /init, and each line /init prints. */
function expectUserspace(run: ReturnType<typeof bootLinux>, release: string): void {
  expect(run.serial).toContain(`Linux version ${release}`);
  expect(run.serial).toContain(`Kernel command line: ${CMDLINE}`);
  // the TSC (from the instruction count) agrees with the PIT and the tick: the kernel keeps it
  expect(run.serial).toContain('clocksource: Switched to clocksource tsc\r\n');
  expect(run.serial).toContain('Run /init as init process');
  const texts = run.lines.map((l) => l.text);
  expect(texts).toContain('bitrot-linux: userspace up');
  expect(texts).toContain(`bitrot-linux: uname ${release}`);
  expect(texts).toContain('bitrot-linux: cpus 1');
  expect(texts).toContain('bitrot-linux: powering off');
  expect(run.serial).toMatch(/reboot: System halted/);
  expect(run.serial).not.toMatch(/Kernel panic|Oops|BUG:|general protection|invalid opcode/);
  expect(run.reason).toBe('halted');
}

describe(`Debian i386 Linux with -kernel/-initrd${skipNote}`, () => {
  it.skipIf(!ready)('boots to its busybox /init, which prints from userspace and powers off; same icounts twice', { timeout: 1_500_000 }, () => {
    const kernel = readFileSync(KERNEL!);
    const release = /vmlinuz-(.*)$/.exec(KERNEL!)![1];
    const initrd = buildInitramfs();
    const a = bootLinux(kernel, initrd);
    expectUserspace(a, release);

    const b = bootLinux(kernel, initrd);
    expect(b.reason).toBe('halted');
    expect(b.icount).toBe(a.icount);
    expect(b.lines).toEqual(a.lines);
  });

  // The PAE flavour (linux-image-686-pae): the same boot with PAE paging (3-level page tables,
  // 64-bit entries). One run: the determinism check above covers the machine.
  it.skipIf(!ready || KERNEL_PAE === null)(`the 686-pae kernel boots the same way${paeSkipNote}`, { timeout: 900_000 }, () => {
    const release = /vmlinuz-(.*)$/.exec(KERNEL_PAE!)![1];
    const run = bootLinux(readFileSync(KERNEL_PAE!), buildInitramfs());
    expectUserspace(run, release);
  });
});
