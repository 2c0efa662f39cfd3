/**
 * The interfaces core's callers need from the outside world. Adapters (lib/adapters/*) implement them;
 * lib/app wires them together. Core itself takes plain values and never sees a port.
 */
import type { Problem } from './core/errors.ts';
import type { RepoFile } from './core/model.ts';
import type { Removal } from './core/orphans.ts';
import type { Parameter, ParameterType } from './core/runtime.ts';
import type { GraphSnapshot, WriteStats } from './core/snapshot.ts';

/** Where the config repo comes from: a directory, or a Git repository at a ref. */
export interface ConfigSource {
  /** Human-readable location, for messages. */
  readonly description: string;
  /**
   * Every file of the repo (Karma's own state folder, .git and Terraform working dirs excluded). Problems the
   * source itself finds (a symlink leaving the repo, an unreadable file) come back beside the files.
   */
  load(): Promise<{ files: RepoFile[]; problems: Problem[]; commit?: string }>;
  /**
   * Where removed deployments were last seen, by `env/component`, when the config comes from Git (a Git URL, a
   * ref, or a directory that is a Git work tree): the last commit that had the env file and the commit that
   * removed it. Deployments not found in the history searched are absent. Sources without history omit it.
   */
  findRemovals?(deployments: readonly { readonly env: string; readonly component: string }[]): Promise<ReadonlyMap<string, Removal>>;
}

export interface PutOptions {
  readonly type?: ParameterType;
  /** Refuse to replace an existing value when false (SSM's Overwrite). Default true. */
  readonly overwrite?: boolean;
}

/** SSM Parameter Store, or a local stand-in with the same semantics (versions increase on every put). */
export interface RuntimeStore {
  /** Every parameter under `path` (recursive), with versions. Values of SecureStrings are decrypted. */
  readPath(path: string): Promise<Parameter[]>;
  /** The named parameters that exist; missing names are simply absent from the result. */
  readNames(names: readonly string[]): Promise<Parameter[]>;
  put(name: string, value: string, options?: PutOptions): Promise<{ version: number }>;
  /** Every version of one parameter, oldest first. */
  history(name: string): Promise<Parameter[]>;
  /** Deletes the named parameters and their history; names that do not exist are ignored. Returns how many were deleted. */
  delete(names: readonly string[]): Promise<{ deleted: number }>;
  close(): Promise<void>;
}

export interface BuildRecord {
  readonly id: string;
  readonly builtAt: string;
  readonly commit?: string;
  readonly source: string;
  /** What made the build (BuildMeta.trigger); absent for `karma graph build`. */
  readonly trigger?: string;
  readonly vertices: number;
  readonly edges: number;
  readonly stats?: WriteStats;
}

/**
 * The graph store: Neptune in AWS, SQLite locally. Writes are idempotent and diff-based: the store compares
 * ids and hashes and sends only what changed, then deletes what vanished. It also keeps a history of builds
 * so any two can be compared.
 */
export interface GraphStore {
  write(snapshot: GraphSnapshot): Promise<WriteStats>;
  /** The current graph; with `env`, only that environment's elements (and the edges among them). */
  read(options?: { env?: string }): Promise<GraphSnapshot | undefined>;
  recordBuild(snapshot: GraphSnapshot, stats: WriteStats): Promise<BuildRecord>;
  listBuilds(limit?: number): Promise<BuildRecord[]>;
  readBuild(id: string): Promise<GraphSnapshot | undefined>;
  close(): Promise<void>;
}

/** Who holds a lock: the execution, and for a local run the process (so a dead one can be recognised). */
export interface LockHolder {
  /** The execution id. */
  readonly owner: string;
  /** The host the holding process runs on (absent for a deployed execution: its Lambdas come and go). */
  readonly host?: string;
  /** The process that holds it (`karma pipeline run`); absent for a deployed execution. */
  readonly pid?: number;
}

/** A lock as stored. */
export interface LockInfo extends LockHolder {
  /** `env-<env>`. */
  readonly name: string;
  /** ISO 8601. */
  readonly acquiredAt: string;
  /** ISO 8601: after this the lock is free for anyone. */
  readonly expiresAt: string;
}

export interface AcquireOptions {
  /** A held, unexpired lock for which this returns true is taken over (its holder is known to be gone). */
  readonly canTakeOver?: (lock: LockInfo) => boolean;
}

export interface AcquireResult {
  readonly acquired: boolean;
  /** When not acquired: the first lock someone else holds. */
  readonly heldBy?: LockInfo;
  /** Locks taken over from a holder `canTakeOver` declared gone (expired locks are not listed). */
  readonly tookOver: readonly LockInfo[];
}

/**
 * Mutual exclusion per environment: one pipeline execution applies to an environment at a time. A lock has a
 * holder (the execution id; for a local run the host and pid) and expires, so a crashed execution cannot hold
 * an environment forever.
 */
export interface LockStore {
  /** Takes every named lock, or none; when one is taken by someone else, returns that lock. */
  acquire(names: readonly string[], holder: LockHolder, ttlSeconds: number, options?: AcquireOptions): Promise<AcquireResult>;
  /** Releases the named locks this owner holds (others' locks are left alone). */
  release(names: readonly string[], owner: string): Promise<void>;
  /** Every lock, expired ones included, by name. */
  list(): Promise<LockInfo[]>;
  /** Deletes the named lock whoever holds it (with `owner`: only if that owner holds it); returns what it deleted. */
  forceRelease(name: string, owner?: string): Promise<LockInfo | undefined>;
}

/** Graph snapshots by reference (S3 in AWS, a directory locally): the state machine passes keys, not graphs. */
export interface SnapshotStore {
  /** Stores the snapshot; with `keep`, then deletes all but the newest `keep` snapshots of the store. */
  put(key: string, snapshot: GraphSnapshot, options?: { keep?: number }): Promise<string>;
  get(ref: string): Promise<GraphSnapshot>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Progress for long work: goes to stderr in the CLI, to the structured logger in Lambda. */
export interface Progress {
  step(message: string): void;
}

export const silentProgress: Progress = { step: () => undefined };
