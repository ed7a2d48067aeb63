/**
 * The SQLite driver layer (src/store/sqlite.ts) without a database: which failures of either driver mean "the
 * store is unavailable" (503, the sender retries) and which are the statement's own, and what the process says
 * about its driver.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { sqliteAvailable, sqliteDriver, sqliteMissingReason, toStoreError } from '../../src/store/sqlite.js';

/** An error as node:sqlite throws it: the (extended) result code as a number. */
const nodeSqliteError = (errcode: number): Error => Object.assign(new Error(`sqlite says ${errcode}`), { code: 'ERR_SQLITE_ERROR', errcode });
/** An error as better-sqlite3 throws it: the result code's name. */
const betterSqliteError = (code: string): Error => Object.assign(new Error(`sqlite says ${code}`), { code });

const UNAVAILABLE = {
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  26: 'SQLITE_NOTADB',
};
const STATEMENT_ERRORS = { 1: 'SQLITE_ERROR', 19: 'SQLITE_CONSTRAINT', 20: 'SQLITE_MISMATCH', 25: 'SQLITE_RANGE' };

describe('toStoreError', () => {
  it('makes a lock, I/O, full-disk or corrupt-file failure RR_STORE_UNAVAILABLE, from either driver and with any extended code', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.entries(UNAVAILABLE)), fc.integer({ min: 0, max: 40 }), ([primary, name], extended) => {
        const fromNode = toStoreError(nodeSqliteError(Number(primary) | (extended << 8)));
        const fromBetter = toStoreError(betterSqliteError(extended === 0 ? name : `${name}_EXTENDED${extended}`));
        expect(isRoomrunnerError(fromNode, 'RR_STORE_UNAVAILABLE')).toBe(true);
        expect(isRoomrunnerError(fromBetter, 'RR_STORE_UNAVAILABLE')).toBe(true);
      }),
    );
  });

  it('passes a wrong statement or a constraint through unchanged, from either driver', () => {
    for (const [primary, name] of Object.entries(STATEMENT_ERRORS)) {
      const fromNode = nodeSqliteError(Number(primary));
      const fromBetter = betterSqliteError(`${name}_PRIMARYKEY`);
      expect(toStoreError(fromNode)).toBe(fromNode);
      expect(toStoreError(fromBetter)).toBe(fromBetter);
    }
  });

  it('keeps the driver error as the cause and says what SQLite said', () => {
    const cause = betterSqliteError('SQLITE_FULL');
    const error = toStoreError(cause) as Error;
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('sqlite says SQLITE_FULL');
  });

  it('leaves errors that are not SQLite errors alone', () => {
    for (const error of [new TypeError('no'), Object.assign(new Error('enoent'), { code: 'ENOENT' }), null, 'text']) expect(toStoreError(error)).toBe(error);
  });
});

describe('sqliteDriver', () => {
  it('picks node:sqlite where Node has it, else better-sqlite3, and says why when there is neither', () => {
    const driver = sqliteDriver();
    if (process.getBuiltinModule?.('node:sqlite') !== undefined) expect(driver?.name).toBe('node:sqlite');
    else if (driver !== undefined) expect(driver.name).toBe('better-sqlite3');
    expect(sqliteAvailable()).toBe(driver !== undefined);
    if (driver === undefined) expect(sqliteMissingReason()).toMatch(/no node:sqlite .* better-sqlite3 is/);
    else expect(sqliteMissingReason()).toBeUndefined();
  });

  // test/store/open-store.test.ts covers a process without a driver.
  it.runIf(sqliteAvailable())('opens a connection that runs SQL', () => {
    const connection = sqliteDriver()!.open(':memory:');
    try {
      connection.exec('CREATE TABLE t (a INTEGER)');
      expect(Number(connection.prepare('INSERT INTO t (a) VALUES (?)').run(7).changes)).toBe(1);
      expect({ ...connection.prepare('SELECT a FROM t').get() }).toEqual({ a: 7 });
    } finally {
      connection.close();
    }
  });
});
