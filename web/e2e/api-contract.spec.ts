// The API document the UI is typed against (src/api/openapi.json, from which
// src/api/openapi.d.ts is generated and src/api/contract.ts checks the UI's
// types) is the one the backend serves. When this fails, the API changed:
// copy the served document to src/api/openapi.json, run `npm run api-types`
// and let the compiler show what the UI has to follow.

import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';

test('the API document the UI is typed against is the one the backend serves', async ({ request }) => {
  const res = await request.get(`${process.env.ALP_CONNEX_E2E_URL}/api/openapi.json`);
  expect(res.status()).toBe(200);
  const served = (await res.json()) as { info: { version?: string } };
  const committed = JSON.parse(readFileSync(new URL('../src/api/openapi.json', import.meta.url), 'utf8')) as { info: { version?: string } };
  // The version is the package's: not part of the contract.
  served.info.version = committed.info.version;
  expect(served).toEqual(committed);
});
