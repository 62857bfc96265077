// Just enough of an 8086/80286 instruction decoder to classify a conformance test: its
// prefixes, opcode, ModRM fields and the segment:offset of its memory operand. The skip list
// and the runner use it; it is not the CPU's decoder (that one lives in engine/cpu/).
//
// 16-bit real mode only: no operand/address-size prefixes (0x66/0x67 are not prefixes on a 286).

import type { MooRegs } from './moo.ts';

/** Segment register numbers as encoded in instructions (SDM vol. 2 §3.1.1.3). */
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds'] as const;
export const SEG_ES = 0;
export const SEG_CS = 1;
export const SEG_SS = 2;
export const SEG_DS = 3;

const SEG_PREFIX: Record<number, number> = { 0x26: SEG_ES, 0x2e: SEG_CS, 0x36: SEG_SS, 0x3e: SEG_DS };

/** One-byte opcodes followed by a ModRM byte on the 80286 (80286 PRM appendix; SDM vol. 2 table A-2). */
const HAS_MODRM = new Set<number>([
  0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x18, 0x19, 0x1a, 0x1b,
  0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2a, 0x2b, 0x30, 0x31, 0x32, 0x33, 0x38, 0x39, 0x3a, 0x3b,
  0x62, 0x63, 0x69, 0x6b, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b,
  0x8c, 0x8d, 0x8e, 0x8f, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3,
  0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xf6, 0xf7, 0xfe, 0xff,
]);

/** String instructions, which a REP prefix repeats. */
export const STRING_OPS = new Set<number>([0x6c, 0x6d, 0x6e, 0x6f, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]);

export interface Decoded {
  /** Prefix bytes in order. */
  prefixes: number[];
  /** Last segment override (0-3), or -1. */
  segOverride: number;
  lock: boolean;
  /** 0xF2 or 0xF3 if present (the last one), else 0. */
  rep: number;
  opcode: number;
  /** Offset of the opcode byte in the instruction. */
  opcodeAt: number;
  modrm?: { mod: number; reg: number; rm: number };
  /** The ModRM memory operand (mod != 3): segment register used and 16-bit offset. */
  mem?: { seg: number; offset: number };
}

function reg16(regs: MooRegs, name: 'bx' | 'bp' | 'si' | 'di'): number {
  return regs[name] ?? 0;
}

/**
 * Decode `bytes` (the instruction, as in a test's BYTS) against the initial registers.
 * Reads past the end of `bytes` as zero, so a truncated instruction still decodes.
 */
export function decode(bytes: readonly number[], regs: MooRegs): Decoded {
  const at = (i: number): number => bytes[i] ?? 0;
  const prefixes: number[] = [];
  let segOverride = -1;
  let lock = false;
  let rep = 0;
  let i = 0;
  for (;;) {
    const b = at(i);
    if (b in SEG_PREFIX) segOverride = SEG_PREFIX[b];
    else if (b === 0xf0) lock = true;
    else if (b === 0xf2 || b === 0xf3) rep = b;
    else break;
    prefixes.push(b);
    i++;
  }
  const opcode = at(i);
  const d: Decoded = { prefixes, segOverride, lock, rep, opcode, opcodeAt: i };
  if (!HAS_MODRM.has(opcode)) return d;
  const m = at(i + 1);
  const mod = m >> 6;
  const reg = (m >> 3) & 7;
  const rm = m & 7;
  d.modrm = { mod, reg, rm };
  if (mod === 3) return d;
  const disp = mod === 1 ? (at(i + 2) << 24) >> 24 : mod === 2 || (mod === 0 && rm === 6) ? at(i + 2) | (at(i + 3) << 8) : 0;
  const { bx, bp, si, di } = { bx: reg16(regs, 'bx'), bp: reg16(regs, 'bp'), si: reg16(regs, 'si'), di: reg16(regs, 'di') };
  const base = [bx + si, bx + di, bp + si, bp + di, si, di, mod === 0 ? 0 : bp, bx][rm];
  const bpBased = rm === 2 || rm === 3 || (rm === 6 && mod !== 0);
  d.mem = { seg: segOverride >= 0 ? segOverride : bpBased ? SEG_SS : SEG_DS, offset: (base + disp) & 0xffff };
  return d;
}

export function hex(v: number, digits: number): string {
  return v.toString(16).toUpperCase().padStart(digits, '0');
}
