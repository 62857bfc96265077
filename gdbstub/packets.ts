// GDB Remote Serial Protocol framing (GDB manual, appendix E "Remote Protocol", "Overview"):
// packets `$data#cs` with a two-digit hex checksum of the data bytes, `+`/`-`
// acknowledgements (until QStartNoAckMode), the raw 0x03 byte that interrupts a running
// target, and the `}` escape (byte XOR 0x20) that binary data and replies use.
//
// Bytes are carried in JavaScript strings one char per byte (latin1).

export type RspEvent =
  | { kind: 'packet'; data: string }
  /** A packet whose checksum did not match (answered with '-' in ack mode). */
  | { kind: 'bad-checksum' }
  /** A packet longer than the reader accepts (dropped; answered with an error). */
  | { kind: 'too-long' }
  | { kind: 'interrupt' }
  | { kind: 'ack' }
  | { kind: 'nack' };

/** Largest packet the stub accepts (offered as PacketSize). */
export const MAX_PACKET = 0x4000;

const enum St {
  IDLE,
  DATA,
  SUM1,
  SUM2,
}

export function checksum(data: string): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s = (s + data.charCodeAt(i)) & 0xff;
  return s;
}

/** Incremental packet reader: feed it bytes as they arrive, get whole events back. */
export class PacketReader {
  private st = St.IDLE;
  private data: string[] = [];
  private size = 0;
  private sum1 = '';
  private overflow = false;

  feed(chunk: string): RspEvent[] {
    const out: RspEvent[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      switch (this.st) {
        case St.IDLE:
          if (c === '$') {
            this.st = St.DATA;
            this.data = [];
            this.size = 0;
            this.overflow = false;
          } else if (c === '\x03') out.push({ kind: 'interrupt' });
          else if (c === '+') out.push({ kind: 'ack' });
          else if (c === '-') out.push({ kind: 'nack' });
          // anything else between packets is line noise
          break;
        case St.DATA:
          if (c === '#') this.st = St.SUM1;
          else if (c === '$') {
            // a new packet start inside a packet: the old one was cut off
            this.data = [];
            this.size = 0;
            this.overflow = false;
          } else if (this.size < MAX_PACKET) {
            this.data.push(c);
            this.size++;
          } else this.overflow = true;
          break;
        case St.SUM1:
          this.sum1 = c;
          this.st = St.SUM2;
          break;
        case St.SUM2: {
          this.st = St.IDLE;
          const text = this.data.join('');
          this.data = [];
          if (this.overflow) {
            out.push({ kind: 'too-long' });
            break;
          }
          const want = parseInt(this.sum1 + c, 16);
          if (!/^[0-9a-fA-F]{2}$/.test(this.sum1 + c) || want !== checksum(text)) out.push({ kind: 'bad-checksum' });
          else out.push({ kind: 'packet', data: text });
          break;
        }
      }
    }
    return out;
  }
}

/** Escape the bytes the protocol reserves inside packet data ($ # } *). */
export function escapeBinary(s: string): string {
  return s.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}

/** Undo `}` escapes (binary data of X packets). */
export function unescapeBinary(s: string): string {
  if (s.indexOf('}') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '}' && i + 1 < s.length) out += String.fromCharCode(s.charCodeAt(++i) ^ 0x20);
    else out += s[i];
  }
  return out;
}

/** A whole packet on the wire for `data` (escaped). */
export function frame(data: string): string {
  const e = escapeBinary(data);
  return `$${e}#${checksum(e).toString(16).padStart(2, '0')}`;
}

export function hexOfBytes(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}

/** Bytes of an even-length hex string, or null when it is not one. */
export function bytesOfHex(h: string): Uint8Array | null {
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) return null;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

export function hexOfText(s: string): string {
  return hexOfBytes(Buffer.from(s, 'utf8'));
}

export function textOfHex(h: string): string | null {
  const b = bytesOfHex(h);
  return b === null ? null : Buffer.from(b).toString('utf8');
}

/** A hex number of at most 8 digits (an address, a length), or null. */
export function parseHex32(s: string): number | null {
  if (!/^[0-9a-fA-F]{1,8}$/.test(s)) {
    // gdb may send leading zeros beyond 8 digits; accept them if the value fits
    if (!/^0*[0-9a-fA-F]{1,8}$/.test(s)) return null;
  }
  return parseInt(s, 16) >>> 0;
}

/** `n` as little-endian hex of `bytes` bytes. */
export function leHex(n: number, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++) s += ((n >>> (8 * i)) & 0xff).toString(16).padStart(2, '0');
  return s;
}
