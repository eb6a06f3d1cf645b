// Every connector's live status, problems first, refreshing every 2 s.

import { Link } from 'react-router';
import { useStatus } from '../../api/hooks';
import type { ConnectorStatus, StatusEntry } from '../../api/types';
import { PageHeader } from '../../components/Layout';
import { StatusBadge } from '../../components/StatusBadge';
import { Empty, Query } from '../../components/States';
import { problemsFirst, toneOf } from '../../lib/status';
import { useNow } from '../../lib/useNow';
import { age } from '../../lib/status';

const COUNTERS: [keyof ConnectorStatus | string, string][] = [
  ['negative_confirmations', 'negative confirmations'],
  ['malformed_asdus', 'malformed ASDUs'],
  ['unknown_types', 'unknown types'],
  ['bad_payloads', 'bad payloads'],
  ['conversion_errors', 'conversion errors'],
  ['unmatched', 'unmatched'],
  ['malformed', 'malformed'],
  ['refused', 'refused'],
  ['missed_entries', 'missed entries'],
];

function points(s: ConnectorStatus | null): string {
  if (!s) return '—';
  const known = typeof s.points_known === 'number' ? s.points_known : typeof s.image_points === 'number' ? s.image_points : null;
  const received = typeof s.points_received === 'number' ? s.points_received : null;
  return [known !== null ? `${known} known` : null, received !== null ? `${received} received` : null].filter(Boolean).join(', ') || '—';
}

function errorCounters(s: ConnectorStatus | null): string {
  if (!s) return '—';
  const parts = COUNTERS.filter(([k]) => typeof s[k] === 'number' && (s[k] as number) > 0).map(([k, label]) => `${s[k]} ${label}`);
  if (typeof s.reconnects === 'number' && s.reconnects > 0) parts.unshift(`${s.reconnects} reconnects`);
  return parts.length ? parts.join(', ') : 'none';
}

function Row({ e, now }: { e: StatusEntry; now: number }) {
  const s = e.status;
  const problem = s?.config_error ?? s?.last_error ?? null;
  return (
    <tr className={`tone-row-${toneOf(e)}`}>
      <th scope="row">
        {e.managed ? <Link to={`/connectors/${encodeURIComponent(e.id)}`}>{e.name ?? e.id}</Link> : (e.name ?? e.id)}
        <div className="muted small">{e.id} · {e.kind}{e.managed ? '' : ' · not managed'}</div>
      </th>
      <td><StatusBadge entry={e} /></td>
      <td>{s?.remote ?? (typeof s?.listen === 'string' ? s.listen : '—')}</td>
      <td title={s?.since ?? undefined}>{s?.since ? `${age(s.since, now)} ago` : '—'}</td>
      <td className={problem ? 'error-text' : 'muted'}>
        {s?.config_error ? <>configuration refused: {s.config_error}</> : (s?.last_error ?? '—')}
      </td>
      <td>{points(s)}</td>
      <td>{errorCounters(s)}</td>
    </tr>
  );
}

export function DashboardPage() {
  const status = useStatus(2_000);
  const now = useNow(1_000);
  return (
    <div className="page">
      <PageHeader title="Dashboard" />
      <Query q={status} what="the connectors' status">
        {(entries) =>
          entries.length === 0 ? (
            <Empty>
              No connectors yet. <Link to="/connectors/new">Create the first one</Link>.
            </Empty>
          ) : (
            <>
              <Summary entries={entries} />
              <div className="table-wrap">
                <table className="table">
                  <caption className="sr-only">Connectors, problems first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Connector</th>
                      <th scope="col">State</th>
                      <th scope="col">Remote</th>
                      <th scope="col">Since</th>
                      <th scope="col">Last error</th>
                      <th scope="col">Points</th>
                      <th scope="col">Error counters</th>
                    </tr>
                  </thead>
                  <tbody>
                    {problemsFirst(entries).map((e) => (
                      <Row key={e.id} e={e} now={now} />
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          )
        }
      </Query>
    </div>
  );
}

function Summary({ entries }: { entries: StatusEntry[] }) {
  const count = (t: string) => entries.filter((e) => toneOf(e) === t).length;
  return (
    <p className="summary" aria-live="polite">
      <span className="badge tone-ok">{count('ok')} running</span>{' '}
      <span className="badge tone-warn">{count('warn')} with warnings</span>{' '}
      <span className="badge tone-down">{count('down')} down</span>{' '}
      <span className="badge tone-off">{count('off')} disabled</span>
    </p>
  );
}
