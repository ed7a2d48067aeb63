import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverAgents } from '../../src/agents/discover.js';

const fixture = (name: string): string => path.join(import.meta.dirname, 'fixtures', name);

describe('discovering agents in a folder', () => {
  it('loads TypeScript agents of both forms and skips files starting with "_"', async () => {
    const found = await discoverAgents(fixture('good'));
    expect(found.map((a) => [a.toolkit.name, a.exportName])).toEqual([
      ['fx.doubler', 'doubler'],
      ['fx.negator', 'Negator'],
    ]);
  });

  it('finds the shipped reference agents', async () => {
    const found = await discoverAgents(path.join(import.meta.dirname, '../../agents'));
    expect(found.map((a) => a.toolkit.name).sort()).toEqual(['samples.adder', 'samples.counter', 'samples.summer', 'samples.tally']);
  });

  it('refuses a file that exports something that is not an agent, naming file and export', async () => {
    await expect(discoverAgents(fixture('bad-export'))).rejects.toMatchObject({
      code: 'RR_AGENT_DISCOVERY_FAILED',
      message: expect.stringMatching(/agent\.ts exports "helper", which is a function, not an agent/),
    });
  });

  it('refuses two agents with one name, naming both files', async () => {
    await expect(discoverAgents(fixture('dupes'))).rejects.toMatchObject({
      code: 'RR_AGENT_DUPLICATE_NAME',
      message: expect.stringMatching(/two agents are named "fx\.same": .*a\.ts \(export one\) and .*b\.ts \(export two\)/),
    });
  });

  it('reports a file that fails to load', async () => {
    await expect(discoverAgents(fixture('broken'))).rejects.toMatchObject({
      code: 'RR_AGENT_DISCOVERY_FAILED',
      message: expect.stringContaining('oops.ts failed to load: this agent file crashes on import'),
    });
  });

  it('reports a folder that does not exist and says which flag fixes it', async () => {
    await expect(discoverAgents(fixture('missing'))).rejects.toMatchObject({ code: 'RR_AGENT_DISCOVERY_FAILED', message: expect.stringContaining('--agents') });
  });
});
