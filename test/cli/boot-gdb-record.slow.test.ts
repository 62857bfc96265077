// `bitrot boot -s -S --gdb PORT --record FILE`: a run debugged with gdb, back and forth,
// with a register and a memory write from gdb and a fault injected by hand, is written as a
// recording when gdb ends it; `bitrot replay --verify` reproduces it in a fresh process.

import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, gdb, registers } from '../gdbstub/helpers.ts';
import { ECHO_ROM_PATH } from '../replay/helpers.ts';
import { decodeRecording } from '../../replay/format.ts';

const CLI = new URL('../../cli/bitrot.js', import.meta.url).pathname;

describe('bitrot boot under gdb with --record', () => {
  it('writes the debugged run, gdb writes and hand-injected faults included, and it replays exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bitrot-gdbrec-'));
    const file = join(dir, 'debugged.rec');
    const port = await freePort();
    const boot = spawn(process.execPath, [CLI, 'boot', '-bios', ECHO_ROM_PATH, '-display', 'none', '-s', '-S', '--gdb', String(port), '--record', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    boot.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const ended = new Promise<number>((resolve) => boot.on('close', (code) => resolve(code ?? -1)));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const out = await gdb(port, [
        'stepi 100',
        'set {char}0x600 = 0x41',
        'set $ebx = 0x1234',
        'monitor fault reg-flip register=ebx bit=3',
        'stepi 300',
        'reverse-stepi',
        'stepi 50',
        'echo ==regs==\\n',
        'info registers',
        'monitor icount',
        'kill',
      ]);
      expect(out).toContain('icount 449');
      expect(registers(out.split('==regs==')[1]).get('ebx')).toBe('0x123c');
      expect(await ended).toBe(0);
    } finally {
      boot.kill('SIGKILL');
    }
    expect(stderr).toMatch(/recorded the debugged run \(449 instructions\) to '.*debugged\.rec'/);
    const d = decodeRecording(readFileSync(file));
    expect(d.complete).toBe(true);
    const sources = d.records.filter((r) => r.t === 'input').map((r) => (r as { source: string }).source);
    expect(sources.sort()).toEqual(['debugger', 'debugger', 'fault']);
    const replay = spawnSync(process.execPath, [CLI, 'replay', file, '--verify'], { encoding: 'utf8', timeout: 60_000 });
    expect(replay.status).toBe(0);
    expect(replay.stderr).toContain('fault @100 input#1 (reg-flip): toggle bits 0x8 of ebx: 0x00001234 -> 0x0000123c');
    expect(replay.stderr).toMatch(/instruction 449 .* 3 inputs, 1 checkpoints verified/);
  });
});
