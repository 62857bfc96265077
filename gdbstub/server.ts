// The stub on a TCP port (127.0.0.1 unless told otherwise), one gdb at a time, and the
// machine's run loop while a stub is listening:
//   - stopped: a gdb holds the machine (or -S waits for the first one);
//   - running for gdb: a continue, in slices, reading Ctrl-C (0x03) between them;
//   - running free: nobody attached (-s without -S, or after gdb detached), in slices
//     until the guest ends or a gdb connects (which stops it).
// A gdb that disconnects without detaching leaves the machine stopped where it was; the
// next connection finds it there. `k` (kill) ends the run, as a guest exit does.

import { createServer, type Server, type Socket } from 'node:net';
import type { RunResult } from '../engine/machine.ts';
import { PacketReader, frame } from './packets.ts';
import { E_MALFORMED, GdbStub } from './stub.ts';
import { SIGINT, SIGTRAP, SLICE, type Stop } from './debugger.ts';

export interface GdbServerOptions {
  port: number;
  host?: string;
  /** Wait for gdb before running anything (-S). */
  startStopped: boolean;
  /** Running free stops at this icount (--max-instructions). */
  maxInstructions?: number;
  /** Called between slices of a free run (the CLI redraws the screen). */
  onSlice?: () => void;
  /** Where to say what happens (connections); default: nothing. */
  log?: (line: string) => void;
}

/** How the run ended: the guest's own end, or gdb's kill. */
export type ServerEnd = { kind: 'run'; result: RunResult } | { kind: 'killed' };

export class GdbServerError extends Error {}

type Mode = 'stopped' | 'gdb-run' | 'free';

export class GdbServer {
  private mode: Mode;
  private conn: Socket | null = null;
  private reader = new PacketReader();
  private ackMode = true;
  private lastSent = '';
  private interruptFlag = false;
  private queued: string[] = [];
  private ended = false;
  private resolveEnd!: (e: ServerEnd) => void;
  /** Resolves when the run is over (the guest ended while free or exited under gdb, or gdb killed it). */
  readonly finished: Promise<ServerEnd>;

  private constructor(
    readonly stub: GdbStub,
    private readonly server: Server,
    readonly port: number,
    private readonly opts: GdbServerOptions,
  ) {
    this.mode = opts.startStopped ? 'stopped' : 'free';
    this.finished = new Promise((r) => (this.resolveEnd = r));
    server.on('connection', (s) => this.onConnection(s));
    if (this.mode === 'free') setImmediate(() => this.freeSlice());
  }

  /** Listen; rejects with a one-line GdbServerError (port in use, bad port). */
  static listen(stub: GdbStub, opts: GdbServerOptions): Promise<GdbServer> {
    const host = opts.host ?? '127.0.0.1';
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      return Promise.reject(new GdbServerError(`gdb port ${opts.port} is not a TCP port (0-65535)`));
    }
    return new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EADDRINUSE' ? 'is already in use' : e.code === 'EACCES' ? 'needs privileges' : (e.code ?? e.message);
        reject(new GdbServerError(`cannot listen for gdb on ${host}:${opts.port}: the port ${why}`));
      });
      srv.listen(opts.port, host, () => {
        srv.removeAllListeners('error');
        const a = srv.address();
        const port = typeof a === 'object' && a ? a.port : opts.port;
        resolve(new GdbServer(stub, srv, port, opts));
      });
    });
  }

  /** Stop listening and drop the connection (the machine stays as it is). */
  close(): Promise<void> {
    this.ended = true;
    this.conn?.destroy();
    this.conn = null;
    return new Promise((r) => this.server.close(() => r()));
  }

  private log(s: string): void {
    this.opts.log?.(s);
  }

  private end(e: ServerEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveEnd(e);
  }

  // ---- connection ----

  private onConnection(s: Socket): void {
    if (this.conn !== null || this.ended) {
      s.end();
      return;
    }
    this.conn = s;
    this.reader = new PacketReader();
    this.ackMode = true;
    this.queued = [];
    this.stub.connected();
    s.setNoDelay(true);
    s.setEncoding('latin1');
    this.log(`gdb connected from ${s.remoteAddress}:${s.remotePort}`);
    if (this.mode === 'free') {
      // A gdb attaching stops the machine (after the current slice).
      this.mode = 'stopped';
      this.stub.lastStop = { kind: 'signal', signal: SIGTRAP };
    }
    s.on('data', (d: string) => this.onData(d));
    const gone = (): void => {
      if (this.conn !== s) return;
      this.conn = null;
      this.log('gdb disconnected; the machine waits for the next connection');
      if (this.mode === 'gdb-run') this.interruptFlag = true;
    };
    s.on('close', gone);
    s.on('error', gone);
  }

  private send(data: string): void {
    if (this.conn === null) return;
    const f = frame(data);
    this.lastSent = f;
    this.conn.write(f);
  }

  private onData(d: string): void {
    for (const ev of this.reader.feed(d)) {
      switch (ev.kind) {
        case 'interrupt':
          if (this.mode === 'gdb-run') this.interruptFlag = true;
          else if (this.mode === 'stopped' && this.queued.length === 0) this.sendAll(this.stub.stopReplies({ kind: 'signal', signal: SIGINT }));
          break;
        case 'nack':
          if (this.ackMode && this.lastSent !== '') this.conn?.write(this.lastSent);
          break;
        case 'ack':
          break;
        case 'bad-checksum':
          if (this.ackMode) this.conn?.write('-');
          break;
        case 'too-long':
          if (this.ackMode) this.conn?.write('+');
          this.send(E_MALFORMED);
          break;
        case 'packet':
          if (this.ackMode) this.conn?.write('+');
          if (this.mode === 'gdb-run') this.queued.push(ev.data);
          else this.packet(ev.data);
          break;
      }
    }
  }

  private sendAll(replies: string[]): void {
    for (const r of replies) this.send(r);
  }

  private packet(data: string): void {
    const h = this.stub.handle(data);
    this.sendAll(h.replies);
    if (h.noAck) this.ackMode = false;
    if (h.kill) {
      this.log('gdb killed the machine');
      this.conn?.end();
      this.end({ kind: 'killed' });
      return;
    }
    if (h.detach) {
      this.stub.debugger.detach();
      this.log('gdb detached; the machine runs on');
      this.conn?.end();
      this.conn = null;
      this.mode = 'free';
      setImmediate(() => this.freeSlice());
      return;
    }
    if (h.run) this.startRun(h.run);
  }

  private startRun(run: NonNullable<ReturnType<GdbStub['handle']>['run']>): void {
    this.interruptFlag = false;
    this.mode = 'gdb-run';
    const r = run(() => this.interruptFlag);
    if (!isGenerator(r)) {
      this.finishRun(r);
      return;
    }
    const tick = (): void => {
      let n;
      try {
        n = r.next();
      } catch (e) {
        this.mode = 'stopped';
        throw e;
      }
      if (n.done) this.finishRun(n.value);
      else setImmediate(tick);
    };
    tick();
  }

  private finishRun(s: Stop): void {
    this.mode = 'stopped';
    this.sendAll(this.stub.stopReplies(s));
    if (s.kind === 'exited') {
      // As under QEMU, the guest's exit ends the run.
      this.conn?.end();
      const m = this.stub.session.machine;
      this.end({ kind: 'run', result: { reason: 'exit', icount: m.icount, exitCode: m.exitCode ?? s.code } });
      return;
    }
    // Packets that arrived while running (there should be none in all-stop mode).
    while (this.queued.length > 0 && this.mode === 'stopped') this.packet(this.queued.shift()!);
  }

  // ---- running free ----

  private freeSlice(): void {
    if (this.mode !== 'free' || this.ended) return;
    const session = this.stub.session;
    const m = session.machine;
    const max = this.opts.maxInstructions ?? Infinity;
    const limit = Math.min(max, m.icount + SLICE);
    const r = session.run(limit);
    this.opts.onSlice?.();
    if (r.reason !== 'deadline' || m.icount >= max) {
      this.end({ kind: 'run', result: r });
      return;
    }
    setImmediate(() => this.freeSlice());
  }
}

function isGenerator(x: unknown): x is Generator<void, Stop> {
  return typeof x === 'object' && x !== null && typeof (x as Generator).next === 'function';
}
