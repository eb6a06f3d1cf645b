// What every scenario shares: the backend's URL, the demo users' login on
// the provider's form, screenshots under .build/e2e/screenshots/, no request
// leaving the machine, and no error in the browser console.

import { test as base, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type DemoUser = 'admin' | 'engineer' | 'reader';

function password(user: DemoUser): string {
  const all = JSON.parse(process.env.ALP_CONNEX_E2E_PASSWORDS ?? '{}') as Record<string, string>;
  const p = all[user];
  if (!p) throw new Error(`no password for ${user}: the global setup did not run`);
  return p;
}

/** Console errors a scenario causes on purpose: the API's refusals it provokes are logged by Chromium. */
const EXPECTED = /^Failed to load resource: the server responded with a status of (404|409|412|422)/;

export const test = base.extend<{ consoleErrors: string[]; shot: (name: string) => Promise<void> }>({
  baseURL: async ({}, use) => {
    await use(process.env.ALP_CONNEX_E2E_URL);
  },
  context: async ({ context }, use) => {
    // Only loopback: a page of the provider that pulls a web font stays offline.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => route.abort());
    await use(context);
  },
  consoleErrors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !EXPECTED.test(m.text()) && !m.location().url.includes('fonts.googleapis')) errors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    await use(errors);
  },
  shot: async ({ page }, use, info) => {
    let n = 0;
    const dir = join(process.env.ALP_CONNEX_E2E_SHOTS ?? '.build/e2e/screenshots', info.titlePath.slice(1).join(' - ').replace(/[^\w .-]+/g, '_').slice(0, 120));
    mkdirSync(dir, { recursive: true });
    await use(async (name: string) => {
      n += 1;
      await page.screenshot({ path: join(dir, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
    });
  },
});

test.afterEach(async ({ consoleErrors }) => {
  expect(consoleErrors, 'errors in the browser console').toEqual([]);
});

export { expect };

/** Opens the app and signs in on the provider's form. */
export async function login(page: Page, user: DemoUser, path = '/'): Promise<void> {
  await page.goto(path);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password(user));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByLabel('Signed in as')).toContainText(user);
}

export const mqttId = () => process.env.ALP_CONNEX_E2E_MQTT_ID ?? 'e2e-mqtt';
