import { describe, expect, it } from 'vitest';
import { Clock } from '../../engine/clock.ts';

describe('Clock', () => {
  it('fires timers in deadline order, ties in creation order, and re-arms', () => {
    const c = new Clock();
    const fired: string[] = [];
    const a = c.timer('a', (t) => fired.push(`a@${t}`));
    const b = c.timer('b', (t) => {
      fired.push(`b@${t}`);
      if (t < 30) b.arm(t + 10);
    });
    const d = c.timer('d', (t) => fired.push(`d@${t}`));
    a.arm(20);
    b.arm(10);
    d.arm(20);
    expect(c.next).toBe(10);
    c.icount = 25;
    c.fireDue();
    expect(fired).toEqual(['b@10', 'a@20', 'b@20', 'd@20']);
    expect(c.next).toBe(30);
  });

  it('saves and restores deadlines by name', () => {
    const c1 = new Clock();
    c1.timer('x', () => {}).arm(123);
    c1.icount = 50;
    const s = c1.save();
    const c2 = new Clock();
    const x = c2.timer('x', () => {});
    c2.load(s);
    expect(c2.icount).toBe(50);
    expect(x.deadline).toBe(123);
    expect(c2.next).toBe(123);
  });

  it('refuses two timers with one name', () => {
    const c = new Clock();
    c.timer('x', () => {});
    expect(() => c.timer('x', () => {})).toThrow(/twice/);
  });
});
