import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runEmulatorCommand, type EmulatorCommandIo } from '../../src/cli/emulator.js';
import { signJwt } from '../../src/auth/jwt.js';

const BIN = fileURLToPath(new URL('../../bin/roomrunner.js', import.meta.url));

/** Captures output; `stop()` plays the signal. */
function fakeIo(env: Record<string, string> = {}): EmulatorCommandIo & { out: string[]; err: string[]; stop: () => void; started: Promise<void> } {
  const out: string[] = [];
  const err: string[] = [];
  let stop: (signal: string) => void = () => undefined;
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  return {
    env,
    out,
    err,
    stdout: (text) => {
      out.push(text);
      if (text.includes('listening on')) markStarted();
    },
    stderr: (text) => err.push(text),
    waitForStop: () => new Promise<string>((resolve) => (stop = resolve)),
    stop: () => stop('SIGTERM'),
    started,
  };
}

describe('roomrunner emulator (in process)', () => {
  it('prints every flag with --help and exits 0', async () => {
    const io = fakeIo();
    expect(await runEmulatorCommand(['--help'], io)).toBe(0);
    const help = io.out.join('\n');
    for (const flag of [
      '--port',
      '--host',
      '--secret',
      '--project-id',
      '--webhook-url',
      '--webhook-secret',
      '--webhook-scheme',
      '--webhook-events',
      '--idle-grace-ms',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('env MESHAGENT_SECRET');
  });

  it('names an unknown flag and exits 2', async () => {
    const io = fakeIo();
    expect(await runEmulatorCommand(['--prot', '1'], io)).toBe(2);
    expect(io.err.join('\n')).toContain('unknown flag --prot (did you mean --port?)');
  });

  it('names the flag of a bad value and exits 2', async () => {
    const cases: [string[], string][] = [
      [['--port', '70000'], '--port must be an integer from 0 to 65535'],
      [['--port'], 'flag --port needs a value'],
      [['--webhook-secret', 's'], '--webhook-secret needs --webhook-url'],
      [['--webhook-url', 'http://127.0.0.1:9/h', '--webhook-scheme', 'rot13'], '--webhook-scheme must be one of meshagent, standard-webhooks, hmac-sha256'],
      [['--webhook-url', 'http://127.0.0.1:9/h', '--webhook-events', ','], '--webhook-events must list at least one value'],
      [['positional'], 'unexpected argument "positional"'],
    ];
    for (const [argv, message] of cases) {
      const io = fakeIo();
      expect(await runEmulatorCommand(argv, io)).toBe(2);
      expect(io.err.join('\n')).toContain(message);
    }
  });

  it('reports a bad webhook secret as a usage error', async () => {
    const io = fakeIo();
    const argv = [
      '--port',
      '0',
      '--log-level',
      'silent',
      '--webhook-url',
      'http://127.0.0.1:9/h',
      '--webhook-scheme',
      'standard-webhooks',
      '--webhook-secret',
      'plain',
    ];
    expect(await runEmulatorCommand(argv, io)).toBe(2);
    expect(io.err.join('\n')).toContain('`secret`');
  });

  it('takes the secret from MESHAGENT_SECRET and stops cleanly on a signal', async () => {
    const io = fakeIo({ MESHAGENT_SECRET: 'from-env' });
    const exit = runEmulatorCommand(['--port', '0', '--log-level', 'silent'], io);
    await io.started;
    const banner = io.out.join('\n');
    expect(banner).toContain('verified with --secret');
    expect(banner).not.toContain('from-env');
    const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
    expect((await fetch(`${url}/accounts/projects/p/rooms`)).status).toBe(401);
    const ok = await fetch(`${url}/accounts/projects/p/rooms`, { headers: { authorization: `Bearer ${signJwt({}, 'from-env')}` } });
    expect(await ok.json()).toEqual({ rooms: [] });
    io.stop();
    expect(await exit).toBe(0);
  });
});

describe('roomrunner emulator --service-url', () => {
  it('runs roomrunner as an external project service in every session, and refuses a non-websocket, non-http URL', async () => {
    const io = fakeIo();
    const running = runEmulatorCommand(['--port', '0', '--service-url', 'ws://127.0.0.1:9', '--service-secret', 'whs'], io);
    await io.started;
    expect(io.out.join('\n')).toContain('service            ws://127.0.0.1:9/webhook  (handed every session, signed)');
    const url = /listening on (http:\/\/[^\s]+)/.exec(io.out.join('\n'))?.[1];
    const listed = (await (await fetch(`${url}/accounts/projects/any/services`)).json()) as { services: unknown[] };
    expect(listed.services).toMatchObject([
      { external: { url: 'ws://127.0.0.1:9' }, ports: [{ endpoints: [{ path: '/webhook', meshagent: { identity: 'roomrunner' } }] }] },
    ]);
    io.stop();
    expect(await running).toBe(0);

    const bad = fakeIo();
    expect(await runEmulatorCommand(['--service-url', 'ftp://x'], bad)).toBe(2);
    expect(bad.err.join('\n')).toContain('--service-url must be an absolute ws://');
    const orphan = fakeIo();
    expect(await runEmulatorCommand(['--service-secret', 'x'], orphan)).toBe(2);
    expect(orphan.err.join('\n')).toContain('--service-secret needs --service-url');
  });
});

describe('roomrunner emulator (spawned)', () => {
  it('prints its URL, answers REST, and exits 0 on SIGTERM', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('MESHAGENT_')));
    const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', '--secret', 'cli-secret', '--project-id', 'proj-1', '--log-level', 'silent'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      void exited.then((code) => reject(new Error(`emulator exited early with ${String(code)}: ${stderr}`)));
    });

    try {
      expect(stdout).toContain(`${url.replace('http', 'ws')}/rooms/<room>`);
      expect(stdout).toContain(`${url}/accounts/projects/proj-1`);
      const response = await fetch(`${url}/accounts/projects/proj-1/rooms`, {
        method: 'POST',
        headers: { authorization: `Bearer ${signJwt({}, 'cli-secret')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from-cli' }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ name: 'from-cli' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toContain('stopped');
  });
});
