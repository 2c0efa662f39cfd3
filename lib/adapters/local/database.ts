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
-- The service's durable state (docs/service-stores.md). The apply queue (local/queue.ts): seq is the order of
-- arrival; the partial unique index makes "one running apply per environment" a property of the table.
CREATE TABLE IF NOT EXISTS apply_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  env TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
  component TEXT NOT NULL,
  actor TEXT NOT NULL,
  allow_destroy INTEGER NOT NULL,
  include_pending INTEGER NOT NULL,
  rollout TEXT,
  enqueued_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  attempts INTEGER NOT NULL,
  owner TEXT,
  outcome TEXT,
  result TEXT
);
CREATE INDEX IF NOT EXISTS apply_queue_by_env ON apply_queue (env, state, seq);
CREATE UNIQUE INDEX IF NOT EXISTS apply_queue_one_running ON apply_queue (env) WHERE state = 'running';
-- Rollouts (local/rollouts.ts): the document as JSON, its version for conditional updates, created_key
-- (createdAt as Date.toISOString writes it) for newest-first lists.
CREATE TABLE IF NOT EXISTS rollouts (
  id TEXT PRIMARY KEY,
  created_key TEXT NOT NULL,
  status TEXT NOT NULL,
  version INTEGER NOT NULL,
  doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollouts_by_created ON rollouts (created_key, id);
-- Webhook deliveries that failed after every retry (local/deliveries.ts): ids sort as their failedAt does.
CREATE TABLE IF NOT EXISTS failed_deliveries (
  id TEXT PRIMARY KEY,
  doc TEXT NOT NULL
) WITHOUT ROWID;
-- The change log of runtime parameters (local/runtime-changes.ts): the triggers record every insert, update and
-- delete on parameters, whoever writes (this process, the CLI, a pipeline's apply in another process, an older
-- Karma). The log keeps the last PARAMETER_CHANGES_KEPT rows: every 1,000th row deletes those older than that.
CREATE TABLE IF NOT EXISTS parameter_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS parameters_inserted AFTER INSERT ON parameters BEGIN INSERT INTO parameter_changes (name) VALUES (NEW.name); END;
CREATE TRIGGER IF NOT EXISTS parameters_updated AFTER UPDATE ON parameters BEGIN INSERT INTO parameter_changes (name) VALUES (NEW.name); END;
CREATE TRIGGER IF NOT EXISTS parameters_deleted AFTER DELETE ON parameters BEGIN INSERT INTO parameter_changes (name) VALUES (OLD.name); END;
CREATE TRIGGER IF NOT EXISTS parameter_changes_pruned AFTER INSERT ON parameter_changes WHEN NEW.seq % 1000 = 0
  BEGIN DELETE FROM parameter_changes WHERE seq <= NEW.seq - 100000; END;
`;

/** How many rows of parameter_changes the pruning trigger keeps (at least; up to 999 more between prunings). */
export const PARAMETER_CHANGES_KEPT = 100_000;

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
