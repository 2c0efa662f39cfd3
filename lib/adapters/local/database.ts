/**
 * The embedded local backend: one SQLite file (Node's built-in node:sqlite, nothing native to build) that
 * holds the runtime parameters (SSM's stand-in), the graph with its build history (Neptune's), the environment
 * locks and the audit log (DynamoDB's).
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS parameters (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  type TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_modified TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parameter_history (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  value TEXT NOT NULL,
  type TEXT NOT NULL,
  last_modified TEXT NOT NULL,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vertices (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  props TEXT NOT NULL,
  hash TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  from_id TEXT NOT NULL,
  to_id TEXT NOT NULL,
  props TEXT NOT NULL,
  hash TEXT NOT NULL
) WITHOUT ROWID;
-- No indexes on from_id / to_id: nothing looks edges up by their ends (a write deletes the edges of vanished
-- vertices in one scan), and the two indexes made the first full write of a large graph half again as slow.
DROP INDEX IF EXISTS edges_from;
DROP INDEX IF EXISTS edges_to;
CREATE TABLE IF NOT EXISTS locks (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- One row (id 0), absent until the first graph write: version counts the writes that changed the graph,
-- recorded is the version the latest build record describes. Equal: the graph is exactly the latest recorded
-- build, so a write's counts are also the changes since that build (see LocalGraphStore.recordBuild).
CREATE TABLE IF NOT EXISTS graph_state (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  version INTEGER NOT NULL,
  recorded INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  built_at TEXT NOT NULL,
  commit_id TEXT,
  source TEXT NOT NULL,
  vertices INTEGER NOT NULL,
  edges INTEGER NOT NULL,
  stats TEXT,
  meta TEXT NOT NULL,
  snapshot BLOB NOT NULL
);
-- The audit log (lib/adapters/local/audit-log.ts, docs/audit.md): append-only. The primary key refuses a second
-- entry with an id, and the triggers refuse changing or deleting one, whoever asks.
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  change TEXT NOT NULL,
  component TEXT NOT NULL,
  env TEXT NOT NULL,
  details TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_by_change ON audit (change, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit entries are never changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END;
`;

export const DATABASE_FILE = 'karma.db';

/** The files SQLite keeps for one database in WAL mode. */
const storeFiles = (file: string): string[] => [file, `${file}-wal`, `${file}-shm`];

/** Stores already warned about in this process: the warning is said once, not at every open. */
const warned = new Set<string>();

/**
 * The store holds SecureString values: its folder is created 0700 and the database 0600 (created empty with that
 * mode before SQLite opens it; SQLite gives its -wal and -shm files the database file's mode). A store that
 * already exists is not changed behind the user's back: when group or others can read one of its files, `warn`
 * says so once, with the chmod that fixes it.
 */
function secureStoreFiles(file: string, options: { create: boolean; warn?: (message: string) => void }): void {
  if (file === ':memory:') return;
  if (options.create) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      closeSync(openSync(file, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if (!options.warn || warned.has(file)) return;
  const open = storeFiles(file).filter((f) => {
    try {
      return (statSync(f).mode & 0o077) !== 0;
    } catch {
      return false; // no -wal/-shm right now
    }
  });
  if (open.length === 0) return;
  warned.add(file);
  const mode = (statSync(open[0]!).mode & 0o777).toString(8);
  options.warn(`the local store ${open[0]} (mode ${mode}) can be read by other users, and it holds SecureString values; fix it with: chmod 600 ${file}*; chmod 700 ${dirname(file)}`);
}

/**
 * Opens (creating when asked) the database at `file`. Several processes may write at once (the local pipeline
 * applies components in parallel, each in its own process): WAL mode, and a generous busy timeout so a writer
 * waits for another's short transaction instead of failing. `warn` hears about a store other users can read.
 */
export function openDatabase(file: string, options: { create: boolean; warn?: (message: string) => void }): DatabaseSync {
  try {
    secureStoreFiles(file, options);
    const db = new DatabaseSync(file, { open: true, readOnly: false, timeout: 60_000 });
    // The busy timeout first: switching to WAL and creating tables take locks another process may hold.
    db.exec('PRAGMA busy_timeout = 60000;');
    const mode = db.prepare('PRAGMA journal_mode').get() as { journal_mode: string } | undefined;
    if (mode?.journal_mode !== 'wal' && file !== ':memory:') db.exec('PRAGMA journal_mode = WAL;');
    db.exec('PRAGMA synchronous = NORMAL;');
    db.exec(SCHEMA);
    return db;
  } catch (error) {
    throw new StoreError(`cannot open the local store at ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs `fn` in one transaction: all of it lands, or none. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
