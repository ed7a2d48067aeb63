#!/usr/bin/env node
// The roomrunner CLI. In an installed package it runs the compiled JavaScript in dist/; in a checkout of the
// repository (src/ present, dist/ possibly stale or absent) it runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
