// Login with OpenID Connect: authorization code flow with PKCE
// (oidc-client-ts), configured at run time from GET /api/ui-config so that
// one build serves every deployment.
//
// The tokens live in memory only (InMemoryWebStorage): a reload or a new tab
// signs in again through the provider, which has its own session and usually
// answers without a form. Only the short-lived state of a login under way
// (the PKCE verifier) is in sessionStorage, because it has to survive the
// redirect to the provider and back; the library removes it on return.
//
// Renewal: automaticSilentRenew uses the refresh token when the provider gave
// one, else a hidden iframe. When renewal fails or the API answers 401, the
// app asks for a clean re-login (sessionExpired below).
//
// Every redirect comes back to the app's root (ORIGIN/): the one URI to
// register at the provider (Entra ID: a "single-page application" redirect
// URI), for the login, the silent renewal and the sign-out alike. The root
// tells them apart by the query (`code`/`error` and `state`) and by whether
// it runs in the renewal's iframe.

import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';
import type { UiConfig } from '../api/types';

const SIGNED_OUT_FLAG = 'alp-connex.signed-out';

let manager: UserManager | null = null;
let current: User | null = null;
let noAuth = false;
const expiredListeners = new Set<() => void>();
const userListeners = new Set<(u: User | null) => void>();

export function makeManager(cfg: UiConfig): UserManager | null {
  if (!cfg.issuer || !cfg.client_id) {
    noAuth = true;
    return null;
  }
  const origin = window.location.origin;
  manager = new UserManager({
    authority: cfg.issuer,
    client_id: cfg.client_id,
    redirect_uri: `${origin}/`,
    silent_redirect_uri: `${origin}/`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: 'code',
    scope: cfg.scope ?? 'openid profile',
    resource: cfg.resource ?? undefined,
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
    loadUserInfo: false,
    monitorSession: false,
  });
  manager.events.addUserLoaded((u) => setUser(u));
  manager.events.addUserUnloaded(() => setUser(null));
  manager.events.addSilentRenewError(() => sessionExpired());
  manager.events.addAccessTokenExpired(() => sessionExpired());
  return manager;
}

function setUser(u: User | null) {
  current = u;
  for (const l of userListeners) l(u);
}

export function onUser(l: (u: User | null) => void): () => void {
  userListeners.add(l);
  return () => userListeners.delete(l);
}

/** The bearer token for the API, or null without authentication. */
export function accessToken(): string | null {
  return current?.access_token ?? null;
}

export function authDisabled(): boolean {
  return noAuth;
}

export function currentUser(): User | null {
  return current;
}

/** Called on a 401 from the API and when renewal fails. */
export function sessionExpired(): void {
  if (noAuth) return;
  for (const l of expiredListeners) l();
}

export function onSessionExpired(l: () => void): () => void {
  expiredListeners.add(l);
  return () => expiredListeners.delete(l);
}

function here(): string {
  return window.location.pathname + window.location.search + window.location.hash;
}

/** Goes to the provider's login; back at the same page afterwards. */
export async function signIn(returnTo: string = here()): Promise<void> {
  if (!manager) return;
  try {
    window.sessionStorage.removeItem(SIGNED_OUT_FLAG);
  } catch {
    // no storage: nothing to clear
  }
  await manager.signinRedirect({ state: { returnTo } });
}

export async function signOut(): Promise<void> {
  if (!manager) return;
  const user = current;
  try {
    window.sessionStorage.setItem(SIGNED_OUT_FLAG, '1');
  } catch {
    // no storage: the root signs in again instead of saying "signed out"
  }
  await manager.removeUser();
  try {
    await manager.signoutRedirect({ id_token_hint: user?.id_token });
  } catch {
    // A provider without an end-session endpoint: the local sign-out is all.
    window.location.assign('/');
  }
}

/** The page's part of a login: handles the callbacks, returns whether the app should render. */
export async function startAuth(m: UserManager | null): Promise<'app' | 'none' | 'signed-out'> {
  if (!m) return 'app';
  const q = new URLSearchParams(window.location.search);
  const isCallback = window.location.pathname === '/' && q.has('state') && (q.has('code') || q.has('error'));
  if (isCallback && window.parent !== window) {
    await m.signinSilentCallback();
    return 'none';
  }
  let signedOut = false;
  try {
    signedOut = window.sessionStorage.getItem(SIGNED_OUT_FLAG) === '1';
  } catch {
    // no storage
  }
  if (signedOut && !isCallback) return 'signed-out';
  if (isCallback) {
    const user = await m.signinRedirectCallback();
    setUser(user);
    const state = user.state as { returnTo?: string } | undefined;
    const to = state?.returnTo && state.returnTo.startsWith('/') && !state.returnTo.startsWith('//') ? state.returnTo : '/';
    window.history.replaceState(null, '', to);
    return 'app';
  }
  const user = await m.getUser();
  if (user && !user.expired) {
    setUser(user);
    return 'app';
  }
  await signIn();
  return 'none';
}
