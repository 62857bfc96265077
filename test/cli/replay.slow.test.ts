// `bitrot boot --record` and `bitrot replay`, as a user runs them: separate Node processes
// (so a replay in a fresh process reproduces the recorded hashes), and one-line errors for
// every way a recording or its images can be wrong.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECHO_ROM_PATH } from '../replay/helpers.ts';
import { decodeRecording, encodeFrame, magicBytes } from '../../replay/format.ts';

const CLI = new URL('../../cli/bitrot.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'bitrot-replay-'));

function bitrot(args: string[], input = ''): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'latin1', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const rom = join(dir, 'echo.rom');
copyFileSync(ECHO_ROM_PATH, rom);
const recFile = join(dir, 'run.rec');
const recorded = bitrot(['boot', '-bios', rom, '-serial', 'stdio', '-display', 'none', '--max-instructions', '40000000', '--record', recFile, '--snapshot-every', '10000000'], 'hello?');

describe('bitrot boot --record / bitrot replay (separate processes)', () => {
  it('records a run with its standard input on COM1', () => {
    expect(recorded.stdout).toMatch(/^echo ready\r\nhello\[00[0-9a-f]{2}\]$/);
    expect(recorded.stderr).toMatch(/recorded 40000000 instructions to '.*run\.rec' \(\d+ bytes\)/);
    const d = decodeRecording(readFileSync(recFile));
    expect(d.complete).toBe(true);
    expect(d.header.images.map((i) => i.role)).toContain('bios');
  });

  it('replays it in a fresh process: the same output, every checkpoint verified, the same final hash twice', () => {
    const a = bitrot(['replay', recFile, '--verify', '-serial', 'stdio']);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(recorded.stdout);
    expect(a.stderr).toMatch(/instruction 40000000 .* 1 inputs, 4 checkpoints verified, state hash [0-9a-f]{16}/);
    const b = bitrot(['replay', recFile]);
    const hash = (s: string) => /state hash ([0-9a-f]{16})/.exec(s)?.[1];
    expect(hash(b.stderr)).toBe(hash(a.stderr));
    const c = bitrot(['replay', recFile, '--until-icount', '25000000']);
    expect(c.stderr).toMatch(/instruction 25000000/);
  });

  it('goes live from the middle of a replay, and the child recording replays on its own', () => {
    const child = join(dir, 'child.rec');
    const live = bitrot(['replay', recFile, '--until-icount', '20000000', '--go-live', '--record', child, '-serial', 'stdio', '--max-instructions', '200000000'], 'NEW');
    expect(live.stderr).toMatch(/live from instruction 20000000, recording to/);
    expect(live.stdout).toBe(`${recorded.stdout}NEW`);
    const d = decodeRecording(readFileSync(child));
    expect(d.header.parent?.icount).toBe(20_000_000);
    expect(d.header.parent?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const again = bitrot(['replay', child, '--verify', '-serial', 'stdio']);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(live.stdout);
  });

  it('refuses an image whose hash differs from the recording, in one line', () => {
    const rom2 = join(dir, 'echo2.rom');
    copyFileSync(rom, rom2);
    const rec2 = join(dir, 'run2.rec');
    bitrot(['boot', '-bios', rom2, '-display', 'none', '--max-instructions', '1000000', '--record', rec2]);
    const b = readFileSync(rom2);
    b[0x100] ^= 1;
    writeFileSync(rom2, b);
    const r = bitrot(['replay', rec2]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/BIOS image '.*echo2\.rom' is not the file the recording was made with .*restore that file/);
  });

  it('refuses a recording from an incompatible version, and things that are not recordings', () => {
    const d = decodeRecording(readFileSync(recFile));
    const old = join(dir, 'old.rec');
    writeFileSync(old, Buffer.concat([magicBytes(), encodeFrame({ ...d.header, bitrot: '9.3.1' })]));
    const r = bitrot(['replay', old]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^bitrot replay: recording '.*old\.rec' was made by bitrot 9\.3\.1; this is bitrot \d+\.\d+\.\d+: replay it with bitrot 9\.3\.1$/);
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a recording');
    expect(bitrot(['replay', text]).stderr.trim()).toBe(`bitrot replay: recording '${text}': not a bitrot recording (it does not start with "BITROT-REC")`);
    expect(bitrot(['replay', join(dir, 'missing.rec')]).stderr.trim()).toBe(`bitrot replay: cannot read recording '${join(dir, 'missing.rec')}': no such file`);
    // well-formed frames, wrong content: input from nowhere, and time running backwards
    const foreign = join(dir, 'foreign.rec');
    writeFileSync(foreign, Buffer.concat([magicBytes(), encodeFrame(d.header), encodeFrame({ t: 'input', n: 5, source: 'nosuch', payload: 1 })]));
    expect(bitrot(['replay', foreign]).stderr.trim()).toBe(`bitrot replay: recording '${foreign}' has input from 'nosuch' (at instruction 5), which this machine does not take`);
    const backwards = join(dir, 'backwards.rec');
    writeFileSync(backwards, Buffer.concat([magicBytes(), encodeFrame(d.header), encodeFrame({ t: 'input', n: 7, source: 'serial0', payload: 'x' }), encodeFrame({ t: 'input', n: 3, source: 'serial0', payload: 'y' })]));
    expect(bitrot(['replay', backwards]).stderr.trim()).toBe(`bitrot replay: recording '${backwards}' is damaged: record at icount 3 comes after one at 7`);
    const u = bitrot(['replay']);
    expect(u.status).toBe(2);
    expect(u.stderr.split('\n')[0]).toBe('bitrot replay: no recording given');
  });

  it('a recording cut short replays its valid prefix and says so', () => {
    const bytes = readFileSync(recFile);
    const cut = join(dir, 'cut.rec');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const r = bitrot(['replay', cut, '--verify']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/recording '.*cut\.rec' is cut short at byte \d+ .*; replaying its valid prefix \(to instruction \d+\)/);
    expect(r.stderr).toMatch(/checkpoints verified/);
  });
});
