// qemu-diff against a real QEMU: a one-sector program must run identically in QEMU and
// bitrot, and a difference planted in bitrot's state must be reported at the right
// instruction. Skipped (with the reason in the test name) when qemu-system-i386 is missing.
//
// The program (NASM source below, assembled into GUEST_BASE64): real-mode arithmetic, a
// LOOP, REP MOVSB, INT 80h through the IVT, then flat 32-bit protected mode, a CALL, an
// XADD loop, a store, and exit through isa-debug-exit with value 0 (status 1).
//
//         bits 16
//         org 0x7c00
//         cli
//         xor ax, ax
//         mov ds, ax
//         mov es, ax
//         mov ss, ax
//         mov sp, 0x7c00
//         mov word [0x80 * 4], int80
//         mov [0x80 * 4 + 2], ax
//         mov cx, 10
//         xor bx, bx
// .sum:   add bx, cx
//         loop .sum
//         mov si, 0x7c00
//         mov di, 0x600
//         mov cx, 16
//         cld
//         rep movsb
//         int 0x80
//         lgdt [gdt_ptr]
//         mov eax, cr0
//         or al, 1
//         mov cr0, eax
//         jmp 0x08:pm
// int80:  imul bx, bx, 3
//         iret
//         bits 32
// pm:     mov ax, 0x10
//         mov ds, ax
//         mov es, ax
//         mov ss, ax
//         mov esp, 0x7000
//         call fib
//         mov [0x700], eax
//         mov al, 0
//         out 0xf4, al
//         hlt
// fib:    mov ecx, 20
//         xor eax, eax
//         mov edx, 1
// .next:  xadd eax, edx
//         loop .next
//         ret
//         align 8
// gdt:    dq 0
//         dq 0x00cf9a000000ffff
//         dq 0x00cf92000000ffff
// gdt_ptr: dw gdt_ptr - gdt - 1
//         dd gdt
//         times 510 - ($ - $$) db 0
//         dw 0xaa55

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runDiff } from '../../tools/qemu-diff/diff.ts';

const GUEST_BASE64 =
  '+jHAjtiOwI7QvAB8xwYAAj58owICuQoAMdsBy+L8vgB8vwAGuRAA/POkzYAPARaQfA8gwAwBDyLA6kJ8CABr2wPPZrgQAI7YjsCO0LwAcAAA6AoAAACjAAcAALAA5vT0uRQAAAAxwLoBAAAAD8HQ4vvDkJCQkJCQAAAAAAAAAAD//wAAAJrPAP//AAAAks8AFwB4fA==';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function qemuInstalled(): boolean {
  try {
    execFileSync('qemu-system-i386', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const haveQemu = qemuInstalled();
const skipNote = haveQemu ? '' : ' (skipped: qemu-system-i386 is not installed)';

describe('qemu-diff against QEMU', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitrot-qemu-diff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const image = join(dir, 'guest.img');
  const sector = new Uint8Array(512);
  sector.set(Buffer.from(GUEST_BASE64, 'base64'));
  sector[510] = 0x55;
  sector[511] = 0xaa;
  writeFileSync(image, sector);

  it.skipIf(!haveQemu)(`the command line reports agreement for a small program and exits 0${skipNote}`, () => {
    const r = spawnSync(join(repoRoot, 'node_modules/.bin/tsx'), ['tools/qemu-diff/main.ts', image, '--timeout', '60'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.stderr.replace(/^npm warn.*\n/gm, ''), r.stdout).toBe('');
    expect(r.stdout).toMatch(/^agree for \d+ instructions \(program exited with status 1\)\n/);
    expect(r.status, r.stdout).toBe(0);
  }, 120_000);

  it.skipIf(!haveQemu)(`a register bit flipped in bitrot is reported at the instruction that follows${skipNote}`, async () => {
    const r = await runDiff({
      image,
      max: 10_000,
      start: 0x7c00,
      timeoutMs: 60_000,
      beforeStep: (m, count) => {
        if (count === 14) m.cpu.regs[3] ^= 0x10; // EBX, before instruction #15
      },
    });
    expect(r.agree).toBe(false);
    expect(r.count).toBe(15);
    expect(r.summary).toMatch(/^diverge at instruction #15 at 0000:7c/);
    expect(r.details).toMatch(/^ {2}EBX .*<-- differs$/m);
    expect(r.details).not.toMatch(/^ {2}EAX .*<-- differs$/m);
  }, 120_000);
});
