/**
 * Statuses. Every component in every environment gets exactly one, always with a reason.
 *
 * Own status (the component alone, first match wins):
 *   never-applied  no state parameter
 *   failed         the last apply failed, or its state parameter is unreadable
 *   pending        its config hash (inputs as written + component.yaml + module files) differs from the applied one
 *   stale-inputs   an output or parameter it consumes has a newer version than the one it was applied with
 *   drifted        the last drift check found changes
 *   in-sync        none of the above
 *
 * A deployment gone from the config whose runtime record remains is `orphaned` (lib/core/orphans.ts): it has
 * no config to compute any of the above from, only the record of its last apply.
 *
 * Effective status: `blocked` replaces an own status that needs an apply (never-applied, pending,
 * stale-inputs, drifted) when an upstream it depends on is failed, never-applied or blocked; and replaces any
 * status but failed when a value it consumes is missing (an upstream output not in the runtime store, an
 * external parameter that does not exist), since it could not be applied at all. An in-sync component with a
 * failed upstream stays in-sync: it is running what it was applied with. docs/statuses.md explains why.
 */
import type { Config, Deployment } from './model.ts';
import { deploymentKey, outputParamPath, stateParamPath } from './model.ts';
import { parseState, type ComponentState, type RuntimeSnapshot } from './runtime.ts';
import { dagOf, type DeploymentDag } from './dag.ts';

import { STATUSES, type Status } from './status-names.ts';

export { STATUSES, type Status };

export type Blocker =
  | { readonly kind: 'upstream'; readonly env: string; readonly component: string; readonly status: Status }
  | { readonly kind: 'missing-output'; readonly env: string; readonly component: string; readonly output: string; readonly path: string }
  | { readonly kind: 'missing-parameter'; readonly path: string };

export interface ComponentStatus {
  readonly env: string;
  readonly component: string;
  readonly status: Status;
  /** Why, without the status word: "cache is failed", "config changed since the apply at ...". */
  readonly reason: string;
  /** The status it would have without its upstreams. */
  readonly own: Status;
  readonly ownReason: string;
  readonly blockers: readonly Blocker[];
  readonly state?: ComponentState;
}

const NEEDS_APPLY: ReadonlySet<Status> = new Set(['never-applied', 'pending', 'stale-inputs', 'drifted']);

/** What to do about an orphaned deployment: the same words in `graph why`, the warnings and the notification. */
export const ORPHAN_ADVICE = (component: string, env: string): string =>
  `its resources still exist: karma destroy ${component} ${env} (destroy them) or karma forget ${component} ${env} (drop the record)`;

export function needsApply(status: Status): boolean {
  return NEEDS_APPLY.has(status) || status === 'failed';
}

function since(state: ComponentState): string {
  return `${state.appliedAt}${state.commit ? ` (commit ${state.commit.slice(0, 7)})` : ''}`;
}

/** `paths[i]` is the parameter `d.references[i]` reads. */
function ownStatus(d: Deployment, paths: readonly string[], runtime: RuntimeSnapshot, prefix: string): { status: Status; reason: string; state?: ComponentState } {
  const read = parseState(runtime.get(stateParamPath(prefix, d.env, d.component)));
  if (read.kind === 'absent') return { status: 'never-applied', reason: `never applied in ${d.env}` };
  if (read.kind === 'unreadable') return { status: 'failed', reason: `state unreadable: ${read.reason}; re-apply to rewrite it` };
  const state = read.state;
  if (state.result === 'failed') {
    return { status: 'failed', reason: `apply failed at ${since(state)}${state.error ? `: ${state.error}` : ''}`, state };
  }
  if (state.configHash !== d.configHash) {
    return { status: 'pending', reason: `config changed since the apply at ${since(state)}`, state };
  }
  for (let r = 0; r < d.references.length; r++) {
    const ref = d.references[r]!;
    const path = paths[r]!;
    const applied = state.consumed[path];
    const current = runtime.get(path);
    if (applied !== undefined && current && current.version > applied) {
      const what = ref.kind === 'ssm' ? path : `${ref.env === d.env ? '' : `${ref.env}/`}${ref.component}.${ref.output}`;
      return { status: 'stale-inputs', reason: `${what} is at version ${current.version}, applied with version ${applied}`, state };
    }
  }
  if (state.drift?.drifted) {
    return { status: 'drifted', reason: `drift check at ${state.drift.checkedAt} found changes${state.drift.summary ? `: ${state.drift.summary}` : ''}`, state };
  }
  return { status: 'in-sync', reason: `applied at ${since(state)}; config and inputs unchanged`, state };
}

function describeBlocker(b: Blocker, env: string): string {
  switch (b.kind) {
    case 'upstream':
      return `${b.env === env ? '' : `${b.env}/`}${b.component} is ${b.status}`;
    case 'missing-output':
      return `${b.env === env ? '' : `${b.env}/`}${b.component} has no output ${b.output} (${b.path})`;
    case 'missing-parameter':
      return `parameter ${b.path} does not exist`;
  }
}

/**
 * The status of the deployment at position `i` of `dag`, given the statuses of what it depends on
 * (`statusAt(j)` for every j in `dag.dependenciesAt(i)`; nothing else is asked). The one rule set that
 * computeStatuses (every deployment) and the live graph's incremental update (lib/core/live.ts: only the
 * deployments a changed parameter reaches) both run.
 *
 * Of an upstream's status it reads `env`, `component`, `status` and `own`, nothing else: a dependent needs
 * recomputing only when one of those changed ({@link affectsDependents}).
 */
export function deploymentStatus(dag: DeploymentDag, i: number, statusAt: (j: number) => ComponentStatus, runtime: RuntimeSnapshot, prefix: string): ComponentStatus {
  const d = dag.deployments[i]!;
  const paths = referencePaths(d, prefix);
  const own = ownStatus(d, paths, runtime, prefix);
  const blockers: Blocker[] = [];
  for (const j of dag.dependenciesAt(i)) {
    const upstream = statusAt(j);
    if (upstream.status === 'failed' || upstream.status === 'never-applied' || upstream.status === 'blocked') {
      blockers.push({ kind: 'upstream', env: upstream.env, component: upstream.component, status: upstream.status });
    }
  }
  let missing = false;
  d.references.forEach((ref, r) => {
    const path = paths[r]!;
    if (runtime.has(path)) return;
    if (ref.kind === 'ssm') {
      blockers.push({ kind: 'missing-parameter', path });
      missing = true;
      return;
    }
    const at = dag.indexOf(deploymentKey(ref.env, ref.component));
    const upstream = at === undefined ? undefined : statusAt(at);
    const upstreamApplied = upstream !== undefined && upstream.own !== 'never-applied';
    const alreadyBlocking = blockers.some(
      (b) => (b.kind === 'missing-output' && b.path === path) || (b.kind === 'upstream' && b.env === ref.env && b.component === ref.component),
    );
    if (upstreamApplied && !alreadyBlocking) {
      blockers.push({ kind: 'missing-output', env: ref.env, component: ref.component, output: ref.output, path });
      missing = true;
    }
  });
  const blocked = blockers.length > 0 && own.status !== 'failed' && (missing || NEEDS_APPLY.has(own.status));
  return {
    env: d.env,
    component: d.component,
    status: blocked ? 'blocked' : own.status,
    reason: blocked ? blockers.map((b) => describeBlocker(b, d.env)).join('; ') : own.reason,
    own: own.status,
    ownReason: own.reason,
    blockers,
    ...(own.state ? { state: own.state } : {}),
  };
}

/** Whether a dependent of a deployment whose status went from `before` to `after` must be recomputed: what {@link deploymentStatus} reads of an upstream changed. */
export function affectsDependents(before: ComponentStatus, after: ComponentStatus): boolean {
  return before.status !== after.status || before.own !== after.own;
}

const pathsCache = new WeakMap<Deployment, { readonly prefix: string; readonly paths: readonly string[] }>();

/** `referencePaths(d, prefix)[r]` is the parameter `d.references[r]` reads (cached per deployment: they are immutable once parsed). */
export function referencePaths(d: Deployment, prefix: string): readonly string[] {
  const cached = pathsCache.get(d);
  if (cached?.prefix === prefix) return cached.paths;
  const paths = d.references.map((r) => (r.kind === 'ssm' ? r.path : outputParamPath(prefix, r.env, r.component, r.output)));
  pathsCache.set(d, { prefix, paths });
  return paths;
}

/** Statuses of every deployment, computed upstream-first (the config has no cycles: parseConfig checked). */
export function computeStatuses(config: Config, runtime: RuntimeSnapshot): Map<string, ComponentStatus> {
  const prefix = config.project.parameterPrefix;
  const dag = dagOf(config);
  const keys = dag.keys;
  const statuses: ComponentStatus[] = new Array<ComponentStatus>(dag.size);
  const statusAt = (j: number): ComponentStatus => statuses[j]!;
  // Dependencies first (the DAG's order), so every upstream's status is known when a component's is computed.
  for (const i of dag.orderPositions()) statuses[i] = deploymentStatus(dag, i, statusAt, runtime, prefix);
  // In the config's order (env, then component), whatever order they were computed in.
  const result = new Map<string, ComponentStatus>();
  for (let i = 0; i < keys.length; i++) result.set(keys[i]!, statuses[i]!);
  return result;
}

/** `graph why` stops indenting here (lib/cli/format.ts formatWhy): a 10,000-deep chain prints 10,000 lines, not 100 MB of leading spaces. */
export const MAX_EXPLAIN_INDENT = 32;
