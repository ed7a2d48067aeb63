/**
 * `roomrunner dev` reloading, as a real process on a temporary project: an edited agent answers with its new code
 * over the same room connection, and a broken edit is reported with its location while the previous version
 * keeps answering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomConnection } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { mintParticipantToken, userDefaultApiScope } from '../../src/auth/token.js';
import { BIN } from '../support/run-cli.js';

const REPO = path.join(import.meta.dirname, '../..');
const DEV_SECRET = 'roomrunner-dev-secret';
const ROOM = 'reload';
const WAIT_MS = 90_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An adder whose answer is `a + b + <bonus>`, the bonus read from `./_bonus.ts` (a local import). */
function adderSource(body = 'run: ({ a, b }) => ({ result: a + b + bonus }),'): string {
  return [
    "import { z } from 'zod';",
    `import { defineAgent } from ${JSON.stringify(path.join(REPO, 'src/index.ts'))};`,
    "import { bonus } from './_bonus.ts';",
    '',
    'export const adder = defineAgent({',
    "  name: 'samples.adder',",
    '  input: z.strictObject({ a: z.int(), b: z.int() }),',
    '  output: z.strictObject({ result: z.int() }),',
    `  ${body}`,
    '});',
    '',
  ].join('\n');
}

/** A project folder that resolves zod from the repository and has one agent file and one helper. */
async function project(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'roomrunner-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  await mkdir(path.join(dir, 'agents'));
  await writeFile(path.join(dir, 'agents', '_bonus.ts'), 'export const bonus: number = 0;\n');
  await writeFile(path.join(dir, 'agents', 'adder.ts'), adderSource());
  return dir;
}

interface Dev {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first line (from `from` on) that matches. */
  waitFor(pattern: RegExp, from?: number): Promise<string>;
}

function startDev(cwd: string): Dev {
  const child = spawn(
    process.execPath,
    [BIN, 'dev', '--port', '0', '--emulator-port', '0', '--agents', 'agents', '--data-dir', 'memory://', '--room', ROOM, '--no-typecheck'],
    { cwd, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    for (const waiter of [...waiters]) waiter();
  };
  readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine);
  readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => onLine(`stderr: ${line}`));
  return {
    child,
    lines,
    waitFor(pattern, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.slice(from).find((line) => pattern.test(line));
          if (found === undefined) return;
          finish();
          resolve(found);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no line matching ${pattern} within ${WAIT_MS} ms; output:\n${lines.join('\n')}`));
        }, WAIT_MS);
        const onExit = (): void => {
          finish();
          reject(new Error(`roomrunner dev exited before a line matching ${pattern}; output:\n${lines.join('\n')}`));
        };
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

/** Join the dev room as a person (the emulator URL is read from dev's output). */
async function person(dev: Dev): Promise<RoomClient> {
  const line = await dev.waitFor(/^ {2}emulator {5}http:\/\/127\.0\.0\.1:\d+/);
  const base = (/http:\/\/127\.0\.0\.1:\d+/.exec(line) as RegExpExecArray)[0].replace(/^http/, 'ws');
  const token = mintParticipantToken({ name: 'tester', room: ROOM, role: 'user', secret: DEV_SECRET, api: userDefaultApiScope() });
  const connection = new RoomConnection({ url: `${base}/rooms/${ROOM}`, token });
  await connection.start();
  cleanups.push(() => connection.close(1000, 'test done'));
  return new RoomClient(connection);
}

async function add(client: RoomClient, a: number, b: number): Promise<unknown> {
  const answer = await client.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a, b } });
  return answer.type === 'json' ? answer.json : answer;
}

/** The participant hosting the Adder: a new connection would be a new participant. */
async function adderHost(client: RoomClient): Promise<string | null | undefined> {
  return (await client.listToolkits()).tools['samples.adder']?.participant_id;
}

describe('roomrunner dev reloading', () => {
  it('answers with the edited code after a save, over the same room connection', async () => {
    const dir = await project();
    const dev = startDev(dir);
    await dev.waitFor(/running; Ctrl-C to stop/);
    const client = await person(dev);
    expect(await add(client, 1, 2)).toEqual({ result: 3 });
    const host = await adderHost(client);
    expect(host).toEqual(expect.any(String));

    let mark = dev.lines.length;
    await writeFile(path.join(dir, 'agents', 'adder.ts'), adderSource('run: ({ a, b }) => ({ result: (a + b) * 10 + bonus }),'));
    expect(await dev.waitFor(/reloaded agents\/adder\.ts \(samples\.adder\)/, mark)).toContain('1 room(s) updated');
    expect(await add(client, 1, 2)).toEqual({ result: 30 });

    // A save of the helper the agent imports reloads the agent too.
    mark = dev.lines.length;
    await writeFile(path.join(dir, 'agents', '_bonus.ts'), 'export const bonus: number = 5;\n');
    await dev.waitFor(/reloaded agents\/adder\.ts/, mark);
    expect(await add(client, 1, 2)).toEqual({ result: 35 });

    expect(await adderHost(client)).toBe(host);
    expect(dev.lines.join('\n')).not.toMatch(/connection to room .* closed/);
    expect(dev.lines.filter((line) => /call samples\.adder\.ask from tester: ok in \d+ ms/.test(line))).toHaveLength(3);
    dev.child.kill('SIGINT');
    expect(await new Promise((resolve) => dev.child.once('exit', resolve))).toBe(0);
  }, 180_000);

  it('reports a syntax error and a definition error with their location, and the previous version keeps answering', async () => {
    const dir = await project();
    const dev = startDev(dir);
    await dev.waitFor(/running; Ctrl-C to stop/);
    const client = await person(dev);
    const host = await adderHost(client);

    let mark = dev.lines.length;
    await writeFile(path.join(dir, 'agents', 'adder.ts'), adderSource('run: ({ a, b }) => ({ result: a + }),'));
    const syntax = await dev.waitFor(/reload failed: /, mark);
    expect(syntax).toMatch(/reload failed: agents\/adder\.ts:9:\d+: /);
    await dev.waitFor(/agents\/adder\.ts keeps its previous version/, mark);
    expect(await add(client, 1, 2)).toEqual({ result: 3 });

    // defineAgent refuses a tool without `run`: the error points at the agent file, not at roomrunner's code.
    mark = dev.lines.length;
    await writeFile(path.join(dir, 'agents', 'adder.ts'), adderSource('run: undefined as never,'));
    const definition = await dev.waitFor(/reload failed: /, mark);
    expect(definition).toMatch(/reload failed: agents\/adder\.ts:5:\d+: .*run/);
    expect(await add(client, 1, 2)).toEqual({ result: 3 });

    mark = dev.lines.length;
    await writeFile(path.join(dir, 'agents', 'adder.ts'), adderSource('run: ({ a, b }) => ({ result: a - b + bonus }),'));
    await dev.waitFor(/reloaded agents\/adder\.ts/, mark);
    expect(await add(client, 1, 2)).toEqual({ result: -1 });
    expect(await adderHost(client)).toBe(host);
  }, 180_000);
});
