/**
 * The join attempt bound survives garbage collection. `AbortSignal.timeout` inside `AbortSignal.any` can be
 * collected before it fires (nodejs/node#57736): attempts on a room server that never answers then hung for good
 * and held every join slot. This file runs with --expose-gc (the `gc` project in vitest.config.ts) and collects
 * garbage again and again while the attempts hang; each must still end at its bound.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adder } from '../../agents/adder.js';
import { silentLogger } from '../../src/logger.js';
import { RoomAttachments } from '../../src/orchestrator/attachments.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { startWedgedRoomServer } from '../support/wedged-room-server.js';

const ROOMS_PER_SERVER = 20;
/**
 * Long enough for several collections while the attempts hang, short enough for a quick test; it must stay below
 * the connection's own 15 s handshake timeout, which would end the attempts by itself.
 */
const ATTEMPT_TIMEOUT_MS = 2_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('global.gc is missing: run this file with node --expose-gc (vitest project "gc")');
  gc();
}

describe('RoomAttachments under garbage collection', () => {
  it('ends every hung attempt at its bound even when garbage is collected while they hang', async () => {
    const silent = await startWedgedRoomServer({ kind: 'never-upgrade' });
    const stuck = await startWedgedRoomServer({ kind: 'never-ready' });
    cleanups.push(
      () => silent.close(),
      () => stuck.close(),
    );
    const attachments = new RoomAttachments({
      toolkits: [adder],
      mintToken: (room) => mintParticipantToken({ secret: 'gc-secret', projectId: 'gc-project', name: 'rr', room, role: 'agent' }),
      maxRooms: 100,
      logger: silentLogger(),
      retry: { retries: 0, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS },
    });
    cleanups.push(() => attachments.detachAll('test over', 0));
    const rooms: string[] = [];
    for (let i = 0; i < ROOMS_PER_SERVER; i++) {
      for (const [name, server] of [
        ['silent', silent],
        ['stuck', stuck],
      ] as const) {
        const room = `${name}-${i}`;
        rooms.push(room);
        expect(attachments.attach({ room, url: server.roomUrl(room), trigger: 'manual' })).toBe('attaching');
      }
    }
    await vi.waitFor(
      () => {
        collectGarbage();
        expect(silent.upgrades.length + stuck.upgrades.length).toBe(rooms.length);
      },
      { timeout: 10_000, interval: 20 },
    );

    await vi.waitFor(
      () => {
        collectGarbage();
        expect(rooms.filter((room) => attachments.state(room) !== 'failed')).toEqual([]);
      },
      { timeout: 10_000, interval: 20 },
    );
    for (const room of rooms) expect(attachments.lastError(room)).toMatch(new RegExp(`^join attempt did not finish within ${ATTEMPT_TIMEOUT_MS} ms`));
  });
});
