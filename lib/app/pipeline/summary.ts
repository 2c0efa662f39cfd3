/**
 * What Summarize reports: one row per component the execution touched or left behind, from the build made after
 * the last round (`summaryRows`), and the table and counts of the Summary (`renderSummary`). No I/O here:
 * summarizeStep (steps.ts) builds, calls these and notifies.
 *
 * Rows per environment, in this order: the processed components (applied / failed / drifted / in-sync / planned),
 * then in apply mode what is left (skipped, with why; drifted and held by the drift policy), then the dependents
 * of drifted components (at-risk: they consume outputs of infrastructure that changed under Terraform), then the
 * orphaned deployments (listed on every run until destroyed or forgotten).
 */
import { dagOf } from '../../core/dag.ts';
import type { Build } from '../../core/graph.ts';
import { deploymentKey } from '../../core/model.ts';
import { holdsDrift, orphansIn, planEnv } from '../../core/order.ts';
import { planDetail, type PlanSummary } from '../../core/plan.ts';
import { ORPHAN_ADVICE } from '../../core/status.ts';
import { table } from '../../core/table.ts';
import type { PipelineState, ResultRow, Summary } from './model.ts';

/** The rows of the summary of `state`'s execution, read from `build` (the runtime as it now is). */
export function summaryRows(build: Build, state: PipelineState, planSummary?: (env: string, component: string) => PlanSummary | undefined): ResultRow[] {
  const { config } = build;
  const envs = state.build?.envs ?? [];
  const mode = state.run.mode;
  const only = state.run.components ? new Set(state.run.components) : undefined;
  const dag = dagOf(config);
  const rows: ResultRow[] = [];
  for (const env of envs) {
    const processed = (state.progress?.processed ?? []).filter((p) => p.env === env);
    const drifted: string[] = [];
    for (const p of processed) {
      const s = build.statuses.get(deploymentKey(env, p.component))!;
      // The state this execution's apply (or drift check) wrote says how long its init took.
      const init = (own: boolean) => (own && s.state?.initMillis !== undefined ? { initMillis: s.state.initMillis } : {});
      if (!p.ok) {
        const reason = s.own === 'failed' ? s.ownReason : (p.detail ?? p.error ?? 'the apply step failed');
        rows.push({
          env,
          component: p.component,
          result: 'failed',
          detail: p.log && !reason.includes(p.log) ? `${reason} (log: ${p.log})` : reason,
          ...init(s.own === 'failed' && mode === 'apply'),
        });
      } else if (mode === 'apply') {
        rows.push({ env, component: p.component, result: 'applied', detail: s.own === 'in-sync' ? 'in-sync' : `${s.status}: ${s.reason}`, ...init(true) });
      } else if (mode === 'drift') {
        const isDrifted = s.state?.drift?.drifted === true;
        if (isDrifted) drifted.push(p.component);
        rows.push({ env, component: p.component, result: isDrifted ? 'drifted' : 'in-sync', detail: isDrifted ? (s.state?.drift?.summary ?? 'changes found') : 'no changes', ...init(true) });
      } else {
        const plan = planSummary?.(env, p.component);
        if (plan) {
          // Bounded: the summary travels in the state machine's payload (256 KiB).
          const resources = plan.resources.slice(0, 100).map((r) => ({ address: r.address, action: r.action }));
          rows.push({ env, component: p.component, result: 'planned', detail: planDetail(plan), plan: { add: plan.add, change: plan.change, destroy: plan.destroy, line: plan.line, resources } });
        } else {
          rows.push({ env, component: p.component, result: 'planned', detail: 'terraform plan ran; see the build log' });
        }
      }
    }
    if (mode === 'apply') {
      const done = new Set(processed.map((p) => p.component));
      const holdDrift = holdsDrift(config.project, env, state.run.trigger);
      const left = planEnv(build, env, { exclude: done, holdDrift, ...(only ? { only } : {}) });
      for (const s of left.skipped) {
        if (!done.has(s.component)) rows.push({ env, component: s.component, result: 'skipped', detail: `${s.status}: ${s.reason}` });
      }
      for (const s of left.held ?? []) {
        drifted.push(s.component);
        rows.push({
          env,
          component: s.component,
          result: 'drifted',
          detail: `${s.reason}; not reverted (drift.onTrigger is report for a ${state.run.trigger} run): run karma pipeline run --env ${env} to revert it, or change the config to match`,
        });
      }
    }
    if (drifted.length > 0) {
      const driftedKeys = new Set(drifted.map((c) => deploymentKey(env, c)));
      // Dependents in the same environment, transitively (the drifted components themselves excluded).
      const risk = dag.downstream(driftedKeys, { env }).filter((k) => !driftedKeys.has(k));
      // A drift check lists a dependent twice (its own check, and at risk); an apply run lists each component once.
      const listed = new Set(mode === 'drift' ? drifted : rows.filter((r) => r.env === env).map((r) => r.component));
      for (const key of risk) {
        const component = key.slice(env.length + 1);
        if (listed.has(component)) continue;
        const through = dag.upstream([key], { env }).filter((k) => driftedKeys.has(k));
        rows.push({ env, component, result: 'at-risk', detail: `depends on drifted ${through.map((k) => k.slice(env.length + 1)).join(', ')}` });
      }
    }
    for (const o of orphansIn(build, env)) rows.push({ env, component: o.component, result: 'orphaned', detail: `${o.reason}; ${ORPHAN_ADVICE(o.component, env)}` });
  }
  return rows;
}

/** The Summary of these rows: counts, and the table (with an INIT column when any row knows its init time). */
export function renderSummary(mode: Summary['mode'], envs: readonly string[], rows: readonly ResultRow[]): Summary {
  const count = (r: ResultRow['result']): number => rows.filter((x) => x.result === r).length;
  const text =
    rows.length === 0
      ? `nothing to do in ${envs.join(', ') || 'no environment'}`
      : rows.some((r) => r.initMillis !== undefined)
        ? table(['ENV', 'COMPONENT', 'RESULT', 'DETAIL', 'INIT'], rows.map((r) => [r.env, r.component, r.result, r.detail, r.initMillis === undefined ? '' : formatMillis(r.initMillis)]))
        : table(['ENV', 'COMPONENT', 'RESULT', 'DETAIL'], rows.map((r) => [r.env, r.component, r.result, r.detail]));
  return {
    mode,
    envs: [...envs],
    rows: [...rows],
    applied: count('applied'),
    failed: count('failed'),
    skipped: count('skipped'),
    drifted: count('drifted'),
    orphaned: count('orphaned'),
    text,
  };
}

/** `412 ms`, `3.2 s`. */
export function formatMillis(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
