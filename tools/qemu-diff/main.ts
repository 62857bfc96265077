// qemu-diff: run one program in QEMU (stepping it over the gdbstub) and in bitrot, in
// lockstep, and report the first instruction after which they differ.
//
//   npx tsx tools/qemu-diff/main.ts IMAGE [--max N] [--start 0x7c00] [--timeout SECONDS]
//
// Exit status: 0 agreement, 1 divergence, 2 usage or setup error. See README.md.

import { accessSync, constants, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { runDiff, type DiffOptions } from './diff.ts';
import { killAllNow, SetupError } from './qemu.ts';
import { RspError } from './rsp.ts';

const USAGE = `usage: npx tsx tools/qemu-diff/main.ts IMAGE [options]
  --max N            stop after N instructions (default 5000000)
  --start ADDR       linear address where the comparison starts (default 0x7c00)
  --timeout SECONDS  wall-clock limit (default 600)
  --mem-check N      compare all low memory every N instructions (default 20000, 0: only at the end)
  --full             compare hidden segment state and descriptor tables after every instruction
  --strict-flags     compare flags the instruction leaves undefined too
  --cpu MODEL        QEMU -cpu model (default: QEMU's own)
  --qemu PATH        the qemu-system-i386 to run`;

class UsageError extends Error {}

function parseNumber(flag: string, v: string | undefined): number {
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${flag}: '${v}' is not a number (decimal or 0x hex)`);
  return n;
}

export function parseArgs(argv: string[]): DiffOptions {
  const o: DiffOptions = { image: '', max: 5_000_000, start: 0x7c00, timeoutMs: 600_000, memCheckEvery: 20_000 };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--max': o.max = parseNumber(flag, value()); break;
      case '--start': o.start = parseNumber(flag, value()); break;
      case '--timeout': o.timeoutMs = parseNumber(flag, value()) * 1000; break;
      case '--mem-check': o.memCheckEvery = parseNumber(flag, value()); break;
      case '--full': o.fullCheck = true; break;
      case '--strict-flags': o.strictFlags = true; break;
      case '--cpu': o.cpu = value(); if (!o.cpu) throw new UsageError('--cpu needs a model name'); break;
      case '--qemu': o.qemu = value(); if (!o.qemu) throw new UsageError('--qemu needs a path'); break;
      case '-h': case '--help': throw new UsageError('');
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        rest.push(a);
    }
  }
  if (rest.length === 0) throw new UsageError('');
  if (rest.length > 1) throw new UsageError(`one image only, got ${rest.length}`);
  o.image = rest[0];
  if (o.max < 1) throw new UsageError('--max must be at least 1');
  if (o.timeoutMs < 1000) throw new UsageError('--timeout must be at least 1 second');
  return o;
}

function checkImage(path: string): void {
  let size: number;
  try {
    accessSync(path, constants.R_OK);
    size = statSync(path).size;
  } catch (e) {
    throw new SetupError(`${path}: cannot read the image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size < 512) throw new SetupError(`${path}: ${size} bytes is less than one 512-byte boot sector`);
}

function checkQemu(bin: string): void {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SetupError(code === 'ENOENT' ? `${bin} is not installed (install QEMU, e.g. apt-get install qemu-system-x86)` : `${bin} --version failed`);
  }
}

async function main(): Promise<number> {
  let o: DiffOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message) process.stderr.write(`qemu-diff: ${e.message} (--help lists the options)\n`);
      else process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.stderr.write(`qemu-diff: interrupted (${sig})\n`);
      process.exit(2);
    });
  }
  try {
    checkImage(o.image);
    checkQemu(o.qemu ?? 'qemu-system-i386');
    const tty = process.stderr.isTTY;
    const r = await runDiff({ ...o, progress: tty ? (n) => process.stderr.write(`\r${n} instructions...`) : undefined });
    if (tty) process.stderr.write('\r\x1b[K');
    process.stdout.write(`${r.summary}\n`);
    if (r.details) process.stdout.write(`\n${r.details}\n`);
    else for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
    return r.agree ? 0 : 1;
  } catch (e) {
    if (e instanceof SetupError || e instanceof RspError) {
      process.stderr.write(`qemu-diff: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    killAllNow();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    killAllNow();
    process.stderr.write(`qemu-diff: internal error: ${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
