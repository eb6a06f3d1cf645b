import { defineConfig } from '@playwright/test';
import { fileURLToPath } from 'node:url';

// End-to-end scenarios in Debian's Chromium (Playwright's own browser
// download does not work here) against the real backend, PostgreSQL,
// Valkey, Mosquitto, an `mqtt` connector fed by `mqtt-sim` and the local
// OpenID provider, all started by e2e/global-setup.ts on free loopback
// ports. Results and screenshots go to the ignored .build/e2e/.
const repo = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  testDir: './e2e',
  globalSetup: './e2e/global-setup.ts',
  outputDir: `${repo}.build/e2e/test-results`,
  // One backend and one set of services: the scenarios run one after the other.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    baseURL: process.env.ALP_CONNEX_E2E_URL,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.ALP_CONNEX_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
