/**
 * LockStore on SQLite: all-or-nothing acquisition in one transaction (BEGIN IMMEDIATE: another process's
 * acquisition waits for it); an expired lock, or one whose holder the caller declares gone, is taken over.
 *
 * The `locks` table predates the holder columns: a store created before them gets `host`, `pid` and
 * `acquired_at` added here, the first time a lock store opens it (a row without them reads as "holder unknown").
 */
import type { DatabaseSync } from 'node:sqlite';
import type { AcquireOptions, AcquireResult, Clock, LockHolder, LockInfo, LockStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';
import { transaction } from './database.ts';

interface Row {
  name: string;
  owner: string;
  expires_at: number;
  host: string | null;
  pid: number | null;
  acquired_at: number | null;
}

const HOLDER_COLUMNS: Readonly<Record<string, string>> = { host: 'TEXT', pid: 'INTEGER', acquired_at: 'INTEGER' };

function ensureHolderColumns(db: DatabaseSync): void {
  const has = (): Set<string> => new Set((db.prepare('PRAGMA table_info(locks)').all() as { name: string }[]).map((c) => c.name));
  if (Object.keys(HOLDER_COLUMNS).every((c) => has().has(c))) return;
  transaction(db, () => {
    const present = has();
    for (const [column, type] of Object.entries(HOLDER_COLUMNS)) if (!present.has(column)) db.exec(`ALTER TABLE locks ADD COLUMN ${column} ${type}`);
  });
}

function toInfo(row: Row): LockInfo {
  const expires = Number(row.expires_at);
  return {
    name: row.name,
    owner: row.owner,
    ...(row.host !== null ? { host: row.host } : {}),
    ...(row.pid !== null ? { pid: Number(row.pid) } : {}),
    // A lock written before acquired_at existed: its acquisition time is unknown; its expiry stands in.
    acquiredAt: new Date(row.acquired_at !== null ? Number(row.acquired_at) : expires).toISOString(),
    expiresAt: new Date(expires).toISOString(),
  };
}

export class LocalLockStore implements LockStore {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  constructor(db: DatabaseSync, clock: Clock = systemClock) {
    this.db = db;
    this.clock = clock;
    ensureHolderColumns(db);
  }

  async acquire(names: readonly string[], holder: LockHolder, ttlSeconds: number, options: AcquireOptions = {}): Promise<AcquireResult> {
    const now = this.clock.now().getTime();
    return transaction(this.db, () => {
      const read = this.db.prepare('SELECT * FROM locks WHERE name = ?');
      const tookOver: LockInfo[] = [];
      for (const name of names) {
        const row = read.get(name) as Row | undefined;
        if (!row || row.owner === holder.owner || Number(row.expires_at) <= now) continue;
        const info = toInfo(row);
        if (options.canTakeOver?.(info)) tookOver.push(info);
        else return { acquired: false, heldBy: info, tookOver: [] };
      }
      const put = this.db.prepare(
        `INSERT INTO locks (name, owner, expires_at, host, pid, acquired_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, host = excluded.host, pid = excluded.pid,
           acquired_at = CASE WHEN locks.owner = excluded.owner THEN locks.acquired_at ELSE excluded.acquired_at END`,
      );
      for (const name of names) put.run(name, holder.owner, now + ttlSeconds * 1000, holder.host ?? null, holder.pid ?? null, now);
      return { acquired: true, tookOver };
    });
  }

  async release(names: readonly string[], owner: string): Promise<void> {
    const del = this.db.prepare('DELETE FROM locks WHERE name = ? AND owner = ?');
    transaction(this.db, () => {
      for (const name of names) del.run(name, owner);
    });
  }

  async list(): Promise<LockInfo[]> {
    return (this.db.prepare('SELECT * FROM locks ORDER BY name').all() as unknown as Row[]).map(toInfo);
  }

  async forceRelease(name: string, owner?: string): Promise<LockInfo | undefined> {
    return transaction(this.db, () => {
      const row = this.db.prepare('SELECT * FROM locks WHERE name = ?').get(name) as Row | undefined;
      if (!row || (owner !== undefined && row.owner !== owner)) return undefined;
      this.db.prepare('DELETE FROM locks WHERE name = ?').run(name);
      return toInfo(row);
    });
  }
}
