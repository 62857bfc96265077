// The stub's protocol without gdb: framing, capabilities, registers and memory, breakpoints
// and watchpoints, reverse steps on a session, a fast-check fuzz of the packet handling
// (malformed packets get error replies, never an exception), and a reconnection that finds
// the machine where it was.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PacketReader, frame, checksum, hexOfText } from '../../gdbstub/packets.ts';
import { GdbStub } from '../../gdbstub/stub.ts';
import { createBareMachine } from '../../engine/bare.ts';
import { Session } from '../../replay/session.ts';
import { RspClient } from '../../tools/qemu-diff/rsp.ts';
import { bareRig, guest } from './helpers.ts';

function stubFor(name: string): GdbStub {
  const m = createBareMachine({ image: guest(name) });
  return new GdbStub(new Session(m, { snapshotEvery: 500 }));
}

/** Handle a packet that must answer at once. */
function ask(stub: GdbStub, p: string): string[] {
  const h = stub.handle(p);
  if (h.run) {
    const r = h.run(() => false);
    if ('next' in r) {
      let n = r.next();
      while (!n.done) n = r.next();
      return stub.stopReplies(n.value);
    }
    return stub.stopReplies(r);
  }
  return h.replies;
}

describe('framing', () => {
  it('reads packets, acks, interrupts, and rejects bad checksums and overlong packets', () => {
    const r = new PacketReader();
    const ev = r.feed(`+${frame('qSupported:swbreak+')}\x03$g#00-`);
    expect(ev.map((e) => e.kind)).toEqual(['ack', 'packet', 'interrupt', 'bad-checksum', 'nack']);
    expect(ev[1]).toEqual({ kind: 'packet', data: 'qSupported:swbreak+' });
    expect(r.feed('$' + 'x'.repeat(0x5000) + '#00')[0].kind).toBe('too-long');
    // split across chunks
    const f = frame('m7c00,10');
    expect(r.feed(f.slice(0, 5))).toEqual([]);
    expect(r.feed(f.slice(5))).toEqual([{ kind: 'packet', data: 'm7c00,10' }]);
    expect(frame('a}b')).toBe(`$a}]b#${checksum('a}]b').toString(16).padStart(2, '0')}`);
  });
});

describe('packets', () => {
  it('offers what the issue lists and describes an i8086 CPU in real mode', () => {
    const s = stubFor('vga');
    const sup = ask(s, 'qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+')[0];
    for (const f of ['PacketSize=', 'qXfer:features:read+', 'QStartNoAckMode+', 'swbreak+', 'hwbreak+', 'vContSupported+', 'ReverseStep+', 'ReverseContinue+']) {
      expect(sup).toContain(f);
    }
    const xml = ask(s, 'qXfer:features:read:target.xml:0,3fff')[0];
    expect(xml[0]).toBe('l');
    expect(xml).toContain('<architecture>i8086</architecture>');
    for (const r of ['eax', 'eip', 'eflags', 'cs', 'gs', 'st0', 'st7', 'fop', 'cr0', 'cr2', 'cr3', 'cr4']) expect(xml).toContain(`name="${r}"`);
    expect(ask(s, 'vCont?')[0]).toBe('vCont;c;C;s;S;r');
    expect(ask(s, 'qC')).toEqual(['QC1']);
    expect(ask(s, 'qfThreadInfo')).toEqual(['m1']);
    expect(ask(s, 'qsThreadInfo')).toEqual(['l']);
    expect(ask(s, 'qAttached')).toEqual(['1']);
    expect(ask(s, 'qSomethingNew')).toEqual(['']);
    expect(ask(s, 'vFoo')).toEqual(['']);
  });

  it('reads and writes registers and memory, and steps', () => {
    const s = stubFor('vga');
    const g = ask(s, 'g')[0];
    expect(g.slice(8 * 8, 8 * 8 + 8)).toBe('007c0000'); // eip
    expect(ask(s, 'm7c00,2')).toEqual(['fafc']); // cli; cld
    expect(ask(s, 'p8')).toEqual(['007c0000']);
    expect(ask(s, 'P0=78563412')).toEqual(['OK']);
    expect(ask(s, 'p0')).toEqual(['78563412']);
    expect(ask(s, 'M500,2:abcd')).toEqual(['OK']);
    expect(ask(s, 'm500,2')).toEqual(['abcd']);
    expect(ask(s, 'X502,1:}]')).toEqual(['OK']); // escaped '}'
    expect(ask(s, 'm502,1')).toEqual(['7d']);
    expect(ask(s, 'vCont;s:1')).toEqual(['T05thread:01;']);
    expect(ask(s, 'p8')).toEqual(['017c0000']);
    // The writes went into the session's timeline at icount 0: back there the state is the
    // one before them (input takes effect as the machine goes on), and going on applies them.
    expect(ask(s, 'bs')).toEqual(['T05thread:01;']);
    expect(ask(s, 'p0')).toEqual(['00000000']);
    expect(ask(s, 'bs')).toEqual(['T05thread:01;replaylog:begin;']);
    expect(ask(s, 's')).toEqual(['T05thread:01;']);
    expect(ask(s, 'p0')).toEqual(['78563412']);
    expect(ask(s, 'm500,3')).toEqual(['abcd7d']);
  });

  it('stops at any number of breakpoints and reports watchpoints with their kind', () => {
    const s = stubFor('vga');
    ask(s, 'qSupported:swbreak+;hwbreak+');
    for (let a = 0x7d00; a < 0x7d80; a++) expect(ask(s, `Z0,${a.toString(16)},1`)).toEqual(['OK']);
    expect(ask(s, 'Z0,7c32,1')).toEqual(['OK']); // mov [es:di], ax
    expect(ask(s, 'vCont;c')).toEqual(['T05thread:01;swbreak:;']);
    expect(ask(s, 'p8')).toEqual(['327c0000']);
    expect(ask(s, 'z0,7c32,1')).toEqual(['OK']);
    expect(ask(s, 'Z1,7c32,1')).toEqual(['OK']);
    expect(ask(s, 'c')).toEqual(['T05thread:01;hwbreak:;']);
    expect(ask(s, 'z1,7c32,1')).toEqual(['OK']);
    expect(ask(s, 'Z3,b8002,2')).toEqual(['OK']);
    expect(ask(s, 'Z2,b8004,2')).toEqual(['OK']);
    expect(ask(s, 'c')).toEqual(['T05thread:01;watch:b8004;']);
    expect(ask(s, 'z2,b8004,2')).toEqual(['OK']);
    expect(ask(s, 'Z4,b8006,1')).toEqual(['OK']);
    expect(ask(s, 'c')).toEqual(['T05thread:01;awatch:b8006;']);
    // reads of watched bytes: none in this guest, so the run goes on to the guest's exit
    expect(ask(s, 'z4,b8006,1')).toEqual(['OK']);
    const end = ask(s, 'c');
    expect(end[end.length - 1]).toBe('W03');
  });

  it('answers malformed packets with errors and never throws (fast-check)', () => {
    const s = stubFor('vga');
    const prefixes = ['m', 'M', 'X', 'g', 'G', 'p', 'P', 'Z', 'z', 'q', 'Q', 'v', 'vCont;', 'qXfer:features:read:', 'qRcmd,', 'H', 'T', 'b', '?'];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.string({ maxLength: 40 }), (pre, rest) => {
        const p = pre + rest;
        // resumes run the guest; keep to packets that answer at once
        if (/^(c|s|C|S|bc|bs|vCont;[cCsSr])/.test(p) || p === 'D' || p === 'k') return;
        const h = s.handle(p);
        expect(Array.isArray(h.replies)).toBe(true);
        if (h.run) return;
        for (const r of h.replies) expect(typeof r).toBe('string');
      }),
      { numRuns: 3000 },
    );
    expect(ask(s, 'mzz,1')).toEqual(['E01']);
    expect(ask(s, 'M7c00,2:abc')).toEqual(['E01']);
    expect(ask(s, 'Z2,b8000,0')).toEqual(['E16']);
    expect(ask(s, 'P99=00000000')).toEqual(['E16']);
    expect(ask(s, 'qRcmd,zz')).toEqual(['E01']);
    expect(ask(s, 'vCont;x')).toEqual(['E01']);
  });

  it('runs monitor commands', () => {
    const s = stubFor('vga');
    const mon = (c: string) =>
      ask(s, `qRcmd,${hexOfText(c)}`)
        .filter((r) => r.startsWith('O'))
        .map((r) => Buffer.from(r.slice(1), 'hex').toString())
        .join('');
    expect(mon('help')).toContain('reverse');
    ask(s, 'vCont;s');
    expect(mon('icount')).toBe('icount 1\n');
    expect(mon('linear 07c0:0010')).toContain('linear 0x00007c10');
    expect(mon('info cpu')).toContain('real mode');
    expect(mon('info pic')).toContain('no pic');
    expect(mon('fault flip')).toMatch(/fault/);
    expect(mon('snapshot')).toContain('snapshot at icount 1');
    expect(mon('phys on')).toContain('physical');
    expect(mon('seek 0')).toContain('at icount 0');
    expect(mon('seek x')).toContain('usage');
    expect(mon('bogus')).toContain('unknown monitor command');
  });
});

describe('the server', () => {
  it('keeps the machine across a disconnect, works without acks, and refuses a port in use', async () => {
    const rig = await bareRig(guest('vga'));
    try {
      let c = await RspClient.connect('127.0.0.1', rig.port, 5000);
      await c.noAck();
      expect(await c.request('vCont;s')).toBe('T05thread:01;');
      expect(await c.request('vCont;s')).toBe('T05thread:01;');
      const regs = await c.request('g');
      c.close();
      await new Promise((r) => setTimeout(r, 50));
      c = await RspClient.connect('127.0.0.1', rig.port, 5000);
      expect(await c.request('g')).toBe(regs);
      expect(rig.machine.icount).toBe(2);
      // a garbage packet gets an error reply, the connection stays
      expect(await c.request('m,')).toBe('E01');
      c.close();
      const { GdbServer } = await import('../../gdbstub/server.ts');
      await expect(GdbServer.listen(rig.stub, { port: rig.port, startStopped: true })).rejects.toThrow(/already in use/);
      await expect(GdbServer.listen(rig.stub, { port: 70000, startStopped: true })).rejects.toThrow(/not a TCP port/);
    } finally {
      await rig.close();
    }
  });

  it('interrupts a running guest with Ctrl-C', async () => {
    const rig = await bareRig(Uint8Array.of(0xeb, 0xfe), 1_000_000); // jmp $
    try {
      const c = await RspClient.connect('127.0.0.1', rig.port, 5000);
      const r = await c.resume('vCont;c', 200);
      expect(r.interrupted).toBe(true);
      expect(r.reply).toBe('T02thread:01;');
      expect(rig.machine.icount).toBeGreaterThan(1000);
      expect(await c.request('p8')).toBe('007c0000');
      c.close();
    } finally {
      await rig.close();
    }
  });
});
