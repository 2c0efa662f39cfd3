/**
 * Read-only queries, whose results are what the CLI's `--json` prints (and what an API route or
 * the UI returns): `graph order` for one environment or all of them, `graph why` as structured steps, and
 * `runtime list` with the external parameters the config references.
 */
import type { Build } from '../core/graph.ts';
import { destroyOrder, orderAll, orphansIn, planEnv, type Skipped, type Waves } from '../core/order.ts';
import { ORPHAN_ADVICE, type Status } from '../core/status.ts';
import { dagOf } from '../core/dag.ts';
import type { Config } from '../core/model.ts';
import type { Parameter, ParameterType } from '../core/runtime.ts';
import type { RuntimeStore } from '../ports.ts';

/** Which order: what needs an apply (default), every component (`all`), or the reverse of that (`destroy`). */
export type OrderMode = 'apply' | 'all' | 'destroy';

export interface EnvironmentOrder {
  readonly env: string;
  readonly waves: Waves;
  /** Mode `apply` only: components that need work but cannot be applied now, with why. */
  readonly skipped?: readonly Skipped[];
  /** Deployments gone from the config whose resources remain: in no wave, always named. */
  readonly orphaned: readonly Skipped[];
}

/** The waves of one environment (`karma graph order --env ENV --json`). */
export function environmentOrderOf(build: Build, env: string, mode: OrderMode = 'apply'): EnvironmentOrder {
  const order = mode === 'destroy' ? destroyOrder(build, env) : mode === 'all' ? orderAll(build, env) : planEnv(build, env);
  return { env: order.env, waves: order.waves, ...(mode === 'apply' ? { skipped: order.skipped } : {}), orphaned: orphansIn(build, env) };
}

/**
 * Every environment's waves (`karma graph order --json` without --env), environments in the order a run
 * applies them: one whose components consume another's outputs (`${env:...}`) comes after it, so shared
 * environments come first; ties by name. For `destroy`, the reverse: dependents' environments first.
 */
export function allEnvironmentsOrder(build: Build, mode: OrderMode = 'apply'): { environments: EnvironmentOrder[] } {
  const envs = dagOf(build.config).environmentOrder([...build.config.project.environments.keys()]);
  if (mode === 'destroy') envs.reverse();
  return { environments: envs.map((env) => environmentOrderOf(build, env, mode)) };
}

/** One line of `graph why`'s chain, as data. */
export type WhyStep =
  /** A deployment and its status: the subject first, then each upstream that blocks it (depth + 1). */
  | { readonly kind: 'status'; readonly depth: number; readonly env: string; readonly component: string; readonly status: Status; readonly reason: string }
  /** What a blocked deployment would be once its blockers are resolved (its own status, when not in-sync). */
  | { readonly kind: 'once-unblocked'; readonly depth: number; readonly env: string; readonly component: string; readonly status: Status; readonly reason: string }
  /** What to do about an orphaned deployment. */
  | { readonly kind: 'advice'; readonly depth: number; readonly env: string; readonly component: string; readonly advice: string };

export interface Why {
  readonly env: string;
  readonly component: string;
  readonly status: Status;
  readonly reason: string;
  readonly chain: readonly WhyStep[];
}

/**
 * Why `component` in `env` has its status: the deployment, then depth-first each upstream that blocks it
 * (each explained once, in the order of its blockers), a blocked deployment's own status after its
 * upstreams. Iterative, so a chain thousands deep does not overflow the stack.
 */
export function whyOf(build: Build, env: string, component: string): Why {
  const statuses = build.statuses;
  const subject = statuses.get(`${env}/${component}`);
  if (!subject) throw new Error(`no status for ${env}/${component}`);
  const chain: WhyStep[] = [];
  const seen = new Set<string>();
  // A deployment to explain, or a step to emit once everything above it in the stack has been emitted.
  const work: ({ readonly key: string; readonly depth: number } | { readonly step: WhyStep })[] = [{ key: `${env}/${component}`, depth: 0 }];
  while (work.length > 0) {
    const item = work.pop()!;
    if ('step' in item) {
      chain.push(item.step);
      continue;
    }
    const { key, depth } = item;
    if (seen.has(key)) continue;
    seen.add(key);
    const s = statuses.get(key);
    if (!s) continue;
    chain.push({ kind: 'status', depth, env: s.env, component: s.component, status: s.status, reason: s.reason });
    if (s.status === 'orphaned') chain.push({ kind: 'advice', depth: depth + 1, env: s.env, component: s.component, advice: ORPHAN_ADVICE(s.component, s.env) });
    if (s.status !== 'blocked') continue;
    if (s.own !== 'in-sync') work.push({ step: { kind: 'once-unblocked', depth: depth + 1, env: s.env, component: s.component, status: s.own, reason: s.ownReason } });
    // Pushed in reverse so the first blocker is explained first.
    for (let b = s.blockers.length - 1; b >= 0; b--) {
      const blocker = s.blockers[b]!;
      if (blocker.kind === 'upstream') work.push({ key: `${blocker.env}/${blocker.component}`, depth: depth + 1 });
    }
  }
  return { env: subject.env, component: subject.component, status: subject.status, reason: subject.reason, chain };
}

/** A parameter as `runtime list` shows it: a SecureString's value is never returned, only `(secure)`. */
export interface ListedParameter {
  readonly name: string;
  readonly version: number;
  readonly type: ParameterType;
  readonly lastModified: string;
  readonly value: string;
}

/** An external parameter (`${ssm:/path}`) the config references, whether it exists or not. */
export interface ExternalParameter {
  readonly name: string;
  readonly exists: boolean;
  /** null when it does not exist. */
  readonly version: number | null;
  readonly type: ParameterType | null;
  readonly lastModified: string | null;
  readonly value: string | null;
  /** The deployments whose inputs reference it. */
  readonly usedBy: readonly { readonly env: string; readonly component: string }[];
}

export const SECURE_VALUE = '(secure)';

/**
 * `karma runtime list [--env ENV]`: the parameters under the prefix (of one environment, with `env`), and the
 * external parameters the config references (those of `env`'s deployments, with `env`), by name.
 */
export async function runtimeListing(config: Config, runtime: RuntimeStore, env?: string): Promise<{ parameters: ListedParameter[]; external: ExternalParameter[] }> {
  const path = env ? `${config.project.parameterPrefix}/${env}` : config.project.parameterPrefix;
  const shown = (p: Parameter): ListedParameter => ({ name: p.name, version: p.version, type: p.type, lastModified: p.lastModified, value: p.type === 'SecureString' ? SECURE_VALUE : p.value });
  const parameters = (await runtime.readPath(path)).map(shown);
  const usedBy = new Map<string, { env: string; component: string }[]>();
  for (const d of config.deployments) {
    if (env !== undefined && d.env !== env) continue;
    for (const r of d.references) {
      if (r.kind !== 'ssm') continue;
      const list = usedBy.get(r.path) ?? [];
      if (!list.some((u) => u.env === d.env && u.component === d.component)) list.push({ env: d.env, component: d.component });
      usedBy.set(r.path, list);
    }
  }
  const names = [...usedBy.keys()].sort();
  const found = new Map((names.length > 0 ? await runtime.readNames(names) : []).map((p) => [p.name, shown(p)]));
  const external = names.map((name): ExternalParameter => {
    const p = found.get(name);
    const users = usedBy.get(name)!.sort((a, b) => (a.env === b.env ? (a.component < b.component ? -1 : 1) : a.env < b.env ? -1 : 1));
    return p
      ? { name, exists: true, version: p.version, type: p.type, lastModified: p.lastModified, value: p.value, usedBy: users }
      : { name, exists: false, version: null, type: null, lastModified: null, value: null, usedBy: users };
  });
  return { parameters, external };
}
