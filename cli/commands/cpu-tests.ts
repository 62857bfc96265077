// `bitrot cpu-tests DIR [--json] [--filter PATTERN] [--verbose]`: run a directory of MOO
// conformance tests (tools/cpu-tests/) and print one line per file.
//
// Exit status: 0 all tests passed (skips allowed), 1 some failed, 2 bad usage or a missing,
// unreadable or malformed file (reported on one line, nothing else printed after it).

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MooFormatError } from '../../tools/cpu-tests/moo.ts';
import { CpuTestsError, fileKey, loadMetadata, runMooFile, type FileResult } from '../../tools/cpu-tests/run.ts';
import { SKIPS } from '../../tools/cpu-tests/skips.ts';

export const CPU_TESTS_USAGE = 'usage: bitrot cpu-tests DIR [--json] [--filter PATTERN[,PATTERN...]] [--verbose]';

interface Args {
  dir: string;
  json: boolean;
  verbose: boolean;
  filters: string[];
}

function parseArgs(args: string[]): Args | string {
  let dir: string | undefined;
  let json = false;
  let verbose = false;
  const filters: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--filter' || a.startsWith('--filter=')) {
      const v = a === '--filter' ? args[++i] : a.slice('--filter='.length);
      if (!v) return '--filter needs a pattern, e.g. --filter 80.0 or --filter "D*"';
      filters.push(...v.split(',').filter(Boolean));
    } else if (a.startsWith('-')) return `unknown option '${a}'`;
    else if (dir === undefined) dir = a;
    else return `unexpected argument '${a}' (one DIR only)`;
  }
  if (dir === undefined) return 'missing DIR (the directory of .MOO.gz files)';
  return { dir, json, verbose, filters };
}

/** A pattern matches a file key (`80.0`) exactly, as its opcode (`80` matches `80.*`), or as a glob with `*`. */
export function matchesFilter(key: string, filters: readonly string[]): boolean {
  if (filters.length === 0) return true;
  const k = key.toUpperCase();
  return filters.some((f) => {
    const p = f.toUpperCase();
    if (p.includes('*')) return new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(k);
    return k === p || k.startsWith(`${p}.`);
  });
}

function fileLine(r: FileResult, width: number): string {
  const skips = Object.entries(r.skips).map(([id, n]) => `${id} ${n}`).join(', ');
  return `${r.file.padEnd(width)}  passed ${String(r.passed).padStart(4)}  failed ${String(r.failed).padStart(4)}  skipped ${String(r.skipped).padStart(4)}${skips ? `  (${skips})` : ''}`;
}

function indent(s: string, by: string): string {
  return s.split('\n').map((l) => by + l).join('\n');
}

export async function cpuTestsCommand(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    console.error(`bitrot cpu-tests: ${parsed}\n${CPU_TESTS_USAGE}`);
    return 2;
  }
  const { dir, json, verbose, filters } = parsed;
  try {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      throw new CpuTestsError(`${dir}: no such directory`);
    }
    if (!isDir) throw new CpuTestsError(`${dir}: not a directory`);
    const files = readdirSync(dir)
      .filter((f) => /\.moo(\.gz)?$/i.test(f))
      .filter((f) => matchesFilter(fileKey(f), filters))
      .sort();
    if (files.length === 0) {
      throw new CpuTestsError(`${dir}: no .MOO/.MOO.gz files${filters.length ? ` match --filter ${filters.join(',')}` : ''}`);
    }
    const metadata = loadMetadata(dir);
    const width = Math.max(...files.map((f) => f.length));
    const total = { passed: 0, failed: 0, skipped: 0 };
    const skipTotals: Record<string, number> = {};
    for (const f of files) {
      const r = runMooFile(join(dir, f), { metadata, maxFailures: verbose ? 3 : 0 });
      total.passed += r.passed;
      total.failed += r.failed;
      total.skipped += r.skipped;
      for (const [id, n] of Object.entries(r.skips)) skipTotals[id] = (skipTotals[id] ?? 0) + n;
      console.log(fileLine(r, width));
      if (verbose) {
        for (const fl of r.failures) console.log(`  FAIL #${fl.idx} ${indent(fl.context, '  ').trimStart()}\n${indent(fl.diffs, '    ')}`);
      }
    }
    if (verbose && Object.keys(skipTotals).length > 0) {
      console.log('skipped tests, by reason:');
      for (const [id, n] of Object.entries(skipTotals)) {
        const reason = SKIPS.find((s) => s.id === id)?.reason ?? 'listed in the suite\'s revocation_list.txt';
        console.log(`  ${id} (${n}): ${reason}`);
      }
    }
    if (json) console.log(JSON.stringify(total));
    else console.log(`total: passed ${total.passed}, failed ${total.failed}, skipped ${total.skipped}`);
    return total.failed === 0 ? 0 : 1;
  } catch (e) {
    if (e instanceof CpuTestsError || e instanceof MooFormatError) {
      console.error(`bitrot cpu-tests: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
