// i8237 DMA pair: programming as SeaBIOS does (src/hw/dma.c), transfers to and from memory,
// terminal count, status, masks, cascade, 16-bit channels, modes, and snapshots.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Clock } from '../../../engine/clock.ts';
import { InputDoor, OutputSink } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import type { DeviceContext, DmaChannel, DmaClient } from '../../../engine/devices/device.ts';
import { I8237Dma } from '../../../engine/devices/i8237-dma.ts';

/** A device that supplies or swallows bytes while it holds DREQ, and counts EOPs. */
class FakeDevice implements DmaClient {
  next = 0;
  received: number[] = [];
  eops = 0;
  /** Drop DREQ after this many bytes (Infinity: hold it). */
  limit = Infinity;
  moved = 0;
  constructor(public ch: DmaChannel) {}
  dmaRead(): number {
    this.step();
    return this.next++ & 0xff;
  }
  dmaWrite(v: number): void {
    this.step();
    this.received.push(v);
  }
  dmaTerminalCount(): void {
    this.eops++;
    this.ch.request(false);
  }
  private step(): void {
    if (++this.moved >= this.limit) this.ch.request(false);
  }
}

function setup() {
  const ctx: DeviceContext = { clock: new Clock(), io: new PortBus(), mem: new PhysicalMemory(4 << 20), input: new InputDoor(), output: new OutputSink() };
  const dma = new I8237Dma(ctx);
  dma.attach();
  const dev = (n: number) => {
    const d = new FakeDevice(dma.channel(n));
    dma.connect(n, d);
    return d;
  };
  return { ctx, dma, io: ctx.io, mem: ctx.mem, dev };
}

/** SeaBIOS dma_setup: master clear both, cascade channel 4, unmask controller 2. */
function seabiosSetup(io: PortBus): void {
  io.out8(0x0d, 0);
  io.out8(0xda, 0);
  io.out8(0xd6, 0xc0);
  io.out8(0xd4, 0x00);
}

/** SeaBIOS dma_floppy for channel 2 (mode 46h: single, increment, write to memory; 4Ah: read). */
function seabiosFloppy(io: PortBus, addr: number, count: number, isWrite: boolean): void {
  const end = count - 1;
  io.out8(0x0a, 0x06);
  io.out8(0x0c, 0x00);
  io.out8(0x04, addr & 0xff);
  io.out8(0x04, (addr >> 8) & 0xff);
  io.out8(0x0c, 0x00);
  io.out8(0x05, end & 0xff);
  io.out8(0x05, (end >> 8) & 0xff);
  io.out8(0x0b, isWrite ? 0x4a : 0x46);
  io.out8(0x81, addr >> 16);
  io.out8(0x0a, 0x02);
}

function readWord(io: PortBus, port: number): number {
  return io.in8(port) | (io.in8(port) << 8);
}

describe('i8237 DMA', () => {
  it('moves a floppy sector to memory on channel 2 as SeaBIOS programs it, then reports TC and masks the channel', () => {
    const { io, mem, dev } = setup();
    const fd = dev(2);
    seabiosSetup(io);
    seabiosFloppy(io, 0x17c00, 512, false);
    expect(io.in8(0x08)).toBe(0x00);
    fd.next = 0x10;
    fd.ch.request(true);
    for (let i = 0; i < 512; i++) expect(mem.read8(0x17c00 + i)).toBe((0x10 + i) & 0xff);
    expect(mem.read8(0x17c00 + 512)).toBe(0);
    expect(mem.read8(0x17bff)).toBe(0);
    expect(fd.eops).toBe(1);
    // Status: TC on channel 2, no request; reading clears TC.
    expect(io.in8(0x08)).toBe(0x04);
    expect(io.in8(0x08)).toBe(0x00);
    // Current address one past the last byte, count wrapped to FFFFh; mask set (read all masks).
    io.out8(0x0c, 0);
    expect(readWord(io, 0x04)).toBe(0x7e00);
    expect(readWord(io, 0x05)).toBe(0xffff);
    expect(io.in8(0x0f) & 0x0f).toBe(0x0f); // 0, 1, 3 masked since the master clear, 2 masked by TC
    // A new request on a masked channel does nothing but shows in the status register.
    fd.ch.request(true);
    expect(io.in8(0x08)).toBe(0x40);
    expect(mem.read8(0x17e00)).toBe(0);
  });

  it('controller 1 waits for the cascade: channel 4 unmasked in cascade mode', () => {
    const { io, mem, dev } = setup();
    const fd = dev(2);
    seabiosFloppy(io, 0x1000, 16, false);
    fd.ch.request(true);
    expect(mem.read8(0x1000)).toBe(0);
    expect(io.in8(0x08)).toBe(0x40); // requesting
    io.out8(0xd6, 0xc0); // cascade mode, still masked
    expect(mem.read8(0x1001)).toBe(0);
    io.out8(0xd4, 0x00); // unmask channel 4: the pending request runs now
    expect(Array.from(mem.readBytes(0x1000, 17))).toEqual([...Array.from({ length: 16 }, (_, i) => i), 0]);
    expect(io.in8(0x08)).toBe(0x04);
  });

  it('reads memory to the device (mode 4Ah) and stops when the device drops DREQ (demand)', () => {
    const { io, mem, dev } = setup();
    const fd = dev(2);
    seabiosSetup(io);
    mem.load(0x2000, Uint8Array.from({ length: 600 }, (_, i) => (i * 3) & 0xff));
    seabiosFloppy(io, 0x2000, 600, true);
    fd.limit = 100;
    fd.ch.request(true);
    expect(fd.received.length).toBe(100);
    expect(io.in8(0x08)).toBe(0x00); // no TC yet
    io.out8(0x0c, 0);
    expect(readWord(io, 0x05)).toBe(599 - 100);
    fd.limit = Infinity;
    fd.ch.request(true);
    expect(fd.received).toEqual(Array.from({ length: 600 }, (_, i) => (i * 3) & 0xff));
    expect(fd.eops).toBe(1);
  });

  it('autoinitialize reloads base address and count at TC and leaves the channel unmasked', () => {
    const { io, mem, dev } = setup();
    const d = dev(1);
    seabiosSetup(io);
    io.out8(0x0c, 0);
    io.out8(0x02, 0x00);
    io.out8(0x02, 0x30);
    io.out8(0x03, 7);
    io.out8(0x03, 0);
    io.out8(0x83, 0x02);
    io.out8(0x0b, 0x55); // single, autoinit, write, channel 1
    io.out8(0x0a, 0x01);
    d.ch.request(true);
    expect(Array.from(mem.readBytes(0x23000, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(d.eops).toBe(1);
    expect(io.in8(0x0f) & 2).toBe(0);
    io.out8(0x0c, 0);
    expect(readWord(io, 0x02)).toBe(0x3000);
    expect(readWord(io, 0x03)).toBe(7);
    d.ch.request(true);
    expect(Array.from(mem.readBytes(0x23000, 8))).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
  });

  it('decrements, and wraps inside the 64 KiB page without carrying', () => {
    const { io, mem, dev } = setup();
    const d = dev(3);
    seabiosSetup(io);
    io.out8(0x0c, 0);
    io.out8(0x06, 0x01);
    io.out8(0x06, 0x00);
    io.out8(0x07, 3);
    io.out8(0x07, 0);
    io.out8(0x82, 0x05);
    io.out8(0x0b, 0x67); // single, decrement, write, channel 3
    io.out8(0x0a, 0x03);
    d.ch.request(true);
    expect([mem.read8(0x50001), mem.read8(0x50000), mem.read8(0x5ffff), mem.read8(0x5fffe)]).toEqual([0, 1, 2, 3]);
    expect(mem.read8(0x4ffff)).toBe(0);
    io.out8(0x0c, 0);
    expect(readWord(io, 0x06)).toBe(0xfffd);
  });

  it('16-bit channels count words: address << 1 and page bits 7-1', () => {
    const { io, mem, dev } = setup();
    const d = dev(5);
    seabiosSetup(io);
    io.out8(0xd8, 0); // clear flip-flop (controller 2)
    io.out8(0xc4, 0x00);
    io.out8(0xc4, 0x80); // word address 8000h -> byte offset 10000h
    io.out8(0xc6, 3);
    io.out8(0xc6, 0); // 4 words
    io.out8(0x8b, 0x03); // page 3: bit 0 ignored -> 20000h
    io.out8(0xd6, 0x45); // single, write, channel 5
    io.out8(0xd4, 0x01);
    d.ch.request(true);
    expect(Array.from(mem.readBytes(0x30000, 9))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0]);
    expect(io.in8(0xd0)).toBe(0x02); // TC channel 5 (bit 1 of controller 2)
    io.out8(0xd8, 0);
    expect(readWord(io, 0xc4)).toBe(0x8004);
  });

  it('block mode runs on after DREQ drops; a software request runs a block transfer even while masked', () => {
    const { io, mem, dev } = setup();
    const d = dev(1);
    seabiosSetup(io);
    io.out8(0x0c, 0);
    io.out8(0x02, 0x00);
    io.out8(0x02, 0x40);
    io.out8(0x03, 9);
    io.out8(0x03, 0);
    io.out8(0x0b, 0x85); // block, write, channel 1
    io.out8(0x0a, 0x01);
    d.limit = 1;
    d.ch.request(true);
    expect(d.moved).toBe(10);
    expect(Array.from(mem.readBytes(0x4000, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Software request on channel 0 (no device): memory gets the floating bus, FFh.
    io.out8(0x00, 0x00);
    io.out8(0x00, 0x50);
    io.out8(0x01, 1);
    io.out8(0x01, 0);
    io.out8(0x0b, 0x84); // block, write, channel 0; mask still set
    io.out8(0x09, 0x04);
    expect([mem.read8(0x5000), mem.read8(0x5001), mem.read8(0x5002)]).toEqual([0xff, 0xff, 0]);
    expect(io.in8(0x08) & 0x01).toBe(0x01);
  });

  it('the controller-disable bit and master clear; page registers are storage', () => {
    const { io, mem, dev } = setup();
    const fd = dev(2);
    seabiosSetup(io);
    io.out8(0x08, 0x04); // disable controller 1
    seabiosFloppy(io, 0x6000, 4, false);
    fd.ch.request(true);
    expect(mem.read8(0x6000)).toBe(0);
    io.out8(0x08, 0x00);
    expect(mem.read8(0x6003)).toBe(3);
    io.out8(0x0d, 0); // master clear: all masked
    expect(io.in8(0x0f)).toBe(0xff);
    io.out8(0x84, 0x5a);
    expect(io.in8(0x84)).toBe(0x5a);
    expect(io.in8(0x81)).toBe(0x00);
  });

  it('snapshots: a restored controller finishes a half-done transfer exactly like the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 1200 }), (first, count) => {
        const run = (split: boolean) => {
          const a = setup();
          const d = a.dev(2);
          seabiosSetup(a.io);
          seabiosFloppy(a.io, 0x8000, 1200, false);
          d.limit = first;
          d.ch.request(true);
          let s = a;
          let dd = d;
          if (split) {
            const snap = structuredClone({ dma: a.dma.save(), mem: a.mem.save(true) });
            s = setup();
            dd = s.dev(2);
            s.dma.load(snap.dma);
            s.mem.restore(snap.mem);
            dd.next = d.next;
            dd.moved = d.moved;
          }
          dd.limit = first + count;
          dd.ch.request(true);
          return { mem: Array.from(s.mem.readBytes(0x8000, 1300)), dma: s.dma.save(), status: s.io.in8(0x08) };
        };
        expect(run(true)).toEqual(run(false));
      }),
      { numRuns: 50, seed: 3 },
    );
  });

  it('rejects channels that do not exist', () => {
    const { dma } = setup();
    expect(() => dma.channel(4)).toThrow(/channel 4 does not exist/);
    expect(() => dma.channel(8)).toThrow(/channel 8/);
  });
});
