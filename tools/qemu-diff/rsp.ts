// A small client for the GDB Remote Serial Protocol, as QEMU's gdbstub speaks it
// (GDB manual, appendix E "Remote Protocol"): packets `$data#cs` with a two-digit hex
// checksum, `+`/`-` acknowledgements (switched off with QStartNoAckMode once the stub
// agrees), `}` escapes and `*` run-length encoding in replies, and the raw 0x03 byte that
// interrupts a running target.
//
// One request is answered by one reply, in order, so requests can be pipelined while the
// target is stopped (memory reads use that). While the target runs (after `s` or `c`) QEMU
// ignores everything but 0x03; the next packet it sends is the stop reply.

import { Socket, connect } from 'node:net';

/** A protocol-level failure (bad checksum, connection closed, timeout). */
export class RspError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RspError';
  }
}

interface Waiter {
  /** Console output (`O` packets) before the final reply is collected here when set. */
  console?: string[];
  resolve: (reply: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

function checksum(s: string): string {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum = (sum + s.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Escape the four characters the protocol reserves inside packet data. */
function escapeData(s: string): string {
  return s.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}

/** Undo `}` escapes and `*` run-length encoding in received packet data. */
export function unescapeData(raw: string): string {
  if (raw.indexOf('}') < 0 && raw.indexOf('*') < 0) return raw;
  const out: string[] = [];
  let last = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '}') {
      last = String.fromCharCode(raw.charCodeAt(++i) ^ 0x20);
      out.push(last);
    } else if (c === '*') {
      const n = raw.charCodeAt(++i) - 29;
      out.push(last.repeat(n));
    } else {
      last = c;
      out.push(c);
    }
  }
  return out.join('');
}

export function toHex(s: string): string {
  return Buffer.from(s, 'latin1').toString('hex');
}

export function fromHex(h: string): Buffer {
  return Buffer.from(h, 'hex');
}

/** Log every packet to stderr when QEMU_DIFF_TRACE is set (protocol debugging). */
const TRACE = Boolean(process.env.QEMU_DIFF_TRACE);

export class RspClient {
  private buf = '';
  private readonly waiters: Waiter[] = [];
  private ackMode = true;
  private closed = false;
  private closeReason = 'connection closed';
  /** Called when the connection ends (the stub process exited or dropped it). */
  onClose: (() => void) | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => this.onData(d));
    const end = (why: string): void => {
      if (this.closed) return;
      this.closed = true;
      this.closeReason = why;
      for (const w of this.waiters.splice(0)) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(new RspError(why));
      }
      this.onClose?.();
    };
    sock.on('close', () => end('the gdbstub closed the connection'));
    sock.on('error', (e) => end(`gdbstub connection error: ${e.message}`));
  }

  /** Connect to host:port, retrying while nothing listens yet, for at most `timeoutMs`. */
  static async connect(host: string, port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<RspClient> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect({ host, port });
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', (e) => {
            s.destroy();
            reject(e);
          });
        });
        return new RspClient(sock);
      } catch (e) {
        if (!alive()) throw new RspError('the gdbstub process exited before accepting a connection');
        if (Date.now() > until) throw new RspError(`cannot connect to the gdbstub at ${host}:${port}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      // Skip acknowledgements and noise up to the next packet start.
      const start = this.buf.indexOf('$');
      if (start < 0) {
        this.buf = '';
        return;
      }
      if (start > 0) this.buf = this.buf.slice(start);
      const hash = this.buf.indexOf('#');
      if (hash < 0 || this.buf.length < hash + 3) return;
      const data = this.buf.slice(1, hash);
      const sum = this.buf.slice(hash + 1, hash + 3);
      this.buf = this.buf.slice(hash + 3);
      if (checksum(data).toLowerCase() !== sum.toLowerCase()) {
        if (this.ackMode) this.sock.write('-');
        continue;
      }
      if (this.ackMode) this.sock.write('+');
      if (TRACE) process.stderr.write(`<- ${data.slice(0, 120)}\n`);
      const w = this.waiters[0];
      if (!w) continue; // unsolicited (e.g. a late stop reply); nobody asked
      const text = unescapeData(data);
      if (w.console && text.startsWith('O') && text !== 'OK') {
        w.console.push(text.slice(1));
        continue;
      }
      this.waiters.shift();
      if (w.timer) clearTimeout(w.timer);
      w.resolve(text);
    }
  }

  private expectReply(timeoutMs: number, what: string, console?: string[]): Promise<string> {
    if (this.closed) return Promise.reject(new RspError(this.closeReason));
    return new Promise<string>((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: null, console };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new RspError(`no reply to '${what}' within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  private writePacket(data: string): void {
    if (TRACE) process.stderr.write(`-> ${data.slice(0, 120)}\n`);
    const e = escapeData(data);
    this.sock.write(`$${e}#${checksum(e)}`);
  }

  /** Send one packet and wait for its reply. `timeoutMs` 0 waits forever. */
  request(data: string, timeoutMs = 10_000): Promise<string> {
    const p = this.expectReply(timeoutMs, data.slice(0, 24));
    this.writePacket(data);
    return p;
  }

  /** A monitor command (`qRcmd`): the stub answers with `O<hex>` output packets, then `OK`. */
  async monitorCommand(cmd: string, timeoutMs = 10_000): Promise<string> {
    const out: string[] = [];
    const p = this.expectReply(timeoutMs, `qRcmd ${cmd}`, out);
    this.writePacket(`qRcmd,${toHex(cmd)}`);
    const r = await p;
    if (r !== 'OK' && r !== '') throw new RspError(`monitor command '${cmd}' failed: ${r}`);
    return out.map((h) => fromHex(h).toString('latin1')).join('');
  }

  /**
   * Send several packets and collect the replies in order (target stopped only). Packets go
   * out in batches of `batch`, each batch in one write, so the stub answers a batch in one go.
   */
  async pipeline(packets: string[], batch = 16, timeoutMs = 10_000): Promise<string[]> {
    const out: string[] = [];
    for (let k = 0; k < packets.length; k += batch) {
      const group = packets.slice(k, k + batch);
      const replies = group.map((p) => this.expectReply(timeoutMs, p.slice(0, 24)));
      this.sock.write(group.map((p) => {
        const e = escapeData(p);
        return `$${e}#${checksum(e)}`;
      }).join(''));
      out.push(...(await Promise.all(replies)));
    }
    return out;
  }

  /** Resume (`s`, `c`) and wait for the stop reply; on timeout interrupt the target. */
  async resume(cmd: string, timeoutMs: number): Promise<{ reply: string; interrupted: boolean }> {
    const p = this.expectReply(0, cmd);
    this.writePacket(cmd);
    let timer: NodeJS.Timeout | null = null;
    let deadTimer: NodeJS.Timeout | null = null;
    let interrupted = false;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        interrupted = true;
        if (!this.closed) this.sock.write('\x03');
        // A stub that does not stop even when interrupted is given up on.
        deadTimer = setTimeout(() => this.fail(`the gdbstub did not stop within 5 s of an interrupt after '${cmd}'`), 5000);
      }, timeoutMs);
    }
    try {
      const reply = await p;
      return { reply, interrupted };
    } finally {
      if (timer) clearTimeout(timer);
      if (deadTimer) clearTimeout(deadTimer);
    }
  }

  /** Ask the stub to stop sending and expecting acknowledgements, if it can. */
  async noAck(): Promise<void> {
    const r = await this.request('QStartNoAckMode');
    if (r === 'OK') this.ackMode = false;
  }

  /** Reject every pending request and drop the connection. */
  private fail(why: string): void {
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new RspError(why));
    }
    this.closeReason = why;
    this.close();
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
