// Compiles hot decoded blocks to JavaScript functions. Placeholder until the compiler lands:
// every block stays interpreted.

import type { CPU } from './cpu.ts';

/**
 * Runs up to `budget` (>= 1) instructions of its block starting at cpu.eip, with exactly the
 * interpreter's semantics: same state, one `clock.icount++` per retired instruction, faults
 * raised with cpu.eip at the faulting instruction, return early when cpu.leaveBlock or
 * cpu.stop is set.
 */
export type CompiledBlock = (cpu: CPU, budget: number) => void;

export function compileBlock(_cpu: CPU, _first: number, _count: number): CompiledBlock | null {
  return null;
}
