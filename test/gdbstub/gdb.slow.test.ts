// Debian's gdb (batch mode) against the stub: a boot sector stepped in real mode with 16-bit
// disassembly and registers equal to QEMU's gdbstub at the same stops (through SeaBIOS on
// both); a watchpoint on a VGA text cell with reverse-stepi and reverse-continue; monitor
// commands; breakpoints and watchpoints on virtual addresses under paging.

import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { bareRig, pcRig, guest, gdb, registers, freePort } from './helpers.ts';

const COMPARED = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'cr0', 'cr2', 'cr3', 'cr4'];

/** Split gdb output at the marker lines `echo ==N==`. */
function sections(out: string): string[] {
  return out.split(/==\d+==\n/).slice(1);
}

describe('gdb on a boot sector (bare machine)', () => {
  it('steps real-mode code with 16-bit disassembly, watches a VGA cell and runs backwards', async () => {
    const rig = await bareRig(guest('vga'));
    try {
      const out = await gdb(rig.port, [
        'echo ==0==\\n', 'x/3i $pc',
        'stepi', 'stepi', 'stepi',
        'echo ==1==\\n', 'info registers',
        'watch *(short*)0xb8000',
        'continue',
        'echo ==2==\\n', 'info registers',
        'continue',
        'echo ==3==\\n', 'info registers',
        'stepi',
        'echo ==4==\\n', 'info registers',
        'reverse-stepi',
        'echo ==5==\\n', 'info registers',
        'reverse-continue',
        'echo ==6==\\n', 'info registers', 'x/2xb 0xb8000',
        'reverse-continue',
        'echo ==7==\\n', 'info registers',
        'reverse-continue',
        'echo ==8==\\n', 'info registers', 'monitor icount',
      ]);
      const s = sections(out);
      // 16-bit disassembly of the boot sector
      expect(s[0]).toContain('=> 0x7c00:\tcli');
      expect(s[0]).toMatch(/0x7c02:\s+xor\s+%ax,%ax/);
      expect(registers(s[1]).get('eip')).toBe('0x7c04');
      // the first write to the watched cell: the first iteration of REP STOSW
      const w1 = registers(s[2]);
      expect(w1.get('eip')).toBe('0x7c1d'); // still on the REP STOSW, one iteration done
      expect(w1.get('ecx')).toBe('0x7cf');
      expect(out).toMatch(/Old value = 0\nNew value = 1824/);
      const w2 = registers(s[3]);
      expect(w2.get('eip')).toBe('0x7c35'); // after mov [es:di], ax
      expect(out).toMatch(/Old value = 1824\nNew value = 8001/);
      // reverse-stepi gives back exactly the registers before the stepi
      expect(registers(s[4]).get('eip')).toBe('0x7c38');
      expect(registers(s[5])).toEqual(w2);
      // reverse-continue: back to the write (before it), then to the REP STOSW iteration
      const r1 = registers(s[6]);
      expect(r1.get('eip')).toBe('0x7c32');
      expect(s[6]).toContain('0xb8000:\t0x20\t0x07');
      const r2 = registers(s[7]);
      expect(r2.get('eip')).toBe('0x7c1d');
      expect(r2.get('ecx')).toBe('0x7d0');
      // and on to the start of the recording
      expect(out).toContain('No more reverse-execution history.');
      expect(registers(s[8]).get('eip')).toBe('0x7c00');
      expect(s[8]).toContain('icount 0');
    } finally {
      await rig.close();
    }
  });

  it('answers monitor commands', async () => {
    const rig = await bareRig(guest('vga'));
    try {
      const out = await gdb(rig.port, [
        'stepi 10', 'monitor icount', 'monitor snapshot', 'monitor linear 07c0:0032', 'monitor info cpu',
        'monitor info pic', 'monitor seek 3', 'maint flush register-cache', 'info registers eip', 'monitor phys on',
        'x/2xb 0x7c00', 'monitor fault flip', 'monitor help', 'monitor bogus',
      ]);
      expect(out).toContain('icount 10');
      expect(out).toContain('snapshot at icount 10');
      expect(out).toContain('linear 0x00007c32');
      expect(out).toMatch(/EIP=00007c\w\w EFL=/);
      expect(out).toContain('real mode');
      expect(out).toContain('no pic');
      expect(out).toContain('at icount 3');
      expect(out).toMatch(/eip\s+0x7c04/);
      expect(out).toContain('memory addresses are physical');
      expect(out).toContain('0x7c00:\t0xfa\t0xfc');
      expect(out).toMatch(/fault/);
      expect(out).toContain('seek ICOUNT');
      expect(out).toContain("unknown monitor command 'bogus'");
    } finally {
      await rig.close();
    }
  });

  it('stops at breakpoints and watchpoints on virtual addresses under paging', async () => {
    const rig = await bareRig(guest('paging'));
    try {
      // `count` in paging.asm runs at 0x40000000 + (its offset from 0x7000)
      const out = await gdb(rig.port, [
        'break *0x40000c9c',
        'continue',
        'echo ==0==\\n', 'info registers eip cr0 cr3 ecx', 'x/2i $pc',
        'watch *(int*)0x40001010',
        'continue',
        'echo ==1==\\n', 'info registers eip ecx', 'x/wx 0x40001010',
        'delete 1',
        'continue',
        'echo ==2==\\n', 'info registers eip ecx',
        'reverse-continue',
        'echo ==3==\\n', 'info registers eip ecx',
        'monitor phys on', 'x/wx 0x50010', 'monitor phys off',
      ], 60_000, 'i386');
      const s = sections(out);
      const r0 = registers(s[0]);
      expect(r0.get('eip')).toBe('0x40000c9c');
      expect(BigInt(r0.get('cr0')!) & 0x80000001n).toBe(0x80000001n);
      expect(r0.get('cr3')).toBe('0x20000');
      expect(s[0]).toMatch(/0x40000c9c:\s+mov\s+%ecx,0x40001010/);
      const r1 = registers(s[1]);
      expect(r1.get('eip')).toBe('0x40000ca2');
      expect(s[1]).toContain('0x40001010:\t0x0000000a');
      expect(registers(s[2]).get('ecx')).toBe('0x9');
      expect(registers(s[3]).get('eip')).toBe('0x40000c9c');
      expect(registers(s[3]).get('ecx')).toBe('0x9');
      expect(out).toContain('0x50010:\t0x0000000a');
    } finally {
      await rig.close();
    }
  });
});

describe('gdb on a boot sector through SeaBIOS, against QEMU', () => {
  it('stops at 0x7c00 and steps with the same registers as QEMU gdbstub', async () => {
    const script = [
      'break *0x7c00', 'continue', 'echo ==0==\\n', 'info registers',
      ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => ['stepi', `echo ==${i}==\\n`, 'info registers']),
    ];
    const rig = await pcRig(guest('vga'));
    let ours: string;
    try {
      ours = await gdb(rig.port, script, 120_000);
    } finally {
      await rig.close();
    }
    const dir = mkdtempSync(`${tmpdir()}/bitrot-gdb-`);
    const fd = new Uint8Array(1474560);
    fd.set(guest('vga'));
    writeFileSync(`${dir}/fd.img`, fd);
    const port = await freePort();
    const q = spawn('qemu-system-i386', ['-display', 'none', '-S', '-gdb', `tcp:127.0.0.1:${port}`, '-m', '128', '-boot', 'a', '-drive', `file=${dir}/fd.img,format=raw,if=floppy`], { stdio: 'ignore' });
    let theirs: string;
    try {
      await new Promise((r) => setTimeout(r, 500));
      theirs = await gdb(port, script, 60_000);
    } finally {
      q.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    const a = sections(ours), b = sections(theirs);
    expect(a.length).toBe(9);
    expect(b.length).toBe(9);
    for (let i = 0; i < 9; i++) {
      const ra = registers(a[i]), rb = registers(b[i]);
      for (const name of COMPARED) expect(`${i} ${name} ${ra.get(name)}`).toBe(`${i} ${name} ${rb.get(name)}`);
    }
    expect(registers(a[8]).get('eip')).toBe('0x7c13');
  });
});
