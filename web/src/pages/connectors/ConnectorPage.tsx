// One connector: create, or edit with its live status, its effective pushed
// configuration and its versions (diff and restore).

import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ApiError } from '../../api/client';
import {
  useConnector,
  useCreateConnector,
  useDeleteConnector,
  useEffectiveConfig,
  useKinds,
  useLinks,
  useRestoreVersion,
  useStatus,
  useUpdateConnector,
  useVersion,
  useVersions,
} from '../../api/hooks';
import type { Connector, Kind, KindSchema } from '../../api/types';
import { useAccess } from '../../auth/role';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { DiffTable, JsonBlock } from '../../components/DiffTable';
import { PageHeader } from '../../components/Layout';
import { WriteError } from '../../components/Problem';
import { StatusBadge } from '../../components/StatusBadge';
import { Empty, ErrorState, Loading, Query } from '../../components/States';
import { diffRows } from '../../lib/diff';
import { fieldsOf, settingsFromValues, valuesFromSettings, type FormValues } from '../../lib/formgen';
import { fieldOfProblem } from '../../lib/problem';
import { SettingsForm, SettingsView } from './SettingsForm';

const ID_RULE = /^[A-Za-z0-9_.:-]{1,64}$/;

interface Meta {
  id: string;
  kind: Kind | '';
  name: string;
  description: string;
  enabled: boolean;
}

/** Field errors of a failed write: the API's `field`, mapped onto the form. */
function apiFieldErrors(error: unknown, settingKeys: string[]): Record<string, string> {
  if (!(error instanceof ApiError) || error.status !== 422) return {};
  const msg = error.problem.detail ?? error.problem.title ?? 'invalid';
  const setting = fieldOfProblem(error.problem, settingKeys, 'settings.');
  if (setting) return { [setting]: msg };
  const meta = fieldOfProblem(error.problem, ['id', 'kind', 'name', 'description', 'enabled']);
  if (meta) return { [`meta.${meta}`]: msg };
  return {};
}

function MetaFields({ meta, set, isNew, kinds, errors }: { meta: Meta; set: (m: Meta) => void; isNew: boolean; kinds: KindSchema[]; errors: Record<string, string> }) {
  const err = (k: string) => errors[`meta.${k}`];
  const field = (k: keyof Meta, label: string, control: React.ReactNode, hint?: string) => (
    <div className={err(k) ? 'field field-invalid' : 'field'}>
      <label htmlFor={`meta-${k}`}>{label}</label>
      {control}
      {err(k) && (
        <div className="field-error" id={`meta-${k}-error`} role="alert">
          {err(k)}
        </div>
      )}
      {hint && <div className="hint">{hint}</div>}
    </div>
  );
  const aria = (k: string) => ({ 'aria-invalid': !!err(k), 'aria-describedby': err(k) ? `meta-${k}-error` : undefined });
  return (
    <fieldset className="settings-group">
      <legend>Connector</legend>
      {isNew &&
        field(
          'kind',
          'Kind',
          <select id="meta-kind" value={meta.kind} onChange={(e) => set({ ...meta, kind: e.target.value as Kind })} {...aria('kind')}>
            <option value="" disabled>
              Choose a kind
            </option>
            {kinds.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.kind}
              </option>
            ))}
          </select>,
        )}
      {isNew &&
        field(
          'id',
          'ID',
          <input id="meta-id" type="text" value={meta.id} onChange={(e) => set({ ...meta, id: e.target.value })} autoComplete="off" {...aria('id')} />,
          'the connector runs with --id this value: 1..64 of A-Z a-z 0-9 _ . : -',
        )}
      {field('name', 'Name', <input id="meta-name" type="text" value={meta.name} onChange={(e) => set({ ...meta, name: e.target.value })} {...aria('name')} />)}
      {field(
        'description',
        'Description',
        <textarea id="meta-description" rows={2} value={meta.description} onChange={(e) => set({ ...meta, description: e.target.value })} {...aria('description')} />,
      )}
      <div className="field field-inline">
        <input id="meta-enabled" type="checkbox" checked={meta.enabled} onChange={(e) => set({ ...meta, enabled: e.target.checked })} />
        <label htmlFor="meta-enabled">Enabled</label>
      </div>
    </fieldset>
  );
}

export default function ConnectorPage({ mode }: { mode: 'new' | 'edit' }) {
  const kinds = useKinds();
  if (mode === 'new') {
    return (
      <Query q={kinds} what="the connector kinds">
        {(k) => <ConnectorEditor kinds={k} connector={null} />}
      </Query>
    );
  }
  return <ExistingConnector kinds={kinds} />;
}

function ExistingConnector({ kinds }: { kinds: ReturnType<typeof useKinds> }) {
  const { id = '' } = useParams();
  const connector = useConnector(id);
  if (connector.error instanceof ApiError && connector.error.status === 404) {
    return (
      <div className="page">
        <PageHeader title="Connector not found" />
        <Empty>
          There is no connector <code>{id}</code>. <Link to="/connectors">All connectors</Link>
        </Empty>
      </div>
    );
  }
  if (kinds.isPending || connector.isPending) return <Loading what="the connector" />;
  if (kinds.error) return <ErrorState error={kinds.error} what="the connector kinds" retry={() => void kinds.refetch()} />;
  if (connector.error || !connector.data) return <ErrorState error={connector.error} what="the connector" retry={() => void connector.refetch()} />;
  return <ConnectorEditor key={`${connector.data.id}`} kinds={kinds.data ?? []} connector={connector.data} />;
}

function ConnectorEditor({ kinds, connector }: { kinds: KindSchema[]; connector: Connector | null }) {
  const isNew = connector === null;
  const { canEdit, isAdmin } = useAccess();
  const navigate = useNavigate();
  const [meta, setMeta] = useState<Meta>(() => ({
    id: connector?.id ?? '',
    kind: connector?.kind ?? '',
    name: connector?.name ?? '',
    description: connector?.description ?? '',
    enabled: connector?.enabled ?? true,
  }));
  const schema = kinds.find((k) => k.kind === meta.kind);
  const fields = useMemo(() => fieldsOf(schema?.settings ?? []), [schema]);
  const [values, setValues] = useState<FormValues>(() => valuesFromSettings(fields, connector?.settings ?? {}));
  // The version this edit started from: sent as If-Match.
  const [base, setBase] = useState<Connector | null>(connector);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const create = useCreateConnector();
  const update = useUpdateConnector(connector?.id ?? '');
  const del = useDeleteConnector(connector?.id ?? '');
  const toggle = useUpdateConnector(connector?.id ?? '');

  // A new kind chosen: its own fields, empty.
  useEffect(() => {
    if (isNew) setValues(valuesFromSettings(fields, {}));
  }, [fields, isNew]);

  const writeError = isNew ? create.error : update.error ?? toggle.error;
  const errors = { ...apiFieldErrors(writeError, fields.map((f) => f.key)), ...localErrors };

  const save = (e: React.FormEvent) => {
    e.preventDefault();
    setSaved(null);
    const { settings, errors: errs } = settingsFromValues(fields, values, base?.settings ?? {});
    const metaErrs: Record<string, string> = {};
    if (isNew && !meta.kind) metaErrs['meta.kind'] = 'choose a kind';
    if (isNew && !ID_RULE.test(meta.id)) metaErrs['meta.id'] = 'must be 1..64 of A-Z a-z 0-9 _ . : -';
    if (meta.name.trim() === '') metaErrs['meta.name'] = 'must not be empty';
    const all = { ...errs, ...metaErrs };
    setLocalErrors(all);
    if (Object.keys(all).length > 0) return;
    const body = { name: meta.name, description: meta.description, enabled: meta.enabled, settings };
    if (isNew) {
      create.mutate(
        { ...body, id: meta.id, kind: meta.kind },
        { onSuccess: (c) => navigate(`/connectors/${encodeURIComponent(c.id)}`, { replace: true }) },
      );
    } else if (base) {
      update.mutate(
        { body, version: base.version },
        {
          onSuccess: (c) => {
            setBase(c);
            setValues(valuesFromSettings(fields, c.settings));
            setSaved(c.version === base.version ? 'Nothing changed.' : `Saved as version ${c.version}.`);
          },
        },
      );
    }
  };

  const setEnabled = (enabled: boolean) => {
    if (!base) return;
    setSaved(null);
    toggle.mutate(
      { body: { name: base.name, description: base.description, enabled, settings: base.settings }, version: base.version },
      {
        onSuccess: (c) => {
          setBase(c);
          setMeta((m) => ({ ...m, enabled: c.enabled }));
          setSaved(c.enabled ? 'Enabled.' : 'Disabled.');
        },
      },
    );
  };

  const title = isNew ? 'New connector' : (base?.name ?? connector?.id ?? '');
  return (
    <div className="page">
      <PageHeader title={title}>
        {!isNew && base && canEdit && (
          <>
            <button type="button" className="btn" onClick={() => setEnabled(!base.enabled)} disabled={toggle.isPending}>
              {base.enabled ? 'Disable' : 'Enable'}
            </button>
            <button type="button" className="btn btn-danger" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          </>
        )}
      </PageHeader>
      {!isNew && base && <LiveStatus connector={base} />}
      {saved && (
        <div className="banner banner-ok" role="status">
          {saved}
        </div>
      )}
      <WriteError error={Object.keys(apiFieldErrors(writeError, fields.map((f) => f.key))).length ? null : writeError} />
      {canEdit ? (
        <form onSubmit={save} noValidate aria-label={isNew ? 'New connector' : 'Connector settings'}>
          <MetaFields meta={meta} set={setMeta} isNew={isNew} kinds={kinds} errors={errors} />
          {meta.kind && (
            <SettingsForm
              fields={fields}
              values={values}
              errors={errors}
              onChange={(k, v) => {
                setValues((old) => ({ ...old, [k]: v }));
                setLocalErrors(({ [k]: _drop, ...rest }) => rest);
              }}
            />
          )}
          {Object.keys(errors).length > 0 && (
            <p className="error-text" role="alert">
              Not saved: {Object.keys(errors).length === 1 ? 'one field needs' : `${Object.keys(errors).length} fields need`} attention.
            </p>
          )}
          <div className="actions">
            <button type="submit" className="btn btn-primary" disabled={create.isPending || update.isPending}>
              {isNew ? 'Create connector' : 'Save'}
            </button>
            <Link className="btn" to="/connectors">
              {isNew ? 'Cancel' : 'Back to the list'}
            </Link>
          </div>
        </form>
      ) : (
        base && (
          <section aria-labelledby="settings-h">
            <h2 id="settings-h">Settings</h2>
            <p>
              <strong>Kind</strong> {base.kind} · <strong>ID</strong> <code>{base.id}</code> · {base.enabled ? 'enabled' : 'disabled'}
            </p>
            {base.description && <p>{base.description}</p>}
            <SettingsView fields={fields} values={valuesFromSettings(fields, base.settings)} />
          </section>
        )
      )}
      {!isNew && base && (
        <>
          {base.kind === 'mqtt' && <LinkedMappings id={base.id} />}
          <EffectiveConfigSection id={base.id} />
          <VersionsSection connector={base} canRestore={isAdmin} onRestored={(c) => { setBase(c); setValues(valuesFromSettings(fields, c.settings)); setMeta((m) => ({ ...m, name: c.name, description: c.description, enabled: c.enabled })); setSaved(`Restored; now version ${c.version}.`); }} />
        </>
      )}
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${base?.id ?? ''}?`}
        confirmLabel="Delete connector"
        danger
        busy={del.isPending}
        onCancel={() => setConfirmDelete(false)}
        onConfirm={() =>
          base &&
          del.mutate(base.version, {
            onSuccess: () => navigate('/connectors', { replace: true }),
            onSettled: () => setConfirmDelete(false),
          })
        }
      >
        <p>
          The connector <code>{base?.id}</code>, its links and its configuration versions are deleted, and its configuration is removed from
          Valkey: a running <code>alp-connex</code> with this ID goes back to its start-up settings.
        </p>
      </ConfirmDialog>
      {del.error != null && <WriteError error={del.error} />}
    </div>
  );
}

function LiveStatus({ connector }: { connector: Connector }) {
  const status = useStatus(2_000);
  const entry = status.data?.find((s) => s.id === connector.id);
  const s = entry?.status ?? null;
  return (
    <section className="card" aria-labelledby="live-h">
      <h2 id="live-h" className="h3">
        Live status
      </h2>
      {status.isPending ? (
        <Loading what="the status" />
      ) : (
        <p>
          <StatusBadge entry={{ enabled: connector.enabled, status: s }} />{' '}
          {s?.remote && <>remote {s.remote} · </>}
          {s?.since && <>since {new Date(s.since).toLocaleString()} · </>}
          {typeof s?.points_received === 'number' && <>{s.points_received} points received · </>}
          {s?.config_error && <span className="error-text">configuration refused: {s.config_error} · </span>}
          {s?.last_error && <span className="error-text">last error: {s.last_error}</span>}
          {!s && <span className="muted">No status in Valkey: the connector is not running (or not yet).</span>}
        </p>
      )}
    </section>
  );
}

function LinkedMappings({ id }: { id: string }) {
  const links = useLinks(id);
  return (
    <section aria-labelledby="links-h">
      <h2 id="links-h">Linked mappings</h2>
      <Query q={links} what="the linked mappings">
        {(l) =>
          l.mappings.length === 0 ? (
            <Empty>
              No mappings linked: this connector subscribes to nothing. <Link to="/linking">Link mappings</Link>
            </Empty>
          ) : (
            <p>
              {l.mappings.map((m, i) => (
                <span key={m}>
                  {i > 0 && ', '}
                  <Link to={`/mappings/${encodeURIComponent(m)}`}>{m}</Link>
                </span>
              ))}{' '}
              · <Link to="/linking">Change the links</Link>
            </p>
          )
        }
      </Query>
    </section>
  );
}

function EffectiveConfigSection({ id }: { id: string }) {
  const cfg = useEffectiveConfig(id);
  return (
    <section aria-labelledby="effective-h">
      <h2 id="effective-h">Effective configuration</h2>
      <Query q={cfg} what="the effective configuration">
        {(c) => (
          <>
            <p>
              Version {c.n}, {c.enabled ? 'pushed to' : 'removed from'} <code>connectors:{c.connector}:config</code>
              {c.push.pending ? (
                <span className="badge tone-warn">
                  push pending since {c.push.since ? new Date(c.push.since).toLocaleTimeString() : '?'}, {c.push.attempts} attempts
                  {c.push.last_error ? `: ${c.push.last_error}` : ''}
                </span>
              ) : (
                <span className="badge tone-ok">pushed</span>
              )}
            </p>
            <JsonBlock value={c.config} label="Effective configuration" />
          </>
        )}
      </Query>
    </section>
  );
}

function VersionsSection({ connector, canRestore, onRestored }: { connector: Connector; canRestore: boolean; onRestored: (c: Connector) => void }) {
  const versions = useVersions(connector.id);
  const [selected, setSelected] = useState<number | null>(null);
  const newest = versions.data?.[0]?.n ?? null;
  const n = selected ?? newest;
  const detail = useVersion(connector.id, n);
  const previous = useVersion(connector.id, detail.data?.previous ?? null);
  const restore = useRestoreVersion(connector.id);
  const [confirm, setConfirm] = useState(false);

  // A change elsewhere on the page makes a new version: show the list anew.
  useEffect(() => {
    void versions.refetch();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connector.version]);

  return (
    <section aria-labelledby="versions-h">
      <h2 id="versions-h">Versions</h2>
      <Query q={versions} what="the versions">
        {(list) =>
          list.length === 0 ? (
            <Empty>No configuration has been pushed yet.</Empty>
          ) : (
            <div className="versions">
              <ul className="version-list" aria-label="Versions, newest first">
                {list.map((v) => (
                  <li key={v.n}>
                    <button type="button" className={v.n === n ? 'btn btn-link active' : 'btn btn-link'} aria-current={v.n === n} onClick={() => setSelected(v.n)}>
                      Version {v.n}
                    </button>
                    <span className="muted small">
                      {' '}
                      {v.actor} · {new Date(v.created_at).toLocaleString()}
                      {v.n === newest && ' · current'}
                    </span>
                  </li>
                ))}
              </ul>
              <div className="version-detail">
                {detail.isPending || (detail.data?.previous != null && previous.isPending) ? (
                  <Loading what="the version" />
                ) : detail.error || !detail.data ? (
                  <ErrorState error={detail.error} what="the version" retry={() => void detail.refetch()} />
                ) : (
                  <>
                    <DiffTable
                      rows={diffRows(detail.data.diff, previous.data?.config ?? {})}
                      caption={detail.data.previous === null ? `Version ${detail.data.n}: the first configuration` : `Changes from version ${detail.data.previous} to ${detail.data.n}`}
                    />
                    {canRestore && detail.data.n !== newest && (
                      <button type="button" className="btn" onClick={() => setConfirm(true)}>
                        Restore version {detail.data.n}
                      </button>
                    )}
                    <details>
                      <summary>The whole configuration of version {detail.data.n}</summary>
                      <JsonBlock value={detail.data.config} label={`Configuration of version ${detail.data.n}`} />
                    </details>
                  </>
                )}
                <WriteError error={restore.error} />
              </div>
            </div>
          )
        }
      </Query>
      <ConfirmDialog
        open={confirm}
        title={`Restore version ${n}?`}
        confirmLabel="Restore"
        busy={restore.isPending}
        onCancel={() => setConfirm(false)}
        onConfirm={() =>
          n !== null &&
          restore.mutate(
            { n, version: connector.version },
            {
              onSuccess: (c) => {
                setSelected(null);
                onRestored(c);
              },
              onSettled: () => setConfirm(false),
            },
          )
        }
      >
        <p>
          The connector's settings, its links and the linked mappings are set back to what they were in version {n}. This is a new change,
          with its own version and audit entry.
        </p>
      </ConfirmDialog>
    </section>
  );
}
