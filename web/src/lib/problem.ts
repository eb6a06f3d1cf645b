// Problem details (RFC 9457) from the API, mapped onto the fields of a form.

import type { Problem } from '../api/types';

/** A path segment of a problem's `field`: a key or an index. */
export type Segment = string | number;

/**
 * Splits the API's field path (`settings.broker.port`, `points[0].ioa`,
 * `match["$.device"]`) into its segments.
 */
export function splitField(field: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  let key = '';
  const flush = () => {
    if (key !== '') out.push(key);
    key = '';
  };
  while (i < field.length) {
    const c = field[i];
    if (c === '.') {
      flush();
      i += 1;
    } else if (c === '[') {
      flush();
      const end = field.indexOf(']', i);
      if (end < 0) {
        key = field.slice(i);
        break;
      }
      const inner = field.slice(i + 1, end);
      if (/^\d+$/.test(inner)) out.push(Number(inner));
      else if (/^".*"$/.test(inner) || /^'.*'$/.test(inner)) out.push(inner.slice(1, -1));
      else out.push(inner);
      i = end + 1;
    } else {
      key += c;
      i += 1;
    }
  }
  flush();
  return out;
}

/** Joins segments back into the dotted form the forms use as keys. */
export function joinField(segments: Segment[]): string {
  return segments
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/**
 * The form field a problem belongs to: its `field` without `prefix`
 * (e.g. `settings.`), shortened to the longest of `keys` it starts with
 * (an error at `settings.common_addresses[2]` belongs to the field
 * `common_addresses`). `null` when the problem names no field, names one
 * outside the prefix, or none of the keys.
 */
export function fieldOfProblem(problem: Problem | null | undefined, keys: string[], prefix = ''): string | null {
  const field = problem?.field;
  if (typeof field !== 'string' || field === '') return null;
  if (prefix !== '' && !field.startsWith(prefix)) return null;
  const rest = field.slice(prefix.length);
  const segments = splitField(rest);
  for (let n = segments.length; n > 0; n -= 1) {
    const candidate = joinField(segments.slice(0, n));
    if (keys.includes(candidate)) return candidate;
  }
  return null;
}

/** The message to show for a problem: its detail, else its title, else the status. */
export function problemMessage(problem: Problem | null | undefined, status?: number): string {
  if (problem?.detail) return problem.detail;
  if (problem?.title) return problem.title;
  return `The request failed (HTTP ${problem?.status ?? status ?? '?'})`;
}

/** A point row's field in the mapping editor from `points[3].ioa`. */
export function pointFieldOfProblem(problem: Problem | null | undefined): { row: number; column: string } | null {
  const field = problem?.field;
  if (typeof field !== 'string') return null;
  const s = splitField(field);
  const [head, row, column] = s;
  if (head !== 'points' || typeof row !== 'number') return null;
  return { row, column: typeof column === 'string' ? column : 'row' };
}

/** The sentence for a 412: someone else saved first. */
export function staleMessage(problem: Problem | null | undefined): string {
  const v = problem?.current_version;
  return (
    'Someone else changed this since you opened it' +
    (typeof v === 'number' ? ` (it is now at version ${v})` : '') +
    '. Your edits are still here: reload to see the current state, then apply them again.'
  );
}
