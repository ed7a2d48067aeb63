/**
 * The default store is durable at the level it relies on:
 * - a writer process (the default embedded store, SQLite) acknowledging each delivery only after its commit is
 *   SIGKILLed mid-stream, and every acknowledged delivery (and every acknowledged outcome) is found by the next
 *   process on the directory, recovered from the write-ahead log;
 * - the store's pragmas read back as WAL and synchronous=FULL in that process;
 * - under strace, the write-ahead log is fsynced at least once per commit: what survives a power loss, which
 *   a SIGKILL alone cannot show. Skipped loudly where strace cannot trace (no strace, no ptrace).
 *
 * Runs on the SQLite driver this Node has (node:sqlite on Node 24, better-sqlite3 on Node 20); without one it is
 * skipped loudly, or FAILS when ROOMRUNNER_REQUIRE_SQLITE=1 (CI).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_FILE_NAME, SqliteStore } from '../../src/store/sqlite-store.js';
import { sqliteAvailable, sqliteMissingReason } from '../../src/store/sqlite.js';

const WRITER = join(import.meta.dirname, 'fixtures/sqlite-writer.ts');
const REQUIRED = process.env['ROOMRUNNER_REQUIRE_SQLITE'] === '1';
/** How many acknowledgements to see before the kill: enough that commits are in flight when it lands. */
const ACKS_BEFORE_KILL = 400;
// Child processes on a shared, loaded machine: generous bounds, never asserted.
const TIMEOUT_MS = 180_000;
const CAN_STRACE = spawnSync('strace', ['-f', '-o', '/dev/null', 'true']).status === 0;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'roomrunner-durability-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Writer {
  readonly acked: string[];
  readonly done: string[];
  pragmas(): Record<string, unknown> | undefined;
  commits(): number | undefined;
  stderr(): string;
  /** Resolves once `n` acknowledgements were printed; rejects when the writer exits first. */
  acks(n: number): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

function startWriter(file: string, args: readonly string[]): Writer {
  const child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  const acked: string[] = [];
  const done: string[] = [];
  let pragmas: Record<string, unknown> | undefined;
  let commits: number | undefined;
  let stderr = '';
  let partial = '';
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [kind, value = ''] = line.split(' ', 2) as [string, string?];
      if (kind === 'ack') acked.push(value);
      else if (kind === 'done') done.push(value);
      else if (kind === 'pragmas') pragmas = JSON.parse(line.slice('pragmas '.length)) as Record<string, unknown>;
      else if (kind === 'commits') commits = Number(value);
    }
    for (const waiter of waiters.filter((w) => acked.length >= w.n)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    acked,
    done,
    pragmas: () => pragmas,
    commits: () => commits,
    stderr: () => stderr,
    acks: (n) =>
      new Promise<void>((resolve, reject) => {
        if (acked.length >= n) return resolve();
        waiters.push({ n, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`the writer exited (${String(code ?? signal)}) after ${acked.length} acks: ${stderr}`)));
      }),
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

if (!sqliteAvailable()) {
  const message = `the default store's engine cannot run: ${sqliteMissingReason()}`;
  if (REQUIRED) {
    describe('SQLite durability', () => {
      it('runs where there is a SQLite driver (ROOMRUNNER_REQUIRE_SQLITE=1)', () => {
        throw new Error(`${message}: run npm ci (it installs better-sqlite3), or Node 24`);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING the SQLite durability tests: ${message}. Set ROOMRUNNER_REQUIRE_SQLITE=1 to fail instead. ***\n`);
    describe.skip('SQLite durability (no SQLite driver)', () => {
      it('needs node:sqlite or better-sqlite3', () => undefined);
    });
  }
} else {
  describe('SQLite durability', () => {
    it(
      'finds every acknowledged delivery and outcome after the writer is SIGKILLed mid-stream, with WAL and synchronous=FULL set',
      async () => {
        const dir = await tempDir();
        const writer = startWriter(process.execPath, ['--import', 'tsx', WRITER, dir, 'forever', '16']);
        await writer.acks(ACKS_BEFORE_KILL);
        writer.kill();
        expect((await writer.exited).signal).toBe('SIGKILL');
        expect(writer.pragmas()).toMatchObject({ journalMode: 'wal', synchronous: 2 });

        // Killed, not closed: what was committed is in the write-ahead log, not yet checkpointed into the file.
        const wal = join(dir, `${SQLITE_FILE_NAME}-wal`);
        expect(existsSync(wal) && statSync(wal).size > 0).toBe(true);

        const acked = [...writer.acked];
        const done = [...writer.done];
        expect(acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);
        const store = await SqliteStore.open({ dataDir: dir });
        cleanups.push(() => store.close());
        const lost = [];
        for (const key of acked) if ((await store.getDelivery(key)) === undefined) lost.push(key);
        expect(lost, 'acknowledged deliveries missing after the kill').toEqual([]);
        const unfinished = [];
        for (const key of done) if ((await store.getDelivery(key))?.result !== 'processed') unfinished.push(key);
        expect(unfinished, 'acknowledged outcomes missing after the kill').toEqual([]);
        expect((await store.listDeliveries()).length).toBeGreaterThanOrEqual(acked.length);
      },
      TIMEOUT_MS,
    );

    describe.skipIf(!CAN_STRACE)('at the syscall level', () => {
      it(
        'fsyncs the write-ahead log once per committed transaction, each before the acknowledgement it allows',
        async () => {
          const dir = await tempDir();
          const trace = join(dir, 'strace.out');
          // One call in flight: every record and every finish is its own transaction, acknowledged on stdout.
          const writer = startWriter('strace', [
            '-f',
            '-qq',
            '-y',
            '-s',
            '256',
            '-e',
            'trace=fsync,fdatasync,write,writev',
            '-o',
            trace,
            process.execPath,
            '--import',
            'tsx',
            WRITER,
            dir,
            '200',
            '1',
          ]);
          expect((await writer.exited).code, writer.stderr()).toBe(0);
          const commits = writer.commits() ?? 0;
          expect(commits).toBeGreaterThanOrEqual(300); // 200 records + 100 finishes
          expect(writer.acked).toHaveLength(200);

          // In syscall order: WAL fsyncs, and the writes to stdout that carry acknowledgements.
          let walSyncs = 0;
          let opening = 0; // the syncs of opening and migrating, before the writer said it was ready
          let acknowledged = 0;
          const early: string[] = [];
          for (const line of (await readFile(trace, 'utf8')).split('\n')) {
            if (/\b(fsync|fdatasync)\(\d+<[^>]*roomrunner\.sqlite-wal>\)\s+=\s+0/.test(line)) walSyncs++;
            else if (/\bwritev?\(1</.test(line)) {
              if (line.includes('pragmas {')) opening = walSyncs;
              acknowledged += line.match(/(ack|done) delivery-\d+/g)?.length ?? 0;
              // Acknowledgement k may leave only after the k-th commit's fsync.
              if (acknowledged > walSyncs - opening) early.push(line);
            }
          }
          expect(acknowledged).toBe(300);
          expect(early, 'acknowledgements written before their commit was fsynced').toEqual([]);
          expect(walSyncs - opening).toBeGreaterThanOrEqual(commits);
        },
        TIMEOUT_MS,
      );
    });
    if (!CAN_STRACE) console.warn('\n*** SKIPPING the strace check of the SQLite store: strace cannot trace here (not installed, or no ptrace). ***\n');
  });
}
