/**
 * The graph as stores see it: a flat list of vertices and edges with stable string ids and a content hash
 * each. Every GraphStore (SQLite, Neptune) writes and reads this shape, so two builds can be compared
 * element by element and a write can send only what changed.
 */
export type PropValue = string | number | boolean;

export interface GraphElement {
  readonly id: string;
  readonly label: string;
  /** Edges only. */
  readonly from?: string;
  readonly to?: string;
  readonly props: Readonly<Record<string, PropValue>>;
  readonly hash: string;
}

export interface BuildMeta {
  readonly project: string;
  readonly builtAt: string;
  readonly source: string;
  readonly commit?: string;
  /** Fingerprint of the config (hash of every config hash). */
  readonly configFingerprint: string;
  /** What made this build, for `graph history` (`pipeline manual <execution> round 2`); absent: `karma graph build`. */
  readonly trigger?: string;
}

export interface GraphSnapshot {
  readonly meta: BuildMeta;
  readonly vertices: readonly GraphElement[];
  readonly edges: readonly GraphElement[];
}

export interface ElementChange {
  readonly id: string;
  readonly label: string;
  readonly changed: Readonly<Record<string, { readonly before: PropValue | undefined; readonly after: PropValue | undefined }>>;
}

export interface SnapshotDiff {
  readonly added: readonly GraphElement[];
  readonly removed: readonly GraphElement[];
  readonly changed: readonly ElementChange[];
  readonly unchanged: number;
}

/** What changed from `before` to `after`, by id; props compared only where the hashes differ. */
export function diffSnapshots(before: GraphSnapshot, after: GraphSnapshot): SnapshotDiff {
  const old = new Map<string, GraphElement>();
  for (const e of before.vertices) old.set(e.id, e);
  for (const e of before.edges) old.set(e.id, e);
  const added: GraphElement[] = [];
  const changed: ElementChange[] = [];
  let unchanged = 0;
  for (const e of [...after.vertices, ...after.edges]) {
    const prev = old.get(e.id);
    old.delete(e.id);
    if (!prev) added.push(e);
    else if (prev.hash === e.hash) unchanged++;
    else {
      const keys = new Set([...Object.keys(prev.props), ...Object.keys(e.props)]);
      const props: Record<string, { before: PropValue | undefined; after: PropValue | undefined }> = {};
      for (const k of [...keys].sort()) if (prev.props[k] !== e.props[k]) props[k] = { before: prev.props[k], after: e.props[k] };
      changed.push({ id: e.id, label: e.label, changed: props });
    }
  }
  const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return { added: added.sort(byId), removed: [...old.values()].sort(byId), changed: changed.sort(byId), unchanged };
}

/** ids and hashes: what a store compares against to decide what to send. */
export function elementHashes(snapshot: GraphSnapshot): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of snapshot.vertices) m.set(e.id, e.hash);
  for (const e of snapshot.edges) m.set(e.id, e.hash);
  return m;
}

export interface WritePlan {
  readonly upsertVertices: readonly GraphElement[];
  readonly upsertEdges: readonly GraphElement[];
  readonly deleteVertices: readonly string[];
  readonly deleteEdges: readonly string[];
  readonly unchanged: number;
}

/**
 * Given what a store holds (id → hash, vertices and edges apart) and the new snapshot: the elements to send
 * and the ids to delete. Every edge that vanished is listed in deleteEdges, those of a deleted vertex too
 * (a graph database drops them with the vertex anyway), so the counts say what changed, as `graph diff` does.
 */
export function planWrite(
  stored: { readonly vertices: ReadonlyMap<string, string>; readonly edges: ReadonlyMap<string, string> },
  snapshot: GraphSnapshot,
): WritePlan {
  const upsertVertices = snapshot.vertices.filter((v) => stored.vertices.get(v.id) !== v.hash);
  const upsertEdges = snapshot.edges.filter((e) => stored.edges.get(e.id) !== e.hash);
  // Ids to keep are indexed only when the store holds something to delete (not on a first write of 150,000 elements).
  const vanished = (held: ReadonlyMap<string, string>, elements: readonly GraphElement[]): string[] => {
    if (held.size === 0) return [];
    const keep = new Set(elements.map((e) => e.id));
    return [...held.keys()].filter((id) => !keep.has(id)).sort();
  };
  const deleteVertices = vanished(stored.vertices, snapshot.vertices);
  const deleteEdges = vanished(stored.edges, snapshot.edges);
  const unchanged = snapshot.vertices.length + snapshot.edges.length - upsertVertices.length - upsertEdges.length;
  return { upsertVertices, upsertEdges, deleteVertices, deleteEdges, unchanged };
}

/** What a store reports for a write of `plan`, given what it held before (ids of stored vertices and edges). */
export function writeStats(
  plan: WritePlan,
  stored: { readonly vertices: ReadonlyMap<string, string> | ReadonlySet<string>; readonly edges: ReadonlyMap<string, string> | ReadonlySet<string> },
  requests: number,
  millis: number,
): WriteStats {
  const added = plan.upsertVertices.filter((v) => !stored.vertices.has(v.id)).length + plan.upsertEdges.filter((e) => !stored.edges.has(e.id)).length;
  return {
    added,
    updated: plan.upsertVertices.length + plan.upsertEdges.length - added,
    deleted: plan.deleteVertices.length + plan.deleteEdges.length,
    unchanged: plan.unchanged,
    requests,
    millis: Math.round(millis),
  };
}

export interface WriteStats {
  readonly added: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
  /** Requests or statements sent to the store. */
  readonly requests: number;
  readonly millis: number;
}

/** The elements of one environment: its env vertex, components, outputs, the parameters they consume, and edges among those. */
export function filterEnv(snapshot: GraphSnapshot, env: string): GraphSnapshot {
  const keep = new Set<string>();
  for (const v of snapshot.vertices) if (v.id === `env:${env}` || v.props['env'] === env) keep.add(v.id);
  for (const e of snapshot.edges) if (e.label === 'CONSUMES' && keep.has(e.from!)) keep.add(e.to!);
  return {
    meta: snapshot.meta,
    vertices: snapshot.vertices.filter((v) => keep.has(v.id)),
    edges: snapshot.edges.filter((e) => keep.has(e.from!) && keep.has(e.to!)),
  };
}

export interface BuildRecord {
  readonly id: string;
  readonly builtAt: string;
  readonly commit?: string;
  readonly source: string;
  /** What made the build (BuildMeta.trigger); absent for `karma graph build`. */
  readonly trigger?: string;
  readonly vertices: number;
  readonly edges: number;
  readonly stats?: WriteStats;
}

/** The record of `snapshot` under `id`, as every build history lists it. */
export function buildRecord(id: string, snapshot: GraphSnapshot, stats: WriteStats): BuildRecord {
  const { meta } = snapshot;
  return {
    id,
    builtAt: meta.builtAt,
    ...(meta.commit ? { commit: meta.commit } : {}),
    source: meta.source,
    ...(meta.trigger ? { trigger: meta.trigger } : {}),
    vertices: snapshot.vertices.length,
    edges: snapshot.edges.length,
    stats,
  };
}
