// Contract 4 (save/load of all state) and determinism: the same run twice gives the same
// state hash, and a run saved at any instruction, restored into a fresh machine and
// continued ends exactly like the uninterrupted run.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createBareMachine } from '../../engine/bare.ts';
import { propertyRuns } from '../quick.ts';

const GUESTS = ['exceptions', 'paging', 'v86', 'tasks', 'debugregs'].map((n) => ({
  name: n,
  image: readFileSync(new URL(`../guests/bin/${n}.img`, import.meta.url)),
}));

function finish(image: Uint8Array) {
  const m = createBareMachine({ image });
  const r = m.run(5_000_000);
  return { m, r };
}

describe('machine determinism and snapshots', () => {
  for (const g of GUESTS) {
    it(`${g.name}: two runs give the same hash and instruction count`, () => {
      const a = finish(g.image);
      const b = finish(g.image);
      expect(a.r.reason).toBe('exit');
      expect(b.r).toEqual(a.r);
      expect(b.m.hash()).toBe(a.m.hash());
      expect(b.m.output.text('debugcon')).toBe(a.m.output.text('debugcon'));
    });
  }

  it('save at a random instruction, restore in a fresh machine, continue = uninterrupted run', () => {
    const reference = GUESTS.map((g) => {
      const { m, r } = finish(g.image);
      return { hash: m.hash(), r, out: m.output.text('debugcon') };
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: GUESTS.length - 1 }), fc.double({ min: 0, max: 1, noNaN: true }), (gi, frac) => {
        const g = GUESTS[gi];
        const ref = reference[gi];
        const at = Math.floor(frac * (ref.r.icount - 1));
        const first = createBareMachine({ image: g.image });
        const r1 = first.run(at);
        expect(r1.reason).toBe('deadline');
        const snap = first.save();
        const outBefore = first.output.text('debugcon');
        const second = createBareMachine();
        second.load(structuredClone(snap));
        expect(second.hash()).toBe(first.hash());
        const r2 = second.run(5_000_000);
        expect(r2).toEqual(ref.r);
        expect(second.hash()).toBe(ref.hash);
        expect(outBefore + second.output.text('debugcon')).toBe(ref.out);
      }),
      { numRuns: propertyRuns(40), seed: 42 },
    );
  });
});
