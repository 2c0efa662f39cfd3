/**
 * GraphStore on SQLite. A write reads ids and hashes, upserts only new or changed elements and deletes the
 * vanished ones, in one transaction. Build history keeps each build's snapshot gzipped, newest `keepBuilds`.
 *
 * A build record's counts are the changes since the previous record: what `graph diff <previous> <this>` shows.
 * They are the write's own counts when nothing changed the graph between the two records (graph_state tells);
 * after a write nobody recorded, they are counted again from the previous record's snapshot.
 */
import type { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { gunzipSync, gzip, gzipSync } from 'node:zlib';
import { buildRecord, diffSnapshots, filterEnv, planWrite, writeStats, type BuildMeta, type GraphElement, type GraphSnapshot, type WriteStats } from '../../core/snapshot.ts';
import type { BuildRecord, GraphStore } from '../../ports.ts';
import { transaction } from './database.ts';

interface ElementRow {
  id: string;
  label: string;
  from_id?: string;
  to_id?: string;
  props: string;
  hash: string;
}

interface BuildRow {
  id: number;
  built_at: string;
  commit_id: string | null;
  source: string;
  vertices: number;
  edges: number;
  stats: string | null;
  meta: string;
}

const toRecord = (r: BuildRow, trigger = (JSON.parse(r.meta) as BuildMeta).trigger): BuildRecord => ({
  id: String(r.id),
  builtAt: r.built_at,
  ...(r.commit_id ? { commit: r.commit_id } : {}),
  source: r.source,
  ...(trigger ? { trigger } : {}),
  vertices: Number(r.vertices),
  edges: Number(r.edges),
  ...(r.stats ? { stats: JSON.parse(r.stats) as WriteStats } : {}),
});

/** The last write of this store object: which snapshot, and whether the graph was the latest record's before it. */
interface LastWrite {
  readonly snapshot: GraphSnapshot;
  /** The graph held exactly the latest recorded build before this write. */
  readonly fromRecorded: boolean;
  /** graph_state.version after this write. */
  readonly version: number;
  /** The snapshot compressed for the history, started when the write changed something (then a record follows). */
  readonly blob?: Promise<Buffer>;
}

const gzipAsync = promisify(gzip);

/**
 * The history's form of a snapshot: its JSON, gzipped at level 1 (a large build's 45 MB of JSON compresses in a
 * third of level 6's time, for a blob 10% larger). Compressed on libuv's thread pool, so a write's SQLite work goes
 * on meanwhile; an output buffer of a third of the input keeps it to one or two round trips to the main thread.
 */
function compressSnapshot(snapshot: GraphSnapshot): Promise<Buffer> {
  const text = Buffer.from(JSON.stringify(snapshot));
  const blob = gzipAsync(text, { level: 1, chunkSize: Math.max(64 * 1024, Math.ceil(text.length / 3)) });
  blob.catch(() => undefined); // read (and its error reported) by recordBuild; a write nobody records drops it
  return blob;
}

export class LocalGraphStore implements GraphStore {
  private readonly db: DatabaseSync;
  private readonly keepBuilds: number;
  private lastWrite: LastWrite | undefined;
  constructor(db: DatabaseSync, options: { keepBuilds?: number } = {}) {
    this.db = db;
    this.keepBuilds = options.keepBuilds ?? 50;
  }

  async write(snapshot: GraphSnapshot): Promise<WriteStats> {
    const started = performance.now();
    return transaction(this.db, () => {
      const state = this.graphState();
      const stored = { vertices: this.idsAndHashes('vertices'), edges: this.idsAndHashes('edges') };
      let requests = 2;
      const plan = planWrite(stored, snapshot);
      const changes = plan.deleteEdges.length + plan.deleteVertices.length + plan.upsertVertices.length + plan.upsertEdges.length;
      const blob = changes > 0 ? compressSnapshot(snapshot) : undefined;
      const upsertV = this.db.prepare(
        'INSERT INTO vertices (id, label, props, hash) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET label = excluded.label, props = excluded.props, hash = excluded.hash',
      );
      const upsertE = this.db.prepare(
        'INSERT INTO edges (id, label, from_id, to_id, props, hash) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET label = excluded.label, from_id = excluded.from_id, to_id = excluded.to_id, props = excluded.props, hash = excluded.hash',
      );
      const deleteV = this.db.prepare('DELETE FROM vertices WHERE id = ?');
      const deleteE = this.db.prepare('DELETE FROM edges WHERE id = ?');
      for (const id of plan.deleteEdges) deleteE.run(id);
      if (plan.deleteVertices.length > 0) {
        // Edges still attached to a vanished vertex (a snapshot never has them, a store written by hand might):
        // one scan of the edges for all of them, no index on the ends to maintain on every write.
        const gone = JSON.stringify(plan.deleteVertices);
        this.db.prepare('DELETE FROM edges WHERE from_id IN (SELECT value FROM json_each(?1)) OR to_id IN (SELECT value FROM json_each(?1))').run(gone);
        for (const id of plan.deleteVertices) deleteV.run(id);
      }
      for (const v of plan.upsertVertices) upsertV.run(v.id, v.label, JSON.stringify(v.props), v.hash);
      for (const e of plan.upsertEdges) upsertE.run(e.id, e.label, e.from!, e.to!, JSON.stringify(e.props), e.hash);
      requests += changes + (plan.deleteVertices.length > 0 ? 1 : 0);
      const version = changes > 0 ? state.version + 1 : state.version;
      if (changes > 0) {
        this.db
          .prepare('INSERT INTO graph_state (id, version, recorded) VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version')
          .run(version, state.recorded);
      }
      this.lastWrite = { snapshot, fromRecorded: state.version === state.recorded, version, ...(blob ? { blob } : {}) };
      return writeStats(plan, stored, requests, performance.now() - started);
    });
  }

  /** graph_state's row; (0, 0) in a store that never had a graph write since it was created or upgraded. */
  private graphState(): { version: number; recorded: number } {
    const row = this.db.prepare('SELECT version, recorded FROM graph_state WHERE id = 0').get() as { version: number; recorded: number } | undefined;
    return { version: Number(row?.version ?? 0), recorded: Number(row?.recorded ?? 0) };
  }

  /** id → hash of every stored vertex or edge. Rows as arrays: no object per row (150,000+ rows for a large repo). */
  private idsAndHashes(table: 'vertices' | 'edges'): Map<string, string> {
    const statement = this.db.prepare(`SELECT id, hash FROM ${table}`);
    statement.setReturnArrays(true);
    const map = new Map<string, string>();
    for (const row of statement.all() as unknown as [string, string][]) map.set(row[0], row[1]);
    return map;
  }

  async read(options: { env?: string } = {}): Promise<GraphSnapshot | undefined> {
    const latest = this.db.prepare('SELECT id, built_at, commit_id, source, vertices, edges, stats, meta FROM builds ORDER BY id DESC LIMIT 1').get() as unknown as BuildRow | undefined;
    if (!latest) return undefined;
    const vertices = (this.db.prepare('SELECT id, label, props, hash FROM vertices ORDER BY id').all() as unknown as ElementRow[]).map(toElement);
    const edges = (this.db.prepare('SELECT id, label, from_id, to_id, props, hash FROM edges ORDER BY id').all() as unknown as ElementRow[]).map(toElement);
    const snapshot: GraphSnapshot = { meta: JSON.parse(latest.meta) as GraphSnapshot['meta'], vertices, edges };
    return options.env === undefined ? snapshot : filterEnv(snapshot, options.env);
  }

  async recordBuild(snapshot: GraphSnapshot, written: WriteStats): Promise<BuildRecord> {
    const last = this.lastWrite?.snapshot === snapshot ? this.lastWrite : undefined;
    const stats = last?.fromRecorded ? written : await this.changesSinceLastRecord(snapshot, written);
    const blob = last?.blob ? await last.blob : gzipSync(JSON.stringify(snapshot), { level: 1 });
    return transaction(this.db, () => {
      // The graph is now this record's, unless another writer changed it since our write (then it stays unrecorded).
      if (last && this.graphState().version === last.version) {
        this.db.prepare('INSERT INTO graph_state (id, version, recorded) VALUES (0, ?1, ?1) ON CONFLICT (id) DO UPDATE SET recorded = excluded.recorded').run(last.version);
      }
      const row = this.db
        .prepare('INSERT INTO builds (built_at, commit_id, source, vertices, edges, stats, meta, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id')
        .get(snapshot.meta.builtAt, snapshot.meta.commit ?? null, snapshot.meta.source, snapshot.vertices.length, snapshot.edges.length, JSON.stringify(stats), JSON.stringify(snapshot.meta), blob) as { id: number };
      this.db.prepare('DELETE FROM builds WHERE id <= ?').run(Number(row.id) - this.keepBuilds);
      return buildRecord(String(row.id), snapshot, stats);
    });
  }

  /**
   * The counts of a record whose write did not start from the latest record (something wrote the graph without
   * recording it): diffSnapshots against the latest record's snapshot, as `graph diff` counts; all added when
   * there is none. Requests and time stay the write's.
   */
  private async changesSinceLastRecord(snapshot: GraphSnapshot, written: WriteStats): Promise<WriteStats> {
    const [latest] = await this.listBuilds(1);
    const previous = latest ? await this.readBuild(latest.id) : undefined;
    if (!previous) return { ...written, added: snapshot.vertices.length + snapshot.edges.length, updated: 0, deleted: 0, unchanged: 0 };
    const diff = diffSnapshots(previous, snapshot);
    return { ...written, added: diff.added.length, updated: diff.changed.length, deleted: diff.removed.length, unchanged: diff.unchanged };
  }

  async listBuilds(limit = 20): Promise<BuildRecord[]> {
    const rows = this.db
      .prepare('SELECT id, built_at, commit_id, source, vertices, edges, stats, meta FROM builds ORDER BY id DESC LIMIT ?')
      .all(limit) as unknown as BuildRow[];
    return rows.map((r) => toRecord(r));
  }

  async readBuild(id: string): Promise<GraphSnapshot | undefined> {
    const row = this.db.prepare('SELECT snapshot FROM builds WHERE id = ?').get(Number(id)) as { snapshot: Uint8Array } | undefined;
    if (!row) return undefined;
    return JSON.parse(gunzipSync(row.snapshot).toString('utf8')) as GraphSnapshot;
  }

  async close(): Promise<void> {
    // Shared database: LocalBackend closes it.
  }
}

function toElement(r: ElementRow): GraphElement {
  return {
    id: r.id,
    label: r.label,
    ...(r.from_id ? { from: r.from_id, to: r.to_id! } : {}),
    props: JSON.parse(r.props) as GraphElement['props'],
    hash: r.hash,
  };
}

