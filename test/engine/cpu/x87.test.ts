// The x87 FPU (engine/cpu/x87.ts) on the bare machine: small programs assembled with NASM,
// run in real mode (or flat 32-bit protected mode), their results read back from memory and
// from the FPU state. Expected values follow the SDM; where binary64 is the model (arithmetic),
// the operands are chosen so the exact result is a double or the rounding is the point.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBareMachine } from '../../../engine/bare.ts';
import type { Machine } from '../../../engine/machine.ts';
import { S } from '../../../engine/cpu/constants.ts';

function hasNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const NASM = hasNasm();

// NASM output is a pure function of the source: kept in memory, and on disk (keyed by the
// source's SHA-256 and NASM's version) so later runs of the suite skip the assembler.
const cache = new Map<string, Uint8Array>();
const diskCache = join(tmpdir(), 'bitrot-nasm-cache');
const nasmVersion = NASM ? execFileSync('nasm', ['-v'], { encoding: 'utf8' }).trim() : '';
function assemble(src: string): Uint8Array {
  const hit = cache.get(src);
  if (hit) return hit;
  const key = join(diskCache, `${createHash('sha256').update(nasmVersion).update('\0').update(src).digest('hex')}.bin`);
  if (existsSync(key)) {
    const b = new Uint8Array(readFileSync(key));
    cache.set(src, b);
    return b;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bitrot-x87-'));
  try {
    writeFileSync(join(dir, 'a.asm'), src);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')]);
    const b = new Uint8Array(readFileSync(join(dir, 'a.bin')));
    cache.set(src, b);
    mkdirSync(diskCache, { recursive: true });
    // Written under a unique name, then renamed: a reader never sees half a file.
    writeFileSync(join(dir, 'done.bin'), b);
    renameSync(join(dir, 'done.bin'), key);
    return b;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EXDEV') return cache.get(src)!;
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const OUT = 0x9000;

/** A real-mode program at 0000:7C00 (DS = ES = SS = 0), ending in HLT. */
function real(body: string): Machine {
  return createBareMachine({ image: assemble(`bits 16\norg 0x7c00\n${body}\nhlt\n`), ramSize: 1 << 20 });
}

/** A flat 32-bit protected-mode program at 0x8000 (CS 08h, data 10h), ending in HLT. */
function pm32(body: string): Machine {
  const m = createBareMachine({ ramSize: 1 << 20 });
  const gdt = [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200];
  gdt.forEach((v, k) => m.mem.write32(0x1000 + k * 4, v | 0));
  for (let v = 0; v < 256; v++) {
    m.mem.write32(0x2000 + v * 8, (0x0008 << 16) | 0x3000);
    m.mem.write32(0x2004 + v * 8, 0x00008e00);
  }
  m.mem.write8(0x3000, 0xf4);
  const cpu = m.cpu;
  cpu.gdtrBase = 0x1000;
  cpu.gdtrLimit = 23;
  cpu.idtrBase = 0x2000;
  cpu.idtrLimit = 256 * 8 - 1;
  cpu.setCR0(cpu.cr0 | 1);
  cpu.setSegRaw(S.CS, 8, 0, 0xffffffff, 0x9b | 0xc000);
  for (const s of [S.DS, S.ES, S.SS, S.FS, S.GS]) cpu.setSegRaw(s, 0x10, 0, 0xffffffff, 0x93 | 0xc000);
  cpu.regs[4] = 0x7000;
  cpu.eip = 0x8000;
  m.mem.load(0x8000, assemble(`bits 32\norg 0x8000\n${body}\nhlt\n`));
  return m;
}

function run(m: Machine): Machine {
  const r = m.run(m.icount + 2_000_000);
  expect(r.reason).toBe('halted');
  return m;
}

/** Step until an exception is delivered: its vector and the EIP of the instruction that raised it. */
function stepToException(m: Machine, max = 10_000): { vector: number; eip: number } | null {
  const cpu = m.cpu;
  for (let k = 0; k < max && !cpu.halted; k++) {
    const eip = cpu.eip;
    cpu.step();
    if (cpu.lastException >= 0) return { vector: cpu.lastException, eip };
  }
  return null;
}

const b = (m: Machine, a: number) => m.mem.backing[a];
const u16 = (m: Machine, a: number) => b(m, a) | (b(m, a + 1) << 8);
const u32 = (m: Machine, a: number) => (u16(m, a) | (u16(m, a + 2) << 16)) >>> 0;
const hex = (m: Machine, a: number, n: number) =>
  Array.from(m.mem.backing.subarray(a, a + n))
    .reverse()
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('');
const f64 = (m: Machine, a: number) => new DataView(m.mem.backing.buffer, m.mem.backing.byteOffset).getFloat64(a, true);

/** An 80-bit value in NASM: significand (16 hex digits) then sign+exponent. */
const t80 = (se: number, mant: string) => `dq 0x${mant}\n dw 0x${se.toString(16)}`;

const SW_IE = 0x1, SW_DE = 0x2, SW_ZE = 0x4, SW_OE = 0x8, SW_UE = 0x10, SW_PE = 0x20, SW_SF = 0x40, SW_ES = 0x80;
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
const CW = (rc: number, masks = 0x3f) => 0x0340 | (rc << 10) | masks;

/**
 * Load `src` (a NASM data line) with `load`, store it with `store` to OUT under control word
 * `cw`; the stored bytes (most significant first) and the status word.
 */
function convert(load: string, src: string, store: string, size: number, cw = CW(0)): { out: string; sw: number } {
  const m = run(
    real(`fninit
      fldcw [cw]
      ${load} [src]
      ${store} [${OUT}]
      fnstsw [${OUT + 0x20}]
      hlt
      align 16
      cw: dw ${cw}
      src: ${src}`),
  );
  return { out: hex(m, OUT, size), sw: u16(m, OUT + 0x20) };
}

describe.skipIf(!NASM)('x87 FPU', () => {
  describe('state after RESET, FNINIT and CPUID', () => {
    it('power-up state follows SDM vol. 3 table 9-1, FNINIT gives 037FH and an empty stack', () => {
      const m = run(
        real(`fnstcw [${OUT}]
          fnstenv [${OUT + 0x10}]
          fninit
          fnstcw [${OUT + 2}]
          fnstenv [${OUT + 0x20}]
          fldz
          fld1
          fcompp
          fnstsw [${OUT + 4}]`),
      );
      expect(u16(m, OUT)).toBe(0x0040);
      expect(u16(m, OUT + 0x10 + 4)).toBe(0x5555); // tags: R0-R7 hold +0.0
      expect(u16(m, OUT + 0x10 + 2)).toBe(0);
      expect(u16(m, OUT + 2)).toBe(0x037f);
      expect(u16(m, OUT + 0x20 + 4)).toBe(0xffff);
      expect(u16(m, OUT + 4) & (C3 | C2 | C0)).toBe(0); // ST(0) = 1 > ST(1) = 0
    });

    it('INIT keeps the x87 state, RESET does not', () => {
      const m = run(real('fninit\nfld1'));
      m.cpu.reset(true);
      expect(m.cpu.fpu.cw).toBe(0x037f);
      expect(m.cpu.fpu.empty).toBe(0x7f);
      m.cpu.reset();
      expect(m.cpu.fpu.cw).toBe(0x0040);
      expect(m.cpu.fpu.tagWord()).toBe(0x5555);
    });

    it('CPUID reports FPU and CMOV (so FCMOV), no MMX, FXSR or SSE; CR0.ET reads 1', () => {
      const m = run(
        real(`mov eax, 1
          cpuid
          mov [${OUT}], edx
          mov eax, cr0
          and eax, ~0x10
          mov cr0, eax
          mov eax, cr0
          mov [${OUT + 4}], eax`),
      );
      const edx = u32(m, OUT);
      expect(edx & 1).toBe(1);
      expect(edx & (1 << 15)).not.toBe(0);
      expect(edx & ((1 << 23) | (1 << 24) | (1 << 25) | (1 << 26))).toBe(0);
      expect(u32(m, OUT + 4) & 0x10).toBe(0x10);
    });
  });

  describe('loads and stores', () => {
    it('FLD m32 to 80 bits: normal, denormal (DE), zero, infinity, QNaN and SNaN (IE, quieted)', () => {
      const cases: [string, string, number][] = [
        ['0x3fc00000', '3fffc000000000000000', 0],
        ['0x00000001', '3f6a8000000000000000', SW_DE],
        ['0x80000000', '80000000000000000000', 0],
        ['0xff800000', 'ffff8000000000000000', 0],
        ['0x7fc12345', '7fffc123450000000000', 0],
        ['0x7f812345', '7fffc123450000000000', SW_IE],
      ];
      for (const [src, out, flags] of cases) {
        const r = convert('fld dword', `dd ${src}`, 'fstp tword', 10);
        expect(r.out, src).toBe(out);
        expect(r.sw & 0x3f, src).toBe(flags);
      }
    });

    it('FLD m64 to 80 bits: 1/3, the smallest denormal, a NaN payload', () => {
      expect(convert('fld qword', 'dq 0x3fd5555555555555', 'fstp tword', 10).out).toBe('3ffdaaaaaaaaaaaaa800');
      const d = convert('fld qword', 'dq 1', 'fstp tword', 10);
      expect(d.out).toBe('3bcd8000000000000000');
      expect(d.sw & SW_DE).toBe(SW_DE);
      expect(convert('fld qword', 'dq 0xfff0000000000123', 'fstp tword', 10).out).toBe('ffffc000000000091800');
    });

    it('FLD m80 and FSTP m80 are exact for every encoding, with no exception', () => {
      for (const [se, mant] of [
        [0x3fff, 'ffffffffffffffff'], // 64-bit significand
        [0x0000, '0000000000000001'], // denormal
        [0x0000, '8000000000000000'], // pseudo-denormal
        [0x3fff, '4000000000000000'], // unnormal (unsupported)
        [0x7fff, '8000000000000001'], // SNaN
        [0x7fff, '0000000000000000'], // pseudo-infinity
        [0x7ffe, 'ffffffffffffffff'], // largest
        [0xc3ff, '8000000000000001'], // beyond binary64
      ] as [number, string][]) {
        const r = convert('fld tword', t80(se, mant), 'fstp tword', 10);
        expect(r.out, `${se.toString(16)} ${mant}`).toBe(se.toString(16).padStart(4, '0') + mant);
        expect(r.sw & 0x3f).toBe(0);
      }
    });

    it('FSTP m64 rounds an 80-bit value by RC, with PE and C1 (rounded up)', () => {
      const tie = t80(0x3fff, '8000000000000400'); // 1 + 2^-53
      const above = t80(0x3fff, '8000000000000401');
      const negAbove = t80(0xbfff, '8000000000000401');
      const expectFor = (src: string, rc: number, out: string, up: boolean) => {
        const r = convert('fld tword', src, 'fstp qword', 8, CW(rc));
        expect(r.out, `rc ${rc}`).toBe(out);
        expect(r.sw & (SW_PE | C1), `rc ${rc}`).toBe(SW_PE | (up ? C1 : 0));
      };
      expectFor(tie, 0, '3ff0000000000000', false);
      expectFor(tie, 2, '3ff0000000000001', true);
      expectFor(tie, 1, '3ff0000000000000', false);
      expectFor(above, 0, '3ff0000000000001', true);
      expectFor(above, 3, '3ff0000000000000', false);
      expectFor(negAbove, 0, 'bff0000000000001', true);
      expectFor(negAbove, 1, 'bff0000000000001', true);
      expectFor(negAbove, 2, 'bff0000000000000', false);
      expectFor(negAbove, 3, 'bff0000000000000', false);
    });

    it('FSTP m64 overflow (OE, inf or the largest by RC), underflow (UE only when inexact)', () => {
      const big = t80(0x43ff, '8000000000000000'); // 2^1024
      let r = convert('fld tword', big, 'fstp qword', 8, CW(0));
      expect(r.out).toBe('7ff0000000000000');
      expect(r.sw & 0x3f).toBe(SW_OE | SW_PE);
      r = convert('fld tword', big, 'fstp qword', 8, CW(3));
      expect(r.out).toBe('7fefffffffffffff');
      r = convert('fld tword', t80(0x3c00, '8000000000000000'), 'fstp qword', 8); // 2^-1023: exact denormal
      expect(r.out).toBe('0008000000000000');
      expect(r.sw & 0x3f).toBe(0);
      r = convert('fld tword', t80(0x3bcc, '8000000000000000'), 'fstp qword', 8); // 2^-1075: a tie to 0
      expect(r.out).toBe('0000000000000000');
      expect(r.sw & 0x3f).toBe(SW_UE | SW_PE);
      r = convert('fld tword', t80(0x3bcc, '8000000000000000'), 'fstp qword', 8, CW(2));
      expect(r.out).toBe('0000000000000001');
      // Unmasked overflow: nothing is stored and nothing is popped.
      const m = run(
        real(`fninit
          fldcw [cw]
          fld tword [src]
          mov dword [${OUT}], 0x5a5a5a5a
          fstp qword [${OUT}]
          fnstsw [${OUT + 0x20}]
          hlt
          align 16
          cw: dw ${CW(0, 0x37)}
          src: ${big}`),
      );
      expect(u32(m, OUT)).toBe(0x5a5a5a5a);
      expect(u16(m, OUT + 0x20) & (SW_OE | SW_ES | 0x3800)).toBe(SW_OE | SW_ES | 0x3800);
    });

    it('FST m32 rounds by RC; overflow and underflow', () => {
      const third = 'dq 0x3fd5555555555555';
      const mthird = 'dq 0xbfd5555555555555';
      const want = [
        ['3eaaaaab', 'beaaaaab'],
        ['3eaaaaaa', 'beaaaaab'],
        ['3eaaaaab', 'beaaaaaa'],
        ['3eaaaaaa', 'beaaaaaa'],
      ];
      for (let rc = 0; rc < 4; rc++) {
        expect(convert('fld qword', third, 'fstp dword', 4, CW(rc)).out, `rc ${rc}`).toBe(want[rc][0]);
        expect(convert('fld qword', mthird, 'fstp dword', 4, CW(rc)).out, `rc ${rc}`).toBe(want[rc][1]);
      }
      let r = convert('fld qword', 'dq 1e300', 'fstp dword', 4);
      expect(r.out).toBe('7f800000');
      expect(r.sw & 0x3f).toBe(SW_OE | SW_PE);
      expect(convert('fld qword', 'dq 1e300', 'fstp dword', 4, CW(3)).out).toBe('7f7fffff');
      r = convert('fld qword', 'dq 1e-40', 'fstp dword', 4);
      expect(r.out).toBe('000116c2');
      expect(r.sw & 0x3f).toBe(SW_UE | SW_PE);
    });

    it('FST of an empty register stores the default NaN (IE, SF)', () => {
      const m = run(real(`fninit\nfstp qword [${OUT}]\nfnstsw [${OUT + 0x20}]`));
      expect(hex(m, OUT, 8)).toBe('fff8000000000000');
      expect(u16(m, OUT + 0x20) & 0x7f).toBe(SW_IE | SW_SF);
    });

    it('a store that faults changes no x87 state (stack, pointers)', () => {
      const m = real(`fninit
        fld1
        fldz
        fstp qword [0xfffc]`);
      const e = stepToException(m);
      expect(e?.vector).toBe(13);
      const f = m.cpu.fpu;
      expect(f.top).toBe(6);
      expect(f.empty).toBe(0x3f);
      expect(f.fop).toBe(0x1ee); // FLDZ
    });

    it('FNSAVE that faults does not reinitialize', () => {
      const m = real(`fninit
        fld1
        fnsave [0xfff0]`);
      expect(stepToException(m)?.vector).toBe(13);
      expect(m.cpu.fpu.top).toBe(7);
    });

    it('x87 stores hit data breakpoints', () => {
      const m = real(`fninit
        fld1
        mov eax, ${OUT + 4}
        mov dr0, eax
        mov eax, 0x000d0001
        mov dr7, eax
        fstp qword [${OUT}]
        nop`);
      const e = stepToException(m);
      expect(e?.vector).toBe(1);
      expect(m.cpu.dr[6] & 1).toBe(1);
    });
  });

  describe('integers and BCD', () => {
    it('FISTP m32 in each rounding mode', () => {
      const values = [2.5, -2.5, 3.5, -3.5, 2.4, -2.6];
      const want = [
        [2, -2, 4, -4, 2, -3],
        [2, -3, 3, -4, 2, -3],
        [3, -2, 4, -3, 3, -2],
        [2, -2, 3, -3, 2, -2],
      ];
      for (let rc = 0; rc < 4; rc++) {
        values.forEach((v, k) => {
          const r = convert('fld qword', `dq ${v.toFixed(1)}`, 'fistp dword', 4, CW(rc));
          expect(Number(BigInt.asIntN(32, BigInt(`0x${r.out}`))), `${v} rc ${rc}`).toBe(want[rc][k]);
          const up = Math.abs(want[rc][k]) > Math.abs(v);
          expect(r.sw & (SW_PE | C1), `${v} rc ${rc}`).toBe(SW_PE | (up ? C1 : 0));
        });
      }
    });

    it('out of range, NaN and infinity give the integer indefinite (IE)', () => {
      const cases: [string, string, string, number, string][] = [
        ['fld qword', 'dq 32767.4', 'fistp word', 2, '7fff'],
        ['fld qword', 'dq 32767.5', 'fistp word', 2, '8000'],
        ['fld qword', 'dq -32768.4', 'fistp word', 2, '8000'],
        ['fld qword', 'dq -32768.6', 'fistp word', 2, '8000'],
        ['fld qword', 'dq 2147483648.0', 'fistp dword', 4, '80000000'],
        ['fld qword', 'dq -2147483648.0', 'fistp dword', 4, '80000000'],
        ['fld tword', t80(0x403e, '8000000000000000'), 'fistp qword', 8, '8000000000000000'],
        ['fld tword', t80(0xc03e, '8000000000000000'), 'fistp qword', 8, '8000000000000000'],
        ['fld qword', 'dq 0x7ff8000000000000', 'fistp dword', 4, '80000000'],
        ['fld qword', 'dq 0xfff0000000000000', 'fistp qword', 8, '8000000000000000'],
      ];
      const invalid = [false, true, false, true, true, false, true, false, true, true];
      cases.forEach(([load, src, store, size, out], k) => {
        const r = convert(load, src, store, size);
        expect(r.out, src).toBe(out);
        expect(r.sw & SW_IE, src).toBe(invalid[k] ? SW_IE : 0);
      });
    });

    it('FIST with IE unmasked stores nothing and does not pop', () => {
      const m = run(
        real(`fninit
          fldcw [cw]
          fld qword [src]
          mov dword [${OUT}], 0x12345678
          fistp dword [${OUT}]
          fnstsw [${OUT + 0x20}]
          hlt
          align 16
          cw: dw ${CW(0, 0x3e)}
          src: dq 1e20`),
      );
      expect(u32(m, OUT)).toBe(0x12345678);
      expect((u16(m, OUT + 0x20) >> 11) & 7).toBe(7);
    });

    it('FILD m64 and FISTP m64 are exact beyond 2^53; FILD m16/m32', () => {
      for (const v of ['7fffffffffffffff', '8000000000000000', '0123456789abcdef', 'fedcba9876543211']) {
        expect(convert('fild qword', `dq 0x${v}`, 'fistp qword', 8).out).toBe(v);
      }
      expect(convert('fild qword', 'dq 0x0123456789abcdef', 'fstp tword', 10).out).toBe('403791a2b3c4d5e6f780');
      expect(convert('fild word', 'dw -12345', 'fstp qword', 8).out).toBe('c0c81c8000000000');
      expect(convert('fild dword', 'dd -2147483648', 'fstp qword', 8).out).toBe('c1e0000000000000');
    });

    it('FBLD and FBSTP: 18 digits exactly, sign, rounding, the BCD indefinite', () => {
      const bcd = 'db 0x78,0x56,0x34,0x12,0x90,0x78,0x56,0x34,0x12,0x80';
      expect(convert('fbld', bcd, 'fbstp', 10).out).toBe('80123456789012345678');
      expect(convert('fbld', bcd, 'fistp qword', 8).out).toBe(BigInt.asUintN(64, -123456789012345678n).toString(16));
      const r = convert('fld qword', 'dq 1e18', 'fbstp', 10);
      expect(r.out).toBe('ffffc000000000000000');
      expect(r.sw & SW_IE).toBe(SW_IE);
      expect(convert('fld qword', 'dq 2.5', 'fbstp', 10).out).toBe('00000000000000000002');
      expect(convert('fld qword', 'dq -999999999999999872.0', 'fbstp', 10, CW(3)).out).toBe('80999999999999999872');
    });
  });

  describe('compares and FXAM', () => {
    /** Compare a with b (NASM data lines) using `insn` after `fld b; fld a`; the status word. */
    function cmp(a: string, bv: string, insn: string): number {
      const m = run(
        real(`fninit
          fld ${bv.includes('dw') ? 'tword' : 'qword'} [bv]
          fld ${a.includes('dw') ? 'tword' : 'qword'} [av]
          ${insn}
          fnstsw [${OUT}]
          pushf
          pop word [${OUT + 2}]
          hlt
          align 16
          av: ${a}
          align 16
          bv: ${bv}`),
      );
      return u16(m, OUT) | (u16(m, OUT + 2) << 16);
    }
    const CODES = C3 | C2 | C0;
    const QNAN = 'dq 0x7ff8000000000001';
    const SNAN = t80(0x7fff, 'a000000000000000');

    it('FCOM/FUCOM condition codes; QNaN is invalid only for FCOM, SNaN for both', () => {
      expect(cmp('dq 1.0', 'dq 2.0', 'fcompp') & CODES).toBe(C0);
      expect(cmp('dq 2.0', 'dq 1.0', 'fcompp') & CODES).toBe(0);
      expect(cmp('dq 2.0', 'dq 2.0', 'fcompp') & CODES).toBe(C3);
      expect(cmp('dq 0.0', 'dq -0.0', 'fcompp') & CODES).toBe(C3);
      let sw = cmp(QNAN, 'dq 1.0', 'fcom st1');
      expect(sw & (CODES | SW_IE)).toBe(CODES | SW_IE);
      sw = cmp(QNAN, 'dq 1.0', 'fucom st1');
      expect(sw & (CODES | SW_IE)).toBe(CODES);
      sw = cmp(SNAN, 'dq 1.0', 'fucompp');
      expect(sw & (CODES | SW_IE)).toBe(CODES | SW_IE);
      expect((sw >> 11) & 7).toBe(0);
    });

    it('integers above 2^53 compare exactly', () => {
      const m = run(
        real(`fninit
          fild qword [b1]
          fild qword [b0]
          fcompp
          fnstsw [${OUT}]
          hlt
          align 8
          b0: dq 0x1000000000000001
          b1: dq 0x1000000000000000`),
      );
      expect(u16(m, OUT) & CODES).toBe(0);
    });

    it('FCOMI, FUCOMIP set ZF PF CF and clear OF SF AF', () => {
      const flags = (v: number) => (v >>> 16) & 0x8d5;
      expect(flags(cmp('dq 1.0', 'dq 2.0', 'fcomi st1'))).toBe(0x01);
      expect(flags(cmp('dq 2.0', 'dq 1.0', 'fcomi st1'))).toBe(0);
      expect(flags(cmp('dq 2.0', 'dq 2.0', 'fucomip st1'))).toBe(0x40);
      expect(flags(cmp(QNAN, 'dq 2.0', 'fucomip st1'))).toBe(0x45);
      const sw = cmp(QNAN, 'dq 2.0', 'fcomip st1');
      expect(sw & SW_IE).toBe(SW_IE);
      expect((sw >> 11) & 7).toBe(7);
    });

    it('FTST, FICOM', () => {
      expect(cmp('dq -1.0', 'dq 0.0', 'ftst') & CODES).toBe(C0);
      const m = run(
        real(`fninit
          fld qword [v]
          ficom word [i]
          fnstsw [${OUT}]
          hlt
          v: dq 3.0
          i: dw 3`),
      );
      expect(u16(m, OUT) & CODES).toBe(C3);
    });

    it('FXAM classes', () => {
      const cls = (src: string, load = 'fld qword') => {
        const m = run(real(`fninit\n${load} [v]\nfxam\nfnstsw [${OUT}]\nhlt\nalign 8\nv: ${src}`));
        return u16(m, OUT) & (C3 | C2 | C1 | C0);
      };
      expect(cls('dq 1.0')).toBe(C2);
      expect(cls('dq -1.0')).toBe(C2 | C1);
      expect(cls('dq 0.0')).toBe(C3);
      expect(cls('dq -0.0')).toBe(C3 | C1);
      expect(cls('dq 0x7ff0000000000000')).toBe(C2 | C0);
      expect(cls('dq 0x7ff8000000000000')).toBe(C0);
      expect(cls(t80(0, '0000000000000001'), 'fld tword')).toBe(C3 | C2);
      expect(cls(t80(0x3fff, '4000000000000000'), 'fld tword')).toBe(0);
      const m = run(real(`fninit\nfxam\nfnstsw [${OUT}]`));
      expect(u16(m, OUT) & (C3 | C2 | C0)).toBe(C3 | C0);
    });

    it('FCMOVcc moves by EFLAGS', () => {
      const m = run(
        real(`fninit
          fld1
          fldz
          mov ax, 1
          cmp ax, 2
          fcmovnb st0, st1
          fst qword [${OUT}]
          fcmovb st0, st1
          fst qword [${OUT + 8}]
          fcmovu st0, st2`),
      );
      expect(f64(m, OUT)).toBe(0);
      expect(f64(m, OUT + 8)).toBe(1);
      expect(m.cpu.fpu.sw & SW_IE).toBe(SW_IE); // ST(2) empty: underflow
    });
  });

  describe('stack faults', () => {
    it('overflow: IE, SF, C1 = 1 and the default NaN pushed (masked)', () => {
      const m = run(
        real(`fninit
          ${'fld1\n'.repeat(9)}
          fnstsw [${OUT}]
          fstp tword [${OUT + 0x10}]`),
      );
      expect(u16(m, OUT) & (SW_IE | SW_SF | C1)).toBe(SW_IE | SW_SF | C1);
      expect((u16(m, OUT) >> 11) & 7).toBe(7);
      expect(hex(m, OUT + 0x10, 10)).toBe('ffffc000000000000000');
    });

    it('underflow: IE, SF, C1 = 0, the destination gets the default NaN; unmasked changes nothing', () => {
      let m = run(real(`fninit\nfld1\nfadd st0, st1\nfnstsw [${OUT}]\nfstp qword [${OUT + 8}]`));
      expect(u16(m, OUT) & (SW_IE | SW_SF | C1)).toBe(SW_IE | SW_SF);
      expect(hex(m, OUT + 8, 8)).toBe('fff8000000000000');
      m = run(
        real(`fninit
          fldcw [cw]
          fld1
          faddp st1, st0
          fnstsw [${OUT}]
          hlt
          cw: dw ${CW(0, 0x3e)}`),
      );
      expect(u16(m, OUT) & (SW_IE | SW_SF | SW_ES)).toBe(SW_IE | SW_SF | SW_ES);
      expect(m.cpu.fpu.top).toBe(7);
      expect(m.cpu.fpu.empty).toBe(0x7f);
    });
  });

  describe('environment and state images', () => {
    const SETUP = `fninit
      fldcw [cw]
      fld1
      fldpi
      fdiv st0, st1
      fld tword [ext]
      fld dword [val]
      fxch st2`;
    const DATA = `hlt
      align 16
      cw: dw 0x0b7f
      val: dd 2.5
      align 16
      ext: ${t80(0x4000, 'ffffffffffffffff')}`;

    it('real mode, 16-bit FNSTENV layout and FLDENV round trip', () => {
      const m = run(
        real(`${SETUP}
          fadd dword [val]
          fnstenv [${OUT}]
          fninit
          fldenv [${OUT}]
          fnstenv [${OUT + 0x40}]
          ${DATA}`),
      );
      expect(hex(m, OUT + 0x40, 14)).toBe(hex(m, OUT, 14));
      expect(u16(m, OUT)).toBe(0x0b7f);
      expect(u16(m, OUT + 2) & 0x3800).toBe(4 << 11);
      expect(u16(m, OUT + 4)).toBe(0x00ff); // R0-R3 empty, R4-R7 valid
      const faddAt = 0x7c00 + m.mem.backing.subarray(0x7c00, 0x7d00).findIndex((x, k, a) => x === 0xd8 && a[k + 1] === 0x06);
      expect(u16(m, OUT + 6)).toBe(faddAt);
      expect(u16(m, OUT + 8)).toBe(0x006); // FIP[19:16] = 0, opcode D8 06 -> 0x006
      expect(u16(m, OUT + 10)).toBe(m.cpu.fpu.fdp);
    });

    it('real mode, 32-bit FNSTENV layout (66h) round trip', () => {
      const m = run(
        real(`${SETUP}
          o32 fnstenv [${OUT}]
          fninit
          o32 fldenv [${OUT}]
          o32 fnstenv [${OUT + 0x40}]
          ${DATA}`),
      );
      expect(hex(m, OUT + 0x40, 28)).toBe(hex(m, OUT, 28));
      expect(u32(m, OUT)).toBe(0xffff0b7f);
      expect(u32(m, OUT + 8)).toBe(0xffff00ff);
      expect(u32(m, OUT + 16) & 0x7ff).toBe(0x1ca); // FXCH ST(2): D9 CA
    });

    it('FNSAVE then FRSTOR restores everything exactly, including 64-bit significands; FNSAVE reinitializes', () => {
      const m = run(
        real(`${SETUP}
          fnsave [${OUT}]
          fnstcw [${OUT + 0x100}]
          fnstsw [${OUT + 0x102}]
          frstor [${OUT}]
          fnsave [${OUT + 0x200}]
          frstor [${OUT}]
          fstp tword [${OUT + 0x180}]
          fstp tword [${OUT + 0x190}]
          fstp tword [${OUT + 0x1a0}]
          ${DATA}`),
      );
      expect(hex(m, OUT + 0x200, 94)).toBe(hex(m, OUT, 94));
      expect(u16(m, OUT + 0x100)).toBe(0x037f);
      expect(u16(m, OUT + 0x102)).toBe(0);
      expect(hex(m, OUT + 0x180, 10)).toBe('4000c90fdaa22168c000');
      expect(hex(m, OUT + 0x190, 10)).toBe('4000ffffffffffffffff');
      expect(hex(m, OUT + 0x1a0, 10)).toBe('4000a000000000000000');
      expect(hex(m, OUT + 14 + 10, 10)).toBe('4000ffffffffffffffff'); // ST(1) in the image
    });

    it('protected mode, 32-bit and 16-bit layouts with selectors; FNSAVE/FRSTOR round trip', () => {
      const m = run(
        pm32(`${SETUP}
          fnstenv [${OUT}]
          fninit
          fldenv [${OUT}]
          o16 fnstenv [${OUT + 0x40}]
          fnsave [${OUT + 0x80}]
          frstor [${OUT + 0x80}]
          fnsave [${OUT + 0x100}]
          ${DATA}`),
      );
      expect(u32(m, OUT + 16) & 0xffff).toBe(8); // FCS
      expect(u32(m, OUT + 16) >>> 16).toBe(0x1ca); // opcode
      expect(u32(m, OUT + 24)).toBe(0xffff0010); // FDS
      // FDP: the operand of FLD dword [val] (D9 05 disp32).
      const at = 0x8000 + m.mem.backing.subarray(0x8000, 0x8100).findIndex((x, k, a) => x === 0xd9 && a[k + 1] === 0x05);
      expect(u32(m, OUT + 20)).toBe(u32(m, at + 2));
      expect(u16(m, OUT + 0x40 + 8)).toBe(8);
      expect(u16(m, OUT + 0x40 + 12)).toBe(0x10);
      expect(u16(m, OUT + 0x40 + 6)).toBe(u32(m, OUT + 12) & 0xffff);
      expect(hex(m, OUT + 0x100, 108)).toBe(hex(m, OUT + 0x80, 108));
    });

    it('FLDCW that unmasks a pending flag sets ES; FNSTENV masks all exceptions after storing, clearing ES', () => {
      const m = run(
        real(`fninit
          fld1
          fldz
          fdivp st1, st0
          fnstsw [${OUT}]
          fldcw [cw]
          fnstsw [${OUT + 2}]
          fnstenv [${OUT + 0x10}]
          fnstcw [${OUT + 4}]
          fnstsw [${OUT + 6}]
          hlt
          cw: dw 0x037b`),
      );
      expect(u16(m, OUT) & (SW_ZE | SW_ES)).toBe(SW_ZE);
      expect(u16(m, OUT + 2) & (SW_ZE | SW_ES | 0x8000)).toBe(SW_ZE | SW_ES | 0x8000);
      expect(u16(m, OUT + 0x10 + 2) & SW_ES).toBe(SW_ES); // stored as it was
      expect(u16(m, OUT + 4)).toBe(0x037f);
      expect(u16(m, OUT + 6) & (SW_ZE | SW_ES | 0x8000)).toBe(SW_ZE);
    });
  });

  describe('#NM, #MF, ES and FERR#', () => {
    it('CR0.EM and CR0.TS make every escape #NM, WAIT only with MP and TS', () => {
      const at = (body: string) => stepToException(real(body));
      expect(at('mov eax, cr0\nor al, 4\nmov cr0, eax\nfninit')?.vector).toBe(7);
      expect(at('mov eax, cr0\nor al, 8\nmov cr0, eax\nfnstsw ax')?.vector).toBe(7);
      expect(at('mov eax, cr0\nor al, 8\nmov cr0, eax\nwait\nfwait')).toBeNull();
      expect(at('mov eax, cr0\nor al, 4\nmov cr0, eax\nwait')).toBeNull();
      expect(at('mov eax, cr0\nor al, 0xa\nmov cr0, eax\nnop\nwait')?.vector).toBe(7);
      expect(at('mov eax, cr0\nor al, 8\nmov cr0, eax\ndb 0xd9, 0xd1')?.vector).toBe(7);
      expect(at('fninit\ndb 0xd9, 0xd1')?.vector).toBe(6);
      expect(at('fninit\ndb 0xdb, 0x0e, 0, 0x90')?.vector).toBe(6); // FISTTP is SSE3
    });

    it('CR0.NE = 1: an unmasked exception is #MF at the next waiting instruction, not at FN* ones', () => {
      const m = real(`mov eax, cr0
        or al, 0x20
        mov cr0, eax
        fninit
        fldcw [cw]
        fld1
        fldz
        fdivp st1, st0
        fnstsw ax
        fnstcw [${OUT}]
        fwait
        hlt
        cw: dw 0x037b`);
      const e = stepToException(m);
      expect(e?.vector).toBe(16);
      const f = m.cpu.fpu;
      expect(f.sw & (SW_ZE | SW_ES)).toBe(SW_ZE | SW_ES);
      // The faulting FWAIT is the last instruction of the program before HLT.
      expect(m.mem.backing[e!.eip]).toBe(0x9b);
      // FIP is the FDIVP, whose result was not stored and which did not pop.
      expect(m.mem.backing[f.fip]).toBe(0xde);
      expect(f.top).toBe(6);
    });

    it('CR0.NE = 0 with nothing on FERR#: the error is ignored (IGNNE#)', () => {
      const m = run(
        real(`fninit
          fldcw [cw]
          fld1
          fldz
          fdivp st1, st0
          fwait
          fld1
          fnstsw [${OUT}]
          hlt
          cw: dw 0x037b`),
      );
      expect(u16(m, OUT) & (SW_ZE | SW_ES)).toBe(SW_ZE | SW_ES);
      expect(m.cpu.fpu.top).toBe(5);
    });

    it('CR0.NE = 0 with FERR# wired: asserted as the instruction completes, the waiting instruction waits for the interrupt', () => {
      const m = real(`fninit
        fldcw [cw]
        fld1
        fldz
        fdivp st1, st0
        nop
        fwait
        fnclex
        fld1
        hlt
        cw: dw 0x037b`);
      const events: boolean[] = [];
      m.cpu.onFerr = (v) => events.push(v);
      let r = m.run(1000);
      expect(events).toEqual([true]);
      expect(r.reason).toBe('halted');
      expect(m.mem.backing[m.cpu.eip]).toBe(0x9b); // frozen at the FWAIT
      // The chipset asserts IGNNE# (a write to port F0h in the IRQ13 handler): FWAIT goes on.
      m.cpu.fpu.ignne = true;
      m.cpu.halted = false;
      r = m.run(m.icount + 1000);
      expect(r.reason).toBe('halted');
      expect(events).toEqual([true, false]);
      expect(m.cpu.fpu.top).toBe(5);
    });
  });

  describe('arithmetic', () => {
    /** Run `body` after FNINIT and FLDCW cw; ST(0) (as a double) and the status word. */
    function calc(body: string, cw = CW(0), data = ''): { v: number; sw: number; m: Machine } {
      const m = run(
        real(`fninit
          fldcw [cw]
          ${body}
          fnstsw [${OUT + 8}]
          fst qword [${OUT}]
          hlt
          align 16
          cw: dw ${cw}
          ${data}`),
      );
      return { v: f64(m, OUT), sw: u16(m, OUT + 8), m };
    }

    it('add, subtract, multiply, divide round by RC and report PE and C1 exactly', () => {
      // 1 + 2^-60 is not a double: PE, rounded down (nearest) or up.
      const data = 'one: dq 1.0\ntiny: dq 0x3c30000000000000';
      let r = calc('fld qword [one]\nfadd qword [tiny]', CW(0), data);
      expect(r.v).toBe(1);
      expect(r.sw & (SW_PE | C1)).toBe(SW_PE);
      r = calc('fld qword [one]\nfadd qword [tiny]', CW(2), data);
      expect(r.v).toBe(1 + 2 ** -52);
      expect(r.sw & (SW_PE | C1)).toBe(SW_PE | C1);
      r = calc('fld qword [one]\nfsub qword [tiny]', CW(1), data);
      expect(r.v).toBe(1 - 2 ** -53);
      r = calc('fld qword [one]\nfsub qword [tiny]', CW(0), data);
      expect(r.v).toBe(1);
      expect(r.sw & C1).toBe(C1);
      // 1/3 by RC; 6/3 exact.
      const d = 'one: dq 1.0\nthree: dq 3.0\nsix: dq 6.0';
      expect(calc('fld qword [one]\nfdiv qword [three]', CW(0), d).v).toBe(1 / 3);
      expect(calc('fld qword [one]\nfdiv qword [three]', CW(1), d).v).toBe(0.3333333333333333);
      expect(calc('fld qword [one]\nfdiv qword [three]', CW(2), d).v).toBe(0.33333333333333337);
      r = calc('fld qword [six]\nfdiv qword [three]', CW(2), d);
      expect(r.v).toBe(2);
      expect(r.sw & SW_PE).toBe(0);
      // (1 + 2^-30)^2 = 1 + 2^-29 + 2^-60: PE; up rounding adds an ulp.
      const sq = 'x: dq 0x3ff0000000400000';
      r = calc('fld qword [x]\nfmul st0, st0', CW(2), sq);
      expect(r.v).toBe(1 + 2 ** -29 + 2 ** -52);
      expect(calc('fld qword [x]\nfmul st0, st0', CW(3), sq).v).toBe(1 + 2 ** -29);
      // Reverse forms and integer operands.
      const ints = 'i: dd 10\nw: dw 4';
      expect(calc('fild dword [i]\nfisubr word [w]', CW(0), ints).v).toBe(-6);
      expect(calc('fild dword [i]\nfidiv word [w]', CW(0), ints).v).toBe(2.5);
      expect(calc('fild word [w]\nfild dword [i]\nfdivrp st1, st0', CW(0), ints).v).toBe(2.5);
      expect(calc('fild word [w]\nfild dword [i]\nfsubp st1, st0', CW(0), ints).v).toBe(-6);
      expect(calc('fild word [w]\nfild dword [i]\nfsub st1, st0\nfstp st0', CW(0), ints).v).toBe(-6);
    });

    it('invalid operations give the default NaN (IE); division by zero (ZE); overflow (OE); underflow (UE)', () => {
      const d = 'inf: dq 0x7ff0000000000000\nbig: dq 1e300\nsmall: dq 1e-300\ntwo: dq 2.0';
      let r = calc('fld qword [inf]\nfsub st0, st0', CW(0), d);
      expect(Number.isNaN(r.v)).toBe(true);
      expect(hex(r.m, OUT, 8)).toBe('fff8000000000000');
      expect(r.sw & 0x3f).toBe(SW_IE);
      r = calc('fld1\nfldz\nfdivp st1, st0', CW(0), d);
      expect(r.v).toBe(Infinity);
      expect(r.sw & 0x3f).toBe(SW_ZE);
      r = calc('fld qword [big]\nfmul st0, st0', CW(0), d);
      expect(r.v).toBe(Infinity);
      expect(r.sw & (0x3f | C1)).toBe(SW_OE | SW_PE | C1);
      r = calc('fld qword [big]\nfmul st0, st0', CW(3), d);
      expect(r.v).toBe(Number.MAX_VALUE);
      r = calc('fld qword [small]\nfmul st0, st0', CW(0), d);
      expect(r.v).toBe(0);
      expect(r.sw & 0x3f).toBe(SW_UE | SW_PE);
      r = calc('fld qword [small]\nfmul st0, st0', CW(2), d);
      expect(r.v).toBe(5e-324);
      // A QNaN operand propagates (no IE); an SNaN is quieted with IE.
      r = calc('fld qword [two]\nfadd qword [q]', CW(0), `${d}\nq: dq 0x7ff8000000000123`);
      expect(hex(r.m, OUT, 8)).toBe('7ff8000000000123');
      expect(r.sw & SW_IE).toBe(0);
      r = calc('fld qword [two]\nfadd qword [q]', CW(0), `${d}\nq: dq 0xfff0000000000123`);
      expect(hex(r.m, OUT, 8)).toBe('fff8000000000123');
      expect(r.sw & SW_IE).toBe(SW_IE);
      // Two QNaNs: the larger significand.
      r = calc('fld qword [q1]\nfadd qword [q2]', CW(0), 'q1: dq 0x7ff8000000000100\nq2: dq 0xfff8000000000200');
      expect(hex(r.m, OUT, 8)).toBe('fff8000000000200');
    });

    it('FSQRT is correctly rounded; FABS, FCHS, FRNDINT by RC, FSCALE, FXTRACT', () => {
      const d = 'two: dq 2.0\nfour: dq 4.0\nm: dq -2.5\nv: dq 12.0\nn: dq 4.0';
      let r = calc('fld qword [two]\nfsqrt', CW(0), d);
      expect(r.v).toBe(Math.SQRT2);
      expect(r.sw & SW_PE).toBe(SW_PE);
      r = calc('fld qword [four]\nfsqrt', CW(0), d);
      expect(r.v).toBe(2);
      expect(r.sw & SW_PE).toBe(0);
      expect(calc('fld qword [two]\nfsqrt', CW(2), d).v).toBe(1.4142135623730951);
      expect(calc('fld qword [two]\nfsqrt', CW(1), d).v).toBe(1.414213562373095);
      expect(calc('fld qword [m]\nfsqrt', CW(0), d).sw & SW_IE).toBe(SW_IE);
      expect(calc('fld qword [m]\nfabs', CW(0), d).v).toBe(2.5);
      expect(calc('fld qword [m]\nfchs', CW(0), d).v).toBe(2.5);
      expect([0, 1, 2, 3].map((rc) => calc('fld qword [m]\nfrndint', CW(rc), d).v)).toEqual([-2, -3, -2, -2]);
      expect(calc('fld qword [n]\nfld qword [v]\nfscale', CW(0), d).v).toBe(192);
      r = calc('fld qword [v]\nfxtract\nfstp qword [0x9100]', CW(0), d);
      expect(r.v).toBe(3);
      expect(f64(r.m, 0x9100)).toBe(1.5);
      // FSCALE beyond binary64 keeps the exact 80-bit value.
      const m = run(
        real(`fninit
          fild word [e]
          fld1
          fscale
          fstp tword [${OUT}]
          hlt
          e: dw 2000`),
      );
      expect(hex(m, OUT, 10)).toBe('47cf8000000000000000');
    });

    it('FPREM and FPREM1: remainders and the low quotient bits, C2 until complete', () => {
      const rem = (a: number, bv: number, insn: string) => {
        const m = run(
          real(`fninit
            fld qword [bv]
            fld qword [av]
          again:
            ${insn}
            fnstsw ax
            test ah, 4
            jnz again
            mov [${OUT + 8}], ax
            fstp qword [${OUT}]
            hlt
            align 8
            av: dq ${a.toFixed(1)}
            bv: dq ${bv.toFixed(1)}`),
        );
        const sw = u16(m, OUT + 8);
        const q = (sw & C0 ? 4 : 0) | (sw & C3 ? 2 : 0) | (sw & C1 ? 1 : 0);
        return { r: f64(m, OUT), q };
      };
      expect(rem(17, 5, 'fprem')).toEqual({ r: 2, q: 3 });
      expect(rem(-17, 5, 'fprem')).toEqual({ r: -2, q: 3 });
      expect(rem(18, 5, 'fprem')).toEqual({ r: 3, q: 3 });
      expect(rem(18, 5, 'fprem1')).toEqual({ r: -2, q: 4 });
      expect(rem(17.5, 5, 'fprem1')).toEqual({ r: -2.5, q: 4 }); // 3.5: the even quotient
    });
  });
  describe('transcendentals', () => {
    /** Apply `op` to each input (one or two doubles per case); ST(0) results as doubles, and the status words. */
    function table(op: string, inputs: number[][]): { r: number[]; sw: number[] } {
      const two = inputs[0].length === 2;
      const data = inputs.map((c) => c.map((v) => `dq 0x${new DataView(Float64Array.of(v).buffer).getBigUint64(0, true).toString(16)}`).join('\n')).join('\n');
      const m = run(
        real(`fninit
          mov si, inputs
          mov di, ${OUT}
          mov cx, ${inputs.length}
        next:
          fld qword [si]
          ${two ? 'fld qword [si + 8]' : ''}
          ${op}
          fnstsw [di + 0x800]
          fstp qword [di]
          fninit
          add si, ${two ? 16 : 8}
          add di, 8
          loop next
          hlt
          align 8
          inputs: ${data}`),
      );
      return { r: inputs.map((_, k) => f64(m, OUT + k * 8)), sw: inputs.map((_, k) => u16(m, OUT + 0x800 + k * 8)) };
    }
    /** Within `ulps` units in the last place of the reference (or absolutely, near zero). */
    function close(got: number[], want: number[], ulps: number, what: string): void {
      got.forEach((g, k) => {
        const w = want[k];
        if (Object.is(w, g) || (Number.isNaN(w) && Number.isNaN(g))) return;
        const tol = Math.max(Math.abs(w) * 2 ** -52 * ulps, 2 ** -1000);
        expect(Math.abs(g - w), `${what} #${k}: got ${g}, want ${w}`).toBeLessThanOrEqual(tol);
      });
    }
    const ARGS = [0.5, 1, -1, 2, 3, -3.1, Math.PI / 4, Math.PI / 2, Math.PI, 10, 100, -1000.5, 12345.678, 1e10, 1e15, 2 ** 62, 1e-8, -2.5e-300];

    it('FSIN, FCOS, FSINCOS, FPTAN within 2 ulps of the correctly reduced results', () => {
      close(table('fsin', ARGS.map((x) => [x])).r, ARGS.map(Math.sin), 2, 'fsin');
      close(table('fcos', ARGS.map((x) => [x])).r, ARGS.map(Math.cos), 2, 'fcos');
      close(table('fsincos\nfstp st0', ARGS.map((x) => [x])).r, ARGS.map(Math.sin), 2, 'fsincos sin');
      close(table('fsincos', ARGS.map((x) => [x])).r, ARGS.map(Math.cos), 2, 'fsincos cos');
      close(table('fptan\nfstp st0', ARGS.map((x) => [x])).r, ARGS.map(Math.tan), 4, 'fptan');
      expect(table('fptan', [[0.5]]).r[0]).toBe(1);
    });

    it('out of range (|x| >= 2^63): C2 = 1 and ST(0) unchanged; infinity is invalid', () => {
      const t = table('fsin', [[2 ** 63], [-(2 ** 64)], [2 ** 63 - 1024], [Infinity]]);
      expect(t.r.slice(0, 2)).toEqual([2 ** 63, -(2 ** 64)]);
      expect(t.sw.map((w) => w & (C2 | SW_IE))).toEqual([C2, C2, 0, SW_IE]);
      expect(Number.isNaN(t.r[3])).toBe(true);
      // A finite 80-bit value beyond binary64's range is out of range too, not infinite.
      const m = run(real(`fninit\nfld tword [v]\nfcos\nfnstsw [${OUT}]\nfstp tword [${OUT + 0x10}]\nhlt\nv: ${t80(0x4400, '8000000000000000')}`));
      expect(u16(m, OUT) & (C2 | SW_IE)).toBe(C2);
      expect(hex(m, OUT + 0x10, 10)).toBe('44008000000000000000');
    });

    it('FPATAN is atan2, with its signed zeros and infinities', () => {
      const pairs = [
        [1, 2], [-1, -3], [3, -0.5], [-2, 0.25], [1e-300, 1], [1, 1e-300], [0, 1], [-0, 1], [0, -1], [-0, -1], [0, 0], [-0, -0],
        [5, 0], [-5, -0], [Infinity, 1], [Infinity, Infinity], [-Infinity, -Infinity], [1, Infinity], [1, -Infinity], [-1, -Infinity],
      ];
      close(table('fpatan', pairs).r, pairs.map(([y, x]) => Math.atan2(y, x)), 2, 'fpatan');
    });

    it('F2XM1, FYL2X, FYL2XP1', () => {
      const xs = [0.5, -0.5, 1, -1, 0, -0, 1e-10, -0.75, 0.999, 0.125];
      close(table('f2xm1', xs.map((x) => [x])).r, xs.map((x) => Math.expm1(x * Math.LN2)), 2, 'f2xm1');
      const l = [[1, 8], [3, 10], [-2, 0.1], [0.5, 1e300], [2, 1], [1, 1.0000001], [7, 5e-324], [1, 0.75]];
      close(table('fyl2x', l).r, l.map(([y, x]) => y * Math.log2(x)), 2, 'fyl2x');
      const p = [[1, 0.25], [1, -0.25], [3, 1e-12], [-1, 0.1], [2, 0], [1, 0.29]];
      close(table('fyl2xp1', p).r, p.map(([y, x]) => (y * Math.log1p(x)) / Math.LN2), 3, 'fyl2xp1');
      const z = table('fyl2x', [[1, 0], [0, 0], [1, -1]]);
      expect(z.r[0]).toBe(-Infinity);
      expect(z.sw.map((w) => w & (SW_ZE | SW_IE))).toEqual([SW_ZE, SW_IE, SW_IE]);
    });

    it('FLD1 ... FLDZ give the 80-bit constants, rounded by RC', () => {
      const consts = (rc: number) => {
        const m = run(
          real(`fninit
            fldcw [cw]
            fld1
            fldl2t
            fldl2e
            fldpi
            fldlg2
            fldln2
            fldz
            ${[0, 1, 2, 3, 4, 5, 6].map((k) => `fstp tword [${OUT + k * 16}]`).join('\n')}
            hlt
            cw: dw ${CW(rc)}`),
        );
        return [0, 1, 2, 3, 4, 5, 6].map((k) => hex(m, OUT + k * 16, 10));
      };
      expect(consts(0)).toEqual([
        '00000000000000000000', '3ffeb17217f7d1cf79ac', '3ffd9a209a84fbcff799', '4000c90fdaa22168c235',
        '3fffb8aa3b295c17f0bc', '4000d49a784bcd1b8afe', '3fff8000000000000000',
      ]);
      expect(consts(1)[3]).toBe('4000c90fdaa22168c234');
      expect(consts(2)[5]).toBe('4000d49a784bcd1b8aff');
      expect(consts(3)[1]).toBe('3ffeb17217f7d1cf79ab');
    });
  });

  describe('exact 80-bit values', () => {
    it('FXTRACT of an 80-bit denormal and of a value beyond binary64; FXCH and FLD ST(i) keep them', () => {
      const m = run(
        real(`fninit
          fld tword [den]
          fxtract
          fstp tword [${OUT}]
          fstp qword [${OUT + 0x10}]
          fld tword [big]
          fld1
          fxch
          fld st0
          fxtract
          fstp tword [${OUT + 0x20}]
          fstp qword [${OUT + 0x30}]
          fstp tword [${OUT + 0x40}]
          hlt
          align 8
          den: ${t80(0, '0000000000000003')}
          align 8
          big: ${t80(0x7000, 'c000000000000001')}`),
      );
      expect(hex(m, OUT, 10)).toBe('3fffc000000000000000');
      expect(f64(m, OUT + 0x10)).toBe(1 - 16383 - 62);
      expect(hex(m, OUT + 0x20, 10)).toBe('3fffc000000000000001');
      expect(f64(m, OUT + 0x30)).toBe(0x7000 - 16383);
      expect(hex(m, OUT + 0x40, 10)).toBe('7000c000000000000001');
    });
  });

  describe('machine state', () => {
    const LOOP = `fninit
      fld tword [ext]
      fld qword [qnan]
      fldz
      mov cx, 300
    again:
      fild word [k]
      fsqrt
      fsin
      faddp st1, st0
      inc word [k]
      loop again
      fstp qword [${OUT}]
      fstp qword [${OUT + 8}]
      fstp tword [${OUT + 0x10}]
      hlt
      align 8
      ext: ${t80(0x4123, 'fedcba9876543211')}
      qnan: dq 0x7ff8000000abcdef
      k: dw 1`;

    it('saved and loaded into a fresh machine mid-computation, the run ends with the same hash', () => {
      const ref = run(real(LOOP));
      const end = ref.icount;
      const want = ref.hash();
      expect(hex(ref, OUT + 0x10, 10)).toBe('4123fedcba9876543211');
      expect(hex(ref, OUT + 8, 8)).toBe('7ff8000000abcdef');
      for (const cut of [3, 4, 5, 100, 777, Math.floor(end / 2), end - 3]) {
        const a = real(LOOP);
        expect(a.run(cut).reason).toBe('deadline');
        const snap = structuredClone(a.save());
        const b = createBareMachine({ ramSize: 1 << 20 });
        b.load(snap);
        expect(b.hash(), `cut ${cut}`).toBe(a.hash());
        run(b);
        expect(b.icount).toBe(end);
        expect(b.hash(), `cut ${cut}`).toBe(want);
      }
    });

    it('the x87 state is part of the hash', () => {
      const a = run(real('fninit\nfld1'));
      const h = a.hash();
      a.cpu.fpu.st[7] = 2;
      expect(a.hash()).not.toBe(h);
      a.cpu.fpu.st[7] = 1;
      expect(a.hash()).toBe(h);
      a.cpu.fpu.cw ^= 0x400;
      expect(a.hash()).not.toBe(h);
    });
  });
});
