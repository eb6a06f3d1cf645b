// The live update stream (GET /api/v1/updates, Server-Sent Events).
//
// EventSource cannot send an Authorization header, so the stream is read
// with fetch (@microsoft/fetch-event-source) and the bearer token. Each
// (re)connection takes the token anew, so a renewed token is used from the
// next reconnection on; a 401 asks for a new login.

import { fetchEventSource } from '@microsoft/fetch-event-source';
import { authHeaders } from './client';
import { sessionExpired } from '../auth/auth';
import type { DataPoint } from './types';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface LiveHandlers {
  onPoint: (p: DataPoint) => void;
  /** The server dropped `missed` events for this client: reload the image. */
  onLagged: (missed: number) => void;
  onState: (s: LiveState, detail?: string) => void;
}

class Fatal extends Error {}

export function subscribeUpdates(casdu: number | null, h: LiveHandlers): () => void {
  const ctrl = new AbortController();
  let attempt = 0;
  const url = `/api/v1/updates${casdu === null ? '' : `?casdu=${casdu}`}`;

  const connect = () => {
    if (ctrl.signal.aborted) return;
    h.onState(attempt === 0 ? 'connecting' : 'reconnecting');
    fetchEventSource(url, {
      signal: ctrl.signal,
      headers: { ...authHeaders(), Accept: 'text/event-stream' },
      openWhenHidden: true,
      async onopen(res) {
        if (res.ok && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
          attempt = 0;
          h.onState('live');
          return;
        }
        if (res.status === 401) {
          sessionExpired();
          throw new Fatal('401');
        }
        throw new Error(`HTTP ${res.status}`);
      },
      onmessage(ev) {
        if (ev.event === 'point' || ev.event === '' || ev.event === 'message') {
          try {
            h.onPoint(JSON.parse(ev.data) as DataPoint);
          } catch {
            // an event that is not a data point: ignored
          }
        } else if (ev.event === 'lagged') {
          let missed = 0;
          try {
            missed = Number((JSON.parse(ev.data) as { missed?: number }).missed ?? 0);
          } catch {
            // keep 0
          }
          h.onLagged(missed);
        }
      },
      onclose() {
        // The server ended the stream: reconnect (a new token each time).
        throw new Error('closed');
      },
      onerror(err) {
        // Stop the library's own retry (it would reuse the old headers);
        // we reconnect ourselves.
        throw err;
      },
    }).catch((err: unknown) => {
      if (ctrl.signal.aborted) return;
      if (err instanceof Fatal) {
        h.onState('stopped', 'signed out');
        return;
      }
      attempt += 1;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
      h.onState('reconnecting', err instanceof Error ? err.message : String(err));
      window.setTimeout(connect, delay);
    });
  };
  connect();
  return () => ctrl.abort();
}
