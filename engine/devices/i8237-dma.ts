// The PC/AT's two Intel 8237A DMA controllers and their 74LS612 page registers.
//
//   Controller 1 (8-bit, channels 0-3):  ports 0x00-0x0F.
//   Controller 2 (16-bit, channels 4-7): ports 0xC0-0xDF, one register every other port
//                                        (address line A0 is not connected).
//   Page registers: 0x87 ch0, 0x83 ch1, 0x81 ch2, 0x82 ch3, 0x8F ch4, 0x8B ch5, 0x89 ch6,
//                   0x8A ch7; 0x84-0x86, 0x88, 0x8C-0x8E are plain storage. Port 0x80 is the
//                   POST code port and belongs to the debug ports (its page register is unused).
//
// Modelled (8237A datasheet, "Register description" and "Transfer modes"): base/current address
// and word count with the shared byte-pointer flip-flop; mode register (verify/write/read,
// autoinitialize, address increment/decrement, demand/single/block/cascade); single, all and
// clear mask commands; software request register (serviced in block mode, and not maskable);
// status register (TC bits cleared on read, request bits); master clear; command-register
// controller disable. At terminal count (count wrapping from 0 to 0xFFFF) the TC status bit is
// set, the software request is cleared, the channel is masked unless it autoinitializes (then
// current address/count reload from base), and the device is told (EOP).
// 16-bit channels move words: the address register counts words, page bit 0 is ignored, and the
// physical address is (page & 0xFE) << 16 | address << 1. Addresses wrap inside their 64 KiB
// (128 KiB) block without carrying into the page, as on the real part.
// Controller 1 reaches the bus through channel 4 of controller 2 (cascade): its requests are
// serviced only while channel 4 is unmasked and in cascade mode, and controller 2 is enabled.
//
// Timing: a transfer runs to completion the moment it can (DREQ active, channel unmasked), inside
// the call that made it possible; the bytes, counts, addresses and status end exactly as the
// hardware leaves them. A channel that reaches terminal count in autoinitialize mode is not
// serviced again until the next request or register write, so a device holding DREQ forever
// cannot stall the machine.
//
// Leaves out: memory-to-memory transfers (controller 1 channels 0/1, not wired on a PC),
// channel 0 address hold, rotating priority (fixed priority 0-3, then 5-7), DREQ/DACK
// polarity and extended/compressed timing bits (stored, no effect), the temporary register
// (reads 0), external EOP input, the EISA high page registers (0x480-0x48F) and the 0x90-0x9F
// aliases of some chipsets.

import type { DeviceContext, DmaChannel, DmaClient } from './device.ts';

/** Page register port of each channel. */
const PAGE_PORT = [0x87, 0x83, 0x81, 0x82, 0x8f, 0x8b, 0x89, 0x8a];

const MODE_AUTOINIT = 0x10;
const MODE_DECREMENT = 0x20;
const CMD_DISABLE = 0x04;

export interface I8237State {
  baseAddress: number[];
  baseCount: number[];
  currentAddress: number[];
  currentCount: number[];
  mode: number[];
  /** The page register file for ports 0x80-0x8F (entry 0 unused). */
  page: number[];
  command: number[];
  /** Mask bits, one nibble per controller. */
  mask: number[];
  /** Software request bits, one nibble per controller. */
  request: number[];
  /** Terminal-count status bits, one nibble per controller. */
  terminalCount: number[];
  flipFlop: number[];
  /** Hardware DREQ lines of the eight channels (bit n = channel n). */
  dreq: number;
  /** Block-mode transfers in progress (bit n = channel n): they run on until TC. */
  block: number;
  /** Autoinitialized channels waiting for a fresh request or register write (bit n = channel n). */
  wrapped: number;
}

export class I8237Dma {
  readonly name = 'dma';
  private readonly baseAddress = new Uint16Array(8);
  private readonly baseCount = new Uint16Array(8);
  private readonly currentAddress = new Uint16Array(8);
  private readonly currentCount = new Uint16Array(8);
  private readonly mode = new Uint8Array(8);
  private readonly page = new Uint8Array(16);
  private readonly command = new Uint8Array(2);
  private readonly mask = new Uint8Array(2);
  private readonly request = new Uint8Array(2);
  private readonly terminalCount = new Uint8Array(2);
  private readonly flipFlop = new Uint8Array(2);
  private dreq = 0;
  private block = 0;
  private readonly clients: (DmaClient | null)[] = new Array<DmaClient | null>(8).fill(null);
  /** Channels that reached TC in autoinitialize mode during the current service pass. */
  private wrapped = 0;
  private servicing = false;

  constructor(private readonly ctx: DeviceContext) {
    this.reset();
  }

  attach(): void {
    const io = this.ctx.io;
    io.register(0x00, 16, { read8: (p) => this.readController(0, p & 0x0f), write8: (p, v) => this.writeController(0, p & 0x0f, v) });
    io.register(0xc0, 32, {
      read8: (p) => this.readController(1, (p - 0xc0) >> 1),
      write8: (p, v) => this.writeController(1, (p - 0xc0) >> 1, v),
    });
    io.register(0x81, 15, { read8: (p) => this.page[p & 0x0f], write8: (p, v) => (this.page[p & 0x0f] = v) });
  }

  /** The DREQ side of channel `n` (0-7), for the device wired to it. */
  channel(n: number): DmaChannel {
    if (!Number.isInteger(n) || n < 0 || n > 7 || n === 4) throw new Error(`dma: channel ${n} does not exist (0-3, 5-7)`);
    return { request: (active: boolean) => this.setDreq(n, active) };
  }

  /** Wire the device that answers DACK on channel `n`. */
  connect(n: number, client: DmaClient): void {
    if (!Number.isInteger(n) || n < 0 || n > 7 || n === 4) throw new Error(`dma: channel ${n} does not exist (0-3, 5-7)`);
    this.clients[n] = client;
  }

  /** Hardware reset: a master clear of both controllers (8237A "Reset"). Page registers keep their contents. */
  reset(): void {
    this.masterClear(0);
    this.masterClear(1);
  }

  // ---- register file ----

  private masterClear(c: number): void {
    this.command[c] = 0;
    this.mask[c] = 0x0f;
    this.request[c] = 0;
    this.terminalCount[c] = 0;
    this.flipFlop[c] = 0;
    this.block &= ~(0x0f << (c * 4));
  }

  private readController(c: number, reg: number): number {
    if (reg < 8) {
      const ch = c * 4 + (reg >> 1);
      const v = reg & 1 ? this.currentCount[ch] : this.currentAddress[ch];
      const hi = this.flipFlop[c];
      this.flipFlop[c] ^= 1;
      return hi ? v >> 8 : v & 0xff;
    }
    switch (reg) {
      case 8: {
        const status = (this.requestLines(c) << 4) | this.terminalCount[c];
        this.terminalCount[c] = 0;
        return status;
      }
      case 13:
        return 0; // temporary register: only memory-to-memory transfers load it
      case 15:
        return 0xf0 | this.mask[c];
      default:
        return 0xff;
    }
  }

  private writeController(c: number, reg: number, v: number): void {
    if (reg < 8) {
      const ch = c * 4 + (reg >> 1);
      const hi = this.flipFlop[c];
      this.flipFlop[c] ^= 1;
      const base = reg & 1 ? this.baseCount : this.baseAddress;
      const cur = reg & 1 ? this.currentCount : this.currentAddress;
      const nv = hi ? (base[ch] & 0x00ff) | (v << 8) : (base[ch] & 0xff00) | v;
      base[ch] = nv;
      cur[ch] = nv;
      return;
    }
    switch (reg) {
      case 8:
        this.command[c] = v;
        break;
      case 9: {
        const bit = 1 << (v & 3);
        if (v & 4) this.request[c] |= bit;
        else this.request[c] &= ~bit;
        break;
      }
      case 10: {
        const bit = 1 << (v & 3);
        if (v & 4) this.mask[c] |= bit;
        else this.mask[c] &= ~bit;
        break;
      }
      case 11:
        this.mode[c * 4 + (v & 3)] = v;
        break;
      case 12:
        this.flipFlop[c] = 0;
        return;
      case 13:
        this.masterClear(c);
        return;
      case 14:
        this.mask[c] = 0;
        break;
      case 15:
        this.mask[c] = v & 0x0f;
        break;
    }
    this.wrapped = 0;
    this.service();
  }

  /** The request bits the status register shows: hardware DREQ or software request. */
  private requestLines(c: number): number {
    return ((this.dreq >> (c * 4)) | this.request[c]) & 0x0f;
  }

  // ---- transfers ----

  private setDreq(n: number, active: boolean): void {
    const bit = 1 << n;
    if (active) this.dreq |= bit;
    else this.dreq &= ~bit;
    if (active) {
      this.wrapped &= ~bit;
      this.service();
    }
  }

  /** Is controller 1 allowed onto the bus (channel 4 of controller 2 cascading it)? */
  private cascadeOpen(): boolean {
    return (this.command[1] & CMD_DISABLE) === 0 && (this.mask[1] & 1) === 0 && (this.mode[4] & 0xc0) === 0xc0;
  }

  private eligible(ch: number): boolean {
    const c = ch >> 2;
    const bit = 1 << (ch & 3);
    if (this.command[c] & CMD_DISABLE) return false;
    if ((this.mode[ch] & 0xc0) === 0xc0) return false; // cascade: a bus master, not a DMA cycle
    if (this.wrapped & (1 << ch)) return false;
    const block = (this.mode[ch] & 0xc0) === 0x80;
    if (this.request[c] & bit && block) return true; // software requests ignore the mask
    if (this.mask[c] & bit) return false;
    return (this.dreq & (1 << ch)) !== 0 || (this.block & (1 << ch)) !== 0;
  }

  private pick(): number {
    if (this.cascadeOpen()) {
      for (let ch = 0; ch < 4; ch++) if (this.eligible(ch)) return ch;
    }
    for (let ch = 5; ch < 8; ch++) if (this.eligible(ch)) return ch;
    return -1;
  }

  /** Run every transfer that can run now. Re-entrant calls (a device changing DREQ mid-transfer) just return. */
  private service(): void {
    if (this.servicing) return;
    this.servicing = true;
    try {
      for (let ch = this.pick(); ch >= 0; ch = this.pick()) this.cycle(ch);
    } finally {
      this.servicing = false;
    }
  }

  /** One DMA cycle on channel `ch`: one byte (8-bit channels) or one word (16-bit channels). */
  private cycle(ch: number): void {
    const c = ch >> 2;
    const mode = this.mode[ch];
    if ((mode & 0xc0) === 0x80) this.block |= 1 << ch;
    const type = (mode >> 2) & 3; // 0 verify, 1 write (to memory), 2 read (from memory), 3 illegal
    const client = this.clients[ch];
    const addr = this.currentAddress[ch];
    const page = this.page[PAGE_PORT[ch] & 0x0f];
    const wide = c === 1;
    const phys = wide ? ((page & 0xfe) << 16) | (addr << 1) : (page << 16) | addr;
    const mem = this.ctx.mem;
    for (let b = 0; b < (wide ? 2 : 1); b++) {
      if (type === 1) {
        const v = client?.dmaRead ? client.dmaRead() & 0xff : 0xff;
        mem.write8(phys + b, v);
      } else if (type === 2) {
        const v = mem.read8(phys + b);
        client?.dmaWrite?.(v);
      } else {
        client?.dmaRead?.(); // verify: DACK without memory cycles
      }
    }
    this.currentAddress[ch] = mode & MODE_DECREMENT ? addr - 1 : addr + 1;
    const count = (this.currentCount[ch] - 1) & 0xffff;
    this.currentCount[ch] = count;
    if (count !== 0xffff) return;
    // Terminal count.
    const bit = 1 << (ch & 3);
    this.terminalCount[c] |= bit;
    this.request[c] &= ~bit;
    this.block &= ~(1 << ch);
    if (mode & MODE_AUTOINIT) {
      this.currentAddress[ch] = this.baseAddress[ch];
      this.currentCount[ch] = this.baseCount[ch];
      this.wrapped |= 1 << ch;
    } else {
      this.mask[c] |= bit;
    }
    client?.dmaTerminalCount?.();
  }

  // ---- state ----

  save(): I8237State {
    return {
      baseAddress: Array.from(this.baseAddress),
      baseCount: Array.from(this.baseCount),
      currentAddress: Array.from(this.currentAddress),
      currentCount: Array.from(this.currentCount),
      mode: Array.from(this.mode),
      page: Array.from(this.page),
      command: Array.from(this.command),
      mask: Array.from(this.mask),
      request: Array.from(this.request),
      terminalCount: Array.from(this.terminalCount),
      flipFlop: Array.from(this.flipFlop),
      dreq: this.dreq,
      block: this.block,
      wrapped: this.wrapped,
    };
  }

  load(s: unknown): void {
    const st = s as I8237State;
    this.baseAddress.set(st.baseAddress);
    this.baseCount.set(st.baseCount);
    this.currentAddress.set(st.currentAddress);
    this.currentCount.set(st.currentCount);
    this.mode.set(st.mode);
    this.page.set(st.page);
    this.command.set(st.command);
    this.mask.set(st.mask);
    this.request.set(st.request);
    this.terminalCount.set(st.terminalCount);
    this.flipFlop.set(st.flipFlop);
    this.dreq = st.dreq;
    this.block = st.block;
    this.wrapped = st.wrapped;
  }
}
