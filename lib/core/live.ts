/**
 * The live graph of `karma serve`: a Build kept in memory and brought up to date when runtime parameters change
 * (an SSM change event names its parameter), without building the whole graph again.
 *
 * What a parameter can reach, from an index built once per Config (cached in a WeakMap):
 *
 *   <prefix>/<env>/<component>/state           its deployment: own status, its CONSUMES edges' appliedVersion,
 *                                              its Component vertex (status, reason, last apply)
 *   <prefix>/<env>/<component>/outputs/<name>  its Output vertex, and the deployments consuming it (stale-inputs,
 *                                              missing-output)
 *   an external ${ssm:...} parameter           its Parameter vertex, and the deployments consuming it
 *
 * The statuses of those deployments are recomputed with the same function computeStatuses runs
 * (status.ts deploymentStatus), in the DAG's order; a recomputed deployment whose status or own status moved
 * (what a dependent reads of it: {@link affectsDependents}) queues its dependents, and the walk stops where
 * nothing moved. Then only the elements that changed are rebuilt and re-hashed.
 *
 * Anything that touches orphans (a parameter under `<prefix>/<env>/<component>/` for a deployment not in the
 * config) can make an orphan appear or vanish, which changes the element set: that update is a full buildGraph
 * (`full: true`). A parameter none of the above concerns changes nothing: the same state comes back.
 *
 * The result equals `toSnapshot(buildGraph(config, runtime))` (test/unit/core/live.test.ts checks it on random
 * configs and change sequences) but for meta.builtAt. The previous state is never modified: the maps of the new
 * Build are layered over the old ones ({@link LayeredMap}); the snapshot's sorted arrays are copied (pointers)
 * with the changed elements, re-hashed, put in place, found by binary search over the ids (the arrays are sorted
 * by id, so no id → position index needs to be built or kept). That copy is made when the snapshot is first
 * read ({@link nextSnapshot}).
 *
 * Build.graph (graphology) stays lazy: the new Build builds its own from its vertices and edges on first use,
 * a full O(elements) cost (1.8 s at 5,000 components × 3 environments on the loaded benchmark machine, see
 * docs/service-live-graph.md) paid by whoever asks for it first after an update. Nothing in the service's hot path asks for it.
 */
import { dagOf, type DeploymentDag } from './dag.ts';
import {
  addDeploymentEdges,
  buildGraph,
  componentId,
  componentProps,
  edgeElement,
  graphologyView,
  outputId,
  outputProps,
  paramId,
  parameterProps,
  toSnapshot,
  vertexElement,
  type Build,
  type EdgeAttributes,
  type EdgeMap,
  type KarmaGraph,
  type VertexAttributes,
} from './graph.ts';
import { deploymentKey, outputParamPath, stateParamPath, type Config } from './model.ts';
import type { Removal } from './orphans.ts';
import type { Parameter, RuntimeSnapshot } from './runtime.ts';
import type { GraphElement, GraphSnapshot, PropValue } from './snapshot.ts';
import { affectsDependents, deploymentStatus, type ComponentStatus, type Status } from './status.ts';

export interface LiveState {
  readonly build: Build;
  readonly snapshot: GraphSnapshot;
  /** The parameters the build was made from, by name. A change that concerns nothing of the graph is not recorded here. */
  readonly runtime: RuntimeSnapshot;
}

/** A deployment whose effective status or reason changed (the same shape as lib/app/events.ts StatusChange). */
export interface StatusChange {
  readonly env: string;
  readonly component: string;
  /** null: the deployment was not in the graph before (an orphan that appeared). */
  readonly from: Status | null;
  readonly to: Status;
  readonly reason: string;
}

export interface LiveUpdate extends LiveState {
  /** Every deployment whose status or reason changed, in the config's order (then orphans, on a full rebuild). */
  readonly statusChanges: readonly StatusChange[];
  /** Deployments whose status was recomputed. */
  readonly recomputed: number;
  /** True when the change could not be applied incrementally and a full buildGraph was done. */
  readonly full: boolean;
}

type EdgeValue = EdgeAttributes & { from: string; to: string };

/**
 * The state after `changed` (parameter name → its new value, or null when deleted). A new Build, snapshot and
 * runtime; `prev`'s are untouched (requests may still be serialising them) and share what did not change.
 */
export function applyRuntimeChanges(
  prev: LiveState,
  changed: ReadonlyMap<string, Parameter | null>,
  options: { builtAt: string; removals?: ReadonlyMap<string, Removal> },
): LiveUpdate {
  const config = prev.build.config;
  const index = paramIndex(config);
  const effective: [string, Parameter | undefined][] = [];
  let full = false;
  for (const [name, value] of changed) {
    const next = value ?? undefined;
    if (sameParameter(prev.runtime.get(name), next)) continue;
    if (touchesOrphans(name, config, index.dag)) {
      full = true;
      effective.push([name, next]);
    } else if (index.stateOf.has(name) || index.outputOf.has(name) || index.consumers.has(name) || index.external.has(name)) {
      effective.push([name, next]);
    }
  }
  if (effective.length === 0) return { build: prev.build, snapshot: prev.snapshot, runtime: prev.runtime, statusChanges: [], recomputed: 0, full: false };
  const runtime = LayeredMap.over(prev.runtime).with(effective);
  if (full) return rebuild(prev, runtime, options);

  const { dag, prefix } = index;
  const prevStatuses = prev.build.statuses;
  const vertexUpdates = new Map<string, VertexAttributes>();
  const edgeUpdates = new Map<string, EdgeValue>();
  const setVertex = (id: string, next: VertexAttributes): void => {
    if (!sameProps(prev.build.vertices.get(id)?.props, next.props)) vertexUpdates.set(id, next);
  };

  // What the changed parameters reach directly.
  const seeds = new Set<number>();
  const stateChanged = new Set<number>();
  for (const [name, param] of effective) {
    const owner = index.stateOf.get(name);
    if (owner !== undefined) {
      seeds.add(owner);
      stateChanged.add(owner);
    }
    const output = index.outputOf.get(name);
    if (output) {
      const d = dag.deployments[output.at]!;
      setVertex(outputId(d.env, d.component, output.output), { label: 'Output', props: outputProps(d, config.components.get(d.component)!, output.output, name, param) });
    }
    if (index.external.has(name)) setVertex(paramId(name), { label: 'Parameter', props: parameterProps(name, param) });
    for (const c of index.consumers.get(name) ?? []) seeds.add(c);
  }

  // Recompute in the DAG's order; a deployment whose status moved queues its dependents.
  const updated = new Map<number, ComponentStatus>();
  const statusAt = (j: number): ComponentStatus => updated.get(j) ?? prevStatuses.get(dag.keys[j]!)!;
  const queue = new RankQueue(index.rank);
  for (const s of seeds) queue.push(s);
  let recomputed = 0;
  for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
    const before = statusAt(i);
    const after = deploymentStatus(dag, i, statusAt, runtime, prefix);
    recomputed++;
    updated.set(i, after);
    if (affectsDependents(before, after)) for (const j of dag.dependentsAt(i)) queue.push(j);
  }

  const statusChanges: StatusChange[] = [];
  const statusUpdates = new Map<string, ComponentStatus>();
  for (const i of [...updated.keys()].sort((a, b) => a - b)) {
    const d = dag.deployments[i]!;
    const before = prevStatuses.get(dag.keys[i]!)!;
    const after = updated.get(i)!;
    statusUpdates.set(dag.keys[i]!, after);
    if (before.status !== after.status || before.reason !== after.reason) {
      statusChanges.push({ env: d.env, component: d.component, from: before.status, to: after.status, reason: after.reason });
    }
    setVertex(componentId(d.env, d.component), { label: 'Component', props: componentProps(d, config.components.get(d.component)!, after) });
    if (stateChanged.has(i)) {
      // Its CONSUMES edges carry the versions its last apply consumed.
      const edges: EdgeMap = new Map();
      addDeploymentEdges(edges, d, after.state?.consumed ?? {}, prefix);
      for (const [id, e] of edges) if (e.label === 'CONSUMES' && !sameProps(prev.build.edges.get(id)?.props, e.props)) edgeUpdates.set(id, e);
    }
  }

  const vertices = LayeredMap.over(prev.build.vertices).with(vertexUpdates);
  const edges = LayeredMap.over(prev.build.edges).with(edgeUpdates);
  const meta = { ...prev.build.meta, builtAt: options.builtAt };
  let graph: KarmaGraph | undefined;
  const build: Build = {
    config,
    vertices,
    edges,
    get graph(): KarmaGraph {
      return (graph ??= graphologyView(vertices, edges));
    },
    statuses: LayeredMap.over(prevStatuses).with(statusUpdates),
    orphans: prev.build.orphans,
    meta,
  };
  const snapshot = nextSnapshot(prev.snapshot, meta, elements(vertexUpdates, vertexElement), elements(edgeUpdates, edgeElement));
  return { build, snapshot, runtime, statusChanges, recomputed, full: false };
}


/** The full rebuild, and what changed status compared with `prev`. */
function rebuild(prev: LiveState, runtime: RuntimeSnapshot, options: { builtAt: string; removals?: ReadonlyMap<string, Removal> }): LiveUpdate {
  const build = buildGraph(prev.build.config, runtime, options);
  const statusChanges: StatusChange[] = [];
  for (const [key, after] of build.statuses) {
    const before = prev.build.statuses.get(key);
    if (before?.status !== after.status || before.reason !== after.reason) {
      statusChanges.push({ env: after.env, component: after.component, from: before?.status ?? null, to: after.status, reason: after.reason });
    }
  }
  return { build, snapshot: toSnapshot(build), runtime, statusChanges, recomputed: prev.build.config.deployments.length, full: true };
}

/** Changed elements not yet put into a snapshot's arrays: those of the updates since `base`, the last snapshot whose arrays exist. */
interface Pending {
  readonly base: GraphSnapshot;
  readonly vertices: ReadonlyMap<string, GraphElement>;
  readonly edges: ReadonlyMap<string, GraphElement>;
}

const pendingOf = new WeakMap<GraphSnapshot, Pending>();

/** Past this many changed elements waiting, a new snapshot's arrays are made at once (the wait list is copied per update). */
const MAX_PENDING = 4096;

/**
 * The snapshot after an update. Its arrays (a copy of the previous ones, pointers only, with the changed elements
 * put in place) are made on first read: a copy of 150,000 pointers is 1.2 MB of old-generation memory per update,
 * and updates that come faster than anyone reads the snapshot would only feed the garbage collector. Until then
 * the snapshot keeps the changed elements (already hashed) and the last snapshot whose arrays exist.
 */
function nextSnapshot(prev: GraphSnapshot, meta: GraphSnapshot['meta'], vertexUpdates: ReadonlyMap<string, GraphElement>, edgeUpdates: ReadonlyMap<string, GraphElement>): GraphSnapshot {
  const waiting = pendingOf.get(prev);
  const base = waiting?.base ?? prev;
  const merge = (before: ReadonlyMap<string, GraphElement> | undefined, next: ReadonlyMap<string, GraphElement>): ReadonlyMap<string, GraphElement> =>
    before === undefined || before.size === 0 ? next : next.size === 0 ? before : new Map([...before, ...next]);
  const pending: Pending = { base, vertices: merge(waiting?.vertices, vertexUpdates), edges: merge(waiting?.edges, edgeUpdates) };
  if (pending.vertices.size + pending.edges.size > MAX_PENDING) {
    return { meta, vertices: replaced(base.vertices, pending.vertices), edges: replaced(base.edges, pending.edges) };
  }
  let arrays: { readonly vertices: readonly GraphElement[]; readonly edges: readonly GraphElement[] } | undefined;
  const made = (): { readonly vertices: readonly GraphElement[]; readonly edges: readonly GraphElement[] } => {
    if (!arrays) {
      arrays = { vertices: replaced(base.vertices, pending.vertices), edges: replaced(base.edges, pending.edges) };
      pendingOf.delete(snapshot);
    }
    return arrays;
  };
  const snapshot: GraphSnapshot = {
    meta,
    get vertices(): readonly GraphElement[] {
      return made().vertices;
    },
    get edges(): readonly GraphElement[] {
      return made().edges;
    },
  };
  pendingOf.set(snapshot, pending);
  return snapshot;
}

function elements<A>(updates: ReadonlyMap<string, A>, element: (id: string, a: A) => GraphElement): Map<string, GraphElement> {
  const out = new Map<string, GraphElement>();
  for (const [id, a] of updates) out.set(id, element(id, a));
  return out;
}

/** A copy of the sorted `elements` with those in `updates` in place (found by binary search on the id). */
function replaced(elements: readonly GraphElement[], updates: ReadonlyMap<string, GraphElement>): readonly GraphElement[] {
  if (updates.size === 0) return elements;
  const copy = elements.slice();
  for (const [id, e] of updates) {
    let lo = 0;
    let hi = copy.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (copy[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    if (copy[lo]?.id !== id) throw new Error(`live graph: ${id} is not in the snapshot it updates`);
    copy[lo] = e;
  }
  return copy;
}

function sameParameter(a: Parameter | undefined, b: Parameter | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.name === b.name && a.value === b.value && a.version === b.version && a.type === b.type && a.lastModified === b.lastModified;
}

/** Same keys in the same order with the same values (the order matters: it is part of the element's hash). */
function sameProps(a: Readonly<Record<string, PropValue>> | undefined, b: Readonly<Record<string, PropValue>>): boolean {
  if (a === undefined) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k] || a[ka[k]!] !== b[kb[k]!]) return false;
  return true;
}

/**
 * Whether `name` lies under `<prefix>/<env>/<component>/` of a declared environment for a deployment the config
 * does not have: the runtime record of an orphan (orphans.ts), or what could become one. Wider than findOrphans'
 * own test (which looks only at `state` and `outputs/<name>`): a wider test only costs a full rebuild.
 */
function touchesOrphans(name: string, config: Config, dag: DeploymentDag): boolean {
  const prefix = `${config.project.parameterPrefix}/`;
  if (!name.startsWith(prefix)) return false;
  const [env, component] = name.slice(prefix.length).split('/', 2);
  return !!env && !!component && config.project.environments.has(env) && !dag.has(deploymentKey(env, component));
}

/** What each parameter name reaches, for one config. */
interface ParamIndex {
  readonly dag: DeploymentDag;
  readonly prefix: string;
  /** By position: the position's place in the DAG's order (dependencies first). */
  readonly rank: Int32Array;
  /** State parameter → its deployment's position. */
  readonly stateOf: ReadonlyMap<string, number>;
  /** Output parameter of a deployment → its position and output name. */
  readonly outputOf: ReadonlyMap<string, { readonly at: number; readonly output: string }>;
  /** Parameter (output or external) → positions of the deployments that consume it. */
  readonly consumers: ReadonlyMap<string, readonly number[]>;
  /** External parameters: each is a Parameter vertex. */
  readonly external: ReadonlySet<string>;
}

const indexCache = new WeakMap<Config, ParamIndex>();

function paramIndex(config: Config): ParamIndex {
  let index = indexCache.get(config);
  if (index) return index;
  const prefix = config.project.parameterPrefix;
  const dag = dagOf(config);
  const rank = new Int32Array(dag.size);
  dag.orderPositions().forEach((i, r) => (rank[i] = r));
  const stateOf = new Map<string, number>();
  const outputOf = new Map<string, { at: number; output: string }>();
  const consumers = new Map<string, number[]>();
  const external = new Set<string>();
  dag.deployments.forEach((d, i) => {
    stateOf.set(stateParamPath(prefix, d.env, d.component), i);
    for (const output of config.components.get(d.component)!.outputs) outputOf.set(outputParamPath(prefix, d.env, d.component, output), { at: i, output });
    for (const ref of d.references) {
      const path = ref.kind === 'ssm' ? ref.path : outputParamPath(prefix, ref.env, ref.component, ref.output);
      if (ref.kind === 'ssm') external.add(path);
      const list = consumers.get(path);
      if (!list) consumers.set(path, [i]);
      else if (list[list.length - 1] !== i) list.push(i);
    }
  });
  index = { dag, prefix, rank, stateOf, outputOf, consumers, external };
  indexCache.set(config, index);
  return index;
}

/** Positions, popped in DAG order (smallest rank first), each at most once. */
class RankQueue {
  private readonly rank: Int32Array;
  private readonly heap: number[] = [];
  private readonly seen = new Set<number>();
  constructor(rank: Int32Array) {
    this.rank = rank;
  }
  push(i: number): void {
    if (this.seen.has(i)) return;
    this.seen.add(i);
    const heap = this.heap;
    let c = heap.push(i) - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (this.rank[heap[p]!]! <= this.rank[heap[c]!]!) break;
      [heap[p], heap[c]] = [heap[c]!, heap[p]!];
      c = p;
    }
  }
  pop(): number | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let p = 0; ; ) {
        const l = 2 * p + 1;
        const r = l + 1;
        let m = p;
        if (l < heap.length && this.rank[heap[l]!]! < this.rank[heap[m]!]!) m = l;
        if (r < heap.length && this.rank[heap[r]!]! < this.rank[heap[m]!]!) m = r;
        if (m === p) break;
        [heap[p], heap[m]] = [heap[m]!, heap[p]!];
        p = m;
      }
    }
    return top;
  }
}

const DELETED: unique symbol = Symbol('deleted');

/**
 * A read-only map made of a base map (never modified) and the entries changed since, so that a copy with a few
 * changes costs a few changes, not a copy of 150,000 entries (a `new Map(map)` of that size takes ~100 ms).
 *
 * The changed entries live in slots by position; the positions (key → slot) are one append-only index shared by
 * every map layered over the same base, and a copy only copies its slot array (pointers). Two copies made from
 * the same map that both add new keys fork the index (the second one copies it). Iteration: the base's keys in
 * the base's order (a changed value keeps its key's place, like Map.set), then keys the base does not have, in
 * the order they were first added; deleted keys are skipped.
 */
export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  private readonly base: ReadonlyMap<K, V>;
  private readonly index: { readonly keys: K[]; readonly position: Map<K, number> };
  private readonly slots: readonly (V | typeof DELETED)[];
  readonly size: number;

  private constructor(base: ReadonlyMap<K, V>, index: { readonly keys: K[]; readonly position: Map<K, number> }, slots: readonly (V | typeof DELETED)[], size: number) {
    this.base = base;
    this.index = index;
    this.slots = slots;
    this.size = size;
  }

  /** `map` itself when it is a LayeredMap, else an empty layer over it. */
  static over<K, V>(map: ReadonlyMap<K, V>): LayeredMap<K, V> {
    return map instanceof LayeredMap ? (map as LayeredMap<K, V>) : new LayeredMap(map, { keys: [], position: new Map() }, [], map.size);
  }

  /** A copy with `changes` applied (undefined: delete the key); this map is untouched. */
  with(changes: Iterable<readonly [K, V | undefined]>): LayeredMap<K, V> {
    let index = this.index;
    const slots = this.slots.slice();
    let size = this.size;
    for (const [key, value] of changes) {
      const present = this.lookup(index, slots, key) !== DELETED;
      let at = index.position.get(key);
      if (at === undefined || at >= slots.length) {
        if (value === undefined && !present) continue;
        if (index.keys.length !== slots.length) {
          // Another copy of an ancestor added keys after ours: an index of our own.
          const keys = index.keys.slice(0, slots.length);
          index = { keys, position: new Map(keys.map((k, p) => [k, p])) };
        }
        at = index.keys.push(key) - 1;
        index.position.set(key, at);
        slots.push(DELETED);
      }
      slots[at] = value === undefined ? DELETED : value;
      size += (value === undefined ? 0 : 1) - (present ? 1 : 0);
    }
    return new LayeredMap(this.base, index, slots, size);
  }

  private lookup(index: { readonly position: ReadonlyMap<K, number> }, slots: readonly (V | typeof DELETED)[], key: K): V | typeof DELETED {
    const at = index.position.get(key);
    if (at !== undefined && at < slots.length) return slots[at]!;
    return this.base.has(key) ? this.base.get(key)! : DELETED;
  }

  get(key: K): V | undefined {
    const v = this.lookup(this.index, this.slots, key);
    return v === DELETED ? undefined : v;
  }

  has(key: K): boolean {
    return this.lookup(this.index, this.slots, key) !== DELETED;
  }

  *entries(): MapIterator<[K, V]> {
    const { base, index, slots } = this;
    if (slots.length === 0) {
      yield* base.entries();
      return undefined;
    }
    for (const [key, value] of base) {
      const at = index.position.get(key);
      const v = at !== undefined && at < slots.length ? slots[at]! : value;
      if (v !== DELETED) yield [key, v];
    }
    for (let at = 0; at < slots.length; at++) {
      const key = index.keys[at]!;
      const v = slots[at]!;
      if (v !== DELETED && !base.has(key)) yield [key, v];
    }
    return undefined;
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key;
    return undefined;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
    return undefined;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}
