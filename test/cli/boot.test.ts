// `bitrot boot`: one-line errors for the files and flags the user gives (the boots
// themselves are in boot.slow.test.ts).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootCommand } from '../../cli/commands/boot.ts';

const dir = mkdtempSync(join(tmpdir(), 'bitrot-boot-'));
/** A stand-in BIOS image of a valid size: these runs fail before anything executes. */
const bios = join(dir, 'bios.bin');
writeFileSync(bios, new Uint8Array(65536));

async function boot(...args: string[]): Promise<{ status: number; errors: string[] }> {
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  try {
    return { status: await bootCommand(args), errors };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('bitrot boot: errors', () => {
  it('a missing floppy image is one line naming the file', async () => {
    const r = await boot('-fda', join(dir, 'nope.img'), '-bios', bios);
    expect(r.status).toBe(2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^bitrot boot: cannot read floppy image '.*nope\.img': no such file$/);
  });

  it('a floppy image of the wrong size says which sizes work', async () => {
    const bad = join(dir, 'small.img');
    writeFileSync(bad, new Uint8Array(6144));
    const r = await boot('-fda', bad, '-bios', bios);
    expect(r.status).toBe(2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain(`floppy image '${bad}': 6144 bytes is not a floppy size`);
    expect(r.errors[0]).toContain('1.44M (1474560)');
  });

  it('a missing -bios file is one line naming it', async () => {
    const r = await boot('-fda', 'x.img', '-bios', join(dir, 'nobios.bin'));
    expect(r.status).toBe(2);
    expect(r.errors).toEqual([expect.stringMatching(/^bitrot boot: cannot read BIOS image '.*nobios\.bin': no such file$/)]);
  });

  it('bad usage prints the usage', async () => {
    const r = await boot('-boot', 'z', '-fda', 'x.img');
    expect(r.status).toBe(2);
    expect(r.errors[0]).toMatch(/^bitrot boot: -boot takes a, c or d/);
  });
});
