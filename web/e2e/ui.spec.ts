// The management UI in a real browser against the real backend, PostgreSQL,
// Valkey, an `mqtt` connector fed by `mqtt-sim` and the local OpenID
// provider (global-setup.ts). The scenarios build on each other (the
// connector and mapping created first are edited, restored and read later),
// so they run in order.

import type { Page } from '@playwright/test';
import { expect, login, mqttId, test } from './fixtures';

test.describe.configure({ mode: 'serial' });

const MAPPING = 'e2e-ss01-transformer';
const TOPIC = 'substations/ss-01/transformer/tr-1';

async function fillPoint(page: Page, n: number, p: Record<string, string>) {
  for (const [label, value] of Object.entries(p)) {
    const field = page.getByLabel(`Point ${n} ${label}`, { exact: true });
    if (label === 'type' || label === 'time format' || label === 'deadband kind') await field.selectOption(value);
    else await field.fill(value);
  }
}

test('an admin logs in through the provider form and sees the dashboard', async ({ page, shot }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await shot('provider-login-form');
  await login(page, 'admin');
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await expect(page.getByLabel('Signed in as')).toContainText('admin');
  await expect(page.getByRole('link', { name: 'Audit' })).toBeVisible();
  await shot('dashboard');
});

test('an admin creates an MQTT connector and a mapping, dry-runs and links it, and sees the connector connected and the points live with their quality', async ({ page, shot }) => {
  await login(page, 'admin', '/connectors');
  await page.getByRole('link', { name: 'New connector' }).click();
  await page.getByLabel('Kind', { exact: true }).selectOption('mqtt');
  await page.getByLabel('ID', { exact: true }).fill(mqttId());
  await page.getByLabel('Name', { exact: true }).fill('E2E sensors');
  await expect(page.getByLabel('broker.host', { exact: true })).toBeVisible();
  await shot('new-connector-form');
  await page.getByRole('button', { name: 'Create connector' }).click();
  await expect(page).toHaveURL(new RegExp(`/connectors/${mqttId()}$`));
  await expect(page.getByRole('heading', { name: 'E2E sensors' })).toBeVisible();

  await page.goto('/mappings/new');
  await page.getByLabel('ID', { exact: true }).fill(MAPPING);
  await page.getByLabel('Name', { exact: true }).fill('ss-01 transformer');
  await page.getByLabel('Topic filter').fill(TOPIC);
  await fillPoint(page, 1, {
    CASDU: '101',
    IOA: '20',
    type: 'M_ME_TF_1',
    'value path': '$.oil_temperature',
    'time path': '$.ts',
    'time format': 'unix_ms',
    'quality path': '$.status',
    'good quality values': 'ok, degraded',
  });
  await page.getByRole('button', { name: 'Add a point' }).click();
  await fillPoint(page, 2, { CASDU: '101', IOA: '22', type: 'M_ME_NB_1', 'value path': '$.load', scale: '100' });

  await page.getByRole('button', { name: 'Make a sample from the mapping' }).click();
  await page.getByLabel('Sample payload').fill('{"device": "tr-1", "ts": 1795252530123, "oil_temperature": 61.5, "load": 0.82, "status": "degraded"}');
  await page.getByRole('button', { name: 'Run the dry run' }).click();
  const produced = page.getByRole('table', { name: 'Data points the message produces' });
  await expect(produced.getByRole('row')).toHaveCount(3);
  await expect(produced.getByRole('row').nth(1)).toContainText('M_ME_TF_1');
  await expect(produced.getByRole('row').nth(1)).toContainText('61.5');
  await expect(produced.getByRole('row').nth(2)).toContainText('82');
  await shot('dry-run');

  await page.getByRole('button', { name: 'Create mapping' }).click();
  await expect(page).toHaveURL(new RegExp(`/mappings/${MAPPING}$`));

  await page.goto('/linking');
  const card = page.getByRole('region', { name: new RegExp(mqttId()) });
  await card.getByLabel('Mapping to link').selectOption(MAPPING);
  await card.getByRole('button', { name: 'Link', exact: true }).click();
  await card.getByRole('button', { name: 'Save links' }).click();
  await expect(card.getByRole('status')).toContainText('1 mapping linked');
  await expect(page.getByText('No conflicts')).toBeVisible();
  await shot('linked');

  await page.goto('/');
  const row = page.getByRole('row', { name: new RegExp(mqttId()) });
  await expect(row).toContainText('connected', { timeout: 30_000 });
  await shot('dashboard-connected');

  await page.goto('/points?casdu=101');
  await expect(page.getByRole('status').filter({ hasText: /^live/ })).toBeVisible();
  const point = page.locator('[data-address="101/20"]');
  await expect(point).toBeVisible({ timeout: 30_000 });
  await expect(point).toContainText('M_ME_TF_1');
  await expect(point.getByRole('cell').nth(4)).toHaveText(/good|IV/);
  await expect(point.getByRole('link', { name: MAPPING })).toBeVisible();
  const received = await point.getByRole('cell').nth(5).getAttribute('title');
  // The simulator publishes the transformer about 4 times a second: the row changes live.
  await expect(point.getByRole('cell').nth(5)).not.toHaveAttribute('title', received ?? '', { timeout: 15_000 });
  await expect(page.locator('[data-address="101/22"]')).toContainText('M_ME_NB_1');
  await shot('process-image-live');
});

test('a field error of the API is shown at its field', async ({ page, shot }) => {
  await login(page, 'engineer', '/mappings/new');
  await page.getByLabel('ID', { exact: true }).fill('e2e-bad-path');
  await page.getByLabel('Name', { exact: true }).fill('bad path');
  await page.getByLabel('Topic filter').fill('substations/ss-01/door/dc-1');
  await fillPoint(page, 1, { CASDU: '101', IOA: '10', type: 'M_SP_NA_1', 'value path': '$.door[' });
  await page.getByRole('button', { name: 'Create mapping' }).click();
  const cell = page.getByLabel('Point 1 value path', { exact: true });
  await expect(cell).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('cell').filter({ has: cell }).getByRole('alert')).not.toBeEmpty();
  await expect(page).toHaveURL(/\/mappings\/new$/);
  await shot('field-error');
});

test('an admin edits a connector, sees the change in the version diff and restores the version before', async ({ page, shot }) => {
  await login(page, 'admin', `/connectors/${mqttId()}`);
  await page.getByLabel('silence_timeout', { exact: true }).fill('120');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /Saved as version/ })).toBeVisible();

  const versions = page.getByRole('list', { name: 'Versions, newest first' });
  await expect(versions.getByRole('listitem').first()).toContainText('current');
  const diff = page.getByRole('table', { name: /Changes from version/ });
  await expect(diff.getByRole('row', { name: /silence_timeout/ })).toContainText('120');
  await shot('version-diff');

  // The version before the edit: the second in the list.
  const before = versions.getByRole('button').nth(1);
  const n = (await before.textContent())?.replace(/\D/g, '') ?? '';
  await before.click();
  await page.getByRole('button', { name: `Restore version ${n}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
  await expect(page.getByRole('status').filter({ hasText: /Restored/ })).toBeVisible();
  await expect(page.getByLabel('silence_timeout', { exact: true })).toHaveValue('');
  await expect(versions.getByRole('listitem').first()).toContainText('current');
  await shot('restored');
});

test('a stale write is refused with a clear message and the edits are kept', async ({ page, context, shot }) => {
  await login(page, 'admin', `/connectors/${mqttId()}`);
  const other = await context.newPage();
  await other.goto(`/connectors/${mqttId()}`);
  await other.getByLabel('Description', { exact: true }).fill('changed in another tab');
  await other.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(other.getByRole('status').filter({ hasText: /Saved as version/ })).toBeVisible();
  await other.close();

  await page.getByLabel('Description', { exact: true }).fill('my change');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Someone else changed this' })).toBeVisible();
  await expect(page.getByLabel('Description', { exact: true })).toHaveValue('my change');
  await shot('stale-write');
});

test('dark mode is toggled and kept after a reload', async ({ page, shot }) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await login(page, 'engineer');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await page.getByRole('button', { name: 'Dark mode' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expect(page.getByRole('button', { name: 'Dark mode' })).toHaveAttribute('aria-pressed', 'true');
  await page.reload();
  await expect(page.getByLabel('Signed in as')).toContainText('engineer');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await shot('dark-dashboard');
  await page.goto('/flow');
  await expect(page.locator('.react-flow__node').first()).toBeVisible();
  await shot('dark-data-flow');
});

test('a reader finds no edit control on any page', async ({ page, shot }) => {
  await login(page, 'reader');
  await expect(page.getByRole('link', { name: 'Audit' })).toHaveCount(0);
  const edits = /^(New connector|New mapping|Save|Save links|Create.*|Delete|Disable|Enable|Link|Unlink.*|Restore.*|Add .*|Remove.*|Run the dry run)$/;
  for (const path of ['/', '/connectors', `/connectors/${mqttId()}`, '/mappings', `/mappings/${MAPPING}`, '/linking', '/points', '/flow']) {
    await page.goto(path);
    await expect(page.getByRole('main').getByRole('heading', { level: 1 })).toBeVisible();
    await expect(page.getByRole('main').locator('.state-loading')).toHaveCount(0);
    await expect(page.getByRole('button', { name: edits })).toHaveCount(0);
    await expect(page.getByRole('link', { name: edits })).toHaveCount(0);
    await expect(page.locator('main input:not([readonly]):not([type=search]):not([type=checkbox]):not([type=datetime-local])')).toHaveCount(0);
    await shot(`reader${path.replace(/\W+/g, '-')}`);
  }
});

test('signing out ends the session at the provider', async ({ page, shot }) => {
  await login(page, 'engineer');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await expect(page.getByRole('heading', { name: 'You are signed out' })).toBeVisible();
  await shot('signed-out');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByLabel('Password')).toBeVisible();
});
