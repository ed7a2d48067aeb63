/** The machine and the versions a run was measured with, for RESULTS.md. */
import { readFileSync } from 'node:fs';
import { cpus, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR } from './child.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly packages: Readonly<Record<string, string>>;
}

const PACKAGES = ['fastify', 'ws', 'pg', '@electric-sql/pglite', '@meshagent/meshagent', 'autocannon'] as const;

function versionOf(packageJson: string): string {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export function machine(): Machine {
  const root = join(BENCH_DIR, '..');
  const packages: Record<string, string> = { roomrunner: versionOf(join(root, 'package.json')) };
  for (const name of PACKAGES) packages[name] = versionOf(join(root, 'node_modules', name, 'package.json'));
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    packages,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}`;
}

export function packagesLine(m: Machine): string {
  return Object.entries(m.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
}
