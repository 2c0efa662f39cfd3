/**
 * In-memory RuntimeStore, GraphStore and AuditLog for unit tests of core and app logic: the ports of lib/ports.ts with the
 * semantics of the real stores (SSM's versions, the diff-based graph write) and no file, database or network.
 * test/unit/support/memory-stores.test.ts runs the same cases against these and the SQLite adapter, so the two
 * cannot drift apart. Tests about an adapter itself use the real adapter.
 */
import { ParameterExistsError } from '../../lib/adapters/errors.ts';
import type { Parameter } from '../../lib/core/runtime.ts';
import { buildRecord, diffSnapshots, filterEnv, planWrite, writeStats, type GraphElement, type GraphSnapshot, type WriteStats } from '../../lib/core/snapshot.ts';
import { AuditEntryExistsError, checkAuditCursor, checkAuditEntry, checkAuditLimit, newAuditId, type NewAuditEntry } from '../../lib/adapters/audit.ts';
import type { AuditEntry, AuditLog, BuildRecord, Clock, GraphStore, PutOptions, RuntimeStore } from '../../lib/ports.ts';

/** A clock that starts at `start` and moves one second forward on every reading: timestamps are exact and increasing. */
export function tickingClock(start = '2026-11-28T00:00:00.000Z'): Clock {
  let tick = 0;
  const base = Date.parse(start);
  return { now: () => new Date(base + 1000 * tick++) };
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * SSM Parameter Store's semantics in a Map: every put increases the name's version by one (even with the same
 * value), deleting a name forgets its versions, overwrite=false on an existing name throws ParameterExistsError, readPath
 * is recursive and sorted by name, readNames keeps the order asked and omits missing names.
 */
export class InMemoryRuntimeStore implements RuntimeStore {
  private readonly versions = new Map<string, Parameter[]>();
  private readonly clock: Clock;
  constructor(clock: Clock = tickingClock()) {
    this.clock = clock;
  }

  async readPath(path: string): Promise<Parameter[]> {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const out: Parameter[] = [];
    for (const [name, history] of this.versions) if (name.startsWith(prefix)) out.push(history.at(-1)!);
    return out.sort(byName);
  }

  async readNames(names: readonly string[]): Promise<Parameter[]> {
    return names.flatMap((name) => this.versions.get(name)?.slice(-1) ?? []);
  }

  async put(name: string, value: string, options: PutOptions = {}): Promise<{ version: number }> {
    const history = this.versions.get(name) ?? [];
    const current = history.at(-1);
    if (current && options.overwrite === false) {
      throw new ParameterExistsError(`parameter ${name} already exists (version ${current.version}); pass overwrite to replace it`);
    }
    const version = (current?.version ?? 0) + 1;
    history.push({ name, value, type: options.type ?? 'String', version, lastModified: this.clock.now().toISOString() });
    this.versions.set(name, history);
    return { version };
  }

  async delete(names: readonly string[]): Promise<{ deleted: number }> {
    let deleted = 0;
    for (const name of new Set(names)) if (this.versions.delete(name)) deleted++;
    return { deleted };
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/** A deep copy, as a store that serialises would hand back: callers cannot change what the store holds. */
const copy = <T>(value: T): T => structuredClone(value);

const byId = (a: GraphElement, b: GraphElement): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The local (SQLite) graph store's semantics in Maps: a write diffs ids and hashes with core's planWrite, sends
 * only what changed and deletes what vanished (a deleted vertex takes its edges along); `read` is the current
 * graph under the newest recorded build's meta (undefined before the first build is recorded); the newest
 * `keepBuilds` builds are kept, ids "1", "2", ... Stats count one request per statement as the SQLite store
 * does, and `millis` is always 0 (nothing to time), so tests can compare stats exactly.
 */
export class InMemoryGraphStore implements GraphStore {
  private readonly vertices = new Map<string, GraphElement>();
  private readonly edges = new Map<string, GraphElement>();
  private readonly builds: { record: BuildRecord; snapshot: GraphSnapshot }[] = [];
  private readonly keepBuilds: number;
  private nextBuild = 1;
  /** Changing writes since the last record, and the last write: as the SQLite store's graph_state. */
  private unrecorded = 0;
  private lastWrite: { snapshot: GraphSnapshot; fromRecorded: boolean } | undefined;
  constructor(options: { keepBuilds?: number } = {}) {
    this.keepBuilds = options.keepBuilds ?? 50;
  }

  async write(snapshot: GraphSnapshot): Promise<WriteStats> {
    const hashes = (m: Map<string, GraphElement>): Map<string, string> => new Map([...m].map(([id, e]) => [id, e.hash]));
    const stored = { vertices: hashes(this.vertices), edges: hashes(this.edges) };
    const plan = planWrite(stored, snapshot);
    for (const id of plan.deleteEdges) this.edges.delete(id);
    for (const id of plan.deleteVertices) {
      for (const [edgeId, e] of this.edges) if (e.from === id || e.to === id) this.edges.delete(edgeId);
      this.vertices.delete(id);
    }
    for (const v of plan.upsertVertices) this.vertices.set(v.id, copy(v));
    for (const e of plan.upsertEdges) this.edges.set(e.id, copy(e));
    const requests = 2 + plan.deleteEdges.length + 2 * plan.deleteVertices.length + plan.upsertVertices.length + plan.upsertEdges.length;
    const changed = plan.deleteEdges.length + plan.deleteVertices.length + plan.upsertVertices.length + plan.upsertEdges.length > 0;
    this.lastWrite = { snapshot, fromRecorded: this.unrecorded === 0 };
    if (changed) this.unrecorded++;
    return writeStats(plan, stored, requests, 0);
  }

  async read(options: { env?: string } = {}): Promise<GraphSnapshot | undefined> {
    const latest = this.builds.at(-1);
    if (!latest) return undefined;
    const snapshot: GraphSnapshot = {
      meta: copy(latest.snapshot.meta),
      vertices: [...this.vertices.values()].map(copy).sort(byId),
      edges: [...this.edges.values()].map(copy).sort(byId),
    };
    return options.env === undefined ? snapshot : filterEnv(snapshot, options.env);
  }

  /**
   * The record's counts are the changes since the previous record, as `graph diff` shows them: the write's own
   * counts when it started from the recorded graph, else the diff against the previous record's snapshot.
   */
  async recordBuild(snapshot: GraphSnapshot, written: WriteStats): Promise<BuildRecord> {
    const last = this.lastWrite?.snapshot === snapshot ? this.lastWrite : undefined;
    const previous = this.builds.at(-1)?.snapshot;
    let stats = written;
    if (!last?.fromRecorded) {
      const diff = previous ? diffSnapshots(previous, snapshot) : undefined;
      stats = diff
        ? { ...written, added: diff.added.length, updated: diff.changed.length, deleted: diff.removed.length, unchanged: diff.unchanged }
        : { ...written, added: snapshot.vertices.length + snapshot.edges.length, updated: 0, deleted: 0, unchanged: 0 };
    }
    if (last) this.unrecorded = 0;
    const record: BuildRecord = buildRecord(String(this.nextBuild++), snapshot, stats);
    this.builds.push({ record, snapshot: copy(snapshot) });
    this.builds.splice(0, Math.max(0, this.builds.length - this.keepBuilds));
    return record;
  }

  async listBuilds(limit = 20): Promise<BuildRecord[]> {
    return this.builds.slice(-limit).reverse().map((b) => b.record);
  }

  async readBuild(id: string): Promise<GraphSnapshot | undefined> {
    const found = this.builds.find((b) => b.record.id === id);
    return found ? copy(found.snapshot) : undefined;
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/**
 * The audit logs' semantics (lib/adapters/local/audit-log.ts, lib/adapters/dynamodb/audit-log.ts) in a Map: the
 * same checks and ids (lib/adapters/audit.ts), an id is never written twice (a taken one is retried once with a
 * new id, then AuditEntryExistsError), pages newest first with `next` only when more entries follow.
 */
export class InMemoryAuditLog implements AuditLog {
  readonly description = 'an in-memory audit log';
  private readonly entries: Map<string, AuditEntry>;
  private readonly newId: (at: string) => string;
  /** `entries`: the Map to keep them in (two logs on one Map are one log); `newId`: how ids are made (collision tests). */
  constructor(options: { newId?: (at: string) => string; entries?: Map<string, AuditEntry> } = {}) {
    this.newId = options.newId ?? newAuditId;
    this.entries = options.entries ?? new Map();
  }

  async append(input: NewAuditEntry): Promise<AuditEntry> {
    const entry = checkAuditEntry(input);
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = this.newId(entry.at);
      if (this.entries.has(id)) continue;
      const stored: AuditEntry = { id, ...entry };
      this.entries.set(id, copy(stored));
      return stored;
    }
    throw new AuditEntryExistsError('cannot append to the in-memory audit log: the id is taken, twice in a row with a fresh id; nothing was written');
  }

  async list(options: { readonly limit: number; readonly after?: string; readonly change?: string }): Promise<{ entries: AuditEntry[]; next?: string }> {
    const limit = checkAuditLimit(options.limit);
    const after = checkAuditCursor(options.after);
    const matching = [...this.entries.values()]
      .filter((e) => (options.change === undefined || e.change === options.change) && (after === undefined || e.id < after))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const entries = matching.slice(0, limit).map(copy);
    return matching.length > limit ? { entries, next: entries.at(-1)!.id } : { entries };
  }
}
