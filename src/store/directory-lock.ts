/**
 * One process per PGlite data directory, enforced by a lock the kernel holds for us: an exclusive
 * open-file-description lock (`fcntl(F_OFD_SETLK)` on Linux, `flock` on macOS, `LockFileEx` on Windows) on
 * `<dir>/roomrunner.lock`, taken through the `fs-native-extensions` addon (Node has no flock of its own).
 *
 * Why a kernel lock and not "is the pid in the file alive": in a container node runs as PID 1, so after a
 * SIGKILL or an OOM kill the new process finds pid 1 in the file, sees it alive (it is itself) and would refuse
 * forever. The kernel drops the lock the instant its holder dies, whatever pid namespace either process is in,
 * so a killed process never leaves a lock behind and a live one always keeps it.
 *
 * The file also records the holder's pid, only to name it in the error; it is never compared with anything.
 * The file is left in place on release: unlinking it would let a process that opened the old file lock it
 * while a third one creates and locks a new file under the same name.
 */
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RoomrunnerError } from '../errors.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE_NAME = 'roomrunner.lock';

/** A held directory lock. */
export interface DirectoryLock {
  /** The lock file. */
  readonly path: string;
  /** Drops the lock (idempotent). The process exiting drops it too. */
  release(): void;
}

/** The part of `fs-native-extensions` used here. */
interface FileLocks {
  /** True when the exclusive lock was taken, false when another open file holds it. */
  tryLock(fd: number): boolean;
  unlock(fd: number): void;
}

let fileLocks: FileLocks | undefined;

/** Loads the addon on first use, so that `memory://` and PostgreSQL users never load a native module. */
function loadFileLocks(dir: string): FileLocks {
  if (fileLocks !== undefined) return fileLocks;
  try {
    fileLocks = createRequire(import.meta.url)('fs-native-extensions') as FileLocks;
    return fileLocks;
  } catch (cause) {
    throw new RoomrunnerError(
      'RR_STORE_UNAVAILABLE',
      `file locks are not available on ${process.platform}-${process.arch} (fs-native-extensions did not load), so the data directory ${dir} cannot be locked; use DATABASE_URL or --data-dir memory://`,
      { cause, data: { dataDir: dir } },
    );
  }
}

/**
 * Takes the lock on `dir` (created if missing) for this process.
 * @throws RoomrunnerError `RR_STORE_LOCKED` when another open of the directory (another process, or an earlier
 *   open in this one) holds it, naming the pid it recorded; `RR_STORE_UNAVAILABLE` when the file cannot be
 *   created or the file system cannot lock it.
 */
export function lockDirectory(dir: string): DirectoryLock {
  const locks = loadFileLocks(dir);
  const path = join(dir, LOCK_FILE_NAME);
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true });
    // Never truncate before holding the lock: the holder's pid must stay readable for the error below.
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (cause) {
    throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `cannot create the lock file ${path}`, { cause, data: { dataDir: dir } });
  }
  let locked: boolean;
  try {
    locked = locks.tryLock(fd);
  } catch (cause) {
    closeSync(fd);
    // e.g. ENOLCK or EINVAL on a network file system without locks.
    throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `the file system of ${dir} cannot lock ${path}; put the data directory on a local disk`, {
      cause,
      data: { dataDir: dir },
    });
  }
  if (!locked) {
    const holder = recordedPid(path);
    closeSync(fd);
    const who = holder === undefined ? 'another process' : `process ${holder}`;
    throw new RoomrunnerError(
      'RR_STORE_LOCKED',
      `the data directory ${dir} is in use by ${who} (it holds the lock on ${path}); give each process its own data directory, or use DATABASE_URL`,
      { data: { dataDir: dir, ...(holder === undefined ? {} : { pid: holder }) } },
    );
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch {
    // The pid is only for the message a second process prints; the lock itself is held.
  }
  let released = false;
  return {
    path,
    release: () => {
      if (released) return;
      released = true;
      try {
        locks.unlock(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The pid a holder wrote, when the file holds one. */
function recordedPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
