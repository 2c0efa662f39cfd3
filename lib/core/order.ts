/**
 * Ordering: which components to apply, and in which waves.
 *
 * A wave is a set of components that can be applied in parallel. Waves are topological generations of the
 * environment's dependency graph, restricted to the selected components, with one twist: a selected component
 * also waits for selected components it depends on THROUGH unselected ones. If a → b → c and only a and c are
 * selected, c goes after a: applying a may change b's inputs, b is then re-planned, and c must come after b —
 * otherwise c would be applied twice in one run. Formally, with deps(n) the components n depends on:
 *
 *   level(n) = max over p in deps(n) of level(p) + (p selected ? 1 : 0)      (0 for a component without deps)
 *
 * and a selected component goes into wave level(n). Within a wave, components are sorted by name, so the
 * same graph always gives the same waves (Terragrunt's queue and Terramate's DAG make the same choice).
 * Destroy order is the reverse of the full order.
 */
import type { Build } from './graph.ts';
import { UsageError } from './errors.ts';
import type { Config, Deployment, ProjectConfig } from './model.ts';
import { dependencyEdges } from './cycles.ts';
import { requireEnvironment } from './config.ts';
import { needsApply, type ComponentStatus } from './status.ts';

export type Waves = string[][];

function envDeployments(config: Config, env: string): Map<string, Deployment> {
  requireEnvironment(config, env);
  return new Map(config.deployments.filter((d) => d.env === env).map((d) => [d.component, d]));
}

/** Same-environment dependencies of each deployment in `env`, by component name. */
function envDeps(deployments: ReadonlyMap<string, Deployment>, env: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const [name, d] of deployments) {
    deps.set(
      name,
      dependencyEdges(d)
        .filter((k) => k.startsWith(`${env}/`))
        .map((k) => k.slice(env.length + 1))
        .filter((n) => deployments.has(n)),
    );
  }
  return deps;
}

/** Waves for `selected` within the dependency graph `deps` (which must be acyclic). */
export function layeredWaves(deps: ReadonlyMap<string, readonly string[]>, selected: ReadonlySet<string>): Waves {
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const levelOf = (n: string): number => {
    const known = level.get(n);
    if (known !== undefined) return known;
    // Iterative post-order: deep chains must not overflow the stack.
    const stack: string[] = [n];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (level.has(top)) {
        stack.pop();
        continue;
      }
      const pending = (deps.get(top) ?? []).filter((p) => !level.has(p));
      if (pending.length > 0 && !visiting.has(top)) {
        visiting.add(top);
        stack.push(...pending);
        continue;
      }
      visiting.delete(top);
      let l = 0;
      for (const p of deps.get(top) ?? []) l = Math.max(l, level.get(p)! + (selected.has(p) ? 1 : 0));
      level.set(top, l);
      stack.pop();
    }
    return level.get(n)!;
  };
  const waves: Waves = [];
  for (const n of selected) {
    const l = levelOf(n);
    while (waves.length <= l) waves.push([]);
    waves[l]!.push(n);
  }
  return waves.filter((w) => w.length > 0).map((w) => w.sort());
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
  const deployments = envDeployments(build.config, env);
  return { env, waves: layeredWaves(envDeps(deployments, env), new Set(deployments.keys())), skipped: [] };
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
  const status = (name: string): ComponentStatus => build.statuses.get(`${env}/${name}`)!;
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
  return { env, waves: layeredWaves(envDeps(all, env), planned), skipped, ...(options.holdDrift ? { held } : {}), orphaned: orphansIn(build, env) };
}

/**
 * What destroying `component` in `env` takes down, as waves, dependents first: the component and everything
 * in the same environment that depends on it, transitively, among the deployments `keep` accepts (the
 * component itself is always in). Dependents in other environments are `crossEnvironmentDependents`.
 */
export function destroyClosure(config: Config, env: string, component: string, keep: (name: string) => boolean = () => true): Waves {
  const deployments = envDeployments(config, env);
  if (!deployments.has(component)) {
    throw new UsageError(`component "${component}" is not deployed in ${env}; deployed there: ${[...deployments.keys()].sort().join(', ') || 'none'}`);
  }
  const deps = envDeps(deployments, env);
  const dependents = new Map<string, string[]>();
  for (const [name, list] of deps) for (const p of list) dependents.set(p, [...(dependents.get(p) ?? []), name]);
  const closure = new Set([component]);
  const queue = [component];
  while (queue.length > 0) {
    for (const next of dependents.get(queue.shift()!) ?? []) {
      if (!closure.has(next) && keep(next)) {
        closure.add(next);
        queue.push(next);
      }
    }
  }
  return layeredWaves(deps, closure).reverse();
}

/** Deployments in other environments that consume `component`'s outputs in `env` (`${env:...}` references), as `env/component`. */
export function crossEnvironmentDependents(config: Config, env: string, component: string): string[] {
  return config.deployments
    .filter((d) => d.env !== env && d.references.some((r) => r.kind === 'output' && r.env === env && r.component === component))
    .map((d) => `${d.env}/${d.component}`)
    .sort();
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
  if (!target) {
    throw new UsageError(`component "${component}" is not deployed in ${env}; deployed there: ${[...deployments.keys()].sort().join(', ') || 'none'}`);
  }
  const def = config.components.get(component)!;
  if (output !== undefined && !def.outputs.includes(output)) {
    throw new UsageError(`${component} has no output "${output}"; it declares ${def.outputs.join(', ') || 'no outputs'}`);
  }
  const dependents = new Map<string, string[]>();
  for (const d of config.deployments) {
    for (const dep of dependencyEdges(d)) {
      let list = dependents.get(dep);
      if (!list) dependents.set(dep, (list = []));
      list.push(`${d.env}/${d.component}`);
    }
  }
  const start = `${env}/${component}`;
  const closure = new Set<string>();
  const queue: string[] = [];
  if (output === undefined) {
    closure.add(start);
    queue.push(start);
  } else {
    for (const d of config.deployments) {
      if (d.references.some((r) => r.kind === 'output' && r.env === env && r.component === component && r.output === output)) {
        const key = `${d.env}/${d.component}`;
        if (!closure.has(key)) {
          closure.add(key);
          queue.push(key);
        }
      }
    }
  }
  for (let q = 0; q < queue.length; q++) {
    for (const next of dependents.get(queue[q]!) ?? []) {
      if (!closure.has(next)) {
        closure.add(next);
        queue.push(next);
      }
    }
  }
  const wavesIn = (e: string): Waves => {
    const inEnv = envDeployments(config, e);
    const selected = new Set([...closure].filter((k) => k.startsWith(`${e}/`)).map((k) => k.slice(e.length + 1)));
    return layeredWaves(envDeps(inEnv, e), selected);
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
