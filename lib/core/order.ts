/**
 * Ordering: which components to apply, and in which waves.
 *
 * A wave is a set of components that can be applied in parallel. Waves are topological generations of the
 * environment's dependency graph (lib/core/dag.ts, the one index every ordering reads), restricted to the
 * selected components, with one twist: a selected component also waits for selected components it depends on
 * THROUGH unselected ones. If a → b → c and only a and c are selected, c goes after a: applying a may change b's
 * inputs, b is then re-planned, and c must come after b — otherwise c would be applied twice in one run.
 * Within a wave, components are sorted by name, so the same graph always gives the same waves (Terragrunt's
 * queue and Terramate's DAG make the same choice). Destroy order is the reverse of the full order.
 */
import type { Build } from './graph.ts';
import { NotFoundError, notDeployed } from './errors.ts';
import type { Config, Deployment, ProjectConfig } from './model.ts';
import { deploymentKey } from './model.ts';
import { dagOf, type Waves } from './dag.ts';
import { requireEnvironment } from './config.ts';
import { needsApply, type ComponentStatus } from './status.ts';

export { layeredWaves, type Waves } from './dag.ts';

function envDeployments(config: Config, env: string): Map<string, Deployment> {
  requireEnvironment(config, env);
  return new Map(config.deployments.filter((d) => d.env === env).map((d) => [d.component, d]));
}

/** Waves of one environment (keys `env/component`) → waves of component names. */
function namesIn(env: string, waves: Waves): Waves {
  return waves.map((w) => w.map((k) => k.slice(env.length + 1)));
}

/** Waves of `selected` (component names) in `env`, counting that environment's dependencies only. */
function envWaves(config: Config, env: string, selected: Iterable<string>): Waves {
  const keys = [...selected].map((n) => deploymentKey(env, n));
  return namesIn(env, dagOf(config).generations({ env, selected: keys }));
}

export interface Skipped {
  readonly component: string;
  readonly status: string;
  readonly reason: string;
}

export interface EnvOrder {
  readonly env: string;
  readonly waves: Waves;
  /** Components that need work but cannot be applied in this run, with why. */
  readonly skipped: readonly Skipped[];
  /** Drifted components this run leaves alone (`holdDrift`): reported, not reverted. */
  readonly held?: readonly Skipped[];
  /** Deployments gone from the config whose resources remain (status orphaned): never planned, always reported. */
  readonly orphaned?: readonly Skipped[];
}

/** The orphaned deployments of `env` (see orphans.ts), by name. */
export function orphansIn(build: Build, env: string): Skipped[] {
  return build.orphans.filter((o) => o.env === env).map((o) => ({ component: o.component, status: 'orphaned', reason: o.reason }));
}

/**
 * Whether a run leaves drifted components alone in `env`: a run started by an event (a parameter change, a
 * push, a schedule) under the drift policy `report` (the default). A manual run applies what it plans.
 */
export function holdsDrift(project: ProjectConfig, env: string, trigger: string): boolean {
  if (trigger === 'manual') return false;
  return (project.environments.get(env)?.drift ?? project.drift).onTrigger === 'report';
}

/** Every component of the environment, in dependency order. */
export function orderAll(build: Build, env: string): EnvOrder {
  requireEnvironment(build.config, env);
  return { env, waves: namesIn(env, dagOf(build.config).generations({ env })), skipped: [] };
}

/** Reverse of orderAll: dependents first. */
export function destroyOrder(build: Build, env: string): EnvOrder {
  const all = orderAll(build, env);
  return { env, waves: [...all.waves].reverse(), skipped: [] };
}

/**
 * What needs an apply in `env`, in waves: never-applied, pending, stale-inputs, drifted and failed
 * components, plus blocked ones whose every blocker is itself planned in this environment. `exclude` removes
 * components (the pipeline passes those already applied in this execution: each applies at most once);
 * `only` restricts the plan to the named components. `holdDrift` leaves out components whose only reason to
 * apply is drift (status drifted) and returns them in `held` (see holdsDrift).
 */
export function planEnv(
  build: Build,
  env: string,
  options: { exclude?: ReadonlySet<string>; only?: ReadonlySet<string>; holdDrift?: boolean } = {},
): EnvOrder {
  const all = envDeployments(build.config, env);
  // `only`: an operator asked for these components; the others are left alone, even if they need an apply.
  const deployments = options.only ? new Map([...all].filter(([name]) => options.only!.has(name))) : all;
  const exclude = options.exclude ?? new Set<string>();
  const status = (name: string): ComponentStatus => build.statuses.get(deploymentKey(env, name))!;
  const planned = new Set<string>();
  const held: Skipped[] = [];
  for (const name of [...deployments.keys()].sort()) {
    if (exclude.has(name)) continue;
    const s = status(name);
    if (options.holdDrift && s.status === 'drifted') held.push({ component: name, status: s.status, reason: s.reason });
    else if (needsApply(s.status)) planned.add(name);
  }
  const isHeld = new Set(held.map((h) => h.component));
  // Blocked components join when all their blockers are planned here. A worklist, not "repeat until nothing
  // changes": that re-scans every component once per link of a chain (quadratic: 18 s for a 10,000-chain).
  const waitingOn = new Map<string, Set<string>>();
  const waiters = new Map<string, string[]>();
  const ready = [...planned];
  for (const name of deployments.keys()) {
    const s = status(name);
    if (planned.has(name) || exclude.has(name) || s.status !== 'blocked') continue;
    const blockedBy = new Set<string>();
    let resolvable = true;
    for (const b of s.blockers) {
      if (b.kind === 'missing-parameter' || b.env !== env) resolvable = false;
      else if (!planned.has(b.component)) blockedBy.add(b.component);
    }
    if (!resolvable) continue;
    if (blockedBy.size === 0) {
      planned.add(name);
      ready.push(name);
      continue;
    }
    waitingOn.set(name, blockedBy);
    for (const c of blockedBy) {
      let list = waiters.get(c);
      if (!list) waiters.set(c, (list = []));
      list.push(name);
    }
  }
  for (let r = 0; r < ready.length; r++) {
    for (const waiter of waiters.get(ready[r]!) ?? []) {
      const blockedBy = waitingOn.get(waiter)!;
      blockedBy.delete(ready[r]!);
      if (blockedBy.size === 0 && !planned.has(waiter)) {
        planned.add(waiter);
        ready.push(waiter);
      }
    }
  }
  const skipped: Skipped[] = [];
  for (const name of [...deployments.keys()].sort()) {
    const s = status(name);
    if (!planned.has(name) && !exclude.has(name) && !isHeld.has(name) && s.status !== 'in-sync') skipped.push({ component: name, status: s.status, reason: s.reason });
  }
  return { env, waves: envWaves(build.config, env, planned), skipped, ...(options.holdDrift ? { held } : {}), orphaned: orphansIn(build, env) };
}

/**
 * What a drift check of `env` covers, as waves: the components applied successfully (own status in-sync or
 * drifted), minus `exclude` (checked already in this execution), within `only` when given. A check runs
 * `terraform plan` and changes no output, so checks do not depend on each other; the waves are the topological
 * generations anyway (upstream first), so a run reports a drifted component before the dependents it puts at risk.
 */
export function driftOrder(build: Build, env: string, options: { exclude?: ReadonlySet<string>; only?: ReadonlySet<string> } = {}): Waves {
  const candidates: string[] = [];
  for (const d of envDeployments(build.config, env).values()) {
    const s = build.statuses.get(deploymentKey(env, d.component))!;
    if ((s.own === 'in-sync' || s.own === 'drifted') && !options.exclude?.has(d.component) && (!options.only || options.only.has(d.component))) candidates.push(d.component);
  }
  return envWaves(build.config, env, candidates);
}

/**
 * What destroying `component` in `env` takes down, as waves, dependents first: the component and everything
 * in the same environment that depends on it, transitively, among the deployments `keep` accepts (the
 * component itself is always in). Dependents in other environments are `crossEnvironmentDependents`.
 */
export function destroyClosure(config: Config, env: string, component: string, keep: (name: string) => boolean = () => true): Waves {
  const deployments = envDeployments(config, env);
  if (!deployments.has(component)) throw notDeployed(component, env, deployments.keys());
  const closure = dagOf(config).downstream([deploymentKey(env, component)], { env, keep: (key) => keep(key.slice(env.length + 1)) });
  return envWaves(config, env, closure.map((k) => k.slice(env.length + 1))).reverse();
}

/** Deployments in other environments that consume `component`'s outputs in `env` (`${env:...}` references), as `env/component`. */
export function crossEnvironmentDependents(config: Config, env: string, component: string): string[] {
  return dagOf(config)
    .dependents(deploymentKey(env, component))
    .filter((k) => !k.startsWith(`${env}/`));
}

export interface Impact {
  readonly env: string;
  readonly component: string;
  readonly output?: string;
  /** Waves in the component's own environment. */
  readonly waves: Waves;
  /** Dependents in other environments (through ${env:...} references), per environment. */
  readonly otherEnvironments: readonly { readonly env: string; readonly waves: Waves }[];
}

/**
 * The downstream closure of a component (or of one of its outputs): everything that would need to follow
 * if it changed, as waves. With `output`, the closure starts at the components that consume that output
 * and the component itself is not included.
 */
export function impact(build: Build, env: string, component: string, output?: string): Impact {
  const { config } = build;
  const deployments = envDeployments(config, env);
  const target = deployments.get(component);
  if (!target) throw notDeployed(component, env, deployments.keys());
  const def = config.components.get(component)!;
  if (output !== undefined && !def.outputs.includes(output)) {
    throw new NotFoundError(`${component} has no output "${output}"; it declares ${def.outputs.join(', ') || 'no outputs'}`, { kind: 'output', value: output, env, known: def.outputs });
  }
  const dag = dagOf(config);
  const start =
    output === undefined
      ? [deploymentKey(env, component)]
      : config.deployments
          .filter((d) => d.references.some((r) => r.kind === 'output' && r.env === env && r.component === component && r.output === output))
          .map((d) => deploymentKey(d.env, d.component));
  const closure = dag.downstream(start);
  const wavesIn = (e: string): Waves => {
    requireEnvironment(config, e);
    return namesIn(e, dag.generations({ env: e, selected: closure.filter((k) => k.startsWith(`${e}/`)) }));
  };
  const others = [...new Set([...closure].map((k) => k.split('/')[0]!))].filter((e) => e !== env).sort();
  return {
    env,
    component,
    ...(output === undefined ? {} : { output }),
    waves: wavesIn(env),
    otherEnvironments: others.map((e) => ({ env: e, waves: wavesIn(e) })),
  };
}
