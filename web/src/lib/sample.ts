// A sample payload for a mapping's dry run, made from its JSONPaths: every
// simple path (`$.a.b`, `$.list[0]`, `$['key']`) gets a value of the kind
// its point expects, and the `match` paths their required value.

import type { Json, JsonObject, MappingBody } from '../api/types';

type Seg = string | number;

/** The segments of a simple JSONPath, or null for anything else (filters, wildcards). */
export function simplePath(path: string): Seg[] | null {
  if (!path.startsWith('$')) return null;
  const out: Seg[] = [];
  const re = /\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y;
  let i = 1;
  while (i < path.length) {
    re.lastIndex = i;
    const m = re.exec(path);
    if (!m) return null;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push((m[3] ?? m[4]) as string);
    i = re.lastIndex;
  }
  return out;
}

function put(root: { v: Json }, segs: Seg[], value: Json): void {
  if (segs.length === 0) {
    root.v = value;
    return;
  }
  if (root.v === null || typeof root.v !== 'object') root.v = typeof segs[0] === 'number' ? [] : {};
  let cur = root.v as JsonObject | Json[];
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    const nextIsIndex = typeof segs[i + 1] === 'number';
    const container = cur as unknown as Record<string | number, Json>;
    if (last) {
      if (container[s] === undefined) container[s] = value;
      return;
    }
    const next = container[s];
    if (next === null || next === undefined || typeof next !== 'object') container[s] = nextIsIndex ? [] : {};
    cur = container[s] as JsonObject | Json[];
  });
}

function exampleValue(type: string | number): Json {
  const t = String(type);
  if (/^M_SP|^(1|2|30)$/.test(t)) return true;
  if (/^M_DP|^(3|4|31)$/.test(t)) return 2;
  if (/^M_ME_NA|^M_ME_TD|^M_ME_ND|^(9|10|21|34)$/.test(t)) return 0.5;
  if (/^M_ME_NB|^M_ME_TB|^M_ME_TE|^(11|12|35)$/.test(t)) return 100;
  if (/^M_ST|^M_BO|^M_IT/.test(t)) return 1;
  return 21.5;
}

export function samplePayload(mapping: Pick<MappingBody, 'points' | 'match'>): Json {
  const root: { v: Json } = { v: {} };
  for (const [path, value] of Object.entries(mapping.match ?? {})) {
    const segs = simplePath(path);
    if (segs) put(root, segs, value);
  }
  for (const p of mapping.points ?? []) {
    const segs = simplePath(p.value);
    if (segs) {
      const words = p.map ? Object.keys(p.map) : [];
      put(root, segs, words.length > 0 ? (words[0] as string) : exampleValue(p.type));
    }
    if (p.time) {
      const t = simplePath(p.time);
      const now = Date.now();
      if (t) put(root, t, p.time_format === 'unix_ms' ? now : p.time_format === 'unix_s' ? now / 1000 : new Date(now).toISOString());
    }
    if (p.quality) {
      const q = simplePath(p.quality.path);
      if (q && p.quality.good.length > 0) put(root, q, p.quality.good[0] as Json);
    }
  }
  return root.v;
}

/** A topic matching a filter (`+` → `a`, `#` → `a`), for the sample. */
export function sampleTopic(filter: string): string {
  const plain = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
  return plain
    .split('/')
    .map((l) => (l === '+' || l === '#' ? 'sample' : l))
    .join('/');
}
