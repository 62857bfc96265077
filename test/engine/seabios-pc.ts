// Running real guests on the whole PC with Debian's SeaBIOS, for the slow real-guest tests:
// where the firmware is, and a run that watches COM1 and the debug ports and stops as soon
// as the guest has printed what a test waits for (at the exact instruction the last byte of
// it left the guest, so two runs can be compared by instruction count).

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Pc, PcConfig } from '../../engine/pc.ts';
import type { RunReason } from '../../engine/machine.ts';
// @ts-expect-error: a plain .mjs script without type declarations
import { bundle } from '../../scripts/bundle.mjs';

// The real guests run hundreds of millions to billions of instructions, so they run on the
// engine as the CLI does, from an esbuild bundle (about twice as fast as the per-module
// transform the test runner applies). One bundle per test process, removed once loaded.
const bundled = (bundle as (entry: string, name: string) => string)('engine/pc.ts', `test-pc-${process.pid}`);
const { createPc } = (await import(pathToFileURL(bundled).href).finally(() => {
  rmSync(bundled, { force: true });
  rmSync(`${bundled}.map`, { force: true });
})) as typeof import('../../engine/pc.ts');

export const BIOS = process.env.BITROT_SEABIOS ?? '/usr/share/seabios/bios-256k.bin';
export const VGABIOS = process.env.BITROT_VGABIOS ?? '/usr/share/seabios/vgabios-stdvga.bin';
export const LINUXBOOT = process.env.BITROT_LINUXBOOT ?? '/usr/share/qemu/linuxboot_dma.bin';
export const haveBios = existsSync(BIOS) && existsSync(VGABIOS);
export const biosSkipNote = haveBios ? '' : ` (skipped: no SeaBIOS at ${BIOS}; apt-get install seabios)`;

export interface GuestRun {
  pc: Pc;
  reason: RunReason | 'matched';
  exitCode?: number;
  /** Instructions retired when the run stopped (for 'matched': when the awaited text was complete). */
  icount: number;
  /** COM1, port 0x402 (SeaBIOS's log) and port 0xE9, as Latin-1 text. */
  serial: string;
  biosLog: string;
  debugcon: string;
}

export interface RunOptions {
  /** Give up after this many instructions. */
  limit: number;
  /**
   * Stop as soon as COM1's output (its last 4 KiB) matches this: a host-side stop that leaves
   * guest state untouched.
   */
  until?: RegExp;
}

/** A PC with SeaBIOS and its VGA BIOS, `noReboot` on, and `config` on top. */
export function seabiosPc(config: Partial<PcConfig>): Pc {
  return createPc({ ramSize: 32 << 20, bios: readFileSync(BIOS), vgaBios: readFileSync(VGABIOS), noReboot: true, ...config });
}

/** Run `pc` until the guest exits or stops, `opts.until` matches COM1's output, or the limit. */
export function runGuest(pc: Pc, opts: RunOptions): GuestRun {
  let serial = '';
  let biosLog = '';
  let debugcon = '';
  let matchedAt = -1;
  // SeaBIOS's log goes to 0x402, boot code's to 0xE9; the debug-port device emits both as
  // 'debugcon', so tell them apart at the port.
  pc.machine.io.claim(0x402, 1, { read8: () => 0xe9, write8: (_p, v) => (biosLog += String.fromCharCode(v)) });
  const stop = pc.machine.output.listen((e) => {
    if (typeof e.data !== 'number') return;
    if (e.kind === 'serial' && e.channel === 0) {
      serial += String.fromCharCode(e.data);
      if (matchedAt < 0 && opts.until?.test(serial.slice(-4096))) {
        matchedAt = e.icount;
        pc.machine.requestStop('stopped');
      }
    } else if (e.kind === 'debugcon') {
      debugcon += String.fromCharCode(e.data);
    }
  });
  try {
    const r = pc.machine.run(opts.limit);
    if (matchedAt >= 0) return { pc, reason: 'matched', icount: matchedAt, serial, biosLog, debugcon };
    return { pc, ...r, serial, biosLog, debugcon };
  } finally {
    stop();
  }
}
