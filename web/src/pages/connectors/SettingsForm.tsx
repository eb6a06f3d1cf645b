// A connector's settings as a form generated from its kind's schema: one
// labelled control per setting, the default as the placeholder, the range
// and the documentation under it, the error (ours or the API's) at the field.

import { describeDefault, groupFields, type Field, type FormValues } from '../../lib/formgen';

export function fieldId(key: string): string {
  return `setting-${key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

function hint(f: Field): string {
  const parts: string[] = [];
  // The role's own description names the range; without one, ours.
  if (f.doc) parts.push(f.doc);
  else if (f.min !== undefined || f.max !== undefined) parts.push(`range ${f.min ?? ''}..=${f.max ?? ''}`);
  if (f.default !== undefined && f.default !== null && describeDefault(f.default) !== '' && !/default/i.test(f.doc))
    parts.push(`default ${describeDefault(f.default)}`);
  if (f.type === 'list') parts.push('items separated by commas');
  if (f.type === 'object') parts.push('JSON');
  return parts.join(' · ');
}

function Control({ f, value, onChange, invalid, describedBy }: { f: Field; value: string; onChange: (v: string) => void; invalid: boolean; describedBy: string }) {
  const common = { id: fieldId(f.key), 'aria-invalid': invalid, 'aria-describedby': describedBy } as const;
  if (f.type === 'boolean' || f.type === 'enum') {
    const options = f.type === 'boolean' ? ['true', 'false'] : (f.values ?? []).map(describeDefault);
    return (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">default{f.placeholder ? ` (${f.placeholder})` : ''}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  }
  if (f.type === 'object') {
    return <textarea {...common} rows={4} value={value} placeholder={f.placeholder} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <input
      {...common}
      type="text"
      inputMode={f.type === 'integer' ? 'numeric' : f.type === 'number' ? 'decimal' : undefined}
      value={value}
      placeholder={f.placeholder}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}

export function SettingsForm({
  fields,
  values,
  errors,
  onChange,
}: {
  fields: Field[];
  values: FormValues;
  errors: Record<string, string>;
  onChange: (key: string, value: string) => void;
}) {
  if (fields.length === 0) return <p className="muted">This kind has no managed settings.</p>;
  return (
    <>
      {groupFields(fields).map((g, i) => (
        <fieldset key={`${g.group}-${i}`} className="settings-group">
          <legend>{g.group === '' ? 'General' : g.group}</legend>
          {g.fields.map((f) => {
            const err = errors[f.key];
            const hintId = `${fieldId(f.key)}-hint`;
            const errId = `${fieldId(f.key)}-error`;
            return (
              <div key={f.key} className={err ? 'field field-invalid' : 'field'}>
                <label htmlFor={fieldId(f.key)}>{f.label}</label>
                <Control f={f} value={values[f.key] ?? ''} onChange={(v) => onChange(f.key, v)} invalid={!!err} describedBy={err ? `${errId} ${hintId}` : hintId} />
                {err && (
                  <div className="field-error" id={errId} role="alert">
                    {err}
                  </div>
                )}
                <div className="hint" id={hintId}>
                  {hint(f)}
                </div>
              </div>
            );
          })}
        </fieldset>
      ))}
    </>
  );
}

/** The settings read-only, for a reader. */
export function SettingsView({ fields, values }: { fields: Field[]; values: FormValues }) {
  return (
    <dl className="settings-view">
      {fields.map((f) => (
        <div key={f.key}>
          <dt>{f.key}</dt>
          <dd>{values[f.key] ? <code>{values[f.key]}</code> : <span className="muted">default{f.placeholder ? ` (${f.placeholder})` : ''}</span>}</dd>
        </div>
      ))}
    </dl>
  );
}
