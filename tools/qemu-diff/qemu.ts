// QEMU (qemu-system-i386, TCG) under the control of its gdbstub: start it stopped on a
// free loopback port, read and write the CPU state the way gdb does, and always kill it.
//
// What the gdbstub gives: the `g` packet holds the registers the target description
// (`qXfer:features:read:target.xml`) lists, in order, at their bit sizes; for i386 that is
// eax..edi eip eflags cs ss ds es fs gs, then fs_base gs_base k_gs_base cr0 cr2 cr3 cr4
// cr8 efer (QEMU 7+), then x87 and SSE state. The layout is read from the description
// rather than assumed. What it lacks (segment bases, limits and attributes, GDTR, IDTR,
// LDTR, TR, DR7) comes from the monitor's `info registers`, sent as `qRcmd`.
//
// Addresses in `Z0` and `m` are linear: QEMU compares breakpoints with CS.base + EIP and
// reads memory through the guest's page tables.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { RspClient, RspError, fromHex } from './rsp.ts';

export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

export interface RegDesc {
  name: string;
  /** Offset in bytes in the `g` packet payload. */
  offset: number;
  bytes: number;
}

/** A segment register's selector and hidden part, as `info registers` prints it. */
export interface SegState {
  sel: number;
  base: number;
  limit: number;
  /** QEMU's descriptor flags: bits 8-23 of the descriptor's high dword, in place. */
  flags: number;
}

/** The state `info registers` prints (32-bit form). */
export interface MonitorState {
  /** ES CS SS DS FS GS */
  segs: SegState[];
  ldtr: SegState;
  tr: SegState;
  gdt: { base: number; limit: number };
  idt: { base: number; limit: number };
  cr: [number, number, number, number];
  dr: number[];
  cpl: number;
  a20: number;
  halted: boolean;
  efer: number;
}

/** The registers compared after each instruction. */
export interface CoreRegs {
  /** EAX ECX EDX EBX ESP EBP ESI EDI */
  gpr: number[];
  eip: number;
  eflags: number;
  /** ES CS SS DS FS GS */
  sel: number[];
  /** CR0 CR2 CR3 CR4, each null when the target description lacks it (before QEMU 7). */
  cr: (number | null)[];
  /** FS and GS bases (null when absent). */
  fsBase: number | null;
  gsBase: number | null;
}

export interface QemuOptions {
  image: string;
  /** MiB of RAM (default 16, the bare machine's size). */
  ramMiB?: number;
  cpu?: string;
  qemu?: string;
  extraArgs?: string[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Every QEMU this process started and has not yet seen end: killed when the process exits. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killAllNow);
  }
}

/** Kill every QEMU still running, synchronously (exit paths, signal handlers). */
export function killAllNow(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

const SEG_ORDER = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
const GDB_SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
const GPR_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

export class Qemu {
  private regs: RegDesc[] = [];
  private byName = new Map<string, RegDesc>();
  private stderr = '';
  exitCode: number | null = null;
  exitSignal: string | null = null;
  private exited: Promise<void>;
  /** Largest memory read per `m` packet. */
  private chunk = 0x7f0;

  private constructor(
    private readonly proc: ChildProcess,
    readonly rsp: RspClient,
    readonly port: number,
    exited: Promise<void>,
  ) {
    this.exited = exited;
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Start QEMU stopped before the first instruction with its gdbstub on a free port. */
  static async start(o: QemuOptions): Promise<Qemu> {
    const bin = o.qemu ?? 'qemu-system-i386';
    let lastErr = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const args = [
        '-S',
        // `-gdb tcp:127.0.0.1:PORT`, spelled out to switch Nagle's algorithm off: the
        // protocol is strictly request/reply, and pipelined memory reads stall without it.
        '-chardev', `socket,id=gdb0,host=127.0.0.1,port=${port},server=on,wait=off,nodelay=on`,
        '-gdb', 'chardev:gdb0',
        '-display', 'none',
        '-monitor', 'none',
        '-serial', 'null',
        '-parallel', 'none',
        '-drive', `file=${o.image},if=floppy,format=raw`,
        '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
        '-debugcon', 'file:/dev/null',
        '-no-reboot',
        '-accel', 'tcg',
        '-m', `${o.ramMiB ?? 16}M`,
        ...(o.cpu ? ['-cpu', o.cpu] : []),
        ...(o.extraArgs ?? []),
      ];
      let proc: ChildProcess;
      let spawnError: Error | null = null;
      let stderr = '';
      let done = false;
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      try {
        proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        throw new SetupError(`cannot start ${bin}: ${(e as Error).message}`);
      }
      track(proc);
      proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => {
        proc.once('error', (e) => {
          spawnError = e;
          done = true;
          resolve();
        });
        proc.once('exit', (code, sig) => {
          exitCode = code;
          exitSignal = sig;
          done = true;
          resolve();
        });
      });
      let rsp: RspClient;
      try {
        rsp = await RspClient.connect('127.0.0.1', port, 10_000, () => !done);
      } catch (e) {
        if (!done) proc.kill('SIGKILL');
        await exited;
        if (spawnError) {
          const err = spawnError as NodeJS.ErrnoException;
          if (err.code === 'ENOENT') throw new SetupError(`${bin} is not installed (install QEMU, e.g. apt-get install qemu-system-x86)`);
          throw new SetupError(`cannot start ${bin}: ${err.message}`);
        }
        lastErr = stderr.trim().split('\n')[0] || (e as Error).message;
        if (/address already in use|bind/i.test(stderr)) continue;
        throw new SetupError(`${bin} did not start: ${lastErr}`);
      }
      const q = new Qemu(proc, rsp, port, exited);
      q.stderr = stderr;
      void exited.then(() => {
        q.exitCode = exitCode;
        q.exitSignal = exitSignal;
      });
      await q.handshake();
      return q;
    }
    throw new SetupError(`qemu-system-i386 did not start: ${lastErr}`);
  }

  get stderrText(): string {
    return this.stderr;
  }

  private async handshake(): Promise<void> {
    const sup = await this.rsp.request('qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;xmlRegisters=i386');
    const ps = /PacketSize=([0-9a-fA-F]+)/.exec(sup);
    if (ps) this.chunk = Math.max(64, Math.min(0x7f0, (parseInt(ps[1], 16) - 16) >> 1));
    await this.rsp.noAck();
    await this.rsp.request('?');
    await this.rsp.request('Hg1').catch(() => '');
    const xml = await this.readXfer('target.xml');
    const parts: string[] = [xml];
    for (const m of xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<xi:include\s+href="([^"]+)"/g)) parts.push(await this.readXfer(m[1]));
    let regnum = 0;
    let off = 0;
    const regs: (RegDesc & { regnum: number })[] = [];
    // Registers appear in the order of the includes, numbered consecutively unless regnum= says otherwise.
    for (const part of parts.slice(parts.length > 1 ? 1 : 0)) {
      for (const m of part.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<reg\s([^>]*)\/?>/g)) {
        const attr = (k: string): string | undefined => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1])?.[1];
        const name = attr('name')!;
        const bits = Number(attr('bitsize'));
        const rn = attr('regnum');
        if (rn !== undefined) regnum = Number(rn);
        regs.push({ name, offset: 0, bytes: bits / 8, regnum: regnum++ });
      }
    }
    regs.sort((a, b) => a.regnum - b.regnum);
    for (const r of regs) {
      r.offset = off;
      off += r.bytes;
    }
    this.regs = regs;
    this.byName = new Map(regs.map((r) => [r.name, r]));
    for (const n of [...GPR_NAMES, 'eip', 'eflags', ...GDB_SEG_NAMES]) {
      if (!this.byName.has(n)) throw new SetupError(`QEMU's target description has no register '${n}'`);
    }
  }

  private async readXfer(annex: string): Promise<string> {
    let out = '';
    for (;;) {
      const r = await this.rsp.request(`qXfer:features:read:${annex}:${out.length.toString(16)},ffb`);
      if (r.startsWith('E') || r === '') throw new SetupError(`QEMU's gdbstub gave no target description (${annex}: ${r || 'empty'})`);
      out += r.slice(1);
      if (r[0] === 'l') return out;
    }
  }

  get registerLayout(): readonly RegDesc[] {
    return this.regs;
  }

  /** Read all registers (`g`) and pick out the compared ones. */
  async readCore(): Promise<CoreRegs> {
    const g = await this.rsp.request('g');
    if (g.startsWith('E')) throw new RspError(`'g' failed: ${g}`);
    const get = (name: string): number | null => {
      const r = this.byName.get(name);
      if (!r || (r.offset + 4) * 2 > g.length) return null;
      return fromHex(g.slice(r.offset * 2, r.offset * 2 + 8)).readUInt32LE(0);
    };
    return {
      gpr: GPR_NAMES.map((n) => get(n)!),
      eip: get('eip')!,
      eflags: get('eflags')!,
      sel: GDB_SEG_NAMES.map((n) => get(n)! & 0xffff),
      cr: ['cr0', 'cr2', 'cr3', 'cr4'].map(get),
      fsBase: get('fs_base'),
      gsBase: get('gs_base'),
    };
  }

  /** Write registers in the `g` layout (only the listed 32-bit ones change). */
  async writeRegs(values: Record<string, number>): Promise<void> {
    for (const [name, v] of Object.entries(values)) {
      const r = this.byName.get(name);
      if (!r) throw new SetupError(`no register '${name}'`);
      const regnum = this.regs.indexOf(r);
      const b = Buffer.alloc(r.bytes);
      b.writeUInt32LE(v >>> 0, 0);
      const rep = await this.rsp.request(`P${regnum.toString(16)}=${b.toString('hex')}`);
      if (rep !== 'OK') throw new RspError(`writing ${name} failed: ${rep}`);
    }
  }

  /** Parse `info registers`. */
  async readMonitorState(): Promise<MonitorState> {
    const t = await this.monitorText('info registers');
    const num = (re: RegExp, what: string): number => {
      const m = re.exec(t);
      if (!m) throw new SetupError(`cannot find ${what} in QEMU's 'info registers' output`);
      return parseInt(m[1], 16) >>> 0;
    };
    const seg = (name: string): SegState => {
      const m = new RegExp(`^${name}\\s*=([0-9a-f]{4}) ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})`, 'mi').exec(t);
      if (!m) throw new SetupError(`cannot find ${name} in QEMU's 'info registers' output`);
      return { sel: parseInt(m[1], 16), base: parseInt(m[2], 16) >>> 0, limit: parseInt(m[3], 16) >>> 0, flags: parseInt(m[4], 16) >>> 0 };
    };
    const table = (name: string): { base: number; limit: number } => {
      const m = new RegExp(`^${name}=\\s*([0-9a-f]+) ([0-9a-f]+)`, 'mi').exec(t);
      if (!m) throw new SetupError(`cannot find ${name} in QEMU's 'info registers' output`);
      return { base: parseInt(m[1], 16) >>> 0, limit: parseInt(m[2], 16) >>> 0 };
    };
    const dr: number[] = [];
    for (let i = 0; i < 8; i++) {
      const m = new RegExp(`\\bDR${i}=([0-9a-f]+)`, 'i').exec(t);
      dr.push(m ? parseInt(m[1], 16) >>> 0 : 0);
    }
    return {
      segs: SEG_ORDER.map(seg),
      ldtr: seg('LDT'),
      tr: seg('TR'),
      gdt: table('GDT'),
      idt: table('IDT'),
      cr: [num(/\bCR0=([0-9a-f]+)/i, 'CR0'), num(/\bCR2=([0-9a-f]+)/i, 'CR2'), num(/\bCR3=([0-9a-f]+)/i, 'CR3'), num(/\bCR4=([0-9a-f]+)/i, 'CR4')],
      dr,
      cpl: num(/\bCPL=(\d)/, 'CPL'),
      a20: num(/\bA20=(\d)/, 'A20'),
      halted: /\bHLT=1/.test(t),
      efer: /\bEFER=([0-9a-f]+)/i.test(t) ? num(/\bEFER=([0-9a-f]+)/i, 'EFER') : 0,
    };
  }

  /** `info registers` and friends, collecting the `O` output packets the stub sends. */
  async monitorText(cmd: string): Promise<string> {
    return this.rsp.monitorCommand(cmd);
  }

  /**
   * Make `m` packets read physical instead of linear addresses (QEMU's
   * `Qqemu.PhyMemMode`, QEMU 4.1+). Returns false when the stub does not know it.
   */
  async physicalMemoryMode(on: boolean): Promise<boolean> {
    const r = await this.rsp.request(`Qqemu.PhyMemMode:${on ? 1 : 0}`);
    return r === 'OK';
  }

  /** Read `len` bytes of memory (linear, or physical after `physicalMemoryMode(true)`); unreadable chunks read as 0 and are listed. */
  async readMemory(addr: number, len: number): Promise<{ data: Uint8Array; unreadable: [number, number][] }> {
    const data = new Uint8Array(len);
    const unreadable: [number, number][] = [];
    const packets: string[] = [];
    const spans: [number, number][] = [];
    for (let off = 0; off < len; off += this.chunk) {
      const n = Math.min(this.chunk, len - off);
      packets.push(`m${((addr + off) >>> 0).toString(16)},${n.toString(16)}`);
      spans.push([off, n]);
    }
    const replies = await this.rsp.pipeline(packets);
    replies.forEach((r, k) => {
      const [off, n] = spans[k];
      if (r.length === n * 2 && /^[0-9a-fA-F]*$/.test(r)) data.set(fromHex(r), off);
      else unreadable.push([addr + off, n]);
    });
    return { data, unreadable };
  }

  /** Write bytes to memory (linear, or physical in physical-memory mode). */
  async writeMemory(addr: number, data: Uint8Array): Promise<void> {
    const r = await this.rsp.request(`M${(addr >>> 0).toString(16)},${data.length.toString(16)}:${Buffer.from(data).toString('hex')}`);
    if (r !== 'OK') throw new RspError(`writing QEMU memory at ${addr.toString(16)} failed: ${r}`);
  }

  async setBreakpoint(linear: number): Promise<void> {
    const r = await this.rsp.request(`Z0,${(linear >>> 0).toString(16)},1`);
    if (r !== 'OK') throw new SetupError(`QEMU refused a breakpoint at ${linear.toString(16)}: ${r || 'unsupported'}`);
  }

  async clearBreakpoint(linear: number): Promise<void> {
    await this.rsp.request(`z0,${(linear >>> 0).toString(16)},1`);
  }

  /** Single-step; returns 'stopped', 'exited' (QEMU ended, e.g. isa-debug-exit) or 'timeout'. */
  async step(timeoutMs: number): Promise<'stopped' | 'exited' | 'timeout'> {
    return this.resume('s', timeoutMs);
  }

  async cont(timeoutMs: number): Promise<'stopped' | 'exited' | 'timeout'> {
    return this.resume('c', timeoutMs);
  }

  private async resume(cmd: string, timeoutMs: number): Promise<'stopped' | 'exited' | 'timeout'> {
    try {
      const { reply, interrupted } = await this.rsp.resume(cmd, timeoutMs);
      if (reply.startsWith('W') || reply.startsWith('X')) {
        await this.waitExit(2000);
        return 'exited';
      }
      return interrupted ? 'timeout' : 'stopped';
    } catch (e) {
      if (this.rsp.isClosed && (await this.waitExit(2000))) return 'exited';
      throw e;
    }
  }

  /** Wait up to `ms` for the process to end. */
  async waitExit(ms: number): Promise<boolean> {
    let t: NodeJS.Timeout | null = null;
    const timeout = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
    const r = await Promise.race([this.exited.then(() => true), timeout]);
    if (t) clearTimeout(t);
    return r;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Kill QEMU (idempotent) and wait for it to go. */
  async kill(): Promise<void> {
    this.rsp.close();
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.waitExit(5000);
    }
  }
}
