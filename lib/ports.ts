/**
 * The interfaces core's callers need from the outside world. Adapters (lib/adapters/*) implement them;
 * lib/app wires them together. Core itself takes plain values and never sees a port.
 */
import type { Problem } from './core/errors.ts';
import type { RepoFile } from './core/model.ts';
import type { Removal } from './core/orphans.ts';
import type { Parameter, ParameterType } from './core/runtime.ts';
import type { BuildMeta, BuildRecord, GraphSnapshot, WriteStats } from './core/snapshot.ts';

export type { BuildRecord };

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

/** A commit's author (or committer). */
export interface GitAuthor {
  readonly name: string;
  readonly email: string;
  /** Seconds since the epoch; now when absent. */
  readonly timestamp?: number;
  readonly timezoneOffset?: number;
}

export interface GitCommit {
  readonly message: string;
  readonly parents: readonly string[];
  readonly author: GitAuthor & { readonly timestamp: number };
}

/**
 * One local Git clone of the config repo, for the change workflow (lib/app/change.ts): commits written as
 * objects without touching the working tree, branches, and the few files a merge checks out.
 * lib/adapters/git/repository.ts implements it with isomorphic-git.
 */
export interface GitRepository {
  /** The work tree. */
  readonly dir: string;
  /** The current branch (absent when HEAD is detached) and the commit HEAD points at; a usage error when there is no commit. */
  head(): Promise<{ branch?: string; commit: string }>;
  /** The repo's files at a commit. */
  sourceAt(commit: string): ConfigSource;
  /** The repository's configured author, else a default. */
  author(): Promise<GitAuthor>;
  readCommit(commit: string): Promise<GitCommit>;
  /** The file's bytes at the commit; undefined when the file is not there. */
  fileAt(commit: string, path: string): Promise<Uint8Array | undefined>;
  /** A new commit on `parent` with `files` replaced (null deletes); no ref, index or working tree touched. */
  commitOnto(parent: string, files: Readonly<Record<string, Uint8Array | null>>, message: string, author: GitAuthor): Promise<string>;
  /** Paths that differ between two commits, sorted. */
  changedFiles(from: string, to: string): Promise<string[]>;
  isAncestor(ancestor: string, of: string): Promise<boolean>;
  /** Local branch names. */
  branches(): Promise<string[]>;
  resolveBranch(branch: string): Promise<string | undefined>;
  createBranch(branch: string, commit: string): Promise<void>;
  /** Moves `branch` from `expected` to `commit`; refuses when someone moved it meanwhile. */
  moveBranch(branch: string, expected: string, commit: string): Promise<void>;
  deleteBranch(branch: string): Promise<void>;
  /** The working tree and the index both match HEAD for this path. */
  isClean(path: string): Promise<boolean>;
  /** Writes `path` from `commit` into the working tree and the index (removes it when absent there). */
  checkoutFile(commit: string, path: string): Promise<void>;
  /** A remote-tracking branch that contains `commit`, as far as this clone knows; undefined when none does. */
  publishedOn(commit: string): Promise<string | undefined>;
  /**
   * Pushes the local branch `ref` to the same branch of the remote `origin` (fast-forward only; a ConflictError when
   * the remote moved), or with `delete` removes that branch there.
   */
  push(ref: string, options?: { readonly delete?: boolean }): Promise<void>;
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
  /** Deletes the named parameters and their history; names that do not exist are ignored. Returns how many were deleted. */
  delete(names: readonly string[]): Promise<{ deleted: number }>;
  close(): Promise<void>;
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

/**
 * The builds a graph store keeps beside its live graph (lib/adapters/history: a directory; an object store fits
 * the same shape). The local store keeps its history in its own database and needs none.
 */
export interface BuildHistory {
  readonly description: string;
  record(snapshot: GraphSnapshot, stats: WriteStats): Promise<BuildRecord>;
  /** Newest first. */
  list(limit?: number): Promise<BuildRecord[]>;
  read(id: string): Promise<GraphSnapshot | undefined>;
  /** The meta of the newest build, if any. */
  latestMeta(): Promise<BuildMeta | undefined>;
}

/** What an audit entry records: a change requested, an apply started, finished or refused. */
export const AUDIT_ACTIONS = ['change.requested', 'change.apply-queued', 'change.apply-started', 'change.applied', 'change.apply-failed', 'change.rejected'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * One audit record: who, when, what, the diff, the result. Written once and never changed (the DynamoDB table
 * refuses an overwrite with a conditional write; the local table has a primary key). The diff carries no secret:
 * input values that are secrets are references (`${ssm:...}`), and values marked sensitive are redacted before
 * an entry is written.
 */
export interface AuditEntry {
  /** Sortable, unique: `<at>#<random>` (ISO time first, so the newest sort last). */
  readonly id: string;
  readonly at: string;
  /** Who: a token's name (karma serve), an IAM principal ARN or a JWT subject (serverless), user@host (the CLI). */
  readonly actor: string;
  readonly action: AuditAction;
  /** The change (proposal) id. */
  readonly change: string;
  readonly component: string;
  readonly env: string;
  readonly commit?: string;
  /** What changed in the inputs (lib/core/inputs-diff.ts), for change.requested. */
  readonly diff?: readonly unknown[];
  /** One line: the outcome or the reason. */
  readonly result?: string;
  /** A pipeline execution this entry started or followed. */
  readonly execution?: string;
}

export interface AuditLog {
  readonly description: string;
  /** Appends an entry (the id is made here); never overwrites one. */
  append(entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry>;
  /** Newest first; `after` is the `next` cursor of the page before; `change` only that change's entries. */
  list(options: { readonly limit: number; readonly after?: string; readonly change?: string }): Promise<{ entries: AuditEntry[]; next?: string }>;
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

/** What one Terraform command left behind. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  readonly log: string;
  /**
   * Secret values never to show (strings, or structured values: every leaf counts): replaced by (sensitive),
   * in every form they can be printed, in the log, the progress lines and the captured output.
   */
  readonly redact?: readonly unknown[];
  /**
   * false: stdout is captured as printed, unredacted, and neither logged nor shown (`terraform output -json`
   * prints sensitive outputs in clear, and they must be stored as they are). Never put that stdout in a message.
   */
  readonly logStdout?: boolean;
  /** Extra environment for this command (the provider cache settings), over the runner's own. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs one Terraform (or OpenTofu) command: lib/adapters/terraform spawns the binary; tests script it. */
export interface TerraformRunner {
  run(args: readonly string[], options: RunOptions): Promise<RunResult>;
}

/** One execution of the deployed state machine, as Step Functions describes it. */
export interface ExecutionDescription {
  readonly executionArn: string;
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE. */
  readonly status?: string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
  /** The execution's input and output, as JSON text. */
  readonly input?: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** The deployed pipeline's executions: Step Functions in AWS (lib/adapters/stepfunctions/executions.ts). */
export interface PipelineExecutions {
  /**
   * Starts an execution named `name` with `input` (JSON text). When one with that name exists already, starts
   * nothing and returns `started: false` with that execution's ARN.
   */
  start(stateMachineArn: string, name: string, input: string): Promise<{ executionArn: string; started: boolean }>;
  /** undefined when there is no such execution. */
  describe(executionArn: string): Promise<ExecutionDescription | undefined>;
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
