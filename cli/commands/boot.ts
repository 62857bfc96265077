// `bitrot boot`: boot the PC (engine/pc.ts) from a floppy, a hard disk, a CD-ROM or a Linux
// kernel through the real SeaBIOS, with QEMU's flags (cli/boot-args.ts).
//
// Output: -serial sends COM1's bytes and -debugcon those of ports 0xE9/0x402 to stdout or a
// file. While it runs on a terminal (and -display is not none), the VGA text screen is
// redrawn between slices of instructions.
// Exit status: the guest's (value << 1) | 1 through isa-debug-exit, as QEMU's; 0 at the
// instruction limit, when the guest halts for good or asks for a reset with -no-reboot;
// 3 on a triple fault with -no-reboot; 2 on bad usage or an unusable file.

import { existsSync, readFileSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { createPc, type PcConfig, type PcImage } from '../../engine/pc.ts';
import { floppyFormat } from '../../engine/devices/i82077aa-fdc.ts';
import { parseBootArgs, BootArgError, BOOT_USAGE, type BootConfig, type OutputTarget } from '../boot-args.ts';
import { encodePng } from '../png.ts';

export { BOOT_USAGE };

const FIRMWARE_DIR = '/usr/share/seabios';
const BIOS_CANDIDATES = [`${FIRMWARE_DIR}/bios-256k.bin`, `${FIRMWARE_DIR}/bios.bin`];
const VGA_BIOS = `${FIRMWARE_DIR}/vgabios-stdvga.bin`;
/** Instructions between two looks at the screen (about 0.1 s of guest time). */
const SLICE = 10_000_000;

class UserError extends Error {}

function readImage(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? (e as Error).message);
    throw new UserError(`cannot read ${what} '${path}': ${why}`);
  }
}

function openTarget(t: OutputTarget, flag: string): ((b: number) => void) | null {
  if (t.kind === 'none') return null;
  if (t.kind === 'stdio') return (b) => process.stdout.write(Buffer.of(b));
  let fd: number;
  try {
    fd = openSync(t.path, 'w');
  } catch (e) {
    throw new UserError(`${flag}: cannot open '${t.path}' for writing: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  opened.push(fd);
  return (b) => writeSync(fd, Buffer.of(b));
}

const opened: number[] = [];

function pcConfig(c: BootConfig): PcConfig {
  let biosPath = c.bios;
  if (biosPath === undefined) {
    biosPath = BIOS_CANDIDATES.find((p) => existsSync(p));
    if (biosPath === undefined) throw new UserError(`no SeaBIOS image in ${FIRMWARE_DIR}: apt-get install seabios (or pass -bios FILE)`);
  }
  const bios = readImage(biosPath, 'BIOS image');
  if (bios.length === 0 || bios.length % 65536 !== 0 || bios.length > 1 << 20) {
    throw new UserError(`BIOS image '${biosPath}' is ${bios.length} bytes; a BIOS image is 64 KiB to 1 MiB in whole 64 KiB blocks`);
  }
  const cfg: PcConfig = { ramSize: c.memoryMB << 20, bios, noReboot: c.noReboot };
  if (existsSync(VGA_BIOS)) cfg.vgaBios = readImage(VGA_BIOS, 'VGA BIOS');
  const image = (path: string, what: string): PcImage => ({ bytes: readImage(path, what), name: path });
  if (c.fda) {
    cfg.fda = image(c.fda, 'floppy image');
    try {
      floppyFormat(cfg.fda.bytes.length, `floppy image '${c.fda}'`);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  }
  if (c.hda) {
    cfg.hda = image(c.hda, 'disk image');
    if (cfg.hda.bytes.length === 0) throw new UserError(`disk image '${c.hda}' is empty`);
  }
  if (c.cdrom) {
    cfg.cdrom = image(c.cdrom, 'CD-ROM image');
    if (cfg.cdrom.bytes.length === 0 || cfg.cdrom.bytes.length % 2048 !== 0) {
      throw new UserError(`CD-ROM image '${c.cdrom}' is ${cfg.cdrom.bytes.length} bytes, not a whole number of 2048-byte sectors`);
    }
  }
  if (c.kernel) {
    const linuxbootPath = '/usr/share/qemu/linuxboot_dma.bin';
    if (!existsSync(linuxbootPath)) throw new UserError(`-kernel needs QEMU's ${linuxbootPath}: apt-get install qemu-system-data`);
    cfg.kernel = {
      image: readImage(c.kernel, 'kernel image'),
      initrd: c.initrd ? readImage(c.initrd, 'initrd') : undefined,
      cmdline: c.append,
      linuxboot: readImage(linuxbootPath, 'option ROM'),
    };
  }
  if (c.boot) cfg.boot = [c.boot];
  else if (!c.hda) cfg.boot = c.fda ? ['a', 'd', 'c'] : ['d', 'c', 'a'];
  return cfg;
}

/**
 * The PC configuration `bitrot boot ARGS` would run (for the benchmarks, which give bitrot and
 * QEMU the same flags). Errors are thrown as one-line messages.
 */
export function pcConfigFromArgs(args: string[]): PcConfig {
  return pcConfig(parseBootArgs(args));
}

export async function bootCommand(args: string[]): Promise<number> {
  let c: BootConfig;
  try {
    c = parseBootArgs(args);
  } catch (e) {
    if (e instanceof BootArgError) {
      console.error(`bitrot boot: ${e.message}\n${BOOT_USAGE}`);
      return 2;
    }
    throw e;
  }
  try {
    return runBoot(c);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`bitrot boot: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    for (const fd of opened.splice(0)) closeSync(fd);
  }
}

function runBoot(c: BootConfig): number {
  const cfg = pcConfig(c);
  let pc;
  try {
    pc = createPc(cfg);
  } catch (e) {
    // image formats the engine refuses (qcow2 features, sizes) say so in one line
    throw new UserError((e as Error).message);
  }
  const m = pc.machine;
  m.output.logLimit = 0;
  const serial = openTarget(c.serial, '-serial');
  const debugcon = openTarget(c.debugcon, '-debugcon');
  m.output.listen((e) => {
    if (typeof e.data !== 'number') return;
    if (e.kind === 'serial' && e.channel === 0) serial?.(e.data);
    else if (e.kind === 'debugcon') debugcon?.(e.data);
  });
  const live = c.display !== 'none' && process.stdout.isTTY === true && c.serial.kind !== 'stdio' && c.debugcon.kind !== 'stdio';
  const t0 = process.hrtime.bigint();
  let r = m.run(Math.min(c.maxInstructions, SLICE));
  if (live) process.stdout.write('\x1b[2J');
  while (r.reason === 'deadline' && r.icount < c.maxInstructions) {
    if (live) drawScreen(pc.vga.screenDump());
    r = m.run(Math.min(c.maxInstructions, r.icount + SLICE));
  }
  if (live) drawScreen(pc.vga.screenDump());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (process.env.BITROT_STATS) {
    console.error(`bitrot: ${r.reason} after ${r.icount} instructions in ${secs.toFixed(2)} s (${(r.icount / secs / 1e6).toFixed(1)} MIPS)`);
  }
  if (c.screenDump) writeFileSync(c.screenDump, pc.vga.screenDump().join('\n') + '\n');
  if (c.screenshot) {
    const fb = pc.vga.framebuffer();
    if (fb.width <= 0 || fb.height <= 0) console.error(`bitrot boot: no picture on the screen at the end of the run; '${c.screenshot}' not written`);
    else writeFileSync(c.screenshot, encodePng(fb.width, fb.height, fb.rgba));
  }
  switch (r.reason) {
    case 'exit':
      return r.exitCode ?? 1;
    case 'triple-fault':
      console.error(`bitrot boot: triple fault at instruction ${r.icount} (CS:EIP ${m.cpu.segSel[1].toString(16)}:${(m.cpu.eip >>> 0).toString(16)})`);
      return 3;
    case 'halted':
      console.error(`bitrot boot: the guest halted for good at instruction ${r.icount}`);
      return 0;
    case 'stopped':
      console.error(`bitrot boot: the guest asked for a reset (${pc.resetRequest ?? 'unknown'}) at instruction ${r.icount}; stopped (-no-reboot)`);
      return 0;
    default:
      console.error(`bitrot boot: stopped at the instruction limit (${r.icount})`);
      return 0;
  }
}

function drawScreen(lines: string[]): void {
  process.stdout.write('\x1b[H' + lines.map((l) => l.padEnd(80).slice(0, 80)).join('\n') + '\n');
}
