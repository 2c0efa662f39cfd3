/**
 * The details of one deployment (GET /components/{env}/{name}): its status and why, inputs as written (a secret
 * is its `${ssm:...}` reference, never a value), outputs and who consumes each, the last apply, and the impact of
 * applying it (GET /impact).
 */
import { useEffect, useRef } from 'preact/hooks';
import type { ComponentDetails, Impact } from '../lib/api/types.ts';
import { get } from './api.ts';
import { href } from './router.ts';
import { StatusBadge } from './status.tsx';
import { useFetch } from './use-fetch.ts';
import { Waves } from './plan.tsx';
import { when } from './time.ts';
import { Alert } from './alert.tsx';

export function Details({
  env,
  component,
  version,
  statuses,
  onClose,
}: {
  readonly env: string;
  readonly component: string;
  readonly version: number;
  /** The environment's statuses, from the graph view's picture: shown beside each name in the impact. */
  readonly statuses: ReadonlyMap<string, string>;
  readonly onClose: () => void;
}) {
  const details = useFetch((signal) => get<ComponentDetails>(`/components/${encodeURIComponent(env)}/${encodeURIComponent(component)}`, {}, signal), [env, component, version]);
  const impact = useFetch((signal) => get<Impact>('/impact', { env, component }, signal), [env, component, version]);
  const heading = useRef<HTMLHeadingElement>(null);
  // Keyboard and screen-reader users land on what they opened.
  useEffect(() => heading.current?.focus(), [env, component]);
  const d = details.data?.component === component && details.data.env === env ? details.data : undefined;

  return (
    <aside class="details" aria-labelledby="details-title">
      <div class="details-head">
        <h2 id="details-title" tabIndex={-1} ref={heading}>
          {component}
        </h2>
        <button type="button" class="quiet close" onClick={onClose} aria-label={`Close the details of ${component}`}>
          ✕
        </button>
      </div>
      <Alert message={details.error} />
      {!d ? (
        <p class="loading">Loading…</p>
      ) : (
        <>
          <p class="status-line">
            <StatusBadge status={d.status} /> <span>{d.reason}</span>
          </p>
          {d.description ? <p class="muted">{d.description}</p> : null}
          <p class="actions">
            <a class="button primary" href={href('propose', { env, component })}>
              Propose a change
            </a>
            <a class="button" href={href('impact', { env, component })}>
              Impact
            </a>
            <a class="button" href={href('graph', { env, focus: component, depth: 1, component })}>
              Neighbourhood
            </a>
          </p>

          <h3>Why</h3>
          {d.why.chain.length === 0 ? (
            <p class="muted">{d.status === 'in-sync' ? 'Applied with its current config and inputs: nothing to do.' : d.reason}</p>
          ) : (
            <ol class="why">
              {d.why.chain.map((step, i) => (
                <li key={i} style={{ marginLeft: `${step.depth * 0.75}rem` }}>
                  {step.kind === 'advice' ? (
                    <span class="advice">{step.advice}</span>
                  ) : (
                    <>
                      {step.kind === 'once-unblocked' ? <span class="muted">once unblocked: </span> : null}
                      <a href={href('graph', { env: step.env, component: step.component })}>{step.env === env ? step.component : `${step.env}/${step.component}`}</a>{' '}
                      {step.status ? <StatusBadge status={step.status} /> : null} {step.reason ? <span>{step.reason}</span> : null}
                    </>
                  )}
                </li>
              ))}
            </ol>
          )}

          <h3>Inputs</h3>
          {d.inputs === null || Object.keys(d.inputs).length === 0 ? (
            <p class="muted">No inputs.</p>
          ) : (
            <dl class="kv">
              {Object.entries(d.inputs).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>
                    <InputValue value={v} />
                  </dd>
                </div>
              ))}
            </dl>
          )}

          <h3>Outputs</h3>
          {d.outputs.length === 0 ? (
            <p class="muted">No outputs.</p>
          ) : (
            <table class="outputs">
              <thead>
                <tr>
                  <th scope="col">Output</th>
                  <th scope="col">Value</th>
                  <th scope="col">Consumed by</th>
                </tr>
              </thead>
              <tbody>
                {d.outputs.map((o) => (
                  <tr key={o.name}>
                    <th scope="row">{o.name}</th>
                    <td>{!o.present ? <span class="muted">not recorded</span> : o.sensitive ? <span class="secret">sensitive: not shown</span> : <code class="value">{o.value}</code>}</td>
                    <td>
                      {o.consumers.length === 0 ? (
                        <span class="muted">nobody</span>
                      ) : (
                        o.consumers.map((c, i) => (
                          <span key={`${c.env}/${c.component}`}>
                            {i > 0 ? ', ' : ''}
                            <a href={href('graph', { env: c.env, component: c.component })}>{c.env === env ? c.component : `${c.env}/${c.component}`}</a>
                          </span>
                        ))
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}

          <h3>Last apply</h3>
          {!d.lastApply ? (
            <p class="muted">Never applied.</p>
          ) : (
            <dl class="kv">
              <div>
                <dt>When</dt>
                <dd>
                  <time dateTime={d.lastApply.appliedAt}>{when(d.lastApply.appliedAt)}</time>
                </dd>
              </div>
              <div>
                <dt>Result</dt>
                <dd>{d.lastApply.result}</dd>
              </div>
              <div>
                <dt>Commit</dt>
                <dd>{d.lastApply.commit ? <code>{d.lastApply.commit.slice(0, 12)}</code> : <span class="muted">none</span>}</dd>
              </div>
              {d.lastApply.error ? (
                <div>
                  <dt>Error</dt>
                  <dd class="error-text">{d.lastApply.error}</dd>
                </div>
              ) : null}
              {d.lastApply.drift ? (
                <div>
                  <dt>Drift check</dt>
                  <dd>
                    {d.lastApply.drift.drifted ? 'drifted' : 'no drift'} (<time dateTime={d.lastApply.drift.checkedAt}>{when(d.lastApply.drift.checkedAt)}</time>){d.lastApply.drift.summary ? `: ${d.lastApply.drift.summary}` : ''}
                  </dd>
                </div>
              ) : null}
            </dl>
          )}

          <h3>Applying it would also apply</h3>
          {impact.error ? <p class="alert">{impact.error}</p> : !impact.data ? <p class="loading">Loading…</p> : <ImpactSummary impact={impact.data} statuses={statuses} />}
        </>
      )}
    </aside>
  );
}

export function ImpactSummary({ impact, statuses }: { readonly impact: Impact; readonly statuses?: ReadonlyMap<string, string> }) {
  const others = impact.otherEnvironments.filter((o) => o.waves.length > 0);
  const here = impact.waves.flat().filter((c) => c !== impact.component);
  if (here.length === 0 && others.length === 0) return <p class="muted">Nothing else: no component consumes it.</p>;
  return (
    <>
      <Waves env={impact.env} waves={impact.waves} {...(statuses ? { statuses } : {})} />
      {others.map((o) => (
        <div key={o.env}>
          <p class="muted">In {o.env}:</p>
          <Waves env={o.env} waves={o.waves} />
        </div>
      ))}
    </>
  );
}

/** An input as written: text, a reference (`${...}`, a secret's included) marked as such, or JSON. */
function InputValue({ value }: { readonly value: unknown }) {
  if (typeof value === 'string') {
    const isRef = /^\$\{[^}]+\}$/.test(value);
    return <code class={isRef ? (value.startsWith('${ssm:') ? 'ref secret-ref' : 'ref') : 'value'}>{value}</code>;
  }
  return <code class="value">{JSON.stringify(value)}</code>;
}
