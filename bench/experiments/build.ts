/**
 * Builds a bench child ahead of time with esbuild — the same code, bundled to plain JavaScript WITHOUT tsx's
 * `keepNames` (tsx wraps every named closure in `__name(fn, "name")`, which defines a `name` property on each
 * closure when it is created). Used by the experiments to measure what running under tsx costs.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { BENCH_DIR } from '../lib/child.js';

export async function prebuild(file: string): Promise<string> {
  const outfile = join(BENCH_DIR, '.build', file.replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [join(BENCH_DIR, 'lib', file)],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: false,
    logLevel: 'warning',
  });
  return outfile;
}
