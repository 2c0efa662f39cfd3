/**
 * Read-only queries over a build, whose results are what the CLI's `--json` prints (and what an API route or
 * the UI returns): `graph order` for one environment or all of them, and `graph why` as structured steps.
 */
import type { Build } from '../core/graph.ts';
import { destroyOrder, orderAll, orphansIn, planEnv, type Skipped, type Waves } from '../core/order.ts';
import { ORPHAN_ADVICE, type Status } from '../core/status.ts';
import { environmentOrder } from './pipeline/steps.ts';

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
  const envs = environmentOrder(build.config, [...build.config.project.environments.keys()]);
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
