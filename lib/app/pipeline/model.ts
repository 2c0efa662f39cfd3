/**
 * The pipeline's data: what the state machine carries between steps. Small on purpose (Step Functions allows
 * 256 KiB per state): references and names, never the graph. Every step validates its input with these.
 *
 * Execution input (what EventBridge targets and operators send; the console accepts
 * `{"env":"karma-dev","mode":"apply"}`):
 *
 *   trigger     ssm-change | git-push | schedule | manual          default manual
 *   env         one environment; omitted: every environment (cross-environment order respected)
 *   components  only these components (others are left alone, even if they need an apply)
 *   mode        apply | plan | drift                                default apply (schedule: drift)
 *   ref         branch or tag of the config repo (git-push: the pushed branch)
 *   commit      a commit id (wins over ref)
 *   parameter   ssm-change: the parameter that changed
 *   lockTimeout seconds to wait for a busy environment lock before failing (LockTimeoutError)  default 3600
 *   event       the raw event, kept for traces
 */
import { z } from 'zod';
import { KarmaError } from '../../core/errors.ts';

export const TRIGGERS = ['ssm-change', 'git-push', 'schedule', 'manual'] as const;
export const MODES = ['apply', 'plan', 'drift'] as const;

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a component or environment name');

export const ExecutionInput = z
  .object({
    trigger: z.enum(TRIGGERS).default('manual'),
    env: name.optional(),
    components: z.array(name).min(1).optional(),
    mode: z.enum(MODES).optional(),
    ref: z.string().min(1).optional(),
    commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a commit id').optional(),
    parameter: z.string().startsWith('/').optional(),
    // At most a day: a poll every 30 s stays far below a standard execution's 25,000-event history.
    lockTimeout: z.number().int().positive().max(86_400).optional(),
    event: z.unknown().optional(),
  })
  .strict();
export type ExecutionInput = z.infer<typeof ExecutionInput>;

/** After Normalize: everything later steps need, defaults applied. */
export const Run = z.object({
  executionId: z.string(),
  trigger: z.enum(TRIGGERS),
  mode: z.enum(MODES),
  env: z.string().optional(),
  components: z.array(z.string()).optional(),
  ref: z.string().optional(),
  commit: z.string().optional(),
  parameter: z.string().optional(),
  lockTimeout: z.number().int().positive().optional(),
});
export type Run = z.infer<typeof Run>;

export const LockInfo = z.object({
  name: z.string(),
  owner: z.string(),
  host: z.string().optional(),
  pid: z.number().int().optional(),
  acquiredAt: z.string(),
  expiresAt: z.string(),
});

/**
 * AcquireLock's result. The ASL's LockAcquired? Choice reads `acquired` and `timedOut` (always present), the
 * LockTimeout Fail state `message`.
 */
export const LockState = z.object({
  acquired: z.boolean(),
  timedOut: z.boolean(),
  attempts: z.number().int(),
  /** When this execution first found the lock busy (ISO 8601). */
  waitingSince: z.string().optional(),
  /** The busy lock's holder (execution id), and the lock itself. */
  heldBy: z.string().optional(),
  holder: LockInfo.optional(),
  /** Locks taken over from holders that were gone (a dead local process). */
  tookOver: z.array(LockInfo).optional(),
  message: z.string().optional(),
});
export type LockState = z.infer<typeof LockState>;

/** After Build: the config commit everything is pinned to, the environments in order, the snapshot reference. */
export const BuildRef = z.object({
  commit: z.string().optional(),
  envs: z.array(z.string()),
  snapshot: z.string(),
  vertices: z.number(),
  edges: z.number(),
});
export type BuildRef = z.infer<typeof BuildRef>;

export const WorkItem = z.object({
  env: z.string(),
  component: z.string(),
  mode: z.enum(MODES),
  commit: z.string(),
  executionId: z.string(),
});
export type WorkItem = z.infer<typeof WorkItem>;

export const Processed = z.object({
  env: z.string(),
  component: z.string(),
  ok: z.boolean(),
  /** The error name (States.TaskFailed, States.Timeout...) of a failed item. */
  error: z.string().optional(),
  /** What the failed item said (the component's one-line error, or the build's status), short. */
  detail: z.string().optional(),
  /** Where its log is: a local path, or the CodeBuild log link. */
  log: z.string().optional(),
});
export type Processed = z.infer<typeof Processed>;

/** What RecordWave folds the rounds into: the round number and every item processed so far (applied or failed). */
export const RunProgress = z.object({ round: z.number().int(), processed: z.array(Processed) });
export type RunProgress = z.infer<typeof RunProgress>;

export const Plan = z.object({ done: z.boolean(), round: z.number().int(), wave: z.array(WorkItem) });
export type Plan = z.infer<typeof Plan>;

/** One Map iteration's result: the CodeBuild task succeeded, or the Catch recorded its error. */
export const WaveResult = z.object({
  env: z.string(),
  component: z.string(),
  outcome: z.enum(['succeeded', 'failed']),
  error: z.string().optional(),
  cause: z.string().optional(),
});

export const ResultRow = z.object({
  env: z.string(),
  component: z.string(),
  result: z.enum(['applied', 'failed', 'skipped', 'drifted', 'in-sync', 'at-risk', 'planned', 'orphaned']),
  detail: z.string(),
  /** How long this execution's `terraform init` of the component took (recorded in its state by the apply). */
  initMillis: z.number().optional(),
  /** plan mode, where the plan's summary can be read (local runs): counts, and the resources with their action. */
  plan: z
    .object({
      add: z.number(),
      change: z.number(),
      destroy: z.number(),
      line: z.string(),
      resources: z.array(z.object({ address: z.string(), action: z.enum(['create', 'update', 'replace', 'delete', 'read']) })),
    })
    .optional(),
});
export type ResultRow = z.infer<typeof ResultRow>;

export const Summary = z.object({
  mode: z.enum(MODES),
  envs: z.array(z.string()),
  rows: z.array(ResultRow),
  applied: z.number(),
  failed: z.number(),
  skipped: z.number(),
  drifted: z.number(),
  /** Deployments gone from the config whose resources remain (listed on every run until destroyed or forgotten). */
  orphaned: z.number().default(0),
  text: z.string(),
});
export type Summary = z.infer<typeof Summary>;

/** The whole state between steps. */
export const PipelineState = z.object({
  run: Run,
  build: BuildRef.optional(),
  lock: LockState.optional(),
  progress: RunProgress.optional(),
  plan: Plan.optional(),
  waveResults: z.array(WaveResult).optional(),
  summary: Summary.optional(),
});
export type PipelineState = z.infer<typeof PipelineState>;

/** Bad execution input: the state machine fails at once with this error name and the message as cause. */
export class InvalidInputError extends KarmaError {
  override readonly name: string = 'InvalidInputError';
  override readonly exitCode = 2;
}

/** The state a step receives, validated: one clear InvalidInputError naming the first bad field. */
export function parsePipelineState(raw: unknown): PipelineState {
  const parsed = PipelineState.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new InvalidInputError(`pipeline state: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return parsed.data;
}
