// A whole PC (engine/pc.ts) whose "BIOS" is a few lines of NASM: the code sits at F000:0000
// and the reset vector jumps to it, so fault tests run in milliseconds on the real device
// wiring (PIC, PIT, IDE, floppy) without SeaBIOS.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPc, type Pc, type PcConfig } from '../../engine/pc.ts';

export function haveNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<string, Uint8Array>();

/** Assemble `body` (16-bit, org 0, run from F000:0000 with DS=SS=0, SP=7C00) into a 64 KiB BIOS image. */
export function tinyBios(body: string): Uint8Array {
  const hit = cache.get(body);
  if (hit) return hit;
  const src = [
    'bits 16',
    'org 0',
    'start:',
    '  cli',
    '  xor ax, ax',
    '  mov ds, ax',
    '  mov es, ax',
    '  mov ss, ax',
    '  mov sp, 0x7c00',
    body,
    'exit:',
    '  out 0xf4, al',
    '  hlt',
    '  jmp exit',
    'times 0xfff0 - ($ - $$) db 0',
    '  jmp 0xf000:start',
    'times 0x10000 - ($ - $$) db 0',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'bitrot-tiny-'));
  try {
    writeFileSync(join(dir, 'a.asm'), src);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')]);
    const bios = new Uint8Array(readFileSync(join(dir, 'a.bin')));
    cache.set(body, bios);
    return bios;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tinyPc(body: string, config: Partial<PcConfig> = {}): Pc {
  return createPc({ ramSize: 4 << 20, bios: tinyBios(body), noReboot: true, ...config });
}

/** Port 0xE9 output as text. */
export function debugcon(pc: Pc): string {
  return pc.machine.output.text('debugcon');
}
