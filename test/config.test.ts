import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      maxRooms: 1000,
      drainTimeoutMs: 10_000,
      dataDir: '.roomrunner',
      identity: 'roomrunner',
      bodyLimitBytes: 1_048_576,
    });
    expect(config.signatureSchemes).toEqual(['meshagent', 'standard-webhooks', 'hmac-sha256']);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("remembers a body digest for a minute (the sender's retries), a webhook-id and the ledger for a week", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({ dedupeWindowMs: 60_000, ledgerRetentionMs: 7 * 24 * 3600 * 1000, redispatchAfterMs: 60_000 });
    expect(loadConfig({}, { ROOMRUNNER_DEDUPE_WINDOW_MS: '2000', ROOMRUNNER_REDISPATCH_AFTER_MS: '1500' })).toMatchObject({
      dedupeWindowMs: 2000,
      redispatchAfterMs: 1500,
    });
    expect(() => loadConfig({}, { ROOMRUNNER_REDISPATCH_AFTER_MS: '10' })).toThrow(/ROOMRUNNER_REDISPATCH_AFTER_MS/);
  });

  it('takes PORT when MESHAGENT_PORT is unset, and flags over env vars', () => {
    expect(loadConfig({}, { PORT: '9000' }).port).toBe(9000);
    expect(loadConfig({ port: 7000 }, { MESHAGENT_PORT: '9000' }).port).toBe(7000);
    expect(loadConfig({}, { MESHAGENT_WEBHOOK_SECRET: 'a, b' }).webhookSecrets).toEqual(['a', 'b']);
  });

  it('names the env var and the flag of every bad value', () => {
    expect(() => loadConfig({}, { MESHAGENT_PORT: 'eighty', ROOMRUNNER_MAX_ROOMS: '0', DATABASE_URL: 'mysql://x' })).toThrow(
      expect.objectContaining({
        code: 'RR_CONFIG_INVALID',
        message: expect.stringMatching(
          /env MESHAGENT_PORT: .*set MESHAGENT_PORT or PORT \/ --port[\s\S]*env DATABASE_URL: must be a postgres[\s\S]*env ROOMRUNNER_MAX_ROOMS: Too small/,
        ),
      }),
    );
    expect(() => loadConfig({ signatureSchemes: 'meshagent,rsa' }, {})).toThrow(/flag --signature-schemes/);
  });
});
