// The project's own CPU test programs (test/guests/*.asm, README.md there) on the bare
// machine. Each program reports every check as "ok NAME" or "FAIL NAME: ..." on port 0xE9
// and exits through isa-debug-exit with the number of its first failed check (0 = none).
// The expected lists are exact, so a check that silently stops running fails here too.

import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBareMachine } from '../../engine/bare.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Every check of every program, in the order the program runs them. */
const EXPECTED: Record<string, string[]> = {
  modes: [
    'real-address',
    'real-prefixes',
    'pm16',
    'far-call-16-to-32',
    'pm32',
    'a20',
    'far-call-32-to-16',
    'far-jmp-indirect',
    'back-to-real',
    'unreal',
    'real-limit',
    'seg-cache',
    'seg-loads',
  ],
  paging: [
    'paging-identity',
    'paging-alias',
    'accessed-dirty',
    'wp',
    'invlpg',
    'cr3-reload',
    'pf-pte-notpresent',
    'pf-pde-notpresent',
    'pse-4m',
    'pae-4k',
    'pae-2m',
    'pae-pf',
  ],
  exceptions: [
    'de-divide',
    'de-overflow',
    'db-single-step',
    'bp-int3',
    'of-into',
    'br-bound',
    'ud-ud2',
    'nm-em',
    'nm-ts-wait',
    'df',
    'ts',
    'np',
    'ss-notpresent',
    'ss-limit',
    'gp-null-ss',
    'gp-null-ds',
    'gp-gdt-limit',
    'gp-data-limit',
    'gp-cs-limit',
    'gp-priv-seg',
    'gp-priv-insn',
    'gp-iopl',
    'gp-int-dpl',
    'pf-notpresent-read',
    'pf-notpresent-write',
    'pf-wp',
    'pf-user-super',
    'pf-user-ro',
    'pf-user-notpresent',
    'ac-cpl0',
    'ac',
  ],
  v86: [
    'v86-enter',
    'v86-int-reflect',
    'v86-gp-frame',
    'v86-iopl0-sensitive',
    'v86-iobitmap',
    'v86-iopl3-flags',
    'v86-iopl3-iret',
    'v86-iopl3-int',
    'v86-iopl3-return',
  ],
  tasks: [
    'jmp-tss-load',
    'jmp-tss-busy',
    'jmp-tss-saved',
    'jmp-tss-eflags',
    'cr0-ts',
    'call-taskgate',
    'busy-reentry',
    'iret-task-return',
    'int-taskgate',
  ],
  debugregs: ['dr0-exec', 'rf-resume', 'dr7-enable', 'dr1-write', 'dr2-rdwr-len2', 'dr3-overlap', 'dr6-bs', 'dr4-dr5'],
  x87: [
    'fpu-probe',
    'real-fnstenv',
    'load-store-formats',
    'fst-rounding-control',
    'fist-rounding-control',
    'fist-indefinite',
    'fbld-fbstp',
    'arithmetic-forms',
    'arithmetic-rounding-control',
    'invalid-and-zero-divide',
    'fcom-fucom-ftst-ficom',
    'fxam-classes',
    'fcomi-fcmov',
    'stack-overflow-underflow',
    'fsave-frstor',
    'fpu-pointers',
    'fstenv-16',
    'fprem-fprem1',
    'fprem1-quotient',
    'fxtract-fscale-frndint',
    'transcendentals',
    'nm-ts-escape',
    'ud-escape',
    'mf-fwait',
    'mf-waiting-insn',
    'unmasked-keeps-operands',
    'no-mf-with-ne-clear',
  ],
};

/** Every program finishes in well under a million instructions; this only stops a hang. */
const ICOUNT_LIMIT = 50_000_000;

function image(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(here, 'bin', `${name}.img`)));
}

function runGuest(name: string) {
  const m = createBareMachine({ ramSize: 16 << 20, image: image(name) });
  const result = m.run(ICOUNT_LIMIT);
  const text = m.output.text('debugcon');
  const exit = m.output.log.find((e) => e.kind === 'exit');
  return { result, text, exitValue: exit?.data, icount: m.icount };
}

function hasNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.each(Object.keys(EXPECTED))('guest %s', (name) => {
  it('passes every check on the bare machine', () => {
    const { result, text, exitValue } = runGuest(name);
    const reported = text.split('\n').filter((line) => /^(ok|FAIL) /.test(line));
    // The whole output is in the message so a failure shows what the guest said.
    expect(reported, text).toEqual(EXPECTED[name].map((check) => `ok ${check}`));
    expect(text).toContain(`${name}: ${EXPECTED[name].length} checks, 0 failed\n`);
    expect(result.reason, text).toBe('exit');
    expect(exitValue).toBe(0); // the byte written to port 0xF4
    expect(result.exitCode).toBe(1); // isa-debug-exit status: (0 << 1) | 1
  });

  it('runs the same way twice', () => {
    const a = runGuest(name);
    const b = runGuest(name);
    expect(b.text).toBe(a.text);
    expect(b.icount).toBe(a.icount);
  });

  it.skipIf(!hasNasm())(`bin/${name}.img is ${name}.asm assembled (run test/guests/build.sh)`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'bitrot-guest-'));
    try {
      const out = join(dir, `${name}.img`);
      execFileSync('nasm', ['-f', 'bin', '-I', join(here, 'inc') + '/', '-o', out, join(here, `${name}.asm`)]);
      expect(Buffer.compare(readFileSync(out), Buffer.from(image(name)))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
