#!/usr/bin/env node
// Entry point of the `bitrot` command: bundles cli/main.ts (see scripts/bundle.mjs for why)
// and hands it the arguments.
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { bundle } from '../scripts/bundle.mjs';

const { main } = await import(pathToFileURL(bundle('cli/main.ts', 'bitrot')).href);
process.exitCode = await main(process.argv.slice(2));
