#!/usr/bin/env node
// `node scripts/run.mjs ENTRY.ts [args...]`: bundle ENTRY and run it with the arguments.
import { bundle } from './bundle.mjs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs ENTRY.ts [args...]');
  process.exit(2);
}
const out = bundle(entry, path.basename(entry).replace(/\.ts$/, ''));
process.argv = [process.argv[0], out, ...args];
await import(pathToFileURL(out).href);
