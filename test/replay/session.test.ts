import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { createBareMachine } from '../../engine/bare.ts';
import { Session } from '../../replay/session.ts';

const CPUMIX = readFileSync(new URL('../../bench/guests/bin/cpumix.img', import.meta.url));
const machine = () => createBareMachine({ image: CPUMIX, ramSize: 4 << 20 });

/** Hashes of a straight run at each of the given icounts. */
function reference(points: number[]): Map<number, string> {
  const m = machine();
  const out = new Map<number, string>();
  for (const p of [...points].sort((a, b) => a - b)) {
    m.run(p);
    out.set(p, m.hash());
  }
  return out;
}

describe('Session (bare machine, cpumix)', () => {
  it('seeks backwards and forwards to exact states, in any order', () => {
    const points = [1, 77_777, 400_000, 400_001, 1_234_567, 2_000_000, 2_999_999, 3_000_000];
    const ref = reference(points);
    const s = new Session(machine(), { snapshotEvery: 250_000 });
    s.run(3_000_000);
    expect(s.snapshotIcounts().length).toBeGreaterThan(10);
    for (const p of [2_999_999, 1, 2_000_000, 400_001, 400_000, 3_000_000, 77_777, 1_234_567]) {
      const r = s.seek(p);
      expect(r.reason).toBe('deadline');
      expect(s.icount).toBe(p);
      expect(s.machine.hash(), `at ${p}`).toBe(ref.get(p));
    }
  });

  it('property: any sequence of seeks lands on the state a straight run has there', () => {
    const ref = machine();
    const hashes: string[] = [];
    const step = 50_000;
    for (let i = 0; i <= 40; i++) {
      ref.run(i * step);
      hashes.push(ref.hash());
    }
    const s = new Session(machine(), { snapshotEvery: 300_000, snapshotBudget: 6 << 20 });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }), (targets) => {
        for (const t of targets) {
          s.seek(t * step);
          expect(s.machine.hash()).toBe(hashes[t]);
        }
      }),
      { numRuns: 15 },
    );
  });

  it('thins old snapshots to stay within its memory budget and still seeks exactly', () => {
    const s = new Session(machine(), { snapshotEvery: 100_000, snapshotBudget: 5 << 20 });
    s.run(3_000_000);
    expect(s.snapshots.bytes).toBeLessThanOrEqual(5 << 20);
    const ref = reference([1_500_000]);
    s.seek(1_500_000);
    expect(s.machine.hash()).toBe(ref.get(1_500_000));
  });
});
