/**
 * RuntimeChangeFeed on the embedded SQLite database: the `parameter_changes` log that database.ts's triggers
 * fill on every insert, update and delete of `parameters`, whoever writes (this process, `karma pipeline run` in
 * another, an apply's child process). The cursor is the log's seq (a decimal string).
 *
 * - poll(undefined): the highest seq ever given (sqlite_sequence, so a pruned or emptied log still counts), no names.
 * - poll(cursor): in one read transaction (a consistent snapshot; WAL readers never wait for writers), the
 *   distinct names logged after the cursor, in the order they first changed, and the highest seq read. Both
 *   lookups walk the integer primary key: the cost is the rows after the cursor, not the size of the store.
 * - reset: true, with the current cursor, when the log cannot say what changed since `cursor`: rows after it
 *   were pruned (the triggers keep the last PARAMETER_CHANGES_KEPT), the cursor is ahead of the log (another
 *   database file, or one re-created), or it is not a cursor of this feed. The caller reads everything again.
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';
import type { RuntimeChangeFeed } from '../../ports.ts';

export class LocalRuntimeChangeFeed implements RuntimeChangeFeed {
  readonly description: string;
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, options: { readonly description?: string } = {}) {
    this.db = db;
    this.description = options.description ?? 'the parameter change log of the local store';
  }

  /** The highest seq ever written to the log (0 before the first change). */
  private last(): number {
    const row = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'parameter_changes'").get() as { seq: number } | undefined;
    return row ? Number(row.seq) : 0;
  }

  async poll(cursor: string | undefined): Promise<{ readonly cursor: string; readonly changed: readonly string[]; readonly reset?: boolean }> {
    try {
      if (cursor === undefined) return { cursor: String(this.last()), changed: [] };
      const from = /^(0|[1-9]\d{0,15})$/.test(cursor) ? Number(cursor) : Number.NaN;
      this.db.exec('BEGIN');
      try {
        const last = this.last();
        if (Number.isNaN(from) || from > last) return { cursor: String(last), changed: [], reset: true };
        if (from === last) return { cursor, changed: [] };
        const oldest = this.db.prepare('SELECT min(seq) AS seq FROM parameter_changes').get() as { seq: number | null };
        // Rows from+1 … oldest-1 were pruned (seqs are never reused, and only pruning deletes rows).
        if (oldest.seq === null || Number(oldest.seq) > from + 1) return { cursor: String(last), changed: [], reset: true };
        const rows = this.db
          .prepare('SELECT name FROM parameter_changes WHERE seq > ? AND seq <= ? GROUP BY name ORDER BY min(seq)')
          .all(from, last) as { name: string }[];
        return { cursor: String(last), changed: rows.map((r) => r.name) };
      } finally {
        this.db.exec('COMMIT');
      }
    } catch (error) {
      throw new StoreError(`cannot read the parameter change log of the local store: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    // The database is shared with the other stores; openServiceStores closes it.
  }
}
