// The one way the UI talks to the API: the bearer token on every request,
// If-Match on every write, problem+json turned into an ApiError.

import { accessToken, sessionExpired } from '../auth/auth';
import { problemMessage } from '../lib/problem';
import type { Problem } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problemMessage(problem, status));
    this.status = status;
    this.problem = problem;
  }
}

export interface Sent<T> {
  data: T;
  etag: string | null;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  /** The version the change was made from: sent as `If-Match: "<version>"`. */
  version?: number;
  signal?: AbortSignal;
}

export function authHeaders(): Record<string, string> {
  const token = accessToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as unknown;
    if (p && typeof p === 'object') return p as Problem;
  } catch {
    // not JSON
  }
  return { status: res.status, title: res.statusText, detail: text.slice(0, 300) || undefined };
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<Sent<T>> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.version !== undefined) headers['If-Match'] = `"${opts.version}"`;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'The backend cannot be reached', detail: 'The backend cannot be reached: check the connection and try again.' });
  }
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401) sessionExpired();
    throw new ApiError(res.status, problem);
  }
  const etag = res.headers.get('ETag');
  if (res.status === 204) return { data: undefined as T, etag };
  const text = await res.text();
  return { data: (text === '' ? undefined : JSON.parse(text)) as T, etag };
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request<T>(path, { signal })).data;
}

export function isStatus(e: unknown, status: number): e is ApiError {
  return e instanceof ApiError && e.status === status;
}
