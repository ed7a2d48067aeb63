/**
 * A private PostgreSQL server for one test file: `initdb` into a temporary directory and `pg_ctl start` on a
 * free port, so a test may stop, restart or kill it without touching the machine's shared cluster (which other
 * test files use in parallel).
 *
 *   const pg = await startPrivatePostgres();        // throws PrivatePostgresUnavailable when it cannot
 *   await PostgresStore.open({ connectionString: pg.url });
 *   await pg.restart();                              // pg_ctl restart -m fast
 *   await pg.destroy();                              // stop -m immediate, remove the directory
 *
 * The binaries come from `ROOMRUNNER_PG_BIN` or the newest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
 * initdb refuses to run as root, so under root every command runs as the `postgres` OS user (`runuser`), and
 * the directory is handed to that user. A process exit stops a server still running (best effort).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './support.js';

const run = promisify(execFile);
const OS_USER = 'postgres';

/** Thrown when no private server can be started here (no binaries, initdb or pg_ctl failed). */
export class PrivatePostgresUnavailable extends Error {
  override readonly name = 'PrivatePostgresUnavailable';
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** `pg_ctl start -w`: resolves once it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -w` (default `fast`: connections are terminated, as in a restart). */
  stop(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** `pg_ctl restart -m fast -w`. */
  restart(): Promise<void>;
  /** Stop (immediate) and remove the directory. Idempotent. */
  destroy(): Promise<void>;
}

export interface StartPrivatePostgresOptions {
  /** Directory of initdb and pg_ctl. */
  readonly binDir?: string;
}

/** The directory holding initdb and pg_ctl, or undefined when none is found. */
export function findPostgresBinDir(): string | undefined {
  const fromEnv = process.env['ROOMRUNNER_PG_BIN'];
  // Set but wrong is an answer too: no silent fallback to another installation.
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/**
 * Creates and starts a private server.
 * @throws PrivatePostgresUnavailable when binaries are missing or initdb/pg_ctl fail (the message says why).
 */
export async function startPrivatePostgres(options: StartPrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const binDir = options.binDir ?? findPostgresBinDir();
  if (binDir === undefined) {
    const fromEnv = process.env['ROOMRUNNER_PG_BIN'];
    throw new PrivatePostgresUnavailable(
      fromEnv ? `ROOMRUNNER_PG_BIN=${fromEnv} has no initdb` : 'no initdb found (install PostgreSQL, or set ROOMRUNNER_PG_BIN)',
    );
  }
  const asRoot = process.getuid?.() === 0;
  const root = mkdtempSync(join(tmpdir(), 'rr-pg-'));
  const dataDir = join(root, 'data');
  const command = (tool: string, args: readonly string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', OS_USER, '--', join(binDir, tool), ...args]] : [join(binDir, tool), [...args]];
  const exec = async (tool: string, args: readonly string[]): Promise<void> => {
    const [file, argv] = command(tool, args);
    try {
      await run(file, argv, { cwd: root, timeout: 60_000 });
    } catch (error) {
      const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
      throw new PrivatePostgresUnavailable(`${tool} failed: ${(stderr || stdout || message).trim()}`, { cause: error });
    }
  };

  let port: number;
  try {
    if (asRoot) chownSync(root, uidOf(OS_USER), gidOf(OS_USER));
    port = await freePort();
    // -N: no fsync, a throw-away cluster. Trust auth on a private socket directory and 127.0.0.1 only.
    await exec('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-N', '-E', 'UTF8', '--locale=C']);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error instanceof PrivatePostgresUnavailable ? error : new PrivatePostgresUnavailable(String(error), { cause: error });
  }

  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const logFile = join(root, 'server.log');
  let running = false;
  let destroyed = false;
  const stopOnExit = (): void => {
    if (!running) return;
    try {
      const [file, argv] = command('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      execFileSync(file, argv, { cwd: root, stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Best effort: the process is exiting.
    }
  };
  process.once('exit', stopOnExit);

  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async start() {
      await exec('pg_ctl', ['-D', dataDir, '-o', serverOptions, '-l', logFile, '-w', '-t', '30', 'start']);
      running = true;
    },
    async stop(mode = 'fast') {
      await exec('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
      running = false;
    },
    async restart() {
      running = true;
      await exec('pg_ctl', ['-D', dataDir, '-o', serverOptions, '-l', logFile, '-m', 'fast', '-w', '-t', '30', 'restart']);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.off('exit', stopOnExit);
      if (running) await server.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
