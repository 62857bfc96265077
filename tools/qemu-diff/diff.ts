// The lockstep comparison: run QEMU to the start address, load a bare bitrot machine from
// QEMU's state (registers, hidden segment state, control and descriptor-table registers,
// all RAM), then execute one instruction in each and compare after every one:
//   - EAX..EDI, EIP, EFLAGS (less the flags the instruction leaves undefined), the six
//     selectors, CR0, CR2, CR3, CR4 and the FS/GS bases (all in QEMU's `g` packet);
//   - every byte bitrot stored (the pages it dirtied, diffed against a shadow copy, are
//     read back from QEMU's physical memory);
//   - the hidden segment state, GDTR, IDTR, LDTR, TR, CPL and HLT from `info registers`
//     after instructions that can change them, after exceptions and interrupts, and when a
//     selector changed;
//   - all of low memory every `memCheckEvery` instructions, and all RAM at the end.
// What QEMU's machine has and the bare machine has not is taken from QEMU instead of
// compared: BIOS calls (real-mode INT n whose vector points at 0xA0000 or above: QEMU runs
// the call alone to its return address and bitrot is reloaded from QEMU afterwards), port
// input (IN, INS), CPUID/RDTSC/RDMSR/RDPMC results, and the A20 gate after writes to its
// ports.

import type { Machine } from '../../engine/machine.ts';
import { Qemu, SetupError, type CoreRegs, type MonitorState } from './qemu.ts';
import { CR0_PE, EFLAGS_VM, arFromQemuFlags, bitrotCore, linearToPhysical, loadCpu, newMachine, readLinear, setA20 } from './bitrot-side.ts';
import * as x86 from './x86.ts';
import { formatDivergence, hex, type HistoryEntry, type Row } from './report.ts';

export interface DiffOptions {
  image: string;
  /** Stop after this many instructions (agreement so far). */
  max: number;
  /** Linear address where the comparison starts (QEMU runs there first). */
  start: number;
  /** Wall-clock limit for the whole run, in ms. */
  timeoutMs: number;
  qemu?: string;
  cpu?: string;
  /** Compare undefined flags too. */
  strictFlags?: boolean;
  /** Compare all of low memory every N instructions (0: only at the end). */
  memCheckEvery?: number;
  /** Compare the monitor state after every instruction. */
  fullCheck?: boolean;
  /** Compare these physical bytes after every instruction from instruction #from on (locating a memory difference). */
  watch?: { addr: number; len: number; from: number };
  /** On a memory difference that no compared store explains, run again watching it (default true). */
  locate?: boolean;
  /**
   * Called before each instruction with bitrot's machine and the number of instructions
   * compared so far. For tests of this tool: change bitrot's state to check a difference is found.
   */
  beforeStep?: (m: Machine, count: number) => void;
  /** Progress callback, every 10000 instructions. */
  progress?: (count: number) => void;
}

export interface DiffResult {
  agree: boolean;
  /** Instructions bitrot executed and compared. */
  count: number;
  /** One line: "agree for N instructions (...)" or "diverge at instruction #N ...". */
  summary: string;
  /** The full divergence report ('' on agreement). */
  details: string;
  /** What was taken from QEMU rather than compared, and similar remarks. */
  notes: string[];
  /** isa-debug-exit status ((value << 1) | 1), when the program exited. */
  exitStatus: number | null;
  /** Set for a memory difference no compared store explains (see DiffOptions.watch). */
  locate?: { addr: number; len: number; from: number };
}

const RAM_SIZE = 16 << 20;
const LOW_MEM = 0x100000;
const VGA_START = 0xa0000;
const VGA_END = 0xc0000;
const HISTORY = 12;
const GPR = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'];
const SEG = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
const A20_PORTS = new Set([0x60, 0x64, 0x92]);

const QUIRK_CS_ACCESSED = "accessed bit of a code descriptor set on a CS load (as real CPUs do, QEMU does not), written into QEMU's memory";

const QUIRK_DB_STEP = 'instruction-breakpoint #DB that QEMU delivers within the step of the instruction before (bitrot: a step of its own), followed';
const QUIRK_DB_RF = 'instruction-breakpoint #DB that QEMU raises despite EFLAGS.RF when single-stepped (a gdbstub artifact), undone';
const QUIRK_PDPTE_A = "accessed bit in a PAE PDPTE set by QEMU's page walk (reserved on Intel CPUs, which never write it), cleared in QEMU";
const QUIRK_AC = "alignment-check #AC QEMU does not raise (TCG does not implement alignment checking): bitrot's #AC handed to QEMU";
const QUIRK_LIMIT = "segment-limit violation QEMU does not detect (TCG makes no limit checks): bitrot's #GP/#SS handed to QEMU";

type StoreMode = 'compare' | 'take-qemu' | 'push-bitrot' | 'none';

class Divergence {
  constructor(
    readonly what: string,
    readonly rows: Row[] = [],
    readonly extra: string[] = [],
    /** A memory difference no compared store explains: where, and since when memory last agreed. */
    readonly locate?: { addr: number; len: number; from: number },
  ) {}
}

/** Ranges [start, end) of RAM that are compared and copied: all of it but the VGA window. */
function ramRanges(limit: number): [number, number][] {
  return limit <= VGA_START ? [[0, limit]] : [[0, VGA_START], [VGA_END, limit]];
}

export async function runDiff(o: DiffOptions): Promise<DiffResult> {
  const r = await runOnce(o);
  if (r.agree || !r.locate || o.locate === false || o.watch) return r;
  // Memory differs and no compared store explains it: run again comparing those bytes
  // after every instruction since memory last agreed, to find the instruction.
  const w = r.locate;
  const r2 = await runOnce({ ...o, watch: w, locate: false });
  const how = `a second run compared physical ${hex(w.addr)}..${hex(w.addr + w.len - 1)} after every instruction from #${w.from + 1} on`;
  if (!r2.agree && r2.count <= r.count) return { ...r2, details: `${r2.details}\n  note: found by ${how}; the first run saw: ${r.summary}` };
  return { ...r, details: `${r.details}\n  note: ${how} and did not catch the moment (${r2.summary})` };
}

async function runOnce(o: DiffOptions): Promise<DiffResult> {
  const q = await Qemu.start({ image: o.image, qemu: o.qemu, cpu: o.cpu, ramMiB: RAM_SIZE >> 20 });
  try {
    return await new Session(q, o).run();
  } finally {
    await q.kill();
  }
}

class Session {
  private readonly m: Machine;
  private readonly shadow = new Uint8Array(RAM_SIZE);
  private readonly history: HistoryEntry[] = [];
  private readonly deadline: number;
  private count = 0;
  private biosCalls = new Map<string, number>();
  private inputs = new Map<string, number>();
  /** Undefined flags that differed, per opcode and flags. */
  private flagSyncs = new Map<string, number>();
  private emptySteps = 0;
  private readonly segLimitBefore = new Float64Array(6);
  private readonly segARBefore = new Uint16Array(6);
  private readonly segBaseBefore = new Float64Array(6);
  private cplBefore = 0;
  /** Pages bitrot dirtied since the last store comparison. */
  private readonly dirtyPages = new Set<number>();
  /** QEMU's bytes for bitrot's stores, requested together with the registers. */
  private prefetch: { spans: [number, number][]; data: Promise<{ data: Uint8Array }[]> } | null = null;
  /** Physical addresses of every PAE page-directory-pointer table CR3 has pointed at. */
  private readonly paePdpts = new Set<number>();
  /** Known QEMU deviations from the hardware, worked around (what, count). */
  private quirks = new Map<string, number>();
  private lastMemCheck = 0;
  private tripleFault: string | null = null;
  private physMode = false;

  constructor(
    private readonly q: Qemu,
    private readonly o: DiffOptions,
  ) {
    this.deadline = Date.now() + o.timeoutMs;
    this.m = newMachine(RAM_SIZE);
    this.m.cpu.onReset = (reason) => {
      this.tripleFault = reason || 'triple fault';
    };
  }

  private remaining(): number {
    return this.deadline - Date.now();
  }

  async run(): Promise<DiffResult> {
    const q = this.q;
    this.physMode = await q.physicalMemoryMode(true);
    if (!this.physMode) throw new SetupError("QEMU's gdbstub cannot read physical memory (Qqemu.PhyMemMode needs QEMU 4.1 or newer)");
    await q.setBreakpoint(this.o.start);
    const r = await q.cont(Math.min(30_000, this.remaining()));
    if (r === 'exited') throw new SetupError(`QEMU ended before reaching ${hex(this.o.start)} (${this.qemuEnd()})`);
    if (r === 'timeout') throw new SetupError(`QEMU did not reach ${hex(this.o.start)} within 30 s (is the image bootable? a boot sector needs 55 AA at offset 510)`);
    await q.clearBreakpoint(this.o.start);
    await this.loadFromQemu(RAM_SIZE);
    const lin = (this.m.cpu.segBase[1] + this.m.cpu.eip) >>> 0;
    if (lin !== this.o.start >>> 0) throw new SetupError(`QEMU stopped at ${hex(lin)}, not at the start address ${hex(this.o.start)}`);
    try {
      for (;;) {
        if (this.count >= this.o.max) return await this.finishAgreement(`stopped at --max ${this.o.max}`);
        if (this.remaining() <= 0) return await this.finishAgreement(`stopped at the time limit of ${Math.round(this.o.timeoutMs / 1000)} s`);
        const end = await this.stepOnce();
        if (end) return end;
        if (this.o.progress && this.count % 10000 === 0) this.o.progress(this.count);
      }
    } catch (e) {
      if (e instanceof Divergence) return this.divergence(e);
      throw e;
    }
  }

  // ---- loading bitrot from QEMU -------------------------------------------------------

  private async loadFromQemu(memLimit: number): Promise<void> {
    const q = this.q;
    const core = await q.readCore();
    const mon = await q.readMonitorState();
    const mem = this.m.mem;
    for (const [a, b] of ramRanges(memLimit)) {
      const { data } = await q.readMemory(a, b - a);
      mem.load(a, data);
      this.shadow.set(data, a);
    }
    loadCpu(this.m, core, mon);
    mem.takeDirty();
  }

  // ---- one instruction -------------------------------------------------------------------

  /** Execute one instruction on both sides; a result ends the run. */
  private async stepOnce(): Promise<DiffResult | null> {
    const m = this.m;
    const cpu = m.cpu;
    const q = this.q;
    this.o.beforeStep?.(m, this.count);
    const before = bitrotCore(m);
    const code32 = cpu.csD;
    const realMode = !(cpu.cr0 & CR0_PE);
    const v86 = !realMode && (before.eflags & EFLAGS_VM) !== 0;
    const lin = (cpu.segBase[1] + before.eip) >>> 0;
    const bytes = readLinear(m, lin, 15);
    const d = x86.decode(bytes, code32);
    for (let k = 0; k < 6; k++) {
      this.segLimitBefore[k] = cpu.segLimit[k];
      this.segARBefore[k] = cpu.segAR[k];
      this.segBaseBefore[k] = cpu.segBase[k] >>> 0;
    }
    this.cplBefore = cpu.cpl;
    const entry: HistoryEntry = { index: this.count + 1, cs: before.sel[1], eip: before.eip, lin, bytes, code32, segmented: realMode || v86, note: '' };
    this.history.push(entry);
    if (this.history.length > HISTORY) this.history.shift();

    // A BIOS call: QEMU runs it alone, bitrot is reloaded afterwards.
    const swi = x86.softwareInt(d);
    if (swi && realMode) {
      const vec = m.mem.read32(((cpu.idtrBase + swi.vector * 4) & m.mem.a20Mask) >>> 0) >>> 0;
      const handler = (((vec >>> 16) << 4) + (vec & 0xffff)) >>> 0;
      if (handler >= VGA_START) {
        entry.note = `BIOS call, run by QEMU alone`;
        entry.index = 0;
        await this.biosCall(swi.vector, (cpu.segBase[1] + ((before.eip + swi.length) & 0xffff)) >>> 0, before);
        return null;
      }
    }

    const outPort = x86.portOut(d, before.gpr[2]);
    const exiting = outPort !== null && outPort >= 0xf4 && outPort <= 0xf7;
    if (exiting) await this.checkAllMemory('before the program exits', RAM_SIZE, this.lastMemCheck);

    // bitrot
    let bitrotError: Error | null = null;
    try {
      cpu.step();
    } catch (e) {
      bitrotError = e as Error;
    }
    const bitrotExc = cpu.lastException;
    // QEMU
    const hlt = x86.isHlt(d);
    const qr = await q.step(hlt ? 1000 : Math.max(1000, Math.min(20_000, this.remaining())));
    this.count++;

    if (bitrotError) {
      throw new Divergence(`bitrot threw an error: ${bitrotError.message.split('\n')[0]}`, await this.rowsAfter(before, qr === 'stopped'));
    }
    if (qr === 'exited') return this.qemuEnded(before);
    if (m.exitCode !== null) {
      throw new Divergence(`bitrot exited through isa-debug-exit (status ${m.exitCode}), QEMU did not`, await this.rowsAfter(before, true));
    }
    if (this.tripleFault !== null) {
      throw new Divergence(`bitrot triple-faulted (${this.tripleFault}), QEMU did not`, await this.rowsAfter(before, true));
    }
    if (qr === 'timeout' && !hlt) {
      throw new Divergence('QEMU did not finish the instruction within the step timeout (it may have halted)', await this.rowsAfter(before, true));
    }

    this.prefetchStores();
    let qc = await q.readCore();
    // QEMU's gdbstub now and then reports a single step that retired nothing (the vCPU
    // left its loop before the instruction, e.g. after a write to a page holding translated
    // code). Step again when QEMU's registers did not move but bitrot's did.
    for (let retry = 0; retry < 5 && sameCore(qc, before) && !sameCore(bitrotCore(m), before); retry++) {
      const again = await q.step(Math.max(1000, Math.min(20_000, this.remaining())));
      if (again !== 'stopped') break;
      qc = await q.readCore();
      this.prefetch = null;
      this.emptySteps++;
    }
    // Should a REP string instruction need one more step in QEMU to leave (count already 0).
    if (x86.isRepString(d) && ((qc.eip + (await this.qemuCsBase(qc))) >>> 0) === lin && cpu.eip >>> 0 !== before.eip) {
      const a32 = code32 !== d.adsize;
      if ((a32 ? qc.gpr[1] : qc.gpr[1] & 0xffff) === 0) {
        await q.step(5000);
        qc = await q.readCore();
        this.prefetch = null;
      }
    }

    // Values that come from devices or the CPU model are QEMU's.
    if (bitrotExc < 0) this.adoptInputs(d, code32, qc, entry);
    const bc0 = bitrotCore(m);
    let undef = 0;
    if (!this.o.strictFlags && bitrotExc < 0) undef = x86.undefinedFlags(d, before.gpr[1], code32);
    let rows = this.compareCore(before, bc0, qc, undef);
    let storeMode: StoreMode = x86.isPortInString(d) && bitrotExc < 0 ? 'take-qemu' : 'compare';
    if (rows.some((r) => r.differs) && bitrotExc < 0 && this.codeBreakpointPending()) {
      // An instruction breakpoint (DR0-DR3) on the next instruction: bitrot delivers its
      // #DB as a step of its own, QEMU within the step of the instruction before it.
      cpu.step();
      this.quirk(QUIRK_DB_STEP);
      entry.note = 'instruction-breakpoint #DB delivered in the same step (QEMU)';
      rows = this.compareCore(before, bitrotCore(m), qc, 0);
    }
    if (rows.some((r) => r.differs) && (bitrotExc === 13 || bitrotExc === 12) && qc.eip !== bitrotCore(m).eip) {
      const outside = this.limitViolation(bytes, d, before, code32);
      if (outside) {
        // QEMU (TCG) makes no segment-limit checks: hand bitrot's exception to QEMU
        // (memory first, so descriptors QEMU loads for new selectors are current).
        await this.compareStores('push-bitrot', entry);
        await this.undoQemuStores(bytes, d, before, code32);
        await this.pushToQemu(qc);
        storeMode = 'none';
        this.quirk(QUIRK_LIMIT);
        entry.note = `bitrot raised ${bitrotExc === 13 ? '#GP' : '#SS'}: ${outside}; handed to QEMU`;
        rows = this.compareCore(before, bitrotCore(m), await q.readCore(), 0);
      }
    }
    if (rows.some((r) => r.differs) && bitrotExc === 17 && qc.eip !== bitrotCore(m).eip) {
      const misaligned = this.alignmentViolation(bytes, d, before, code32);
      if (misaligned) {
        // QEMU (TCG) does not implement alignment checking: hand bitrot's #AC to QEMU.
        await this.compareStores('push-bitrot', entry);
        await this.undoQemuStores(bytes, d, before, code32);
        await this.pushToQemu(qc);
        storeMode = 'none';
        this.quirk(QUIRK_AC);
        entry.note = `bitrot raised #AC: ${misaligned}; handed to QEMU`;
        rows = this.compareCore(before, bitrotCore(m), await q.readCore(), 0);
      }
    }
    if (rows.some((r) => r.differs) && (await this.spuriousQemuDebugTrap(qc, entry))) {
      storeMode = 'compare';
      this.prefetch = null;
      rows = this.compareCore(before, bitrotCore(m), await q.readCore(), undef);
    }
    if (rows.some((r) => r.differs)) {
      const extra: string[] = [];
      if (bitrotExc >= 0) extra.push(`  bitrot delivered exception/interrupt vector ${bitrotExc} during this step`);
      throw new Divergence('registers differ', rows, extra);
    }
    if (undef && (bc0.eflags ^ qc.eflags) & undef) {
      cpu.setFlags((bc0.eflags & ~undef) | (qc.eflags & undef));
      const key = `${opcodeName(d)} (${x86.flagNames((bc0.eflags ^ qc.eflags) & undef)})`;
      this.flagSyncs.set(key, (this.flagSyncs.get(key) ?? 0) + 1);
      entry.note = `undefined ${x86.flagNames((bc0.eflags ^ qc.eflags) & undef)} taken from QEMU`;
    }

    if (cpu.cr4 & 0x20) this.paePdpts.add((cpu.cr3 & ~0x1f) >>> 0);
    await this.compareStores(storeMode, entry);
    if (this.o.watch && this.count >= this.o.watch.from) await this.checkWatch();

    if (outPort !== null && A20_PORTS.has(outPort)) {
      const mon = await q.readMonitorState();
      setA20(m, mon.a20 !== 0);
    }
    const selChanged = before.sel.some((s, i) => s !== qc.sel[i]);
    if (this.o.fullCheck || bitrotExc >= 0 || selChanged || x86.touchesSystemState(d) || hlt || (qc.cr[0] ?? 0) !== before.cr[0]) {
      await this.compareSystemState();
    }
    if (this.o.memCheckEvery && this.count - this.lastMemCheck >= this.o.memCheckEvery) {
      await this.checkAllMemory(`in the periodic check after instruction #${this.count} (the previous one was at #${this.lastMemCheck})`, LOW_MEM, this.lastMemCheck);
      this.lastMemCheck = this.count;
    }

    if (hlt && cpu.halted) {
      const mon = await q.readMonitorState();
      if (!mon.halted) throw new Divergence('bitrot halted, QEMU did not', this.compareCore(before, bitrotCore(m), await q.readCore(), 0));
      if (before.eflags & 0x200 || qc.eflags & 0x200) {
        return this.finishAgreement('both CPUs halted with interrupts enabled; the bare machine has no device to wake them');
      }
      return this.finishAgreement('both CPUs halted with interrupts disabled');
    }
    return null;
  }

  private async qemuCsBase(qc: CoreRegs): Promise<number> {
    // Real mode and v86: the base follows the selector; otherwise ask the monitor.
    if (!((qc.cr[0] ?? this.m.cpu.cr0) & CR0_PE) || qc.eflags & EFLAGS_VM) return (qc.sel[1] << 4) >>> 0;
    return (await this.q.readMonitorState()).segs[1].base;
  }

  /** IN, CPUID and friends: bitrot takes QEMU's result (the machines differ there). */
  private adoptInputs(d: x86.Insn, code32: boolean, qc: CoreRegs, entry: HistoryEntry): void {
    const regs = this.m.cpu.regs;
    if (x86.isPortIn(d)) {
      const size = d.op === 0xe4 || d.op === 0xec ? 8 : code32 !== d.opsize ? 32 : 16;
      const mask = size === 32 ? 0xffffffff : (1 << size) - 1;
      const old = regs[0] >>> 0;
      regs[0] = ((old & ~mask) | (qc.gpr[0] & mask)) | 0;
      const port = d.op === 0xe4 || d.op === 0xe5 ? d.imm8 : qc.gpr[2] & 0xffff;
      const key = `IN port ${hex(port, 2)}`;
      this.inputs.set(key, (this.inputs.get(key) ?? 0) + 1);
      if ((old & mask) !== (qc.gpr[0] & mask)) entry.note = `port input taken from QEMU`;
      return;
    }
    const ms = x86.modelSpecific(d);
    if (ms) {
      for (const r of ms.regs) regs[r] = qc.gpr[r] | 0;
      this.inputs.set(ms.name, (this.inputs.get(ms.name) ?? 0) + 1);
      entry.note = `${ms.name} result taken from QEMU`;
    }
  }

  /** The register table; `q` null when QEMU has no registers to show (it ended). */
  private compareCore(before: CoreRegs, b: CoreRegs, q: CoreRegs | null, undef: number): Row[] {
    const rows: Row[] = [];
    const add = (name: string, pre: number | null, bv: number | null, qv: number | null | undefined, mask = 0xffffffff, width = 8): void => {
      if (bv === null) return;
      const qn = qv ?? null;
      rows.push({ name, before: pre, bitrot: bv, qemu: qn, differs: qn !== null && ((bv ^ qn) & mask) !== 0, width });
    };
    GPR.forEach((n, i) => add(n, before.gpr[i], b.gpr[i], q?.gpr[i]));
    add('EIP', before.eip, b.eip, q?.eip);
    add('EFLAGS', before.eflags, b.eflags, q?.eflags, ~undef);
    if (undef) rows[rows.length - 1].note = `undefined here: ${x86.flagNames(undef)}`;
    SEG.forEach((n, i) => add(n, before.sel[i], b.sel[i], q?.sel[i], 0xffff, 4));
    ['CR0', 'CR2', 'CR3', 'CR4'].forEach((n, i) => add(n, before.cr[i], b.cr[i], q?.cr[i]));
    add('FS.base', before.fsBase, b.fsBase, q?.fsBase);
    add('GS.base', before.gsBase, b.gsBase, q?.gsBase);
    return rows;
  }

  /** Rows for a report when the instruction ended differently (QEMU's registers if it is still there). */
  private async rowsAfter(before: CoreRegs, qemuAlive: boolean): Promise<Row[]> {
    let qc: CoreRegs | null = null;
    if (qemuAlive && this.q.running) qc = await this.q.readCore().catch(() => null);
    return this.compareCore(before, bitrotCore(this.m), qc, 0);
  }

  // ---- memory ---------------------------------------------------------------------------

  /** Compare what bitrot stored during the last instruction with QEMU's memory (or copy it one way). */
  /** Byte ranges bitrot changed since the shadow copy was last brought up to date (pages dirtied so far). */
  private storeSpans(): [number, number][] {
    for (const p of this.m.mem.takeDirty()) if (p < RAM_SIZE >>> 12) this.dirtyPages.add(p);
    const back = this.m.mem.backing;
    const spans: [number, number][] = [];
    for (const p of [...this.dirtyPages].sort((x, y) => x - y)) {
      const base = p << 12;
      let i = base;
      const end = base + 4096;
      while (i < end) {
        if (back[i] === this.shadow[i]) {
          i++;
          continue;
        }
        let j = i + 1;
        let last = i;
        while (j < end && j - last <= 16) {
          if (back[j] !== this.shadow[j]) last = j;
          j++;
        }
        spans.push([i, last + 1]);
        i = last + 1;
      }
    }
    return spans;
  }

  /** Start reading QEMU's bytes for bitrot's stores now, alongside the register read. */
  private prefetchStores(): void {
    const spans = this.storeSpans();
    if (spans.length === 0) {
      this.prefetch = null;
      return;
    }
    const data = Promise.all(spans.map(([a, b]) => this.q.readMemory(a, b - a)));
    data.catch(() => {}); // a dropped prefetch must not become an unhandled rejection
    this.prefetch = { spans, data };
  }

  /** Compare what bitrot stored during the last instruction with QEMU's memory (or copy it one way). */
  private async compareStores(mode: StoreMode, entry: HistoryEntry): Promise<void> {
    const prefetch = this.prefetch;
    this.prefetch = null;
    if (mode === 'none') {
      this.dirtyPages.clear();
      return;
    }
    const mem = this.m.mem;
    const spans = this.storeSpans();
    this.dirtyPages.clear();
    if (spans.length === 0) return;
    const back = mem.backing;
    if (mode === 'push-bitrot') {
      for (const [a, b] of spans) {
        await this.q.writeMemory(a, back.subarray(a, b));
        this.shadow.set(back.subarray(a, b), a);
      }
      return;
    }
    const reuse = prefetch !== null && prefetch.spans.length === spans.length && prefetch.spans.every(([a, b], k) => a === spans[k][0] && b === spans[k][1]);
    const replies = reuse ? await prefetch.data : await Promise.all(spans.map(([a, b]) => this.q.readMemory(a, b - a)));
    for (let k = 0; k < spans.length; k++) {
      const [a, b] = spans[k];
      const qd = replies[k].data;
      const bd = back.subarray(a, b);
      const vga = a < VGA_END && b > VGA_START;
      let same = true;
      for (let i = 0; i < qd.length; i++) {
        if (qd[i] === bd[i]) continue;
        if (!vga && mode === 'compare' && (qd[i] ^ bd[i]) === 1 && bd[i] & 1 && this.isCodeDescriptorAccessByte(a + i)) {
          // Real CPUs set the accessed bit of a code segment's descriptor when CS is loaded
          // (SDM vol. 3, 3.4.5.1); QEMU does so only for data and stack segments. Follow
          // the hardware: write bitrot's byte into QEMU.
          await this.q.writeMemory(a + i, bd.subarray(i, i + 1));
          qd[i] = bd[i];
          this.quirk(QUIRK_CS_ACCESSED);
          continue;
        }
        same = false;
      }
      if (!same && !vga && mode === 'compare') {
        const old = this.shadow.subarray(a, b);
        throw new Divergence(`memory stored differs at physical ${hex(a)}..${hex(b - 1)}`, [], [
          `  stored at physical ${hex(a)}:`,
          `    before  ${bytesHex(old)}`,
          `    bitrot  ${bytesHex(bd)}`,
          `    QEMU    ${bytesHex(qd)}`,
        ]);
      }
      if (!same) {
        mem.load(a, qd);
        entry.note = mode === 'take-qemu' ? 'port input (INS) taken from QEMU' : 'VGA memory taken from QEMU';
      }
      this.shadow.set(qd, a);
    }
    mem.takeDirty();
  }

  /** The watched bytes (a second run locating a memory difference): compare after every instruction. */
  private async checkWatch(): Promise<void> {
    const w = this.o.watch!;
    const { data } = await this.q.readMemory(w.addr, w.len);
    const b = this.m.mem.backing.subarray(w.addr, w.addr + w.len);
    for (let i = 0; i < data.length; i++) if (data[i] !== b[i] && (await this.knownMemoryQuirk(w.addr + i, b[i], data[i]))) data[i] = b[i];
    if (data.every((v, i) => v === b[i])) return;
    throw new Divergence(`memory at physical ${hex(w.addr)} differs after this instruction, which bitrot did not store there (QEMU wrote it, or bitrot wrote it earlier without a matching store in QEMU)`, [], [
      `  physical ${hex(w.addr)}:`,
      `    bitrot  ${bytesHex(b)}`,
      `    QEMU    ${bytesHex(data)}`,
    ]);
  }

  /**
   * Give QEMU bitrot's registers: the GPRs, EIP, EFLAGS, and the selectors that differ from
   * QEMU's `now` (QEMU's gdbstub loads a selector's hidden part from the descriptor tables).
   */
  private async pushToQemu(now: CoreRegs): Promise<void> {
    const b = bitrotCore(this.m);
    const vals: Record<string, number> = {};
    ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'].forEach((n, i) => (vals[n] = b.gpr[i]));
    vals.eip = b.eip;
    vals.eflags = b.eflags;
    ['es', 'cs', 'ss', 'ds', 'fs', 'gs'].forEach((n, i) => {
      if (b.sel[i] !== now.sel[i]) vals[n] = b.sel[i];
    });
    await this.q.writeRegs(vals);
  }

  /** bitrot's next step delivers an instruction-breakpoint #DB (DR7 enables one at CS:EIP, RF clear). */
  private codeBreakpointPending(): boolean {
    const c = this.m.cpu;
    return !(c.getFlags() & 0x10000) && this.codeBreakpointAt((c.segBase[1] + c.eip) | 0);
  }

  /** A memory or stack operand of the instruction outside its segment's limit (a description), or null. */
  private limitViolation(bytes: Uint8Array, d: x86.Insn, before: CoreRegs, code32: boolean): string | null {
    // bitrot has delivered the exception by now: use the segment state from before it.
    const check = (seg: number, first: number, last: number, wrap: number): string | null => {
      const limit = this.segLimitBefore[seg];
      const ar = this.segARBefore[seg];
      const expandDown = (ar & 0x18) === 0x10 && (ar & 0x4) !== 0;
      const top = ar & 0x4000 ? 0xffffffff : 0xffff;
      for (const off of [first & wrap, last & wrap].map((v) => v >>> 0)) {
        const bad = expandDown ? off <= limit || off > top : off > limit;
        if (bad) return `offset ${hex(off)} is outside ${SEG[seg]}'s ${expandDown ? 'expand-down ' : ''}limit ${hex(limit)}`;
      }
      return null;
    };
    const width = x86.accessWidth(d, code32);
    for (const { seg, offset } of x86.memOperands(bytes, d, before.gpr, code32)) {
      const r = check(seg, offset, offset + width - 1, 0xffffffff);
      if (r) return r;
    }
    const st = x86.stackAccess(d, code32);
    if (st) {
      const wrap = this.segARBefore[2] & 0x4000 ? 0xffffffff : 0xffff;
      const esp = before.gpr[4];
      return check(2, esp + st.from, esp + st.to - 1, wrap);
    }
    return null;
  }

  /**
   * Undo what QEMU stored while executing an instruction bitrot faulted on: give QEMU
   * bitrot's bytes wherever the instruction's data and stack operands lie.
   */
  private async undoQemuStores(bytes: Uint8Array, d: x86.Insn, before: CoreRegs, code32: boolean): Promise<void> {
    const lins: number[] = [];
    const width = x86.accessWidth(d, code32);
    for (const { seg, offset } of x86.memOperands(bytes, d, before.gpr, code32)) {
      for (let i = 0; i < Math.max(width, 4); i++) lins.push(this.segBaseBefore[seg] + offset + i);
    }
    const st = x86.stackAccess(d, code32);
    if (st) {
      const wrap = this.segARBefore[2] & 0x4000 ? 0xffffffff : 0xffff;
      for (let o = st.from; o < st.to; o++) lins.push(this.segBaseBefore[2] + ((before.gpr[4] + o) & wrap));
    }
    const back = this.m.mem.backing;
    for (const lin of lins) {
      const p = linearToPhysical(this.m, lin >>> 0);
      if (p >= 0 && p < RAM_SIZE) await this.q.writeMemory(p, back.subarray(p, p + 1));
    }
  }

  /** With CR0.AM, EFLAGS.AC and CPL 3 before the instruction, a misaligned data or stack access (a description), or null. */
  private alignmentViolation(bytes: Uint8Array, d: x86.Insn, before: CoreRegs, code32: boolean): string | null {
    if (!(before.cr[0]! & 0x40000) || !(before.eflags & 0x40000) || this.cplBefore !== 3) return null;
    const width = x86.accessWidth(d, code32);
    if (width > 1) {
      for (const { seg, offset } of x86.memOperands(bytes, d, before.gpr, code32)) {
        const lin = (this.segBaseBefore[seg] + offset) >>> 0;
        if (lin % width) return `${width}-byte access at linear ${hex(lin)} with CR0.AM, EFLAGS.AC and CPL 3`;
      }
    }
    const st = x86.stackAccess(d, code32);
    if (st) {
      const size = code32 !== d.opsize ? 4 : 2;
      const lin = (this.segBaseBefore[2] + before.gpr[4] + st.from) >>> 0;
      if (lin % size) return `stack access at linear ${hex(lin)} with CR0.AM, EFLAGS.AC and CPL 3`;
    }
    return null;
  }

  /**
   * Stepped by its gdbstub, QEMU raises an instruction-breakpoint #DB whenever a step ends on
   * an address DR7 enables, even with EFLAGS.RF set (the step's debug exit checks DR0-DR3
   * without RF). When QEMU sits at the #DB handler and bitrot at such an address with RF
   * set, undo QEMU's delivery: bitrot's registers and the stack bytes QEMU pushed.
   */
  private async spuriousQemuDebugTrap(qc: CoreRegs, entry: HistoryEntry): Promise<boolean> {
    const c = this.m.cpu;
    const b = bitrotCore(this.m);
    if (!(b.eflags & 0x10000) || !this.codeBreakpointAt((c.segBase[1] + c.eip) | 0)) return false;
    const handler = this.vectorEntry(1);
    if (!handler || qc.eip !== handler.eip || qc.sel[1] !== handler.cs) return false;
    if (qc.sel[2] !== b.sel[2]) return false; // QEMU changed stacks: not undone here
    const from = (c.segBase[2] + qc.gpr[4]) >>> 0;
    for (let i = 0; i < 32; i++) {
      const p = linearToPhysical(this.m, from + i);
      if (p >= 0 && p < RAM_SIZE) await this.q.writeMemory(p, this.m.mem.backing.subarray(p, p + 1));
    }
    await this.pushToQemu(qc);
    this.quirk(QUIRK_DB_RF);
    entry.note = 'QEMU raised a #DB that EFLAGS.RF suppresses (single-step artifact): undone';
    return true;
  }

  /** CS:EIP of the handler for `vector` through the IVT or IDT (32-bit gates only), or null. */
  private vectorEntry(vector: number): { cs: number; eip: number } | null {
    const c = this.m.cpu;
    const rd = (lin: number): number => {
      const p = linearToPhysical(this.m, lin);
      return p < 0 ? 0 : this.m.mem.read32(p) >>> 0;
    };
    if (!(c.cr0 & CR0_PE)) {
      const v = rd(c.idtrBase + vector * 4);
      return { cs: v >>> 16, eip: v & 0xffff };
    }
    if (vector * 8 + 7 > c.idtrLimit) return null;
    const lo = rd(c.idtrBase + vector * 8), hi = rd(c.idtrBase + vector * 8 + 4);
    return { cs: lo >>> 16, eip: ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 };
  }

  private codeBreakpointAt(lin: number): boolean {
    const c = this.m.cpu;
    const d7 = c.dr[7];
    for (let k = 0; k < 4; k++) {
      if ((d7 >> (k * 2)) & 3 && ((d7 >>> (16 + k * 4)) & 3) === 0 && c.dr[k] === lin) return true;
    }
    return false;
  }

  /**
   * A byte QEMU changed alone that real CPUs leave: bit 5 ("accessed") of a PAE PDPTE,
   * which QEMU's page walk sets and Intel CPUs treat as reserved (SDM vol. 3, 4.4.1). The
   * byte is given bitrot's value in QEMU too.
   */
  private async knownMemoryQuirk(p: number, bitrotByte: number, qemuByte: number): Promise<boolean> {
    if ((bitrotByte ^ qemuByte) !== 0x20 || !(qemuByte & 0x20) || (p & 7) !== 0) return false;
    for (const pdpt of this.paePdpts) {
      if (p >= pdpt && p < pdpt + 32) {
        await this.q.writeMemory(p, Uint8Array.of(bitrotByte));
        this.quirk(QUIRK_PDPTE_A);
        return true;
      }
    }
    return false;
  }

  /** Is physical `p` the access byte (offset 5) of a code-segment descriptor in the GDT or LDT? */
  private isCodeDescriptorAccessByte(p: number): boolean {
    const c = this.m.cpu;
    const tables: [number, number][] = [[c.gdtrBase >>> 0, c.gdtrLimit]];
    if (c.ldtrSel & 0xfffc) tables.push([c.ldtrBase >>> 0, c.ldtrLimit]);
    for (const [base, limit] of tables) {
      for (let off = 5; off <= limit; off += 8) {
        if (linearToPhysical(this.m, base + off) === p) return (this.m.mem.read8(p) & 0x18) === 0x18; // S=1, code
      }
    }
    return false;
  }

  /** Compare RAM below `limit` (less the VGA window) with QEMU's. */
  private async checkAllMemory(when: string, limit: number, agreedAt: number): Promise<void> {
    const diffs: string[] = [];
    let total = 0;
    let first: { addr: number; len: number } | null = null;
    const back = this.m.mem.backing;
    for (const [a, b] of ramRanges(limit)) {
      for (let base = a; base < b; base += LOW_MEM) {
        const len = Math.min(LOW_MEM, b - base);
        const { data } = await this.q.readMemory(base, len);
        for (let i = 0; i < len; i++) {
          if (data[i] !== back[base + i] && (await this.knownMemoryQuirk(base + i, back[base + i], data[i]))) data[i] = back[base + i];
          if (data[i] === back[base + i]) continue;
          let j = i;
          while (j < len && j - i < 16 && data[j] !== back[base + j]) j++;
          total++;
          first ??= { addr: base + i, len: j - i };
          if (diffs.length < 8) {
            diffs.push(`  physical ${hex(base + i)}: bitrot ${bytesHex(back.subarray(base + i, base + j))}  QEMU ${bytesHex(data.subarray(i, j))}`);
          }
          i = j;
        }
      }
    }
    if (total) {
      throw new Divergence(`memory differs ${when}: ${total} differing range${total === 1 ? '' : 's'} (bytes no compared store explains: a store bitrot missed or QEMU made alone)`, [], diffs, first ? { ...first, from: agreedAt } : undefined);
    }
  }

  // ---- hidden state ---------------------------------------------------------------------

  private async compareSystemState(): Promise<void> {
    const mon = await this.q.readMonitorState();
    let rows = systemRows(this.m, mon);
    if (this.m.cpu.getFlags() & EFLAGS_VM) {
      // Segment attributes in virtual-8086 mode are fixed and no instruction can read them;
      // a difference there is noted, not reported.
      for (let k = 0; k < 6; k++) {
        const b = this.m.cpu.segAR[k] & 0xff, q = arFromQemuFlags(mon.segs[k].flags) & 0xff;
        if (b !== q) this.quirk(`virtual-8086 ${SEG[k]}.attr differs (bitrot ${hex(b, 2)}, QEMU ${hex(q, 2)}; the SDM's VMX guest-state checks require f3 for all six): not visible to software, not compared`);
      }
      rows = rows.filter((r) => !(r.name.endsWith('.attr') && r.name !== 'TR.attr'));
    }
    if (rows.some((r) => r.differs)) throw new Divergence('hidden CPU state differs (from QEMU\'s info registers)', rows.filter((r) => r.differs));
  }

  // ---- BIOS calls -----------------------------------------------------------------------

  private async biosCall(vector: number, retLin: number, before: CoreRegs): Promise<void> {
    const q = this.q;
    const name = `INT ${hex(vector, 2)}` + (vector === 0x13 || vector === 0x10 || vector === 0x15 || vector === 0x16 ? ` AH=${hex((before.gpr[0] >>> 8) & 0xff, 2)}` : '');
    this.biosCalls.set(name, (this.biosCalls.get(name) ?? 0) + 1);
    await q.setBreakpoint(retLin);
    const r = await q.cont(Math.max(1000, Math.min(60_000, this.remaining())));
    if (r === 'exited') throw new Divergence(`QEMU ended during the BIOS call ${name} (${this.qemuEnd()})`);
    if (r === 'timeout') throw new SetupError(`the BIOS call ${name} did not return to ${hex(retLin)} within 60 s`);
    await q.clearBreakpoint(retLin);
    await this.loadFromQemu(LOW_MEM);
    const at = (this.m.cpu.segBase[1] + this.m.cpu.eip) >>> 0;
    if (at !== retLin) throw new SetupError(`the BIOS call ${name} returned to ${hex(at)}, not ${hex(retLin)}`);
  }

  // ---- endings --------------------------------------------------------------------------

  private qemuEnd(): string {
    if (this.q.exitCode !== null) return `exit status ${this.q.exitCode}`;
    if (this.q.exitSignal) return `signal ${this.q.exitSignal}`;
    return 'connection closed';
  }

  private async qemuEnded(before: CoreRegs): Promise<DiffResult> {
    const m = this.m;
    const qs = this.q.exitCode;
    if (m.exitCode !== null) {
      if (qs === m.exitCode) return this.agreement(`program exited with status ${m.exitCode}`, m.exitCode);
      throw new Divergence(`exit status differs: bitrot ${m.exitCode}, QEMU ${qs ?? this.qemuEnd()}`, await this.rowsAfter(before, false));
    }
    if (this.tripleFault !== null && qs === 0) return this.agreement('both machines shut down on a triple fault', null);
    throw new Divergence(`QEMU ended (${this.qemuEnd()}${qs === 0 ? ': a triple fault or shutdown' : ''}), bitrot did not`, await this.rowsAfter(before, false));
  }

  private async finishAgreement(why: string): Promise<DiffResult> {
    try {
      await this.checkAllMemory('at the end', RAM_SIZE, this.lastMemCheck);
    } catch (e) {
      if (e instanceof Divergence) return this.divergence(e);
      throw e;
    }
    return this.agreement(why, null);
  }

  private quirk(what: string): void {
    this.quirks.set(what, (this.quirks.get(what) ?? 0) + 1);
  }

  private notes(): string[] {
    const n: string[] = [];
    const list = (mp: Map<string, number>): string => [...mp].map(([k, v]) => `${k} x${v}`).join(', ');
    if (this.biosCalls.size) n.push(`BIOS calls run by QEMU alone (bitrot reloaded after each): ${list(this.biosCalls)}`);
    if (this.inputs.size) n.push(`results taken from QEMU: ${list(this.inputs)}`);
    for (const [q, k] of this.quirks) n.push(`${q}: ${k} time${k === 1 ? '' : 's'}`);
    if (this.emptySteps) n.push(`QEMU single steps that retired nothing and were repeated: ${this.emptySteps}`);
    if (this.flagSyncs.size) n.push(`undefined flags that differed, taken from QEMU: ${list(this.flagSyncs)}`);
    return n;
  }

  private agreement(why: string, status: number | null): DiffResult {
    return { agree: true, count: this.count, summary: `agree for ${this.count} instructions (${why})`, details: '', notes: this.notes(), exitStatus: status };
  }

  private divergence(e: Divergence): DiffResult {
    const last = this.history[this.history.length - 1];
    const details = formatDivergence({
      what: e.what,
      entry: last,
      history: this.history.slice(0, -1),
      rows: e.rows,
      extra: e.extra,
      notes: this.notes(),
    });
    const where = last ? ` at ${last.segmented ? `${hex(last.cs, 4)}:${hex(last.eip, 4)}` : `${hex(last.cs, 4)}:${hex(last.eip)}`}` : '';
    return {
      agree: false,
      count: this.count,
      summary: `diverge at ${last && last.index === 0 ? 'a BIOS call' : `instruction #${last?.index ?? this.count}`}${where}: ${e.what}`,
      details,
      notes: this.notes(),
      exitStatus: null,
      locate: e.locate,
    };
  }
}

/** "opcode 0F BC" or "opcode F7 /6": enough to find the instruction in the SDM. */
function opcodeName(d: x86.Insn): string {
  const op = d.op > 0xff ? `0F ${hex(d.op & 0xff, 2).toUpperCase()}` : hex(d.op, 2).toUpperCase();
  const group = [0x80, 0x81, 0x83, 0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3, 0xf6, 0xf7, 0xfe, 0xff, 0x0fba].includes(d.op);
  return `opcode ${op}${group ? ` /${(d.modrm >> 3) & 7}` : ''}`;
}

function sameCore(a: CoreRegs, b: CoreRegs): boolean {
  return a.eip === b.eip && a.eflags === b.eflags && a.gpr.every((v, i) => v === b.gpr[i]) && a.sel.every((v, i) => v === b.sel[i]);
}

function bytesHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Hidden segment state, descriptor-table registers, CPL and HLT: bitrot vs `info registers`. */
function systemRows(m: Machine, mon: MonitorState): Row[] {
  const c = m.cpu;
  const rows: Row[] = [];
  const add = (name: string, bv: number, qv: number, width = 8): void => {
    rows.push({ name, before: null, bitrot: bv >>> 0, qemu: qv >>> 0, differs: bv >>> 0 !== qv >>> 0, width });
  };
  const pm = (c.cr0 & CR0_PE) !== 0 && !(c.getFlags() & EFLAGS_VM);
  for (let s = 0; s < 6; s++) {
    const g = mon.segs[s];
    // A null selector in DS/ES/FS/GS leaves the hidden part unusable: its contents do not matter.
    if (pm && s !== 1 && s !== 2 && (c.segSel[s] & 0xfffc) === 0 && (g.sel & 0xfffc) === 0) continue;
    add(`${SEG[s]}.base`, c.segBase[s], g.base);
    add(`${SEG[s]}.limit`, c.segLimit[s], g.limit);
    // QEMU does not set the accessed bit on CS loads (see QUIRK_CS_ACCESSED): not compared for CS.
    const arMask = s === 1 ? 0xf0fe : 0xf0ff;
    add(`${SEG[s]}.attr`, c.segAR[s] & arMask, arFromQemuFlags(g.flags) & arMask, 4);
  }
  add('GDTR.base', c.gdtrBase, mon.gdt.base);
  add('GDTR.limit', c.gdtrLimit, mon.gdt.limit, 4);
  add('IDTR.base', c.idtrBase, mon.idt.base);
  add('IDTR.limit', c.idtrLimit, mon.idt.limit, 4);
  add('LDTR.sel', c.ldtrSel, mon.ldtr.sel, 4);
  if ((mon.ldtr.sel & 0xfffc) !== 0) {
    add('LDTR.base', c.ldtrBase, mon.ldtr.base);
    add('LDTR.limit', c.ldtrLimit, mon.ldtr.limit);
  }
  add('TR.sel', c.trSel, mon.tr.sel, 4);
  if ((mon.tr.sel & 0xfffc) !== 0) {
    add('TR.base', c.trBase, mon.tr.base);
    add('TR.limit', c.trLimit, mon.tr.limit);
    // QEMU caches the TSS type LTR found (available), real CPUs the busy type LTR wrote back: not compared.
    add('TR.attr', c.trAR & 0xf0fd, arFromQemuFlags(mon.tr.flags) & 0xf0fd, 4);
  }
  add('CPL', c.cpl, mon.cpl, 1);
  add('HLT', c.halted ? 1 : 0, mon.halted ? 1 : 0, 1);
  return rows;
}

