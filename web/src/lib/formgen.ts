// Forms generated from a connector kind's settings (GET /api/v1/kinds).
//
// Every field starts empty, meaning "not set: the default applies" (the
// default is shown as the placeholder). Only the fields given a value go into
// `settings`, nested by the dotted key (`broker.host` → {"broker":{"host":…}}).
// Keys of the connector's settings that the schema does not know are kept as
// they were.

import type { Json, JsonObject, SettingSchema, SettingType } from '../api/types';

export interface Field {
  key: string;
  path: string[];
  type: SettingType;
  label: string;
  default: Json | undefined;
  min?: number;
  max?: number;
  values?: Json[];
  doc: string;
  /** The text shown when the field is empty. */
  placeholder: string;
  /** The section (first part of a dotted key), '' for top-level keys. */
  group: string;
}

/** A form's values, one string per field ('' = not set). */
export type FormValues = Record<string, string>;

export function describeDefault(value: Json | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  return JSON.stringify(value);
}

export function fieldsOf(settings: SettingSchema[]): Field[] {
  return settings.map((s) => {
    const path = s.key.split('.');
    const values = s.values ?? undefined;
    return {
      key: s.key,
      path,
      // A string with a few allowed values (log_level) is a choice.
      type: s.type === 'string' && values && values.length > 0 ? 'enum' : s.type,
      label: s.key,
      default: s.default,
      min: s.min ?? undefined,
      max: s.max ?? undefined,
      values,
      doc: s.doc ?? '',
      placeholder: describeDefault(s.default),
      group: path.length > 1 ? (path[0] ?? '') : '',
    };
  });
}

export function getPath(obj: Json | undefined, path: (string | number)[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const p of path) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? (typeof p === 'number' ? cur[p] : undefined) : (cur as JsonObject)[String(p)];
  }
  return cur;
}

function setPath(obj: JsonObject, path: string[], value: Json): void {
  let cur = obj;
  path.forEach((p, i) => {
    if (i === path.length - 1) {
      cur[p] = value;
      return;
    }
    const next = cur[p];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      const fresh: JsonObject = {};
      cur[p] = fresh;
      cur = fresh;
    } else {
      cur = next;
    }
  });
}

function deletePath(obj: JsonObject, path: string[]): void {
  const parents: JsonObject[] = [obj];
  let cur: JsonObject = obj;
  for (const p of path.slice(0, -1)) {
    const next = cur[p];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) return;
    cur = next;
    parents.push(cur);
  }
  const last = path[path.length - 1];
  if (last !== undefined) delete cur[last];
  // Remove the sections left empty.
  for (let i = path.length - 2; i >= 0; i -= 1) {
    const parent = parents[i];
    const key = path[i];
    const child = parents[i + 1];
    if (parent && key !== undefined && child && Object.keys(child).length === 0) delete parent[key];
  }
}

/** The text of a value in its input. */
export function formatValue(field: Field, value: Json | undefined): string {
  if (value === undefined || value === null) return '';
  switch (field.type) {
    case 'boolean':
      return value === true ? 'true' : value === false ? 'false' : '';
    case 'list':
      return Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ') : JSON.stringify(value);
    case 'object':
      return JSON.stringify(value, null, 2);
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

export function valuesFromSettings(fields: Field[], settings: JsonObject): FormValues {
  const out: FormValues = {};
  for (const f of fields) out[f.key] = formatValue(f, getPath(settings, f.path));
  return out;
}

function range(field: Field): string {
  const lo = field.min ?? '';
  const hi = field.max ?? '';
  return `${lo}..=${hi}`;
}

function parseListItem(text: string, numeric: boolean): Json {
  if (numeric && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}

/** Parses one field's text; returns the value or an error sentence. */
export function parseField(field: Field, text: string): { value: Json } | { error: string } {
  const t = text.trim();
  switch (field.type) {
    case 'integer': {
      if (!/^-?\d+$/.test(t)) return { error: 'must be a whole number' };
      const n = Number(t);
      if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max))
        return { error: `must be in ${range(field)}` };
      return { value: n };
    }
    case 'number': {
      const n = Number(t);
      if (t === '' || !Number.isFinite(n)) return { error: 'must be a number' };
      if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max))
        return { error: `must be in ${range(field)}` };
      return { value: n };
    }
    case 'boolean':
      if (t === 'true') return { value: true };
      if (t === 'false') return { value: false };
      return { error: 'must be true or false' };
    case 'enum': {
      const found = (field.values ?? []).find((v) => describeDefault(v) === t);
      if (found === undefined) return { error: `must be one of ${(field.values ?? []).map(describeDefault).join(', ')}` };
      return { value: found };
    }
    case 'list': {
      if (t.startsWith('[')) {
        try {
          const v = JSON.parse(t) as Json;
          if (!Array.isArray(v)) return { error: 'must be a list' };
          return { value: v };
        } catch {
          return { error: 'is not a valid JSON list' };
        }
      }
      const items = t.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '');
      const d = field.default;
      const numeric = Array.isArray(d) && d.length > 0 ? typeof d[0] === 'number' : items.every((s) => /^-?\d+(\.\d+)?$/.test(s));
      const value = items.map((s) => parseListItem(s, numeric));
      if (field.min !== undefined && value.some((v) => typeof v === 'number' && v < (field.min as number)))
        return { error: `every item must be in ${range(field)}` };
      if (field.max !== undefined && value.some((v) => typeof v === 'number' && v > (field.max as number)))
        return { error: `every item must be in ${range(field)}` };
      return { value };
    }
    case 'object': {
      try {
        const v = JSON.parse(t) as Json;
        if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'must be a JSON object' };
        return { value: v };
      } catch {
        return { error: 'is not valid JSON' };
      }
    }
    default:
      return { value: text };
  }
}

/**
 * The settings object of a form: the original settings with every field of
 * the schema replaced by the form's value (or removed when empty), and the
 * fields that could not be parsed, each with its sentence.
 */
export function settingsFromValues(
  fields: Field[],
  values: FormValues,
  original: JsonObject = {},
): { settings: JsonObject; errors: Record<string, string> } {
  const settings = structuredClone(original) as JsonObject;
  const errors: Record<string, string> = {};
  for (const f of fields) {
    deletePath(settings, f.path);
  }
  for (const f of fields) {
    const text = values[f.key] ?? '';
    if (text.trim() === '' && f.type !== 'string') continue;
    if (text === '') continue;
    const parsed = parseField(f, text);
    if ('error' in parsed) errors[f.key] = parsed.error;
    else setPath(settings, f.path, parsed.value);
  }
  return { settings, errors };
}

/** The fields grouped by section, in the schema's order. */
export function groupFields(fields: Field[]): { group: string; fields: Field[] }[] {
  const out: { group: string; fields: Field[] }[] = [];
  for (const f of fields) {
    const last = out.find((g) => g.group === f.group);
    if (last) last.fields.push(f);
    else out.push({ group: f.group, fields: [f] });
  }
  return out;
}
