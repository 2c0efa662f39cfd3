/**
 * GraphStore on SQLite. A write reads ids and hashes, upserts only new or changed elements and deletes the
 * vanished ones, in one transaction. Build history keeps each build's snapshot gzipped, newest `keepBuilds`.
 */
import type { DatabaseSync } from 'node:sqlite';
import { gunzipSync, gzipSync } from 'node:zlib';
import { filterEnv, planWrite, writeStats, type GraphElement, type GraphSnapshot, type WriteStats } from '../../core/snapshot.ts';
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

const toRecord = (r: BuildRow): BuildRecord => ({
  id: String(r.id),
  builtAt: r.built_at,
  ...(r.commit_id ? { commit: r.commit_id } : {}),
  source: r.source,
  vertices: Number(r.vertices),
  edges: Number(r.edges),
  ...(r.stats ? { stats: JSON.parse(r.stats) as WriteStats } : {}),
});

export class LocalGraphStore implements GraphStore {
  private readonly db: DatabaseSync;
  private readonly keepBuilds: number;
  constructor(db: DatabaseSync, options: { keepBuilds?: number } = {}) {
    this.db = db;
    this.keepBuilds = options.keepBuilds ?? 50;
  }

  async write(snapshot: GraphSnapshot): Promise<WriteStats> {
    const started = performance.now();
    return transaction(this.db, () => {
      const stored = { vertices: this.idsAndHashes('vertices'), edges: this.idsAndHashes('edges') };
      let requests = 2;
      const plan = planWrite(stored, snapshot);
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
      requests += plan.deleteEdges.length + (plan.deleteVertices.length > 0 ? 1 : 0) + plan.deleteVertices.length + plan.upsertVertices.length + plan.upsertEdges.length;
      return writeStats(plan, stored, requests, performance.now() - started);
    });
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

  async recordBuild(snapshot: GraphSnapshot, stats: WriteStats): Promise<BuildRecord> {
    // Level 1: a large build's 45 MB of JSON compresses in a third of level 6's time, for a blob 10% larger.
    const blob = gzipSync(JSON.stringify(snapshot), { level: 1 });
    return transaction(this.db, () => {
      const row = this.db
        .prepare('INSERT INTO builds (built_at, commit_id, source, vertices, edges, stats, meta, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id')
        .get(snapshot.meta.builtAt, snapshot.meta.commit ?? null, snapshot.meta.source, snapshot.vertices.length, snapshot.edges.length, JSON.stringify(stats), JSON.stringify(snapshot.meta), blob) as { id: number };
      this.db.prepare('DELETE FROM builds WHERE id <= ?').run(Number(row.id) - this.keepBuilds);
      return {
        id: String(row.id),
        builtAt: snapshot.meta.builtAt,
        ...(snapshot.meta.commit ? { commit: snapshot.meta.commit } : {}),
        source: snapshot.meta.source,
        vertices: snapshot.vertices.length,
        edges: snapshot.edges.length,
        stats,
      };
    });
  }

  async listBuilds(limit = 20): Promise<BuildRecord[]> {
    const rows = this.db
      .prepare('SELECT id, built_at, commit_id, source, vertices, edges, stats FROM builds ORDER BY id DESC LIMIT ?')
      .all(limit) as unknown as BuildRow[];
    return rows.map(toRecord);
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

