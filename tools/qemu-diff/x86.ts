// Just enough IA-32 decoding to drive the comparison: prefixes, the opcode, ModRM and the
// instruction's length up to its immediate; which instructions read a device or a model-
// specific value (their results are taken from QEMU, not compared); which flags an
// instruction leaves architecturally undefined (Intel SDM vol. 2, each instruction's
// "Flags Affected"); and a disassembly line from objdump when it is installed.
//
// It is not the CPU's decoder (that one lives in engine/cpu/); it never raises anything and
// reads past the bytes it is given as zero.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const STATUS = CF | PF | AF | ZF | SF | OF;

export interface Insn {
  /** Bytes of prefixes. */
  prefixLen: number;
  /** 0x66 seen / 0x67 seen. */
  opsize: boolean;
  adsize: boolean;
  /** 0xF2 or 0xF3 (the last one), else 0. */
  rep: number;
  /** One-byte opcode, or 0x0F00 | second byte. */
  op: number;
  modrm: number;
  /** Bytes from the start through ModRM/SIB/displacement (the immediate follows). */
  immAt: number;
  /** The first immediate byte (0 when none was decoded). */
  imm8: number;
}

const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** One-byte opcodes with a ModRM byte. */
const MODRM1 = new Set<number>();
for (let o = 0; o < 0x40; o++) if ((o & 7) < 4) MODRM1.add(o);
for (const o of [0x62, 0x63, 0x69, 0x6b, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b,
  0x8c, 0x8d, 0x8e, 0x8f, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xd8, 0xd9, 0xda, 0xdb,
  0xdc, 0xdd, 0xde, 0xdf, 0xf6, 0xf7, 0xfe, 0xff]) MODRM1.add(o);

/** Two-byte opcodes (0F xx) without a ModRM byte. */
function noModrm2(b: number): boolean {
  return (b >= 0x80 && b <= 0x8f) || (b >= 0xc8 && b <= 0xcf) || [0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa, 0x77].includes(b);
}

/** Decode the start of an instruction; `code32` is the code segment's default size. */
export function decode(bytes: Uint8Array, code32: boolean): Insn {
  const at = (i: number): number => bytes[i] ?? 0;
  let i = 0;
  let opsize = false, adsize = false, rep = 0;
  while (i < 15 && PREFIXES.has(at(i))) {
    const b = at(i);
    if (b === 0x66) opsize = true;
    else if (b === 0x67) adsize = true;
    else if (b === 0xf2 || b === 0xf3) rep = b;
    i++;
  }
  const prefixLen = i;
  let op = at(i++);
  let hasModrm: boolean;
  if (op === 0x0f) {
    const b = at(i++);
    op = 0x0f00 | b;
    hasModrm = !noModrm2(b);
  } else hasModrm = MODRM1.has(op);
  let modrm = 0;
  if (hasModrm) {
    modrm = at(i++);
    const mod = modrm >> 6, rm = modrm & 7;
    const a32 = code32 !== adsize;
    if (mod !== 3) {
      if (a32) {
        if (rm === 4) {
          const sib = at(i++);
          if (mod === 0 && (sib & 7) === 5) i += 4;
        }
        if (mod === 0 && rm === 5) i += 4;
        else if (mod === 1) i += 1;
        else if (mod === 2) i += 4;
      } else {
        if (mod === 0 && rm === 6) i += 2;
        else if (mod === 1) i += 1;
        else if (mod === 2) i += 2;
      }
    }
  }
  return { prefixLen, opsize, adsize, rep, op, modrm, immAt: i, imm8: at(i) };
}

const STRING_OPS = new Set([0x6c, 0x6d, 0x6e, 0x6f, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]);

export function isRepString(d: Insn): boolean {
  return d.rep !== 0 && STRING_OPS.has(d.op);
}

/** IN AL/AX/EAX (E4 E5 EC ED) */
export function isPortIn(d: Insn): boolean {
  return d.op === 0xe4 || d.op === 0xe5 || d.op === 0xec || d.op === 0xed;
}

/** INS (6C 6D) */
export function isPortInString(d: Insn): boolean {
  return d.op === 0x6c || d.op === 0x6d;
}

/** OUT imm8 or DX (E6 E7 EE EF); returns the port, given DX. */
export function portOut(d: Insn, dx: number): number | null {
  if (d.op === 0xe6 || d.op === 0xe7) return d.imm8;
  if (d.op === 0xee || d.op === 0xef) return dx & 0xffff;
  return null;
}

/** Registers the instruction reads from the model or a device: CPUID, RDTSC, RDMSR, RDPMC. */
export function modelSpecific(d: Insn): { name: string; regs: number[] } | null {
  switch (d.op) {
    case 0x0fa2: return { name: 'CPUID', regs: [0, 1, 2, 3] };
    case 0x0f31: return { name: 'RDTSC', regs: [0, 2] };
    case 0x0f32: return { name: 'RDMSR', regs: [0, 2] };
    case 0x0f33: return { name: 'RDPMC', regs: [0, 2] };
    default: return null;
  }
}

/** INT imm8 (CD ib): the vector and the instruction's full length; else null. */
export function softwareInt(d: Insn): { vector: number; length: number } | null {
  if (d.op !== 0xcd) return null;
  return { vector: d.imm8, length: d.immAt + 1 };
}

export function isHlt(d: Insn): boolean {
  return d.op === 0xf4;
}

/**
 * Instructions that can change hidden segment state, descriptor-table registers or
 * control registers: worth a full comparison through the monitor afterwards.
 */
export function touchesSystemState(d: Insn): boolean {
  const reg = (d.modrm >> 3) & 7;
  switch (d.op) {
    case 0x07: case 0x17: case 0x1f: case 0x0fa1: case 0x0fa9: // POP sreg
    case 0x8e: // MOV sreg
    case 0xc4: case 0xc5: case 0x0fb2: case 0x0fb4: case 0x0fb5: // LES LDS LSS LFS LGS
    case 0xea: case 0x9a: case 0xca: case 0xcb: case 0xcf: // far JMP/CALL/RET, IRET
    case 0xcc: case 0xcd: case 0xce: case 0x0f05: case 0x0f07: case 0x0f34: case 0x0f35: // INT, SYSCALL..
    case 0x0f20: case 0x0f21: case 0x0f22: case 0x0f23: case 0x0f06: case 0x0f08: case 0x0f09: // MOV CR/DR, CLTS, INVD..
    case 0x0f30: // WRMSR
      return true;
    case 0xff:
      return reg === 3 || reg === 5; // far CALL/JMP
    case 0x0f00:
      return reg === 2 || reg === 3; // LLDT LTR
    case 0x0f01:
      return reg === 2 || reg === 3 || reg === 6 || reg === 7; // LGDT LIDT LMSW INVLPG
    default:
      return false;
  }
}

/**
 * EFLAGS bits the instruction leaves undefined (SDM vol. 2, "Flags Affected"), given the
 * registers before it (for shift counts). 0 when everything it writes is defined.
 */
export function undefinedFlags(d: Insn, ecx: number, code32: boolean): number {
  const reg = (d.modrm >> 3) & 7;
  const o = d.op;
  const width = o === 0xc0 || o === 0xd0 || o === 0xd2 || o === 0xf6 ? 8 : (code32 !== d.opsize ? 32 : 16);
  // Logic: AF undefined.
  if ((o <= 0x3f && [1, 4, 6].includes(o >> 3) && (o & 7) < 6) || o === 0x84 || o === 0x85 || o === 0xa8 || o === 0xa9) return AF;
  if ((o >= 0x80 && o <= 0x83) && (reg === 1 || reg === 4 || reg === 6)) return AF;
  if ((o === 0xf6 || o === 0xf7) && (reg === 0 || reg === 1)) return AF; // TEST
  if ((o === 0xf6 || o === 0xf7) && (reg === 4 || reg === 5)) return SF | ZF | AF | PF; // MUL IMUL
  if ((o === 0xf6 || o === 0xf7) && (reg === 6 || reg === 7)) return STATUS; // DIV IDIV
  if (o === 0x0faf || o === 0x69 || o === 0x6b) return SF | ZF | AF | PF;
  if (o >= 0xc0 && o <= 0xd3 && (o <= 0xc1 || o >= 0xd0)) {
    const raw = o === 0xd0 || o === 0xd1 ? 1 : o === 0xd2 || o === 0xd3 ? ecx & 0xff : d.imm8;
    const count = raw & 0x1f;
    if (count === 0) return 0;
    let m = count !== 1 ? OF : 0;
    if (reg >= 4) {
      m |= AF; // shifts
      if (count >= width) m |= CF;
    }
    return m;
  }
  if (o === 0x0fa4 || o === 0x0fa5 || o === 0x0fac || o === 0x0fad) {
    const count = (o === 0x0fa4 || o === 0x0fac ? d.imm8 : ecx) & 0x1f;
    if (count === 0) return 0;
    if (count > width) return STATUS;
    return AF | (count !== 1 ? OF : 0);
  }
  if (o === 0x0fa3 || o === 0x0fab || o === 0x0fb3 || o === 0x0fbb || (o === 0x0fba && reg >= 4)) return OF | SF | AF | PF;
  if (o === 0x0fbc || o === 0x0fbd) return CF | OF | SF | AF | PF;
  if (o === 0x37 || o === 0x3f) return OF | SF | ZF | PF; // AAA AAS
  if (o === 0xd4 || o === 0xd5) return OF | AF | CF; // AAM AAD
  if (o === 0x27 || o === 0x2f) return OF; // DAA DAS
  return 0;
}

export const FLAG_NAMES: [number, string][] = [
  [0x200000, 'ID'], [0x100000, 'VIP'], [0x80000, 'VIF'], [0x40000, 'AC'], [0x20000, 'VM'], [0x10000, 'RF'],
  [0x4000, 'NT'], [0x3000, 'IOPL'], [0x800, 'OF'], [0x400, 'DF'], [0x200, 'IF'], [0x100, 'TF'], [0x80, 'SF'],
  [0x40, 'ZF'], [0x10, 'AF'], [0x4, 'PF'], [0x1, 'CF'],
];

export function flagNames(mask: number): string {
  return FLAG_NAMES.filter(([b]) => mask & b).map(([, n]) => n).join(' ');
}

let objdumpMissing = false;

/** The first instruction in `bytes` as objdump sees it (text and length), or null without objdump. */
export function disassemble(bytes: Uint8Array, code32: boolean, address: number): { text: string; length: number } | null {
  if (objdumpMissing) return null;
  const dir = mkdtempSync(join(tmpdir(), 'qemu-diff-'));
  try {
    const f = join(dir, 'insn.bin');
    writeFileSync(f, bytes);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', code32 ? 'i386' : 'i8086', '-M', 'intel',
      '--insn-width=15', `--adjust-vma=0x${address.toString(16)}`, f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const line = out.split('\n').find((l) => /^\s*[0-9a-f]+:\t/.test(l));
    if (!line) return null;
    const parts = line.split('\t');
    const length = (parts[1] ?? '').trim().split(/\s+/).filter(Boolean).length;
    const text = (parts[2] ?? '').replace(/\s+/g, ' ').trim();
    return text ? { text, length } : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') objdumpMissing = true;
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SEG_PREFIX: Record<number, number> = { 0x26: 0, 0x2e: 1, 0x36: 2, 0x3e: 3, 0x64: 4, 0x65: 5 };

/**
 * The memory operands the instruction addresses through a ModRM byte or as a string
 * instruction (segment 0-5 = ES CS SS DS FS GS, and offset), from the registers before it.
 * Stack accesses (PUSH, POP, CALL) are not listed.
 */
export function memOperands(bytes: Uint8Array, d: Insn, regs: readonly number[], code32: boolean): { seg: number; offset: number }[] {
  let override = -1;
  for (let i = 0; i < d.prefixLen; i++) if (bytes[i] in SEG_PREFIX) override = SEG_PREFIX[bytes[i]];
  const a32 = code32 !== d.adsize;
  const amask = a32 ? 0xffffffff : 0xffff;
  const o = d.op;
  if ([0xa4, 0xa5, 0xa6, 0xa7, 0xac, 0xad, 0x6e, 0x6f].includes(o)) {
    const out = [{ seg: override >= 0 ? override : 3, offset: (regs[6] & amask) >>> 0 }];
    if (o <= 0xa7) out.push({ seg: 0, offset: (regs[7] & amask) >>> 0 });
    return out;
  }
  if ([0xaa, 0xab, 0xae, 0xaf, 0x6c, 0x6d].includes(o)) return [{ seg: 0, offset: (regs[7] & amask) >>> 0 }];
  if (o >= 0xa0 && o <= 0xa3) {
    // MOV AL/AX/EAX <-> moffs
    const at = d.prefixLen + 1;
    const off = a32 ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0 : bytes[at] | (bytes[at + 1] << 8);
    return [{ seg: override >= 0 ? override : 3, offset: off }];
  }
  const modrmAt = d.prefixLen + (o > 0xff ? 2 : 1);
  const mod = d.modrm >> 6, rm = d.modrm & 7;
  if (d.immAt === modrmAt || mod === 3) return [];
  // Opcodes whose ModRM does not address memory as data (LEA) are left out.
  if (o === 0x8d) return [];
  let i = modrmAt + 1;
  const u8 = (k: number): number => bytes[k] ?? 0;
  const s8 = (k: number): number => (u8(k) << 24) >> 24;
  const s32 = (k: number): number => u8(k) | (u8(k + 1) << 8) | (u8(k + 2) << 16) | (u8(k + 3) << 24);
  let seg = 3;
  let off: number;
  if (a32) {
    let base: number;
    if (rm === 4) {
      const sib = u8(i++);
      const scale = sib >> 6, index = (sib >> 3) & 7, b = sib & 7;
      if (b === 5 && mod === 0) {
        base = s32(i);
        i += 4;
      } else {
        base = regs[b];
        if (b === 4 || b === 5) seg = 2;
      }
      if (index !== 4) base += regs[index] << scale;
    } else if (rm === 5 && mod === 0) {
      base = s32(i);
      i += 4;
    } else {
      base = regs[rm];
      if (rm === 5) seg = 2;
    }
    if (mod === 1) base += s8(i);
    else if (mod === 2) base += s32(i);
    off = base >>> 0;
  } else {
    const bx = regs[3] & 0xffff, bp = regs[5] & 0xffff, si = regs[6] & 0xffff, di = regs[7] & 0xffff;
    const forms = [bx + si, bx + di, bp + si, bp + di, si, di, bp, bx];
    let base = rm === 6 && mod === 0 ? u8(i) | (u8(i + 1) << 8) : forms[rm];
    if (rm === 2 || rm === 3 || (rm === 6 && mod !== 0)) seg = 2;
    if (mod === 1) base += s8(i);
    else if (mod === 2) base += (u8(i) | (u8(i + 1) << 8));
    off = base & 0xffff;
  }
  return [{ seg: override >= 0 ? override : seg, offset: off }];
}

/**
 * The stack bytes the instruction pushes or pops, as offsets relative to ESP before it
 * ([from, to), negative for pushes), or null when it does not use the stack this way.
 */
export function stackAccess(d: Insn, code32: boolean): { from: number; to: number } | null {
  const size = code32 !== d.opsize ? 4 : 2;
  const reg = (d.modrm >> 3) & 7;
  const o = d.op;
  const push = (n: number): { from: number; to: number } => ({ from: -n, to: 0 });
  const pop = (n: number): { from: number; to: number } => ({ from: 0, to: n });
  if ((o >= 0x50 && o <= 0x57) || o === 0x68 || o === 0x6a || o === 0x9c || o === 0xe8) return push(size);
  if (o === 0x06 || o === 0x0e || o === 0x16 || o === 0x1e || o === 0x0fa0 || o === 0x0fa8) return push(size);
  if (o === 0x60) return push(size * 8);
  if (o === 0xff && (reg === 6 || reg === 2)) return push(size);
  if (o === 0x9a || (o === 0xff && reg === 3)) return push(size * 2);
  if ((o >= 0x58 && o <= 0x5f) || o === 0x8f || o === 0x9d || o === 0xc3 || o === 0xc2) return pop(size);
  if (o === 0x07 || o === 0x17 || o === 0x1f || o === 0x0fa1 || o === 0x0fa9) return pop(size);
  if (o === 0x61) return pop(size * 8);
  if (o === 0xcb || o === 0xca) return pop(size * 2);
  if (o === 0xcf) return pop(size * 3);
  return null;
}

/** Operand width in bytes of a ModRM or string instruction's memory access (a guess: 1 when unsure). */
export function accessWidth(d: Insn, code32: boolean): number {
  const o = d.op;
  const wide = code32 !== d.opsize ? 4 : 2;
  const byteForm = o <= 0xff && (
    (o < 0x40 && (o & 7) < 4) || [0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
      0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xc0, 0xc1, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xf6, 0xf7, 0xfe, 0xff].includes(o));
  if (byteForm) return o & 1 ? wide : 1;
  if (o === 0x80 || o === 0x82) return 1;
  if (o === 0x81 || o === 0x83 || o === 0x8f || o === 0x69 || o === 0x6b) return wide;
  if (o === 0x8c || o === 0x8e) return 2;
  return 1;
}
