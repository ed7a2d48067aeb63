/**
 * GET /.well-known/meshagent-service.json: the ServiceSpec the orchestrator serves, validated against the zod
 * schema written from the platform's models.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { DEFAULT_SERVICE_API_SCOPE, loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { buildServiceDescriptor, SERVICE_DESCRIPTOR_PATH } from '../../src/service/descriptor.js';
import { ServiceSpecSchema } from '../../src/service/spec.js';

const servers: RemoteTaskRunnerServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

function server(overrides: Parameters<typeof loadConfig>[0] = {}): RemoteTaskRunnerServer {
  const config = loadConfig({ secret: 's', webhookSecrets: ['w'], logLevel: 'silent', ...overrides }, {});
  const made = new RemoteTaskRunnerServer({ agents: [adder], config, defaultMetrics: false });
  servers.push(made);
  return made;
}

describe('the service descriptor', () => {
  it('serves a ServiceSpec with a meshagent endpoint for /webhook carrying the identity and least API scope', async () => {
    const response = await server().buildApp().inject({ method: 'GET', url: SERVICE_DESCRIPTOR_PATH });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/json');
    const spec = ServiceSpecSchema.parse(response.json());
    expect(spec).toMatchObject({ version: 'v1', kind: 'Service', metadata: { name: 'roomrunner' } });
    expect(spec.ports).toEqual([
      expect.objectContaining({
        num: '*',
        type: 'http',
        endpoints: [{ path: '/webhook', meshagent: { identity: 'roomrunner', api: DEFAULT_SERVICE_API_SCOPE } }],
      }),
    ]);
    expect(spec.agents).toEqual([{ name: 'samples.adder', description: 'an agent that adds two numbers', channels: { toolkit: [{ name: 'samples.adder' }] } }]);
    expect(spec.external).toBeUndefined();
  });

  it('takes the identity, API scope, service name and public URL from the configuration', async () => {
    const made = server({
      identity: 'adder-host',
      apiScope: '{"agents":{"allowed_toolkits":["samples.adder"]},"messaging":{}}',
      serviceName: 'math',
      publicUrl: 'wss://rr.example.com',
    });
    const spec = ServiceSpecSchema.parse((await made.buildApp().inject({ method: 'GET', url: SERVICE_DESCRIPTOR_PATH })).json());
    expect(spec.metadata.name).toBe('math');
    expect(spec.external).toEqual({ url: 'wss://rr.example.com' });
    expect(spec.ports[0]?.endpoints[0]?.meshagent).toEqual({ identity: 'adder-host', api: { agents: { allowed_toolkits: ['samples.adder'] }, messaging: {} } });
  });

  it('refuses an API scope that is not a JSON object, naming the env var and flag', () => {
    expect(() => loadConfig({ apiScope: 'agents' }, {})).toThrow(/ROOMRUNNER_API_SCOPE \/ --api-scope/);
    expect(() => loadConfig({}, { ROOMRUNNER_API_SCOPE: '{"agents": 1}' })).toThrow(/ROOMRUNNER_API_SCOPE/);
  });

  it('rejects a descriptor the platform would reject (a reserved port, an unknown key)', () => {
    expect(() => buildServiceDescriptor({ name: 'x', paths: ['/webhook'], identity: 'i', api: {} })).not.toThrow();
    expect(ServiceSpecSchema.safeParse({ version: 'v1', kind: 'Service', metadata: { name: 'x' }, ports: [{ num: 8078 }] }).success).toBe(false);
    const misspelt = ServiceSpecSchema.safeParse({ version: 'v1', kind: 'Service', metadata: { name: 'x' }, extrnal: { url: 'x' } });
    expect(misspelt.success).toBe(false);
    expect(misspelt.error?.issues[0]?.message).toContain('extrnal');
  });
  it('lists /mcp as an mcp endpoint when MCP is on, without its token', async () => {
    const spec = ServiceSpecSchema.parse(
      (await server({ mcp: true, mcpToken: 'mcp-secret-token' }).buildApp().inject({ method: 'GET', url: SERVICE_DESCRIPTOR_PATH })).json(),
    );
    expect(spec.ports[0]?.endpoints).toEqual([
      { path: '/webhook', meshagent: { identity: 'roomrunner', api: DEFAULT_SERVICE_API_SCOPE } },
      { path: '/mcp', mcp: { label: 'roomrunner', description: 'roomrunner agents as MCP tools: samples.adder' } },
    ]);
    expect(JSON.stringify(spec)).not.toContain('mcp-secret-token');
  });

  it('lists no mcp endpoint when MCP is off', async () => {
    const spec = ServiceSpecSchema.parse((await server().buildApp().inject({ method: 'GET', url: SERVICE_DESCRIPTOR_PATH })).json());
    expect(spec.ports[0]?.endpoints.map((e) => e.path)).toEqual(['/webhook']);
  });
});
