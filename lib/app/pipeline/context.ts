/**
 * The PipelineContext every step runs with (the config source, the stores, the clock, the limits), how a step
 * opens and closes the stores, and building one: explicitly for a local run, from the environment for Lambda.
 *
 * Lambda environment:
 *   KARMA_CONFIG        the config repo: an https Git URL (cloned with isomorphic-git into /tmp) or a directory;
 *                       a CodeCommit URL is signed with the function's AWS credentials (adapters/git/auth.ts)
 *   KARMA_GIT_TOKEN_SECRET  Secrets Manager secret (name or ARN) with a token for a private GitHub repository
 *   KARMA_BACKEND       aws (default in Lambda) | local
 *   KARMA_SNAPSHOT_BUCKET  build snapshots go to this S3 bucket (gzipped JSON, ref s3://bucket/key) when set
 *   KARMA_SNAPSHOT_PREFIX  key prefix in that bucket (default snapshots/; the stack's IAM grant is scoped to it)
 *   KARMA_SNAPSHOTS     without a bucket: a directory for build snapshots (default /tmp/karma-snapshots)
 *   KARMA_NOTIFY_TOPIC_ARN  SNS topic Summarize publishes drift to (docs/pipeline.md "Notifications"); none when unset
 *   KARMA_MAX_PARALLEL  components applied at once per round (default 4; CodeBuild's concurrent-build quota)
 *   KARMA_LOCK_TTL      how long an environment lock outlives an execution that died unseen: seconds or a
 *                       duration (90s, 30m, 6h; default 6h). Local runs read it too.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PlanSummary } from '../../core/plan.ts';
import { PLAN_SUMMARY_FILE } from '../component.ts';
import { UsageError } from '../../core/errors.ts';
import type { Config } from '../../core/model.ts';
import type { Clock, ConfigSource, SnapshotStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';
import { DirectorySource } from '../../adapters/fs/directory-source.ts';
import { GitSource, isGitUrl } from '../../adapters/git/git-source.ts';
import { gitOnAuthFromEnv } from '../../adapters/git/auth.ts';
import type { AuthCallback } from 'isomorphic-git';
import { DirectorySnapshotStore } from '../../adapters/snapshots/directory-snapshots.ts';
import { S3SnapshotStore } from '../../adapters/snapshots/s3-snapshots.ts';
import { SnsNotifier } from '../../adapters/notify/sns.ts';
import { localProcesses } from '../../adapters/local/process.ts';
import { parseDuration } from '../../core/duration.ts';
import { DEFAULT_LOCK_TTL_SECONDS, type ProcessProbe } from '../locks.ts';
import { openBackend, type BackendType } from '../backend.ts';
import type { Backend } from '../backend.ts';
import type { PipelineState } from './model.ts';

export interface PipelineContext {
  /** The config at a commit or ref; the working tree when both are absent (local runs). */
  source(at: { ref?: string; commit?: string }): ConfigSource;
  openBackend(config: Config): Promise<Backend>;
  readonly snapshots: SnapshotStore;
  readonly clock: Clock;
  /** How many components one round applies at most (CodeBuild's concurrent-build quota). Default 4. */
  readonly maxParallel: number;
  /** How long an environment lock lives if its execution dies (KARMA_LOCK_TTL). */
  readonly lockTtlSeconds: number;
  /** Recorded with the lock beside the execution id: a local run's host and pid; nothing for Lambda. */
  readonly holder?: { readonly host?: string; readonly pid?: number };
  /** Tells whether a local holder's process still runs, so a dead one's lock is taken over; none in Lambda. */
  readonly processes?: ProcessProbe;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * The summary of the component's last `terraform plan` in this execution, where it can be read (local runs: the
   * working directory); none in AWS, where it is in the CodeBuild log.
   */
  readonly planSummary?: (env: string, component: string) => PlanSummary | undefined;
  /** Sends one notification (SNS in AWS); Summarize calls it when drift was found (see notify.ts). */
  readonly notify?: (subject: string, text: string) => Promise<void>;
}

/** Opens the stores for `config`, runs `fn`, closes them whatever happens. */
export async function withBackend<T>(ctx: PipelineContext, config: Config, fn: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await ctx.openBackend(config);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

/** The config every step after Build reads: the commit Build pinned, else what the run asked for. */
export function pinned(state: PipelineState): { ref?: string; commit?: string } {
  const commit = state.build?.commit ?? state.run.commit;
  if (commit) return { commit };
  return state.run.ref ? { ref: state.run.ref } : {};
}

export interface LocalContextOptions {
  readonly configDir: string;
  readonly backend?: BackendType;
  readonly store?: string;
  readonly maxParallel?: number;
  readonly log?: PipelineContext['log'];
  /** Where KARMA_LOCK_TTL is read (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

/** KARMA_LOCK_TTL: seconds, or a duration (`90s`, `30m`, `6h`); default 6 h. */
export function lockTtlFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env['KARMA_LOCK_TTL'];
  if (raw === undefined || raw === '') return DEFAULT_LOCK_TTL_SECONDS;
  const seconds = parseDuration(raw);
  if (seconds === undefined) throw new UsageError(`KARMA_LOCK_TTL must be a number of seconds or a duration like 90s, 30m or 6h, got "${raw}"`);
  return seconds;
}

export function configSourceAt(location: string, at: { ref?: string; commit?: string }, options: { onAuth?: AuthCallback } = {}): ConfigSource {
  const pin = at.commit ?? at.ref;
  if (isGitUrl(location)) return new GitSource(location, pin ?? 'HEAD', options.onAuth ? { onAuth: options.onAuth } : {});
  return pin ? new GitSource(resolve(location), pin) : new DirectorySource(location);
}

export function localContext(options: LocalContextOptions): PipelineContext {
  const baseDir = resolve(options.configDir);
  return {
    source: (at) => configSourceAt(baseDir, at),
    openBackend: (config: Config) =>
      openBackend(config, { baseDir, create: true, ...(options.backend ? { type: options.backend } : {}), ...(options.store ? { localPath: options.store } : {}) }),
    snapshots: new DirectorySnapshotStore(join(baseDir, options.store ?? '.karma', 'snapshots')),
    clock: systemClock,
    maxParallel: options.maxParallel ?? 4,
    lockTtlSeconds: lockTtlFromEnv(options.env ?? process.env),
    // The steps run in this process: it holds the locks, and a re-run can tell when it is gone.
    holder: { host: localProcesses.host, pid: process.pid },
    processes: localProcesses,
    log: options.log ?? (() => undefined),
    planSummary: (env, component) => readPlanSummary(join(localWorkRoot(baseDir, options.store, options.env ?? process.env), env, component, PLAN_SUMMARY_FILE)),
  };
}

/** Where the local runner's `karma component` children keep their working copies (see local-run.ts). */
export function localWorkRoot(configDir: string, store: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return env['KARMA_WORK_DIR'] ?? join(resolve(configDir), store ?? '.karma', 'work');
}

/** The plan summary a `karma component plan` left in its working directory; undefined when there is none readable. */
function readPlanSummary(path: string): PlanSummary | undefined {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as PlanSummary;
    return Array.isArray(json.resources) && typeof json.line === 'string' ? json : undefined;
  } catch {
    return undefined;
  }
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${value}"`);
  return n;
}

/** S3 when KARMA_SNAPSHOT_BUCKET is set (the deployed stack), else a directory. */
export function snapshotsFromEnv(env: NodeJS.ProcessEnv): SnapshotStore {
  const bucket = env['KARMA_SNAPSHOT_BUCKET'];
  if (!bucket) return new DirectorySnapshotStore(env['KARMA_SNAPSHOTS'] ?? '/tmp/karma-snapshots');
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  return new S3SnapshotStore({
    bucket,
    prefix: env['KARMA_SNAPSHOT_PREFIX'] ?? 'snapshots/',
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
  });
}

/** An SNS publisher when KARMA_NOTIFY_TOPIC_ARN is set (the deployed stack), else none. */
export function notifyFromEnv(env: NodeJS.ProcessEnv): PipelineContext['notify'] {
  const topicArn = env['KARMA_NOTIFY_TOPIC_ARN'];
  if (!topicArn) return undefined;
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const endpoint = env['AWS_ENDPOINT_URL_SNS'] ?? env['AWS_ENDPOINT_URL'];
  return new SnsNotifier({ topicArn, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) }).notify;
}

export function contextFromEnv(env: NodeJS.ProcessEnv, log: PipelineContext['log']): PipelineContext {
  const location = env['KARMA_CONFIG'];
  if (!location) throw new UsageError('KARMA_CONFIG is not set: the config repo (an https Git URL or a directory)');
  const backend = (env['KARMA_BACKEND'] ?? 'aws') as BackendType;
  if (backend !== 'aws' && backend !== 'local') throw new UsageError(`KARMA_BACKEND must be aws or local, got "${backend}"`);
  const baseDir = isGitUrl(location) ? '/tmp' : resolve(location);
  const notify = notifyFromEnv(env);
  const onAuth = isGitUrl(location) ? gitOnAuthFromEnv(env) : undefined;
  return {
    source: (at) => configSourceAt(location, at, onAuth ? { onAuth } : {}),
    openBackend: (config: Config) => openBackend(config, { baseDir, create: true, type: backend }),
    snapshots: snapshotsFromEnv(env),
    clock: systemClock,
    maxParallel: positiveInt('KARMA_MAX_PARALLEL', env['KARMA_MAX_PARALLEL'], 4),
    lockTtlSeconds: lockTtlFromEnv(env),
    log,
    ...(notify ? { notify } : {}),
  };
}
