// Which mappings feed which MQTT connector, and the addresses with two
// owners.

import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { useAddresses, useConnectors, useLinks, useMappings, useSaveLinks } from '../../api/hooks';
import type { Connector, Mapping } from '../../api/types';
import { useAccess } from '../../auth/role';
import { PageHeader } from '../../components/Layout';
import { WriteError } from '../../components/Problem';
import { Empty, ErrorState, Loading, Query } from '../../components/States';
import { addressConflicts, ownerText } from '../../lib/addresses';

function ConnectorLinks({ connector, mappings, canEdit }: { connector: Connector; mappings: Mapping[]; canEdit: boolean }) {
  const links = useLinks(connector.id);
  const save = useSaveLinks(connector.id);
  const [draft, setDraft] = useState<string[] | null>(null);
  const [toAdd, setToAdd] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    setDraft(null);
  }, [links.data?.version]);

  if (links.isPending) return <Loading what={`the links of ${connector.id}`} />;
  if (links.error || !links.data) return <ErrorState error={links.error} what={`the links of ${connector.id}`} retry={() => void links.refetch()} />;
  const current = draft ?? links.data.mappings;
  const changed = draft !== null && JSON.stringify(draft) !== JSON.stringify(links.data.mappings);
  const byId = new Map(mappings.map((m) => [m.id, m]));
  const available = mappings.filter((m) => !current.includes(m.id));
  const move = (i: number, d: -1 | 1) => {
    const next = [...current];
    const [x] = next.splice(i, 1);
    next.splice(i + d, 0, x as string);
    setDraft(next);
  };
  const headingId = `links-${connector.id.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId} className="h3">
        <Link to={`/connectors/${encodeURIComponent(connector.id)}`}>{connector.name}</Link> <span className="muted small">{connector.id}</span>
      </h2>
      {current.length === 0 ? (
        <p className="muted">No mappings linked: the connector subscribes to nothing.</p>
      ) : (
        <ol className="link-list" aria-label={`Mappings linked to ${connector.id}`}>
          {current.map((id, i) => (
            <li key={id}>
              <Link to={`/mappings/${encodeURIComponent(id)}`}>{byId.get(id)?.name || id}</Link>{' '}
              <code className="muted small">{byId.get(id)?.topic ?? '(mapping not found)'}</code>
              {canEdit && (
                <span className="row-actions">
                  <button type="button" className="btn btn-small" aria-label={`Move ${id} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                    ↑
                  </button>
                  <button type="button" className="btn btn-small" aria-label={`Move ${id} down`} disabled={i === current.length - 1} onClick={() => move(i, 1)}>
                    ↓
                  </button>
                  <button type="button" className="btn btn-small" aria-label={`Unlink ${id}`} onClick={() => setDraft(current.filter((x) => x !== id))}>
                    Unlink
                  </button>
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
      {canEdit && (
        <div className="actions">
          <label htmlFor={`${headingId}-add`}>Mapping to link</label>
          <select id={`${headingId}-add`} value={toAdd} onChange={(e) => setToAdd(e.target.value)}>
            <option value="">Choose a mapping</option>
            {available.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name || m.id} ({m.topic})
              </option>
            ))}
          </select>
          <button
            type="button"
            className="btn"
            disabled={!toAdd}
            onClick={() => {
              setDraft([...current, toAdd]);
              setToAdd('');
              setSaved(null);
            }}
          >
            Link
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={!changed || save.isPending}
            onClick={() =>
              save.mutate(
                { mappings: current, version: links.data.version },
                {
                  onSuccess: (l) => {
                    setDraft(null);
                    setSaved(`Saved: ${l.mappings.length} mapping${l.mappings.length === 1 ? '' : 's'} linked (connector version ${l.version}).`);
                    void links.refetch();
                  },
                },
              )
            }
          >
            Save links
          </button>
          {changed && (
            <button type="button" className="btn" onClick={() => setDraft(null)}>
              Discard
            </button>
          )}
        </div>
      )}
      {saved && (
        <p className="banner banner-ok" role="status">
          {saved}
        </p>
      )}
      <WriteError error={save.error} />
    </section>
  );
}

function Conflicts() {
  const addresses = useAddresses();
  return (
    <section aria-labelledby="conflicts-h">
      <h2 id="conflicts-h">Address conflicts</h2>
      <Query q={addresses} what="the address owners">
        {(ranges) => {
          const conflicts = addressConflicts(ranges);
          if (conflicts.length === 0)
            return <p className="banner banner-ok">No conflicts: every address of the {ranges.length} owned ranges has one owner.</p>;
          return (
            <table className="table">
              <caption>Addresses with two owners</caption>
              <thead>
                <tr>
                  <th scope="col">CASDU</th>
                  <th scope="col">IOA</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Second owner</th>
                </tr>
              </thead>
              <tbody>
                {conflicts.map((c, i) => (
                  <tr key={i} className="tone-row-down">
                    <td>{c.casdu}</td>
                    <td>{c.ioa_from === c.ioa_to ? c.ioa_from : `${c.ioa_from}..=${c.ioa_to}`}</td>
                    <td>{ownerText(c.a)}</td>
                    <td>{ownerText(c.b)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Query>
    </section>
  );
}

export default function LinkingPage() {
  const connectors = useConnectors();
  const mappings = useMappings();
  const { canEdit } = useAccess();
  return (
    <div className="page">
      <PageHeader title="Linking" />
      <p className="muted">An MQTT connector runs the mappings linked to it, in this order. Each address may have one owner only; the backend refuses a link that would give it a second.</p>
      {connectors.isPending || mappings.isPending ? (
        <Loading what="the connectors and mappings" />
      ) : connectors.error || mappings.error ? (
        <ErrorState error={connectors.error ?? mappings.error} what="the connectors and mappings" retry={() => { void connectors.refetch(); void mappings.refetch(); }} />
      ) : (connectors.data ?? []).filter((c) => c.kind === 'mqtt').length === 0 ? (
        <Empty>
          No MQTT connector yet. {canEdit && <Link to="/connectors/new">Create one</Link>}
        </Empty>
      ) : (
        (connectors.data ?? [])
          .filter((c) => c.kind === 'mqtt')
          .map((c) => <ConnectorLinks key={c.id} connector={c} mappings={mappings.data ?? []} canEdit={canEdit} />)
      )}
      <Conflicts />
    </div>
  );
}
