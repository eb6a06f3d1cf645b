import { Link } from 'react-router';
import { useConnectors, useStatus } from '../../api/hooks';
import { useAccess } from '../../auth/role';
import { PageHeader } from '../../components/Layout';
import { StatusBadge } from '../../components/StatusBadge';
import { Empty, Query } from '../../components/States';

export default function ConnectorsPage() {
  const connectors = useConnectors();
  const status = useStatus(5_000);
  const { canEdit } = useAccess();
  const statusOf = (id: string) => status.data?.find((s) => s.id === id)?.status ?? null;
  return (
    <div className="page">
      <PageHeader title="Connectors">
        {canEdit && (
          <Link className="btn btn-primary" to="/connectors/new">
            New connector
          </Link>
        )}
      </PageHeader>
      <Query q={connectors} what="the connectors">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No connectors yet.{canEdit && <> <Link to="/connectors/new">Create one</Link>.</>}
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <caption className="sr-only">Connectors</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">ID</th>
                    <th scope="col">Kind</th>
                    <th scope="col">State</th>
                    <th scope="col">Version</th>
                    <th scope="col">Changed</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((c) => (
                    <tr key={c.id}>
                      <th scope="row">
                        <Link to={`/connectors/${encodeURIComponent(c.id)}`}>{c.name}</Link>
                      </th>
                      <td><code>{c.id}</code></td>
                      <td>{c.kind}</td>
                      <td><StatusBadge entry={{ enabled: c.enabled, status: statusOf(c.id) }} /></td>
                      <td>{c.version}</td>
                      <td>{new Date(c.updated_at).toLocaleString()}</td>
                    </tr>
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
