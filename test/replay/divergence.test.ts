import { describe, expect, it } from 'vitest';
import { Session } from '../../replay/session.ts';
import { Recorder } from '../../replay/recorder.ts';
import { decodeRecording } from '../../replay/format.ts';
import { replay, replaySession, splitRecording } from '../../replay/replayer.ts';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';
import { echoPc, MemorySink, ECHO_ROM_PATH, recordEcho } from './helpers.ts';

const HEADER = { machine: { memoryMB: 2, noReboot: true, bios: ECHO_ROM_PATH }, images: [], rtcStart: RTC_DEFAULT_START, faults: null, parent: null };

/** Record the echo ROM while `meddle` changes the machine behind the input door at `at`. */
function recordWithMeddling(at: number, meddle: (pc: ReturnType<typeof echoPc>) => void, traceEvery = 10_000, checkpointEvery = 1_000_000, end = 6_000_000) {
  const pc = echoPc();
  const session = new Session(pc.machine, { seekable: false });
  const sink = new MemorySink();
  const rec = new Recorder(session, sink, HEADER, { checkpointEvery, traceEvery });
  rec.run(at);
  meddle(pc);
  const r = rec.run(end);
  rec.finish(r);
  return splitRecording(decodeRecording(sink.bytes()));
}

function verify(parts: ReturnType<typeof splitRecording>) {
  const pc = echoPc();
  const s = new Session(pc.machine, { timeline: parts.inputs, seekable: false });
  return replay(s, parts, { verify: true });
}

describe('divergence detection', () => {
  it('a RAM write behind the door is found at the next checkpoint, by page', () => {
    const parts = recordWithMeddling(2_500_000, (pc) => pc.machine.mem.write8(0x12345, 0x5a));
    const res = verify(parts);
    expect(res.checkpointsVerified).toBe(2);
    expect(res.divergence?.icount).toBe(3_000_000);
    expect(res.divergence?.findings.join('\n')).toMatch(/RAM: 1 page differs \(0x12000\)/);
    expect(res.divergence?.findings.join('\n')).not.toMatch(/CPU:/);
  });

  it('a register changed behind the door: the CPU digests pin the window, and the registers are named', () => {
    // The echo ROM halts between interrupts: EBX is not used by it, so the change persists.
    const parts = recordWithMeddling(204_321, (pc) => (pc.machine.cpu.regs[3] ^= 0x100), 1, 100_000, 400_000);
    const res = verify(parts);
    expect(res.divergence?.icount).toBe(300_000);
    const text = res.divergence!.findings.join('\n');
    expect(res.divergence?.cpuWindow).toEqual([204_321, 204_322]);
    expect(text).toMatch(/the CPU first differs after the instruction at icount 204321/);
    expect(text).toMatch(/CPU: ebx 0x100 -> 0x0/);
  });

  it('a device changed behind the door is named', () => {
    const parts = recordWithMeddling(1_500_000, (pc) => pc.uarts[1].load({ ...(pc.uarts[1].save() as object), scr: 0x77 }));
    const res = verify(parts);
    expect(res.divergence?.icount).toBe(2_000_000);
    expect(res.divergence?.findings.join('\n')).toMatch(/devices: com2/);
  });

  it('input that does not come through the session is refused before it can change the guest', () => {
    const pc = echoPc();
    const s = new Session(pc.machine, { seekable: false });
    s.run(1_000_000);
    pc.machine.input.push(pc.machine.icount, 'serial0', 'x', pc.machine.icount);
    expect(() => s.run(2_000_000)).toThrow(/did not come through the session/);
  });

  it('a session refuses a source no device accepts', () => {
    const s = new Session(echoPc().machine, { seekable: false });
    expect(() => s.push('nosuch', 1)).toThrow(/no device accepts input from 'nosuch'/);
  });
});

describe('going live', () => {
  it('replay to an icount, then new input: a child recording that names its parent and replays on its own', () => {
    const parent = recordEcho(
      [
        { at: 1_000_000, source: 'serial0', payload: 'old1' },
        { at: 5_000_000, source: 'serial0', payload: 'old2' },
      ],
      8_000_000,
      { snapshotEvery: 2_000_000 },
    );
    const pc = echoPc();
    const s = replaySession(pc, parent.parts);
    s.seek(3_000_000);
    const sink = new MemorySink();
    s.branch();
    const child = new Recorder(s, sink, { ...HEADER, parent: { file: 'parent.rec', sha256: 'ab'.repeat(32), icount: 3_000_000 } }, { checkpointEvery: 1_000_000 });
    s.push('serial0', 'new!');
    const r = child.run(8_000_000);
    child.finish(r);
    expect(pc.machine.output.text('debugcon')).toContain('new!');
    const parts = splitRecording(decodeRecording(sink.bytes()));
    expect(parts.header.parent).toEqual({ file: 'parent.rec', sha256: 'ab'.repeat(32), icount: 3_000_000 });
    // the parent's input before the branch, then the new one; none of the old future
    expect(parts.inputs.map((e) => [e.icount, e.payload])).toEqual([
      [1_000_000, 'old1'],
      [3_000_000, 'new!'],
    ]);
    const res = verify(parts);
    expect(res.divergence).toBeNull();
    expect(res.checkpointsVerified).toBe(parts.checkpoints.length);
    // the replayed child ends where the live continuation did
    const again = echoPc();
    const s2 = new Session(again.machine, { timeline: parts.inputs, seekable: false });
    s2.run(8_000_000);
    expect(again.machine.hash()).toBe(pc.machine.hash());
  });

  it('input pushed after seeking back in a live session branches its timeline', () => {
    const pc = echoPc();
    const s = new Session(pc.machine, { snapshotEvery: 1_000_000 });
    s.run(2_000_000);
    s.push('serial0', 'A');
    s.run(6_000_000);
    expect(pc.machine.output.text('debugcon')).toContain('A');
    s.seek(4_000_000);
    s.push('serial0', 'B');
    expect(s.timeline.map((e) => e.payload)).toEqual(['A', 'B']);
    expect(s.furthest).toBe(4_000_000);
    expect(s.snapshotIcounts().every((n) => n <= 4_000_000)).toBe(true);
    s.run(6_000_000);
    // a fresh run of the new timeline gives the same machine
    const ref = echoPc();
    const r = new Session(ref.machine, { timeline: s.timeline, seekable: false });
    r.run(6_000_000);
    expect(ref.machine.hash()).toBe(pc.machine.hash());
  });
});
