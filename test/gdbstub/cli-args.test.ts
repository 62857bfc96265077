// The gdb flags of `bitrot boot` and `bitrot replay`.

import { describe, expect, it } from 'vitest';
import { parseBootArgs } from '../../cli/boot-args.ts';
import { parseReplayArgs } from '../../cli/commands/replay.ts';

describe('gdb flags', () => {
  it('parses -s, -S and --gdb PORT as QEMU users type them', () => {
    expect(parseBootArgs(['-fda', 'x.img', '-s']).gdbPort).toBe(1234);
    const c = parseBootArgs(['-fda', 'x.img', '-s', '-S']);
    expect([c.gdbPort, c.gdbWait]).toEqual([1234, true]);
    expect(parseBootArgs(['-fda', 'x.img', '--gdb', '4321', '-S']).gdbPort).toBe(4321);
    expect(parseBootArgs(['-fda', 'x.img', '--gdb=tcp::4444']).gdbPort).toBe(4444);
    expect(parseBootArgs(['-fda', 'x.img']).gdbPort).toBeUndefined();
    expect(parseReplayArgs(['r.rec', '--gdb', '1235']).gdbPort).toBe(1235);
  });

  it('says what is wrong in one line', () => {
    expect(() => parseBootArgs(['-fda', 'x.img', '-S'])).toThrow(/-S waits for gdb: give -s/);
    expect(() => parseBootArgs(['-fda', 'x.img', '--gdb', 'http'])).toThrow(/--gdb takes a TCP port/);
    expect(() => parseBootArgs(['-fda', 'x.img', '--gdb', '70000'])).toThrow(/--gdb takes a TCP port/);
    expect(() => parseBootArgs(['-fda', 'x.img', '-s', '--record', 'r.rec', '--snapshot-every', '100'])).toThrow(/--snapshot-every does not go with the GDB stub/);
    expect(parseBootArgs(['-fda', 'x.img', '-s', '--record', 'r.rec']).record).toBe('r.rec');
  });
});
