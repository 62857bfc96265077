// From a machine configuration (bitrot boot's flags as data) to the PC's configuration:
// reads the firmware and every image, checks their sizes, and takes their SHA-256, so a
// recording can name exactly what it ran and a replay can refuse anything else. Every
// problem is a one-line ConfigError naming the file and the fix.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { PcConfig, PcImage } from '../engine/pc.ts';
import { floppyFormat } from '../engine/devices/i82077aa-fdc.ts';
import { RTC_DEFAULT_START } from '../engine/devices/mc146818-rtc.ts';
import type { ImageRef, MachineConfig } from './format.ts';

export class ConfigError extends Error {}

export const FIRMWARE_DIR = '/usr/share/seabios';
const BIOS_CANDIDATES = [`${FIRMWARE_DIR}/bios-256k.bin`, `${FIRMWARE_DIR}/bios.bin`];
const VGA_BIOS = `${FIRMWARE_DIR}/vgabios-stdvga.bin`;
const LINUXBOOT = '/usr/share/qemu/linuxboot_dma.bin';

export interface LoadedMachine {
  pc: PcConfig;
  images: ImageRef[];
  /** The configuration with the firmware paths filled in (what a recording stores). */
  machine: MachineConfig;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function readImage(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? (e as Error).message);
    throw new ConfigError(`cannot read ${what} '${path}': ${why}`);
  }
}

/**
 * Read everything `c` names. With `expected` (a recording's image list), each file must
 * have the recorded SHA-256, or the load fails naming the file.
 */
export function loadMachine(c: MachineConfig, expected?: ImageRef[]): LoadedMachine {
  const images: ImageRef[] = [];
  const machine: MachineConfig = { ...c };
  const take = (role: string, path: string, what: string): Uint8Array => {
    const bytes = readImage(path, what);
    const ref: ImageRef = { role, path, size: bytes.length, sha256: sha256(bytes) };
    if (expected) {
      const want = expected.find((x) => x.role === role);
      if (want && want.sha256 !== ref.sha256) {
        throw new ConfigError(`${what} '${path}' is not the file the recording was made with (SHA-256 ${ref.sha256.slice(0, 16)}..., recorded ${want.sha256.slice(0, 16)}...): restore that file`);
      }
    }
    images.push(ref);
    return bytes;
  };

  let biosPath = c.bios;
  if (biosPath === undefined) {
    biosPath = BIOS_CANDIDATES.find((p) => existsSync(p));
    if (biosPath === undefined) throw new ConfigError(`no SeaBIOS image in ${FIRMWARE_DIR}: apt-get install seabios (or pass -bios FILE)`);
    machine.bios = biosPath;
  }
  const bios = take('bios', biosPath, 'BIOS image');
  if (bios.length === 0 || bios.length % 65536 !== 0 || bios.length > 1 << 20) {
    throw new ConfigError(`BIOS image '${biosPath}' is ${bios.length} bytes; a BIOS image is 64 KiB to 1 MiB in whole 64 KiB blocks`);
  }
  const pc: PcConfig = { ramSize: c.memoryMB << 20, bios, noReboot: c.noReboot, rtcStart: RTC_DEFAULT_START };
  const wantVga = expected ? expected.some((x) => x.role === 'vgabios') : existsSync(VGA_BIOS);
  if (wantVga) pc.vgaBios = take('vgabios', VGA_BIOS, 'VGA BIOS');
  const image = (role: string, path: string, what: string): PcImage => ({ bytes: take(role, path, what), name: path });
  if (c.fda) {
    pc.fda = image('fda', c.fda, 'floppy image');
    try {
      floppyFormat(pc.fda.bytes.length, `floppy image '${c.fda}'`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  if (c.hda) {
    pc.hda = image('hda', c.hda, 'disk image');
    if (pc.hda.bytes.length === 0) throw new ConfigError(`disk image '${c.hda}' is empty`);
  }
  if (c.cdrom) {
    pc.cdrom = image('cdrom', c.cdrom, 'CD-ROM image');
    if (pc.cdrom.bytes.length === 0 || pc.cdrom.bytes.length % 2048 !== 0) {
      throw new ConfigError(`CD-ROM image '${c.cdrom}' is ${pc.cdrom.bytes.length} bytes, not a whole number of 2048-byte sectors`);
    }
  }
  if (c.kernel) {
    if (!existsSync(LINUXBOOT)) throw new ConfigError(`-kernel needs QEMU's ${LINUXBOOT}: apt-get install qemu-system-data`);
    pc.kernel = {
      image: take('kernel', c.kernel, 'kernel image'),
      initrd: c.initrd ? take('initrd', c.initrd, 'initrd') : undefined,
      cmdline: c.append,
      linuxboot: take('linuxboot', LINUXBOOT, 'option ROM'),
    };
  }
  if (c.boot) pc.boot = [c.boot];
  else if (!c.hda) pc.boot = c.fda ? ['a', 'd', 'c'] : ['d', 'c', 'a'];
  return { pc, images, machine };
}
