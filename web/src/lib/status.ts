// A connector's live status reduced to a tone for colours and ordering.

import type { StatusEntry } from '../api/types';

/** ok: running as it should; warn: working on it or complaining; down: not running; off: disabled. */
export type Tone = 'ok' | 'warn' | 'down' | 'off';

export function toneOf(entry: Pick<StatusEntry, 'enabled' | 'status'>): Tone {
  if (entry.enabled === false) return 'off';
  const s = entry.status;
  if (!s) return 'down';
  if (s.state === 'stopped') return 'down';
  if (s.config_error) return 'warn';
  if (s.state === 'connected' || s.state === 'listening') return 'ok';
  return 'warn';
}

const RANK: Record<Tone, number> = { down: 0, warn: 1, ok: 2, off: 3 };

/** Problems first (down, then warn), then the running ones, disabled last; by id within. */
export function problemsFirst<T extends StatusEntry>(entries: T[]): T[] {
  return [...entries].sort((a, b) => RANK[toneOf(a)] - RANK[toneOf(b)] || a.id.localeCompare(b.id));
}

export function stateLabel(entry: Pick<StatusEntry, 'enabled' | 'status'>): string {
  if (entry.enabled === false) return 'disabled';
  return entry.status?.state ?? 'no status';
}

/** "3 s", "5 min", "2 h", "4 d" since `iso`, at `now`. */
export function age(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}
