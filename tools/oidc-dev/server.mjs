// A local OpenID Connect provider standing in for Microsoft Entra ID: the
// quick start's (scripts/run) and the web UI's tests'. It runs `oidc-provider`
// (a certified OpenID provider) with what alp-connex needs of Entra ID:
//
//   - RS256 signing keys, generated at the first start and kept in the data
//     directory (so tokens stay valid across restarts), published as JWKS;
//   - access tokens as JWT for the API `api://alp-connex` (resource
//     indicators), carrying the app roles in `roles` (ALP.Admin,
//     ALP.Engineer, ALP.Reader) and `preferred_username` and `oid`;
//   - the demo users `admin`, `engineer`, `reader`, each with the role of its
//     name, logging in on a form that checks their password;
//   - the public client `alp-connex-ui` (authorization code with PKCE, for
//     the web UI) and the confidential client `alp-connex-cli`
//     (client_credentials, an ALP.Admin token for scripts).
//
//   node server.mjs [--host 127.0.0.1] [--port 9090] [--issuer URL]
//                   [--data-dir DIR] [--passwords FILE] [--redirect-uri URI]...
//
// `--port 0` takes any free port. The first line on stdout is
// `issuer <URL>` once the provider listens. The README (tools/oidc-dev) has
// the rest.

import { randomBytes, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));

/** The API's application ID URI: the tokens' audience. */
export const AUDIENCE = 'api://alp-connex';
/** The scope the web UI asks for (as with Entra ID: the API's URI and the scope's name). */
export const API_SCOPE = `${AUDIENCE}/access`;

/** The demo users: name, app role, a fixed object id (Entra ID's `oid`). */
export const USERS = {
  admin: { role: 'ALP.Admin', oid: '0b7d9c3e-5a41-4c2f-9e0a-1d4f6a8b2c01', name: 'Demo Admin' },
  engineer: { role: 'ALP.Engineer', oid: '0b7d9c3e-5a41-4c2f-9e0a-1d4f6a8b2c02', name: 'Demo Engineer' },
  reader: { role: 'ALP.Reader', oid: '0b7d9c3e-5a41-4c2f-9e0a-1d4f6a8b2c03', name: 'Demo Reader' },
};

/** The command-line client: its object id, and the app role its tokens carry. */
export const CLI_CLIENT = { id: 'alp-connex-cli', role: 'ALP.Admin', oid: '0b7d9c3e-5a41-4c2f-9e0a-1d4f6a8b2c10' };
export const UI_CLIENT = 'alp-connex-ui';

const DEFAULT_REDIRECT_URIS = ['http://127.0.0.1:8080/', 'http://localhost:8080/'];

/** Reads `name` from `dir`, or writes what `make()` returns there (mode 0600) first. */
function kept(dir, name, make) {
  const file = join(dir, name);
  if (!existsSync(file)) {
    writeFileSync(file, make(), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8');
}

/** The signing key (a private RS256 JWK), generated at the first start. */
function signingKeys(dir) {
  const text = kept(dir, 'jwks.json', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
    return `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`;
  });
  return JSON.parse(text);
}

/**
 * The demo users' passwords: `user:password` lines of `file` (created with
 * random passwords when missing), each overridden by
 * `OIDC_DEV_PASSWORD_<USER>` from the environment.
 */
function passwords(file, env) {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const lines = Object.keys(USERS).map((u) => `${u}:${randomBytes(9).toString('base64url')}\n`);
    writeFileSync(file, lines.join(''), { mode: 0o600 });
  }
  const out = new Map();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  for (const user of Object.keys(USERS)) {
    const value = env[`OIDC_DEV_PASSWORD_${user.toUpperCase()}`];
    if (value) out.set(user, value);
  }
  return out;
}

function sameSecret(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, client, error, username) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · alp-connex (local provider)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;box-sizing:border-box}input{margin:.25rem 0 1rem;padding:.5rem}
button{padding:.6rem}.error{color:#b00020}small{color:#666}</style></head>
<body><h1>Sign in</h1><p>to <strong>${escape(client)}</strong> at the local alp-connex provider</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<label for="username">User</label><input id="username" name="username" required autofocus value="${escape(username ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<p><small>Demo users: ${Object.keys(USERS).map(escape).join(', ')}.</small></p></body></html>`;
}

async function formBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Starts the provider. Resolves to `{ issuer, port, close() }` once it
 * listens.
 */
export async function start({
  host = '127.0.0.1',
  port = 9090,
  issuer,
  dataDir = join(here, '../../.build/oidc-dev'),
  passwordsFile,
  redirectUris = DEFAULT_REDIRECT_URIS,
  env = process.env,
} = {}) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const jwks = signingKeys(dataDir);
  const cookieKeys = JSON.parse(kept(dataDir, 'cookie-keys.json', () => JSON.stringify([randomBytes(32).toString('base64url')])));
  const cliSecret = (env.OIDC_DEV_CLI_SECRET || kept(dataDir, 'cli-secret', () => `${randomBytes(24).toString('base64url')}\n`)).trim();
  const passwordsPath = resolve(passwordsFile ?? join(dataDir, 'passwords'));
  const users = passwords(passwordsPath, env);

  // Listen first: with --port 0 the issuer names the port the system chose.
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = createServer((req, res) => handler(req, res));
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const bound = server.address().port;
  const iss = issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;

  const provider = new Provider(iss, {
    jwks,
    cookies: { keys: cookieKeys },
    clients: [
      {
        client_id: UI_CLIENT,
        client_name: 'alp-connex web UI',
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: redirectUris,
        post_logout_redirect_uris: redirectUris,
      },
      {
        client_id: CLI_CLIENT.id,
        client_name: 'alp-connex command line',
        client_secret: cliSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    async findAccount(_ctx, sub) {
      const user = USERS[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, preferred_username: sub, name: user.name, oid: user.oid };
        },
      };
    },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'oid'] },
    scopes: ['openid', 'profile', 'offline_access'],
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A request naming no resource is for the API, as an Entra ID
        // request with the scope `api://alp-connex/access` is.
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resource) {
          if (resource !== AUDIENCE) throw new Provider.errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope: API_SCOPE,
            audience: AUDIENCE,
            accessTokenTTL: 60 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      if (token.accountId) {
        const user = USERS[token.accountId];
        if (user) return { roles: [user.role], preferred_username: token.accountId, oid: user.oid, name: user.name };
      } else if (token.clientId === CLI_CLIENT.id) {
        // As Entra ID's app-only tokens: the app role and the client's
        // object id, no user name.
        return { roles: [CLI_CLIENT.role], oid: CLI_CLIENT.oid, azp: CLI_CLIENT.id };
      }
      return undefined;
    },
    clientBasedCORS: (_ctx, origin, client) => origin !== 'null' && client.clientAuthMethod === 'none',
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: 60 * 60,
      AuthorizationCode: 60,
      ClientCredentials: 60 * 60,
      IdToken: 60 * 60,
      Grant: 14 * 24 * 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      RefreshToken: 14 * 24 * 60 * 60,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><h1>${escape(out.error)}</h1>${out.error_description ? `<p>${escape(out.error_description)}</p>` : ''}</body></html>`;
    },
  });

  // The login and consent steps of the authorization code flow.
  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
    if (!m) return next();
    const { req, res } = ctx;
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) ctx.throw(400, 'interaction mismatch');
    const { prompt, params } = details;
    ctx.set('Cache-Control', 'no-store');
    if (prompt.name === 'login') {
      if (ctx.method === 'GET' && !m[2]) {
        ctx.type = 'html';
        ctx.body = loginPage(details.uid, params.client_id);
        return undefined;
      }
      if (ctx.method === 'POST' && m[2]) {
        const form = await formBody(req);
        const username = form.get('username') ?? '';
        const expected = users.get(username);
        if (!USERS[username] || expected === undefined || !sameSecret(form.get('password') ?? '', expected)) {
          ctx.status = 401;
          ctx.type = 'html';
          ctx.body = loginPage(details.uid, params.client_id, 'Wrong user or password.', username);
          return undefined;
        }
        ctx.respond = false;
        await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
        return undefined;
      }
    }
    if (prompt.name === 'consent' && ctx.method === 'GET' && !m[2]) {
      // First-party clients: what they ask for is granted without a question.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      const grantId = await grant.save();
      ctx.respond = false;
      await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
      return undefined;
    }
    ctx.throw(400, `unexpected ${ctx.method} in the ${prompt.name} step`);
    return undefined;
  });

  handler = provider.callback();
  return {
    issuer: iss,
    port: bound,
    dataDir,
    passwordsFile: passwordsPath,
    cliSecret,
    close: () => new Promise((ok) => { server.close(() => ok()); server.closeAllConnections(); }),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: process.env.OIDC_DEV_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: process.env.OIDC_DEV_PORT ?? '9090' },
      issuer: { type: 'string', default: process.env.OIDC_DEV_ISSUER },
      'data-dir': { type: 'string', default: process.env.OIDC_DEV_DATA_DIR },
      passwords: { type: 'string', default: process.env.OIDC_DEV_PASSWORDS },
      'redirect-uri': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: node server.mjs [--host 127.0.0.1] [--port 9090 (0: any free port)] [--issuer URL]
       [--data-dir DIR (default .build/oidc-dev)] [--passwords FILE (default DIR/passwords)]
       [--redirect-uri URI]... (default ${DEFAULT_REDIRECT_URIS.join(' ')})
environment: OIDC_DEV_HOST, OIDC_DEV_PORT, OIDC_DEV_ISSUER, OIDC_DEV_DATA_DIR, OIDC_DEV_PASSWORDS,
  OIDC_DEV_REDIRECT_URIS (space-separated), OIDC_DEV_PASSWORD_ADMIN|ENGINEER|READER, OIDC_DEV_CLI_SECRET
`);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`oidc-dev: --port ${values.port}: must be in 0..=65535\n`);
    process.exit(2);
  }
  const envUris = process.env.OIDC_DEV_REDIRECT_URIS?.split(/\s+/).filter(Boolean);
  const redirectUris = values['redirect-uri'] ?? (envUris?.length ? envUris : DEFAULT_REDIRECT_URIS);
  const op = await start({
    host: values.host,
    port,
    issuer: values.issuer,
    dataDir: values['data-dir'] ? resolve(values['data-dir']) : undefined,
    passwordsFile: values.passwords,
    redirectUris,
  });
  process.stdout.write(`issuer ${op.issuer}\n`);
  process.stdout.write(`users ${Object.keys(USERS).join(', ')}: passwords in ${op.passwordsFile}\n`);
  process.stdout.write(`client ${UI_CLIENT} (public, PKCE), redirect URIs: ${redirectUris.join(' ')}\n`);
  const secretFrom = process.env.OIDC_DEV_CLI_SECRET ? 'OIDC_DEV_CLI_SECRET' : join(op.dataDir, 'cli-secret');
  process.stdout.write(`client ${CLI_CLIENT.id} (client_credentials, ${CLI_CLIENT.role}): secret in ${secretFrom}\n`);
  const stop = () => op.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`oidc-dev: ${e.message}\n`);
    process.exit(1);
  });
}
