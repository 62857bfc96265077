// The real SeaBIOS boots a 1.44M floppy through the 82077AA, the i8237 and the MC146818 (CMOS
// floppy type and boot order), on the i440FX chipset with the PIC and PIT. The boot sector reads
// 17 sectors and then one on cylinder 1 head 1 through INT 13h, checks them, reads the RTC
// through INT 1Ah and leaves through isa-debug-exit. Skipped without the SeaBIOS image
// (/usr/share/seabios/bios.bin; BITROT_SEABIOS overrides).

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createPc } from '../../../engine/pc.ts';
import { patternImage } from './isa-harness.ts';

const BIOS = process.env.BITROT_SEABIOS ?? '/usr/share/seabios/bios.bin';
const RAM = 32 << 20;

// nasm -f bin, org 0x7c00:
//   cli; xor ax,ax; mov ds,ax; mov es,ax; mov ss,ax; mov sp,0x7c00; sti; mov si,msg; call print
//   mov ax,0x0211; mov cx,0x0002; mov dx,0x0000; mov bx,0x8000; int 0x13; jc fail   ; LBA 1-17
//   mov ax,0x0201; mov cx,0x0101; mov dx,0x0100; mov bx,0xc000; int 0x13; jc fail   ; C1 H1 S1
//   cmp word [0x8000],1; jne fail; cmp word [0xa000],17; jne fail; cmp word [0xc000],54; jne fail
//   mov ah,2; int 0x1a; jc fail; mov al,dh; out 0x80,al; mov al,cl; out 0x80,al; mov al,ch; out 0x80,al
//   mov si,ok; call print; mov al,0; out 0xf4,al
// fail: mov si,bad; call print; mov al,ah; out 0xf4,al; hlt
// print: lodsb; test al,al; jz .d; out 0xe9,al; jmp print; .d: ret
// msg: 'boot sector running',10,0   ok: 'floppy reads ok',10,0   bad: 'floppy read FAILED',10,0
// prettier-ignore
const BOOT = [
  0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb, 0xbe, 0x79, 0x7c, 0xe8, 0x5c, 0x00, 0xb8,
  0x11, 0x02, 0xb9, 0x02, 0x00, 0xba, 0x00, 0x00, 0xbb, 0x00, 0x80, 0xcd, 0x13, 0x72, 0x41, 0xb8, 0x01, 0x02, 0xb9, 0x01,
  0x01, 0xba, 0x00, 0x01, 0xbb, 0x00, 0xc0, 0xcd, 0x13, 0x72, 0x31, 0x83, 0x3e, 0x00, 0x80, 0x01, 0x75, 0x2a, 0x83, 0x3e,
  0x00, 0xa0, 0x11, 0x75, 0x23, 0x83, 0x3e, 0x00, 0xc0, 0x36, 0x75, 0x1c, 0xb4, 0x02, 0xcd, 0x1a, 0x72, 0x16, 0x88, 0xf0,
  0xe6, 0x80, 0x88, 0xc8, 0xe6, 0x80, 0x88, 0xe8, 0xe6, 0x80, 0xbe, 0x8e, 0x7c, 0xe8, 0x0f, 0x00, 0xb0, 0x00, 0xe6, 0xf4,
  0xbe, 0x9f, 0x7c, 0xe8, 0x05, 0x00, 0x88, 0xe0, 0xe6, 0xf4, 0xf4, 0xac, 0x84, 0xc0, 0x74, 0x04, 0xe6, 0xe9, 0xeb, 0xf7,
  0xc3,
  ...[...'boot sector running\n\0floppy reads ok\n\0floppy read FAILED\n\0'].map((c) => c.charCodeAt(0)),
];

function floppyImage(): Uint8Array {
  const img = patternImage(1474560);
  img.fill(0, 0, 512);
  img.set(BOOT, 0);
  img[510] = 0x55;
  img[511] = 0xaa;
  return img;
}

/** The PC (engine/pc.ts) with the image in drive A: and no VGA BIOS. */
function build(image: Uint8Array) {
  const pc = createPc({ ramSize: RAM, bios: readFileSync(BIOS), fda: { bytes: image, name: 'boot.img' }, boot: ['a'], noReboot: true });
  return { m: pc.machine };
}

describe.skipIf(!existsSync(BIOS))(`SeaBIOS floppy boot (${BIOS})`, () => {
  it('boots from drive A:, reads sectors through INT 13h and the time through INT 1Ah', { timeout: 600_000 }, () => {
    const { m } = build(floppyImage());
    const r = m.run(3_000_000_000);
    const log = m.output.text('debugcon');
    expect(log).toContain('Searching bootorder for: /pci@i0cf8/isa@1/fdc@03f0/floppy@0');
    expect(log).toContain('Booting from Floppy...');
    expect(log).toContain('boot sector running\nfloppy reads ok\n');
    expect(r).toMatchObject({ reason: 'exit', exitCode: 1 });
    // INT 1Ah AH=02h: seconds, minutes, hours in BCD, 2026-01-01 00:00:00 plus the run so far.
    const posts = m.output.log.filter((e) => e.kind === 'post').slice(-3);
    const sec = Math.floor(posts[0].icount / 100_000_000);
    const bcd = (v: number) => ((v / 10) << 4) | v % 10;
    expect([bcd(sec), bcd(Math.max(0, sec - 1))]).toContain(posts[0].data);
    expect(posts.map((e) => e.data).slice(1)).toEqual([0x00, 0x00]);
  });
});
