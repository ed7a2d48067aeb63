import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, RoomrunnerError } from '../src/errors.js';

const readme = readFileSync(path.join(import.meta.dirname, '../README.md'), 'utf8');
const documented = new Map(
  [...readme.matchAll(/^\| `(RR_[A-Z0-9_]+)` \| (\d*) \| (\d*) \| (\d*) \|/gm)].map((m) => [String(m[1]), { http: m[2], content: m[3], close: m[4] }]),
);

describe('the error catalog', () => {
  it('documents every code in the README error table', () => {
    const missing = Object.keys(ERROR_CATALOG).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
  });

  it('lists no code in the README that the catalog does not have', () => {
    const stale = [...documented.keys()].filter((code) => !(code in ERROR_CATALOG));
    expect(stale).toEqual([]);
  });

  it('gives each code the same HTTP status, room code and close code in the README as in the catalog', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG) as Array<[string, { http?: number; content?: number; close?: number }]>) {
      expect(documented.get(code), code).toEqual({ http: String(spec.http ?? ''), content: String(spec.content ?? ''), close: String(spec.close ?? '') });
    }
  });

  it('uses stable RR_ codes with a description each', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(code).toMatch(/^RR_[A-Z0-9_]+$/);
      expect(spec.description.length).toBeGreaterThan(10);
    }
  });

  it('maps an error to its edges once, with sensible fallbacks', () => {
    const error = new RoomrunnerError('RR_AGENT_INVALID_INPUT', 'bad');
    expect([error.httpStatus, error.contentCode, error.closeCode]).toEqual([500, 1002, 1011]);
    expect(new RoomrunnerError('RR_ROOM_SERVER_ERROR', 'x', { data: { code: 1003 } }).contentCode).toBe(1003);
    expect(new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'x').httpStatus).toBe(401);
  });
});
