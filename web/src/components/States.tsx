// Loading, empty and error states, the same on every page.

import type { ReactNode } from 'react';
import { ApiError } from '../api/client';
import { problemMessage } from '../lib/problem';

export function Loading({ what }: { what: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return 'Your role does not allow this.';
    return problemMessage(error.problem, error.status);
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorState({ error, retry, what }: { error: unknown; retry?: () => void; what?: string }) {
  return (
    <div className="state state-error" role="alert">
      <strong>{what ? `Could not load ${what}.` : 'Something went wrong.'}</strong> {errorText(error)}
      {retry && (
        <button type="button" className="btn" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A query's three states around its content. */
export function Query<T>({
  q,
  what,
  children,
}: {
  q: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (q.isPending) return <Loading what={what} />;
  if (q.error || q.data === undefined) return <ErrorState error={q.error} what={what} retry={() => void q.refetch()} />;
  return <>{children(q.data)}</>;
}
