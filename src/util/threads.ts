/**
 * What the worker threads roomrunner starts share: an error as data that crosses a thread with its catalogued
 * code, and starting a module of this package as a worker whether the package runs compiled or from its
 * TypeScript sources.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isRoomrunnerError, RoomrunnerError, type ErrorCode } from '../errors.js';
import { errorMessage } from './error-message.js';

export interface SerializedError {
  readonly code?: string;
  readonly message: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** An error as data, keeping a catalogued error's code and data. */
export function serializeError(error: unknown): SerializedError {
  if (isRoomrunnerError(error)) {
    return { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: structuredData(error.data) }) };
  }
  return { message: errorMessage(error) };
}

/** The error again: a `RoomrunnerError` with its code when it had one, else a plain `Error`. */
export function deserializeError(error: SerializedError): Error {
  if (error.code !== undefined) return new RoomrunnerError(error.code as ErrorCode, error.message, error.data === undefined ? {} : { data: error.data });
  return new Error(error.message);
}

function structuredData(data: unknown): Record<string, unknown> | undefined {
  try {
    return structuredClone(data) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Starts the module `name` (without extension) beside `here` (the caller's `import.meta.url`) as a worker
 * thread: the compiled `.js` file in an installed package; in a checkout (TypeScript sources, as tests and
 * `npm run dev` run them) the `.ts` file through tsx, registered inside the thread.
 */
export function startModuleWorker(here: string, name: string, workerData: unknown): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, here), { workerData });
  const entry = new URL(`./${name}.ts`, here).href;
  // tsx's ES module entry (the package resolves `require` to its CommonJS one), and its scoped import.
  const tsx = pathToFileURL(
    createRequire(here)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(here)}))`;
  return new Worker(boot, { eval: true, workerData });
}
