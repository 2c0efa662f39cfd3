/**
 * Where the UI is, in the URL's hash: `#/graph?env=karma-dev&component=database`. Every view is a link, so the
 * back button, a reload and a shared link all land on the same view.
 */
import { useEffect, useState } from 'preact/hooks';

export const VIEWS = ['graph', 'plan', 'impact', 'propose', 'changes', 'rollouts'] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  readonly view: View;
  readonly params: Readonly<Record<string, string>>;
}

export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const view = (VIEWS as readonly string[]).includes(path) ? (path as View) : 'graph';
  return { view, params: Object.fromEntries(new URLSearchParams(query)) };
}

export function href(view: View, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `#/${view}${s ? `?${s}` : ''}`;
}

export function navigate(view: View, params: Record<string, string | number | undefined> = {}, options: { replace?: boolean } = {}): void {
  const next = href(view, params);
  if (options.replace) history.replaceState(null, '', next);
  else history.pushState(null, '', next);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', changed);
    window.addEventListener('popstate', changed);
    return () => {
      window.removeEventListener('hashchange', changed);
      window.removeEventListener('popstate', changed);
    };
  }, []);
  return route;
}
