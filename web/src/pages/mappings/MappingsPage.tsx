import { Link } from 'react-router';
import { useMappings } from '../../api/hooks';
import { useAccess } from '../../auth/role';
import { PageHeader } from '../../components/Layout';
import { Empty, Query } from '../../components/States';

export default function MappingsPage() {
  const mappings = useMappings();
  const { canEdit } = useAccess();
  return (
    <div className="page">
      <PageHeader title="Mappings">
        {canEdit && (
          <Link className="btn btn-primary" to="/mappings/new">
            New mapping
          </Link>
        )}
      </PageHeader>
      <p className="muted">A mapping turns the JSON messages of an MQTT topic into IEC 104 data points. Link it to an MQTT connector to put it to work.</p>
      <Query q={mappings} what="the mappings">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No mappings yet.{canEdit && <> <Link to="/mappings/new">Create one</Link>.</>}
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <caption className="sr-only">Mappings</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">ID</th>
                    <th scope="col">Topic</th>
                    <th scope="col">Points</th>
                    <th scope="col">Addresses</th>
                    <th scope="col">Version</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((m) => (
                    <tr key={m.id}>
                      <th scope="row">
                        <Link to={`/mappings/${encodeURIComponent(m.id)}`}>{m.name || m.id}</Link>
                      </th>
                      <td><code>{m.id}</code></td>
                      <td><code>{m.topic}</code></td>
                      <td>{m.points.length}</td>
                      <td>{[...new Set(m.points.map((p) => p.casdu))].map((c) => `CASDU ${c}`).join(', ')}</td>
                      <td>{m.version}</td>
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
