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

// ---------------------------------------------------------------------------------------------------------
// The service's durable state (issue 13: `karma serve`'s change queue, rollouts, failed notifications, and the
// feed of runtime changes its live graph follows). Locally: tables in the embedded SQLite file; in AWS: one
// DynamoDB table (KARMA_SERVICE_TABLE) and the SQS queue EventBridge fills with SSM's change events.

/** Where an apply is in the queue. `done` entries are kept (the history), with their outcome. */
export type QueueState = 'queued' | 'running' | 'done';

/** One apply waiting, running or done: one entry per change, FIFO per environment. */
export interface QueuedApply {
  /** The change (proposal) id, `p-…`: the queue's key. */
  readonly id: string;
  readonly env: string;
  readonly component: string;
  /** Who decided (POST /changes/{id}/apply's token, or the rollout's creator/approver). */
  readonly actor: string;
  readonly allowDestroy: boolean;
  readonly includePending: boolean;
  /** The rollout this apply is a step of. */
  readonly rollout?: string;
  readonly state: QueueState;
  /** Order of arrival, assigned by the store, increasing across all environments. */
  readonly seq: number;
  readonly enqueuedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** How many times it was started: above 1 after a restart re-ran an interrupted apply. */
  readonly attempts: number;
  /** The service instance running it (host:pid:start). */
  readonly owner?: string;
  readonly outcome?: 'succeeded' | 'failed';
  /** One line: the outcome or the reason. */
  readonly result?: string;
}

export interface EnqueueRequest {
  readonly id: string;
  readonly env: string;
  readonly component: string;
  readonly actor: string;
  readonly allowDestroy: boolean;
  readonly includePending: boolean;
  readonly rollout?: string;
}

export interface ChangeQueue {
  readonly description: string;
  /**
   * Adds a queued entry. An id already queued or running is refused with ConflictError (lib/core/errors.ts):
   * one apply of a change at a time. An id that is done may be queued again (a failed change re-applied): the
   * entry is replaced, attempts back to 0.
   */
  enqueue(request: EnqueueRequest, at: string): Promise<QueuedApply>;
  /**
   * Atomically: when nothing of `env` is running, marks the oldest queued entry of `env` running (owner, startedAt,
   * attempts + 1) and returns it; otherwise null.
   */
  claimNext(env: string, owner: string, at: string): Promise<QueuedApply | null>;
  /** Marks a running entry done with its outcome. */
  finish(id: string, outcome: 'succeeded' | 'failed', result: string, at: string): Promise<QueuedApply>;
  /** Hands a running entry back (state queued, its place kept): a restart's recovery, a SIGTERM mid-apply. */
  release(id: string): Promise<void>;
  get(id: string): Promise<QueuedApply | undefined>;
  /** By seq, oldest first; filtered by env and states; `limit` newest-last after filtering (default all). */
  list(options?: { readonly env?: string; readonly states?: readonly QueueState[]; readonly limit?: number }): Promise<QueuedApply[]>;
}

export type RolloutApproval = 'auto' | 'manual';
export type RolloutStatus = 'running' | 'waiting-approval' | 'succeeded' | 'failed';
/**
 * pending: not started · proposing: its change is being made and planned · waiting-approval: planned, waits for
 * POST /rollouts/{id}/approve · queued / applying: its apply is in the queue / running · succeeded · failed ·
 * skipped: an earlier step failed, so this one never started.
 */
export type RolloutStepStatus = 'pending' | 'proposing' | 'waiting-approval' | 'queued' | 'applying' | 'succeeded' | 'failed' | 'skipped';

export interface RolloutStep {
  readonly env: string;
  /** The change made for this step (null until it is proposed). */
  readonly change: string | null;
  readonly status: RolloutStepStatus;
  /** Why it failed or was skipped, one line. */
  readonly reason?: string;
  readonly approvedBy?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

export interface Rollout {
  /** `r-…`. */
  readonly id: string;
  readonly component: string;
  /** The new inputs, the same for every environment (kept to propose each step's change when it starts). */
  readonly input: Readonly<Record<string, unknown>>;
  readonly message?: string;
  readonly approval: RolloutApproval;
  readonly actor: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly status: RolloutStatus;
  /** Why it failed, one line. */
  readonly reason?: string;
  /** In the order given: each starts only after the one before succeeded. */
  readonly steps: readonly RolloutStep[];
  /** Increases with each update: the store refuses an update from a stale copy (ConflictError). */
  readonly version: number;
}

export interface RolloutStore {
  readonly description: string;
  /** Stores a new rollout (version 1); an existing id is a ConflictError. */
  create(rollout: Rollout): Promise<void>;
  get(id: string): Promise<Rollout | undefined>;
  /** Newest first. */
  list(options?: { readonly limit?: number; readonly status?: readonly RolloutStatus[] }): Promise<Rollout[]>;
  /** Replaces the rollout whose stored version is `next.version - 1`; otherwise ConflictError. Returns `next`. */
  update(next: Rollout): Promise<Rollout>;
}

/** A webhook delivery that failed after every retry (GET /notifications/failed). Never holds the secret. */
export interface FailedDelivery {
  /** Sortable, unique: `<failedAt>#<random>`. */
  readonly id: string;
  /** The webhook's name in karma.yaml. */
  readonly webhook: string;
  /** The event type (`change.finished`, …). */
  readonly event: string;
  /** Scheme, host and path of the URL only (a query string may carry a token). */
  readonly target: string;
  readonly attempts: number;
  /** The last HTTP status, or null when no answer came (refused, timeout). */
  readonly lastStatus: number | null;
  readonly lastError: string;
  readonly firstAttemptAt: string;
  readonly failedAt: string;
  /** The JSON body that was sent (built from events, which carry no secret). */
  readonly payload: string;
}

export interface DeliveryLog {
  readonly description: string;
  recordFailed(delivery: Omit<FailedDelivery, 'id'>): Promise<FailedDelivery>;
  /** Newest first. */
  listFailed(options?: { readonly limit?: number }): Promise<FailedDelivery[]>;
}

/**
 * Which runtime parameters changed since a cursor: how the live graph stays current without re-reading
 * everything. Locally a change log the SQLite triggers fill (any writer: the CLI, the pipeline, another
 * process); in AWS the SQS queue EventBridge delivers SSM "Parameter Store Change" events to, or, without one,
 * DescribeParameters compared by version.
 */
export interface RuntimeChangeFeed {
  readonly description: string;
  /**
   * Names created, updated or deleted since `cursor` (read them to know which: a deleted one is absent), and the
   * cursor to pass next. Without a cursor: no names, the current cursor (start following from now).
   * `reset: true`: the feed lost track (a gap, a purged queue): read everything again.
   */
  poll(cursor: string | undefined): Promise<{ readonly cursor: string; readonly changed: readonly string[]; readonly reset?: boolean }>;
  close(): Promise<void>;
}

/** The stores `karma serve` keeps open for its life (lib/app/service-stores.ts opens them). */
export interface ServiceStores {
  readonly queue: ChangeQueue;
  readonly rollouts: RolloutStore;
  readonly deliveries: DeliveryLog;
  readonly changes: RuntimeChangeFeed;
  close(): Promise<void>;
}
