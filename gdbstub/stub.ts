// The protocol side of the stub (GDB manual, appendix E): one packet in, its replies out,
// or a run that ends with a stop reply. It knows nothing of sockets (server.ts carries the
// bytes), so tests can drive it packet by packet.
//
// Offered (qSupported): PacketSize, qXfer:features:read (target.xml, see registers.ts),
// QStartNoAckMode, swbreak/hwbreak stop reasons, vContSupported (c, C, s, S, r),
// ReverseStep, ReverseContinue. One thread (id 1), the CPU. Signals given with C/S are
// ignored (the machine has no signals). Unknown packets get the empty reply; malformed ones
// get an error reply (E01 malformed, E0e memory not mapped, E16 invalid argument).

import { Debugger, SIGTRAP, type Stop } from './debugger.ts';
import type { DebugDevices, DebugSession } from './target.ts';
import { DEBUGGER_SOURCE, acceptDebuggerInput, applyAhead, type DebuggerInput } from './inputs.ts';
import { MAX_PACKET, bytesOfHex, hexOfBytes, hexOfText, parseHex32, textOfHex, unescapeBinary } from './packets.ts';
import { REGS, checkRegisterWrite, readAllRegisters, readRegister, registerBytes, targetXml } from './registers.ts';
import { physicalSpans, readMemory } from './memory.ts';
import { monitorCommand, type MonitorContext } from './monitor.ts';

export const E_MALFORMED = 'E01';
export const E_FAULT = 'E0e';
export const E_INVALID = 'E16';

export interface StubOptions {
  devices?: DebugDevices;
  /** `monitor fault RULE`: inject by a fault-plan rule (null: not available). */
  fault?: ((rule: string) => string) | null;
}

/** What handling one packet asks of the connection. */
export interface Handled {
  /** Reply packets, in order (empty for packets that get none, like k). */
  replies: string[];
  /** Resume: run this (between yields the connection reads Ctrl-C), then send its stop reply. */
  run?: (interrupted: () => boolean) => Generator<void, Stop> | Stop;
  /** Switch acknowledgements off after sending the replies. */
  noAck?: boolean;
  detach?: boolean;
  kill?: boolean;
}

const SUPPORTED = [
  `PacketSize=${MAX_PACKET.toString(16)}`,
  'qXfer:features:read+',
  'QStartNoAckMode+',
  'swbreak+',
  'hwbreak+',
  'vContSupported+',
  'ReverseStep+',
  'ReverseContinue+',
].join(';');

export class GdbStub {
  readonly debugger: Debugger;
  readonly monitor: MonitorContext;
  /** The last stop, for `?`. */
  lastStop: Stop = { kind: 'signal', signal: SIGTRAP };
  /** gdb said it understands swbreak/hwbreak stop reasons. */
  private swbreak = false;
  private hwbreak = false;

  constructor(
    readonly session: DebugSession,
    opts: StubOptions = {},
  ) {
    this.debugger = new Debugger(session);
    acceptDebuggerInput(session.machine);
    this.monitor = { session, debugger: this.debugger, devices: opts.devices ?? null, physical: false, fault: opts.fault ?? null };
  }

  /** A new connection: gdb's feature choices start over. */
  connected(): void {
    this.swbreak = this.hwbreak = false;
  }

  /** The replies that report a stop: console text first, then the stop reply. */
  stopReplies(s: Stop): string[] {
    this.lastStop = s;
    const out: string[] = [];
    if ((s.kind === 'signal' || s.kind === 'exited') && s.message) out.push('O' + hexOfText(s.message + '\n'));
    out.push(this.stopPacket(s));
    return out;
  }

  private stopPacket(s: Stop): string {
    const t = 'thread:01;';
    switch (s.kind) {
      case 'step':
        return `T05${t}`;
      case 'signal':
        return `T${s.signal.toString(16).padStart(2, '0')}${t}`;
      case 'break':
        return `T05${t}${s.hw ? (this.hwbreak ? 'hwbreak:;' : '') : this.swbreak ? 'swbreak:;' : ''}`;
      case 'watch':
        return `T05${t}${s.type}:${s.addr.toString(16)};`;
      case 'replaylog':
        return `T05${t}replaylog:${s.end};`;
      case 'exited':
        return `W${s.code.toString(16).padStart(2, '0')}`;
    }
  }

  /** Handle one packet's data (the text between $ and #). */
  handle(data: string): Handled {
    try {
      return this.dispatch(data);
    } catch (e) {
      // A packet the checks above missed must not take the stub down.
      if (e && typeof e === 'object' && 'cpuFault' in e) return { replies: [E_INVALID] };
      return { replies: [E_MALFORMED] };
    }
  }

  private reply(...r: string[]): Handled {
    return { replies: r };
  }

  private dispatch(p: string): Handled {
    const m = this.session.machine;
    const c = p[0];
    switch (c) {
      case '?':
        return { replies: [this.stopPacket(this.lastStop)] };
      case 'g':
        return p === 'g' ? this.reply(readAllRegisters(m)) : this.reply(E_MALFORMED);
      case 'G':
        return this.writeAllRegisters(p.slice(1));
      case 'p': {
        const n = parseHex32(p.slice(1));
        if (n === null) return this.reply(E_MALFORMED);
        const v = readRegister(m, n);
        return this.reply(v ?? E_INVALID);
      }
      case 'P': {
        const mm = /^P([0-9a-fA-F]+)=([0-9a-fA-F]*)$/.exec(p);
        if (!mm) return this.reply(E_MALFORMED);
        const n = parseHex32(mm[1]);
        const bytes = bytesOfHex(mm[2]);
        if (n === null || bytes === null) return this.reply(E_MALFORMED);
        return this.reply(this.writeRegister(n, bytes));
      }
      case 'm':
        return this.readMem(p);
      case 'M':
      case 'X':
        return this.writeMem(p);
      case 'Z':
      case 'z':
        return this.breakpoint(p);
      case 'c':
      case 's':
      case 'C':
      case 'S':
        return this.resumeLegacy(p);
      case 'v':
        return this.vPacket(p);
      case 'b':
        if (p === 'bs') return { replies: [], run: () => this.debugger.reverseStep() };
        if (p === 'bc') return { replies: [], run: (i) => this.debugger.reverseContinue(i) };
        return this.reply('');
      case 'H':
        return this.reply(/^H[gcm](-1|0|1|p[0-9a-fA-F.-]+)?$/.test(p) ? 'OK' : E_MALFORMED);
      case 'T':
        return this.reply(/^T(0*1|p0*1\.0*1|-1)$/.test(p) ? 'OK' : 'E01');
      case 'D':
        return { replies: ['OK'], detach: true };
      case 'k':
        return { replies: [], kill: true };
      case 'q':
      case 'Q':
        return this.query(p);
      default:
        return this.reply('');
    }
  }

  private query(p: string): Handled {
    if (p.startsWith('qSupported')) {
      const feats = p.slice('qSupported:'.length).split(';');
      this.swbreak = feats.includes('swbreak+');
      this.hwbreak = feats.includes('hwbreak+');
      return this.reply(SUPPORTED);
    }
    if (p === 'QStartNoAckMode') return { replies: ['OK'], noAck: true };
    if (p.startsWith('qXfer:features:read:')) {
      const mm = /^qXfer:features:read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
      if (!mm) return this.reply(E_MALFORMED);
      if (mm[1] !== 'target.xml') return this.reply('E00');
      const off = parseHex32(mm[2]);
      const len = parseHex32(mm[3]);
      if (off === null || len === null) return this.reply(E_MALFORMED);
      const doc = targetXml(!this.session.machine.cpu.pe);
      if (off > doc.length) return this.reply(E_INVALID);
      const part = doc.slice(off, off + Math.min(len, MAX_PACKET - 16));
      return this.reply((off + part.length >= doc.length ? 'l' : 'm') + part);
    }
    if (p.startsWith('qXfer:')) return this.reply('');
    if (p === 'qC') return this.reply('QC1');
    if (p === 'qfThreadInfo') return this.reply('m1');
    if (p === 'qsThreadInfo') return this.reply('l');
    if (p === 'qAttached' || p.startsWith('qAttached:')) return this.reply('1');
    if (p.startsWith('qThreadExtraInfo,')) return this.reply(hexOfText(`CPU#0 [icount ${this.session.machine.icount}]`));
    if (p.startsWith('qSymbol')) return this.reply('OK');
    if (p.startsWith('qRcmd,')) {
      const cmd = textOfHex(p.slice(6));
      if (cmd === null) return this.reply(E_MALFORMED);
      const out = monitorCommand(this.monitor, cmd);
      const replies: string[] = [];
      // Output in pieces that fit a packet.
      for (let i = 0; i < out.length; i += 1024) replies.push('O' + hexOfText(out.slice(i, i + 1024)));
      replies.push('OK');
      return { replies };
    }
    return this.reply('');
  }

  private vPacket(p: string): Handled {
    if (p === 'vCont?') return this.reply('vCont;c;C;s;S;r');
    if (p.startsWith('vCont;')) return this.vCont(p.slice(6));
    if (p.startsWith('vKill')) return { replies: ['OK'], kill: true };
    return this.reply('');
  }

  /** vCont: the first action that applies to thread 1 (or to every thread). */
  private vCont(actions: string): Handled {
    for (const a of actions.split(';')) {
      const [act, tid] = a.split(':');
      if (tid !== undefined && !/^(-1|0*1|p0*1\.(0*1|-1)|p-1(\.-1)?)$/.test(tid)) continue;
      const mm = /^([cCsS])([0-9a-fA-F]{2})?$/.exec(act) ?? /^(r)([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(act);
      if (!mm) return this.reply(E_MALFORMED);
      switch (mm[1]) {
        case 'c':
        case 'C':
          return { replies: [], run: (i) => this.debugger.continueForward(i) };
        case 's':
        case 'S':
          return { replies: [], run: () => this.debugger.step() };
        default: {
          const start = parseHex32(mm[2]);
          const end = parseHex32(mm[3]);
          if (start === null || end === null) return this.reply(E_MALFORMED);
          return { replies: [], run: (i) => this.debugger.rangeStep(start, end, i) };
        }
      }
    }
    return this.reply(E_MALFORMED);
  }

  /** c [addr], s [addr], C sig[;addr], S sig[;addr]. */
  private resumeLegacy(p: string): Handled {
    const mm = /^([cs])([0-9a-fA-F]*)$/.exec(p) ?? /^([CS])[0-9a-fA-F]{2}(?:;([0-9a-fA-F]+))?$/.exec(p);
    if (!mm) return this.reply(E_MALFORMED);
    if (mm[2]) {
      const addr = parseHex32(mm[2]);
      if (addr === null) return this.reply(E_MALFORMED);
      const r = this.writeRegister(8, Uint8Array.of(addr & 0xff, (addr >>> 8) & 0xff, (addr >>> 16) & 0xff, addr >>> 24));
      if (r !== 'OK') return this.reply(r);
    }
    if (mm[1].toLowerCase() === 's') return { replies: [], run: () => this.debugger.step() };
    return { replies: [], run: (i) => this.debugger.continueForward(i) };
  }

  /** Push a debugger input through the session (it is recorded) and apply it now. */
  private input(payload: DebuggerInput): void {
    const s = this.session;
    s.push(DEBUGGER_SOURCE, payload as unknown as Record<string, unknown>);
    applyAhead(s.machine, payload);
  }

  private writeRegister(n: number, bytes: Uint8Array): string {
    const err = checkRegisterWrite(this.session.machine, n, bytes);
    if (err !== null) return n >= REGS.length ? E_INVALID : E_INVALID;
    this.input({ op: 'reg', n, hex: hexOfBytes(bytes) });
    return 'OK';
  }

  private writeAllRegisters(hex: string): Handled {
    const bytes = bytesOfHex(hex);
    if (bytes === null) return this.reply(E_MALFORMED);
    let total = 0;
    for (let n = 0; n < REGS.length; n++) total += registerBytes(n);
    if (bytes.length !== total) return this.reply(E_INVALID);
    // Only registers that change are written (a G usually rewrites most with their own value).
    const now = bytesOfHex(readAllRegisters(this.session.machine))!;
    let at = 0;
    for (let n = 0; n < REGS.length; n++) {
      const k = registerBytes(n);
      const part = bytes.subarray(at, at + k);
      at += k;
      if (part.every((b, i) => b === now[at - k + i])) continue;
      const r = this.writeRegister(n, part);
      if (r !== 'OK') return this.reply(r);
    }
    return this.reply('OK');
  }

  private readMem(p: string): Handled {
    const mm = /^m([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
    if (!mm) return this.reply(E_MALFORMED);
    const addr = parseHex32(mm[1]);
    const len = parseHex32(mm[2]);
    if (addr === null || len === null) return this.reply(E_MALFORMED);
    if (len === 0) return this.reply('');
    const n = Math.min(len, (MAX_PACKET - 8) >> 1);
    const bytes = readMemory(this.session.machine, this.monitor.devices, addr, n, this.monitor.physical);
    if (bytes === null) return this.reply(E_FAULT);
    return this.reply(hexOfBytes(bytes));
  }

  private writeMem(p: string): Handled {
    const colon = p.indexOf(':');
    if (colon < 0) return this.reply(E_MALFORMED);
    const mm = /^[MX]([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p.slice(0, colon));
    if (!mm) return this.reply(E_MALFORMED);
    const addr = parseHex32(mm[1]);
    const len = parseHex32(mm[2]);
    if (addr === null || len === null) return this.reply(E_MALFORMED);
    let bytes: Uint8Array | null;
    if (p[0] === 'M') bytes = bytesOfHex(p.slice(colon + 1));
    else bytes = Uint8Array.from(Buffer.from(unescapeBinary(p.slice(colon + 1)), 'latin1'));
    if (bytes === null || bytes.length !== len) return this.reply(E_MALFORMED);
    if (len === 0) return this.reply('OK');
    const physical = this.monitor.physical;
    if (physicalSpans(this.session.machine, addr, len, physical) === null) return this.reply(E_FAULT);
    this.input({ op: 'mem', addr, physical, hex: hexOfBytes(bytes) });
    return this.reply('OK');
  }

  private breakpoint(p: string): Handled {
    const mm = /^([Zz])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)(;.*)?$/.exec(p);
    if (!mm) return this.reply(E_MALFORMED);
    const insert = mm[1] === 'Z';
    const type = Number(mm[2]) as 0 | 1 | 2 | 3 | 4;
    const addr = parseHex32(mm[3]);
    const kind = parseHex32(mm[4]);
    if (addr === null || kind === null) return this.reply(E_MALFORMED);
    const d = this.debugger;
    if (type === 0 || type === 1) {
      if (insert) d.insertBreak(type, addr);
      else d.removeBreak(type, addr);
      return this.reply('OK');
    }
    if (kind === 0 || kind > 0x10000) return this.reply(E_INVALID);
    if (insert) d.insertWatch(type, addr, kind);
    else d.removeWatch(type, addr, kind);
    return this.reply('OK');
  }
}
