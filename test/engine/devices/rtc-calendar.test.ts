// The RTC's calendar arithmetic (engine/ may not use Date) agrees with the host's UTC calendar.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { civilFromDays, daysFromCivil } from '../../../engine/devices/mc146818-rtc.ts';

describe('RTC calendar arithmetic', () => {
  it('matches Date for days from year 1600 to 2400, both ways', () => {
    fc.assert(
      fc.property(fc.integer({ min: -135140, max: 157000 }), (days) => {
        const d = new Date(days * 86400000);
        expect(civilFromDays(days)).toEqual([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
        expect(daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())).toBe(days);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('rolls months and days over like the calendar', () => {
    expect(daysFromCivil(2025, 13, 1)).toBe(daysFromCivil(2026, 1, 1));
    expect(daysFromCivil(2024, 2, 30)).toBe(daysFromCivil(2024, 3, 1));
    expect(daysFromCivil(1970, 1, 1)).toBe(0);
  });
});
