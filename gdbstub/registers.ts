// The register file gdb sees, and the target description that names it (GDB manual,
// "Target Descriptions", "i386 Features"). The `g` packet holds, in order:
//   0-15  org.gnu.gdb.i386.core: eax ecx edx ebx esp ebp esi edi eip eflags cs ss ds es fs gs
//   16-31 (same feature) st0-st7 (80-bit, stack order ST(0)..ST(7)), fctrl fstat ftag fiseg
//         fioff foseg fooff fop (ftag is the full 16-bit tag word, as FSTENV stores it)
//   32-33 org.gnu.gdb.i386.segments: fs_base gs_base
//   34-37 bitrot.i386.control: cr0 cr2 cr3 cr4, with QEMU's names and flag fields
// While the CPU is in real mode (CR0.PE = 0) the description says <architecture>i8086
// </architecture>, so gdb disassembles 16-bit code; gdb reads it once, when it connects.

import type { Machine } from '../engine/machine.ts';
import type { CPU } from '../engine/cpu/cpu.ts';
import { registerImage, setRegisterImage } from '../engine/cpu/x87.ts';
import { leHex } from './packets.ts';

export interface RegDef {
  name: string;
  bits: number;
  type: string;
  group?: string;
}

const GPR = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
/** gdb's segment order, and the CPU's index of each (ES CS SS DS FS GS). */
const SEG_NAMES = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'];
const SEG_INDEX = [1, 2, 3, 0, 4, 5];

export const REGS: RegDef[] = [
  ...GPR.map((name) => ({ name, bits: 32, type: name === 'esp' || name === 'ebp' ? 'data_ptr' : 'int32' })),
  { name: 'eip', bits: 32, type: 'code_ptr' },
  { name: 'eflags', bits: 32, type: 'i386_eflags' },
  ...SEG_NAMES.map((name) => ({ name, bits: 32, type: 'int32' })),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: `st${i}`, bits: 80, type: 'i387_ext' })),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((name) => ({ name, bits: 32, type: 'int', group: 'float' })),
  { name: 'fs_base', bits: 32, type: 'int32' },
  { name: 'gs_base', bits: 32, type: 'int32' },
  { name: 'cr0', bits: 32, type: 'i386_cr0' },
  { name: 'cr2', bits: 32, type: 'int32' },
  { name: 'cr3', bits: 32, type: 'i386_cr3' },
  { name: 'cr4', bits: 32, type: 'i386_cr4' },
];

export const REG_BY_NAME = new Map(REGS.map((r, i) => [r.name, i]));

const EFLAGS_FIELDS = [
  ['CF', 0], ['', 1], ['PF', 2], ['AF', 4], ['ZF', 6], ['SF', 7], ['TF', 8], ['IF', 9], ['DF', 10], ['OF', 11],
  ['NT', 14], ['RF', 16], ['VM', 17], ['AC', 18], ['VIF', 19], ['VIP', 20], ['ID', 21],
] as const;
const CR0_FIELDS = [['PE', 0], ['MP', 1], ['EM', 2], ['TS', 3], ['ET', 4], ['NE', 5], ['WP', 16], ['AM', 18], ['NW', 29], ['CD', 30], ['PG', 31]] as const;
const CR4_FIELDS = [['VME', 0], ['PVI', 1], ['TSD', 2], ['DE', 3], ['PSE', 4], ['PAE', 5], ['MCE', 6], ['PGE', 7], ['PCE', 8], ['OSFXSR', 9], ['OSXMMEXCPT', 10]] as const;

function flags(id: string, fields: readonly (readonly [string, number])[], extra = ''): string {
  return `<flags id="${id}" size="4">${fields.map(([n, b]) => `<field name="${n}" start="${b}" end="${b}"/>`).join('')}${extra}</flags>`;
}

function regXml(r: RegDef, regnum?: number): string {
  return `<reg name="${r.name}" bitsize="${r.bits}" type="${r.type}"${regnum !== undefined ? ` regnum="${regnum}"` : ''}${r.group ? ` group="${r.group}"` : ''}/>`;
}

/** target.xml for the CPU's current mode. */
export function targetXml(realMode: boolean): string {
  const core = REGS.slice(0, 32);
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `<architecture>${realMode ? 'i8086' : 'i386'}</architecture>`,
    '<osabi>none</osabi>',
    '<feature name="org.gnu.gdb.i386.core">',
    flags('i386_eflags', EFLAGS_FIELDS, '<field name="IOPL" start="12" end="13"/>'),
    ...core.map((r, i) => regXml(r, i === 0 ? 0 : undefined)),
    '</feature>',
    '<feature name="org.gnu.gdb.i386.segments">',
    regXml(REGS[32], 32),
    regXml(REGS[33]),
    '</feature>',
    '<feature name="bitrot.i386.control">',
    flags('i386_cr0', CR0_FIELDS),
    '<flags id="i386_cr3" size="4"><field name="PWT" start="3" end="3"/><field name="PCD" start="4" end="4"/><field name="PDBR" start="12" end="31"/></flags>',
    flags('i386_cr4', CR4_FIELDS),
    regXml(REGS[34], 34),
    ...REGS.slice(35).map((r) => regXml(r)),
    '</feature>',
    '</target>',
  ].join('\n');
}

/** Register `n` as little-endian hex, or null for a number gdb did not get from us. */
export function readRegister(m: Machine, n: number): string | null {
  const cpu = m.cpu;
  if (n < 0 || n >= REGS.length) return null;
  if (n < 8) return leHex(cpu.regs[n], 4);
  if (n === 8) return leHex(cpu.eip, 4);
  if (n === 9) return leHex(cpu.getFlags(), 4);
  if (n < 16) return leHex(cpu.segSel[SEG_INDEX[n - 10]], 4);
  const f = cpu.fpu;
  if (n < 24) {
    const [lo, hi, se] = registerImage(f, (f.top + n - 16) & 7);
    return leHex(lo, 4) + leHex(hi, 4) + leHex(se, 2);
  }
  switch (n) {
    case 24: return leHex(f.cw, 4);
    case 25: return leHex(f.statusWord(), 4);
    case 26: return leHex(f.tagWord(), 4);
    case 27: return leHex(f.fcs, 4);
    case 28: return leHex(f.fip, 4);
    case 29: return leHex(f.fds, 4);
    case 30: return leHex(f.fdp, 4);
    case 31: return leHex(f.fop, 4);
    case 32: return leHex(cpu.segBase[4], 4);
    case 33: return leHex(cpu.segBase[5], 4);
    case 34: return leHex(cpu.cr0, 4);
    case 35: return leHex(cpu.cr2, 4);
    case 36: return leHex(cpu.cr3, 4);
    default: return leHex(cpu.cr4, 4);
  }
}

export function readAllRegisters(m: Machine): string {
  let s = '';
  for (let n = 0; n < REGS.length; n++) s += readRegister(m, n);
  return s;
}

/** Bytes each register takes in the `g` packet. */
export function registerBytes(n: number): number {
  return REGS[n].bits / 8;
}

function le(bytes: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[at + i];
  return v;
}

/**
 * Whether writing `bytes` to register `n` is something the CPU accepts (checked before the
 * write goes through the input door): an error message, or null.
 */
export function checkRegisterWrite(m: Machine, n: number, bytes: Uint8Array): string | null {
  if (n < 0 || n >= REGS.length) return `no register ${n}`;
  if (bytes.length !== registerBytes(n)) return `register ${REGS[n].name} takes ${registerBytes(n)} bytes`;
  const v = le(bytes, 0, Math.min(4, bytes.length)) >>> 0;
  if (n === 34 && ((v & 0x80000000 && !(v & 1)) || (v & 0x20000000 && !(v & 0x40000000)))) return 'cr0: PG needs PE, NW needs CD';
  if (n === 37 && v & ~0x1ff) return 'cr4: reserved bits set';
  if (n >= 10 && n < 16 && m.cpu.pe && !(m.cpu.getFlags() & 0x20000) && (v & 0xfffc) !== 0) {
    // a protected-mode selector must name a descriptor
    const c = m.cpu;
    const ti = (v & 4) !== 0;
    if ((v & ~7) + 7 > (ti ? c.ldtrLimit : c.gdtrLimit)) return `selector ${v.toString(16)} is beyond the descriptor table`;
  }
  return null;
}

/** Write register `n` (applied at an instruction boundary, through the input door). */
export function writeRegister(m: Machine, n: number, bytes: Uint8Array, loadDescriptor: (sel: number) => { base: number; limit: number; ar: number } | null): void {
  const cpu: CPU = m.cpu;
  const v = le(bytes, 0, Math.min(4, bytes.length)) | 0;
  if (n < 8) cpu.regs[n] = v;
  else if (n === 8) cpu.eip = v;
  else if (n === 9) cpu.setFlags(v);
  else if (n < 16) {
    const s = SEG_INDEX[n - 10];
    const sel = v & 0xffff;
    if (!cpu.pe || cpu.getFlags() & 0x20000) cpu.setSegReal(s, sel);
    else {
      const d = (sel & 0xfffc) === 0 ? null : loadDescriptor(sel);
      if (d === null) cpu.setSegRaw(s, sel, 0, 0, 0);
      else cpu.setSegRaw(s, sel, d.base, d.limit, d.ar);
    }
    if (s === 1) cpu.flushBlocks();
  } else if (n < 24) {
    const f = cpu.fpu;
    setRegisterImage(f, (f.top + n - 16) & 7, le(bytes, 0, 4), le(bytes, 4, 4), le(bytes, 8, 2));
  } else if (n < 32) {
    const f = cpu.fpu;
    switch (n) {
      case 24: f.cw = v & 0xffff; break;
      case 25: f.sw = v & 0xc7ff; f.top = (v >> 11) & 7; break;
      case 26: {
        let empty = 0;
        for (let p = 0; p < 8; p++) if (((v >> (2 * p)) & 3) === 3) empty |= 1 << p;
        f.empty = empty;
        break;
      }
      case 27: f.fcs = v & 0xffff; break;
      case 28: f.fip = v; break;
      case 29: f.fds = v & 0xffff; break;
      case 30: f.fdp = v; break;
      default: f.fop = v & 0x7ff;
    }
  } else if (n === 32 || n === 33) {
    const s = n === 32 ? 4 : 5;
    cpu.setSegRaw(s, cpu.segSel[s], v, cpu.segLimit[s], cpu.segAR[s]);
  } else if (n === 34) cpu.setCR0(v);
  else if (n === 35) cpu.cr2 = v;
  else if (n === 36) cpu.setCR3(v);
  else cpu.setCR4(v);
}
