// Dark mode: the system's setting until the user toggles it; the choice is
// remembered in localStorage (it is no secret) and applied before the first
// render by main.tsx.

export type Theme = 'light' | 'dark';
const KEY = 'alp-connex.theme';

export function storedTheme(): Theme | null {
  try {
    const v = window.localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

export function systemTheme(): Theme {
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function effectiveTheme(): Theme {
  return storedTheme() ?? systemTheme();
}

export function applyTheme(t: Theme = effectiveTheme()): void {
  document.documentElement.dataset.theme = t;
  document.documentElement.style.colorScheme = t;
}

export function setTheme(t: Theme | null): void {
  try {
    if (t === null) window.localStorage.removeItem(KEY);
    else window.localStorage.setItem(KEY, t);
  } catch {
    // storage refused (private mode): the choice holds for this page only
  }
  applyTheme(t ?? systemTheme());
}

/** Follows the system while the user has not chosen. */
export function followSystem(onChange: (t: Theme) => void): () => void {
  const mq = window.matchMedia?.('(prefers-color-scheme: dark)');
  if (!mq) return () => {};
  const l = () => {
    if (storedTheme() === null) {
      applyTheme(systemTheme());
      onChange(systemTheme());
    }
  };
  mq.addEventListener('change', l);
  return () => mq.removeEventListener('change', l);
}
