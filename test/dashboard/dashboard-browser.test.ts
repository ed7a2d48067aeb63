/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) against a
 * listening RemoteTaskRunnerServer whose rooms come from the emulator's signed webhooks. Screenshots of each page
 * land in test-artifacts/dashboard/. Without a Chromium binary the suite skips with a loud message, or FAILS when
 * ROOMRUNNER_REQUIRE_BROWSER=1 (CI sets it): install the `chromium` package, or point ROOMRUNNER_CHROMIUM at one.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { RoomConnection } from '../../src/room/connection.js';
import { mintParticipantToken, userDefaultApiScope } from '../../src/auth/token.js';

const SECRET = 'dashboard-room-secret';
const WEBHOOK_SECRET = 'dashboard-webhook-secret';
const ADMIN_TOKEN = 'dashboard-admin-token-0123456789';
const CHROMIUM = process.env['ROOMRUNNER_CHROMIUM'] ?? '/usr/bin/chromium';
const REQUIRED = process.env['ROOMRUNNER_REQUIRE_BROWSER'] === '1';
const MISSING = `no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set ROOMRUNNER_CHROMIUM`;
const SKIPPED = !existsSync(CHROMIUM) && !REQUIRED;
if (SKIPPED) console.warn(`\n*** SKIPPING the dashboard browser tests: ${MISSING} (ROOMRUNNER_REQUIRE_BROWSER=1 makes this a failure) ***\n`);
const ARTIFACTS = new URL('../../test-artifacts/dashboard/', import.meta.url);
// As the machine's own probe starts it: the closed network refuses Chromium's background connections.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let emulator: Emulator;
let server: RemoteTaskRunnerServer;
let base: string;
let browser: Browser;
const people: RoomConnection[] = [];

async function personJoins(room: string): Promise<void> {
  const attached = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room, { includePast: true });
  const token = mintParticipantToken({ name: `person-${room}`, room, role: 'user', secret: SECRET, api: userDefaultApiScope() });
  const connection = new RoomConnection({ url: emulator.roomUrl(room), token });
  await connection.start();
  people.push(connection);
  await attached;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(`${name}.png`, ARTIFACTS).pathname, fullPage: true });
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${base}/dashboard`);
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('tab', { name: 'Rooms' }).waitFor();
}

beforeAll(async () => {
  if (SKIPPED) return;
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  mkdirSync(ARTIFACTS, { recursive: true });
  emulator = await startEmulator({
    port: 0,
    secret: SECRET,
    projectId: 'dashboard',
    idleGraceMs: 100,
    webhookDelivery: { minTimeoutMs: 20, maxTimeoutMs: 100 },
  });
  const config = loadConfig(
    {
      secret: SECRET,
      projectId: 'dashboard',
      apiUrl: emulator.url,
      webhookSecrets: [WEBHOOK_SECRET],
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      adminToken: ADMIN_TOKEN,
      drainTimeoutMs: 2_000,
    },
    {},
  );
  server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    defaultMetrics: false,
    retry: { minTimeoutMs: 20, maxTimeoutMs: 200, attemptTimeoutMs: 5_000 },
    dashboard: { emulatorDeliveries: () => emulator.webhooks.deliveries() },
  });
  const address = await server.start();
  base = address.url;
  emulator.webhooks.create({ url: `${base}/webhook`, secret: WEBHOOK_SECRET, scheme: 'meshagent', events: ['room.started', 'room.ended'] });
  await server.reconcile();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const person of people) await person.close(1000, 'test over').catch(() => undefined);
  await server?.close();
  await emulator?.close();
});

describe.skipIf(SKIPPED)('the dashboard in headless Chromium', () => {
  it('refuses a wrong token and shows nothing but the sign-in form', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard`);
    await page.getByLabel('Admin token').fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the admin token');
    expect(await page.getByRole('tab').count()).toBe(0);
    expect(await page.content()).not.toContain(ADMIN_TOKEN);
    await screenshot(page, 'sign-in-refused');
    await page.close();
  });

  it('lists the rooms of two room.started, and shows a third without a reload', async () => {
    await personJoins('alpha');
    await personJoins('beta');
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page);
    const rows = page.locator('#rooms-table tbody tr[data-room]');
    await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-room')).sort())).toEqual(['alpha', 'beta']);
    await expect.poll(() => page.locator('tr[data-room="alpha"] .badge').textContent()).toBe('attached');
    expect(await page.locator('tr[data-room="alpha"]').textContent()).toContain('samples.adder');
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));
    await personJoins('gamma');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(3);
    expect(navigations).toEqual([]); // appeared by polling, not by a reload
    await screenshot(page, 'rooms');
    await page.close();
  });

  it('opens a delivery with its body, and Replay adds an attempt to the ledger', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page);
    await page.getByRole('tab', { name: 'Deliveries' }).click();
    const alpha = page.locator('#deliveries-table tbody tr', { hasText: 'alpha' }).filter({ hasText: 'room.started' });
    await alpha.first().getByRole('link').click();
    const body = page.getByLabel('Request body');
    await expect.poll(() => body.textContent()).toContain('"room_name": "alpha"');
    const key = await alpha.first().getAttribute('data-key');
    const before = (await (
      await fetch(`${base}/admin/deliveries/${encodeURIComponent(key ?? '')}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { delivery: { attempts: number } };
    await screenshot(page, 'delivery');
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect
      .poll(async () => {
        const response = await fetch(`${base}/admin/deliveries/${encodeURIComponent(key ?? '')}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        return ((await response.json()) as { delivery: { attempts: number } }).delivery.attempts;
      })
      .toBe(before.delivery.attempts + 1);
    await expect.poll(() => page.locator('[data-field="attempts"]').textContent()).toBe(String(before.delivery.attempts + 1));
    await screenshot(page, 'deliveries');
    await page.close();
  });

  it('detaches a room and attaches it again from the rooms page', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page);
    const left = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.unregistered' && e.room === 'beta');
    await page.getByRole('button', { name: 'Detach beta' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await left;
    await expect.poll(() => page.locator('tr[data-room="beta"]').count()).toBe(0);
    const back = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'beta');
    await page.getByLabel('Attach a room').fill('beta');
    await page.getByRole('button', { name: 'Attach', exact: true }).click();
    await back;
    await expect.poll(() => page.locator('tr[data-room="beta"] td').nth(1).textContent()).toBe('manual');
    await page.close();
  });

  it('shows the emulator log and health, and fits a narrow window', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page);
    await page.getByRole('tab', { name: 'Emulator' }).click();
    await expect.poll(() => page.locator('#emulator-table tbody tr').first().textContent()).toContain('room.started');
    await screenshot(page, 'emulator');
    await page.getByRole('tab', { name: 'Health' }).click();
    await expect.poll(() => page.locator('#readiness').textContent()).toContain('ready');
    await screenshot(page, 'health');
    await page.setViewportSize({ width: 380, height: 800 });
    await page.getByRole('tab', { name: 'Rooms' }).click();
    await expect.poll(() => page.locator('#rooms-table tbody tr[data-room]').count()).toBeGreaterThan(0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0); // the table scrolls inside its box, the page does not
    await screenshot(page, 'rooms-narrow');
    await page.close();
  });
});
