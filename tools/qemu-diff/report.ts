// The divergence report: where (instruction number, CS:EIP, bytes, disassembly), what
// differed (a register table, bitrot against QEMU, differing rows marked), and the
// instructions just before it.

import { decode, disassemble, flagNames } from './x86.ts';

export interface Row {
  name: string;
  /** The value before the instruction (null: not shown). */
  before: number | null;
  bitrot: number;
  /** QEMU's value (null: QEMU has no value, e.g. it ended). */
  qemu: number | null;
  differs: boolean;
  /** Hex digits to show. */
  width: number;
  note?: string;
}

export interface HistoryEntry {
  /** 1-based number of the instruction since the start address (0: a BIOS call QEMU ran alone). */
  index: number;
  cs: number;
  eip: number;
  lin: number;
  bytes: Uint8Array;
  code32: boolean;
  /** Real or virtual-8086 mode: show CS:IP. */
  segmented: boolean;
  /** What the comparison did about this instruction besides comparing it. */
  note: string;
}

export function hex(v: number, digits = 8): string {
  return (v >>> 0).toString(16).padStart(digits, '0');
}

function where(e: HistoryEntry): string {
  return e.segmented ? `${hex(e.cs, 4)}:${hex(e.eip & 0xffff, 4)}` : `${hex(e.cs, 4)}:${hex(e.eip)}`;
}

/** The instruction's bytes and its disassembly. */
function describe(e: HistoryEntry): { bytes: string; asm: string } {
  const dis = disassemble(e.bytes, e.code32, e.segmented ? e.eip & 0xffff : e.eip);
  const len = dis?.length || Math.min(15, Math.max(decode(e.bytes, e.code32).immAt, 1));
  return { bytes: Array.from(e.bytes.subarray(0, len), (b) => hex(b, 2)).join(' '), asm: dis?.text ?? '' };
}

function fmt(v: number | null, width: number): string {
  if (v === null) return '-'.padEnd(Math.max(width, 8));
  return hex(v, width).padEnd(8);
}

export function formatRows(rows: Row[]): string[] {
  const hasBefore = rows.some((r) => r.before !== null);
  const out: string[] = [];
  out.push(`  ${'register'.padEnd(11)}${hasBefore ? 'before    ' : ''}${'bitrot'.padEnd(10)}${'QEMU'.padEnd(10)}`);
  for (const r of rows) {
    let line = `  ${r.name.padEnd(11)}${hasBefore ? `${r.before === null ? '-'.padEnd(8) : fmt(r.before, r.width)}  ` : ''}${fmt(r.bitrot, r.width)}  ${fmt(r.qemu, r.width)}`;
    if (r.differs) {
      line += '  <-- differs';
      if (r.name === 'EFLAGS' && r.qemu !== null) line += ` (${flagNames((r.bitrot ^ r.qemu) >>> 0)})`;
    }
    if (r.note) line += `  [${r.note}]`;
    out.push(line.trimEnd());
  }
  return out;
}

export function formatDivergence(o: {
  what: string;
  entry: HistoryEntry | undefined;
  history: HistoryEntry[];
  rows: Row[];
  extra: string[];
  notes: string[];
}): string {
  const out: string[] = [];
  const e = o.entry;
  if (e) {
    const { bytes, asm } = describe(e);
    out.push(`first divergence: ${e.index ? `instruction #${e.index}` : 'a BIOS call'} at ${where(e)} (linear ${hex(e.lin)}, ${e.code32 ? '32' : '16'}-bit code)`);
    out.push(`  instruction: ${bytes}${asm ? `   ${asm}` : ''}`);
  }
  out.push(`  ${o.what}`);
  if (o.rows.length) {
    out.push('');
    out.push(...formatRows(o.rows));
  }
  if (o.extra.length) {
    out.push('');
    out.push(...o.extra);
  }
  if (o.history.length) {
    out.push('');
    out.push('  instructions before it (all agreed):');
    for (const h of o.history) {
      const { bytes, asm } = describe(h);
      out.push(`    ${h.index ? `#${h.index}` : '--'} ${where(h)}  ${bytes.padEnd(24)} ${asm}${h.note ? `   [${h.note}]` : ''}`.trimEnd());
    }
  }
  if (o.notes.length) {
    out.push('');
    for (const n of o.notes) out.push(`  note: ${n}`);
  }
  return out.join('\n');
}
