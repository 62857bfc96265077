// Garbage in, architecture out: random byte streams executed from random CPU states must
// only ever produce what the hardware would (exceptions, triple faults, halts), never a host
// exception, and never run past the deadline.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createBareMachine } from '../../../engine/bare.ts';
import { S } from '../../../engine/cpu/constants.ts';
import { propertyRuns } from '../../quick.ts';

type Mode = 'real' | 'pm16' | 'pm32';

function setupProtected(m: ReturnType<typeof createBareMachine>, bits: 16 | 32): void {
  const cpu = m.cpu;
  // GDT at 0x1000: null, code, data (flat), IDT at 0x2000 with 32 gates to 0x3000.
  const gdt = [0, 0, 0x0000ffff, bits === 32 ? 0x00cf9a00 : 0x000f9a00, 0x0000ffff, bits === 32 ? 0x00cf9200 : 0x000f9200];
  gdt.forEach((v, k) => m.mem.write32(0x1000 + k * 4, v | 0));
  for (let v = 0; v < 256; v++) {
    m.mem.write32(0x2000 + v * 8, (0x0008 << 16) | 0x3000);
    m.mem.write32(0x2004 + v * 8, 0x00008e00);
  }
  cpu.gdtrBase = 0x1000;
  cpu.gdtrLimit = 23;
  cpu.idtrBase = 0x2000;
  cpu.idtrLimit = 256 * 8 - 1;
  cpu.setCR0(cpu.cr0 | 1);
  const lim = bits === 32 ? 0xffffffff : 0xffff;
  const db = bits === 32 ? 0x4000 | 0x8000 : 0;
  cpu.setSegRaw(S.CS, 8, 0, lim, 0x9b | db);
  for (const s of [S.DS, S.ES, S.SS, S.FS, S.GS]) cpu.setSegRaw(s, 16, 0, lim, 0x93 | db);
}

describe('CPU robustness', () => {
  it('executes random bytes from random states without host errors or overrunning the deadline', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Mode>('real', 'pm16', 'pm32'),
        fc.uint8Array({ minLength: 16, maxLength: 256 }),
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        fc.array(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 1, max: 5000 }),
        (mode, code, handler, regs, flags, budget) => {
          const m = createBareMachine({ ramSize: 1 << 20 });
          const cpu = m.cpu;
          if (mode !== 'real') setupProtected(m, mode === 'pm32' ? 32 : 16);
          m.mem.load(0x8000, code);
          m.mem.load(0x3000, handler);
          for (let k = 0; k < 8; k++) cpu.regs[k] = regs[k];
          cpu.regs[4] = 0x7000;
          cpu.setFlags((flags & ~0x100) | 2);
          cpu.eip = 0x8000;
          const start = m.icount;
          const r = m.run(start + budget);
          expect(['deadline', 'exit', 'triple-fault', 'halted']).toContain(r.reason);
          expect(m.icount).toBeLessThanOrEqual(start + budget);
          if (r.reason === 'deadline') expect(m.icount).toBe(start + budget);
        },
      ),
      { numRuns: propertyRuns(300), seed: 0x5eed },
    );
  });

  it('stops exactly at the deadline, including inside REP strings and HLT', () => {
    // mov cx, 1000; rep stosb; hlt  (IF=0 and nothing scheduled: halts for good)
    const code = new Uint8Array([0xb9, 0xe8, 0x03, 0xf3, 0xaa, 0xf4]);
    for (const limit of [1, 2, 3, 500, 1001, 1002, 5000]) {
      const m = createBareMachine({ ramSize: 1 << 20, image: code });
      m.cpu.regs[7] = 0x9000;
      const r = m.run(limit);
      if (limit < 1002) {
        expect(r.reason).toBe('deadline');
        expect(m.icount).toBe(limit);
        expect(m.cpu.regs[1] & 0xffff).toBe(Math.max(0, 1000 - (limit - 1)));
        expect(m.cpu.halted).toBe(false);
      } else {
        // mov + 1000 iterations + hlt retired; nothing can wake the CPU: reported at once,
        // also when the limit is the very instruction count the HLT retired at.
        expect(r.reason).toBe('halted');
        expect(m.cpu.regs[1] & 0xffff).toBe(0);
        expect(m.icount).toBe(1002);
      }
    }
  });
});
