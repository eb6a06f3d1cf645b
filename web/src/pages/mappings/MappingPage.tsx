// The mapping editor: topic, match, the points table and the dry run that
// shows exactly the data points (or errors) a sample message produces,
// before anything is saved.

import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ApiError } from '../../api/client';
import { useCreateMapping, useDeleteMapping, useDryRun, useMapping, useUpdateMapping } from '../../api/hooks';
import type { DryRunResult, Json, Mapping } from '../../api/types';
import { useAccess } from '../../auth/role';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { PageHeader } from '../../components/Layout';
import { WriteError } from '../../components/Problem';
import { QualityBadges } from '../../components/Quality';
import { Empty, ErrorState, Loading } from '../../components/States';
import { emptyPoint, formFromMapping, mappingFromForm, WRITABLE_TYPES, type FormErrors, type MappingForm, type PointRow } from '../../lib/mappingform';
import { problemMessage } from '../../lib/problem';
import { samplePayload, sampleTopic } from '../../lib/sample';

/** The error at a field or inside it (`points[0].deadband` holds `points[0].deadband.absolute`). */
function errAt(errors: FormErrors, key: string): string | undefined {
  if (errors[key]) return errors[key];
  const inner = Object.keys(errors).find((k) => k.startsWith(`${key}.`) || k.startsWith(`${key}[`));
  return inner ? errors[inner] : undefined;
}

/** The API's field error of a failed write or dry run, keyed like the form's own. */
function apiErrors(error: unknown, prefix = ''): FormErrors {
  if (!(error instanceof ApiError) || error.status !== 422) return {};
  let field = error.problem.field;
  if (typeof field !== 'string' || field === '') return {};
  if (prefix && field.startsWith(prefix)) field = field.slice(prefix.length);
  return { [field]: problemMessage(error.problem, 422) };
}

export default function MappingPage({ mode }: { mode: 'new' | 'edit' }) {
  const { id = '' } = useParams();
  if (mode === 'new') return <MappingEditor mapping={null} />;
  return <ExistingMapping id={id} />;
}

function ExistingMapping({ id }: { id: string }) {
  const q = useMapping(id);
  if (q.isPending) return <Loading what="the mapping" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <div className="page">
        <PageHeader title="Mapping not found" />
        <Empty>
          There is no mapping <code>{id}</code>. <Link to="/mappings">All mappings</Link>
        </Empty>
      </div>
    );
  if (q.error || !q.data) return <ErrorState error={q.error} what="the mapping" retry={() => void q.refetch()} />;
  return <MappingEditor key={q.data.id} mapping={q.data} />;
}

const TIME_FORMATS = ['', 'rfc3339', 'unix_s', 'unix_ms'];

function Cell({ label, error, children }: { label: string; error?: string; children: (p: { 'aria-label': string; 'aria-invalid': boolean; title?: string }) => React.ReactNode }) {
  return (
    <td className={error ? 'cell-invalid' : undefined}>
      {children({ 'aria-label': label, 'aria-invalid': !!error, title: error })}
      {error && (
        <div className="field-error" role="alert">
          {error}
        </div>
      )}
    </td>
  );
}

function PointsTable({ rows, set, errors, readOnly }: { rows: PointRow[]; set: (rows: PointRow[]) => void; errors: FormErrors; readOnly: boolean }) {
  const upd = (i: number, patch: Partial<PointRow>) => set(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const txt = (i: number, col: keyof PointRow, label: string, width = 'w-s') => (
    <Cell label={`Point ${i + 1} ${label}`} error={errAt(errors, `points[${i}].${col}`)}>
      {(a) => <input {...a} className={width} type="text" value={rows[i]![col] as string} onChange={(e) => upd(i, { [col]: e.target.value })} readOnly={readOnly} />}
    </Cell>
  );
  return (
    <div className="table-wrap">
      <table className="table points-editor">
        <caption>Points: one row per data point written from each message</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">CASDU</th>
            <th scope="col">IOA</th>
            <th scope="col">Type</th>
            <th scope="col">Value (JSONPath)</th>
            <th scope="col">Scale</th>
            <th scope="col">Offset</th>
            <th scope="col">Deadband</th>
            <th scope="col">Map (JSON)</th>
            <th scope="col">Invert</th>
            <th scope="col">Quality path</th>
            <th scope="col">Good values</th>
            <th scope="col">Time path</th>
            <th scope="col">Time format</th>
            <th scope="col">Silence (s)</th>
            {!readOnly && <th scope="col"><span className="sr-only">Remove</span></th>}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i} className={errors[`points[${i}]`] ? 'row-invalid' : undefined}>
              <th scope="row">{i + 1}{errors[`points[${i}]`] && <div className="field-error" role="alert">{errors[`points[${i}]`]}</div>}</th>
              {txt(i, 'casdu', 'CASDU', 'w-xs')}
              {txt(i, 'ioa', 'IOA', 'w-s')}
              <Cell label={`Point ${i + 1} type`} error={errAt(errors, `points[${i}].type`)}>
                {(a) => (
                  <select {...a} value={r.type} onChange={(e) => upd(i, { type: e.target.value })} disabled={readOnly}>
                    {!WRITABLE_TYPES.some(([m, n]) => m === r.type || String(n) === r.type) && <option value={r.type}>{r.type}</option>}
                    {WRITABLE_TYPES.map(([m, n, d]) => (
                      <option key={m} value={m}>
                        {m} ({n}) {d}
                      </option>
                    ))}
                  </select>
                )}
              </Cell>
              {txt(i, 'value', 'value path', 'w-m')}
              {txt(i, 'scale', 'scale', 'w-xs')}
              {txt(i, 'offset', 'offset', 'w-xs')}
              <Cell label={`Point ${i + 1} deadband`} error={errAt(errors, `points[${i}].deadband`)}>
                {(a) => (
                  <span className="inline">
                    <select aria-label={`Point ${i + 1} deadband kind`} value={r.deadband_kind} onChange={(e) => upd(i, { deadband_kind: e.target.value as PointRow['deadband_kind'] })} disabled={readOnly}>
                      <option value="">none</option>
                      <option value="absolute">absolute</option>
                      <option value="percent">percent</option>
                    </select>
                    {r.deadband_kind && <input {...a} className="w-xs" type="text" value={r.deadband} onChange={(e) => upd(i, { deadband: e.target.value })} readOnly={readOnly} />}
                  </span>
                )}
              </Cell>
              {txt(i, 'map', 'map', 'w-m')}
              <Cell label={`Point ${i + 1} invert`} error={errAt(errors, `points[${i}].invert`)}>
                {(a) => <input {...a} type="checkbox" checked={r.invert} onChange={(e) => upd(i, { invert: e.target.checked })} disabled={readOnly} />}
              </Cell>
              {txt(i, 'quality_path', 'quality path', 'w-s')}
              {txt(i, 'quality_good', 'good quality values', 'w-s')}
              {txt(i, 'time', 'time path', 'w-s')}
              <Cell label={`Point ${i + 1} time format`} error={errAt(errors, `points[${i}].time_format`)}>
                {(a) => (
                  <select {...a} value={r.time_format} onChange={(e) => upd(i, { time_format: e.target.value })} disabled={readOnly}>
                    {TIME_FORMATS.map((t) => (
                      <option key={t} value={t}>
                        {t || 'default'}
                      </option>
                    ))}
                  </select>
                )}
              </Cell>
              {txt(i, 'silence_timeout', 'silence timeout', 'w-xs')}
              {!readOnly && (
                <td>
                  <button type="button" className="btn btn-small" aria-label={`Remove point ${i + 1}`} onClick={() => set(rows.filter((_, j) => j !== i))}>
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DryRun({ form }: { form: MappingForm }) {
  const dry = useDryRun();
  const [topic, setTopic] = useState(() => sampleTopic(form.topic));
  const [payload, setPayload] = useState('');
  const [parseError, setParseError] = useState<string | null>(null);
  const makeSample = () => {
    const { body } = mappingFromForm(form);
    setTopic(sampleTopic(form.topic));
    setPayload(JSON.stringify(samplePayload(body), null, 2));
  };
  const run = (e: React.FormEvent) => {
    e.preventDefault();
    setParseError(null);
    let value: Json = payload;
    try {
      value = JSON.parse(payload) as Json;
    } catch {
      // Not JSON: sent as the string it is (the connector reports a bad payload).
    }
    const { body } = mappingFromForm(form);
    dry.mutate({ mapping: body, sample: { topic, payload: value } });
  };
  const fieldErr = apiErrors(dry.error, 'mapping.');
  return (
    <section className="card" aria-labelledby="dry-h">
      <h2 id="dry-h">Dry run</h2>
      <p className="muted">Paste a message (or make one from the mapping) and see the data points it would produce. Nothing is saved or written.</p>
      <form onSubmit={run} aria-label="Dry run">
        <div className="field">
          <label htmlFor="dry-topic">Sample topic</label>
          <input id="dry-topic" type="text" value={topic} onChange={(e) => setTopic(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="dry-payload">Sample payload</label>
          <textarea id="dry-payload" rows={6} className="mono" value={payload} onChange={(e) => setPayload(e.target.value)} placeholder='{"temperature": 21.5}' />
        </div>
        {parseError && <p className="error-text">{parseError}</p>}
        <div className="actions">
          <button type="button" className="btn" onClick={makeSample}>
            Make a sample from the mapping
          </button>
          <button type="submit" className="btn btn-primary" disabled={dry.isPending}>
            {dry.isPending ? 'Running…' : 'Run the dry run'}
          </button>
        </div>
      </form>
      {dry.error != null && (
        <div className="banner banner-error" role="alert">
          <strong>The mapping cannot be used.</strong> {Object.keys(fieldErr)[0] && <code>{Object.keys(fieldErr)[0]}</code>} {dry.error instanceof Error ? dry.error.message : String(dry.error)}
        </div>
      )}
      {dry.data && <DryRunResultView r={dry.data} />}
    </section>
  );
}

function DryRunResultView({ r }: { r: DryRunResult }) {
  return (
    <div aria-live="polite" className="dry-result">
      {r.topic_matched === false ? (
        <p className="banner banner-warn">The sample's topic does not match the mapping's topic filter: the mapping would not see this message.</p>
      ) : !r.matched ? (
        <p className="banner banner-warn">The message is filtered out by the mapping's match: it would write nothing.</p>
      ) : (
        <p>
          {r.points.length} data point{r.points.length === 1 ? '' : 's'}
          {r.errors.length > 0 ? `, ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}` : ''}:
        </p>
      )}
      {r.points.length > 0 && (
        <table className="table">
          <caption>Data points the message produces</caption>
          <thead>
            <tr>
              <th scope="col">CASDU</th>
              <th scope="col">IOA</th>
              <th scope="col">Type</th>
              <th scope="col">Value</th>
              <th scope="col">Quality</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {r.points.map((p) => (
              <tr key={`${p.casdu}/${p.ioa}`}>
                <td>{p.casdu}</td>
                <td>{p.ioa}</td>
                <td>{p.type}</td>
                <td><code>{JSON.stringify(p.value)}</code></td>
                <td><QualityBadges q={p.quality} /></td>
                <td>{p.time ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.errors.length > 0 && (
        <ul className="error-list" aria-label="Errors of the dry run">
          {r.errors.map((e, i) => (
            <li key={i} className="error-text">
              CASDU {e.casdu}, IOA {e.ioa}{e.kind ? ` (${e.kind.replace(/_/g, ' ')})` : ''}: {e.error}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function MappingEditor({ mapping }: { mapping: Mapping | null }) {
  const isNew = mapping === null;
  const { canEdit } = useAccess();
  const navigate = useNavigate();
  const [form, setForm] = useState<MappingForm>(() => (mapping ? formFromMapping(mapping) : { ...formFromMapping({}), points: [emptyPoint()] }));
  const [base, setBase] = useState<Mapping | null>(mapping);
  const [localErrors, setLocalErrors] = useState<FormErrors>({});
  const [saved, setSaved] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const create = useCreateMapping();
  const update = useUpdateMapping(mapping?.id ?? '');
  const del = useDeleteMapping(mapping?.id ?? '');
  const writeError = isNew ? create.error : update.error;
  const errors = { ...apiErrors(writeError), ...localErrors };
  const readOnly = !canEdit;

  const set = (patch: Partial<MappingForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setSaved(null);
  };

  const save = (e: React.FormEvent) => {
    e.preventDefault();
    const { body, errors: errs } = mappingFromForm(form);
    if (isNew && !/^[A-Za-z0-9_.:-]{1,64}$/.test(body.id)) errs.id = 'must be 1..64 of A-Z a-z 0-9 _ . : -';
    if (body.topic === '') errs.topic = 'must not be empty';
    if (body.points.length === 0) errs.points = 'add at least one point';
    setLocalErrors(errs);
    if (Object.keys(errs).length > 0) return;
    if (isNew) create.mutate(body, { onSuccess: (m) => navigate(`/mappings/${encodeURIComponent(m.id)}`, { replace: true }) });
    else if (base)
      update.mutate(
        { body, version: base.version },
        {
          onSuccess: (m) => {
            setBase(m);
            setSaved(m.version === base.version ? 'Nothing changed.' : `Saved as version ${m.version}.`);
          },
        },
      );
  };

  const topField = (key: 'id' | 'name' | 'description' | 'topic' | 'silence_timeout', label: string, hint?: string) => (
    <div className={errors[key] ? 'field field-invalid' : 'field'}>
      <label htmlFor={`mapping-${key}`}>{label}</label>
      <input
        id={`mapping-${key}`}
        type="text"
        value={form[key]}
        onChange={(e) => set({ [key]: e.target.value })}
        readOnly={readOnly || (key === 'id' && !isNew)}
        aria-invalid={!!errors[key]}
        aria-describedby={errors[key] ? `mapping-${key}-error` : undefined}
      />
      {errors[key] && (
        <div className="field-error" id={`mapping-${key}-error`} role="alert">
          {errors[key]}
        </div>
      )}
      {hint && <div className="hint">{hint}</div>}
    </div>
  );

  const unmappedError = Object.keys(apiErrors(writeError)).length === 0 ? writeError : null;
  return (
    <div className="page">
      <PageHeader title={isNew ? 'New mapping' : (base?.name || base?.id || '')}>
        {!isNew && canEdit && (
          <button type="button" className="btn btn-danger" onClick={() => setConfirmDelete(true)}>
            Delete
          </button>
        )}
      </PageHeader>
      {saved && (
        <div className="banner banner-ok" role="status">
          {saved}
        </div>
      )}
      <WriteError error={unmappedError} />
      <form onSubmit={save} noValidate aria-label="Mapping">
        <fieldset className="settings-group">
          <legend>Mapping</legend>
          {topField('id', 'ID', 'shown in the connector\'s logs and status: 1..64 of A-Z a-z 0-9 _ . : -')}
          {topField('name', 'Name')}
          {topField('description', 'Description')}
          {topField('topic', 'Topic filter', 'an MQTT topic filter; + and # wildcards, $share/GROUP/… allowed')}
          {topField('silence_timeout', 'Silence timeout (s)', 'a point not refreshed for that long is marked not topical; 0 = off; empty = the connector\'s')}
        </fieldset>
        <fieldset className="settings-group">
          <legend>Match (optional): only messages where every path selects exactly that value</legend>
          {form.match.map((m, i) => (
            <div key={i} className={errAt(errors, `match[${i}]`) || errAt(errors, 'match') ? 'field-row field-invalid' : 'field-row'}>
              <input aria-label={`Match ${i + 1} JSONPath`} type="text" value={m.path} placeholder="$.device" onChange={(e) => set({ match: form.match.map((x, j) => (j === i ? { ...x, path: e.target.value } : x)) })} readOnly={readOnly} />
              <input aria-label={`Match ${i + 1} value`} type="text" value={m.value} placeholder='"ts-1"' onChange={(e) => set({ match: form.match.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)) })} readOnly={readOnly} />
              {!readOnly && (
                <button type="button" className="btn btn-small" aria-label={`Remove match ${i + 1}`} onClick={() => set({ match: form.match.filter((_, j) => j !== i) })}>
                  Remove
                </button>
              )}
              {errAt(errors, `match[${i}]`) && <div className="field-error" role="alert">{errAt(errors, `match[${i}]`)}</div>}
            </div>
          ))}
          {errAt(errors, 'match') && !form.match.some((_, i) => errAt(errors, `match[${i}]`)) && <div className="field-error" role="alert">{errAt(errors, 'match')}</div>}
          {!readOnly && (
            <button type="button" className="btn btn-small" onClick={() => set({ match: [...form.match, { path: '', value: '' }] })}>
              Add a match
            </button>
          )}
        </fieldset>
        <PointsTable rows={form.points} set={(points) => set({ points })} errors={errors} readOnly={readOnly} />
        {errors.points && <p className="field-error" role="alert">{errors.points}</p>}
        {!readOnly && (
          <div className="actions">
            <button type="button" className="btn" onClick={() => set({ points: [...form.points, { ...emptyPoint(), casdu: form.points.at(-1)?.casdu ?? '', ioa: form.points.length ? String((Number(form.points.at(-1)?.ioa) || 0) + 1) : '' }] })}>
              Add a point
            </button>
            <button type="submit" className="btn btn-primary" disabled={create.isPending || update.isPending}>
              {isNew ? 'Create mapping' : 'Save'}
            </button>
            <Link className="btn" to="/mappings">
              {isNew ? 'Cancel' : 'Back to the list'}
            </Link>
          </div>
        )}
        {Object.keys(errors).length > 0 && (
          <p className="error-text" role="alert">
            Not saved: check the marked fields.
          </p>
        )}
      </form>
      {canEdit && <DryRun form={form} />}
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${base?.id ?? ''}?`}
        confirmLabel="Delete mapping"
        danger
        busy={del.isPending}
        onCancel={() => setConfirmDelete(false)}
        onConfirm={() => base && del.mutate(base.version, { onSuccess: () => navigate('/mappings', { replace: true }), onSettled: () => setConfirmDelete(false) })}
      >
        <p>The mapping is deleted. A mapping still linked to a connector cannot be: unlink it first.</p>
      </ConfirmDialog>
      <WriteError error={del.error} />
    </div>
  );
}
