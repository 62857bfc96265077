// `--faults PLAN.yaml [--seed N]` for the commands that run a PC: read and check the plan,
// attach the injector (faults/), and print each injection on standard error as it fires.

import { readFileSync } from 'node:fs';
import type { Pc } from '../engine/pc.ts';
import { attachFaults, formatFaultEvent, parseFaultPlan, FaultPlanError, type FaultInjector } from '../faults/index.ts';

export class FaultPlanFileError extends Error {}

/** Read a plan file; every problem is one line naming the file (and the rule and field). */
export function readFaultPlan(path: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? (e as Error).message);
    throw new FaultPlanFileError(`cannot read fault plan '${path}': ${why}`);
  }
  try {
    return parseFaultPlan(text, path);
  } catch (e) {
    if (e instanceof FaultPlanError) throw new FaultPlanFileError(e.message);
    throw e;
  }
}

/**
 * Attach the plan in `path` to `pc` with `seed` (default: the plan's own seed, else 0), and
 * print every injection to `print` (standard error) as `fault @ICOUNT RULE (KIND): what it did`.
 */
export function attachFaultPlan(pc: Pc, path: string, seed: number | undefined, print: (line: string) => void = (l) => process.stderr.write(l + '\n')): FaultInjector {
  const plan = readFaultPlan(path);
  const injector = attachFaults(pc, plan, seed ?? plan.seed ?? 0);
  pc.machine.output.listen((e) => {
    if (e.kind === 'fault') print(formatFaultEvent(e.icount, e.data));
  });
  return injector;
}
