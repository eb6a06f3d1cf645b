import type { Json } from '../api/types';
import { showValue, type DiffRow } from '../lib/diff';

const OP_LABEL = { add: 'added', remove: 'removed', replace: 'changed' } as const;

export function DiffTable({ rows, caption }: { rows: DiffRow[]; caption: string }) {
  if (rows.length === 0) return <p className="muted">No differences.</p>;
  return (
    <table className="table diff">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Setting</th>
          <th scope="col">Change</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.pointer + r.op} className={`diff-${r.op}`}>
            <td><code>{r.path}</code></td>
            <td>{OP_LABEL[r.op]}</td>
            <td className="diff-before"><Val v={r.before} /></td>
            <td className="diff-after"><Val v={r.after} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Val({ v }: { v: Json | undefined }) {
  if (v === undefined) return <span className="muted">—</span>;
  return <code className="val">{showValue(v)}</code>;
}

export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}
