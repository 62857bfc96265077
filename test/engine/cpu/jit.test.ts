// The block compiler against the interpreter: the same programs run with jitThreshold = 0
// (interpreter only) and jitThreshold = 1 (compile a block the second time it is entered)
// must reach the same full machine state and icount at every checkpoint. Checkpoints are
// run deadlines, so they also cut compiled regions at arbitrary budgets.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createBareMachine } from '../../../engine/bare.ts';
import { createPc } from '../../../engine/pc.ts';
import type { Machine } from '../../../engine/machine.ts';
import { S } from '../../../engine/cpu/constants.ts';
import { StateHasher } from '../../../engine/hash.ts';
import { propertyRuns } from '../../quick.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

type Mode = 'real' | 'pm32';

/**
 * A cheap digest of everything a program here can change: CPU, icount, low RAM, the data
 * area, and which pages are dirty (incremental snapshots depend on it).
 */
function digest(m: Machine, mode: Mode): string {
  const h = new StateHasher();
  h.value(m.cpu.save());
  h.num(m.icount);
  h.bytes(m.mem.dirty);
  const b = m.mem.backing;
  h.bytes(b.subarray(0, 0x10000));
  h.bytes(mode === 'real' ? b.subarray(0x10000, 0x20000) : b.subarray(0x100000, 0x140000));
  return h.hex();
}

/**
 * Run the interpreter (`a`) and the compiler (`b`) in lockstep over the same deadlines and
 * compare them at each one. Neither may run past a deadline.
 */
function lockstep(a: Machine, b: Machine, steps: number[], check: (where: string) => void): void {
  for (let k = 0; k < steps.length; k++) {
    const target = a.icount + steps[k];
    const ra = a.run(target);
    const rb = b.run(target);
    expect(a.icount, `interpreter passed the deadline at checkpoint ${k}`).toBeLessThanOrEqual(target);
    expect(b.icount, `compiled code passed the deadline at checkpoint ${k}`).toBeLessThanOrEqual(target);
    expect(rb.reason, `run reason at checkpoint ${k}`).toBe(ra.reason);
    check(`checkpoint ${k} (icount ${a.icount})`);
    if (ra.reason !== 'deadline') return;
  }
}

// ---------------------------------------------------------------------------------------
// Guest programs
// ---------------------------------------------------------------------------------------

function guest(path: string, jit: boolean, ramSize: number): Machine {
  const m = createBareMachine({ image: new Uint8Array(readFileSync(resolve(root, path))), ramSize });
  m.cpu.jitThreshold = jit ? 1 : 0;
  return m;
}

/** Deadlines that vary: small and large steps, from a fixed LCG so the test is repeatable. */
function deadlines(n: number, max: number, seed: number): number[] {
  const out: number[] = [];
  let x = seed;
  for (let k = 0; k < n; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(1 + (x % max));
  }
  return out;
}

describe('block compiler: guests', () => {
  for (const name of ['exceptions', 'modes', 'paging', 'v86', 'tasks', 'debugregs', 'x87']) {
    it(`${name}: same state as the interpreter at every checkpoint`, () => {
      const a = guest(`test/guests/bin/${name}.img`, false, 4 << 20);
      const b = guest(`test/guests/bin/${name}.img`, true, 4 << 20);
      lockstep(a, b, deadlines(400, 200, name.length), (where) => expect(b.hash(), where).toBe(a.hash()));
      expect(b.icount).toBe(a.icount);
      expect(b.output.text('debugcon')).toBe(a.output.text('debugcon'));
    });
  }

  it('cpumix benchmark guest: same state as the interpreter through a whole round of kernels', () => {
    const a = guest('bench/guests/bin/cpumix.img', false, 2 << 20);
    const b = guest('bench/guests/bin/cpumix.img', true, 2 << 20);
    // About 11 million instructions: every kernel once, with a stretch of short budgets.
    const steps = deadlines(30, 60_000, 7).concat(deadlines(200, 300, 11), deadlines(50, 400_000, 13));
    lockstep(a, b, steps, (where) => {
      expect(b.icount, where).toBe(a.icount);
      expect(digest(b, 'pm32'), where).toBe(digest(a, 'pm32'));
    });
    expect(b.hash()).toBe(a.hash());
  }, 300_000);
});

// The real SeaBIOS (the seabios package; BITROT_SEABIOS and BITROT_VGABIOS override) on the
// whole PC, booting the cpumix-quick guest from a floppy: firmware in real and protected
// mode, shadowing through PAM, devices, timer interrupts. Skipped without the images.
const BIOS = process.env.BITROT_SEABIOS ?? '/usr/share/seabios/bios.bin';
const VGABIOS = process.env.BITROT_VGABIOS ?? '/usr/share/seabios/vgabios-stdvga.bin';

// A slow real-guest test: `npm run test:quick` (BITROT_QUICK=1) leaves it to `npm test`.
describe.skipIf(!existsSync(BIOS) || !existsSync(VGABIOS) || !!process.env.BITROT_QUICK)('block compiler: SeaBIOS on the PC', () => {
  it('boots a floppy and runs its guest to the same state at every checkpoint', () => {
    const make = (jit: boolean) => {
      const fda = new Uint8Array(1_474_560);
      fda.set(readFileSync(resolve(root, 'bench/guests/bin/cpumix-quick.img')));
      const pc = createPc({
        ramSize: 16 << 20,
        bios: new Uint8Array(readFileSync(BIOS)),
        vgaBios: new Uint8Array(readFileSync(VGABIOS)),
        fda: { bytes: fda, name: 'cpumix-quick.img' },
        boot: ['a'],
        noReboot: true,
      });
      pc.machine.cpu.jitThreshold = jit ? 1 : 0;
      return pc.machine;
    };
    const a = make(false);
    const b = make(true);
    // The firmware hands over to the boot sector after about 6.4 million instructions.
    lockstep(a, b, deadlines(50, 400_000, 17).concat(deadlines(100, 5_000, 19)), (where) => expect(b.hash(), where).toBe(a.hash()));
    expect(b.output.text('debugcon')).toContain('Booting from Floppy');
  }, 600_000);
});

// ---------------------------------------------------------------------------------------
// Random programs
// ---------------------------------------------------------------------------------------

/** A source of small random numbers for one generated instruction. */
class Pick {
  private k = 0;
  constructor(private readonly r: number[]) {}
  n(max: number): number {
    const v = this.r[this.k++ % this.r.length];
    return v % max;
  }
  bool(pct: number): boolean {
    return this.n(100) < pct;
  }
  /** A byte, often an edge value. */
  byte(): number {
    return this.bool(30) ? [0, 1, 0x7f, 0x80, 0xff][this.n(5)] : this.n(256);
  }
}

const CODE = 0x8000;
const COUNTER = 0x600;
const HANDLERS = 0x3000;

interface Env {
  mode: Mode;
  /** Address size 32 by default. */
  d32: boolean;
}

/** Register number excluding ESP (random code never names the stack pointer directly). */
function gpr(p: Pick): number {
  const r = p.n(7);
  return r >= 4 ? r + 1 : r;
}

/** A ModRM byte plus SIB/displacement. `regField` goes in bits 3-5. */
function modrm(p: Pick, env: Env, regField: number, allowReg = true, a32 = env.d32): number[] {
  // Register forms, sometimes with both fields naming the same register (CMP EAX, EAX...).
  if (allowReg && p.bool(45)) return [0xc0 | (regField << 3) | (p.bool(15) && regField !== 4 ? regField : gpr(p))];
  const mod = p.n(3);
  const out: number[] = [];
  if (!a32) {
    // Base registers BX, BP, SI, DI point into the data segment.
    let rm = p.n(8);
    if (mod === 0 && rm === 6) rm = 7;
    out.push((mod << 6) | (regField << 3) | rm);
    if (mod === 1) out.push(p.n(256));
    if (mod === 2) out.push(p.n(256), p.n(256));
    return out;
  }
  // 32-bit: bases EBX, EBP, ESI, EDI (data area), optional SIB with a scaled index.
  // With mod 0, base 5 means a 32-bit absolute displacement (here: into the data area).
  const bases = [3, 5, 6, 7];
  let base: number;
  if (p.bool(30)) {
    base = p.bool(15) ? 4 : bases[p.n(4)];
    const index = p.bool(40) ? 4 : [0, 1, 2, 3, 5, 6, 7][p.n(7)];
    out.push((mod << 6) | (regField << 3) | 4, (p.n(4) << 6) | (index << 3) | base);
  } else {
    base = bases[p.n(4)];
    out.push((mod << 6) | (regField << 3) | base);
  }
  if (mod === 0 && base === 5) out.push(p.n(256), p.n(256), 0x10 + p.n(4), 0);
  if (mod === 1) out.push(p.n(256));
  if (mod === 2) out.push(p.n(256), p.n(16), 0, 0);
  return out;
}

function imm(p: Pick, bytes: number): number[] {
  const out: number[] = [];
  const fill = p.bool(20) ? [0, 0xff][p.n(2)] : -1;
  for (let k = 0; k < bytes; k++) out.push(k === 0 || fill < 0 ? p.byte() : fill);
  return out;
}

/** One random instruction (sometimes a short idiom of two or three) in `env`. */
function instruction(p: Pick, env: Env, depth = 0): number[] {
  const o16 = p.bool(25); // operand-size prefix
  const pre: number[] = o16 ? [0x66] : [];
  const osz = (env.d32 !== o16) ? 4 : 2;
  if (p.bool(4)) pre.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][p.n(6)]);
  const a32 = env.d32;
  // Nested instructions (inside idioms) are simple ones: kinds below 31 do not nest.
  const kind = depth > 0 ? p.n(31) : p.n(44);
  switch (kind) {
    case 40: case 41: case 42: case 43: {
      // A flag producer (often an ALU operation on two registers that may be equal, or on
      // a register and an edge immediate) followed by a flag consumer.
      const r1 = gpr(p);
      const c0 = p.n(3);
      const prod = c0 === 0
        ? instruction(p, env, depth + 1)
        : c0 === 1
          ? [...pre, (p.n(8) << 3) | (1 + 2 * p.n(2)), 0xc0 | (r1 << 3) | (p.bool(35) ? r1 : gpr(p))]
          : [...pre, 0x83, 0xc0 | (p.n(8) << 3) | r1, p.byte()];
      const c = p.n(5);
      const cc = p.n(16);
      let cons: number[];
      if (c === 0) cons = [0x0f, 0x90 | cc, 0xc0 | gpr(p)];
      else if (c === 1) cons = [0x0f, 0x40 | cc, 0xc0 | (gpr(p) << 3) | gpr(p)];
      else if (c === 2) cons = [[0x11, 0x19, 0x13, 0x1b][p.n(4)], 0xc0 | (gpr(p) << 3) | gpr(p)];
      else {
        const skip = [0x40 | gpr(p)];
        cons = [0x70 | cc, skip.length, ...skip];
      }
      return [...prod, ...cons];
    }
    case 0: case 1: case 2: case 3: case 4: {
      // ALU r/m,r and r,r/m, all sizes
      const op = (p.n(8) << 3) | p.n(4);
      return [...pre, op, ...modrm(p, env, gpr(p))];
    }
    case 5: {
      const op = (p.n(8) << 3) | (4 + p.n(2));
      return [...pre, op, ...imm(p, op & 1 ? osz : 1)];
    }
    case 6: case 7: {
      const op = [0x80, 0x81, 0x83][p.n(3)];
      return [...pre, op, ...modrm(p, env, p.n(8)), ...imm(p, op === 0x81 ? osz : 1)];
    }
    case 8:
      return [...pre, (p.bool(50) ? 0x40 : 0x48) | gpr(p)];
    case 9:
      return [...pre, p.bool(50) ? 0xfe : 0xff, ...modrm(p, env, p.n(2))];
    case 10: {
      // PUSH r / PUSH imm / POP r (not ESP)
      const c = p.n(4);
      if (c === 0) return [...pre, 0x50 | p.n(8)];
      if (c === 1) return [...pre, 0x58 | gpr(p)];
      if (c === 2) return [...pre, 0x6a, p.n(256)];
      return [...pre, 0x68, ...imm(p, osz)];
    }
    case 11: {
      const op = p.bool(50) ? 0x69 : 0x6b;
      return [...pre, op, ...modrm(p, env, gpr(p)), ...imm(p, op === 0x69 ? osz : 1)];
    }
    case 12:
      return [...pre, 0x84 + p.n(4), ...modrm(p, env, gpr(p))];
    case 13:
      return [...pre, 0x88 + p.n(4), ...modrm(p, env, gpr(p))];
    case 14: {
      const op = 0xc6 + p.n(2);
      return [...pre, op, ...modrm(p, env, 0), ...imm(p, op === 0xc6 ? 1 : osz)];
    }
    case 15: {
      const r = p.n(16);
      if (r === 12) return [...pre, 0x90];
      return [...pre, 0xb0 + r, ...imm(p, r < 8 ? 1 : osz)];
    }
    case 16: {
      // moffs into the data area
      const op = 0xa0 + p.n(4);
      const off = a32 ? [p.n(256), p.n(256), 0x10 + p.n(3), 0] : [p.n(256), p.n(256)];
      return [...pre, op, ...off];
    }
    case 17:
      return [...pre, 0x8d, ...modrm(p, env, gpr(p), false)];
    case 18:
      return [...pre, [0x98, 0x99, 0xf8, 0xf9, 0xf5, 0xfc, 0xfd, 0x90, 0x9e, 0x9f][p.n(10)]];
    case 19: case 20: {
      // shifts and rotates by 1, CL, imm
      const op = [0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3][p.n(6)];
      const out = [...pre, op, ...modrm(p, env, p.n(8))];
      if (op < 0xd0) out.push(p.n(4) === 0 ? p.n(256) : p.n(33));
      return out;
    }
    case 21: {
      // group 3: TEST NOT NEG MUL IMUL DIV IDIV
      const op = 0xf6 + p.n(2);
      const r = p.n(8);
      const out = [...pre, op, ...modrm(p, env, r)];
      if (r < 2) out.push(...imm(p, op === 0xf6 ? 1 : osz));
      return out;
    }
    case 22:
      return [...pre, 0x86 + p.n(2), ...modrm(p, env, gpr(p))];
    case 23: {
      const r = gpr(p);
      return [...pre, 0x90 | (r === 0 ? 1 : r)];
    }
    case 24: {
      const op = [0xb6, 0xb7, 0xbe, 0xbf, 0xaf, 0xbc, 0xbd][p.n(7)];
      return [...pre, 0x0f, op, ...modrm(p, env, gpr(p))];
    }
    case 25:
      return [...pre, 0x0f, 0x90 | p.n(16), ...modrm(p, env, 0)];
    case 26:
      return [...pre, 0x0f, 0x40 | p.n(16), ...modrm(p, env, gpr(p))];
    case 27: {
      const c = p.n(3);
      if (c === 0) return [...pre, 0x0f, 0xc8 | gpr(p)];
      if (c === 1) return [...pre, 0x0f, [0xa3, 0xab, 0xb3, 0xbb][p.n(4)], ...modrm(p, env, gpr(p))];
      return [...pre, 0x0f, 0xba, ...modrm(p, env, 4 + p.n(4)), p.n(256)];
    }
    case 28: {
      const op = [0xa4, 0xa5, 0xac, 0xad][p.n(4)];
      const out = [...pre, 0x0f, op, ...modrm(p, env, gpr(p))];
      if (!(op & 1)) out.push(p.n(40));
      return out;
    }
    case 29: {
      // string instructions; sometimes REP with a small count
      const op = [0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0xa6, 0xa7, 0xae, 0xaf][p.n(10)];
      if (p.bool(30)) {
        const setCount = env.d32 ? [0xb9, p.n(24), 0, 0, 0] : [0xb9, p.n(24), 0];
        return [...setCount, ...pre, p.bool(50) ? 0xf3 : 0xf2, op];
      }
      return [...pre, op];
    }
    case 30:
      return [...pre, [0xd7, 0xc9][p.n(2)]];
    case 31: case 32: {
      // Jcc / JMP / LOOP / JCXZ forward over the next instruction
      const next = instruction(p, env, depth + 1);
      const c = p.n(5);
      if (c === 0) return [0xeb, next.length, ...next];
      if (c === 1) return [0xe0 + p.n(4), next.length, ...next];
      if (c === 2) return [0x0f, 0x80 | p.n(16), ...(env.d32 ? [next.length, 0, 0, 0] : [next.length, 0]), ...next];
      return [0x70 | p.n(16), next.length, ...next];
    }
    case 33: {
      // CALL next; POP r  /  CALL sub; JMP over; sub: RET
      if (p.bool(50)) return [0xe8, ...(env.d32 ? [0, 0, 0, 0] : [0, 0]), 0x58 | gpr(p)];
      return [0xe8, ...(env.d32 ? [2, 0, 0, 0] : [2, 0]), 0xeb, 0x01, 0xc3];
    }
    case 34:
      return [...pre, 0xff, ...modrm(p, env, 6)];
    case 35:
      return [...pre, 0x8c, ...modrm(p, env, p.n(6))];
    case 36: {
      // a backward loop of its own: MOV CX, n; L: <insn>; LOOP L
      const body = instruction(p, env, depth + 1);
      if (body.length > 100) return body;
      const setCount = env.d32 ? [0xb9, 1 + p.n(6), 0, 0, 0] : [0xb9, 1 + p.n(6), 0];
      return [...setCount, ...body, 0xe2, (-(body.length + 2)) & 0xff];
    }
    default:
      return [...pre, (p.n(8) << 3) | p.n(4), ...modrm(p, env, gpr(p))];
  }
}

/** Bytes of the whole program: the random body in a loop run `iterations` times. */
function program(insns: number[][], env: Env): { code: number[]; cont: number } {
  const body = insns.flat();
  // CONT: DEC word [cs:COUNTER] (real mode) / DEC dword [COUNTER] (flat); JNZ L (near); HLT
  const cont = CODE + body.length;
  const dec = env.d32 ? [0xff, 0x0d, COUNTER & 0xff, COUNTER >> 8, 0, 0] : [0x2e, 0xff, 0x0e, COUNTER & 0xff, COUNTER >> 8];
  const jnzLen = env.d32 ? 6 : 4;
  const rel = -(body.length + dec.length + jnzLen);
  const jnz = env.d32 ? [0x0f, 0x85, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff] : [0x0f, 0x85, rel & 0xff, (rel >> 8) & 0xff];
  return { code: [...body, ...dec, ...jnz, 0xf4], cont };
}

function setupMachine(mode: Mode, code: number[], cont: number, regs: number[], flags: number, iterations: number, jit: boolean, exactRegs = false): Machine {
  const m = createBareMachine({ ramSize: 2 << 20 });
  const cpu = m.cpu;
  cpu.jitThreshold = jit ? 1 : 0;
  const mem = m.mem;
  mem.load(CODE, new Uint8Array(code));
  mem.write32(COUNTER, iterations);
  if (mode === 'real') {
    // Every vector: push bp; mov bp, sp; mov word [bp+2], cont; pop bp; iret
    const h = [0x55, 0x89, 0xe5, 0xc7, 0x46, 0x02, cont & 0xff, cont >> 8, 0x5d, 0xcf];
    mem.load(HANDLERS, new Uint8Array(h));
    for (let v = 0; v < 256; v++) mem.write32(v * 4, HANDLERS);
    for (const s of [S.DS, S.ES, S.SS, S.FS, S.GS]) cpu.setSegRaw(s, 0x1000, 0x10000, 0xffff, 0x93);
    for (let k = 0; k < 8; k++) cpu.regs[k] = regs[k];
    if (!exactRegs) for (const r of [3, 5, 6, 7]) cpu.regs[r] = (regs[r] & ~0xffff) | (0x1000 + (regs[r] & 0xdfff));
    cpu.regs[4] = 0xfff0;
  } else {
    const gdt = [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200];
    gdt.forEach((v, k) => mem.write32(0x1000 + k * 4, v | 0));
    // Vectors with an error code drop it first; all return to CONT.
    const noCode = [0xc7, 0x04, 0x24, ...[0, 8, 16, 24].map((s) => (cont >>> s) & 0xff), 0xcf];
    const withCode = [0x83, 0xc4, 0x04, ...noCode];
    mem.load(HANDLERS, new Uint8Array(noCode));
    mem.load(HANDLERS + 0x20, new Uint8Array(withCode));
    for (let v = 0; v < 256; v++) {
      const err = v === 8 || (v >= 10 && v <= 14) || v === 17;
      const off = HANDLERS + (err ? 0x20 : 0);
      mem.write32(0x2000 + v * 8, (0x0008 << 16) | off);
      mem.write32(0x2004 + v * 8, 0x00008e00);
    }
    cpu.gdtrBase = 0x1000;
    cpu.gdtrLimit = 23;
    cpu.idtrBase = 0x2000;
    cpu.idtrLimit = 256 * 8 - 1;
    cpu.setCR0(cpu.cr0 | 1);
    cpu.setSegRaw(S.CS, 8, 0, 0xffffffff, 0x9b | 0xc000);
    for (const s of [S.DS, S.ES, S.SS, S.FS, S.GS]) cpu.setSegRaw(s, 16, 0, 0xffffffff, 0x93 | 0xc000);
    for (let k = 0; k < 8; k++) cpu.regs[k] = regs[k];
    if (!exactRegs) for (const r of [3, 5, 6, 7]) cpu.regs[r] = 0x104000 + (regs[r] & 0x37ffc);
    cpu.regs[4] = 0x13fff0;
  }
  // Some RAM contents to read.
  const data = mode === 'real' ? 0x10000 : 0x100000;
  const words = new Int32Array(0x4000);
  let x = regs[0] | 1;
  for (let a = 0; a < words.length; a++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[a] = x;
  }
  mem.load(data, new Uint8Array(words.buffer));
  cpu.setFlags((flags & 0xcd5) | 2);
  cpu.eip = CODE;
  return m;
}

const arbProgram = fc.record({
  mode: fc.constantFrom<Mode>('real', 'pm32'),
  insns: fc.array(fc.array(fc.nat(0xffff), { minLength: 12, maxLength: 12 }), { minLength: 1, maxLength: 40 }),
  regs: fc.array(
    fc.oneof(
      fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      fc.integer({ min: -300, max: 300 }),
      fc.constantFrom(0x7fffffff, -0x80000000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7f, 0x80, 0xff, 0x100),
    ),
    { minLength: 8, maxLength: 8 },
  ),
  flags: fc.nat(0xfff),
  iterations: fc.integer({ min: 2, max: 12 }),
  steps: fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 20, maxLength: 20 }),
});

describe('block compiler: random programs', () => {
  it('matches the interpreter after every checkpoint (real mode and flat 32-bit protected mode)', () => {
    fc.assert(
      fc.property(arbProgram, ({ mode, insns, regs, flags, iterations, steps }) => {
        const env: Env = { mode, d32: mode === 'pm32' };
        const { code, cont } = program(insns.map((r) => instruction(new Pick(r), env)), env);
        const a = setupMachine(mode, code, cont, regs, flags, iterations, false);
        const b = setupMachine(mode, code, cont, regs, flags, iterations, true);
        // Short steps first (budgets inside blocks), then long ones to finish the loop.
        const all = steps.concat(Array<number>(40).fill(500));
        lockstep(a, b, all, (where) => {
          expect(b.icount, where).toBe(a.icount);
          expect(digest(b, mode), where).toBe(digest(a, mode));
        });
        expect(b.hash()).toBe(a.hash());
      }),
      { numRuns: propertyRuns(300), seed: 0x1badb002 },
    );
  }, 600_000);
});

// ---------------------------------------------------------------------------------------
// Corner cases, deterministic
// ---------------------------------------------------------------------------------------

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];

/** Run `body` (a list of instructions) as a loop in both machines and compare throughout. */
function compareLoop(mode: Mode, body: number[][], iterations = 5, regs: number[] = [0, 0, 0, 0, 0, 0, 0, 0], setup?: (m: Machine) => void): void {
  const env: Env = { mode, d32: mode === 'pm32' };
  const { code, cont } = program(body, env);
  for (const steps of [Array<number>(60).fill(500), [1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37].concat(Array<number>(100).fill(97))]) {
    const a = setupMachine(mode, code, cont, regs, 0, iterations, false, true);
    const b = setupMachine(mode, code, cont, regs, 0, iterations, true, true);
    setup?.(a);
    setup?.(b);
    lockstep(a, b, steps, (where) => {
      expect(b.icount, where).toBe(a.icount);
      expect(digest(b, mode), where).toBe(digest(a, mode));
    });
    expect(b.hash()).toBe(a.hash());
  }
}

describe('block compiler: string instruction corners', () => {
  const sizes = [0xa4, 0xa5, 0xa5];
  it('REP MOVS with overlapping source and destination, both directions', () => {
    for (const d of [-5, -3, -1, 1, 2, 3, 4, 6]) {
      for (let k = 0; k < 3; k++) {
        const op = sizes[k];
        const o16 = k === 1 ? [0x66] : [];
        for (const down of [false, true]) {
          // ESI and EDI move on from one iteration to the next: each copies fresh data.
          const base = 0x104800;
          const regs = [0, 0, 0, 0, 0x13fff0, 0, base, base + d];
          compareLoop('pm32', [[down ? 0xfd : 0xfc], [0xb9, ...le32(37)], [...o16, 0xf3, op], [0xfc]], 5, regs);
        }
      }
    }
  });

  it('REP STOS/MOVS running down through offset 0 (32- and 16-bit addresses)', () => {
    compareLoop('pm32', [[0xfd], [0xbf, ...le32(8)], [0xb9, ...le32(6)], [0xb8, ...le32(0x11223344)], [0xf3, 0xab], [0xfc]]);
    compareLoop('real', [[0xfd], [0xbf, ...le16(6)], [0xb9, ...le16(10)], [0xf3, 0xab], [0xbe, ...le16(3)], [0xbf, ...le16(0x40)], [0xb9, ...le16(9)], [0xf3, 0xa5], [0xfc]]);
    compareLoop('real', [[0xbf, ...le16(0xfff0)], [0xb9, ...le16(20)], [0xf3, 0xab], [0xbe, ...le16(0xfffc)], [0xb9, ...le16(9)], [0xf3, 0xa4]]);
    // ES based off a page boundary: running down through offset 0 wraps to the top of the
    // segment, which is not the previous bytes of the page.
    const esOddBase = (m: Machine) => m.cpu.setSegRaw(S.ES, 0x1001, 0x10010, 0xffff, 0x93);
    compareLoop('real', [[0xfd], [0xbf, ...le16(6)], [0xb9, ...le16(10)], [0xf3, 0xab], [0xfc]], 5, undefined, esOddBase);
    // 16-bit offsets wrap at 64 KiB even when the limit is 4 GiB ("unreal" mode).
    const esUnreal = (m: Machine) => m.cpu.setSegRaw(S.ES, 0x1001, 0x10010, 0xffffffff, 0x93);
    compareLoop('real', [[0xbf, ...le16(0xfff0)], [0xb9, ...le16(20)], [0xf3, 0xab]], 5, undefined, esUnreal);
  });

  it('REP STOS across a page end into its own code page and into a clean page', () => {
    // The stores reach the loop's own first instructions: EAX holds NOPs.
    compareLoop('pm32', [[0xbf, ...le32(0x7ff8)], [0xb9, ...le32(3)], [0xb8, ...le32(0x90909090)], [0xf3, 0xab]]);
    compareLoop('pm32', [[0xbf, ...le32(0x170ffd)], [0xb9, ...le32(9)], [0xf3, 0xab], [0xbe, ...le32(0x171ffe)], [0xbf, ...le32(0x172ffa)], [0xb9, ...le32(5)], [0xf3, 0xa5]]);
    // Going down, with the first element straddling the end of a dirty page into a clean
    // one (which the interpreter's slow path marks dirty): a new pair of pages each time.
    const regs = [0x55667788, 0, 0, 0, 0x13fff0, 0, 0, 0x175ffe];
    compareLoop('pm32', [[0x89, 0x47, 0xf8], [0xfd], [0xb9, ...le32(1)], [0xf3, 0xab], [0xfc], [0x81, 0xc7, ...le32(0x2004)]], 5, regs);
  });

  it('REPE CMPS and REPNE SCAS stop where the interpreter stops', () => {
    for (const op of [0xa6, 0xa7, 0xae, 0xaf]) {
      for (const pre of [0xf3, 0xf2]) {
        compareLoop('pm32', [
          [0xbe, ...le32(0x104000)], [0xbf, ...le32(0x104000)], [0xb9, ...le32(50)], [0xb8, ...le32(0)],
          [0x88, 0x05, ...le32(0x104020)], // mov [0x110020], al: a difference / a match
          [pre, op],
          [0xbf, ...le32(0x104100)], [0xb9, ...le32(30)], [pre, op],
        ]);
      }
    }
  });
});

describe('block compiler: memory access corners', () => {
  it('accesses straddling a page end into a clean page (stores, loads, read-modify-write)', () => {
    // EDI, ESI, EBX each start just before a page end and move to a new page pair each
    // iteration: the first page is made dirty first, the second is still clean (its first
    // write must take the slow path, which marks it dirty).
    const regs = [0x11223344, 0, 0, 0x185ffe, 0x13fff0, 0, 0x195ffd, 0x175fff];
    compareLoop('pm32', [
      [0x89, 0x47, 0xf0], [0x89, 0x46, 0xf0], [0x89, 0x43, 0xf0], // mov [edi/esi/ebx - 16], eax
      [0x89, 0x07], // mov [edi], eax
      [0x8b, 0x16], // mov edx, [esi]
      [0x01, 0x03], // add [ebx], eax
      [0x66, 0x89, 0x47, 0x02], // mov [edi+2], ax (no crossing: next page, clean)
      [0x81, 0xc7, ...le32(0x2000)], [0x81, 0xc6, ...le32(0x2000)], [0x81, 0xc3, ...le32(0x2000)],
    ], 6, regs);
  });

  it('accesses straddling the segment limit raise the fault the interpreter raises', () => {
    // Real mode: a word at offset FFFFh and a dword at FFFEh (#GP), then a good access.
    compareLoop('real', [[0xa1, ...le16(0xffff)], [0x66, 0xa1, ...le16(0xfffe)], [0xa1, ...le16(0xfffd)]]);
    // Flat protected mode with DS limited to 104FFDh (not a page end): ESI moves up one byte
    // per iteration until a dword at ESI crosses the limit.
    const dsLimit = (m: Machine) => m.cpu.setSegRaw(S.DS, 16, 0, 0x104ffd, 0x93 | 0x4000);
    compareLoop('pm32', [[0x8b, 0x06], [0x89, 0x06], [0x8b, 0x46, 0xfc], [0x46]], 6, [0, 0, 0, 0, 0x13fff0, 0, 0x104ff8, 0], dsLimit);
  });
});

// ---------------------------------------------------------------------------------------
// Self-modifying code, aliased code, interrupts (real-mode programs, assembled with NASM;
// the source is in the comments)
// ---------------------------------------------------------------------------------------

/** A real-mode machine running `code` at 0000:8000 (DS=ES=SS=1000h, SP=FFF0h). */
function rawReal(code: number[], jit: boolean, at = CODE): Machine {
  const m = createBareMachine({ ramSize: 1 << 20 });
  m.cpu.jitThreshold = jit ? 1 : 0;
  m.mem.load(at, new Uint8Array(code));
  for (const s of [S.DS, S.ES, S.SS, S.FS, S.GS]) m.cpu.setSegRaw(s, 0x1000, 0x10000, 0xffff, 0x93);
  m.cpu.regs[4] = 0xfff0;
  m.cpu.eip = CODE;
  return m;
}

function compareRaw(make: (jit: boolean) => Machine, steps: number[]): void {
  const a = make(false);
  const b = make(true);
  lockstep(a, b, steps, (where) => expect(b.hash(), where).toBe(a.hash()));
  expect(a.cpu.halted && b.cpu.halted).toBe(true);
}

describe('block compiler: code that changes, moves and gets interrupted', () => {
  it('a loop rewriting an immediate of its own code', () => {
    //         mov cx, 200
    // top:    mov al, 0           ; the immediate is patched below
    //         add [0x40], al
    //         inc byte [cs:top+1] ; rewrite this loop's own code
    //         add bx, ax
    //         dec cx
    //         jnz top
    //         hlt
    const code = [0xb9, 0xc8, 0x00, 0xb0, 0x00, 0x00, 0x06, 0x40, 0x00, 0x2e, 0xfe, 0x06, 0x04, 0x80, 0x01, 0xc3, 0x49, 0x75, 0xf0, 0xf4];
    compareRaw((jit) => rawReal(code, jit), deadlines(60, 40, 3).concat(Array<number>(20).fill(1000)));
  });

  it('the same code entered through two different CS:IP (one physical block, two linear EIPs)', () => {
    //         mov cx, 30
    // again:  call 0000h:8100h    ; the subroutine through CS=0 ...
    //         call 0810h:0000h    ; ... and through CS=0810h
    //         loop again
    //         hlt
    // (8100h) sub: mov dx, 20
    // .l:     add ax, dx
    //         xor bx, ax
    //         jnc .s
    //         inc si
    // .s:     dec dx
    //         jnz .l
    //         retf
    const main = [0xb9, 0x1e, 0x00, 0x9a, 0x00, 0x81, 0x00, 0x00, 0x9a, 0x00, 0x00, 0x10, 0x08, 0xe2, 0xf4, 0xf4];
    const sub = [0xba, 0x14, 0x00, 0x01, 0xd0, 0x31, 0xc3, 0x73, 0x01, 0x46, 0x4a, 0x75, 0xf6, 0xcb];
    const code = main.concat(Array<number>(0x100 - main.length).fill(0x90), sub);
    compareRaw((jit) => rawReal(code, jit), deadlines(80, 70, 5).concat(Array<number>(20).fill(2000)));
  });

  it('timer interrupts while compiled regions chain, with CLI/STI windows', () => {
    //         mov cx, 300
    // top:    cli
    //         mov dx, 40
    // .b:     xor bx, ax          ; interrupts held off: one becomes pending
    //         add bx, 3
    //         dec dx
    //         jnz .b
    //         sti                 ; taken after the next block (the STI shadow)
    //         mov dx, 60
    // .a:     add ax, dx
    //         rol ax, 1
    //         dec dx
    //         jnz .a
    //         loop top
    //         cli
    //         hlt
    // (801Eh) isr: inc word [cs:0x7000]   ; count interrupts, sum where they hit
    //         push bp
    //         mov bp, sp
    //         mov bp, [bp+2]
    //         add [cs:0x7002], bp
    //         pop bp
    //         iret
    const code = [
      0xb9, 0x2c, 0x01, 0xfa, 0xba, 0x28, 0x00, 0x31, 0xc3, 0x83, 0xc3, 0x03, 0x4a, 0x75, 0xf8, 0xfb, 0xba, 0x3c, 0x00,
      0x01, 0xd0, 0xd1, 0xc0, 0x4a, 0x75, 0xf9, 0xe2, 0xe7, 0xfa, 0xf4, 0x2e, 0xff, 0x06, 0x00, 0x70, 0x55, 0x89, 0xe5,
      0x8b, 0x6e, 0x02, 0x2e, 0x01, 0x2e, 0x02, 0x70, 0x5d, 0xcf,
    ];
    for (const period of [37, 101, 1000]) {
      compareRaw((jit) => {
        const m = rawReal(code, jit);
        const cpu = m.cpu;
        m.mem.write32(0x20 * 4, CODE + 0x1e);
        // A minimal interrupt controller: the line stays up until acknowledged.
        cpu.pic = { acknowledge: () => ((cpu.intr = false), 0x20) };
        const t = m.clock.timer('tick', (at) => {
          cpu.intr = true;
          if (at < 200_000) t.arm(at + period);
        });
        t.arm(period);
        return m;
      }, deadlines(100, 500, period).concat(Array<number>(100).fill(5000)));
    }
  });
});
