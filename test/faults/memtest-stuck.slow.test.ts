// memtest86+ (Debian's ia32 build, booted with -kernel as in test/engine/pc-memtest.slow.test.ts)
// against a stuck-at-0 bit: bit 2 of the byte at 0xA12344. Its address test ("own address",
// test #2) writes each word's own address to it, so the word at 0xA12344 should read
// 00A12344 and, with the bit stuck, reads 00A12340: memtest86+ reports exactly that address,
// those values and error bit 2. The same boot without the plan, run to the start of test #3
// (past the instruction at which the faulty run reported), reports no error.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { attachFaults, faultEvents, parseFaultPlan } from '../../faults/index.ts';
import { LINUXBOOT, haveBios, runGuest, seabiosPc } from '../engine/seabios-pc.ts';

const MEMTEST = '/boot/memtest86+ia32.bin';
const ready = haveBios && existsSync(MEMTEST) && existsSync(LINUXBOOT);
const skipNote = ready ? '' : ' (skipped: needs seabios, memtest86+ and qemu-system-data)';

function memtest() {
  return seabiosPc({
    ramSize: 16 << 20,
    kernel: { image: readFileSync(MEMTEST), cmdline: 'console=ttyS0,115200', linuxboot: readFileSync(LINUXBOOT) },
  });
}

/** memtest86+'s error row: pCPU, pass, test, failing address (size), expected, found, error bits, count. */
const ERROR_ROW = /\s0\s+0\s+2\s+000000a12344 \(10MB\)\s+00a12344\s+00a12340\s+00000004\s+1/;

describe(`memtest86+ finds a stuck-at bit${skipNote}`, () => {
  it.skipIf(!ready)('reports the error at the exact address of the stuck bit, and none without it', { timeout: 900_000 }, () => {
    const pc = memtest();
    attachFaults(pc, parseFaultPlan('[{name: cell, kind: stuck-at, address: 0xa12344, bit: 2, value: 0}]', 'stuck plan'), 0);
    const bad = runGuest(pc, { limit: 3_000_000_000, until: ERROR_ROW });
    expect(bad.reason).toBe('matched');
    // (the serial text is a whole screen of escapes: test it, do not print it)
    expect(/Errors: 1\b/.test(bad.serial)).toBe(true);
    expect(/Status: Failed!/.test(bad.serial)).toBe(true);
    expect((bad.serial.match(/000000a12344/g) ?? []).length).toBeGreaterThan(0);
    expect(/Failing Address[^]*000000(?!a12344)[0-9a-f]{6} \(/.test(bad.serial)).toBe(false); // no other address
    expect(faultEvents(pc.machine.output.log)).toEqual([{ icount: 0, rule: 'cell', kind: 'stuck-at', did: 'bits 0x04 of 0xa12344 stuck at 0' }]);

    // The plain boot, for as many instructions as the faulty one took to show its error row
    // (memtest86+ repaints once a second, so the row shows while test #3 already runs).
    const good = runGuest(memtest(), { limit: bad.icount });
    expect([good.reason, good.icount]).toEqual(['deadline', bad.icount]);
    expect(good.serial).toContain('#3  [Moving inversions, 1s & 0s]');
    expect(/Errors: 0/.test(good.serial)).toBe(true);
    expect(/Errors: [1-9]/.test(good.serial)).toBe(false);
    expect(/Failing Address|Failed/.test(good.serial)).toBe(false);
    expect(/a12344/i.test(good.serial)).toBe(false);
  });
});
