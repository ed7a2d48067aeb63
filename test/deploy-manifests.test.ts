/**
 * The service manifests shipped in deploy/ are ServiceSpecs the platform accepts (the zod schema written from
 * its models) and say what the README says: an external one on /webhook, a container one running `join`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_SERVICE_API_SCOPE } from '../src/config.js';
import { ServiceSpecSchema } from '../src/service/spec.js';

const manifest = (name: string) => ServiceSpecSchema.parse(parse(readFileSync(path.join(import.meta.dirname, '../deploy', name), 'utf8')));

describe('the shipped service manifests', () => {
  it('describe the external form: a wss:// service whose /webhook endpoint asks for identity roomrunner and the least scope', () => {
    const spec = manifest('meshagent-service.external.yaml');
    expect(spec.external?.url).toMatch(/^wss:\/\//);
    expect(spec.container).toBeUndefined();
    expect(spec.ports[0]?.endpoints).toEqual([{ path: '/webhook', meshagent: { identity: 'roomrunner', api: DEFAULT_SERVICE_API_SCOPE } }]);
  });

  it('describe the container form: the image runs join and gets a token for roomrunner with the least scope', () => {
    const spec = manifest('meshagent-service.container.yaml');
    expect(spec.external).toBeUndefined();
    expect(spec.container?.command).toBe('node bin/roomrunner.js join');
    expect(spec.container?.environment).toEqual([
      { name: 'MESHAGENT_TOKEN', token: { identity: 'roomrunner', role: 'agent', api: DEFAULT_SERVICE_API_SCOPE } },
    ]);
  });
});
