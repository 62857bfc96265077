// Monitor commands (`monitor ...` in gdb, the qRcmd packet): the machine's time, seeking,
// snapshots, the address mode of memory packets, segment arithmetic, device state and
// fault injection. Each returns the text gdb prints.

import type { Machine } from '../engine/machine.ts';
import type { Debugger } from './debugger.ts';
import type { DebugDevices, DebugSession } from './target.ts';
import { hex16, hex32, segmentToLinear, translate } from './memory.ts';

export interface MonitorContext {
  session: DebugSession;
  debugger: Debugger;
  devices: DebugDevices;
  /** Memory packets use physical addresses (monitor phys on). */
  physical: boolean;
  /** Inject a fault by a rule (faults/); returns what happened, or throws a one-line error. */
  fault: ((rule: string) => string) | null;
}

export const MONITOR_HELP = [
  'bitrot monitor commands:',
  '  icount                 the current icount (retired instructions)',
  '  seek ICOUNT            go to exactly ICOUNT, backwards or forwards (then: maint flush register-cache)',
  '  snapshot               take a snapshot here (reverse execution seeks from snapshots)',
  '  phys on|off            memory packets (x, set *, watch) use physical addresses / linear (default)',
  '  linear SEG:OFF         the linear (and physical) address of SEG:OFF in the current mode',
  '  info cpu|pic|pit|rtc|uart|ide|vga   device state',
  '  fault RULE             inject a fault now (a fault plan rule)',
  '  help                   this text',
].join('\n');

function num(s: string): number | null {
  const t = s.trim().replace(/_/g, '');
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  if (/^[0-9]+$/.test(t)) return Number(t);
  if (/^[0-9]+(\.[0-9]+)?e[0-9]+$/i.test(t)) return Number(t);
  return null;
}

/** Run one monitor command; returns its output (ending in a newline). */
export function monitorCommand(ctx: MonitorContext, line: string): string {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  const m = ctx.session.machine;
  const [cmd, ...args] = words;
  switch (cmd) {
    case undefined:
    case 'help':
      return MONITOR_HELP + '\n';
    case 'icount':
      return `icount ${m.icount}\n`;
    case 'seek': {
      const n = args.length === 1 ? num(args[0]) : null;
      if (n === null || !Number.isSafeInteger(n)) return 'usage: monitor seek ICOUNT (a whole number)\n';
      if (n < ctx.session.beginIcount) return `icount ${n} is before the start of this session (${ctx.session.beginIcount})\n`;
      ctx.debugger.seek(n);
      return `at icount ${m.icount}; gdb still shows the old registers until: maint flush register-cache\n`;
    }
    case 'snapshot': {
      ctx.session.takeSnapshot();
      const all = ctx.session.snapshotIcounts();
      return `snapshot at icount ${m.icount} (${all.length} snapshots, from icount ${all[0]})\n`;
    }
    case 'phys':
      if (args[0] === 'on') ctx.physical = true;
      else if (args[0] === 'off') ctx.physical = false;
      else if (args.length !== 0) return 'usage: monitor phys on|off\n';
      ctx.debugger.physical = ctx.physical;
      return `memory addresses are ${ctx.physical ? 'physical' : 'linear (through the current paging)'}\n`;
    case 'linear': {
      const mm = args.length === 1 ? /^([^:]+):(.+)$/.exec(args[0]) : null;
      const seg = mm ? num(mm[1].startsWith('0x') ? mm[1] : '0x' + mm[1]) : null;
      const off = mm ? num(mm[2].startsWith('0x') ? mm[2] : '0x' + mm[2]) : null;
      if (seg === null || off === null || seg > 0xffff || off > 0xffffffff) return 'usage: monitor linear SEG:OFF (hex, like 07c0:0010)\n';
      const r = segmentToLinear(m, seg, off);
      if (typeof r === 'string') return r + '\n';
      const t = translate(m, r[0]);
      return `${hex16(seg)}:${hex32(off)} = linear ${hex32(r[0])} (${r[1]}), physical ${t === null ? 'not mapped' : hex32(t.phys)}\n`;
    }
    case 'info':
      return info(ctx, args[0]);
    case 'fault':
      if (ctx.fault === null) return 'fault injection is not available yet\n';
      if (args.length === 0) return 'usage: monitor fault RULE\n';
      try {
        return ctx.fault(line.trim().slice(5).trim()) + '\n';
      } catch (e) {
        return `fault: ${(e as Error).message}\n`;
      }
    default:
      return `unknown monitor command '${cmd}' (monitor help lists them)\n`;
  }
}

function info(ctx: MonitorContext, what: string | undefined): string {
  const m = ctx.session.machine;
  if (what === 'cpu' || what === 'registers') return cpuInfo(m);
  const d = ctx.devices;
  const names = ['pic', 'pit', 'rtc', 'uart', 'ide', 'vga'];
  if (what === undefined || !names.includes(what)) return `usage: monitor info cpu|${names.join('|')}\n`;
  if (d === null) return `this machine has no ${what} (the bare machine is RAM, the CPU and the debug ports)\n`;
  switch (what) {
    case 'pic': return 'i8259 PIC pair:\n' + formatState(d.pic.save());
    case 'pit': return 'i8254 PIT:\n' + formatState(d.pit.save());
    case 'rtc': return 'MC146818 RTC/CMOS:\n' + formatState(d.rtc.save());
    case 'uart': return d.uarts.map((u, i) => `COM${i + 1} (16550A):\n` + formatState(u.save(), '  ')).join('');
    case 'ide': return 'PIIX IDE:\n' + formatState(d.ide.save());
    default: {
      const screen = d.vga.screenDump();
      return 'VGA:\n' + formatState(d.vga.save()) + (screen.length > 0 ? 'text screen:\n' + screen.map((l) => '  |' + l).join('\n') + '\n' : '');
    }
  }
}

const SEG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

function cpuInfo(m: Machine): string {
  const c = m.cpu;
  const f = c.getFlags();
  const gpr = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp'];
  const idx = [0, 3, 1, 2, 6, 7, 5, 4];
  const lines: string[] = [];
  lines.push(gpr.map((n, i) => `${n.toUpperCase()}=${(c.regs[idx[i]] >>> 0).toString(16).padStart(8, '0')}`).join(' '));
  const flagNames = ['CF', '', 'PF', '', 'AF', '', 'ZF', 'SF', 'TF', 'IF', 'DF', 'OF'];
  const set = flagNames.filter((n, b) => n && f & (1 << b));
  if (f & 0x20000) set.push('VM');
  lines.push(`EIP=${(c.eip >>> 0).toString(16).padStart(8, '0')} EFL=${(f >>> 0).toString(16).padStart(8, '0')} [${set.join(' ')}] IOPL=${(f >> 12) & 3} CPL=${c.cpl} ${!c.pe ? 'real mode' : f & 0x20000 ? 'virtual-8086 mode' : `protected mode, ${c.csD ? '32' : '16'}-bit code`} HLT=${c.halted ? 1 : 0}`);
  for (let s = 0; s < 6; s++) {
    lines.push(`${SEG[s].toUpperCase()} =${c.segSel[s].toString(16).padStart(4, '0')} ${(c.segBase[s] >>> 0).toString(16).padStart(8, '0')} ${(c.segLimit[s] >>> 0).toString(16).padStart(8, '0')} ${c.segAR[s].toString(16).padStart(4, '0')}`);
  }
  lines.push(`LDT=${c.ldtrSel.toString(16).padStart(4, '0')} ${(c.ldtrBase >>> 0).toString(16).padStart(8, '0')} ${(c.ldtrLimit >>> 0).toString(16).padStart(8, '0')}`);
  lines.push(`TR =${c.trSel.toString(16).padStart(4, '0')} ${(c.trBase >>> 0).toString(16).padStart(8, '0')} ${(c.trLimit >>> 0).toString(16).padStart(8, '0')} ${c.trAR.toString(16).padStart(4, '0')}`);
  lines.push(`GDT=     ${(c.gdtrBase >>> 0).toString(16).padStart(8, '0')} ${c.gdtrLimit.toString(16).padStart(8, '0')}`);
  lines.push(`IDT=     ${(c.idtrBase >>> 0).toString(16).padStart(8, '0')} ${c.idtrLimit.toString(16).padStart(8, '0')}`);
  lines.push(`CR0=${(c.cr0 >>> 0).toString(16).padStart(8, '0')} CR2=${(c.cr2 >>> 0).toString(16).padStart(8, '0')} CR3=${(c.cr3 >>> 0).toString(16).padStart(8, '0')} CR4=${(c.cr4 >>> 0).toString(16).padStart(8, '0')}`);
  lines.push([0, 1, 2, 3, 6, 7].map((i) => `DR${i}=${(c.dr[i] >>> 0).toString(16).padStart(8, '0')}`).join(' '));
  lines.push(`A20=${m.mem.a20Mask === -1 ? 1 : 0} FCW=${c.fpu.cw.toString(16).padStart(4, '0')} FSW=${c.fpu.statusWord().toString(16).padStart(4, '0')} FTW=${c.fpu.tagWord().toString(16).padStart(4, '0')} icount=${m.icount}`);
  return lines.join('\n') + '\n';
}

/** Device state (plain data) as indented `name: value` lines; numbers in hex and decimal. */
export function formatState(v: unknown, indent = '  '): string {
  const out: string[] = [];
  const walk = (x: unknown, name: string, pad: string): void => {
    if (x === null || x === undefined) out.push(`${pad}${name}: ${String(x)}`);
    else if (typeof x === 'number') out.push(`${pad}${name}: ${Number.isInteger(x) && x >= 0 ? `0x${x.toString(16)} (${x})` : String(x)}`);
    else if (typeof x === 'boolean' || typeof x === 'string') out.push(`${pad}${name}: ${String(x)}`);
    else if (ArrayBuffer.isView(x)) {
      const a = Array.from(x as Uint8Array);
      const shown = a.slice(0, 32).map((n) => n.toString(16).padStart(2, '0')).join(' ');
      out.push(`${pad}${name}: [${shown}${a.length > 32 ? ` ... ${a.length} values` : ''}]`);
    } else if (Array.isArray(x)) {
      if (x.every((e) => typeof e === 'number')) {
        const shown = x.slice(0, 32).map((n: number) => (Number.isInteger(n) && n >= 0 ? '0x' + n.toString(16) : String(n))).join(' ');
        out.push(`${pad}${name}: [${shown}${x.length > 32 ? ` ... ${x.length} values` : ''}]`);
      } else {
        out.push(`${pad}${name}:`);
        x.forEach((e, i) => walk(e, `[${i}]`, pad + '  '));
      }
    } else if (typeof x === 'object') {
      out.push(`${pad}${name}:`);
      for (const [k, e] of Object.entries(x as Record<string, unknown>)) walk(e, k, pad + '  ');
    } else out.push(`${pad}${name}: ${String(x)}`);
  };
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) walk(e, k, indent);
  } else walk(v, 'state', indent);
  return out.join('\n') + '\n';
}
