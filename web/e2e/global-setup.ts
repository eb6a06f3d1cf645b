// Starts everything the scenarios run against, on free 127.0.0.1 ports:
//
//   PostgreSQL (a cluster of its own in a temp dir), Valkey, Mosquitto,
//   the local OpenID provider (tools/oidc-dev) with the demo users,
//   `alp-connex backend` serving the built UI (web/dist),
//   `alp-connex mqtt --id e2e-mqtt` (no mappings until the backend pushes some)
//   and `alp-connex mqtt-sim` publishing the demo sensors of station ss-01.
//
// Hands the URLs and the demo passwords to the scenarios through the
// environment and returns the teardown that stops them all and removes the
// temp dir. Logs: .build/e2e/logs/.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accepts, asPostgres, chownToUser, freePort, isRoot, pgBin, run, start, stop, waitReady, type Service } from './services';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export const MQTT_ID = 'e2e-mqtt';

function binary(): string {
  const bin = process.env.ALP_CONNEX_BIN ?? join(repo, 'target/debug/alp-connex');
  if (!existsSync(bin)) {
    console.log('building target/debug/alp-connex …');
    run('cargo', ['build', '--quiet', '--bin', 'alp-connex'], { cwd: repo });
  }
  return bin;
}

async function startPostgres(work: string, logs: string, services: Service[]): Promise<number> {
  const bin = pgBin();
  const dir = join(work, 'postgres');
  mkdirSync(join(dir, 'sock'), { recursive: true });
  if (isRoot()) {
    chownToUser(dir, 'postgres');
    chownToUser(join(dir, 'sock'), 'postgres');
  }
  const [initdb, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  run(initdb, initArgs, { cwd: dir });
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const [pg, pgArgs] = asPostgres(join(bin, 'postgres'), [
      '-D', join(dir, 'data'), '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${join(dir, 'sock')}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ]);
    // SIGQUIT: immediate shutdown (the data is thrown away anyway).
    const svc = start('postgres', pg, pgArgs, logs, { cwd: dir, stopSignal: 'SIGQUIT' });
    try {
      await waitReady(svc, async () => spawnSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres']).status === 0);
      services.push(svc);
      run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'alp_connex']);
      return port;
    } catch (e) {
      await stop(svc);
      if (attempt >= 3) throw e;
    }
  }
}

async function startOnFreePort(
  services: Service[],
  make: (port: number) => Service,
  ready: (port: number, svc: Service) => Promise<boolean> = (port) => accepts(port),
): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const svc = make(port);
    try {
      await waitReady(svc, () => ready(port, svc));
      services.push(svc);
      return port;
    } catch (e) {
      await stop(svc);
      if (attempt >= 3) throw e;
    }
  }
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const dist = join(repo, 'web/dist/index.html');
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run npm run build in web/ first`);
  const oidcDir = join(repo, 'tools/oidc-dev');
  if (!existsSync(join(oidcDir, 'server.mjs'))) throw new Error(`${oidcDir}/server.mjs is missing: the local OpenID provider`);
  if (!existsSync(join(oidcDir, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: oidcDir });
  const bin = binary();

  const logs = join(repo, '.build/e2e/logs');
  mkdirSync(logs, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'alp-connex-e2e-'));
  // PostgreSQL (as `postgres` when run by root) must reach its directory inside.
  chmodSync(work, 0o755);
  const services: Service[] = [];
  const teardown = async () => {
    for (const s of [...services].reverse()) await stop(s);
    rmSync(work, { recursive: true, force: true });
  };

  try {
    const pgPort = await startPostgres(work, logs, services);

    mkdirSync(join(work, 'valkey'));
    const valkeyPort = await startOnFreePort(services, (port) =>
      start('valkey', 'valkey-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', join(work, 'valkey')], logs),
    );

    const mosquittoPort = await startOnFreePort(services, (port) => {
      const conf = join(work, `mosquitto-${port}.conf`);
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n`, { mode: 0o644 });
      return start('mosquitto', 'mosquitto', ['-c', conf], logs);
    });

    // The backend's port first: the provider must know its redirect URI.
    const backendPort = await freePort();
    const origin = `http://127.0.0.1:${backendPort}`;
    const passwords = { admin: randomBytes(9).toString('base64url'), engineer: randomBytes(9).toString('base64url'), reader: randomBytes(9).toString('base64url') };
    let issuer = '';
    await startOnFreePort(
      services,
      (port) =>
        start('oidc-provider', process.execPath, [join(oidcDir, 'server.mjs'), '--port', String(port), '--data-dir', join(work, 'oidc'), '--redirect-uri', `${origin}/`], logs, {
          env: { OIDC_DEV_PASSWORD_ADMIN: passwords.admin, OIDC_DEV_PASSWORD_ENGINEER: passwords.engineer, OIDC_DEV_PASSWORD_READER: passwords.reader },
        }),
      async (port) => {
        const res = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).catch(() => null);
        if (!res?.ok) return false;
        issuer = ((await res.json()) as { issuer: string }).issuer;
        return true;
      },
    );

    const redis = `127.0.0.1:${valkeyPort}`;
    const backend = start(
      'backend',
      bin,
      [
        'backend', '--id', 'e2e-backend',
        'http', '--bind', '127.0.0.1', '--port', String(backendPort), '--ui-dir', join(repo, 'web/dist'),
        'database', '--url', `postgres://postgres@127.0.0.1:${pgPort}/alp_connex`,
        'redis', '--host', redis,
        'oidc', '--issuer', issuer, '--audience', 'api://alp-connex', '--ui-scope', 'openid profile api://alp-connex/access',
      ],
      logs,
    );
    await waitReady(backend, async () => (await fetch(`${origin}/readyz`).catch(() => null))?.status === 200, 60_000);
    services.push(backend);

    const mqtt = start('mqtt', bin, ['mqtt', '--id', MQTT_ID, 'mqtt', '--host', '127.0.0.1', '--port', String(mosquittoPort), 'redis', '--host', redis], logs);
    services.push(mqtt);
    const sim = start('mqtt-sim', bin, ['mqtt-sim', '--host', '127.0.0.1', '--port', String(mosquittoPort), '--stations', '1', '--rate', '20'], logs);
    services.push(sim);

    process.env.ALP_CONNEX_E2E_URL = origin;
    process.env.ALP_CONNEX_E2E_ISSUER = issuer;
    process.env.ALP_CONNEX_E2E_PASSWORDS = JSON.stringify(passwords);
    process.env.ALP_CONNEX_E2E_MQTT_ID = MQTT_ID;
    process.env.ALP_CONNEX_E2E_SHOTS = join(repo, '.build/e2e/screenshots');
    console.log(`e2e: backend ${origin}, provider ${issuer}, PostgreSQL :${pgPort}, Valkey :${valkeyPort}, Mosquitto :${mosquittoPort}; logs ${logs}`);
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}
