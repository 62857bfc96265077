// `bitrot replay FILE`: rebuild the machine a recording names (refusing any image whose
// SHA-256 differs), feed it the recorded inputs at their icounts, and reproduce the run bit
// for bit. --verify checks every checkpoint and explains a divergence; --until-icount stops
// early (using embedded snapshots to get there fast); --go-live continues from there as a
// live run with new input, recorded with --record NEW as a child of FILE.
//
// Exit status: the recorded guest's own status when the replay reaches the recording's end
// (so `bitrot replay` exits as the original run did); 0 when it stops earlier; 4 when
// --verify finds a divergence; 2 on bad usage or an unusable file.

import { createPc } from '../../engine/pc.ts';
import { InputRefused } from '../../engine/doors.ts';
import { acceptDebuggerInput } from '../../gdbstub/inputs.ts';
import { attachFaults, formatFaultEvent, planFromData, FaultPlanError } from '../../faults/index.ts';
import { loadMachine, ConfigError } from '../../replay/machine-config.ts';
import { readRecordingFile, RecordingError, FileSink } from '../../replay/recording-file.ts';
import { replay, replaySession, splitRecording } from '../../replay/replayer.ts';
import { Recorder } from '../../replay/recorder.ts';
import { Session } from '../../replay/session.ts';
import { BootArgError, positiveInt, gdbPort, splitFlag, target, type OutputTarget } from '../boot-args.ts';
import { replayTarget, runUnderGdb, GdbRunError } from '../gdb-run.ts';
import { attachOutputs, drive, endOfRun, OutputOpenError } from '../live-run.ts';

export const REPLAY_USAGE = [
  'usage: bitrot replay FILE [--verify] [--until-icount N] [-serial stdio|file:PATH|none] [-debugcon stdio|file:PATH|none]',
  '                     [--go-live [--record NEW] [--max-instructions N]] [--gdb PORT]',
].join('\n');

interface ReplayArgs {
  file: string;
  verify: boolean;
  until?: number;
  serial: OutputTarget;
  debugcon: OutputTarget;
  goLive: boolean;
  record?: string;
  maxInstructions: number;
  /** Debug the recording with gdb (gdbstub/) on this port, stopped at its start. */
  gdbPort?: number;
}

export function parseReplayArgs(args: string[]): ReplayArgs {
  const r: ReplayArgs = { file: '', verify: false, serial: { kind: 'none' }, debugcon: { kind: 'none' }, goLive: false, maxInstructions: Infinity };
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [a, v] = splitFlag(args[i]);
    const value = () => {
      if (v !== undefined) return v;
      const next = args[++i];
      if (next === undefined) throw new BootArgError(`${a} needs a value`);
      return next;
    };
    switch (a) {
      case '--verify': r.verify = true; break;
      case '--go-live': r.goLive = true; break;
      case '--until-icount': {
        const s = value();
        const n = Number(s.replace(/_/g, ''));
        if (!Number.isSafeInteger(n) || n < 0) throw new BootArgError(`--until-icount takes a whole number of instructions, not '${s}'`);
        r.until = n;
        break;
      }
      case '--max-instructions': r.maxInstructions = positiveInt(a, value()); break;
      case '--record': r.record = value(); break;
      case '--gdb': r.gdbPort = gdbPort(a, value()); break;
      case '-serial': r.serial = target(a, value()); break;
      case '-debugcon': r.debugcon = target(a, value()); break;
      default:
        if (a.startsWith('-')) throw new BootArgError(`unknown flag '${a}'`);
        files.push(a);
    }
  }
  if (files.length !== 1) throw new BootArgError(files.length === 0 ? 'no recording given' : `one recording at a time, not ${files.length}`);
  r.file = files[0];
  if (r.record && !r.goLive) throw new BootArgError('--record needs --go-live (a replay is already recorded)');
  if (r.goLive && r.verify) throw new BootArgError('--go-live and --verify do not go together: verify first, then go live');
  return r;
}

export async function replayCommand(args: string[]): Promise<number> {
  let a: ReplayArgs;
  try {
    a = parseReplayArgs(args);
  } catch (e) {
    if (e instanceof BootArgError) {
      console.error(`bitrot replay: ${e.message}\n${REPLAY_USAGE}`);
      return 2;
    }
    throw e;
  }
  try {
    return await runReplay(a);
  } catch (e) {
    if (e instanceof RecordingError || e instanceof ConfigError || e instanceof OutputOpenError) {
      console.error(`bitrot replay: ${e.message}`);
      return 2;
    }
    if (e instanceof InputRefused) {
      console.error(`bitrot replay: recording '${a.file}': ${e.message}`);
      return 2;
    }
    throw e;
  }
}

async function runReplay(a: ReplayArgs): Promise<number> {
  const rec = readRecordingFile(a.file);
  let parts;
  try {
    parts = splitRecording(rec);
  } catch (e) {
    throw new RecordingError(`recording '${a.file}' is damaged: ${(e as Error).message}`);
  }
  if (rec.damage) {
    console.error(`bitrot replay: recording '${a.file}' is ${rec.damage}; replaying its valid prefix (to instruction ${parts.lastIcount})`);
  }
  const h = rec.header;
  const loaded = loadMachine(h.machine, h.images);
  loaded.pc.rtcStart = h.rtcStart;
  const pc = createPc(loaded.pc);
  // Writes made from gdb are input too: a recording may hold them.
  acceptDebuggerInput(pc.machine);
  if (h.faults) {
    // The recorded plan and seed: the replay injects exactly the same faults.
    try {
      attachFaults(pc, planFromData(h.faults.plan, a.file), h.faults.seed);
      pc.machine.output.listen((e) => {
        if (e.kind === 'fault') process.stderr.write(formatFaultEvent(e.icount, e.data) + '\n');
      });
    } catch (e) {
      if (e instanceof FaultPlanError) throw new RecordingError(`recording '${a.file}': its fault plan is unusable: ${e.message}`);
      throw e;
    }
  }
  const foreign = parts.inputs.find((e) => !pc.machine.input.accepts(e.source));
  if (foreign) throw new RecordingError(`recording '${a.file}' has input from '${foreign.source}' (at instruction ${foreign.icount}), which this machine does not take`);
  const outputs = attachOutputs(pc, a.serial, a.debugcon);
  // Embedded snapshots skip ahead, but the output before the point they jump to is not
  // shown: use them only when no output was asked for.
  const quiet = a.serial.kind === 'none' && a.debugcon.kind === 'none';
  const useSnapshots = parts.snapshots.length > 0 && a.until !== undefined && !a.verify && quiet;
  if (a.gdbPort !== undefined) {
    // Under gdb: stopped at the start, forwards and backwards within the recording.
    const s = replaySession(pc, parts, { snapshotEvery: 5_000_000 });
    let r;
    try {
      r = await runUnderGdb(pc, replayTarget(s, parts.end ? parts.end.n : parts.lastIcount), {
        port: a.gdbPort, wait: true, maxInstructions: Infinity, who: 'bitrot replay', hasFaults: h.faults !== null,
      });
    } catch (e) {
      if (e instanceof GdbRunError) throw new RecordingError(e.message);
      throw e;
    } finally {
      outputs.close();
    }
    return r === null ? 0 : endOfRun('bitrot replay', pc, r);
  }
  const session = useSnapshots ? replaySession(pc, parts, { snapshotEvery: Infinity }) : new Session(pc.machine, { timeline: parts.inputs, seekable: false });
  const end = parts.end ? parts.end.n : parts.lastIcount;
  const until = a.until ?? end;
  if (until > end) console.error(`bitrot replay: the recording ends at instruction ${end}; replaying past it runs with no further input`);
  const t0 = process.hrtime.bigint();
  const res = replay(session, parts, { verify: a.verify, until });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = pc.machine;
  if (res.divergence) {
    outputs.close();
    console.error(`bitrot replay: divergence at checkpoint icount ${res.divergence.icount} (${res.checkpointsVerified} checkpoints matched before it):`);
    for (const f of res.divergence.findings) console.error(`  ${f}`);
    const from = res.divergence.cpuWindow ? res.divergence.cpuWindow[0] : res.divergence.icount - h.checkpointEvery;
    console.error(`  to look closer: bitrot replay ${a.file} --gdb 1234, then in gdb: monitor seek ${Math.max(0, from)}`);
    return 4;
  }
  const ips = secs > 0 ? ` in ${secs.toFixed(2)} s (${(m.icount / secs / 1e6).toFixed(1)} MIPS)` : '';
  console.error(
    `bitrot replay: instruction ${m.icount}${ips}, ${session.deliveredCount} inputs` +
      (a.verify ? `, ${res.checkpointsVerified} checkpoints verified` : '') +
      `, state hash ${m.hash()}`,
  );
  if (!a.goLive) {
    outputs.close();
    if (parts.end && m.icount === parts.end.n && res.run.reason === parts.end.reason) {
      return parts.end.reason === 'exit' ? (parts.end.exitCode ?? 1) : parts.end.reason === 'triple-fault' ? 3 : 0;
    }
    if (res.run.reason !== 'deadline') return endOfRun('bitrot replay', pc, res.run);
    return 0;
  }
  // Going live: the future of the recording is dropped and new input starts here.
  session.branch();
  let sink: FileSink | null = null;
  let recorder: Recorder | null = null;
  if (a.record) {
    sink = new FileSink(a.record);
    recorder = new Recorder(
      session,
      sink,
      { machine: h.machine, images: loaded.images, rtcStart: h.rtcStart, faults: h.faults, parent: { file: a.file, sha256: rec.sha256, icount: m.icount } },
      { checkpointEvery: h.checkpointEvery, traceEvery: h.traceEvery },
    );
  }
  console.error(`bitrot replay: live from instruction ${m.icount}${a.record ? `, recording to '${a.record}'` : ''}`);
  let r;
  try {
    r = await drive(pc, session, recorder, { maxInstructions: a.maxInstructions, screen: false, stdin: a.serial.kind === 'stdio' ? 'serial' : 'none' });
  } finally {
    outputs.close();
  }
  if (recorder && sink) {
    recorder.finish(r);
    sink.close();
  }
  return endOfRun('bitrot replay', pc, r);
}
