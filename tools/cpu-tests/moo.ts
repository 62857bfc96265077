// Reader for MOO ("Machine Opcode Operation") files: the chunked binary format of the
// SingleStepTests CPU suites (github.com/dbalsom/moo, doc/moo_format_v1.md, version 1.1).
//
// Every chunk is a 4-byte ASCII tag, a u32 little-endian payload length, then the payload.
// A file is a `MOO ` header chunk followed by top-level chunks (`META`, `TEST`, ...); a
// `TEST` payload is a u32 index followed by subchunks (`NAME`, `BYTS`, `INIT`, `FINA`,
// `EXCP`, `HASH`, ...), and `INIT`/`FINA` hold `REGS`, `RMSK`, `RAM `, `QUEU`. Unknown chunks
// are skipped by their length, as the format asks. Only the 16-bit register file (`REGS`) is
// decoded: 32-bit (`RG32`/`RM32`/`EA32`, 386 suites) and bus-cycle (`CYCL`) chunks are
// skipped.
//
// A malformed file throws MooFormatError, whose message is one line naming the file.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Register order of the `REGS` bitmask, least significant bit first. */
export const MOO_REG_NAMES = ['ax', 'bx', 'cx', 'dx', 'cs', 'ss', 'ds', 'es', 'sp', 'bp', 'si', 'di', 'ip', 'flags'] as const;
export type MooRegName = (typeof MOO_REG_NAMES)[number];
/** Registers present in a `REGS` (or `RMSK`) chunk; a final state lists only changed ones. */
export type MooRegs = Partial<Record<MooRegName, number>>;

export interface MooState {
  regs: MooRegs;
  /** Per-test masks of defined register bits (`RMSK`), when the file gives them. */
  regMasks?: MooRegs;
  /** [physical address, byte] pairs. */
  ram: [number, number][];
  queue: number[];
}

export interface MooException {
  /** Exception or interrupt vector. */
  number: number;
  /** Physical address of the FLAGS word the exception pushed. */
  flagAddress: number;
}

export interface MooTest {
  idx: number;
  name: string;
  bytes: number[];
  initial: MooState;
  final: MooState;
  exception?: MooException;
  /** SHA-1 of the upstream test chunk, lower-case hex (the revocation list's key). */
  hash: string;
}

export interface MooMeta {
  majorVersion: number;
  minorVersion: number;
  cpuType: number;
  opcode: number;
  mnemonic: string;
  testCount: number;
  cpuMode: number;
}

export interface MooFile {
  file: string;
  majorVersion: number;
  minorVersion: number;
  /** Four-character CPU id from the header, e.g. `C286`. */
  cpu: string;
  meta?: MooMeta;
  /** File-wide masks of defined register bits (top-level `RMSK`). */
  regMasks?: MooRegs;
  tests: MooTest[];
}

export class MooFormatError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = 'MooFormatError';
  }
}

const CHUNK_HEADER = 8;

function tagAt(data: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 4 && off + i < data.length; i++) {
    const c = data[off + i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

interface Chunk {
  tag: string;
  /** Offset of the payload in the file. */
  start: number;
  end: number;
}

/** Cursor over one region of the file; every read is bounds-checked. */
class Reader {
  constructor(
    readonly file: string,
    private readonly data: Uint8Array,
    private readonly view: DataView,
    public pos: number,
    private readonly end: number,
    private readonly what: string,
  ) {}

  private need(n: number, field: string): void {
    if (this.pos + n > this.end) {
      throw new MooFormatError(this.file, `truncated ${this.what}: ${field} at offset ${this.pos} needs ${n} bytes, ${Math.max(0, this.end - this.pos)} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.data[this.pos++];
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const b = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  ascii(n: number, field: string): string {
    return String.fromCharCode(...this.bytes(n, field));
  }

  get left(): number {
    return this.end - this.pos;
  }

  /** Next chunk header; its payload must fit inside this reader's region. */
  chunk(): Chunk {
    if (this.left < CHUNK_HEADER) {
      throw new MooFormatError(this.file, `truncated ${this.what}: chunk header at offset ${this.pos} needs 8 bytes, ${this.left} left`);
    }
    const tag = tagAt(this.data, this.pos);
    const len = this.view.getUint32(this.pos + 4, true);
    const start = this.pos + CHUNK_HEADER;
    if (start + len > this.end) {
      throw new MooFormatError(this.file, `truncated ${this.what}: chunk '${tag}' at offset ${this.pos} claims ${len} bytes, ${this.end - start} left`);
    }
    this.pos = start + len;
    return { tag, start, end: start + len };
  }

  sub(c: Chunk, what: string): Reader {
    return new Reader(this.file, this.data, this.view, c.start, c.end, what);
  }
}

function readRegs(r: Reader, tag: string): MooRegs {
  const mask = r.u16(`${tag} bitmask`);
  if (mask >> MOO_REG_NAMES.length) throw new MooFormatError(r.file, `${tag} bitmask 0x${mask.toString(16)} names unknown registers`);
  const regs: MooRegs = {};
  MOO_REG_NAMES.forEach((name, bit) => {
    if (mask & (1 << bit)) regs[name] = r.u16(`${tag} ${name}`);
  });
  return regs;
}

function readState(file: string, r: Reader, what: string): MooState {
  let regs: MooRegs | undefined;
  let regMasks: MooRegs | undefined;
  let ram: [number, number][] | undefined;
  let queue: number[] = [];
  while (r.left > 0) {
    const c = r.chunk();
    const s = r.sub(c, `${what} ${c.tag}`);
    switch (c.tag) {
      case 'REGS':
        regs = readRegs(s, 'REGS');
        break;
      case 'RMSK':
        regMasks = readRegs(s, 'RMSK');
        break;
      case 'RAM ': {
        const n = s.u32('entry count');
        if (n * 5 > s.left) throw new MooFormatError(file, `truncated ${what} RAM: ${n} entries need ${n * 5} bytes, ${s.left} left`);
        ram = [];
        for (let i = 0; i < n; i++) ram.push([s.u32('address'), s.u8('value')]);
        break;
      }
      case 'QUEU': {
        const n = s.u32('queue length');
        queue = [...s.bytes(n, 'queue bytes')];
        break;
      }
      default:
        break; // RG32, RM32, EA32, or a chunk from a later revision
    }
  }
  if (!regs) throw new MooFormatError(file, `${what} has no REGS chunk`);
  if (!ram) throw new MooFormatError(file, `${what} has no RAM chunk`);
  return regMasks ? { regs, regMasks, ram, queue } : { regs, ram, queue };
}

function readTest(file: string, r: Reader, ordinal: number): MooTest {
  const idx = r.u32('test index');
  const what = `test ${idx}`;
  let name: string | undefined;
  let bytes: number[] | undefined;
  let initial: MooState | undefined;
  let final: MooState | undefined;
  let exception: MooException | undefined;
  let hash: string | undefined;
  while (r.left > 0) {
    const c = r.chunk();
    const s = r.sub(c, `${what} ${c.tag}`);
    switch (c.tag) {
      case 'NAME':
        name = s.ascii(s.u32('name length'), 'name');
        break;
      case 'BYTS':
        bytes = [...s.bytes(s.u32('byte count'), 'instruction bytes')];
        break;
      case 'INIT':
        initial = readState(file, s, `${what} INIT`);
        break;
      case 'FINA':
        final = readState(file, s, `${what} FINA`);
        break;
      case 'EXCP':
        exception = { number: s.u8('exception number'), flagAddress: s.u32('flag address') };
        break;
      case 'HASH':
        hash = [...s.bytes(20, 'SHA-1')].map((b) => b.toString(16).padStart(2, '0')).join('');
        break;
      default:
        break; // CYCL, GMET, IDX and anything newer
    }
  }
  const missing = [!name && 'NAME', !bytes && 'BYTS', !initial && 'INIT', !final && 'FINA', !hash && 'HASH'].filter(Boolean);
  if (missing.length > 0) throw new MooFormatError(file, `test #${ordinal} (index ${idx}) has no ${missing.join(', ')} chunk`);
  if (initial!.regs.flags === undefined || Object.keys(initial!.regs).length !== MOO_REG_NAMES.length) {
    throw new MooFormatError(file, `test #${ordinal} (index ${idx}): INIT REGS does not list every register`);
  }
  const t: MooTest = { idx, name: name!, bytes: bytes!, initial: initial!, final: final!, hash: hash! };
  if (exception) t.exception = exception;
  return t;
}

/** Parse an uncompressed MOO image. `file` names the source in error messages. */
export function parseMoo(data: Uint8Array, file: string): MooFile {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const top = new Reader(file, data, view, 0, data.length, 'file');
  if (data.length < 4 || tagAt(data, 0) !== 'MOO ') {
    const got = data.length === 0 ? 'nothing (empty file)' : `'${tagAt(data, 0)}'`;
    throw new MooFormatError(file, `not a MOO file: starts with ${got}, expected 'MOO '`);
  }
  const hc = top.chunk();
  const h = top.sub(hc, 'MOO header');
  const majorVersion = h.u8('major version');
  const minorVersion = h.u8('minor version');
  h.bytes(2, 'reserved');
  const testCount = h.u32('test count');
  const cpu = h.left >= 4 ? h.ascii(4, 'CPU id') : '';
  if (majorVersion !== 1) throw new MooFormatError(file, `MOO version ${majorVersion}.${minorVersion} is not supported (expected 1.x)`);

  const out: MooFile = { file, majorVersion, minorVersion, cpu, tests: [] };
  while (top.left > 0) {
    const c = top.chunk();
    const s = top.sub(c, `${c.tag} chunk`);
    switch (c.tag) {
      case 'META':
        out.meta = {
          majorVersion: s.u8('major version'),
          minorVersion: s.u8('minor version'),
          cpuType: s.u8('cpu type'),
          opcode: s.u32('opcode'),
          mnemonic: s.ascii(8, 'mnemonic').trimEnd(),
          testCount: s.u32('test count'),
          cpuMode: (s.bytes(8, 'seed'), s.u8('cpu mode')),
        };
        break;
      case 'RMSK':
        out.regMasks = readRegs(s, 'RMSK');
        break;
      case 'TEST':
        out.tests.push(readTest(file, top.sub(c, `test #${out.tests.length}`), out.tests.length));
        break;
      default:
        break;
    }
  }
  if (out.tests.length !== testCount) {
    const how = out.tests.length < testCount ? 'truncated: ' : '';
    throw new MooFormatError(file, `${how}header promises ${testCount} tests, file holds ${out.tests.length}`);
  }
  return out;
}

/** A short reason for a failed file read. */
export function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory', ENOTDIR: 'a parent is not a directory' };
  return (code && known[code]) ?? (e as Error).message.split('\n')[0];
}

/** Read a MOO file from disk, gunzipping it if it is gzip-compressed. Errors name `path` as given. */
export function readMooFile(path: string): MooFile {
  const file = path;
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new MooFormatError(file, `cannot read (${ioReason(e)})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new MooFormatError(file, `bad gzip data (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return parseMoo(raw, file);
}
