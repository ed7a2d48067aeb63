import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseFlags, type FlagSpec } from '../../src/cli/args.js';
import {
  ALL_SETTING_FLAGS,
  CONFIG_FLAGS,
  configFromFlags,
  defaultMarkdown,
  settingFlags,
  settingsTableMarkdown,
  withSettingsTable,
} from '../../src/cli/config-flags.js';
import { SERVE_FLAGS } from '../../src/cli/serve.js';
import { SETTINGS } from '../../src/config.js';

const README = readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8');

describe('the settings table as the CLI and the README show it', () => {
  it("is the README's configuration table, as `npm run docs:settings` writes it", () => {
    expect(withSettingsTable(README), 'README.md is out of date: run `npm run docs:settings`').toBe(README);
    for (const [key, setting] of Object.entries(SETTINGS)) {
      const row = settingsTableMarkdown()
        .split('\n')
        .find((line) => line.startsWith(`| \`${setting.env[0]}\``));
      expect(row, key).toBeDefined();
      expect(row).toContain(setting.doc);
    }
  });

  it('maps every flag to its setting, and serve takes all of them', () => {
    const flagged = Object.entries(SETTINGS).filter(([, s]) => 'flag' in s);
    expect(Object.keys(CONFIG_FLAGS)).toHaveLength(flagged.length);
    for (const [key, setting] of flagged) expect(CONFIG_FLAGS[(setting as { flag: string }).flag.slice(2) as keyof typeof CONFIG_FLAGS]).toBe(key);
    expect(Object.keys(SERVE_FLAGS)).toEqual(ALL_SETTING_FLAGS);
  });

  it("takes each flag's env var, placeholder, default and help line from the table", () => {
    const flags = settingFlags(['port', 'lease-ms', 'insecure', 'webhook-secret', 'api-scope']);
    expect(flags.port).toEqual({ type: 'string', description: 'HTTP port (also PORT).', placeholder: '<port>', env: 'MESHAGENT_PORT', defaultText: '8080' });
    expect(flags['lease-ms']).toMatchObject({ type: 'string', placeholder: '<ms>', env: 'ROOMRUNNER_LEASE_MS', defaultText: '10000 (10 s)' });
    // A switch has no placeholder and shows no default (off unless given); a required value shows none either.
    expect(flags.insecure).toEqual({ type: 'boolean', description: 'Accept unsigned webhooks (local work only).', env: 'ROOMRUNNER_INSECURE' });
    expect(flags['webhook-secret'].defaultText).toBeUndefined();
    expect(flags['api-scope'].defaultText).toBe('{"agents":{"register_agent":false,"use_agents":false,"use_tools":false}}');
  });

  it('lets a command reword a help line but nothing else', () => {
    const flags = settingFlags(['api-url'], { 'api-url': 'Platform base URL; the room is <url>/rooms/<name>.' });
    expect(flags['api-url']).toEqual({
      type: 'string',
      description: 'Platform base URL; the room is <url>/rooms/<name>.',
      placeholder: '<url>',
      env: 'MESHAGENT_API_URL',
      defaultText: 'https://api.meshagent.com',
    });
  });

  it('types a switch as a boolean and a value as a string when parsed', () => {
    const parsed = parseFlags(['--insecure', '--port', '9000'], settingFlags(['insecure', 'port']));
    expectTypeOf(parsed.values.insecure).toEqualTypeOf<boolean>();
    expectTypeOf(parsed.values.port).toEqualTypeOf<string | undefined>();
    expect(parsed.values).toEqual({ insecure: true, port: '9000' });
    expectTypeOf(settingFlags(['port']).port).toMatchTypeOf<FlagSpec>();
  });

  it('writes defaults in words where a number alone would not say it', () => {
    expect(defaultMarkdown('ledgerRetentionMs')).toBe('604800000 (7 days)');
    expect(defaultMarkdown('tokenTtlMs')).toBe('3600000 (1 h)');
    expect(defaultMarkdown('idleTimeoutMs')).toBe('120000 (2 min)');
    expect(defaultMarkdown('keepAliveTimeoutMs')).toBe('72000 (72 s)');
    expect(defaultMarkdown('bodyLimitBytes')).toBe('1048576');
    expect(defaultMarkdown('mcp')).toBe('off');
    expect(defaultMarkdown('apiKey')).toBe('—');
    expect(defaultMarkdown('dataDir')).toBe('`.roomrunner`');
    expect(defaultMarkdown('heartbeatIntervalMs')).toBe('lease / 4, at most 2500');
  });

  it('reads only the flags given and the environment it is handed', () => {
    const config = configFromFlags({ port: '9001', 'max-rooms': undefined }, new Set(['port']), { ROOMRUNNER_MAX_ROOMS: '7', MESHAGENT_PORT: '1' });
    expect(config.port).toBe(9001);
    expect(config.maxRooms).toBe(7);
  });

  it('names the flag, the env var and the setting in words for a bad value', () => {
    expect(() => configFromFlags({ 'lease-ms': '5' }, new Set(['lease-ms']), {})).toThrow(
      /flag --lease-ms: .*\(set ROOMRUNNER_LEASE_MS \/ --lease-ms: room ownership lease: a replica that stops renewing loses its rooms after it \(see Storage and several replicas\)\)/,
    );
  });
});
