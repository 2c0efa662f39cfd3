/**
 * The embedded local backend: one SQLite file (Node's built-in node:sqlite, nothing native to build) that
 * holds both the runtime parameters (SSM's stand-in) and the graph with its build history (Neptune's).
 */
import { mkdirSync } from 'node:fs';
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
CREATE INDEX IF NOT EXISTS edges_from ON edges (from_id);
CREATE INDEX IF NOT EXISTS edges_to ON edges (to_id);
CREATE TABLE IF NOT EXISTS locks (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
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
`;

export const DATABASE_FILE = 'karma.db';

/**
 * Opens (creating when asked) the database at `file`. Several processes may write at once (the local pipeline
 * applies components in parallel, each in its own process): WAL mode, and a generous busy timeout so a writer
 * waits for another's short transaction instead of failing.
 */
export function openDatabase(file: string, options: { create: boolean }): DatabaseSync {
  try {
    if (options.create) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
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
