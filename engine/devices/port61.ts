// Port 0x61, "system control port B": the PIIX3's NMI Status and Control register (PIIX3
// datasheet, order no. 290550), as the PC/AT defined it.
//   bit 0  R/W  counter 2 GATE of the 8254 (i8254-pit.ts)
//   bit 1  R/W  speaker data enable (the speaker sounds counter 2's OUT while set)
//   bit 2  R/W  PCI SERR# NMI disable (1 = disabled)
//   bit 3  R/W  IOCHK# NMI disable (1 = disabled)
//   bit 4  RO   refresh cycle toggle: flips every 15.085 us; derived from the PIT CLK (once
//               every 18 CLK pulses, the period BIOSes gave counter 1 for DRAM refresh), so a
//               delay loop polling it sees the same edges at the same icounts on every run
//   bit 5  RO   counter 2's OUT
//   bit 6  RO   IOCHK# NMI source status (never set here)
//   bit 7  RO   SERR# NMI source status (never set here)
// Left out: sound (bit 1 is stored, nothing plays) and the NMI sources behind bits 2/3/6/7.

import type { Device, DeviceContext } from './device.ts';
import type { Clock } from '../clock.ts';
import type { PortBus } from '../io-bus.ts';
import { pitTicksAt } from './i8254-pit.ts';

/** What port 0x61 needs from the 8254: counter 2's GATE input and OUT output. */
export interface Counter2Link {
  setGate(counter: number, level: boolean): void;
  out(counter: number): boolean;
}

/** PIT CLK pulses per half period of the refresh toggle (18 / 1.193182 MHz = 15.085 us). */
export const REFRESH_TOGGLE_TICKS = 18;

export interface Port61State {
  /** Bits 0-3 as last written. */
  control: number;
}

export class SystemControlPortB implements Device {
  readonly name = 'port61';
  private control = 0;
  private readonly clock: Clock;
  private readonly io: PortBus;

  constructor(
    ctx: DeviceContext,
    private readonly pit: Counter2Link,
  ) {
    this.clock = ctx.clock;
    this.io = ctx.io;
  }

  attach(): void {
    this.io.register(0x61, 1, { read8: () => this.read(), write8: (_p, v) => this.write(v) });
  }

  read(): number {
    const refresh = Math.floor(pitTicksAt(this.clock.icount) / REFRESH_TOGGLE_TICKS) & 1;
    return this.control | (refresh << 4) | (this.pit.out(2) ? 0x20 : 0);
  }

  write(v: number): void {
    this.control = v & 0x0f;
    this.pit.setGate(2, (v & 1) !== 0);
  }

  /** The speaker is driven: data enabled and counter 2's OUT high. */
  get speakerOn(): boolean {
    return (this.control & 2) !== 0 && this.pit.out(2);
  }

  reset(): void {
    this.control = 0;
    this.pit.setGate(2, false);
  }

  save(): Port61State {
    return { control: this.control };
  }

  load(s: Port61State): void {
    this.control = s.control;
  }
}
