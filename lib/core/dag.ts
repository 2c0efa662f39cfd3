/**
 * The dependency DAG of a config's deployments: ONE index, built once per config and cached, that statuses,
 * ordering, planning, impact, destroy, the cycle check and the pipeline's steps all read.
 *
 * Nodes are deployments, keyed `env/component` (deploymentKey). An edge goes from a dependent to what it depends
 * on: an explicit `dependsOn` (same environment) or an output reference (`${network.vpc_id}`, or across
 * environments `${env:shared/dns.zone}`). Edges to something not deployed are not edges (the config check reports
 * those references).
 *
 * The algorithms, all iterative (a 10,000-long chain is legal) and all deterministic:
 *
 *   generations  Topological generations: generation(n) = 0 without dependencies, else 1 + the largest generation
 *                of what it depends on. Within a generation, nodes are sorted by key (code-point order), so the
 *                same repo always gives the same waves (Terragrunt's queue and Terramate's dag.go make the same
 *                choice). With a selection (what a plan applies), a selected node also waits for selected nodes
 *                it reaches THROUGH unselected ones — see {@link layeredWaves}.
 *   order        The generations flattened: dependencies first.
 *   downstream   The impact closure: the start nodes and everything that depends on them, transitively.
 *   upstream     The reverse: the start nodes and everything they depend on.
 *   cycles       Tarjan's strongly connected components, visited in key order, then the shortest cycle through
 *                the smallest key of each, read in dependency direction: `a -> b -> c -> a` is "a depends on b,
 *                which depends on c, which depends on a".
 *
 * Per environment: waves of one environment count only that environment's edges (a cross-environment dependency
 * is ordered by applying environments in {@link DeploymentDag.environmentOrder}).
 */
import type { Config, Deployment } from './model.ts';
import { deploymentKey } from './model.ts';

/** One deployment, by environment and component. */
export interface DeploymentRef {
  readonly env: string;
  readonly component: string;
}

/** One dependency of a deployment: what it depends on and why (dependsOn, an output reference, or both). */
export interface DependencyEdge {
  readonly from: DeploymentRef;
  readonly to: DeploymentRef;
  readonly via: readonly ('dependsOn' | 'output')[];
}

export type Waves = string[][];

const edgeCache = new WeakMap<Deployment, { readonly edges: readonly DependencyEdge[]; readonly keys: readonly string[] }>();

function edgesOf(d: Deployment): { readonly edges: readonly DependencyEdge[]; readonly keys: readonly string[] } {
  let cached = edgeCache.get(d);
  if (cached === undefined) {
    const targets = new Map<string, { to: DeploymentRef; via: Set<'dependsOn' | 'output'> }>();
    const add = (env: string, component: string, via: 'dependsOn' | 'output'): void => {
      const key = deploymentKey(env, component);
      let t = targets.get(key);
      if (!t) targets.set(key, (t = { to: { env, component }, via: new Set() }));
      t.via.add(via);
    };
    for (const dep of d.dependsOn) add(d.env, dep, 'dependsOn');
    for (const r of d.references) if (r.kind === 'output') add(r.env, r.component, 'output');
    const from: DeploymentRef = { env: d.env, component: d.component };
    const sorted = [...targets].sort(([a], [b]) => byKey(a, b));
    cached = {
      edges: sorted.map(([, t]) => ({ from, to: t.to, via: (['dependsOn', 'output'] as const).filter((v) => t.via.has(v)) })),
      keys: sorted.map(([k]) => k),
    };
    edgeCache.set(d, cached);
  }
  return cached;
}

/**
 * What a deployment depends on, sorted by `env/component` of the target. Computed once per deployment (they are
 * immutable once parsed); whether the target is deployed is the index's business, not this function's.
 */
export function dependencyEdges(d: Deployment): readonly DependencyEdge[] {
  return edgesOf(d).edges;
}

/** Code-point order: the same everywhere (no locale). */
function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const sortKeys = (keys: string[]): string[] => keys.sort(byKey);

/**
 * Waves for `selected` within the acyclic dependency graph `depsOf`. A selected node also waits for selected
 * nodes it depends on THROUGH unselected ones: if a → b → c and only a and c are selected, c goes after a
 * (applying a may change b's inputs, b is then re-planned, and c must come after b — otherwise c would be
 * applied twice in one run). With deps(n) what n depends on:
 *
 *   level(n) = max over p in deps(n) of level(p) + (p selected ? 1 : 0)      (0 without dependencies)
 *
 * and a selected node goes into wave level(n), sorted by name within. With everything selected these are the
 * topological generations. Throws on a cycle (parseConfig rejects cycles before any of this runs).
 */
export function layeredWaves(deps: ReadonlyMap<string, readonly string[]>, selected: ReadonlySet<string>): Waves {
  const names = [...new Set([...deps.keys(), ...selected, ...[...deps.values()].flat()])];
  const at = new Map(names.map((n, i) => [n, i]));
  const depsAt = names.map((n) => (deps.get(n) ?? []).map((p) => at.get(p)!));
  const chosen = new Uint8Array(names.length);
  for (const n of selected) chosen[at.get(n)!] = 1;
  return levelWaves(names, (i) => depsAt[i]!, [...selected].map((n) => at.get(n)!), chosen);
}

/**
 * The level rule above over positions: `depsAt(i)` what node i depends on, `selected` the nodes to place (their
 * flags in `chosen`). Iterative post-order: every dependency of a node sits above it on the stack and is done
 * before it is. Waves of names, each sorted.
 */
function levelWaves(names: readonly string[], depsAt: (i: number) => readonly number[], selected: readonly number[], chosen: Uint8Array): Waves {
  const level = new Int32Array(names.length).fill(-1);
  const expanded = new Uint8Array(names.length);
  const stack: number[] = [];
  const waves: Waves = [];
  for (const n of selected) {
    stack.push(n);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (level[top]! >= 0) {
        stack.pop();
        continue;
      }
      if (!expanded[top]) {
        expanded[top] = 1;
        for (const p of depsAt(top)) {
          if (level[p]! >= 0) continue;
          // Expanded but not done: p is below on the stack, so it reaches top and top reaches p.
          if (expanded[p]) throw new Error(`dependency cycle through ${names[p]} and ${names[top]}: the config check should have refused it`);
          stack.push(p);
        }
        continue;
      }
      let l = 0;
      for (const p of depsAt(top)) l = Math.max(l, level[p]! + chosen[p]!);
      level[top] = l;
      stack.pop();
    }
    const l = level[n]!;
    while (waves.length <= l) waves.push([]);
    waves[l]!.push(names[n]!);
  }
  return waves.filter((w) => w.length > 0).map(sortKeys);
}

/** The index itself. Get it with {@link dagOf} (cached per config) or {@link indexDeployments} (uncached). */
export class DeploymentDag {
  /** `env/component` of each deployment, in the config's order; a node's position is its index here. */
  readonly keys: readonly string[];
  readonly deployments: readonly Deployment[];
  private readonly position: ReadonlyMap<string, number>;
  /** By position: positions of what it depends on (deployed ones only), sorted by key. */
  private readonly deps: readonly (readonly number[])[];
  /** By position: positions of what depends on it, sorted by key. */
  private readonly rdeps: readonly (readonly number[])[];
  private topo: readonly number[] | undefined;

  constructor(deployments: readonly Deployment[]) {
    this.deployments = deployments;
    this.keys = deployments.map((d) => deploymentKey(d.env, d.component));
    this.position = new Map(this.keys.map((k, i) => [k, i]));
    const rdeps: number[][] = deployments.map(() => []);
    this.deps = deployments.map((d, i) => {
      const list: number[] = [];
      for (const key of edgesOf(d).keys) {
        const j = this.position.get(key);
        if (j === undefined) continue;
        list.push(j);
        rdeps[j]!.push(i);
      }
      return list;
    });
    // Dependents come in position order: already sorted by key when the deployments are (a parsed config's are).
    const byName = (a: number, b: number): number => byKey(this.keys[a]!, this.keys[b]!);
    for (const list of rdeps) {
      for (let k = 1; k < list.length; k++) {
        if (byName(list[k - 1]!, list[k]!) > 0) {
          list.sort(byName);
          break;
        }
      }
    }
    this.rdeps = rdeps;
  }

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.position.has(key);
  }

  indexOf(key: string): number | undefined {
    return this.position.get(key);
  }

  /** Positions of what the deployment at `i` depends on. */
  dependenciesAt(i: number): readonly number[] {
    return this.deps[i]!;
  }

  /** Positions of what depends on the deployment at `i`. */
  dependentsAt(i: number): readonly number[] {
    return this.rdeps[i]!;
  }

  /** What `key` depends on, as sorted keys (empty for a key not deployed). */
  dependencies(key: string): string[] {
    const i = this.position.get(key);
    return i === undefined ? [] : this.deps[i]!.map((j) => this.keys[j]!);
  }

  /** What depends on `key` directly, as sorted keys. */
  dependents(key: string): string[] {
    const i = this.position.get(key);
    return i === undefined ? [] : this.rdeps[i]!.map((j) => this.keys[j]!);
  }

  /**
   * Every position in dependency order (what a node depends on comes before it): the generations of the whole
   * graph flattened, ties by key. Computed once.
   */
  orderPositions(): readonly number[] {
    if (this.topo) return this.topo;
    const pending = new Int32Array(this.size);
    this.deps.forEach((list, i) => (pending[i] = list.length));
    let generation = this.keys.map((_, i) => i).filter((i) => pending[i] === 0);
    const out: number[] = [];
    const byName = (a: number, b: number): number => byKey(this.keys[a]!, this.keys[b]!);
    while (generation.length > 0) {
      generation.sort(byName);
      out.push(...generation);
      const next: number[] = [];
      for (const i of generation) for (const j of this.rdeps[i]!) if (--pending[j]! === 0) next.push(j);
      generation = next;
    }
    if (out.length < this.size) {
      throw new Error(`dependency cycle: ${this.cycles()[0]?.join(' -> ') ?? '?'}: the config check should have refused it`);
    }
    return (this.topo = out);
  }

  /** Every key in dependency order (dependencies first, ties by key). */
  order(): string[] {
    return this.orderPositions().map((i) => this.keys[i]!);
  }

  /**
   * Topological generations as keys, ties by key. `selected`: only these (each waits for the selected ones it
   * reaches through unselected ones, {@link layeredWaves}); `env`: only that environment's nodes and edges.
   */
  generations(options: { selected?: Iterable<string>; env?: string } = {}): Waves {
    const { env } = options;
    const chosen = new Uint8Array(this.size);
    const selected: number[] = [];
    const take = (i: number | undefined): void => {
      if (i === undefined || chosen[i] || (env !== undefined && this.deployments[i]!.env !== env)) return;
      chosen[i] = 1;
      selected.push(i);
    };
    if (options.selected) for (const k of options.selected) take(this.position.get(k));
    else for (let i = 0; i < this.size; i++) take(i);
    const depsAt = env === undefined ? (i: number) => this.deps[i]! : (i: number) => this.deps[i]!.filter((j) => this.deployments[j]!.env === env);
    return levelWaves(this.keys, depsAt, selected, chosen);
  }

  /**
   * The start keys and everything that depends on them, transitively, as sorted keys. `keep` decides for every
   * node but the start ones whether the walk enters it; `env` restricts the walk to one environment.
   */
  downstream(start: Iterable<string>, options: { keep?: (key: string) => boolean; env?: string } = {}): string[] {
    return this.closure(start, this.rdeps, options);
  }

  /** The start keys and everything they depend on, transitively, as sorted keys (options as in downstream). */
  upstream(start: Iterable<string>, options: { keep?: (key: string) => boolean; env?: string } = {}): string[] {
    return this.closure(start, this.deps, options);
  }

  private closure(start: Iterable<string>, next: readonly (readonly number[])[], options: { keep?: (key: string) => boolean; env?: string }): string[] {
    const seen = new Set<number>();
    const queue: number[] = [];
    for (const k of start) {
      const i = this.position.get(k);
      if (i !== undefined && !seen.has(i)) {
        seen.add(i);
        queue.push(i);
      }
    }
    for (let q = 0; q < queue.length; q++) {
      for (const j of next[queue[q]!]!) {
        if (seen.has(j)) continue;
        if (options.env !== undefined && this.deployments[j]!.env !== options.env) continue;
        if (options.keep && !options.keep(this.keys[j]!)) continue;
        seen.add(j);
        queue.push(j);
      }
    }
    return sortKeys([...seen].map((i) => this.keys[i]!));
  }

  /**
   * Environments in cross-environment dependency order (an environment before those consuming its outputs),
   * in generations with ties by name. Environments cannot form a cycle through deployments that form none, but
   * they can through different deployments (dev/a needs shared/x, shared/y needs dev/b): what is left then
   * follows in name order.
   */
  environmentOrder(envs: readonly string[]): string[] {
    const wanted = new Set(envs);
    const deps = new Map<string, Set<string>>([...wanted].map((e) => [e, new Set<string>()]));
    this.deployments.forEach((d, i) => {
      if (!wanted.has(d.env)) return;
      for (const j of this.deps[i]!) {
        const other = this.deployments[j]!.env;
        if (other !== d.env && wanted.has(other)) deps.get(d.env)!.add(other);
      }
    });
    const out: string[] = [];
    const left = new Set(wanted);
    while (left.size > 0) {
      const ready = sortKeys([...left].filter((e) => [...deps.get(e)!].every((x) => !left.has(x))));
      for (const e of ready.length > 0 ? ready : sortKeys([...left])) {
        out.push(e);
        left.delete(e);
      }
    }
    return out;
  }

  /** Every dependency cycle, one per strongly connected component, each as keys from its smallest key back to it. */
  cycles(): string[][] {
    const n = this.size;
    const index = new Int32Array(n).fill(-1);
    const low = new Int32Array(n);
    const onStack = new Uint8Array(n);
    const stack: number[] = [];
    const components: number[][] = [];
    let counter = 0;
    const roots = this.keys.map((_, i) => i).sort((a, b) => byKey(this.keys[a]!, this.keys[b]!));
    for (const root of roots) {
      if (index[root] !== -1) continue;
      const work: { node: number; next: number }[] = [{ node: root, next: 0 }];
      index[root] = low[root] = counter++;
      stack.push(root);
      onStack[root] = 1;
      while (work.length > 0) {
        const frame = work[work.length - 1]!;
        const neighbours = this.deps[frame.node]!;
        if (frame.next < neighbours.length) {
          const w = neighbours[frame.next++]!;
          if (index[w] === -1) {
            index[w] = low[w] = counter++;
            stack.push(w);
            onStack[w] = 1;
            work.push({ node: w, next: 0 });
          } else if (onStack[w]) {
            low[frame.node] = Math.min(low[frame.node]!, index[w]!);
          }
          continue;
        }
        work.pop();
        const parent = work[work.length - 1];
        if (parent) low[parent.node] = Math.min(low[parent.node]!, low[frame.node]!);
        if (low[frame.node] === index[frame.node]) {
          const scc: number[] = [];
          let w: number;
          do {
            w = stack.pop()!;
            onStack[w] = 0;
            scc.push(w);
          } while (w !== frame.node);
          if (scc.length > 1) components.push(scc);
        }
      }
    }
    return components
      .map((scc) => {
        const members = new Set(scc);
        const start = scc.reduce((a, b) => (byKey(this.keys[a]!, this.keys[b]!) <= 0 ? a : b));
        // Breadth-first from start, inside the component, back to start: the shortest cycle.
        const previous = new Map<number, number>();
        const queue = [start];
        let found = false;
        for (let q = 0; q < queue.length && !found; q++) {
          const node = queue[q]!;
          for (const w of this.deps[node]!) {
            if (!members.has(w)) continue;
            if (w === start) {
              previous.set(start, node);
              found = true;
              break;
            }
            if (!previous.has(w)) {
              previous.set(w, node);
              queue.push(w);
            }
          }
        }
        // Walked backwards from start: reverse to read in dependency direction.
        const back: number[] = [];
        for (let m = previous.get(start)!; m !== start; m = previous.get(m)!) back.push(m);
        return [start, ...back.reverse(), start].map((i) => this.keys[i]!);
      })
      .sort((a, b) => byKey(a[0]!, b[0]!));
  }
}

/** An index of these deployments, not cached (the config check runs it once, on deployments not yet sorted). */
export function indexDeployments(deployments: readonly Deployment[]): DeploymentDag {
  return new DeploymentDag(deployments);
}

const dagCache = new WeakMap<readonly Deployment[], DeploymentDag>();

/**
 * The index of a config, built on first use and cached by its deployment list (immutable once parseConfig
 * returns; a config copied with `{...config}` shares it, so it shares the index too).
 */
export function dagOf(config: Pick<Config, 'deployments'>): DeploymentDag {
  let dag = dagCache.get(config.deployments);
  if (!dag) dagCache.set(config.deployments, (dag = new DeploymentDag(config.deployments)));
  return dag;
}
