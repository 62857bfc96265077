// qemu-diff without QEMU: the instruction classifier it relies on (operands, stack
// accesses, undefined flags), the protocol's escapes, and the command line's usage errors.
// The comparison against QEMU itself is in qemu-diff.slow.test.ts.

import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unescapeData } from '../../tools/qemu-diff/rsp.ts';
import * as x86 from '../../tools/qemu-diff/x86.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const regs = (o: Partial<Record<'eax' | 'ecx' | 'edx' | 'ebx' | 'esp' | 'ebp' | 'esi' | 'edi', number>>): number[] =>
  [o.eax ?? 0, o.ecx ?? 0, o.edx ?? 0, o.ebx ?? 0, o.esp ?? 0, o.ebp ?? 0, o.esi ?? 0, o.edi ?? 0];

function operands(hex: string, code32: boolean, r: number[]): { seg: number; offset: number }[] {
  const b = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  return x86.memOperands(b, x86.decode(b, code32), r, code32);
}

describe('qemu-diff instruction classifier', () => {
  it('finds ModRM memory operands in 16- and 32-bit addressing, with segment defaults and overrides', () => {
    expect(operands('26 67 8a 06', false, regs({ esi: 0x10000 }))).toEqual([{ seg: 0, offset: 0x10000 }]); // mov al,es:[esi]
    expect(operands('8a 46 02', false, regs({ ebp: 0x1234 }))).toEqual([{ seg: 2, offset: 0x1236 }]); // mov al,[bp+2]
    expect(operands('8b 03', true, regs({ ebx: 0x47001 }))).toEqual([{ seg: 3, offset: 0x47001 }]); // mov eax,[ebx]
    expect(operands('c7 05 78 90 00 00 00 00 00 00', true, regs({}))).toEqual([{ seg: 3, offset: 0x9078 }]);
    expect(operands('8b 44 8b fc', true, regs({ ebx: 0x100, ecx: 2 }))).toEqual([{ seg: 3, offset: 0x104 }]); // [ebx+ecx*4-4]
    expect(operands('8b 45 08', true, regs({ ebp: 0x7000 }))).toEqual([{ seg: 2, offset: 0x7008 }]); // [ebp+8]
    expect(operands('f3 a4', false, regs({ esi: 5, edi: 9 }))).toEqual([{ seg: 3, offset: 5 }, { seg: 0, offset: 9 }]);
    expect(operands('8d 47 04', true, regs({}))).toEqual([]); // LEA reads no memory
    expect(operands('89 c3', true, regs({}))).toEqual([]);
  });

  it('knows the stack bytes a push or pop touches', () => {
    const d = (hex: string, code32: boolean): x86.Insn => x86.decode(Uint8Array.from(Buffer.from(hex, 'hex')), code32);
    expect(x86.stackAccess(d('50', true), true)).toEqual({ from: -4, to: 0 });
    expect(x86.stackAccess(d('6650', false), false)).toEqual({ from: -4, to: 0 });
    expect(x86.stackAccess(d('60', true), true)).toEqual({ from: -32, to: 0 });
    expect(x86.stackAccess(d('cf', true), true)).toEqual({ from: 0, to: 12 });
    expect(x86.stackAccess(d('89c3', true), true)).toBeNull();
  });

  it('masks the flags the SDM leaves undefined', () => {
    const u = (hex: string, ecx = 0): number => {
      const b = Uint8Array.from(Buffer.from(hex, 'hex'));
      return x86.undefinedFlags(x86.decode(b, true), ecx, true);
    };
    expect(u('21c3')).toBe(x86.AF); // and ebx,eax
    expect(u('01c3')).toBe(0); // add
    expect(u('f7e3')).toBe(x86.SF | x86.ZF | x86.AF | x86.PF); // mul ebx
    expect(u('f7f3')).toBe(0x8d5); // div ebx
    expect(u('c1e805')).toBe(x86.OF | x86.AF); // shr eax,5
    expect(u('d1e8')).toBe(x86.AF); // shr eax,1
    expect(u('d3e8', 0)).toBe(0); // shr eax,cl with cl=0
    expect(u('c1c003')).toBe(x86.OF); // rol eax,3
    expect(u('0fbcc8')).toBe(x86.CF | x86.OF | x86.SF | x86.AF | x86.PF); // bsf
  });

  it('undoes the protocol escapes and run-length encoding', () => {
    expect(unescapeData('ab}\x03cd')).toBe('ab#cd');
    expect(unescapeData('0* ')).toBe('0000');
    expect(unescapeData('plain')).toBe('plain');
  });
});

describe('qemu-diff command line', () => {
  it('a usage error is one line and exit status 2', () => {
    const r = spawnSync(join(repoRoot, 'node_modules/.bin/tsx'), ['tools/qemu-diff/main.ts', 'x.img', '--max', 'lots'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    const err = r.stderr.replace(/^npm warn.*\n/gm, '');
    expect(err).toBe("qemu-diff: --max: 'lots' is not a number (decimal or 0x hex) (--help lists the options)\n");
  }, 60_000);

  it('a missing image is one line and exit status 2', () => {
    const r = spawnSync(join(repoRoot, 'node_modules/.bin/tsx'), ['tools/qemu-diff/main.ts', '/nonexistent/guest.img'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.replace(/^npm warn.*\n/gm, '')).toBe('qemu-diff: /nonexistent/guest.img: cannot read the image (ENOENT)\n');
  }, 60_000);
});
