// The quick test loop (`npm run test:quick`, BITROT_QUICK=1) runs property tests with a
// fifth of their cases; `npm test` (and CI) runs them all.
export function propertyRuns(full: number): number {
  return process.env.BITROT_QUICK ? Math.max(4, Math.ceil(full / 5)) : full;
}
