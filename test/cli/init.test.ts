/**
 * `roomrunner init`, run as a process. That the scaffold's own `npm install && npm test && npm run build` pass is
 * proven by scripts/consumer-check.sh (it needs the registry); here: what is written, what is refused, that the
 * manifests are ServiceSpecs, and that the example agent and its harness test run against this checkout's sources.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_SERVICE_API_SCOPE } from '../../src/config.js';
import { createAgentHarness } from '../../src/index.js';
import { ServiceSpecSchema } from '../../src/service/spec.js';
import type { Toolkit } from '../../src/agents/define-agent.js';
import { runCli } from '../support/run-cli.js';

const ROOT = path.join(import.meta.dirname, '../..');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'roomrunner-init-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('roomrunner init', () => {
  it('scaffolds a project: ESM package.json, strict tsconfig, an agent, a harness test, service manifests, Dockerfile, .gitignore, README', async () => {
    const parent = await tempDir();
    const run = await runCli(['init', 'My Agents'], { cwd: parent });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('cd My Agents');
    const dir = path.join(parent, 'My Agents');
    expect(await filesIn(dir)).toEqual([
      '.gitignore',
      'Dockerfile',
      'README.md',
      'agents/greeter.ts',
      'deploy/meshagent-service.container.yaml',
      'deploy/meshagent-service.external.yaml',
      'package.json',
      'test/greeter.test.ts',
      'tsconfig.build.json',
      'tsconfig.json',
    ]);
    const own = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; peerDependencies: { zod: string } };
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string>;
    expect(pkg).toMatchObject({
      name: 'my-agents',
      type: 'module',
      scripts: { dev: 'roomrunner dev', build: expect.any(String), test: expect.stringContaining('node --import tsx --test') },
      dependencies: { roomrunner: `^${own.version}`, zod: own.peerDependencies.zod },
      devDependencies: { typescript: expect.any(String), tsx: expect.any(String), '@types/node': expect.any(String) },
    });
    const tsconfig = await readFile(path.join(dir, 'tsconfig.json'), 'utf8');
    expect(tsconfig).toMatch(/"strict": true/);
    expect(tsconfig).toMatch(/"exactOptionalPropertyTypes": true/);
    for (const file of await filesIn(dir)) expect(await readFile(path.join(dir, file), 'utf8')).not.toContain('{{');
  });

  it('scaffolds into the current directory when it is empty', async () => {
    const dir = await tempDir();
    const run = await runCli(['init'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(await filesIn(dir)).toContain('agents/greeter.ts');
  });

  it('refuses a directory that is not empty and writes nothing', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'notes.txt'), 'mine');
    const run = await runCli(['init', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not empty (notes.txt): name a new or empty directory, nothing was written [RR_INIT_DIR_NOT_EMPTY]');
    expect(await filesIn(dir)).toEqual(['notes.txt']);
    expect(await readFile(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a path that is a file', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'taken'), '');
    const run = await runCli(['init', path.join(dir, 'taken')]);
    expect([run.code, run.stderr]).toEqual([1, expect.stringContaining('exists and is not a directory')]);
  });

  it('refuses more than one directory, as a usage mistake', async () => {
    const run = await runCli(['init', 'a', 'b']);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('init takes one directory, got 2')]);
  });

  it('writes service manifests the platform accepts, named after the project, whose container runs join on the built agents', async () => {
    const parent = await tempDir();
    expect((await runCli(['init', '42 Agents'], { cwd: parent })).code).toBe(0);
    const dir = path.join(parent, '42 Agents');
    const manifest = async (name: string) => ServiceSpecSchema.parse(parse(await readFile(path.join(dir, 'deploy', name), 'utf8')));
    const external = await manifest('meshagent-service.external.yaml');
    expect(external.metadata.name).toBe('42-agents');
    expect(external.ports[0]?.endpoints).toEqual([{ path: '/webhook', meshagent: { identity: 'roomrunner', api: DEFAULT_SERVICE_API_SCOPE } }]);
    const container = await manifest('meshagent-service.container.yaml');
    expect(container.metadata.name).toBe('42-agents');
    expect(container.container?.command).toBe('node_modules/.bin/roomrunner join');
    expect(container.container?.environment).toEqual([
      { name: 'MESHAGENT_TOKEN', token: { identity: 'roomrunner', role: 'agent', api: DEFAULT_SERVICE_API_SCOPE } },
    ]);
    // The image the container form runs: its agents are the built ones, and roomrunner is installed there.
    const dockerfile = await readFile(path.join(dir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('ROOMRUNNER_AGENTS=dist/agents');
    expect(dockerfile).toContain('COPY --from=build /app/node_modules ./node_modules');
  });

  it('writes an example agent that the harness calls as its test expects', async () => {
    const dir = await scaffoldAgainstThisCheckout();
    const { greeter } = (await import(path.join(dir, 'agents/greeter.ts'))) as { greeter: Toolkit };
    const room = createAgentHarness([greeter]);
    expect(await room.call('my.greeter', { name: 'Ada', excited: true })).toEqual({ greeting: 'Hello, Ada!' });
    const refused = await room.invoke('my.greeter', 'ask', { type: 'json', json: { name: 42 } });
    expect([refused.outcome, refused.content.type === 'error' ? refused.content.code : undefined]).toEqual(['invalid_input', 1002]);
  });

  it("passes its own harness test file, run as the scaffold's npm test runs it (node:test through tsx)", async () => {
    const dir = await scaffoldAgainstThisCheckout();
    await symlink(path.join(ROOT, 'node_modules/tsx'), path.join(dir, 'node_modules/tsx'), 'dir');
    const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', 'test/greeter.test.ts'], {
        cwd: dir,
        env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(run.output).toMatch(/^(# |ℹ )pass 4$/m); // TAP on Node 20, the spec reporter on Node 24
    expect(run.output).toMatch(/^(# |ℹ )fail 0$/m);
    expect(run.code).toBe(0);
  }, 60_000);
});

/** A scaffolded project whose `roomrunner` resolves to this checkout's sources and whose `zod` is ours. */
async function scaffoldAgainstThisCheckout(): Promise<string> {
  const dir = await tempDir();
  expect((await runCli(['init', dir])).code).toBe(0);
  await mkdir(path.join(dir, 'node_modules/roomrunner'), { recursive: true });
  await writeFile(path.join(dir, 'node_modules/roomrunner/package.json'), JSON.stringify({ name: 'roomrunner', type: 'module', exports: './index.ts' }));
  await writeFile(path.join(dir, 'node_modules/roomrunner/index.ts'), `export * from ${JSON.stringify(path.join(ROOT, 'src/index.ts'))};\n`);
  await symlink(path.join(ROOT, 'node_modules/zod'), path.join(dir, 'node_modules/zod'), 'dir');
  return dir;
}
