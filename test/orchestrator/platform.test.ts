import { describe, expect, it } from 'vitest';
import { PlatformClient } from '../../src/orchestrator/platform.js';

function platformAnswering(body: unknown): PlatformClient {
  return new PlatformClient({
    apiUrl: 'http://platform.test',
    projectId: 'p',
    bearer: () => 'token',
    fetch: (async () => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch,
  });
}

describe('PlatformClient.activeRooms', () => {
  it('keeps only room sessions when the platform says what kind each session is', async () => {
    const platform = platformAnswering({
      sessions: [
        { id: 's1', room_name: 'a', room_url: 'wss://x/rooms/a', kind: 'room' },
        { id: 's2', room_name: 'a', kind: 'service' },
        { id: 's3', room_name: 'b' },
      ],
    });
    expect(await platform.activeRooms()).toEqual([
      { room: 'a', roomUrl: 'wss://x/rooms/a', sessionId: 's1' },
      { room: 'b', roomUrl: null, sessionId: 's3' },
    ]);
  });
});
