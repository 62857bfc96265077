// The small debug ports every bitrot machine has (QEMU's conventions):
//   0xE9 and 0x402  debugcon: each byte written goes to the output sink ('debugcon');
//                   reading returns 0xE9 so a guest can detect the port.
//   0x80            POST code port: each byte written is a 'post' output event.
//   0xF4            isa-debug-exit: a write stops the machine with status (value << 1) | 1.
// Leaves out: nothing these ports do on QEMU.

import type { OutputSink } from '../doors.ts';
import type { PortBus } from '../io-bus.ts';
import type { Clock } from '../clock.ts';

export class DebugPorts {
  /** Exit status requested through isa-debug-exit, or null. */
  exitStatus: number | null = null;
  onExit: () => void = () => {};

  constructor(
    private readonly clock: Clock,
    private readonly out: OutputSink,
  ) {}

  attach(bus: PortBus): void {
    const con = {
      read8: () => 0xe9,
      write8: (_p: number, v: number) => this.out.emit(this.clock.icount, 'debugcon', v),
    };
    bus.register(0xe9, 1, con);
    bus.register(0x402, 1, con);
    bus.register(0x80, 1, { write8: (_p, v) => this.out.emit(this.clock.icount, 'post', v), read8: () => 0xff });
    const exit = (_p: number, v: number) => {
      this.exitStatus = ((v & 0xff) << 1) | 1;
      this.out.emit(this.clock.icount, 'exit', v & 0xff);
      this.onExit();
    };
    bus.register(0xf4, 4, { write8: exit, write16: exit, write32: exit });
  }

  save(): { exitStatus: number | null } {
    return { exitStatus: this.exitStatus };
  }
  load(s: { exitStatus: number | null }): void {
    this.exitStatus = s.exitStatus;
  }
}
