// Starting and stopping the real services of the end-to-end tests, each on a
// free 127.0.0.1 port, with its output in a log file of its own.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

export interface Service {
  name: string;
  child: ChildProcess;
  log: string;
  /** The signal that stops it quickly and cleanly. */
  stopSignal: NodeJS.Signals;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      ok(true);
    });
    c.once('error', () => ok(false));
  });
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `ready` until it holds; fails when the service exits or the deadline passes. */
export async function waitReady(svc: Service, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (svc.child.exitCode !== null || svc.child.signalCode !== null) {
      throw new Error(`${svc.name} exited (${svc.child.exitCode ?? svc.child.signalCode}) during start-up; log ${svc.log}:\n${tail(svc.log)}`);
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${svc.name} was not ready within ${timeoutMs / 1000} s; log ${svc.log}:\n${tail(svc.log)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function start(
  name: string,
  program: string,
  args: string[],
  logDir: string,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stopSignal?: NodeJS.Signals } = {},
): Service {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'w');
  // The binary refuses ALP_CONNEX_* variables that name no setting (the
  // test tooling's own, such as ALP_CONNEX_BIN): none is passed on.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALP_CONNEX_')));
  const child = spawn(program, args, {
    cwd: opts.cwd,
    env: { ...inherited, ...opts.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.on('error', () => {
    /* reported by waitReady through the exit code */
  });
  return { name, child, log, stopSignal: opts.stopSignal ?? 'SIGTERM' };
}

export async function stop(svc: Service, graceMs = 10_000): Promise<void> {
  const { child } = svc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill(svc.stopSignal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function run(program: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(program, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const isRoot = () => process.getuid?.() === 0;

/** The directory of PostgreSQL's server programs (Debian keeps them off PATH). */
export function pgBin(): string {
  const fromEnv = process.env.ALP_CONNEX_PG_BIN;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(a) - Number(b));
  const v = versions.at(-1);
  if (!v) throw new Error('no PostgreSQL server programs under /usr/lib/postgresql/*/bin (apt-get install postgresql)');
  return join(base, v, 'bin');
}

/** PostgreSQL refuses to run as root: as root, its programs run as `postgres`. */
export function asPostgres(program: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [program, args];
  return ['setpriv', ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--', program, ...args]];
}

export function chownToUser(path: string, user: string): void {
  const id = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (id.status === 0 && gid.status === 0) chownSync(path, Number(id.stdout.trim()), Number(gid.stdout.trim()));
}
