// The local provider as its clients see it: started as `node server.mjs` on
// a free port with a data directory of its own, spoken to over HTTP only.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { userToken } from '../token.mjs';

const server = join(dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs');
const PASSWORDS = { admin: 'admin-pw-1', engineer: 'engineer-pw-2', reader: 'reader-pw-3' };
const ROLES = { admin: 'ALP.Admin', engineer: 'ALP.Engineer', reader: 'ALP.Reader' };
const REDIRECT = 'http://127.0.0.1:18080/';

/** Starts the provider; resolves to `{ issuer, child }` when its first line names the issuer. */
function startProvider(dataDir) {
  const child = spawn(process.execPath, [server, '--port', '0', '--data-dir', dataDir, '--redirect-uri', REDIRECT], {
    env: {
      ...process.env,
      OIDC_DEV_PASSWORD_ADMIN: PASSWORDS.admin,
      OIDC_DEV_PASSWORD_ENGINEER: PASSWORDS.engineer,
      OIDC_DEV_PASSWORD_READER: PASSWORDS.reader,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((ok, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const m = /^issuer (\S+)$/.exec(line);
      if (m) ok({ issuer: m[1], child });
      else fail(new Error(`first line: ${line}`));
    });
    child.once('exit', (code) => fail(new Error(`provider exited with ${code}: ${stderr}`)));
  });
}

function stop(child) {
  return new Promise((ok) => {
    if (child.exitCode !== null) { ok(); return; }
    child.once('exit', () => ok());
    child.kill('SIGTERM');
  });
}

const part = (jwt, i) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url').toString('utf8'));

/** Checks the token's RS256 signature against the JWKS; returns its header and claims. */
function verified(jwt, jwks) {
  const header = part(jwt, 0);
  const key = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(key, `kid ${header.kid} is in the JWKS`);
  const [h, p, s] = jwt.split('.');
  const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key, format: 'jwk' }), Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the signature verifies with the published key');
  return { header, claims: part(jwt, 1) };
}

async function json(res) {
  const body = await res.json();
  return { status: res.status, body };
}

describe('the local OpenID provider', () => {
  let dataDir;
  let op;
  let discovery;
  let jwks;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'oidc-dev-test-'));
    op = await startProvider(dataDir);
    discovery = (await json(await fetch(`${op.issuer}/.well-known/openid-configuration`))).body;
    jwks = (await json(await fetch(discovery.jwks_uri))).body;
  });

  after(async () => {
    if (op) await stop(op.child);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('discovery names the issuer it listens on, PKCE S256 and RS256', () => {
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(discovery.issuer, op.issuer);
    assert.equal(discovery.jwks_uri, `${op.issuer}/jwks`);
    assert.ok(discovery.authorization_endpoint.startsWith(op.issuer));
    assert.ok(discovery.token_endpoint.startsWith(op.issuer));
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok(discovery.id_token_signing_alg_values_supported.includes('RS256'));
    assert.ok(discovery.grant_types_supported.includes('client_credentials'));
  });

  test('the JWKS holds one public RS256 signing key and no private part', () => {
    assert.equal(jwks.keys.length, 1);
    const [key] = jwks.keys;
    assert.equal(key.kty, 'RSA');
    assert.equal(key.alg, 'RS256');
    assert.equal(key.use, 'sig');
    assert.ok(key.kid);
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(key[secret], undefined, `no ${secret}`);
  });

  test('the command-line client gets an RS256 JWT access token for api://alp-connex with the ALP.Admin role', async () => {
    const secret = readFileSync(join(dataDir, 'cli-secret'), 'utf8').trim();
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`alp-connex-cli:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    const { status, body } = await json(res);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    const { header, claims } = verified(body.access_token, jwks);
    assert.equal(header.alg, 'RS256');
    assert.equal(claims.iss, op.issuer);
    assert.equal(claims.aud, 'api://alp-connex');
    assert.deepEqual(claims.roles, ['ALP.Admin']);
    assert.match(claims.oid, /^[0-9a-f-]{36}$/);
    const now = Date.now() / 1000;
    assert.ok(claims.exp > now + 3000 && claims.exp <= now + 3601, `exp ${claims.exp} about an hour ahead`);
  });

  test('a wrong client secret gets no token', async () => {
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('alp-connex-cli:wrong').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    const { status, body } = await json(res);
    assert.equal(status, 401);
    assert.equal(body.error, 'invalid_client');
    assert.equal(body.access_token, undefined);
  });

  for (const user of Object.keys(PASSWORDS)) {
    test(`${user} signs in on the login form and gets an access token with ${ROLES[user]}, preferred_username and oid`, async () => {
      const tokens = await userToken({ issuer: op.issuer, user, password: PASSWORDS[user], redirectUri: REDIRECT });
      const { header, claims } = verified(tokens.access_token, jwks);
      assert.equal(header.alg, 'RS256');
      assert.equal(claims.iss, op.issuer);
      assert.equal(claims.aud, 'api://alp-connex');
      assert.deepEqual(claims.roles, [ROLES[user]]);
      assert.equal(claims.preferred_username, user);
      assert.match(claims.oid, /^[0-9a-f-]{36}$/);
      assert.equal(claims.client_id, 'alp-connex-ui');
      assert.equal(claims.scope, 'api://alp-connex/access');
      const id = verified(tokens.id_token, jwks).claims;
      assert.equal(id.aud, 'alp-connex-ui');
      assert.equal(id.preferred_username, user);
    });
  }

  test('the demo users have distinct object ids', async () => {
    const oids = new Set();
    for (const user of Object.keys(PASSWORDS)) {
      const tokens = await userToken({ issuer: op.issuer, user, password: PASSWORDS[user], redirectUri: REDIRECT });
      oids.add(part(tokens.access_token, 1).oid);
    }
    assert.equal(oids.size, 3);
  });

  test('a wrong password is refused on the login form and gives no code', async () => {
    await assert.rejects(
      userToken({ issuer: op.issuer, user: 'admin', password: PASSWORDS.reader, redirectUri: REDIRECT }),
      /login refused for admin/,
    );
    await assert.rejects(
      userToken({ issuer: op.issuer, user: 'nobody', password: PASSWORDS.admin, redirectUri: REDIRECT }),
      /login refused for nobody/,
    );
  });

  test('an authorization request of the web client without PKCE is refused', async () => {
    const auth = new URL(discovery.authorization_endpoint);
    auth.search = new URLSearchParams({
      client_id: 'alp-connex-ui', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
    }).toString();
    const res = await fetch(auth, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description'), /requires PKCE/);
    assert.equal(back.searchParams.get('code'), null);
  });

  test('a redirect URI that is not registered is refused', async () => {
    await assert.rejects(
      userToken({ issuer: op.issuer, user: 'admin', password: PASSWORDS.admin, redirectUri: 'http://127.0.0.1:1/' }),
      /unexpected 400 .*redirect_uri/,
    );
  });

  test('the signing key is kept in the data directory: a restart publishes the same key', async () => {
    await stop(op.child);
    op = await startProvider(dataDir);
    const again = (await json(await fetch(`${op.issuer}/jwks`))).body;
    assert.deepEqual(again.keys.map((k) => k.kid), jwks.keys.map((k) => k.kid));
    assert.equal(again.keys[0].n, jwks.keys[0].n);
  });
});
