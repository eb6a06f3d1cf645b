// A failed write, said plainly: 412 (someone else saved first), 409 (the
// owners of an address), 403, and any other problem's detail.

import { ApiError } from '../api/client';
import { ownerText } from '../lib/addresses';
import { staleMessage } from '../lib/problem';
import { errorText } from './States';

export function WriteError({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError && error.status === 412) {
    return (
      <div className="banner banner-error" role="alert">
        <strong>Not saved.</strong> {staleMessage(error.problem)}
      </div>
    );
  }
  if (error instanceof ApiError && error.status === 409 && Array.isArray(error.problem.owners)) {
    const p = error.problem;
    return (
      <div className="banner banner-error" role="alert">
        <strong>Not saved: address conflict.</strong> {p.detail}
        {typeof p.casdu === 'number' && (
          <div>
            Address CASDU {p.casdu}
            {typeof p.ioa === 'number' ? `, IOA ${p.ioa}` : ''} would have two owners:
          </div>
        )}
        <ul className="owners">
          {p.owners!.map((o, i) => (
            <li key={i}>{ownerText(o)}</li>
          ))}
        </ul>
      </div>
    );
  }
  return (
    <div className="banner banner-error" role="alert">
      <strong>Not saved.</strong> {errorText(error)}
    </div>
  );
}
