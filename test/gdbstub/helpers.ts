// Shared set-up for the stub's tests: a machine under a session under a stub on an
// ephemeral loopback port, and Debian's gdb in batch mode as the client.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createBareMachine } from '../../engine/bare.ts';
import { createPc, type Pc } from '../../engine/pc.ts';
import type { Machine } from '../../engine/machine.ts';
import { Session } from '../../replay/session.ts';
import { GdbStub } from '../../gdbstub/stub.ts';
import { GdbServer } from '../../gdbstub/server.ts';
import { createServer } from 'node:net';

export const GUESTS = new URL('./guests/bin/', import.meta.url).pathname;
export const GDB = '/usr/bin/gdb';

export function guest(name: string): Uint8Array {
  return readFileSync(`${GUESTS}${name}.img`);
}

export interface Rig {
  machine: Machine;
  session: Session;
  stub: GdbStub;
  server: GdbServer;
  port: number;
  pc: Pc | null;
  close(): Promise<void>;
}

/** A bare machine running `image`, stopped before its first instruction, behind a stub. */
export async function bareRig(image: Uint8Array, snapshotEvery = 1000): Promise<Rig> {
  const machine = createBareMachine({ image });
  return rig(machine, null, snapshotEvery);
}

/** The PC booting `image` from a floppy through SeaBIOS, stopped at power-on. */
export async function pcRig(image: Uint8Array, snapshotEvery = 1_000_000): Promise<Rig> {
  const bios = readFileSync('/usr/share/seabios/bios-256k.bin');
  const vgaBios = readFileSync('/usr/share/seabios/vgabios-stdvga.bin');
  const fd = new Uint8Array(1474560);
  fd.set(image);
  const pc = createPc({ ramSize: 128 << 20, bios, vgaBios, fda: { bytes: fd, name: 'fd.img' }, boot: ['a'], noReboot: true });
  return rig(pc.machine, pc, snapshotEvery);
}

async function rig(machine: Machine, pc: Pc | null, snapshotEvery: number): Promise<Rig> {
  const session = new Session(machine, { snapshotEvery });
  const stub = new GdbStub(session, { devices: pc });
  const server = await GdbServer.listen(stub, { port: 0, startStopped: true });
  return { machine, session, stub, server, port: server.port, pc, close: () => server.close() };
}

/** Run gdb in batch mode with these commands after `target remote`; resolves with its output. */
export function gdb(port: number, commands: string[], timeoutMs = 30_000, arch?: string): Promise<string> {
  const args = ['-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off'];
  if (arch) args.push('-ex', `set architecture ${arch}`);
  args.push('-ex', `target remote 127.0.0.1:${port}`);
  for (const c of commands) args.push('-ex', c);
  return new Promise((resolve, reject) => {
    execFile(GDB, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException & { killed?: boolean }).killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** `info registers` lines as name -> value (the hex column). */
export function registers(out: string): Map<string, string> {
  const r = new Map<string, string>();
  for (const line of out.split('\n')) {
    const mm = /^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)/.exec(line);
    if (mm) r.set(mm[1], mm[2]);
  }
  return r;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
