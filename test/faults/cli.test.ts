// `bitrot boot --faults PLAN.yaml [--seed N]`: the flags, and every user mistake as one line.

import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBootArgs, BootArgError } from '../../cli/boot-args.ts';
import { readFaultPlan, FaultPlanFileError } from '../../cli/fault-plan.ts';

function oneLine(f: () => unknown, type: new (...a: never[]) => Error): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    const m = (e as Error).message;
    expect(m.includes('\n')).toBe(false);
    return m;
  }
  throw new Error('no error');
}

describe('bitrot boot --faults', () => {
  it('takes a plan file and a seed', () => {
    const c = parseBootArgs(['-fda', 'x.img', '--faults', 'plan.yaml', '--seed', '1_000']);
    expect([c.faults, c.seed]).toEqual(['plan.yaml', 1000]);
    expect(parseBootArgs(['-fda', 'x.img', '--faults=p.json']).faults).toBe('p.json');
  });

  it('refuses a bad seed, or a seed without a plan, in one line', () => {
    expect(oneLine(() => parseBootArgs(['-fda', 'x.img', '--faults', 'p', '--seed', '-1']), BootArgError)).toBe("--seed takes a whole number >= 0, not '-1'");
    expect(oneLine(() => parseBootArgs(['-fda', 'x.img', '--faults', 'p', '--seed', 'abc']), BootArgError)).toBe("--seed takes a whole number >= 0, not 'abc'");
    expect(oneLine(() => parseBootArgs(['-fda', 'x.img', '--seed', '3']), BootArgError)).toContain('--seed needs --faults');
    expect(oneLine(() => parseBootArgs(['-fda', 'x.img', '--faults']), BootArgError)).toBe('--faults needs a value');
  });

  it('names the file, the rule and the field when the plan is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bitrot-plan-'));
    try {
      expect(oneLine(() => readFaultPlan(join(dir, 'missing.yaml')), FaultPlanFileError)).toBe(`cannot read fault plan '${join(dir, 'missing.yaml')}': no such file`);
      expect(oneLine(() => readFaultPlan(dir), FaultPlanFileError)).toBe(`cannot read fault plan '${dir}': is a directory`);
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'rules:\n  - {kind: irq-drop, irq: 0}\n  - {name: seu, kind: reg-flip, register: eax, bit: 40}\n');
      expect(oneLine(() => readFaultPlan(bad), FaultPlanFileError)).toBe(`${bad}: rule 2 (seu): field 'bit' must be between 0 and 31, not 40`);
      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '{"rules": [');
      expect(oneLine(() => readFaultPlan(broken), FaultPlanFileError)).toMatch(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid YAML or JSON: `));
      const good = join(dir, 'good.json');
      writeFileSync(good, JSON.stringify({ seed: 3, rules: [{ kind: 'spurious', irq: 15, at: 10 }] }));
      expect(readFaultPlan(good)).toEqual({ seed: 3, rules: [{ kind: 'spurious', irq: 15, at: 10 }] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
