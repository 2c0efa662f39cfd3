/**
 * AuditLog on the embedded SQLite database (the `audit` table of database.ts): the local twin of the DynamoDB
 * table, with the same ids, the same checks (../audit.ts) and the same pages.
 *
 * - append: one INSERT (never INSERT OR REPLACE): the primary key refuses an id that exists, and the table's
 *   triggers refuse UPDATE and DELETE. A taken id (64 random bits in the same millisecond) is retried once with a
 *   new one, as the DynamoDB log does; a second collision is an AuditEntryExistsError and nothing is written.
 * - list: newest first (ORDER BY id DESC: ids start with the time), `after` = the last id of the page before,
 *   `change` through the index (change, id). One row more than asked tells whether there is a next page, so the
 *   last page has no `next` (no empty page after it).
 *
 * The optional fields (commit, diff, result, execution) are one JSON column, `details`.
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';
import type { AuditAction, AuditEntry, AuditLog } from '../../ports.ts';
import { AuditEntryExistsError, checkAuditCursor, checkAuditEntry, checkAuditLimit, newAuditId, type NewAuditEntry } from '../audit.ts';

interface Row {
  id: string;
  at: string;
  actor: string;
  action: string;
  change: string;
  component: string;
  env: string;
  details: string | null;
}

type Details = Pick<AuditEntry, 'commit' | 'diff' | 'result' | 'execution'>;

function toEntry(row: Row): AuditEntry {
  const details = row.details === null ? {} : (JSON.parse(row.details) as Details);
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action as AuditAction,
    change: row.change,
    component: row.component,
    env: row.env,
    ...(details.commit !== undefined ? { commit: details.commit } : {}),
    ...(details.diff !== undefined ? { diff: details.diff } : {}),
    ...(details.result !== undefined ? { result: details.result } : {}),
    ...(details.execution !== undefined ? { execution: details.execution } : {}),
  };
}

const isPrimaryKeyConflict = (error: unknown): boolean => (error as { errcode?: number }).errcode === 1555; // SQLITE_CONSTRAINT_PRIMARYKEY

export interface LocalAuditLogOptions {
  /** How an id is made (tests force a collision with it). @default newAuditId */
  readonly newId?: (at: string) => string;
}

export class LocalAuditLog implements AuditLog {
  readonly description: string;
  private readonly db: DatabaseSync;
  private readonly newId: (at: string) => string;

  constructor(db: DatabaseSync, options: LocalAuditLogOptions & { readonly description?: string } = {}) {
    this.db = db;
    this.newId = options.newId ?? newAuditId;
    this.description = options.description ?? 'the audit table of the local store';
  }

  async append(input: NewAuditEntry): Promise<AuditEntry> {
    const entry = checkAuditEntry(input);
    const details: Details = {
      ...(entry.commit !== undefined ? { commit: entry.commit } : {}),
      ...(entry.diff !== undefined ? { diff: entry.diff } : {}),
      ...(entry.result !== undefined ? { result: entry.result } : {}),
      ...(entry.execution !== undefined ? { execution: entry.execution } : {}),
    };
    const insert = this.db.prepare('INSERT INTO audit (id, at, actor, action, change, component, env, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const json = Object.keys(details).length > 0 ? JSON.stringify(details) : null;
    let taken: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = this.newId(entry.at);
      try {
        insert.run(id, entry.at, entry.actor, entry.action, entry.change, entry.component, entry.env, json);
        return { id, ...entry };
      } catch (error) {
        if (!isPrimaryKeyConflict(error)) throw new StoreError(`cannot append to the local audit log: ${(error as Error).message}`, { cause: error });
        taken = id;
      }
    }
    throw new AuditEntryExistsError(`cannot append to the local audit log: the id ${taken} is taken, twice in a row with a fresh id; nothing was written`);
  }

  async list(options: { readonly limit: number; readonly after?: string; readonly change?: string }): Promise<{ entries: AuditEntry[]; next?: string }> {
    const limit = checkAuditLimit(options.limit);
    const after = checkAuditCursor(options.after);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (options.change !== undefined) {
      where.push('change = ?');
      params.push(options.change);
    }
    if (after !== undefined) {
      where.push('id < ?');
      params.push(after);
    }
    let rows: Row[];
    try {
      rows = this.db
        .prepare(`SELECT id, at, actor, action, change, component, env, details FROM audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
        .all(...params, limit + 1) as unknown as Row[];
    } catch (error) {
      throw new StoreError(`cannot read the local audit log: ${(error as Error).message}`, { cause: error });
    }
    const entries = rows.slice(0, limit).map(toEntry);
    return rows.length > limit ? { entries, next: entries.at(-1)!.id } : { entries };
  }
}
