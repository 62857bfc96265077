// The one list of 80286 conformance tests that bitrot's P6-class CPU is not expected to pass
// because a real P6 would not pass them either: each entry names a documented difference
// between the 80286 (iAPX 286 Programmer's Reference Manual, "PRM") and the P6 family
// (Intel SDM). Every skipped test is counted and reported under its entry's id; nothing is
// skipped silently.
//
// An entry skips whole opcode files (`files`, e.g. '0F01.2') or individual tests (`test`).
// Differences that the suite already hides are not listed here: undefined flags are masked
// from metadata.json (and FLAG_MASK_SUPPLEMENTS below), the IOPL/NT/bit-15 flags are masked
// always, and the real-mode set has no files for the 286-only system instructions (0F xx,
// LOADALL, STOREALL), for ARPL and the opcodes a 286 only answers with #UD (63-67, F1), nor
// for ENTER (C8, not copied).
// Behaviour that the two CPUs share is deliberately NOT skipped, e.g. PUSH SP pushing the
// old SP, shift and rotate counts masked to 5 bits, D6 (SALC), #DE pushing the address of
// the faulting instruction, #UD for the reg fields the 286 does not define.

import { decode, SEG_SS, STRING_OPS, type Decoded } from './decode.ts';
import type { MooTest } from './moo.ts';

export interface SkipEntry {
  /** Short name, printed in reports. */
  id: string;
  /** The difference, with its sources. */
  reason: string;
  /** Opcode files skipped whole, by name without `.MOO.gz` (e.g. '0F00.2'). */
  files?: readonly string[];
  /** Individual tests skipped. `d` is the test's instruction decoded against its initial registers. */
  test?: (t: MooTest, d: Decoded, file: string) => boolean;
}

/**
 * Instructions a P6 accepts a LOCK prefix on (SDM vol. 2, LOCK: ADD ADC AND BTC BTR BTS
 * CMPXCHG DEC INC NEG NOT OR SBB SUB XOR XADD XCHG, memory destination only); of those, the
 * ones that exist on a 286.
 */
function p6Lockable(d: Decoded): boolean {
  const m = d.modrm;
  if (!m || m.mod === 3) return false;
  const op = d.opcode;
  if (op < 0x40 && (op & 7) <= 1 && (op & 0x38) !== 0x38) return true; // ADD/OR/ADC/SBB/AND/SUB/XOR r/m, r (not CMP)
  if (op >= 0x80 && op <= 0x83) return m.reg !== 7; // group 1 except CMP
  if (op === 0x86 || op === 0x87) return true; // XCHG
  if (op === 0xf6 || op === 0xf7) return m.reg === 2 || m.reg === 3; // NOT, NEG
  if (op === 0xfe || op === 0xff) return m.reg <= 1; // INC, DEC
  return false;
}

/** Words read from SS:SP by instructions that pop (SDM vol. 2: POP, POPA, POPF, RET, IRET). */
const POP_WORDS = new Map<number, number>([
  [0x07, 1], [0x17, 1], [0x1f, 1], [0x58, 1], [0x59, 1], [0x5a, 1], [0x5b, 1], [0x5c, 1], [0x5d, 1], [0x5e, 1], [0x5f, 1],
  [0x61, 8], [0x8f, 1], [0x9d, 1], [0xc2, 1], [0xc3, 1], [0xca, 2], [0xcb, 2], [0xcf, 3],
]);

/**
 * The access that raised the 286's interrupt 13 went through SS: a pop of a word at offset
 * 0xFFFF (LEAVE pops from BP), or an explicit memory operand in SS straddling offset 0xFFFF
 * (POP r/m reads the stack before it writes its operand). String instructions that fault are
 * skipped whole by 'string-overrun-registers'.
 */
function faultedThroughSS(t: MooTest, d: Decoded): boolean {
  const r = t.initial.regs;
  const top = d.opcode === 0xc9 ? r.bp! : r.sp!;
  const words = d.opcode === 0xc9 ? 1 : POP_WORDS.get(d.opcode) ?? 0;
  if ((top & 1) === 1 && (0xffff - top) / 2 < words) return true;
  if (d.mem) return d.mem.seg === SEG_SS && (d.mem.offset & 1) === 1 && d.mem.offset >= 0xfffd;
  return false;
}

export const SKIPS: readonly SkipEntry[] = [
  {
    id: 'lock-ud',
    reason:
      'LOCK prefix on an instruction a P6 does not lock: the 286 asserts LOCK# for any instruction (PRM, LOCK), ' +
      'a P6 raises #UD unless the instruction is a lockable read-modify-write of memory (SDM vol. 2, LOCK)',
    test: (t, d) => d.lock && !p6Lockable(d) && t.exception?.number !== 6,
  },
  {
    id: 'insn-length-10',
    reason:
      'instruction longer than 10 bytes (redundant prefixes): the 286 limits instructions to 10 bytes and raises ' +
      'interrupt 13 (PRM, interrupt 13 causes; the captured data agrees), ' +
      'a P6 accepts up to 15 bytes (SDM vol. 2 §2.1)',
    test: (t) => t.bytes.length - 1 > 10 && t.exception?.number === 13,
  },
  {
    id: 'string-overrun-registers',
    reason:
      'a string instruction meets a word at offset 0xFFFF: the 286 has already stepped SI/DI (and, under REP, CX) past ' +
      'the element when it raises interrupt 13 (the captured final states), a P6 string fault leaves them at the ' +
      'faulting element so the instruction restarts (SDM vol. 2, REP: "the state of the registers is preserved to ' +
      'allow the string operation to be resumed")',
    test: (t, d) => STRING_OPS.has(d.opcode) && t.exception?.number === 13,
  },
  {
    id: 'stack-overrun-vector',
    reason:
      'a word access through SS at offset 0xFFFF: the 286 in real mode raises interrupt 13 for any segment (PRM, POP: ' +
      '"Real address mode exceptions: interrupt 13 for a word operand at offset 0FFFFH"), a P6 raises #SS, vector 12 ' +
      '(SDM vol. 2, POP/ADD real-address mode exceptions: "#SS if ... outside the SS segment limit")',
    test: (t, d) => t.exception?.number === 13 && faultedThroughSS(t, d),
  },
  {
    id: 'fs-gs',
    reason:
      'MOV to/from segment register 4 or 5: the 286 has four segment registers and raises #UD (PRM, MOV), a P6 moves FS/GS (SDM vol. 2, MOV)',
    test: (_t, d) => (d.opcode === 0x8c || d.opcode === 0x8e) && d.modrm !== undefined && (d.modrm.reg === 4 || d.modrm.reg === 5),
  },
];

/**
 * Flags that are undefined for a test although metadata.json does not mask them. Like the
 * metadata's masks these are compared on neither side; they are not skips.
 */
export interface FlagMaskSupplement {
  id: string;
  reason: string;
  /** Opcode files (names without `.MOO.gz`; `C0.*` style prefixes end with a dot). */
  files: readonly string[];
  /** Extra undefined FLAGS bits for this test (0: none). */
  undefinedFlags: (t: MooTest, d: Decoded) => number;
}

export const FLAG_MASK_SUPPLEMENTS: readonly FlagMaskSupplement[] = [
  {
    id: 'c0-multibit-of',
    reason:
      'OF after a shift or rotate by a count other than 1 is undefined on the 286 (PRM, SAL/SHL/SAR/SHR, RCL/RCR/ROL/ROR) and ' +
      'on a P6 (SDM vol. 2, same entries); metadata.json masks it for C1, D2 and D3 but not for C0 (the same ' +
      'instructions on byte operands)',
    files: ['C0.'],
    undefinedFlags: (t, d) => ((t.bytes[d.opcodeAt + immOffset(d)] ?? 0) & 31) !== 1 ? 0x800 : 0,
  },
];

/** Offset of C0's imm8 count from the opcode: ModRM, then 0, 1 or 2 displacement bytes. */
function immOffset(d: Decoded): number {
  const m = d.modrm!;
  const disp = m.mod === 1 ? 1 : m.mod === 2 || (m.mod === 0 && m.rm === 6) ? 2 : 0;
  return 2 + disp;
}

/** Extra undefined FLAGS bits for a test of opcode file `key` (e.g. `C0.5`). */
export function supplementaryFlagMask(key: string, t: MooTest, d: Decoded): number {
  let bits = 0;
  for (const s of FLAG_MASK_SUPPLEMENTS) {
    if (s.files.some((f) => (f.endsWith('.') ? key.startsWith(f) : key === f))) bits |= s.undefinedFlags(t, d);
  }
  return bits;
}

const fileSkips = new Map<string, SkipEntry>();
for (const e of SKIPS) for (const f of e.files ?? []) fileSkips.set(f, e);

/** The entry that skips a whole opcode file (`name` without `.MOO.gz`), if any. */
export function skipFile(name: string): SkipEntry | undefined {
  return fileSkips.get(name);
}

/** The first entry that skips this test, if any. */
export function skipTest(t: MooTest, file: string, d: Decoded = decode(t.bytes, t.initial.regs)): SkipEntry | undefined {
  for (const e of SKIPS) if (e.test && e.test(t, d, file)) return e;
  return undefined;
}
