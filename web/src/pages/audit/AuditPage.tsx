// Who changed what and when, with the entity before and after (admins).

import { useState } from 'react';
import { Link } from 'react-router';
import { useAudit } from '../../api/hooks';
import type { AuditEntry } from '../../api/types';
import { useAccess } from '../../auth/role';
import { DiffTable } from '../../components/DiffTable';
import { PageHeader } from '../../components/Layout';
import { Empty, Loading, Query } from '../../components/States';
import { diffRows, jsonDiff } from '../../lib/diff';

function entityLink(e: AuditEntry) {
  const path = e.entity === 'connector' ? 'connectors' : 'mappings';
  if (e.action === 'delete') return <code>{e.entity_id}</code>;
  return <Link to={`/${path}/${encodeURIComponent(e.entity_id)}`}>{e.entity_id}</Link>;
}

function Entry({ e }: { e: AuditEntry }) {
  const [open, setOpen] = useState(false);
  const rows = open ? diffRows(jsonDiff(e.before ?? undefined, e.after ?? undefined), e.before ?? undefined) : [];
  return (
    <>
      <tr>
        <td>{new Date(e.at).toLocaleString()}</td>
        <td>{e.actor}</td>
        <td>{e.action}</td>
        <td>{e.entity}</td>
        <td>{entityLink(e)}</td>
        <td>
          <button type="button" className="btn btn-small" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'Hide changes' : 'Show changes'}
          </button>
        </td>
      </tr>
      {open && (
        <tr className="audit-detail">
          <td colSpan={6}>
            <DiffTable rows={rows} caption={`${e.action} of ${e.entity} ${e.entity_id}: before and after`} />
          </td>
        </tr>
      )}
    </>
  );
}

export default function AuditPage() {
  const { isAdmin, known } = useAccess();
  const [actor, setActor] = useState('');
  const [since, setSince] = useState('');
  const audit = useAudit(actor.trim(), since, isAdmin);
  if (!known) return <Loading what="your role" />;
  if (!isAdmin)
    return (
      <div className="page">
        <PageHeader title="Audit" />
        <Empty>The audit log is for administrators.</Empty>
      </div>
    );
  return (
    <div className="page">
      <PageHeader title="Audit" />
      <div className="toolbar" role="search">
        <label htmlFor="audit-actor">User</label>
        <input id="audit-actor" type="search" value={actor} onChange={(e) => setActor(e.target.value)} />
        <label htmlFor="audit-since">Since</label>
        <input id="audit-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
      </div>
      <Query q={audit} what="the audit log">
        {(entries) =>
          entries.length === 0 ? (
            <Empty>No changes{actor || since ? ' match the filter' : ' yet'}.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <caption className="sr-only">Changes, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Entity</th>
                    <th scope="col">ID</th>
                    <th scope="col"><span className="sr-only">Details</span></th>
                  </tr>
                </thead>
                <tbody>
                  {entries.map((e) => (
                    <Entry key={String(e.id)} e={e} />
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Query>
    </div>
  );
}
