// The mapping editor's form: a mapping as rows of text fields, and back.
// Parsing only checks what the form can (numbers are numbers, JSON is JSON,
// addresses in range); the API validates the rest with the connector's own
// code (dry run and save) and names the field.

import type { Json, MappingBody, MappingPoint } from '../api/types';

/** The monitor types the MQTT connector writes (src/mqtt/mapping.rs WRITABLE_TYPES). */
export const WRITABLE_TYPES: [string, number, string][] = [
  ['M_SP_NA_1', 1, 'single point'],
  ['M_DP_NA_1', 3, 'double point'],
  ['M_ST_NA_1', 5, 'step position'],
  ['M_BO_NA_1', 7, 'bitstring of 32 bits'],
  ['M_ME_NA_1', 9, 'normalized value'],
  ['M_ME_NB_1', 11, 'scaled value'],
  ['M_ME_NC_1', 13, 'short floating point'],
  ['M_IT_NA_1', 15, 'integrated totals'],
  ['M_ME_ND_1', 21, 'normalized, no quality'],
  ['M_SP_TB_1', 30, 'single point, time tag'],
  ['M_DP_TB_1', 31, 'double point, time tag'],
  ['M_ST_TB_1', 32, 'step position, time tag'],
  ['M_BO_TB_1', 33, 'bitstring, time tag'],
  ['M_ME_TD_1', 34, 'normalized, time tag'],
  ['M_ME_TE_1', 35, 'scaled, time tag'],
  ['M_ME_TF_1', 36, 'short float, time tag'],
  ['M_IT_TB_1', 37, 'integrated totals, time tag'],
];

export interface PointRow {
  casdu: string;
  ioa: string;
  type: string;
  value: string;
  time: string;
  time_format: string;
  scale: string;
  offset: string;
  deadband_kind: '' | 'absolute' | 'percent';
  deadband: string;
  map: string;
  invert: boolean;
  quality_path: string;
  quality_good: string;
  silence_timeout: string;
}

export interface MatchRow {
  path: string;
  value: string;
}

export interface MappingForm {
  id: string;
  name: string;
  description: string;
  topic: string;
  silence_timeout: string;
  match: MatchRow[];
  points: PointRow[];
}

export function emptyPoint(): PointRow {
  return {
    casdu: '',
    ioa: '',
    type: 'M_ME_NC_1',
    value: '$',
    time: '',
    time_format: '',
    scale: '',
    offset: '',
    deadband_kind: '',
    deadband: '',
    map: '',
    invert: false,
    quality_path: '',
    quality_good: '',
    silence_timeout: '',
  };
}

const text = (v: Json | undefined): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export function formFromMapping(m: Partial<MappingBody>): MappingForm {
  return {
    id: m.id ?? '',
    name: m.name ?? '',
    description: m.description ?? '',
    topic: m.topic ?? '',
    silence_timeout: m.silence_timeout === undefined ? '' : String(m.silence_timeout),
    match: Object.entries(m.match ?? {}).map(([path, value]) => ({ path, value: JSON.stringify(value) })),
    points: (m.points ?? []).map((p) => ({
      casdu: String(p.casdu),
      ioa: String(p.ioa),
      type: String(p.type),
      value: p.value,
      time: p.time ?? '',
      time_format: p.time_format ?? '',
      scale: p.scale === undefined ? '' : String(p.scale),
      offset: p.offset === undefined ? '' : String(p.offset),
      deadband_kind: p.deadband?.absolute !== undefined ? 'absolute' : p.deadband?.percent !== undefined ? 'percent' : '',
      deadband: text(p.deadband?.absolute ?? p.deadband?.percent),
      map: p.map ? JSON.stringify(p.map) : '',
      invert: p.invert === true,
      quality_path: p.quality?.path ?? '',
      quality_good: p.quality ? p.quality.good.map((g) => (typeof g === 'string' ? g : JSON.stringify(g))).join(', ') : '',
      silence_timeout: p.silence_timeout === undefined ? '' : String(p.silence_timeout),
    })),
  };
}

/** Errors keyed like the API's fields: `topic`, `match`, `points[2].ioa`. */
export type FormErrors = Record<string, string>;

function int(s: string, lo: number, hi: number, key: string, errors: FormErrors): number | undefined {
  const t = s.trim();
  if (!/^-?\d+$/.test(t)) {
    errors[key] = 'must be a whole number';
    return undefined;
  }
  const n = Number(t);
  if (n < lo || n > hi) {
    errors[key] = `must be in ${lo}..=${hi}`;
    return undefined;
  }
  return n;
}

function num(s: string, key: string, errors: FormErrors): number | undefined {
  const n = Number(s.trim());
  if (s.trim() === '' || !Number.isFinite(n)) {
    errors[key] = 'must be a number';
    return undefined;
  }
  return n;
}

function jsonValue(s: string): Json {
  try {
    return JSON.parse(s) as Json;
  } catch {
    return s;
  }
}

/** The mapping of a form, and the errors the form can see itself. */
export function mappingFromForm(f: MappingForm): { body: MappingBody; errors: FormErrors } {
  const errors: FormErrors = {};
  const match: Record<string, Json> = {};
  f.match.forEach((r, i) => {
    if (r.path.trim() === '' && r.value.trim() === '') return;
    if (!r.path.trim().startsWith('$')) errors[`match[${i}]`] = 'the path must be a JSONPath starting with $';
    else match[r.path.trim()] = jsonValue(r.value.trim());
  });
  const points: MappingPoint[] = f.points.map((r, i) => {
    const k = (c: string) => `points[${i}].${c}`;
    const p: MappingPoint = {
      casdu: int(r.casdu, 0, 65535, k('casdu'), errors) ?? 0,
      ioa: int(r.ioa, 0, 16777215, k('ioa'), errors) ?? 0,
      type: r.type,
      value: r.value.trim(),
    };
    if (p.value === '') errors[k('value')] = 'must be a JSONPath ($ for the whole payload)';
    if (r.time.trim()) p.time = r.time.trim();
    if (r.time_format) p.time_format = r.time_format as MappingPoint['time_format'];
    if (r.scale.trim()) p.scale = num(r.scale, k('scale'), errors);
    if (r.offset.trim()) p.offset = num(r.offset, k('offset'), errors);
    if (r.deadband_kind && r.deadband.trim()) {
      const d = num(r.deadband, k('deadband'), errors);
      if (d !== undefined) p.deadband = r.deadband_kind === 'absolute' ? { absolute: d } : { percent: d };
    }
    if (r.map.trim()) {
      try {
        const m = JSON.parse(r.map) as Json;
        if (m === null || typeof m !== 'object' || Array.isArray(m)) errors[k('map')] = 'must be a JSON object: {"open": true}';
        else p.map = m;
      } catch {
        errors[k('map')] = 'is not valid JSON: {"open": true, "closed": false}';
      }
    }
    if (r.invert) p.invert = true;
    if (r.quality_path.trim()) {
      p.quality = {
        path: r.quality_path.trim(),
        good: r.quality_good
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((s) => (/^(true|false|null|-?\d+(\.\d+)?)$/.test(s) ? (JSON.parse(s) as Json) : s)),
      };
    }
    if (r.silence_timeout.trim()) p.silence_timeout = int(r.silence_timeout, 0, 31536000, k('silence_timeout'), errors);
    return p;
  });
  const body: MappingBody = { id: f.id.trim(), name: f.name, description: f.description, topic: f.topic.trim(), points };
  if (Object.keys(match).length > 0) body.match = match;
  if (f.silence_timeout.trim()) body.silence_timeout = int(f.silence_timeout, 0, 31536000, 'silence_timeout', errors);
  return { body, errors };
}
