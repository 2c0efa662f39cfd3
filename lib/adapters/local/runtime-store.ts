/**
 * RuntimeStore on SQLite, with SSM's semantics: every put of a name increases its version by one (even with
 * the same value, as SSM does), history keeps every version, and overwrite=false refuses an existing name.
 * SecureString values are kept in the local file as written (database.ts creates it 0600 in a 0700 folder);
 * docs/backends.md says so.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Parameter, ParameterType } from '../../core/runtime.ts';
import type { Clock, PutOptions, RuntimeStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';
import { transaction } from './database.ts';
import { ParameterExistsError } from '../errors.ts';

interface Row {
  name: string;
  value: string;
  type: string;
  version: number;
  last_modified: string;
}

const toParameter = (r: Row): Parameter => ({
  name: r.name,
  value: r.value,
  type: r.type as ParameterType,
  version: Number(r.version),
  lastModified: r.last_modified,
});

export { ParameterExistsError };

export class LocalRuntimeStore implements RuntimeStore {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  constructor(db: DatabaseSync, clock: Clock = systemClock) {
    this.db = db;
    this.clock = clock;
  }

  async readPath(path: string): Promise<Parameter[]> {
    const base = path.endsWith('/') ? path.slice(0, -1) : path;
    // '/' is 0x2F and '0' is 0x30: the range [base/, base0) is exactly the names under base/.
    const rows = this.db
      .prepare('SELECT name, value, type, version, last_modified FROM parameters WHERE name >= ? AND name < ? ORDER BY name')
      .all(`${base}/`, `${base}0`) as unknown as Row[];
    return rows.map(toParameter);
  }

  async readNames(names: readonly string[]): Promise<Parameter[]> {
    const stmt = this.db.prepare('SELECT name, value, type, version, last_modified FROM parameters WHERE name = ?');
    const out: Parameter[] = [];
    for (const name of names) {
      const row = stmt.get(name) as unknown as Row | undefined;
      if (row) out.push(toParameter(row));
    }
    return out;
  }

  async put(name: string, value: string, options: PutOptions = {}): Promise<{ version: number }> {
    const type = options.type ?? 'String';
    const now = this.clock.now().toISOString();
    return transaction(this.db, () => {
      const current = this.db.prepare('SELECT version FROM parameters WHERE name = ?').get(name) as { version: number } | undefined;
      if (current && options.overwrite === false) {
        throw new ParameterExistsError(`parameter ${name} already exists (version ${current.version}); pass overwrite to replace it`);
      }
      const version = (current ? Number(current.version) : 0) + 1;
      this.db
        .prepare(
          `INSERT INTO parameters (name, value, type, version, last_modified) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET value = excluded.value, type = excluded.type, version = excluded.version, last_modified = excluded.last_modified`,
        )
        .run(name, value, type, version, now);
      this.db
        .prepare('INSERT INTO parameter_history (name, version, value, type, last_modified) VALUES (?, ?, ?, ?, ?)')
        .run(name, version, value, type, now);
      return { version };
    });
  }

  async history(name: string): Promise<Parameter[]> {
    const rows = this.db
      .prepare('SELECT name, value, type, version, last_modified FROM parameter_history WHERE name = ? ORDER BY version')
      .all(name) as unknown as Row[];
    return rows.map(toParameter);
  }

  async delete(names: readonly string[]): Promise<{ deleted: number }> {
    return transaction(this.db, () => {
      let deleted = 0;
      const del = this.db.prepare('DELETE FROM parameters WHERE name = ?');
      const history = this.db.prepare('DELETE FROM parameter_history WHERE name = ?');
      for (const name of new Set(names)) {
        deleted += Number(del.run(name).changes);
        history.run(name);
      }
      return { deleted };
    });
  }

  async close(): Promise<void> {
    // The database is shared with the graph store; LocalBackend closes it.
  }
}
