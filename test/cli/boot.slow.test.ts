// `bitrot boot` with Debian's SeaBIOS: a whole floppy boot of the modes guest with its exit
// status, debug log, screen dump and screenshot, and the instruction limit (skipped without
// the seabios package).

import { describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootCommand } from '../../cli/commands/boot.ts';

const haveBios = existsSync('/usr/share/seabios/bios-256k.bin') || existsSync('/usr/share/seabios/bios.bin');
const skipNote = haveBios ? '' : ' (skipped: no SeaBIOS in /usr/share/seabios; apt-get install seabios)';
const dir = mkdtempSync(join(tmpdir(), 'bitrot-boot-'));

async function boot(...args: string[]): Promise<{ status: number; errors: string[] }> {
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  try {
    return { status: await bootCommand(args), errors };
  } finally {
    spy.mockRestore();
  }
}

describe(`bitrot boot: SeaBIOS${skipNote}`, () => {
  it.skipIf(!haveBios)('boots the modes guest from a floppy: exit status 1, log, screen dump, screenshot', { timeout: 300_000 }, async () => {
    const guest = readFileSync(new URL('../guests/bin/modes.img', import.meta.url));
    const fda = join(dir, 'modes-fd.img');
    const img = new Uint8Array(1474560);
    img.set(guest);
    writeFileSync(fda, img);
    const log = join(dir, 'debugcon.log');
    const dump = join(dir, 'screen.txt');
    const png = join(dir, 'screen.png');
    const r = await boot('-fda', fda, '-debugcon', `file:${log}`, '-display', 'none', '-no-reboot', '--max-instructions', '100000000', '--screen-dump', dump, '--screenshot', png);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(1);
    const text = readFileSync(log, 'latin1');
    expect(text).toMatch(/^SeaBIOS \(version /);
    expect(text).toContain('Booting from Floppy...');
    expect(text).toContain('modes: 13 checks, 0 failed');
    expect(readFileSync(dump, 'latin1')).toContain('Booting from Floppy...');
    expect([...readFileSync(png).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it.skipIf(!haveBios)('stops at --max-instructions with status 0', { timeout: 300_000 }, async () => {
    const fda = join(dir, 'modes-fd2.img');
    writeFileSync(fda, new Uint8Array(1474560));
    const r = await boot('-fda', fda, '-display', 'none', '--max-instructions', '2000000');
    expect(r.status).toBe(0);
    expect(r.errors).toEqual(['bitrot boot: stopped at the instruction limit (2000000)']);
  });

  /** A 1.44M floppy whose boot sector is `code` (with the 55AA signature). */
  function bootSector(name: string, code: number[]): string {
    const img = new Uint8Array(1474560);
    img.set(code);
    img[510] = 0x55;
    img[511] = 0xaa;
    const path = join(dir, name);
    writeFileSync(path, img);
    return path;
  }

  it.skipIf(!haveBios)('-no-reboot: a triple fault exits with status 3', { timeout: 300_000 }, async () => {
    // lidt [0x7d00] (a zero-limit IDT); int3 -> #GP -> #DF -> shutdown
    const fda = bootSector('triple.img', [0x0f, 0x01, 0x1e, 0x00, 0x7d, 0xcc]);
    const r = await boot('-fda', fda, '-display', 'none', '-no-reboot', '--max-instructions', '100000000');
    expect(r.status).toBe(3);
    expect(r.errors).toEqual([expect.stringMatching(/^bitrot boot: triple fault at instruction \d+ \(CS:EIP 0:7c05\)$/)]);
  });

  it.skipIf(!haveBios)('-no-reboot: a reset through the keyboard controller stops with status 0', { timeout: 300_000 }, async () => {
    const fda = bootSector('kbc-reset.img', [0xb0, 0xfe, 0xe6, 0x64, 0xf4]); // mov al,0xfe; out 0x64,al; hlt
    const r = await boot('-fda', fda, '-display', 'none', '-no-reboot', '--max-instructions', '100000000');
    expect(r.status).toBe(0);
    expect(r.errors).toEqual([expect.stringMatching(/^bitrot boot: the guest asked for a reset \(i8042\) at instruction \d+; stopped \(-no-reboot\)$/)]);
  });
});
