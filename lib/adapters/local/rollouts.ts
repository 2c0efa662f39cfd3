/**
 * RolloutStore on the embedded SQLite database (the `rollouts` table of database.ts): the rollout as one JSON
 * document, beside its version (update is `UPDATE … WHERE id = ? AND version = ?`: a stale copy changes no row
 * and is refused with ConflictError), its status (the list's filter) and created_key (createdAt as
 * Date.toISOString writes it: newest first is ORDER BY created_key DESC, id DESC).
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';
import type { Rollout, RolloutStatus, RolloutStore } from '../../ports.ts';
import { checkListLimit, checkRollout, isoTime, notVersionOne, rolloutExists, staleRollout } from '../service-records.ts';

const isPrimaryKeyConflict = (error: unknown): boolean => (error as { errcode?: number }).errcode === 1555; // SQLITE_CONSTRAINT_PRIMARYKEY

export class LocalRolloutStore implements RolloutStore {
  readonly description: string;
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, options: { readonly description?: string } = {}) {
    this.db = db;
    this.description = options.description ?? 'the rollouts table of the local store';
  }

  private failure(what: string, error: unknown): StoreError {
    return new StoreError(`cannot ${what} the local rollouts table: ${(error as Error).message}`, { cause: error });
  }

  async create(input: Rollout): Promise<void> {
    const rollout = checkRollout(input);
    if (rollout.version !== 1) throw notVersionOne(rollout);
    try {
      this.db
        .prepare('INSERT INTO rollouts (id, created_key, status, version, doc) VALUES (?, ?, ?, ?, ?)')
        .run(rollout.id, isoTime(rollout.createdAt, 'rollout: createdAt'), rollout.status, rollout.version, JSON.stringify(rollout));
    } catch (error) {
      if (isPrimaryKeyConflict(error)) throw rolloutExists(rollout.id);
      throw this.failure('write to', error);
    }
  }

  async get(id: string): Promise<Rollout | undefined> {
    let row: { doc: string } | undefined;
    try {
      row = this.db.prepare('SELECT doc FROM rollouts WHERE id = ?').get(id) as { doc: string } | undefined;
    } catch (error) {
      throw this.failure('read', error);
    }
    return row ? (JSON.parse(row.doc) as Rollout) : undefined;
  }

  async list(options: { readonly limit?: number; readonly status?: readonly RolloutStatus[] } = {}): Promise<Rollout[]> {
    const limit = checkListLimit(options.limit, 'rollout list');
    if (options.status !== undefined && options.status.length === 0) return [];
    const where = options.status !== undefined ? `WHERE status IN (${options.status.map(() => '?').join(', ')})` : '';
    let rows: { doc: string }[];
    try {
      rows = this.db
        .prepare(`SELECT doc FROM rollouts ${where} ORDER BY created_key DESC, id DESC${limit !== undefined ? ' LIMIT ?' : ''}`)
        .all(...(options.status ?? []), ...(limit !== undefined ? [limit] : [])) as { doc: string }[];
    } catch (error) {
      throw this.failure('read', error);
    }
    return rows.map((r) => JSON.parse(r.doc) as Rollout);
  }

  async update(input: Rollout): Promise<Rollout> {
    const next = checkRollout(input);
    let changes: number;
    try {
      changes = Number(
        this.db
          .prepare('UPDATE rollouts SET created_key = ?, status = ?, version = ?, doc = ? WHERE id = ? AND version = ?')
          .run(isoTime(next.createdAt, 'rollout: createdAt'), next.status, next.version, JSON.stringify(next), next.id, next.version - 1).changes,
      );
    } catch (error) {
      throw this.failure('write to', error);
    }
    if (changes === 0) {
      const stored = this.db.prepare('SELECT version FROM rollouts WHERE id = ?').get(next.id) as { version: number } | undefined;
      throw staleRollout(next, stored === undefined ? undefined : Number(stored.version));
    }
    return next;
  }
}
