// A demo user's access token from the command line: signs in on the local
// provider's login form as a browser would (authorization code with PKCE,
// the public client `alp-connex-ui`) and prints the access token.
//
//   node token.mjs --issuer http://127.0.0.1:9090 --user engineer --password-file .build/run/oidc/passwords
//   node token.mjs --issuer http://127.0.0.1:9090 --user reader --password secret
//
// Without --password, the password is read from --password-file (lines
// `user:password`, the provider's passwords file). The redirect URI is only
// compared, never opened: the code is taken from the provider's redirect.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** A cookie jar for one host, enough for the provider's cookies. */
class Jar {
  #cookies = new Map();

  take(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now())
        || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Signs `user` in with `password` and resolves to the token response
 * (`access_token`, `id_token`, ...). Rejects with the provider's reason
 * when the login or a step of the flow fails.
 */
export async function userToken({
  issuer,
  user,
  password,
  clientId = 'alp-connex-ui',
  redirectUri = 'http://127.0.0.1:8080/',
  scope = 'openid profile api://alp-connex/access',
}) {
  const discovery = await (await fetch(new URL('.well-known/openid-configuration', `${issuer.replace(/\/$/, '')}/`))).json();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const auth = new URL(discovery.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();

  const jar = new Jar();
  const request = async (url, init = {}) => {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header() } });
    jar.take(res);
    return res;
  };
  let res = await request(auth);
  let url = auth.href;
  let loggedIn = false;
  for (let step = 0; step < 10; step += 1) {
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), url);
      if (next.href.startsWith(redirectUri)) {
        const error = next.searchParams.get('error');
        if (error) throw new Error(`${error}: ${next.searchParams.get('error_description') ?? ''}`);
        if (next.searchParams.get('state') !== state) throw new Error('the redirect carries another state');
        const token = await fetch(discovery.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code: next.searchParams.get('code') ?? '',
            redirect_uri: redirectUri,
            client_id: clientId,
            code_verifier: verifier,
          }),
        });
        const body = await token.json();
        if (!token.ok) throw new Error(`token endpoint: ${body.error}: ${body.error_description ?? ''}`);
        return body;
      }
      url = next.href;
      res = await request(url);
    } else if (res.status === 200 && !loggedIn && /\/interaction\/[\w-]+$/.test(new URL(url).pathname)) {
      loggedIn = true;
      url = `${url}/login`;
      res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: user, password }),
      });
      if (res.status === 401) throw new Error(`login refused for ${user}: wrong user or password`);
    } else {
      const text = (await res.text()).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
      throw new Error(`unexpected ${res.status} at ${url}: ${text.slice(0, 200)}`);
    }
  }
  throw new Error('too many redirects');
}

async function main() {
  const { values } = parseArgs({
    options: {
      issuer: { type: 'string', default: process.env.OIDC_DEV_ISSUER ?? 'http://127.0.0.1:9090' },
      user: { type: 'string', default: 'admin' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      'redirect-uri': { type: 'string', default: 'http://127.0.0.1:8080/' },
      'id-token': { type: 'boolean' },
    },
  });
  let { password } = values;
  if (password === undefined) {
    const file = values['password-file'];
    if (!file) throw new Error('give --password or --password-file');
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${values.user}:`));
    if (!line) throw new Error(`${file} has no password for ${values.user}`);
    password = line.slice(values.user.length + 1).trim();
  }
  const tokens = await userToken({ issuer: values.issuer, user: values.user, password, redirectUri: values['redirect-uri'] });
  process.stdout.write(`${values['id-token'] ? tokens.id_token : tokens.access_token}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`token: ${e.message}\n`);
    process.exit(1);
  });
}
