import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { makeManager, signIn, startAuth } from './auth/auth';
import type { UiConfig } from './api/types';
import { applyTheme } from './lib/theme';
import { App } from './App';
import './styles.css';

applyTheme();

const root = createRoot(document.getElementById('root')!);

function Message({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main className="center-page" id="main">
      <h1>{title}</h1>
      {children}
    </main>
  );
}

async function loadUiConfig(): Promise<UiConfig> {
  const res = await fetch('/api/ui-config', { headers: { Accept: 'application/json' } });
  if (res.status === 404) return { issuer: null, client_id: null, scope: null };
  if (!res.ok) throw new Error(`GET /api/ui-config answered ${res.status}`);
  return (await res.json()) as UiConfig;
}

async function boot() {
  let cfg: UiConfig;
  try {
    cfg = await loadUiConfig();
  } catch (e) {
    root.render(
      <Message title="The backend cannot be reached">
        <p>{e instanceof Error ? e.message : String(e)}</p>
        <button type="button" className="btn btn-primary" onClick={() => window.location.reload()}>
          Try again
        </button>
      </Message>,
    );
    return;
  }
  const manager = makeManager(cfg);
  let outcome: Awaited<ReturnType<typeof startAuth>>;
  try {
    outcome = await startAuth(manager);
  } catch (e) {
    root.render(
      <Message title="Sign-in failed">
        <p>{e instanceof Error ? e.message : String(e)}</p>
        <button type="button" className="btn btn-primary" onClick={() => void signIn('/')}>
          Sign in again
        </button>
      </Message>,
    );
    return;
  }
  if (outcome === 'none') return;
  if (outcome === 'signed-out') {
    document.title = 'Signed out · alp-connex';
    root.render(
      <Message title="You are signed out">
        <p>You have signed out of alp-connex.</p>
        <button type="button" className="btn btn-primary" onClick={() => void signIn('/')}>
          Sign in
        </button>
      </Message>,
    );
    return;
  }
  root.render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

void boot();
