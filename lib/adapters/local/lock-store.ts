/** LockStore on SQLite: all-or-nothing acquisition in one transaction; expired locks are taken over. */
import type { DatabaseSync } from 'node:sqlite';
import type { Clock, LockStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';
import { transaction } from './database.ts';

export class LocalLockStore implements LockStore {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  constructor(db: DatabaseSync, clock: Clock = systemClock) {
    this.db = db;
    this.clock = clock;
  }

  async acquire(names: readonly string[], owner: string, ttlSeconds: number): Promise<{ acquired: boolean; heldBy?: string }> {
    const now = this.clock.now().getTime();
    return transaction(this.db, () => {
      const read = this.db.prepare('SELECT owner, expires_at FROM locks WHERE name = ?');
      for (const name of names) {
        const row = read.get(name) as { owner: string; expires_at: number } | undefined;
        if (row && row.owner !== owner && Number(row.expires_at) > now) return { acquired: false, heldBy: row.owner };
      }
      const put = this.db.prepare(
        'INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at',
      );
      for (const name of names) put.run(name, owner, now + ttlSeconds * 1000);
      return { acquired: true };
    });
  }

  async release(names: readonly string[], owner: string): Promise<void> {
    const del = this.db.prepare('DELETE FROM locks WHERE name = ? AND owner = ?');
    transaction(this.db, () => {
      for (const name of names) del.run(name, owner);
    });
  }
}
