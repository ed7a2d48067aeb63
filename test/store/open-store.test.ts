/**
 * Which embedded store openStore opens on which Node, what it says about durability, and how a data directory
 * moves from PGlite to SQLite (rows, tombstones and epochs kept; PGlite's files kept aside).
 *
 * The SQLite cases need a SQLite driver (`node:sqlite` on Node 24, better-sqlite3 on Node 20, a dev dependency
 * here); the no-driver cases run only where both are missing. CI runs this file on Node 20 and Node 24.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { PGLITE_DIR_NAME, PGLITE_MIGRATED_DIR_NAME } from '../../src/store/pglite-migration.js';
import { PgliteStore } from '../../src/store/pglite-store.js';
import { openStore } from '../../src/store/open-store.js';
import { SQLITE_FILE_NAME } from '../../src/store/sqlite-store.js';
import { sqliteAvailable } from '../../src/store/sqlite.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';
import type { NewDelivery } from '../../src/store/store.js';

// PGlite takes seconds to start on an idle machine, a minute on a loaded one: generous, never asserted.
const PGLITE_TIMEOUT_MS = 180_000;
const HAS_SQLITE = sqliteAvailable();
const T0 = new Date('2026-03-01T12:00:00.000Z');

const dirs: string[] = [];
async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'roomrunner-open-store-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A pino logger whose lines are kept, parsed. */
function recordingLogger(): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const delivery = (key: string, overrides: Partial<NewDelivery> = {}): NewDelivery => ({
  key,
  event: 'room.started',
  room: 'room-m',
  scheme: 'standard-webhooks',
  body: `{"key":"${key}","emoji":"\u{1F600}"}`,
  receivedAt: T0,
  ...overrides,
});

describe('openStore: the embedded engine', () => {
  it('rejects an engine it does not know with RR_STORE_OPTION_INVALID', async () => {
    const err = await openStore({ dataDir: 'memory://', engine: 'leveldb' as 'sqlite' }).catch((e: unknown) => e);
    expect(isRoomrunnerError(err, 'RR_STORE_OPTION_INVALID')).toBe(true);
  });

  it('refuses PGlite on a directory that holds a SQLite store, saying what to do', async () => {
    const dir = await newDir();
    await writeFile(join(dir, SQLITE_FILE_NAME), '');
    const err = await openStore({ dataDir: dir, engine: 'pglite' }).catch((e: unknown) => e);
    expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain('holds a SQLite store');
    expect(existsSync(join(dir, PGLITE_DIR_NAME))).toBe(false);
  });

  it(
    'opens PGlite when asked, and warns once that it is not durable against a power loss',
    async () => {
      const { log, lines } = recordingLogger();
      const store = await openStore({ dataDir: await newDir(), engine: 'pglite', log });
      try {
        expect(store.engine).toBe('pglite');
        const warnings = lines.filter((line) => line.level === 40);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]?.msg).toContain('NOT durable against a power loss');
        expect(warnings[0]?.msg).toContain('chosen with ROOMRUNNER_STORE=pglite');
      } finally {
        await store.close();
      }
    },
    PGLITE_TIMEOUT_MS,
  );

  describe.runIf(!HAS_SQLITE)(`on Node ${process.versions.node} without a SQLite driver`, () => {
    it('refuses the default store rather than fall back to one that is not durable, naming every way out', async () => {
      const dir = await newDir();
      const err = await openStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
      for (const fix of ['better-sqlite3', 'Node 24', 'DATABASE_URL', 'ROOMRUNNER_STORE=pglite']) expect((err as Error).message).toContain(fix);
      expect(existsSync(join(dir, PGLITE_DIR_NAME))).toBe(false);
    });
  });

  describe.runIf(HAS_SQLITE)(`on Node ${process.versions.node} with a SQLite driver`, () => {
    it('uses node:sqlite where Node has it, else better-sqlite3', async () => {
      const store = (await openStore({ dataDir: 'memory://' })) as SqliteStore;
      try {
        const builtin = process.getBuiltinModule?.('node:sqlite') !== undefined;
        expect(store.database.driver).toBe(builtin ? 'node:sqlite' : 'better-sqlite3');
      } finally {
        await store.close();
      }
    });

    it('defaults to SQLite, in a directory and in memory, and warns about nothing', async () => {
      const { log, lines } = recordingLogger();
      const dir = await newDir();
      const onDisk = await openStore({ dataDir: dir, log });
      const inMemory = await openStore({ dataDir: 'memory://', log });
      try {
        expect([onDisk.engine, inMemory.engine]).toEqual(['sqlite', 'sqlite']);
        expect(existsSync(join(dir, SQLITE_FILE_NAME))).toBe(true);
        expect(lines.filter((line) => line.level >= 40)).toEqual([]);
      } finally {
        await onDisk.close();
        await inMemory.close();
      }
    });

    it(
      'migrates a PGlite data directory into SQLite once: deliveries, tombstones, owners and epochs, keeping the PGlite files aside',
      async () => {
        const dir = await newDir();
        const old = await PgliteStore.open({ dataDir: dir });
        await old.recordDelivery(delivery('done', { replica: 'host-pglite' }), 60_000);
        await old.finishDelivery('done', 'failed', 'boom', new Date(T0.getTime() + 5));
        await old.recordDelivery(delivery('waiting', { room: null, receivedAt: new Date(T0.getTime() + 1) }), 60_000);
        await old.markRoomStarted('live', T0, 60_000, 'session-live');
        await old.markRoomEnded('gone', T0, 'session-gone');
        await old.registerReplica('host-pglite', 4);
        const [claim] = await old.claimRooms('host-pglite', { capacity: 4, leaseMs: 60_000 });
        const before = {
          deliveries: await old.listDeliveries(),
          live: await old.roomState('live'),
          gone: await old.roomState('gone'),
        };
        await old.close();

        const { log, lines } = recordingLogger();
        const store = await openStore({ dataDir: dir, log });
        try {
          expect(store.engine).toBe('sqlite');
          expect(await store.listDeliveries()).toEqual(before.deliveries);
          expect(await store.getDelivery('done')).toMatchObject({ result: 'failed', attempts: 1, lastError: 'boom', replica: 'host-pglite' });
          expect(await store.roomState('live')).toEqual(before.live);
          expect(await store.roomState('live')).toMatchObject({ owner: 'host-pglite', epoch: claim?.epoch, sessionId: 'session-live' });
          expect(await store.roomState('gone')).toEqual(before.gone);
          expect((await store.listReplicas()).map((replica) => replica.id)).toEqual(['host-pglite']);
          // A late start of the ended session stays ignored; the next epoch is larger than any PGlite gave.
          expect(await store.markRoomStarted('gone', new Date(T0.getTime() + 1000), 60_000, 'session-gone')).toBe(false);
          await store.markRoomStarted('new', T0, 60_000);
          expect((await store.roomState('new'))?.epoch).toBeGreaterThan(Math.max(before.live?.epoch ?? 0, before.gone?.epoch ?? 0));
          expect(existsSync(join(dir, PGLITE_DIR_NAME))).toBe(false);
          expect(existsSync(join(dir, PGLITE_MIGRATED_DIR_NAME, 'PG_VERSION'))).toBe(true);
          expect(lines.some((line) => line.msg.startsWith('migrated the PGlite store to SQLite'))).toBe(true);
        } finally {
          await store.close();
        }

        // Once: the next start opens the SQLite file and says nothing of PGlite.
        const again = recordingLogger();
        const reopened = await openStore({ dataDir: dir, log: again.log });
        try {
          expect(await reopened.getDelivery('waiting')).toMatchObject({ room: null, result: 'pending' });
          expect(again.lines).toEqual([]);
        } finally {
          await reopened.close();
        }
      },
      PGLITE_TIMEOUT_MS,
    );

    it(
      'finishes a migration that crashed after installing the SQLite file, and refuses a directory holding two unrelated stores',
      async () => {
        const dir = await newDir();
        const old = await PgliteStore.open({ dataDir: dir });
        await old.recordDelivery(delivery('only'), 60_000);
        await old.close();
        await (await openStore({ dataDir: dir })).close();
        // As a crash between the two renames leaves it: the SQLite file installed, pglite/ not yet moved.
        await rename(join(dir, PGLITE_MIGRATED_DIR_NAME), join(dir, PGLITE_DIR_NAME));
        const store = await openStore({ dataDir: dir });
        try {
          expect(await store.getDelivery('only')).toMatchObject({ key: 'only' });
          expect(existsSync(join(dir, PGLITE_DIR_NAME))).toBe(false);
        } finally {
          await store.close();
        }

        // A SQLite store that is not a migration of the PGlite one beside it: which to keep is the operator's call.
        const mixed = await newDir();
        await (await PgliteStore.open({ dataDir: mixed })).close();
        const other = await newDir();
        await (await openStore({ dataDir: other })).close();
        await rename(join(other, SQLITE_FILE_NAME), join(mixed, SQLITE_FILE_NAME));
        const err = await openStore({ dataDir: mixed }).catch((e: unknown) => e);
        expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
        expect((err as Error).message).toContain('holds both a PGlite store');
        expect(existsSync(join(mixed, PGLITE_DIR_NAME, 'PG_VERSION'))).toBe(true);
      },
      PGLITE_TIMEOUT_MS,
    );
  });
});
