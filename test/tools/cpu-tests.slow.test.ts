// The hardware-captured 80286 real-mode conformance suite (SingleStepTests, MOO format), one
// vitest test per opcode file, and tests of the MOO reader itself.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMoo, readMooFile } from '../../tools/cpu-tests/moo.ts';
import { fileKey, runMooFile } from '../../tools/cpu-tests/run.ts';
import { SKIPS } from '../../tools/cpu-tests/skips.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const suiteDir = resolve(repoRoot, '../shared/cpu-tests/80286-real-mode');
const suiteFiles = existsSync(suiteDir) ? readdirSync(suiteDir).filter((f) => f.endsWith('.MOO.gz')).sort() : [];

describe('MOO reader', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bitrot-moo-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const sample = (): Uint8Array => gunzipSync(readFileSync(join(suiteDir, '00.MOO.gz')));

  it('reads a real file: 500 tests, named like disassembly, matching the published JSON', () => {
    const m = readMooFile(join(suiteDir, '00.MOO.gz'));
    expect(m.cpu).toBe('C286');
    expect(m.tests).toHaveLength(500);
    expect(m.meta?.mnemonic).toBe('add');
    const t = m.tests[0];
    // The first test as the suite's README shows it in JSON.
    expect(t.name).toBe('add [bx+0Eh],bl');
    expect(t.bytes).toEqual([0, 95, 14, 244]);
    expect(t.initial.regs).toEqual({ ax: 715, bx: 26659, cx: 49548, dx: 64181, cs: 65535, ss: 41175, ds: 65535, es: 43996, sp: 39769, bp: 65535, si: 35262, di: 34633, ip: 38072, flags: 6291 });
    expect(t.initial.ram).toHaveLength(11);
    expect(t.initial.ram[0]).toEqual([1086632, 0]);
    expect(t.final.regs).toEqual({ ip: 38076, flags: 19 });
    expect(t.final.ram).toEqual([[1075233, 1]]);
    expect(t.hash).toBe('626be5084b331080eb08256c12a62d24afdf2a03');
    expect(m.tests.every((x, i) => x.idx === i && /^[a-z]/.test(x.name))).toBe(true);
  });

  it('reads exception records', () => {
    const m = readMooFile(join(suiteDir, 'CC.MOO.gz'));
    expect(m.tests.every((t) => t.exception?.number === 3)).toBe(true);
  });

  const expectOneLineError = (fn: () => unknown, file: string, what: RegExp): void => {
    let msg = '';
    try {
      fn();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg, 'expected an error').not.toBe('');
    expect(msg).not.toContain('\n');
    expect(msg.startsWith(`${file}: `), msg).toBe(true);
    expect(msg).toMatch(what);
  };

  it('a truncated file is a one-line error naming the file', () => {
    const data = sample();
    const cut = join(tmp, 'cut.MOO.gz');
    writeFileSync(cut, gzipSync(data.subarray(0, 1000)));
    expectOneLineError(() => readMooFile(cut), cut, /truncated/);
    // Cut inside a nested chunk too, and right after the header.
    expectOneLineError(() => parseMoo(data.subarray(0, 0x90), 'x.MOO'), 'x.MOO', /truncated/);
    expectOneLineError(() => parseMoo(data.subarray(0, 20), 'y.MOO'), 'y.MOO', /truncated: header promises 500 tests, file holds 0/);
  });

  it('a file with a bad magic is a one-line error naming the file', () => {
    const data = Uint8Array.from(sample());
    data.set([0x4a, 0x55, 0x4e, 0x4b], 0); // "JUNK"
    const bad = join(tmp, 'bad.MOO.gz');
    writeFileSync(bad, gzipSync(data));
    expectOneLineError(() => readMooFile(bad), bad, /not a MOO file.*JUNK/);
    expectOneLineError(() => parseMoo(new Uint8Array(0), 'empty.MOO'), 'empty.MOO', /not a MOO file/);
  });

  it('broken gzip data and a missing file are one-line errors naming the file', () => {
    const gz = gzipSync(sample());
    const broken = join(tmp, 'broken.MOO.gz');
    writeFileSync(broken, gz.subarray(0, gz.length >> 1));
    expectOneLineError(() => readMooFile(broken), broken, /gzip/);
    const missing = join(tmp, 'missing.MOO.gz');
    expectOneLineError(() => readMooFile(missing), missing, /cannot read/);
  });

  it('a header that promises more tests than the file holds is an error', () => {
    const data = Uint8Array.from(sample());
    new DataView(data.buffer).setUint32(12, 501, true);
    expectOneLineError(() => parseMoo(data, 'count.MOO'), 'count.MOO', /truncated: header promises 501 tests, file holds 500/);
  });
});

describe('skip list', () => {
  it('every entry has an id, a reason, and files or a predicate', () => {
    const ids = new Set<string>();
    for (const s of SKIPS) {
      expect(s.id).toMatch(/^[a-z0-9-]+$/);
      expect(ids.has(s.id)).toBe(false);
      ids.add(s.id);
      expect(s.reason.length).toBeGreaterThan(40);
      expect(Boolean(s.files?.length) || Boolean(s.test)).toBe(true);
    }
  });
});

describe('80286 real-mode conformance (SingleStepTests)', () => {
  it('finds the suite', () => {
    expect(existsSync(suiteDir), `the 80286 suite is missing: expected it at ${suiteDir}`).toBe(true);
    expect(suiteFiles.length).toBeGreaterThan(300);
  });

  it.each(suiteFiles.map((f) => [fileKey(f), f]))('%s', (_key, file) => {
    const r = runMooFile(join(suiteDir, file), { maxFailures: 3 });
    const report = r.failures.map((f) => `#${f.idx} ${f.context}\n${f.diffs.replace(/^/gm, '    ')}`).join('\n');
    expect(r.passed + r.failed + r.skipped).toBe(500);
    expect(r.failed, `${file}: ${r.failed} of 500 tests failed; first ones:\n${report}`).toBe(0);
  });
});
