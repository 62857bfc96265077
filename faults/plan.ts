// Fault plans: the schema, the YAML/JSON reader and the one-rule form a user types.
//
// A plan is plain data (JSON-serialisable, so a recording header can hold it): an optional
// seed and a list of rules. Each rule is normalised here to camelCase keys with every value
// checked, so the injector never meets a malformed rule. Field spellings users know from
// other tools are accepted as aliases (snake_case and kebab-case alike); faults/README.md
// has the whole schema and the mapping to QEMU blkdebug, dm-dust, dm-flakey and ARCHIE.
//
// Every mistake is one line naming the file, the rule (number and name) and the field.

import { parse as parseYaml } from 'yaml';
import { REGISTER_TARGETS, type RegisterTarget } from '../engine/seams.ts';

export const DISK_KINDS = ['read-error', 'corrupt', 'lost-write', 'torn-write', 'slow', 'flaky'] as const;
export const MEMORY_KINDS = ['flip', 'stuck-at', 'coupling'] as const;
export const CPU_KINDS = ['reg-flip'] as const;
export const IRQ_KINDS = ['irq-drop', 'irq-delay', 'spurious'] as const;
export const FAULT_KINDS = [...DISK_KINDS, ...MEMORY_KINDS, ...CPU_KINDS, ...IRQ_KINDS] as const;

export type DiskKind = (typeof DISK_KINDS)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];
export type DiskError = 'unc' | 'idnf' | 'crc';
export type BitModel = 'toggle' | 'set0' | 'set1';

/** One rule, normalised (camelCase keys, numbers as numbers). Absent fields take their defaults. */
export interface FaultRule {
  kind: FaultKind;
  name?: string;

  // ---- trigger: when the rule becomes armed (point faults fire then) ----
  /** At this icount. */
  at?: number;
  /** At an icount the plan's PRNG picks in [first, last]. */
  between?: [number, number];
  /** When the instruction at this linear address (CS base + EIP) is about to run the `hits`th time. */
  pc?: number;
  /** The same for a physical address (code under paging). */
  pcPhysical?: number;
  /** At the instruction boundary after the `hits`th access (read, write or fetch) to this physical byte. */
  access?: number;
  /** Which hit of pc / pcPhysical / access / a trigger sector arms the rule (default 1). */
  hits?: number;
  /** Instructions the rule stays armed (a point fault is reverted then); absent or 0: permanent. */
  lifespan?: number;
  /** Point faults: fire again every `period` instructions while armed. */
  period?: number;
  /** blkdebug states: the rule applies only in this state; firing moves the plan to `setState`. */
  state?: number;
  setState?: number;

  // ---- selection of events (disk transfers, IRQ edges, aggressor writes, point triggers) ----
  /** Only the nth matching event. */
  nth?: number;
  /** Every nth matching event. */
  every?: number;
  /** Each matching event (or a point fault's trigger) with this probability, from the seeded PRNG. */
  probability?: number;
  /** Fire at most this many times (blkdebug `once` is times: 1). */
  times?: number;
  /** dm-flakey: after arming, `up` instructions healthy, then `down` instructions faulty, repeating. */
  up?: number;
  down?: number;

  // ---- disk ----
  /** hda, hdb, hdc, hdd, cdrom, fd0, fd1 (absent: every drive). */
  drive?: string;
  sector?: number;
  /** A bad-block list (dm-dust). */
  sectors?: number[];
  /** Inclusive LBA range. */
  range?: [number, number];
  iotype?: 'read' | 'write' | 'any';
  error?: DiskError;
  /** dm-dust: a write to a bad sector remaps it, and it reads fine from then on. */
  clearOnWrite?: boolean;
  /** corrupt: first byte of the sector the pattern applies to. */
  offset?: number;
  xor?: number[];
  /** corrupt: bytes written over the data (dm-flakey corrupt_bio_byte's value). */
  set?: number[];
  /** corrupt (bytes) / flip, stuck-at (one byte) / reg-flip (32 bits): which bits. */
  mask?: number[] | number;
  model?: BitModel;
  /** corrupt: bit numbers within the sector (bit i is bit i%8 of byte i/8). */
  bits?: number[];
  /** corrupt: this many bits picked by the PRNG on each firing. */
  randomBits?: number;
  /** torn-write: bytes of the sector that reach the medium. */
  bytes?: number;
  /** slow: instructions the sector transfer is delayed. irq-delay: instructions the edge is delayed. */
  delay?: number;
  dropWrites?: boolean;
  errorWrites?: boolean;
  errorReads?: boolean;

  // ---- memory ----
  address?: number;
  bit?: number;
  value?: 0 | 1;
  victim?: number;
  victimBit?: number;
  on?: 'write' | 'change' | 'rise' | 'fall';

  // ---- CPU ----
  register?: RegisterTarget;

  // ---- interrupts ----
  irq?: number;
  vector?: number;
}

export interface FaultPlan {
  /** Seed used when the command line gives none. */
  seed?: number;
  rules: FaultRule[];
}

export class FaultPlanError extends Error {}

// ---- field names and aliases ----

/** Accepted spellings (after lower-casing and turning '_' into '-') -> normalised key. */
const ALIASES: Record<string, keyof FaultRule> = {
  kind: 'kind', type: 'kind', name: 'name', id: 'name',
  at: 'at', 'at-icount': 'at', icount: 'at', between: 'between',
  pc: 'pc', eip: 'pc', 'trigger-address': 'pc', 'pc-physical': 'pcPhysical', 'pc-phys': 'pcPhysical',
  access: 'access', hits: 'hits', 'trigger-counter': 'hits', count: 'hits',
  lifespan: 'lifespan', 'fault-lifespan': 'lifespan', period: 'period',
  state: 'state', 'set-state': 'setState', 'new-state': 'setState',
  nth: 'nth', every: 'every', probability: 'probability', p: 'probability', times: 'times', once: 'times',
  up: 'up', 'up-interval': 'up', down: 'down', 'down-interval': 'down',
  drive: 'drive', device: 'drive', sector: 'sector', lba: 'sector', sectors: 'sectors', badblocks: 'sectors', 'bad-blocks': 'sectors',
  range: 'range', iotype: 'iotype', event: 'iotype', error: 'error', errno: 'error', 'clear-on-write': 'clearOnWrite', 'remap-on-write': 'clearOnWrite',
  offset: 'offset', xor: 'xor', set: 'set', pattern: 'set', mask: 'mask', 'fault-mask': 'mask', model: 'model', 'fault-model': 'model',
  bits: 'bits', 'random-bits': 'randomBits', bytes: 'bytes', delay: 'delay',
  'drop-writes': 'dropWrites', 'error-writes': 'errorWrites', 'error-reads': 'errorReads',
  address: 'address', addr: 'address', 'fault-address': 'address', bit: 'bit', value: 'value', 'stuck-value': 'value',
  victim: 'victim', 'victim-bit': 'victimBit', on: 'on',
  register: 'register', reg: 'register', irq: 'irq', line: 'irq', vector: 'vector',
};

function canonical(key: string): string {
  // camelCase, snake_case and kebab-case all become kebab-case
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
}

const TRIGGERS: (keyof FaultRule)[] = ['at', 'between', 'pc', 'pcPhysical', 'access'];
const COMMON: (keyof FaultRule)[] = ['kind', 'name', ...TRIGGERS, 'hits', 'lifespan', 'state', 'setState', 'times', 'probability'];
const EVENT: (keyof FaultRule)[] = ['nth', 'every', 'up', 'down'];
const DISK_TARGET: (keyof FaultRule)[] = ['drive', 'sector', 'sectors', 'range', 'iotype'];
const POINT: (keyof FaultRule)[] = ['period', 'drive', 'sector'];

const FIELDS: Record<FaultKind, (keyof FaultRule)[]> = {
  'read-error': [...COMMON, ...EVENT, ...DISK_TARGET, 'error', 'clearOnWrite'],
  corrupt: [...COMMON, ...EVENT, ...DISK_TARGET, 'offset', 'xor', 'set', 'mask', 'model', 'bits', 'randomBits'],
  'lost-write': [...COMMON, ...EVENT, ...DISK_TARGET],
  'torn-write': [...COMMON, ...EVENT, ...DISK_TARGET, 'bytes'],
  slow: [...COMMON, ...EVENT, ...DISK_TARGET, 'delay'],
  flaky: [...COMMON, ...EVENT, ...DISK_TARGET, 'error', 'dropWrites', 'errorWrites', 'errorReads'],
  flip: [...COMMON, ...POINT, 'address', 'range', 'bit', 'mask', 'model'],
  'stuck-at': [...COMMON, 'drive', 'sector', 'address', 'range', 'bit', 'mask', 'value'],
  coupling: [...COMMON, ...EVENT, 'address', 'range', 'bit', 'on', 'victim', 'victimBit', 'model'],
  'reg-flip': [...COMMON, ...POINT, 'register', 'bit', 'mask', 'model'],
  'irq-drop': [...COMMON, ...EVENT, 'irq'],
  'irq-delay': [...COMMON, ...EVENT, 'irq', 'delay'],
  spurious: [...COMMON, ...POINT, 'irq', 'vector'],
};

/** What a kind of rule is, for the injector. */
export function isDiskKind(k: FaultKind): k is DiskKind {
  return (DISK_KINDS as readonly string[]).includes(k);
}
export function isPointKind(k: FaultKind): boolean {
  return k === 'flip' || k === 'reg-flip' || k === 'spurious';
}

/** Drive names a disk rule may name: the IDE positions and the floppy units (fda/fdb as QEMU spells them). */
const DRIVES: Record<string, string> = {
  hda: 'hda', hdb: 'hdb', hdc: 'hdc', hdd: 'hdd', cdrom: 'cdrom', cd: 'cdrom',
  fd0: 'fd0', fd1: 'fd1', fda: 'fd0', fdb: 'fd1',
};

/** blkdebug's errno (Linux numbering, or the name) -> the drive's error. */
const ERRNO: Record<string, DiskError> = { '5': 'unc', eio: 'unc', '6': 'idnf', enxio: 'idnf', '61': 'idnf', enodata: 'idnf', '84': 'crc', eilseq: 'crc' };

const REGISTER_ALIASES: Record<string, RegisterTarget> = {
  ax: 'eax', cx: 'ecx', dx: 'edx', bx: 'ebx', sp: 'esp', bp: 'ebp', si: 'esi', di: 'edi', ip: 'eip', flags: 'eflags', pc: 'eip',
  es: 'es.base', cs: 'cs.base', ss: 'ss.base', ds: 'ds.base', fs: 'fs.base', gs: 'gs.base',
};

// ---- value checks ----

type Fail = (field: string, why: string) => never;

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A whole number: a number, or a string in decimal or 0x hex, with optional '_' separators. */
function whole(v: unknown, field: string, fail: Fail, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'string') {
    const s = v.trim().replace(/_/g, '');
    if (/^-?0x[0-9a-f]+$/i.test(s)) n = (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^-/, ''), 16);
    else if (/^-?\d+$/.test(s)) n = Number(s);
    else if (/^\d+(\.\d+)?e\d+$/i.test(s)) n = Number(s);
  }
  if (n === undefined || !Number.isInteger(n)) fail(field, `must be a whole number, not ${show(v)}`);
  if (n! < min || n! > max) fail(field, `must be between ${min} and ${max}, not ${n}`);
  return n!;
}

function byteList(v: unknown, field: string, fail: Fail): number[] {
  if (typeof v === 'string' && /^(0x)?([0-9a-f]{2}\s*)+$/i.test(v.trim()) && !/^\d{1,3}$/.test(v.trim())) {
    // a hex string of bytes, as "00ff" or "0x00ff" or "00 ff"
    const hex = v.trim().replace(/^0x/i, '').replace(/\s+/g, '');
    const out: number[] = [];
    for (let i = 0; i < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
    return out;
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail(field, 'must name at least one byte');
  return list.map((x, i) => whole(x, list.length > 1 ? `${field}[${i}]` : field, fail, 0, 255));
}

function numberList(v: unknown, field: string, fail: Fail, min: number, max: number): number[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail(field, 'must not be empty');
  return list.map((x, i) => whole(x, `${field}[${i}]`, fail, min, max));
}

function pair(v: unknown, field: string, fail: Fail, max = Number.MAX_SAFE_INTEGER): [number, number] {
  let a: unknown, b: unknown;
  if (Array.isArray(v) && v.length === 2) [a, b] = v;
  else if (typeof v === 'string' && /^\s*[0-9a-fx_]+\s*(-|\.\.)\s*[0-9a-fx_]+\s*$/i.test(v)) [a, b] = v.split(/-|\.\./);
  else if (v && typeof v === 'object' && 'first' in v && 'last' in v) ({ first: a, last: b } = v as { first: unknown; last: unknown });
  else fail(field, `must be [first, last] (inclusive), not ${show(v)}`);
  const first = whole(a, `${field}[0]`, fail, 0, max);
  const last = whole(b, `${field}[1]`, fail, 0, max);
  if (last < first) fail(field, `last (${last}) is before first (${first})`);
  return [first, last];
}

function bool(v: unknown, field: string, fail: Fail): boolean {
  if (v === true || v === 'true' || v === 'yes' || v === 'on' || v === 1) return true;
  if (v === false || v === 'false' || v === 'no' || v === 'off' || v === 0) return false;
  return fail(field, `must be true or false, not ${show(v)}`);
}

function oneOf<T extends string>(v: unknown, field: string, fail: Fail, allowed: readonly T[]): T {
  const s = typeof v === 'string' ? v.trim().toLowerCase().replace(/_/g, '-') : v;
  if (typeof s === 'string' && (allowed as readonly string[]).includes(s)) return s as T;
  return fail(field, `must be one of ${allowed.join(', ')}, not ${show(v)}`);
}

const ADDRESS_MAX = 0xffffffff;
const ICOUNT_MAX = Number.MAX_SAFE_INTEGER;

// ---- one rule ----

/**
 * Check and normalise one rule given as plain data. `where` names it in messages, e.g.
 * "plan.yaml: rule 3 (bad-mbr)"; the message then goes on with the field and what is wrong.
 */
export function normaliseRule(raw: unknown, where: string): FaultRule {
  const failAt = (field: string, why: string): never => {
    throw new FaultPlanError(`${where}: ${field ? `field '${field}' ` : ''}${why}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) failAt('', `must be a mapping of fields (kind: ..., ...), not ${show(raw)}`);
  const src = raw as Record<string, unknown>;

  // Map every key to its normalised name first; remember how the user spelled it.
  const given = new Map<keyof FaultRule, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(src)) {
    const norm = ALIASES[canonical(key)];
    if (norm === undefined) failAt(key, `is not a fault-plan field (see faults/README.md)`);
    if (given.has(norm!)) failAt(key, `repeats '${given.get(norm!)!.key}'`);
    given.set(norm!, { key, value: canonical(key) === 'once' ? (bool(value, key, failAt) ? 1 : undefined) : value });
  }
  const spelled = (k: keyof FaultRule) => given.get(k)?.key ?? canonical(k);
  const fail: Fail = (field, why) => failAt(field, why);

  const kindEntry = given.get('kind');
  if (!kindEntry) failAt('kind', `is missing: say which fault (${FAULT_KINDS.join(', ')})`);
  const kindAliases: Record<string, FaultKind> = {
    'mem-flip': 'flip', 'bit-flip': 'flip', 'stuck': 'stuck-at', 'register-flip': 'reg-flip', 'reg': 'reg-flip',
    'drop-irq': 'irq-drop', 'delay-irq': 'irq-delay', 'spurious-irq': 'spurious', 'torn': 'torn-write', 'lost': 'lost-write',
    'error': 'read-error', 'io-error': 'read-error', 'bad-sector': 'read-error',
  };
  const kindRaw = typeof kindEntry!.value === 'string' ? canonical(kindEntry!.value) : kindEntry!.value;
  const kind = (typeof kindRaw === 'string' && kindAliases[kindRaw]) || oneOf(kindRaw, kindEntry!.key, fail, FAULT_KINDS);
  const r: FaultRule = { kind };
  if (typeof kindRaw === 'string' && kindRaw === 'bad-sector') r.clearOnWrite = true;

  const allowed = FIELDS[kind];
  for (const [k, { key }] of given) {
    if (!allowed.includes(k)) failAt(key, `does not apply to a ${kind} rule`);
  }

  for (const [k, { key, value }] of given) {
    if (value === undefined || value === null) continue;
    switch (k) {
      case 'kind':
        break;
      case 'name':
        if (typeof value !== 'string' && typeof value !== 'number') fail(key, `must be text, not ${show(value)}`);
        r.name = String(value);
        break;
      case 'at': case 'lifespan': case 'period': case 'up': case 'down': case 'delay':
        r[k] = whole(value, key, fail, 0, ICOUNT_MAX);
        break;
      case 'between':
        r.between = pair(value, key, fail, ICOUNT_MAX);
        break;
      case 'pc': case 'pcPhysical': case 'access': case 'address': case 'victim':
        r[k] = whole(value, key, fail, 0, ADDRESS_MAX);
        break;
      case 'hits': case 'nth': case 'every': case 'times':
        r[k] = whole(value, key, fail, 1);
        break;
      case 'state': case 'setState':
        r[k] = whole(value, key, fail, 0, 1_000_000);
        break;
      case 'probability': {
        const p = typeof value === 'string' ? Number(value.trim().replace(/%$/, '')) / (value.trim().endsWith('%') ? 100 : 1) : value;
        if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) fail(key, `must be a number from 0 to 1 (or a percentage), not ${show(value)}`);
        r.probability = p as number;
        break;
      }
      case 'drive': {
        const d = typeof value === 'string' ? DRIVES[value.trim().toLowerCase()] : undefined;
        if (d === undefined) fail(key, `must be one of ${Object.keys(DRIVES).join(', ')}, not ${show(value)}`);
        r.drive = d;
        break;
      }
      case 'sector':
        r.sector = whole(value, key, fail, 0);
        break;
      case 'sectors':
        r.sectors = numberList(value, key, fail, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'range':
        r.range = pair(value, key, fail, kind === 'flip' || kind === 'stuck-at' || kind === 'coupling' ? ADDRESS_MAX : Number.MAX_SAFE_INTEGER);
        break;
      case 'iotype': {
        const s = typeof value === 'string' ? value.trim().toLowerCase().replace(/[-_]?aio$/, '').replace(/^(pread|preadv)$/, 'read').replace(/^(pwrite|pwritev)$/, 'write') : value;
        r.iotype = oneOf(s, key, fail, ['read', 'write', 'any'] as const);
        break;
      }
      case 'error': {
        const s = String(value).trim().toLowerCase();
        const e = ERRNO[s] ?? (['unc', 'idnf', 'crc'].includes(s) ? (s as DiskError) : undefined);
        if (e === undefined) fail(key, `must be unc, idnf or crc (or errno 5/EIO, 6/ENXIO, 84/EILSEQ), not ${show(value)}`);
        r.error = e;
        break;
      }
      case 'clearOnWrite': case 'dropWrites': case 'errorWrites': case 'errorReads':
        r[k] = bool(value, key, fail);
        break;
      case 'offset':
        r.offset = whole(value, key, fail, 0, 2047);
        break;
      case 'xor': case 'set':
        r[k] = byteList(value, key, fail);
        break;
      case 'mask':
        if (kind === 'corrupt') r.mask = byteList(value, key, fail);
        else r.mask = whole(value, key, fail, 1, kind === 'reg-flip' ? 0xffffffff : 0xff);
        break;
      case 'model': {
        const aliases: Record<string, BitModel> = { toggle: 'toggle', flip: 'toggle', xor: 'toggle', set0: 'set0', and: 'set0', clear: 'set0', set1: 'set1', or: 'set1' };
        const m = typeof value === 'string' ? aliases[value.trim().toLowerCase()] : undefined;
        if (m === undefined) fail(key, `must be toggle, set0 or set1 (ARCHIE's models), not ${show(value)}`);
        r.model = m;
        break;
      }
      case 'bits':
        r.bits = numberList(value, key, fail, 0, 2048 * 8 - 1);
        break;
      case 'randomBits':
        r.randomBits = whole(value, key, fail, 1, 2048 * 8);
        break;
      case 'bytes':
        r.bytes = whole(value, key, fail, 0, 2048);
        break;
      case 'bit':
        r.bit = whole(value, key, fail, 0, kind === 'reg-flip' ? 31 : 7);
        break;
      case 'victimBit':
        r.victimBit = whole(value, key, fail, 0, 7);
        break;
      case 'value':
        r.value = whole(value, key, fail, 0, 1) as 0 | 1;
        break;
      case 'on':
        r.on = oneOf(value, key, fail, ['write', 'change', 'rise', 'fall'] as const);
        break;
      case 'register': {
        const s = typeof value === 'string' ? value.trim().toLowerCase() : '';
        const t = (REGISTER_TARGETS as readonly string[]).includes(s) ? (s as RegisterTarget) : REGISTER_ALIASES[s] ?? REGISTER_ALIASES[s.replace(/\.base$/, '')];
        if (t === undefined) fail(key, `must be one of ${REGISTER_TARGETS.join(', ')}, not ${show(value)}`);
        r.register = t;
        break;
      }
      case 'irq':
        r.irq = whole(value, key, fail, 0, 23);
        break;
      case 'vector':
        r.vector = whole(value, key, fail, 0, 255);
        break;
    }
  }

  // ---- what each kind needs, and what cannot go together ----
  const has = (k: keyof FaultRule) => r[k] !== undefined;
  const need = (k: keyof FaultRule, why: string) => {
    if (!has(k)) fail(spelled(k), `is missing: ${why}`);
  };
  const triggers = TRIGGERS.filter(has);
  const sectorTrigger = isPointKind(kind) || kind === 'stuck-at';
  if (sectorTrigger && has('sector')) triggers.push('sector');
  if (triggers.length > 1) fail(spelled(triggers[1]), `cannot go with '${spelled(triggers[0])}': a rule has one trigger`);
  if (has('hits') && !has('pc') && !has('pcPhysical') && !has('access') && !(sectorTrigger && has('sector'))) {
    fail(spelled('hits'), 'counts hits of pc, pc-physical, access or a trigger sector; give one of them');
  }
  if (sectorTrigger && has('drive') && !has('sector')) fail(spelled('drive'), `on a ${kind} rule names the trigger sector's drive; give sector too`);
  if (has('nth') && has('every')) fail(spelled('every'), `cannot go with '${spelled('nth')}'`);
  if (has('up') !== has('down')) fail(spelled(has('up') ? 'down' : 'up'), 'is missing: up and down intervals come together (dm-flakey)');
  if (r.up === 0 && r.down === 0) fail(spelled('down'), 'up and down cannot both be 0');
  if (has('period') && r.period === 0) fail(spelled('period'), 'must be at least 1');

  if (isDiskKind(kind)) {
    const targets = (['sector', 'sectors', 'range'] as const).filter(has);
    if (targets.length > 1) fail(spelled(targets[1]), `cannot go with '${spelled(targets[0])}': give one of sector, sectors, range`);
    if (kind === 'lost-write' || kind === 'torn-write') {
      if (has('iotype') && r.iotype !== 'write') fail(spelled('iotype'), `a ${kind} rule acts on writes only`);
    }
    if (kind === 'read-error' && r.clearOnWrite && r.iotype === 'write') fail(spelled('clearOnWrite'), 'needs reads to fail (iotype read or any)');
  }
  switch (kind) {
    case 'corrupt': {
      const ways = (['xor', 'set', 'mask', 'bits', 'randomBits'] as const).filter(has);
      if (ways.length === 0) fail('xor', 'is missing: a corrupt rule needs xor, set, mask (with model), bits or random-bits');
      if (ways.length > 1) fail(spelled(ways[1]), `cannot go with '${spelled(ways[0])}'`);
      if (has('model') && !has('mask')) fail(spelled('model'), 'applies to mask; give mask too');
      const len = (r.xor ?? r.set ?? (Array.isArray(r.mask) ? r.mask : undefined))?.length ?? 0;
      if ((r.offset ?? 0) + len > 2048) fail(spelled('offset'), `offset + pattern length (${(r.offset ?? 0) + len}) exceeds a sector`);
      break;
    }
    case 'torn-write':
      need('bytes', 'how many bytes of the sector reach the medium');
      break;
    case 'slow':
      need('delay', 'instructions to delay each matching transfer');
      break;
    case 'flaky':
      need('up', 'dm-flakey needs up and down intervals (instructions)');
      if ([r.dropWrites, r.errorWrites, r.errorReads].filter(Boolean).length > 1) fail(spelled('errorWrites'), 'choose one of drop-writes, error-writes, error-reads');
      break;
    case 'flip':
      if (has('address') === has('range')) fail('address', has('range') ? `cannot go with '${spelled('range')}'` : 'is missing: the byte to flip (or range to pick one from)');
      if (has('bit') && has('mask')) fail(spelled('mask'), `cannot go with '${spelled('bit')}'`);
      break;
    case 'stuck-at':
      if (has('address') === has('range')) fail('address', has('range') ? `cannot go with '${spelled('range')}'` : 'is missing: the stuck byte (or range of bytes)');
      if (has('bit') === has('mask')) fail('bit', has('mask') ? `cannot go with '${spelled('mask')}'` : 'is missing: which bit is stuck (or a mask)');
      need('value', 'what the bit is stuck at, 0 or 1');
      break;
    case 'coupling':
      if (has('address') === has('range')) fail('address', has('range') ? `cannot go with '${spelled('range')}'` : 'is missing: the aggressor cell');
      need('victim', 'the cell a write to the aggressor disturbs');
      need('victimBit', 'the bit of the victim that changes');
      if ((r.on === 'rise' || r.on === 'fall') && !has('bit')) fail(spelled('on'), `${r.on} watches one aggressor bit; give bit`);
      if (r.victim !== undefined && r.address !== undefined && r.victim === r.address) fail(spelled('victim'), 'must differ from the aggressor address');
      break;
    case 'reg-flip':
      need('register', `one of ${REGISTER_TARGETS.join(', ')}`);
      if (has('bit') === has('mask')) fail('bit', has('mask') ? `cannot go with '${spelled('mask')}'` : 'is missing: which bit of the register (or a mask)');
      break;
    case 'irq-drop':
      need('irq', 'the interrupt line (0-23)');
      break;
    case 'irq-delay':
      need('irq', 'the interrupt line (0-23)');
      need('delay', 'instructions to delay each matching edge');
      break;
    case 'spurious':
      if (has('irq') === has('vector')) fail('irq', has('vector') ? `cannot go with '${spelled('vector')}'` : 'is missing: irq 7 or 15 (a spurious 8259 request) or a vector');
      if (has('irq') && r.irq !== 7 && r.irq !== 15) fail(spelled('irq'), `a spurious 8259 interrupt is IRQ7 or IRQ15, not ${r.irq}`);
      break;
  }
  return r;
}

// ---- plans ----

/** Parse a plan file's text (YAML, of which JSON is a subset). `file` names it in messages. */
export function parseFaultPlan(text: string, file: string): FaultPlan {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false, uniqueKeys: true, intAsBigInt: false });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new FaultPlanError(`${file}: not valid YAML or JSON: ${msg}`);
  }
  return planFromData(doc, file);
}

/** A plan given as data (decoded JSON, a recording header): checked as a file would be. */
export function planFromData(doc: unknown, file: string): FaultPlan {
  if (doc === null || doc === undefined) throw new FaultPlanError(`${file}: the plan is empty; give a list of rules (rules: [...])`);
  let rulesRaw: unknown;
  let seed: number | undefined;
  if (Array.isArray(doc)) rulesRaw = doc;
  else if (typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      const c = canonical(k);
      if (c === 'rules' || c === 'faults') rulesRaw = v;
      else if (c === 'seed') seed = whole(v, 'seed', (f, why) => { throw new FaultPlanError(`${file}: field '${f}' ${why}`); }, 0);
      else if (c === 'version') {
        if (v !== 1) throw new FaultPlanError(`${file}: field 'version' must be 1, not ${show(v)}`);
      } else throw new FaultPlanError(`${file}: field '${k}' is not a plan field (a plan has rules, seed and version)`);
    }
    if (rulesRaw === undefined) throw new FaultPlanError(`${file}: field 'rules' is missing: give the list of fault rules`);
  } else {
    throw new FaultPlanError(`${file}: a plan is a list of rules or a mapping with rules, not ${show(doc)}`);
  }
  if (!Array.isArray(rulesRaw)) throw new FaultPlanError(`${file}: field 'rules' must be a list of rules, not ${show(rulesRaw)}`);
  const rules = rulesRaw.map((raw, i) => {
    const name = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>).name ?? (raw as Record<string, unknown>).id : undefined;
    return normaliseRule(raw, `${file}: rule ${i + 1}${name !== undefined ? ` (${String(name)})` : ''}`);
  });
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (r.name === undefined) return;
    if (names.has(r.name)) throw new FaultPlanError(`${file}: rule ${i + 1} (${r.name}): field 'name' repeats an earlier rule's name`);
    names.add(r.name);
  });
  const plan: FaultPlan = { rules };
  if (seed !== undefined) plan.seed = seed;
  return plan;
}

/**
 * One rule as a user types it (GDB's `monitor fault ...`, the TUI):
 *   read-error drive=hda sector=17 error=unc nth=1
 *   reg-flip register=eax bit=3 pc=0x7c1e
 *   {kind: stuck-at, address: 0x100000, bit: 0, value: 1}
 * The kind comes first (or as kind=...); lists are comma-separated (sectors=1,5,9), ranges
 * first-last (range=0x1000-0x1fff). Throws a one-line FaultPlanError.
 */
export function parseFaultRule(text: string): FaultRule {
  const t = text.trim();
  if (t === '') throw new FaultPlanError('fault rule: empty; give a kind and fields, e.g. `read-error drive=hda sector=0`');
  if (t.startsWith('{')) {
    let doc: unknown;
    try {
      doc = parseYaml(t, { prettyErrors: false });
    } catch (e) {
      throw new FaultPlanError(`fault rule: not a valid mapping: ${(e as Error).message.split('\n')[0]}`);
    }
    return normaliseRule(doc, 'fault rule');
  }
  const raw: Record<string, unknown> = {};
  const tokens = t.split(/\s+/);
  tokens.forEach((tok, i) => {
    const eq = tok.indexOf('=');
    if (eq < 0) {
      if (i === 0) raw.kind = tok;
      else if (/^(once|drop[-_]writes|error[-_]writes|error[-_]reads|clear[-_]on[-_]write|remap[-_]on[-_]write)$/i.test(tok)) raw[tok] = true;
      else throw new FaultPlanError(`fault rule: '${tok}' is not field=value`);
      return;
    }
    const key = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    if (key === '') throw new FaultPlanError(`fault rule: '${tok}' has no field name`);
    const norm = ALIASES[canonical(key)];
    if (v.includes(',') && norm !== 'name') raw[key] = v.split(',').filter((x) => x !== '');
    else raw[key] = v;
  });
  return normaliseRule(raw, 'fault rule');
}

/** The name a rule goes by in messages and output events: its own, or "#n" by its place. */
export function ruleLabel(r: FaultRule, index: number): string {
  return r.name ?? `#${index + 1}`;
}
