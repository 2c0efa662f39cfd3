/**
 * Rollouts (GET /rollouts): one change carried through environments in order, each step's status live through
 * GET /events; a step waiting at a manual gate has Approve (POST /rollouts/{id}/approve).
 */
import { useState } from 'preact/hooks';
import type { Rollout, Rollouts } from '../lib/api/types.ts';
import { get, messageOf, post, SignedOut } from './api.ts';
import { useEventVersion } from './live.ts';
import { href } from './router.ts';
import { WorkBadge } from './status.tsx';
import { when } from './time.ts';
import { useFetch } from './use-fetch.ts';
import { Alert } from './alert.tsx';

export function RolloutsView() {
  const version = useEventVersion((e) => e.type === 'rollout.step' || e.type === 'rollout.finished');
  const rollouts = useFetch((signal) => get<Rollouts>('/rollouts', { limit: 20 }, signal), [version]);
  return (
    <div class="page">
      <h1>Rollouts</h1>
      <p class="muted">
        A rollout applies one change to environments in order, each after the one before succeeded. Start one with <code>karma rollout COMPONENT --env E1 --env E2 --input FILE --api URL</code> or POST /rollouts.
      </p>
      <Alert message={rollouts.error} />
      {!rollouts.data ? <p class="loading">Loading…</p> : rollouts.data.rollouts.length === 0 ? <p class="muted">No rollouts yet.</p> : rollouts.data.rollouts.map((r) => <RolloutCard key={r.id} rollout={r} />)}
    </div>
  );
}

function RolloutCard({ rollout }: { readonly rollout: Rollout }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const waiting = rollout.steps.find((s) => s.status === 'waiting-approval');
  const approve = async (): Promise<void> => {
    setBusy(true);
    setError('');
    try {
      await post(`/rollouts/${encodeURIComponent(rollout.id)}/approve`);
    } catch (e) {
      if (!(e instanceof SignedOut)) setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card rollout" aria-labelledby={`rollout-${rollout.id}`}>
      <h2 id={`rollout-${rollout.id}`}>
        {rollout.component} <span class="muted">rollout {rollout.id}</span>
      </h2>
      <p class="status-line">
        <WorkBadge status={rollout.status} /> <span>{rollout.message ?? ''}</span>{' '}
        <span class="muted">
          by {rollout.actor}, <time dateTime={rollout.createdAt}>{when(rollout.createdAt)}</time>, approval {rollout.approval}
        </span>
      </p>
      {rollout.reason ? <p class="alert">{rollout.reason}</p> : null}
      <ol class="steps">
        {rollout.steps.map((s) => (
          <li key={s.env} class={`step step-${s.status}`}>
            <span class="step-env">{s.env}</span> <WorkBadge status={s.status} />
            {s.change ? (
              <a href={href('changes', { id: s.change })} class="step-change">
                {s.change}
              </a>
            ) : null}
            {s.reason ? <span class="muted step-reason">{s.reason}</span> : null}
            {s.approvedBy ? <span class="muted"> approved by {s.approvedBy}</span> : null}
          </li>
        ))}
      </ol>
      {waiting ? (
        <p>
          <button type="button" class="primary" disabled={busy} onClick={() => void approve()}>
            Approve {waiting.env}
          </button>
        </p>
      ) : null}
      <Alert message={error} />
    </section>
  );
}
