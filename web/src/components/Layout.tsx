import { useEffect, useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { useAccess } from '../auth/role';
import { authDisabled, onSessionExpired, signIn, signOut } from '../auth/auth';
import { effectiveTheme, followSystem, setTheme, type Theme } from '../lib/theme';

const NAV = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/connectors', label: 'Connectors' },
  { to: '/mappings', label: 'Mappings' },
  { to: '/linking', label: 'Linking' },
  { to: '/points', label: 'Process image' },
  { to: '/flow', label: 'Data flow' },
  { to: '/audit', label: 'Audit', admin: true },
];

function ThemeToggle() {
  const [theme, set] = useState<Theme>(effectiveTheme());
  useEffect(() => followSystem(set), []);
  const dark = theme === 'dark';
  return (
    <button
      type="button"
      className="btn btn-ghost"
      aria-pressed={dark}
      onClick={() => {
        const next: Theme = dark ? 'light' : 'dark';
        setTheme(next);
        set(next);
      }}
    >
      <span aria-hidden="true">{dark ? '☾' : '☀'}</span> Dark mode
    </button>
  );
}

function SessionExpired() {
  const [expired, setExpired] = useState(false);
  useEffect(() => onSessionExpired(() => setExpired(true)), []);
  if (!expired) return null;
  return (
    <div className="banner banner-error session-expired" role="alert">
      <strong>Your session has ended.</strong> Sign in again to go on; this page stays as it is until then.
      <button type="button" className="btn btn-primary" onClick={() => void signIn()}>
        Sign in again
      </button>
    </div>
  );
}

export function Layout() {
  const access = useAccess();
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">alp-connex</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => !n.admin || access.isAdmin).map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} end={n.end}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user">
          <ThemeToggle />
          {access.known && (
            <span className="who" aria-label="Signed in as">
              {access.user} <span className="badge">{access.role ?? 'no role'}</span>
            </span>
          )}
          {!authDisabled() && (
            <button type="button" className="btn" onClick={() => void signOut()}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <SessionExpired />
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: React.ReactNode }) {
  useEffect(() => {
    document.title = `${title} · alp-connex`;
  }, [title]);
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children && <div className="actions">{children}</div>}
    </div>
  );
}
