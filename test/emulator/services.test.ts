/**
 * The emulator's services REST, driven by the OFFICIAL @meshagent/meshagent client's own methods
 * (createService, listServices, getService, updateService, deleteService, and the room ones).
 */
import { Meshagent, type ServiceSpec } from '@meshagent/meshagent';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { mintParticipantToken } from '../../src/auth/token.js';

const SECRET = 'services-secret';
const PROJECT = 'services-project';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function up(): Promise<{ emulator: Emulator; client: Meshagent; bearer: string }> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT });
  cleanups.push(() => emulator.close());
  const bearer = mintParticipantToken({ name: 'admin', room: '*', role: 'user', secret: SECRET });
  return { emulator, client: new Meshagent({ baseUrl: emulator.url, token: bearer }), bearer };
}

const spec = (name: string, url = 'wss://roomrunner.example.com'): ServiceSpec => ({
  version: 'v1',
  kind: 'Service',
  metadata: { name },
  external: { url },
  ports: [{ num: '*', endpoints: [{ path: '/webhook', meshagent: { identity: 'roomrunner' } }] }],
});

describe('the emulator services REST', () => {
  it('creates, lists, gets, updates and deletes project services through the official client', async () => {
    const { client, emulator } = await up();
    const id = await client.createService(PROJECT, spec('roomrunner'));
    expect(typeof id).toBe('string');
    expect(await client.listServices(PROJECT)).toMatchObject([{ id, metadata: { name: 'roomrunner' }, external: { url: 'wss://roomrunner.example.com' } }]);
    expect(await client.getService(PROJECT, id)).toMatchObject({ id, kind: 'Service', ports: [{ endpoints: [{ path: '/webhook' }] }] });

    await client.updateService(PROJECT, id, { ...spec('renamed'), id });
    expect((await client.getService(PROJECT, id)).metadata.name).toBe('renamed');
    expect(emulator.services.forRoom('any').map((s) => s.spec.metadata.name)).toEqual(['renamed']);

    await client.deleteService(PROJECT, id);
    expect(await client.listServices(PROJECT)).toEqual([]);
    await expect(client.getService(PROJECT, id)).rejects.toThrow(/404/);
  });

  it('keeps room services to their room, and runs them with the project ones in that room only', async () => {
    const { client, emulator } = await up();
    const project = await client.createService(PROJECT, spec('everywhere'));
    const own = await client.createRoomService(PROJECT, 'lab', spec('lab-only'));
    expect(await client.listRoomServices(PROJECT, 'lab')).toMatchObject([{ id: own, metadata: { name: 'lab-only' } }]);
    expect(await client.listServices(PROJECT)).toMatchObject([{ id: project }]);
    await client.updateRoomService(PROJECT, 'lab', own, spec('lab-renamed'));
    expect((await client.getRoomService(PROJECT, 'lab', own)).metadata.name).toBe('lab-renamed');
    expect(emulator.services.forRoom('lab').map((s) => s.spec.metadata.name)).toEqual(['everywhere', 'lab-renamed']);
    expect(emulator.services.forRoom('elsewhere').map((s) => s.spec.metadata.name)).toEqual(['everywhere']);
    // A room service is not reachable as a project service, nor from another room.
    await expect(client.getService(PROJECT, own)).rejects.toThrow(/404/);
    await expect(client.getRoomService(PROJECT, 'other', own)).rejects.toThrow(/404/);
    await client.deleteRoomService(PROJECT, 'lab', own);
    expect(await client.listRoomServices(PROJECT, 'lab')).toEqual([]);
  });

  it('answers 400 naming the field for a spec the platform would reject, and asks for a bearer token', async () => {
    const { emulator, bearer } = await up();
    const post = (body: unknown, auth = `Bearer ${bearer}`) =>
      fetch(`${emulator.url}/accounts/projects/${PROJECT}/services`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify(body),
      });
    const misspelt = await post({ version: 'v1', kind: 'Service', metadata: { name: 'x' }, extrnal: { url: 'wss://x' } });
    expect(misspelt.status).toBe(400);
    expect(await misspelt.json()).toMatchObject({ error: { code: 'RR_EMULATOR_BAD_REQUEST', message: expect.stringContaining('extrnal') } });
    const noKind = await post({ version: 'v1', metadata: { name: 'x' } });
    expect(noKind.status).toBe(400);
    expect((await post(spec('x'), 'Bearer nope')).status).toBe(401);
    const other = await fetch(`${emulator.url}/accounts/projects/someone-else/services`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(other.status).toBe(404);
  });
});
