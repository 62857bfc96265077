// The narrow fault seams of the engine (DESIGN.md, contract 5). faults/ reaches the machine
// only through these. Each costs nothing while unused: memory hooks live in the page map's
// slow path, register flips are scheduled clock events, and the interrupt-line and
// block-device filters are a null check on paths that are already slow (an IRQ edge, a
// sector transfer).

import type { CPU } from './cpu/cpu.ts';
import { S } from './cpu/constants.ts';

export type { MemoryPageHook } from './memory.ts';

/** CPU state a register fault can target (SDM names). */
export type RegisterTarget =
  | 'eax' | 'ecx' | 'edx' | 'ebx' | 'esp' | 'ebp' | 'esi' | 'edi'
  | 'eip' | 'eflags'
  | 'es.base' | 'cs.base' | 'ss.base' | 'ds.base' | 'fs.base' | 'gs.base';

export const REGISTER_TARGETS: readonly RegisterTarget[] = [
  'eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags',
  'es.base', 'cs.base', 'ss.base', 'ds.base', 'fs.base', 'gs.base',
];

/**
 * Flip one bit of a CPU register now (at an instruction boundary). A flipped segment base
 * changes only the hidden descriptor cache, as a particle strike on the real part would.
 */
export function flipRegisterBit(cpu: CPU, target: RegisterTarget, bit: number): void {
  if (bit < 0 || bit > 31) throw new Error(`register fault: bit ${bit} is not 0-31`);
  const mask = (1 << bit) | 0;
  const gpr = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'].indexOf(target);
  if (gpr >= 0) {
    cpu.regs[gpr] ^= mask;
    return;
  }
  if (target === 'eip') {
    cpu.eip = (cpu.eip ^ mask) | 0;
    return;
  }
  if (target === 'eflags') {
    cpu.setFlags(cpu.getFlags() ^ mask);
    return;
  }
  const s = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'].indexOf(target.slice(0, 2));
  if (s < 0) throw new Error(`register fault: unknown target '${target}'`);
  cpu.setSegRaw(s, cpu.segSel[s], cpu.segBase[s] ^ mask, cpu.segLimit[s], cpu.segAR[s]);
  if (s === S.CS) cpu.flushBlocks();
}

/**
 * Interrupt-line seam: the interrupt controllers pass every edge or level change of an IRQ
 * line through the filter when one is installed. Return how the change proceeds.
 */
export interface IrqLineFilter {
  /** `level` is the new line level; return 'pass', 'drop', or a delay in instructions. */
  change(line: number, level: boolean, icount: number): 'pass' | 'drop' | number;
}

/**
 * Block-device seam: what a fault plan decides for one sector transfer. `corrupt` changes
 * byte i of the sector to ((b & and[i]) | or[i]) ^ xor[i] where those arrays reach (ARCHIE's
 * set0, set1 and toggle models; a fixed pattern is and = 0, or = pattern).
 */
export type SectorVerdict =
  | { kind: 'ok' }
  | { kind: 'error'; code: 'unc' | 'idnf' | 'crc' }
  | { kind: 'corrupt'; xor: Uint8Array; and?: Uint8Array; or?: Uint8Array }
  | { kind: 'lost' }
  | { kind: 'torn'; bytes: number }
  | { kind: 'slow'; delay: number };

export interface BlockFaultFilter {
  read(drive: string, lba: number, icount: number): SectorVerdict;
  write(drive: string, lba: number, data: Uint8Array, icount: number): SectorVerdict;
}

/** Apply a `corrupt` verdict to sector bytes in place (the devices' shared rule). */
export function applyCorruption(data: Uint8Array, v: { xor: Uint8Array; and?: Uint8Array; or?: Uint8Array }): void {
  const { xor, and, or } = v;
  if (and !== undefined) for (let i = 0; i < and.length && i < data.length; i++) data[i] &= and[i];
  if (or !== undefined) for (let i = 0; i < or.length && i < data.length; i++) data[i] |= or[i];
  for (let i = 0; i < xor.length && i < data.length; i++) data[i] ^= xor[i];
}
