import { describe, expect, it } from 'vitest';
import { createBareMachine } from '../../engine/bare.ts';
import { flipRegisterBit, REGISTER_TARGETS } from '../../engine/seams.ts';

describe('fault seams', () => {
  it('flips one bit of each register target and nothing else', () => {
    for (const t of REGISTER_TARGETS) {
      const m = createBareMachine();
      const before = m.cpu.save();
      flipRegisterBit(m.cpu, t, 6);
      const after = m.cpu.save();
      const diff = JSON.stringify(before) !== JSON.stringify(after);
      expect(diff, t).toBe(true);
      flipRegisterBit(m.cpu, t, 6);
      expect(JSON.stringify(m.cpu.save()), t).toBe(JSON.stringify(before));
    }
  });

  it('a flipped register changes what the guest computes', () => {
    // mov ax, 5; add ax, ax; out 0xe9, al; (al = 10, or 10 ^ 8 with bit 3 of eax flipped after mov)
    const code = new Uint8Array([0xb8, 0x05, 0x00, 0x01, 0xc0, 0xe6, 0xe9, 0xf4]);
    const m = createBareMachine({ image: code });
    m.run(m.icount + 1);
    flipRegisterBit(m.cpu, 'eax', 3);
    m.run(100);
    expect(m.output.text('debugcon').charCodeAt(0)).toBe(26);
  });

  it('a memory page hook sees the access and costs nothing once removed', () => {
    const m = createBareMachine();
    m.mem.write8(0x9000, 0x0f);
    m.mem.hookPage(9, { read: (_a, v) => v & 0xfe, write: (_a, v) => v });
    expect(m.mem.read8(0x9000)).toBe(0x0e);
    m.mem.hookPage(9, undefined);
    expect(m.mem.read8(0x9000)).toBe(0x0f);
    expect(m.mem.pageMap[9] & 0x3).toBe(0);
  });
});
