import { describe, expect, it } from 'vitest';
import { parseBootArgs, BootArgError } from '../../cli/boot-args.ts';

describe('bitrot boot arguments', () => {
  it('accepts the QEMU flags users type', () => {
    const c = parseBootArgs(['-m', '64', '-fda', 'a.img', '-hda', 'c.img', '-boot', 'c', '-serial', 'stdio', '-debugcon', 'file:/tmp/d', '-no-reboot', '--max-instructions', '1000']);
    expect(c).toMatchObject({ memoryMB: 64, fda: 'a.img', hda: 'c.img', boot: 'c', serial: { kind: 'stdio' }, debugcon: { kind: 'file', path: '/tmp/d' }, noReboot: true, maxInstructions: 1000 });
    expect(parseBootArgs(['-kernel', 'bz', '-append', 'console=ttyS0', '-m', '1G']).memoryMB).toBe(1024);
    expect(parseBootArgs(['-cdrom', 'x.iso', '-boot', 'order=d']).boot).toBe('d');
    expect(parseBootArgs(['-nographic', '-hda', 'c.img'])).toMatchObject({ display: 'none', serial: { kind: 'stdio' } });
  });

  for (const [args, msg] of [
    [['-hda'], /-hda needs a value/],
    [['-frobnicate', '-hda', 'x'], /unknown flag '-frobnicate'/],
    [['disk.img'], /unexpected argument 'disk.img'/],
    [['-m', 'lots', '-hda', 'x'], /-m takes a size/],
    [['-hda', 'x', '-boot', 'z'], /-boot takes a, c or d/],
    [['-hda', 'x', '-serial', 'tcp:1'], /-serial takes stdio, file:PATH or none/],
    [['-append', 'quiet', '-hda', 'x'], /-append needs -kernel/],
    [[], /nothing to boot/],
    [['-hda', 'x', '-boot', 'a'], /-boot a needs -fda/],
    [['-hda', 'x', '--screenshot', 'a.bmp'], /PNG/],
  ] as [string[], RegExp][]) {
    it(`rejects ${JSON.stringify(args)} with one line`, () => {
      let err: unknown;
      try {
        parseBootArgs(args);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BootArgError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});
