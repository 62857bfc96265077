// bitrot's version, as recordings carry it (kept equal to package.json's by a test).
export const BITROT_VERSION = '0.1.0';

/** A recording made by `recorded` replays here when major and minor agree. */
export function compatibleVersion(recorded: string): boolean {
  const mm = (v: string) => v.split('.').slice(0, 2).join('.');
  return typeof recorded === 'string' && mm(recorded) === mm(BITROT_VERSION);
}
