// The bare machine: RAM, the CPU and the debug ports (0xE9/0x402 debugcon, 0x80 POST,
// 0xF4 isa-debug-exit), nothing else. CPU tests and the project's own test programs run
// here. An image is loaded at 0x7C00 and started in real mode at 0000:7C00, as a BIOS
// would hand over a boot sector (but the whole image is present, not only its first sector).

import { Machine } from './machine.ts';
import { DebugPorts } from './devices/debug-ports.ts';
import { S } from './cpu/constants.ts';

export interface BareMachineOptions {
  /** Bytes of RAM (default 16 MiB). */
  ramSize?: number;
  image?: Uint8Array;
  loadAddress?: number;
  /** Stop on a triple fault instead of resetting (default true: there is no firmware). */
  noReboot?: boolean;
}

export function createBareMachine(opts: BareMachineOptions = {}): Machine {
  const m = new Machine({ ramSize: opts.ramSize ?? 16 << 20, noReboot: opts.noReboot ?? true });
  const dbg = new DebugPorts(m.clock, m.output);
  dbg.attach(m.io);
  dbg.onExit = () => m.exit(dbg.exitStatus!);
  m.addDevice({ name: 'debug-ports', save: () => dbg.save(), load: (s) => dbg.load(s as { exitStatus: number | null }) });
  const cpu = m.cpu;
  for (let s = 0; s < 6; s++) cpu.setSegRaw(s, 0, 0, 0xffff, 0x93);
  cpu.setSegRaw(S.CS, 0, 0, 0xffff, 0x9b);
  const at = opts.loadAddress ?? 0x7c00;
  cpu.eip = at;
  cpu.regs[4] = at;
  if (opts.image) m.mem.load(at, opts.image);
  return m;
}
