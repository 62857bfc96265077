import { describe, expect, it } from 'vitest';
import { FaultPlanError, parseFaultPlan, parseFaultRule, planFromData } from '../../faults/index.ts';

function error(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FaultPlanError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

const YAML = `
seed: 42
rules:
  - name: bad-mbr
    kind: read-error
    drive: hda
    sector: 0
    errno: 5          # blkdebug: EIO
    event: read_aio
    once: true
  - kind: corrupt
    drive: fda
    sector: 0
    offset: 510
    xor: [0x00, 0xff]
  - kind: stuck-at
    address: 0xa12344
    bit: 2
    value: 0
  - kind: reg-flip
    trigger_address: 0x7c1e     # ARCHIE spelling
    trigger_counter: 2
    register: ax
    fault_mask: 0x100
    fault_model: toggle
  - kind: irq-drop
    irq: 0
    every: 2
  - kind: flaky
    drive: hda
    up: 1_000_000
    down: 200000
    drop_writes: true
  - kind: read-error
    sectors: [17, 18, 40]
    remap-on-write: true
`;

describe('fault plans', () => {
  it('reads YAML with the spellings of blkdebug, dm-flakey, dm-dust and ARCHIE into plain data', () => {
    const p = parseFaultPlan(YAML, 'plan.yaml');
    expect(p.seed).toBe(42);
    expect(p.rules).toEqual([
      { kind: 'read-error', name: 'bad-mbr', drive: 'hda', sector: 0, error: 'unc', iotype: 'read', times: 1 },
      { kind: 'corrupt', drive: 'fd0', sector: 0, offset: 510, xor: [0, 255] },
      { kind: 'stuck-at', address: 0xa12344, bit: 2, value: 0 },
      { kind: 'reg-flip', pc: 0x7c1e, hits: 2, register: 'eax', mask: 0x100, model: 'toggle' },
      { kind: 'irq-drop', irq: 0, every: 2 },
      { kind: 'flaky', drive: 'hda', up: 1000000, down: 200000, dropWrites: true },
      { kind: 'read-error', sectors: [17, 18, 40], clearOnWrite: true },
    ]);
    // plain JSON: it survives a round trip and reads back the same (a recording header holds it)
    const json = JSON.stringify(p);
    expect(parseFaultPlan(json, 'plan.json')).toEqual(p);
    expect(planFromData(JSON.parse(json), 'header')).toEqual(p);
  });

  it('accepts a bare list of rules', () => {
    expect(parseFaultPlan('[{kind: spurious, irq: 7, at: 100}]', 'p').rules).toEqual([{ kind: 'spurious', irq: 7, at: 100 }]);
  });

  it('names the file, the rule and the field in one line', () => {
    const cases: [string, string][] = [
      ['rules: [{kind: read-error, sector: -1}]', "p.yaml: rule 1: field 'sector' must be between 0 and"],
      ['rules: [{kind: read-eror}]', "p.yaml: rule 1: field 'kind' must be one of"],
      ['rules: [{name: x, kind: stuck-at, address: 4096, value: 1}]', "p.yaml: rule 1 (x): field 'bit' is missing"],
      ['rules: [{kind: corrupt, sector: 1}]', "p.yaml: rule 1: field 'xor' is missing"],
      ['rules: [{kind: irq-drop, irq: 0}, {kind: reg-flip, register: eax, bit: 40}]', "p.yaml: rule 2: field 'bit' must be between 0 and 31"],
      ['rules: [{kind: reg-flip, register: xmm0, bit: 1}]', "p.yaml: rule 1: field 'register' must be one of"],
      ['rules: [{kind: irq-drop, irq: 0, colour: red}]', "p.yaml: rule 1: field 'colour' is not a fault-plan field"],
      ['rules: [{kind: irq-drop, irq: 0, delay: 5}]', "p.yaml: rule 1: field 'delay' does not apply to a irq-drop rule"],
      ['rules: [{kind: flaky, up: 5}]', "p.yaml: rule 1: field 'down' is missing"],
      ['rules: [{kind: spurious, irq: 3}]', "p.yaml: rule 1: field 'irq' a spurious 8259 interrupt is IRQ7 or IRQ15"],
      ['rules: [{kind: reg-flip, register: eax, bit: 1, at: 5, pc: 0x7c00}]', "p.yaml: rule 1: field 'pc' cannot go with 'at'"],
      ['rules: [{kind: irq-drop, irq: 0, probability: 1.5}]', "p.yaml: rule 1: field 'probability' must be a number from 0 to 1"],
      ['rules: [{kind: torn-write, sector: 3}]', "p.yaml: rule 1: field 'bytes' is missing"],
      ['rules: {kind: torn-write}', "p.yaml: field 'rules' must be a list of rules"],
      ['colour: red', "p.yaml: field 'colour' is not a plan field"],
      ['rules: [{kind: read-error, drive: sda}]', "p.yaml: rule 1: field 'drive' must be one of"],
      ['rules: [a: [}', 'p.yaml: not valid YAML or JSON'],
      ['', 'p.yaml: the plan is empty'],
    ];
    for (const [text, want] of cases) {
      const msg = error(() => parseFaultPlan(text, 'p.yaml'));
      expect(msg, text).toContain(want);
      expect(msg.includes('\n'), text).toBe(false);
    }
  });

  it('reads one rule as a user types it', () => {
    expect(parseFaultRule('read-error drive=hda sector=17 error=unc nth=1')).toEqual({ kind: 'read-error', drive: 'hda', sector: 17, error: 'unc', nth: 1 });
    expect(parseFaultRule('reg-flip register=eax bit=3 pc=0x7c1e hits=2')).toEqual({ kind: 'reg-flip', register: 'eax', bit: 3, pc: 0x7c1e, hits: 2 });
    expect(parseFaultRule('read-error sectors=1,5,9 once')).toEqual({ kind: 'read-error', sectors: [1, 5, 9], times: 1 });
    expect(parseFaultRule('stuck-at range=0x1000-0x1fff mask=0x80 value=1')).toEqual({ kind: 'stuck-at', range: [0x1000, 0x1fff], mask: 0x80, value: 1 });
    expect(parseFaultRule('{kind: spurious, vector: 0x20, at: 5}')).toEqual({ kind: 'spurious', vector: 0x20, at: 5 });
    expect(error(() => parseFaultRule('reg-flip register=eax'))).toBe("fault rule: field 'bit' is missing: which bit of the register (or a mask)");
    expect(error(() => parseFaultRule('flip address=0x10 bit'))).toBe("fault rule: 'bit' is not field=value");
    expect(error(() => parseFaultRule(''))).toContain('fault rule: empty');
  });
});
