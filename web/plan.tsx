/**
 * The plan view (GET /plan: the waves an apply of the environment would run now) and the impact view (GET
 * /impact: what applying one component, or changing one of its outputs, sets off — here and in other
 * environments).
 */
import type { ComponentDetails, EnvironmentOrder, Impact, Picture } from '../lib/api/types.ts';
import { get } from './api.ts';
import { ImpactSummary } from './details.tsx';
import { componentsIn, statusesIn } from './picture.ts';
import { href, navigate } from './router.ts';
import { StatusBadge } from './status.tsx';
import { useFetch } from './use-fetch.ts';
import { Alert } from './alert.tsx';

/** The status of each component of an environment (from its picture), to show beside its name in the waves. */
function useStatuses(env: string, version: number): ReadonlyMap<string, string> {
  const picture = useFetch((signal) => get<Picture>('/graph', { env, format: 'picture' }, signal), [env, version]);
  return statusesIn(picture.data, env);
}

export function Waves({ env, waves, statuses }: { readonly env: string; readonly waves: readonly (readonly string[])[]; readonly statuses?: ReadonlyMap<string, string> }) {
  return (
    <ol class="waves">
      {waves.map((wave, i) => (
        <li key={i}>
          <span class="wave-label">Wave {i + 1}</span>
          <ul class="wave-items">
            {wave.map((c) => (
              <li key={c}>
                <a href={href('graph', { env, component: c })}>
                  {c}
                  {statuses?.get(c) ? (
                    <>
                      {' '}
                      <StatusBadge status={statuses.get(c)!} />
                    </>
                  ) : null}
                </a>
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ol>
  );
}

const MODES = [
  { value: 'apply', label: 'what needs an apply' },
  { value: 'all', label: 'every component' },
  { value: 'destroy', label: 'destroy order (reverse)' },
] as const;

export function PlanView({ env, params, version }: { readonly env: string; readonly params: Readonly<Record<string, string>>; readonly version: number }) {
  const mode = params['mode'] ?? 'apply';
  const plan = useFetch((signal) => get<EnvironmentOrder>('/plan', { env, mode }, signal), [env, mode, version]);
  const statuses = useStatuses(env, version);
  const p = plan.data?.env === env ? plan.data : undefined;
  const count = p?.waves.reduce((n, w) => n + w.length, 0) ?? 0;
  return (
    <div class="page narrow">
      <h1>Plan for {env}</h1>
      <p class="muted">The waves an apply of {env} would run now, in order; the components of one wave run in parallel. Nothing here changes anything: applies start from a change.</p>
      <div class="row">
        <label for="mode">Show</label>
        <select id="mode" value={mode} onChange={(e) => navigate('plan', { env, mode: e.currentTarget.value })}>
          {MODES.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
      </div>
      <Alert message={plan.error} />
      {!p ? (
        <p class="loading">Loading…</p>
      ) : (
        <section aria-label="Waves">
          <p role="status">{count === 0 ? (mode === 'apply' ? `Nothing to apply: every component of ${env} is in sync or waiting on something listed below.` : 'No components.') : `${count} component${count === 1 ? '' : 's'} in ${p.waves.length} wave${p.waves.length === 1 ? '' : 's'}.`}</p>
          <Waves env={env} waves={p.waves} statuses={statuses} />
          {p.skipped && p.skipped.length > 0 ? (
            <>
              <h2>Not applied now</h2>
              <ul class="plain">
                {p.skipped.map((s) => (
                  <li key={s.component}>
                    <a href={href('graph', { env, component: s.component })}>{s.component}</a> ({s.status}): {s.reason}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {p.orphaned.length > 0 ? (
            <>
              <h2>Orphaned</h2>
              <ul class="plain">
                {p.orphaned.map((s) => (
                  <li key={s.component}>
                    {s.component}: {s.reason}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </section>
      )}
    </div>
  );
}

export function ImpactView({ env, params, version }: { readonly env: string; readonly params: Readonly<Record<string, string>>; readonly version: number }) {
  const component = params['component'] ?? '';
  const output = params['output'] ?? '';
  const picture = useFetch((signal) => get<Picture>('/graph', { env, format: 'picture' }, signal), [env, version]);
  const names = componentsIn(picture.data, env).map((n) => n.name);
  const details = useFetch(component ? (signal) => get<ComponentDetails>(`/components/${encodeURIComponent(env)}/${encodeURIComponent(component)}`, {}, signal) : undefined, [env, component]);
  const impact = useFetch(component ? (signal) => get<Impact>('/impact', { env, component, output: output || undefined }, signal) : undefined, [env, component, output, version]);
  const i = impact.data?.env === env && impact.data.component === component ? impact.data : undefined;
  const statuses = statusesIn(picture.data, env);
  return (
    <div class="page narrow">
      <h1>Impact in {env}</h1>
      <p class="muted">What applying a component sets off: the components that consume it, wave by wave, here and in other environments. Pick one output to see only what reads it.</p>
      <div class="row wrap">
        <label for="impact-component">Component</label>
        <select id="impact-component" value={component} onChange={(e) => navigate('impact', { env, component: e.currentTarget.value })}>
          <option value="">choose…</option>
          {names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        <label for="impact-output">Output</label>
        <select id="impact-output" value={output} disabled={!details.data} onChange={(e) => navigate('impact', { env, component, output: e.currentTarget.value })}>
          <option value="">any output</option>
          {(details.data?.component === component ? details.data.outputs : []).map((o) => (
            <option key={o.name} value={o.name}>
              {o.name}
            </option>
          ))}
        </select>
      </div>
      <Alert message={impact.error} />
      {!component ? null : !i ? (
        <p class="loading">Loading…</p>
      ) : (
        <section aria-label="Impact">
          <h2>
            {output ? `${component}.${output}` : component} reaches
          </h2>
          <ImpactSummary impact={i} statuses={statuses} />
        </section>
      )}
    </div>
  );
}
