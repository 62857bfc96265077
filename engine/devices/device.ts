// What every device of the PC gets and gives (DESIGN.md contracts 1-5, QEMU's device shape).
//
// A device is constructed with a DeviceContext, registers its ports/MMIO in `attach` (the
// machine file calls it, in one place), creates its clock timers once in the constructor,
// and implements save/load/reset. It never reaches into another device: interrupts go
// through IrqLine objects handed to it, DMA through the DmaChannel interface, host input
// arrives through the input door, and what the guest shows leaves through the output sink.

import type { Clock } from '../clock.ts';
import type { InputDoor, OutputSink } from '../doors.ts';
import type { PhysicalMemory } from '../memory.ts';
import type { PortBus } from '../io-bus.ts';
import type { Stateful } from '../machine.ts';

export interface DeviceContext {
  clock: Clock;
  io: PortBus;
  mem: PhysicalMemory;
  input: InputDoor;
  output: OutputSink;
}

export interface Device extends Stateful {
  /** Register ports and MMIO ranges. Called once by the machine. */
  attach?(): void;
  /** Power-on / hardware reset state. */
  reset(): void;
}

/**
 * One interrupt request line, as a device sees it. The machine routes it to the PIC and/or
 * IOAPIC, passing every change through the interrupt-line fault seam when one is installed.
 */
export interface IrqLine {
  /** Drive the line to a level (level-triggered sources, and edges as raise-then-lower). */
  set(level: boolean): void;
  raise(): void;
  lower(): void;
}

/** The ISA DMA controller's view for a device using a channel (floppy, SB16...). */
export interface DmaChannel {
  /** Device asserts/deasserts DREQ. */
  request(active: boolean): void;
}

/** A device doing ISA DMA implements this; the i8237 calls it while the channel runs. */
export interface DmaClient {
  /** Transfer one byte: for a write to memory, return the byte; for a read, consume `value`. */
  dmaRead?(): number;
  dmaWrite?(value: number): void;
  /** Terminal count reached. */
  dmaTerminalCount?(): void;
}
