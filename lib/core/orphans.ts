/**
 * Removed deployments. Deleting `environments/<env>/<component>.json` takes the deployment out of the config,
 * but not its resources out of the cloud: the graph would simply forget it, the pipeline would have nothing to
 * do, and the resources would live on unnoticed. So a deployment that is NOT in the config while the runtime
 * still holds its record — the state parameter `<prefix>/<env>/<component>/state` (a successful or failed
 * apply) and/or output parameters `<prefix>/<env>/<component>/outputs/<name>` — is `orphaned`, with a reason
 * that says when it was last applied and, when the config comes from Git, which commit removed it.
 *
 * The runtime read by every build already covers each declared environment's whole subtree
 * (`<prefix>/<env>/`, one GetParametersByPath walk per environment), so finding orphans costs no extra read.
 * An environment removed from karma.yaml is not read at all: its deployments are not reported here.
 *
 * Pure: the removal commits (found in Git history by an adapter) come in as a plain map.
 */
import { deploymentKey, type Config } from './model.ts';
import { parseState, type ComponentState, type RuntimeSnapshot } from './runtime.ts';
import type { ComponentStatus } from './status.ts';
import { plural } from '../shared/plural.ts';

/** Where a removed deployment was last seen in Git. */
export interface Removal {
  /** The env file in the last commit that had it (`environments/karma-dev/app.json`). */
  readonly file?: string;
  /** The newest commit whose tree still has the deployment: its module and inputs can be read there. */
  readonly lastCommit?: string;
  /** The commit that removed the env file (a child of `lastCommit`), with its committer date. */
  readonly removedIn?: { readonly commit: string; readonly at: string };
  /** The file is in the HEAD commit but not in the working tree: removed, not committed yet. */
  readonly uncommitted?: boolean;
}

export interface Orphan {
  readonly env: string;
  readonly component: string;
  /** `<prefix>/<env>/<component>/state` when it exists. */
  readonly statePath?: string;
  readonly state?: ComponentState;
  /** Why the state parameter could not be read, when it exists but is not a valid record. */
  readonly stateProblem?: string;
  /** Output parameters left behind, by output name. */
  readonly outputs: ReadonlyMap<string, string>;
  readonly removal?: Removal;
  readonly reason: string;
}


function lastApply(o: { state?: ComponentState; stateProblem?: string; outputs: ReadonlyMap<string, string> }): string {
  const s = o.state;
  if (s) {
    const at = `${s.appliedAt}${s.commit ? ` (commit ${s.commit.slice(0, 7)})` : ''}`;
    return s.result === 'failed' ? `its last apply failed at ${at}` : `last applied at ${at}`;
  }
  if (o.stateProblem) return `state unreadable: ${o.stateProblem}`;
  return `${plural(o.outputs.size, 'output')} left without an apply record`;
}

function removedWhere(removal: Removal | undefined): string {
  if (removal?.removedIn) return `removed from the config in commit ${removal.removedIn.commit.slice(0, 7)} (${removal.removedIn.at})`;
  if (removal?.uncommitted) return `removed from the config in the working tree (not committed yet)`;
  return 'no longer in the config';
}

/**
 * Every deployment of a declared environment that the runtime knows (state or outputs) and the config does
 * not, sorted by env then component. `removals` (by `env/component`) adds where each was removed.
 */
export function findOrphans(config: Config, runtime: RuntimeSnapshot, removals: ReadonlyMap<string, Removal> = new Map()): Orphan[] {
  const prefix = `${config.project.parameterPrefix}/`;
  const deployed = new Set(config.deployments.map((d) => deploymentKey(d.env, d.component)));
  const found = new Map<string, { env: string; component: string; statePath?: string; outputs: Map<string, string> }>();
  for (const name of runtime.keys()) {
    if (!name.startsWith(prefix)) continue;
    // Most names belong to a deployment of the config (<prefix>/<env>/<component>/...): one slice tells, before
    // splitting the name (a large runtime has ~100,000 parameters, and this runs twice per build).
    const second = name.indexOf('/', name.indexOf('/', prefix.length) + 1);
    if (second > 0 && deployed.has(name.slice(prefix.length, second))) continue;
    const parts = name.slice(prefix.length).split('/');
    const [env, component, kind, output] = parts;
    if (!env || !component || !config.project.environments.has(env)) continue;
    const isState = parts.length === 3 && kind === 'state';
    const isOutput = parts.length === 4 && kind === 'outputs' && !!output;
    if (!isState && !isOutput) continue;
    const key = deploymentKey(env, component);
    if (deployed.has(key)) continue;
    let entry = found.get(key);
    if (!entry) found.set(key, (entry = { env, component, outputs: new Map() }));
    if (isState) entry.statePath = name;
    else entry.outputs.set(output!, name);
  }
  const orphans: Orphan[] = [];
  for (const key of [...found.keys()].sort()) {
    const e = found.get(key)!;
    const read = e.statePath ? parseState(runtime.get(e.statePath)) : ({ kind: 'absent' } as const);
    const removal = removals.get(key);
    const base = {
      env: e.env,
      component: e.component,
      outputs: new Map([...e.outputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      ...(e.statePath ? { statePath: e.statePath } : {}),
      ...(read.kind === 'ok' ? { state: read.state } : {}),
      ...(read.kind === 'unreadable' ? { stateProblem: read.reason } : {}),
      ...(removal ? { removal } : {}),
    };
    orphans.push({ ...base, reason: `${removedWhere(removal)}; ${lastApply(base)}` });
  }
  return orphans;
}

/** An orphan as a status: it has no upstreams, no plan, only the record of its last apply. */
export function orphanStatus(o: Orphan): ComponentStatus {
  return {
    env: o.env,
    component: o.component,
    status: 'orphaned',
    reason: o.reason,
    own: 'orphaned',
    ownReason: o.reason,
    blockers: [],
    ...(o.state ? { state: o.state } : {}),
  };
}
