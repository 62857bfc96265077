// Running a session under the GDB stub (gdbstub/) from the command line: `bitrot boot -s`,
// `-S`, `--gdb PORT` and `bitrot replay FILE --gdb PORT`. The stub's server drives the
// machine (free while no gdb holds it, in slices for gdb's continue); the run ends when the
// guest does (exit, triple fault with -no-reboot, halt for good, the instruction limit),
// or when gdb kills it.

import type { Pc } from '../engine/pc.ts';
import type { RunResult } from '../engine/machine.ts';
import { GdbStub } from '../gdbstub/stub.ts';
import { GdbServer, GdbServerError } from '../gdbstub/server.ts';
import type { DebugSession } from '../gdbstub/target.ts';
import type { Session } from '../replay/session.ts';
import { attachFaults, parseFaultRule, ruleLabel, FAULT_SOURCE, FaultPlanError } from '../faults/index.ts';

export class GdbRunError extends Error {}

/** A replay session as the stub sees it: running forward stops at the recording's end. */
export function replayTarget(session: Session, endIcount: number): DebugSession {
  return {
    machine: session.machine,
    beginIcount: session.beginIcount,
    endIcount,
    run: (limit) => session.run(limit),
    seek: (icount) => session.seek(icount),
    snapshotIcounts: () => session.snapshotIcounts(),
    takeSnapshot: () => session.takeSnapshot(),
    push: (source, payload) => session.push(source, payload),
  };
}

export interface GdbRunOptions {
  port: number;
  wait: boolean;
  maxInstructions: number;
  /** The command's name for messages ('bitrot boot'). */
  who: string;
  /** The machine has a fault injector already (--faults); otherwise one with no rules is attached for `monitor fault`. */
  hasFaults: boolean;
}

/**
 * A fault injector for `monitor fault` when the run has none: it must be attached before
 * the session takes its first snapshot (it is a machine component).
 */
export function prepareFaults(pc: Pc, hasFaults: boolean): void {
  if (!hasFaults && !pc.machine.input.accepts(FAULT_SOURCE)) attachFaults(pc, { rules: [] }, 0);
}

/** The run's end, or null when gdb killed it. */
export async function runUnderGdb(pc: Pc, session: DebugSession, o: GdbRunOptions): Promise<RunResult | null> {
  const fault = pc.machine.input.accepts(FAULT_SOURCE)
    ? (text: string): string => {
        let rule;
        try {
          rule = parseFaultRule(text);
        } catch (e) {
          if (e instanceof FaultPlanError) throw new Error(e.message, { cause: e });
          throw e;
        }
        session.push(FAULT_SOURCE, rule as unknown as Record<string, unknown>);
        return `fault ${ruleLabel(rule, 0)} (${rule.kind}) injected at icount ${session.machine.icount}; it takes effect as the machine goes on`;
      }
    : null;
  // Going back and running forward again replays output the terminal has already shown:
  // only output past the furthest point reached goes out.
  const out = session.machine.output;
  const emit = out.emit.bind(out);
  let shown = -1;
  out.emit = (icount, kind, data, channel) => {
    if (icount <= shown) return;
    shown = icount;
    emit(icount, kind, data, channel);
  };
  const stub = new GdbStub(session, { devices: pc, fault });
  let server: GdbServer;
  try {
    server = await GdbServer.listen(stub, {
      port: o.port,
      startStopped: o.wait,
      maxInstructions: o.maxInstructions,
      log: (line) => console.error(`${o.who}: ${line}`),
    });
  } catch (e) {
    if (e instanceof GdbServerError) throw new GdbRunError(e.message);
    throw e;
  }
  console.error(`${o.who}: gdb stub on 127.0.0.1:${server.port}${o.wait ? ', waiting for gdb (target remote :' + server.port + ')' : ''}`);
  const end = await server.finished;
  await server.close();
  if (end.kind === 'killed') {
    console.error(`${o.who}: gdb killed the run at icount ${session.machine.icount}`);
    return null;
  }
  return end.result;
}
