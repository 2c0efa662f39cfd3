/**
 * The shell: sign-in, the header (environment, views, the live feed's state), and the view the URL names.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Environments, ServiceEvent } from '../lib/api/types.ts';
import { get, messageOf, session, SignedOut } from './api.ts';
import { ChangesView } from './changes.tsx';
import { GraphView } from './graph-view.tsx';
import { ImpactView, PlanView } from './plan.tsx';
import { ProposeView } from './propose.tsx';
import { RolloutsView } from './rollouts.tsx';
import { connectFeed, useEvents, useFeedState } from './live.ts';
import { href, navigate, useRoute, type View } from './router.ts';

export function App() {
  const [token, setToken] = useState(session.token);
  const [reason, setReason] = useState('');
  useEffect(
    () =>
      session.onSignOut((why) => {
        setReason(why);
        setToken(null);
      }),
    [],
  );
  if (!token) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(t) => {
          setReason('');
          setToken(t);
        }}
      />
    );
  }
  return <Signed />;
}

function SignIn({ reason, onSignedIn }: { readonly reason: string; readonly onSignedIn: (token: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const token = value.trim();
    if (!token) {
      setError('Enter the token karma serve printed, or one from karma token create.');
      return;
    }
    setBusy(true);
    setError('');
    session.signIn(token);
    try {
      await get('/environments');
      onSignedIn(token);
    } catch (err) {
      if (!(err instanceof SignedOut)) {
        session.signOut();
        setError(messageOf(err));
      } else setError('The server refused this token (401): check it and try again.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <p class="brand brand-large" aria-hidden="true">
          <Logo /> Karma
        </p>
        <h1 id="signin-title">Sign in</h1>
        {error || reason ? (
          <p id="token-error" class="alert" role="alert">
            {error || reason}
          </p>
        ) : null}
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          aria-describedby="token-help"
          aria-invalid={error ? 'true' : undefined}
          aria-errormessage={error ? 'token-error' : undefined}
          autoFocus
        />
        <p id="token-help" class="hint">
          <code>karma serve</code> prints a token for its run when none is configured; otherwise use one from <code>karma token create NAME --role read|propose|apply --tokens FILE</code>. It is kept for this tab only.
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
      <circle cx="5" cy="12" r="3" />
      <circle cx="19" cy="5" r="3" />
      <circle cx="19" cy="19" r="3" />
      <path d="M7.6 10.6 16.4 6.4M7.6 13.4l8.8 4.2" stroke-width="2" fill="none" />
    </svg>
  );
}

const NAV: readonly { view: View; label: string }[] = [
  { view: 'graph', label: 'Graph' },
  { view: 'plan', label: 'Plan' },
  { view: 'impact', label: 'Impact' },
  { view: 'changes', label: 'Changes' },
  { view: 'rollouts', label: 'Rollouts' },
];

/** Views that show one environment (the Environment control applies to them). */
const ENV_VIEWS: ReadonlySet<View> = new Set(['graph', 'plan', 'impact', 'propose']);

function Signed() {
  const route = useRoute();
  const [envs, setEnvs] = useState<Environments | undefined>(undefined);
  const [error, setError] = useState('');
  const [version, setVersion] = useState(0);
  useEffect(() => connectFeed(), []);
  useEvents((e: ServiceEvent) => {
    if (e.type === 'graph.changed') setVersion((v) => v + 1);
  });
  useEffect(() => {
    get<Environments>('/environments').then(setEnvs, (err: unknown) => {
      if (!(err instanceof SignedOut)) setError(messageOf(err));
    });
  }, [version]);

  // The environment: the URL's, else the one with the most deployments (the first of those in karma.yaml).
  const largest = envs?.environments.reduce((a, b) => (b.deployments > a.deployments ? b : a), envs.environments[0]!)?.name;
  const env = route.params['env'] ?? largest;
  useEffect(() => {
    if (!route.params['env'] && largest && ENV_VIEWS.has(route.view)) navigate(route.view, { ...route.params, env: largest }, { replace: true });
  }, [route, largest]);

  const switchEnv = (next: string): void => {
    // Another environment: its graph from the top (a component selected here may not be deployed there).
    const view = route.view === 'propose' ? 'graph' : route.view;
    navigate(view, { env: next });
  };

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <p class="brand">
          <Logo /> <span>Karma</span>
          {envs ? <span class="project">{envs.project}</span> : null}
        </p>
        <nav aria-label="Views" class="views">
          {NAV.map((n) => (
            <a key={n.view} href={href(n.view, ENV_VIEWS.has(n.view) && env ? { env } : {})} aria-current={route.view === n.view || (n.view === 'graph' && route.view === 'propose') ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="top-controls">
          <label class="inline" for="env">
            Environment
          </label>
          <select id="env" value={env ?? ''} onChange={(e) => switchEnv(e.currentTarget.value)} disabled={!envs}>
            {envs?.environments.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
          <FeedIndicator />
          <button type="button" class="quiet" onClick={() => session.signOut('Signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      {error ? (
        <p class="alert page-alert" role="alert">
          {error}
        </p>
      ) : null}
      <main id="main" tabIndex={-1}>
        {env && envs ? <Page view={route.view} params={route.params} env={env} version={version} /> : !error ? <p class="loading">Loading…</p> : null}
      </main>
    </div>
  );
}

function Page({ view, params, env, version }: { readonly view: View; readonly params: Readonly<Record<string, string>>; readonly env: string; readonly version: number }) {
  switch (view) {
    case 'graph':
      return <GraphView env={env} params={params} version={version} />;
    case 'plan':
      return <PlanView env={env} params={params} version={version} />;
    case 'impact':
      return <ImpactView env={env} params={params} version={version} />;
    case 'propose':
      return <ProposeView env={env} component={params['component'] ?? ''} />;
    case 'changes':
      return <ChangesView params={params} />;
    case 'rollouts':
      return <RolloutsView />;
  }
}

function FeedIndicator() {
  const state = useFeedState();
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline';
  return (
    <span class={`feed feed-${state}`} role="status" title="Updates from GET /events">
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
