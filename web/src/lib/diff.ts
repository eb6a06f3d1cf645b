// Configuration diffs: the API's RFC 6902 operations as rows a person reads,
// and the same operations computed between two JSON values (the audit log's
// before and after).

import type { Json, PatchOp } from '../api/types';

export interface DiffRow {
  op: 'add' | 'remove' | 'replace';
  /** The JSON pointer as the API gave it. */
  pointer: string;
  /** The pointer as a dotted path: `broker.port`, `mappings[0].topic`. */
  path: string;
  before: Json | undefined;
  after: Json | undefined;
}

/** The segments of a JSON pointer (RFC 6901), `~1` and `~0` unescaped. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function escapeSegment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Dotted form of a pointer, numeric segments as indexes. */
export function pointerToPath(pointer: string): string {
  const segs = pointerSegments(pointer);
  if (segs.length === 0) return '(whole)';
  return segs
    .map((s, i) => (/^(0|[1-9]\d*)$/.test(s) ? `[${s}]` : /^[A-Za-z_][\w-]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`))
    .join('');
}

export function resolvePointer(doc: Json | undefined, pointer: string): Json | undefined {
  let cur: Json | undefined = doc;
  for (const s of pointerSegments(pointer)) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(s)) return undefined;
      cur = cur[Number(s)];
    } else {
      cur = Object.prototype.hasOwnProperty.call(cur, s) ? cur[s] : undefined;
    }
  }
  return cur;
}

/**
 * Rows for the operations that turn `previous` into the next version: the
 * value before comes from `previous` (a `remove` carries none of its own).
 */
export function diffRows(ops: PatchOp[], previous: Json | undefined): DiffRow[] {
  return ops.map((op) => ({
    op: op.op,
    pointer: op.path,
    path: pointerToPath(op.path),
    before: op.op === 'add' ? undefined : resolvePointer(previous, op.path),
    after: op.op === 'remove' ? undefined : op.value,
  }));
}

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * RFC 6902 operations from `a` to `b`: objects key by key (keys of `a` in
 * their order, then the new keys of `b`), arrays element by element with the
 * extra elements added or removed at the end (removed from the last), any
 * other change a `replace`.
 */
export function jsonDiff(a: Json | undefined, b: Json | undefined, base = ''): PatchOp[] {
  if (jsonEqual(a, b)) return [];
  if (a === undefined) return b === undefined ? [] : [{ op: 'add', path: base, value: b }];
  if (b === undefined) return [{ op: 'remove', path: base }];
  if (isObject(a) && isObject(b)) {
    const ops: PatchOp[] = [];
    for (const k of Object.keys(a)) {
      const p = `${base}/${escapeSegment(k)}`;
      if (!Object.prototype.hasOwnProperty.call(b, k)) ops.push({ op: 'remove', path: p });
      else ops.push(...jsonDiff(a[k], b[k], p));
    }
    for (const k of Object.keys(b)) {
      if (!Object.prototype.hasOwnProperty.call(a, k)) ops.push({ op: 'add', path: `${base}/${escapeSegment(k)}`, value: b[k] as Json });
    }
    return ops;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const ops: PatchOp[] = [];
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i += 1) ops.push(...jsonDiff(a[i], b[i], `${base}/${i}`));
    for (let i = common; i < b.length; i += 1) ops.push({ op: 'add', path: `${base}/${i}`, value: b[i] as Json });
    for (let i = a.length - 1; i >= common; i -= 1) ops.push({ op: 'remove', path: `${base}/${i}` });
    return ops;
  }
  return [{ op: 'replace', path: base, value: b }];
}

/** A short text of a value for a diff cell. */
export function showValue(v: Json | undefined): string {
  if (v === undefined) return '';
  return JSON.stringify(v);
}
