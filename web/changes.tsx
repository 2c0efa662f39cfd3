/**
 * Changes and the queue: every change, newest first (GET /changes), live through GET /events; one change with its
 * plan summary, its history and the Apply decision (POST /changes/{id}/apply), which queues it.
 */
import { useState } from 'preact/hooks';
import type { ApplyStarted, Change, Changes, PlanOutcome, Proposed, ServiceEvent } from '../lib/api/types.ts';
import { get, messageOf, post, SignedOut } from './api.ts';
import { Diff } from './diff.tsx';
import { useEventVersion } from './live.ts';
import { href } from './router.ts';
import { WorkBadge } from './status.tsx';
import { utc, when } from './time.ts';
import { useFetch } from './use-fetch.ts';
import { Alert } from './alert.tsx';

const isChangeEvent = (e: ServiceEvent): boolean => e.type === 'change.queued' || e.type === 'change.started' || e.type === 'change.finished';

export function ChangesView({ params }: { readonly params: Readonly<Record<string, string>> }) {
  const version = useEventVersion(isChangeEvent);
  const changes = useFetch((signal) => get<Changes>('/changes', { limit: 50 }, signal), [version]);
  const open = params['id'];
  const list = changes.data?.changes ?? [];
  const active = list.filter((c) => c.status === 'queued' || c.status === 'applying');
  return (
    <div class="page">
      <h1>Changes</h1>
      {open ? <ChangeCard id={open} /> : null}
      <section aria-labelledby="queue-title" class="card">
        <h2 id="queue-title">Queue</h2>
        <p role="status">{changes.data ? (active.length === 0 ? 'Nothing queued or applying.' : `${active.length} queued or applying.`) : 'Loading…'}</p>
        {active.length > 0 ? <ChangeTable changes={active} /> : null}
      </section>
      <section aria-labelledby="all-title" class="card">
        <h2 id="all-title">Recent changes</h2>
        <Alert message={changes.error} />
        {changes.data && list.length === 0 ? <p class="muted">No changes yet: propose one from a component's details.</p> : <ChangeTable changes={list} />}
      </section>
    </div>
  );
}

function ChangeTable({ changes }: { readonly changes: readonly Change[] }) {
  return (
    <div class="table-scroll">
      <table class="changes">
        <thead>
          <tr>
            <th scope="col">Change</th>
            <th scope="col">Component</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((c) => (
            <tr key={c.id}>
              <th scope="row">
                <a href={href('changes', { id: c.id })}>{c.id}</a>
              </th>
              <td>
                <a href={href('graph', { env: c.env, component: c.component })}>
                  {c.component} <span class="muted">in {c.env}</span>
                </a>
              </td>
              <td>
                <WorkBadge status={c.status} />
              </td>
              <td>
                <time dateTime={c.createdAt}>{when(c.createdAt)}</time>
              </td>
              <td>{c.message ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function PlanSummary({ plan }: { readonly plan: PlanOutcome }) {
  if (!plan) return <p class="muted">Not planned.</p>;
  if (plan.status === 'skipped') return <p class="muted">Plan skipped: {plan.reason}</p>;
  if (plan.status === 'failed') {
    return (
      <div>
        <p class="alert">The plan failed: {plan.error}</p>
        {plan.log ? (
          <details>
            <summary>Terraform's output</summary>
            <pre class="log">{plan.log}</pre>
          </details>
        ) : null}
      </div>
    );
  }
  return (
    <div>
      <p class="plan-line">
        <span class="plan-add">{plan.add} to add</span>, <span class="plan-change">{plan.change} to change</span>, <span class={plan.destroy > 0 ? 'plan-destroy danger' : 'plan-destroy'}>{plan.destroy} to destroy</span>
      </p>
      {plan.resources.length > 0 ? (
        <ul class="resources">
          {plan.resources.map((r) => (
            <li key={r.address}>
              <span class={`action action-${r.action}`}>{r.action}</span> <code>{r.address}</code>
            </li>
          ))}
        </ul>
      ) : null}
      <p class="muted">
        Planned <time dateTime={plan.plannedAt}>{when(plan.plannedAt)}</time> at <code>{plan.commit.slice(0, 12)}</code>; valid until <time dateTime={plan.expiresAt}>{utc(plan.expiresAt)}</time>.
      </p>
    </div>
  );
}

/** One change, live: status, plan summary, Apply, history. */
export function ChangeCard({ id, proposed }: { readonly id: string; readonly proposed?: Proposed }) {
  const version = useEventVersion((e) => isChangeEvent(e) && 'change' in e && e.change === id);
  const change = useFetch((signal) => get<Change>(`/changes/${encodeURIComponent(id)}`, {}, signal), [id, version]);
  const [allowDestroy, setAllowDestroy] = useState(false);
  const [applying, setApplying] = useState(false);
  const [error, setError] = useState('');
  const c = change.data?.id === id ? change.data : undefined;
  const plan = c?.plan ?? proposed?.plan ?? null;
  const destroys = plan?.status === 'planned' && plan.destroy > 0;
  const canApply = c !== undefined && c.status === 'proposed' && c.open && (!destroys || allowDestroy) && !applying;

  const apply = async (): Promise<void> => {
    setApplying(true);
    setError('');
    try {
      await post<ApplyStarted>(`/changes/${encodeURIComponent(id)}/apply`, destroys ? { allowDestroy: true } : undefined);
    } catch (e) {
      if (!(e instanceof SignedOut)) setError(messageOf(e));
    } finally {
      setApplying(false);
    }
  };

  return (
    <section class="card change-card" aria-labelledby={`change-${id}`}>
      <h2 id={`change-${id}`}>
        Change <code>{id}</code>
      </h2>
      <Alert message={change.error} />
      {!c ? (
        <p class="loading">Loading…</p>
      ) : (
        <>
          <p class="status-line" role="status" aria-live="polite">
            <span>Status:</span> <WorkBadge status={c.status} /> <span>{statusSentence(c)}</span>
          </p>
          <p>
            <a href={href('graph', { env: c.env, component: c.component })}>
              {c.component} in {c.env}
            </a>
            {c.message ? ` — ${c.message}` : ''}
          </p>
          {proposed ? (
            <>
              <h3>Diff</h3>
              <Diff proposed={proposed} />
            </>
          ) : null}
          <h3>Terraform plan</h3>
          <PlanSummary plan={plan} />
          {c.status === 'proposed' ? (
            <div class="apply-box">
              {destroys ? (
                <p class="checkbox">
                  <input id={`allow-destroy-${id}`} type="checkbox" checked={allowDestroy} onChange={(e) => setAllowDestroy(e.currentTarget.checked)} />
                  <label for={`allow-destroy-${id}`}>I accept that this plan destroys or replaces resources</label>
                </p>
              ) : null}
              <button type="button" class="primary" disabled={!canApply} onClick={() => void apply()}>
                {applying ? 'Queueing…' : 'Apply'}
              </button>
              <p class="hint">Applying queues the change: one apply per environment at a time, exactly this plan.</p>
            </div>
          ) : null}
          <Alert message={error} />
          {c.reason ? <p class="alert">{c.reason}</p> : null}
          <details>
            <summary>History ({c.history.length})</summary>
            <ol class="history">
              {c.history.map((h) => (
                <li key={h.id}>
                  <time dateTime={h.at}>{when(h.at)}</time> {h.action} by {h.actor}
                  {h.result ? `: ${h.result}` : ''}
                </li>
              ))}
            </ol>
          </details>
        </>
      )}
    </section>
  );
}

function statusSentence(c: Change): string {
  switch (c.status) {
    case 'proposed':
      return c.open ? 'Proposed and planned: waiting for a decision.' : 'Proposed; its branch is gone.';
    case 'queued':
      return 'Queued: waiting for the environment.';
    case 'applying':
      return 'Applying now.';
    case 'succeeded':
      return 'Applied.';
    case 'failed':
      return 'The apply failed.';
    case 'rejected':
      return 'Rejected.';
  }
}
