/**
 * The change use cases (docs/workflow.md), one implementation for every entry point: `karma propose-change`,
 * `karma plan`, `karma apply ID` (the CLI parses, asks and prints), the HTTP API's `POST /request-change`,
 * `GET /changes`, `GET /changes/{id}` and `POST /changes/{id}/apply`, and the service.
 *
 *   requestChange  validate, diff, impact, record the proposal, plan it   → what `propose-change --json` prints
 *   planChange     (re-)plan an open proposal and save the plan           → `karma plan ID`
 *   checkApply     the refusals before anything changes (the CLI shows the saved plan it returns, then decides)
 *   applyChange    after the decision: apply the saved plan, merge, run the pipeline for the dependents
 *                                                                          → what `apply ID --json` prints
 *   listChanges, getChange   the changes and their status, from the open proposals and the audit log
 *
 * A change is a proposal, named by its id (`p-…`). Each step appends an audit entry (lib/ports.ts AuditLog):
 * change.requested when a proposal is recorded; change.apply-started, then change.applied or
 * change.apply-failed; change.rejected when an apply is refused before anything changed. A change's status is
 * derived from them (changeStatus below), so every entry point that reads the same log says the same thing.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT_INVALID, KarmaError, NotFoundError, UsageError } from '../core/errors.ts';
import { deploymentKey, type Config } from '../core/model.ts';
import { impact } from '../core/order.ts';
import type { PlanSummary } from '../core/plan.ts';
import { systemClock, type AuditAction, type AuditEntry, type AuditLog, type Clock, type GitRepository, type Progress } from '../ports.ts';
import type { Backend, BackendType } from './backend.ts';
import { buildFromConfig, loadConfig, loadConfigAndFiles } from './build.ts';
import { findProposal, listProposals, proposalIdOf, proposeChange, type Merged, type Proposal, type Proposed, type ProposedInputs } from './change.ts';
import { applySavedProposal, checkProposalApply, requireDestroyAllowed, requireProposal, type ProposalApplyCheck } from './apply-proposal.ts';
import type { ComponentRunResult } from './component.ts';
import { localProcesses, openTerraform, pluginCacheDir } from './open.ts';
import { tookOverLine } from './locks.ts';
import { stopOrphanedTerraform } from '../adapters/terraform/runner.ts';
import { runLocalPipeline, pipelineJson, type PipelineJson } from './pipeline/local-run.ts';
import { storeDirOf, terraformPlaces, type Places } from './places.ts';
import { planProposal, planTtlSeconds, readSavedPlan, sweepSavedPlans, type SavedPlan } from './saved-plans.ts';

/** What a change use case needs from its entry point. */
export interface ChangeContext {
  /** The config repo: a local Git clone, whose directory is the config directory. */
  readonly repo: GitRepository;
  /**
   * Runs `work` with the stores for `config` open, and closes them after (the CLI opens the backend for each
   * step, as it always has; a long-running service may hand the one it keeps open).
   */
  readonly withBackend: <T>(config: Config, work: (backend: Backend) => Promise<T>) => Promise<T>;
  /**
   * The audit log kept with an open backend (`backend.audit`). Absent: nothing is recorded and no store is
   * opened to record it (the CLI, until every Backend carries its audit log).
   */
  readonly audit?: (backend: Backend) => AuditLog;
  /** The local store folder and Terraform's working copies (lib/app/places.ts); baseDir is the config dir. */
  readonly places: Places;
  /** The backend over karma.yaml's (--backend), for the pipeline run that follows an apply. */
  readonly backendType?: BackendType;
  /** The Terraform binary (--terraform); default: $KARMA_TERRAFORM, karma.yaml, then terraform or tofu on PATH. */
  readonly terraform?: string;
  /** Who asks, as the audit log records it: user@host (the CLI), a token's name, an IAM principal, a JWT subject. */
  readonly actor: string;
  /** Steps of long work (`… planning network in karma-dev`). */
  readonly progress?: Progress;
  readonly clock?: Clock;
}

// ---------------------------------------------------------------------------------------------------------
// Plans

/** A proposal's plan: saved (what `karma apply` will apply), not made (no terraform), or failed. */
export type PlanOutcome =
  | { readonly status: 'planned'; readonly saved: SavedPlan; readonly file: string }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'failed'; readonly error: string; readonly log: string };

/**
 * A plan as `--json` prints it (and the API returns it): the summary, each resource with its action, the commit
 * planned and the plan's expiry; or why there is none.
 */
export type PlanJson =
  | ({ readonly status: 'planned' } & PlanSummary & { readonly commit: string; readonly plannedAt: string; readonly expiresAt: string })
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'failed'; readonly error: string; readonly log: string };

export function planJson(outcome: PlanOutcome | undefined): PlanJson | null {
  if (outcome === undefined) return null;
  if (outcome.status !== 'planned') return outcome;
  const { saved } = outcome;
  return { status: 'planned', ...saved.plan, commit: saved.commit, plannedAt: saved.plannedAt, expiresAt: saved.expiresAt };
}

/**
 * Plans the proposal's deployment with the config at its commit and the inputs resolved from the runtime now,
 * and saves the plan (lib/app/saved-plans.ts), replacing an earlier one. No terraform: `skipped`, with what to do.
 */
export async function planChange(ctx: ChangeContext, proposal: Pick<Proposal, 'id' | 'commit' | 'env' | 'component'>): Promise<PlanOutcome> {
  const { config, files } = await loadConfigAndFiles(ctx.repo.sourceAt(proposal.commit));
  let binary: ReturnType<typeof openTerraform>;
  try {
    binary = openTerraform(config, { binary: ctx.terraform });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { status: 'skipped', reason: `no plan made: ${error.message}; once it is installed, karma plan ${proposal.id} makes one` };
  }
  const places = terraformPlaces(config, ctx.places);
  const storeDir = storeDirOf(config, ctx.places);
  const cacheDir = pluginCacheDir(places.workRoot);
  sweepSavedPlans(storeDir, new Set([...(await listProposals(ctx.repo)).map((pr) => pr.id), proposal.id]));
  return ctx.withBackend(config, async (backend) => {
    const { result, saved, file } = await planProposal(config, backend.runtime, proposal, {
      storeDir,
      files,
      ...places,
      ttlSeconds: planTtlSeconds(),
      runner: binary.runner,
      ...(cacheDir ? { pluginCacheDir: cacheDir } : {}),
      ...(ctx.progress ? { progress: ctx.progress } : {}),
    });
    if (!saved || !file) return { status: 'failed', error: result.error ?? 'terraform plan failed', log: join(places.workRoot, proposal.env, proposal.component, 'plan.log') };
    return { status: 'planned', saved, file };
  });
}

// ---------------------------------------------------------------------------------------------------------
// The audit log

type EntryFields = Omit<AuditEntry, 'id' | 'at' | 'actor'>;

/** Audit text is one line, and bounded: an error's cause can be a page of Terraform output. */
function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
}

async function appendTo(ctx: ChangeContext, backend: Backend, fields: EntryFields): Promise<void> {
  if (!ctx.audit) return;
  const at = (ctx.clock ?? systemClock).now().toISOString();
  await ctx.audit(backend).append({ ...fields, ...(fields.result !== undefined ? { result: oneLine(fields.result) } : {}), at, actor: ctx.actor });
}

/** Appends an entry, opening the stores for it (only when there is an audit log to write to). */
async function record(ctx: ChangeContext, config: Config, fields: EntryFields): Promise<void> {
  if (!ctx.audit) return;
  await ctx.withBackend(config, (backend) => appendTo(ctx, backend, fields));
}

/** A request refused as given (exit 2: usage, conflict, config, not found), as opposed to something that failed. */
const isRefusal = (error: unknown): error is KarmaError => error instanceof KarmaError && error.exitCode === EXIT_INVALID;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// ---------------------------------------------------------------------------------------------------------
// Request

export type ChangeRequest = ProposedInputs & {
  readonly component: string;
  readonly env: string;
  /** The commit message's first line (default `change COMPONENT in ENV`). */
  readonly message?: string;
  /** Validate, diff and compute the impact only: nothing recorded, no plan. */
  readonly dryRun?: boolean;
  /** false: record the proposal without a plan (`--no-plan`); `karma plan ID` makes one later. */
  readonly plan?: boolean;
};

/** What `karma propose-change --json` prints and `POST /request-change` returns. */
export type RequestedChange = Proposed & {
  /** The saved plan's summary; null on a dry run or without a plan. */
  readonly plan: PlanJson | null;
};

/** The audit line for a request: the plan's summary line, or why there is none. */
function planLine(outcome: PlanOutcome | undefined): string {
  if (outcome?.status === 'planned') return outcome.saved.plan.line;
  if (outcome?.status === 'failed') return `no plan: terraform plan failed: ${outcome.error}`;
  return 'no plan';
}

/**
 * Proposes a component's new inputs in one environment (lib/app/change.ts: validation, diff, impact, a commit
 * on `karma/proposals/<id>`), plans it unless told not to, and records `change.requested`. Invalid inputs are a
 * UsageError or ConfigError naming the file (`--input PATH`) or the label (`input`); nothing is recorded then.
 */
export async function requestChange(ctx: ChangeContext, request: ChangeRequest): Promise<RequestedChange> {
  const { plan, ...propose } = request;
  const proposed = await proposeChange({ ...propose, repo: ctx.repo });
  if (!proposed.id || !proposed.commit) return { ...proposed, plan: null };
  const proposal = { id: proposed.id, commit: proposed.commit, env: proposed.env, component: proposed.component };
  let planned: PlanOutcome | undefined;
  try {
    if (plan !== false) planned = await planChange(ctx, proposal);
  } finally {
    // Recorded whether or not the plan could be made: the proposal is.
    if (ctx.audit) {
      const config = await loadConfig(ctx.repo.sourceAt(proposed.commit));
      await record(ctx, config, { action: 'change.requested', change: proposed.id, component: proposed.component, env: proposed.env, commit: proposed.commit, diff: proposed.diff, result: planLine(planned) });
    }
  }
  return { ...proposed, plan: planJson(planned) };
}

// ---------------------------------------------------------------------------------------------------------
// Apply

/**
 * The refusals that come before anything changes (lib/app/apply-proposal.ts checkProposalApply): a merge that
 * would be refused, no saved plan, an expired one, one made for another commit. Returns the saved plan to show
 * and decide on. A refusal of a known proposal is recorded as change.rejected, then thrown as it was.
 */
export async function checkApply(ctx: ChangeContext, id: string): Promise<ProposalApplyCheck> {
  const proposal = await requireProposal(ctx.repo, id);
  let config: Config | undefined;
  try {
    return await checkProposalApply(ctx.repo, proposal.id, {
      storeDirFor: (c) => {
        config = c;
        return storeDirOf(c, ctx.places);
      },
    });
  } catch (error) {
    if (isRefusal(error) && ctx.audit) {
      // The stores are karma.yaml's at the proposal's commit, as for the apply itself.
      config ??= await loadConfig(ctx.repo.sourceAt(proposal.commit));
      await record(ctx, config, { action: 'change.rejected', change: proposal.id, component: proposal.component, env: proposal.env, commit: proposal.commit, result: messageOf(error) });
    }
    throw error;
  }
}

/** A plan that destroys or replaces anything needs allowDestroy: refused (and recorded) otherwise. */
export async function requireDestroyAccepted(ctx: ChangeContext, check: ProposalApplyCheck, allowDestroy: boolean | undefined): Promise<void> {
  try {
    requireDestroyAllowed(check, allowDestroy);
  } catch (error) {
    const { proposal } = check;
    await record(ctx, check.config, { action: 'change.rejected', change: proposal.id, component: proposal.component, env: proposal.env, commit: proposal.commit, result: messageOf(error) });
    throw error;
  }
}

export interface ApplyChangeOptions {
  /** Accept a plan that destroys or replaces resources. */
  readonly allowDestroy?: boolean;
  /** Also apply everything else pending in the proposal's environment (default: only the proposal's reach). */
  readonly includePending?: boolean;
  /** The pipeline's parallelism (default: karma.yaml's). */
  readonly maxParallel?: number;
  /** Seconds the pipeline waits for a busy environment lock (default 1 h). */
  readonly lockTimeout?: number;
  /** Interrupts the pipeline: running applies are stopped, the lock released. */
  readonly signal?: AbortSignal;
  /**
   * The checks made before the decision (checkApply): the plan they returned, the one shown, is the one applied.
   * Absent: checked here (an API call is itself the decision).
   */
  readonly checked?: ProposalApplyCheck;
  /** Each line Terraform prints while it applies the saved plan (redacted). */
  readonly terraformLine?: (line: string) => void;
  /** The pipeline's progress lines (state transitions, applies with timings). */
  readonly pipelineProgress?: (line: string) => void;
  /** While the pipeline waits for a busy lock: what it waits for, then undefined when the wait ends. */
  readonly waiting?: (text: string | undefined) => void;
  /** The saved plan is applied and the proposal merged; the pipeline for the dependents starts next. */
  readonly onApplied?: (step: AppliedStep) => void;
}

export interface AppliedStep {
  readonly component: ComponentRunResult;
  readonly merged: Merged;
  /** In the proposal's reach but needing an apply before it: left alone unless includePending. */
  readonly left: readonly string[];
}

/**
 * What `karma apply ID --json` prints: the merge (null when the saved plan's apply failed: the proposal stays
 * open), the component's apply, and the pipeline run for the dependents (null when it did not run).
 */
export interface ChangeApplied {
  readonly merged: Merged | null;
  readonly component: ComponentRunResult;
  readonly pipeline: PipelineJson | null;
}

/** The pipeline's outcome as one audit line. */
function pipelineLine(run: PipelineJson): string {
  if (run.status === 'SUCCEEDED') return `applied and merged; pipeline succeeded${run.summary ? ` (${run.summary.applied} applied, ${run.summary.skipped} skipped)` : ''}`;
  if (run.status === 'ABORTED') return 'applied and merged; the pipeline for the dependents was interrupted';
  return `applied and merged; the pipeline for the dependents failed: ${run.error ?? run.status}${run.cause ? `: ${run.cause}` : ''}`;
}

/**
 * Applies a change after the decision: the checks (unless `checked`), destroys accepted, exactly the saved plan
 * applied under the environment's lock, the proposal merged, then the pipeline for the dependents (locally, the
 * same ASL as `karma pipeline run`). Refusals throw as they always have (ConflictError, UsageError: exit 2),
 * recorded as change.rejected first; otherwise change.apply-started, then change.applied or change.apply-failed.
 */
export async function applyChange(ctx: ChangeContext, id: string, options: ApplyChangeOptions = {}): Promise<ChangeApplied> {
  const check = options.checked ?? (await checkApply(ctx, id));
  await requireDestroyAccepted(ctx, check, options.allowDestroy);
  const { proposal, config } = check;
  const entry = { change: proposal.id, component: proposal.component, env: proposal.env };
  let runner: ReturnType<typeof openTerraform>['runner'];
  try {
    runner = openTerraform(config, { binary: ctx.terraform, onLine: options.terraformLine }).runner;
  } catch (error) {
    await record(ctx, config, { ...entry, action: 'change.rejected', commit: proposal.commit, result: messageOf(error) });
    throw error;
  }
  const places = terraformPlaces(config, ctx.places);
  const cacheDir = pluginCacheDir(places.workRoot);
  const applied = await ctx.withBackend(config, async (backend) => {
    await appendTo(ctx, backend, { ...entry, action: 'change.apply-started', commit: proposal.commit });
    try {
      return await applySavedProposal(ctx.repo, check, backend, {
        ...places,
        holder: { owner: `karma-apply:${process.pid}:${Date.now()}`, host: hostname(), pid: process.pid },
        // A lock left by a dead process on this host (a killed apply, a killed karma serve) is taken over.
        probe: localProcesses,
        onTookOver: (lock) => ctx.progress?.step(tookOverLine(lock)),
        runner,
        ...(cacheDir ? { pluginCacheDir: cacheDir } : {}),
        ...(options.includePending ? { includePending: true } : {}),
        ...(ctx.progress ? { progress: ctx.progress } : {}),
      });
    } catch (error) {
      // A stale plan or moved inputs: refused, nothing applied (the proposal stays open, to be re-planned).
      const action: AuditAction = isRefusal(error) ? 'change.rejected' : 'change.apply-failed';
      await appendTo(ctx, backend, { ...entry, action, commit: proposal.commit, result: messageOf(error) });
      throw error;
    }
  });
  const { result } = applied;
  if (applied.kind === 'failed') {
    await record(ctx, config, { ...entry, action: 'change.apply-failed', commit: proposal.commit, result: `the saved plan's apply failed: ${result.error ?? result.outcome}` });
    return { merged: null, component: result, pipeline: null };
  }
  const { merged, left } = applied;
  options.onApplied?.({ component: result, merged, left });
  const pipeline = await runDependents(ctx, config, entry, merged.commit, applied.pipelineInput, options);
  return { merged, component: result, pipeline };
}

/**
 * The dependents of an applied and merged change: the pipeline re-plans after each wave, so only those whose
 * inputs really changed apply. Records change.applied or change.apply-failed.
 */
async function runDependents(
  ctx: ChangeContext,
  config: Config,
  entry: Pick<EntryFields, 'change' | 'component' | 'env'>,
  commit: string,
  input: Record<string, unknown>,
  options: ApplyChangeOptions,
): Promise<PipelineJson> {
  let pipeline: PipelineJson;
  try {
    pipeline = pipelineJson(
      await runLocalPipeline({
        configDir: ctx.repo.dir,
        input: options.lockTimeout !== undefined && input['lockTimeout'] === undefined ? { ...input, lockTimeout: options.lockTimeout } : input,
        ...(ctx.backendType ? { backend: ctx.backendType } : {}),
        ...(ctx.places.store ? { store: ctx.places.store } : {}),
        ...(ctx.terraform ? { terraform: ctx.terraform } : {}),
        ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
        ...(options.pipelineProgress ? { progress: options.pipelineProgress } : {}),
        ...(options.waiting ? { waiting: options.waiting } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    );
  } catch (error) {
    await record(ctx, config, { ...entry, action: 'change.apply-failed', commit, result: `applied and merged; the pipeline for the dependents failed: ${messageOf(error)}` });
    throw error;
  }
  const action: AuditAction = pipeline.status === 'SUCCEEDED' ? 'change.applied' : 'change.apply-failed';
  await record(ctx, config, { ...entry, action, commit, result: pipelineLine(pipeline), execution: pipeline.executionId });
  return pipeline;
}

// ---------------------------------------------------------------------------------------------------------
// Resume (the service, after a restart found an apply it had started)

export interface ResumeChangeOptions extends Omit<ApplyChangeOptions, 'checked' | 'onApplied'> {
  /**
   * When this apply was asked for (the queue entry's enqueuedAt): audit entries before it belong to an earlier
   * apply of the same change (a failed change queued again), so they do not say whether this one finished.
   */
  readonly since?: string;
}

/**
 * What resuming found and did:
 *   finished  the change had finished before the stop (its audit entries say so): nothing was run again;
 *   pipeline  its saved plan was applied and merged, the pipeline for the dependents was cut short: it ran again;
 *   applied   it was cut short before the merge: re-planned (a partial apply makes the saved plan stale) and
 *             applied again under the same decision (applyChange's result);
 *   failed    it could not be resumed (the re-plan failed, the proposal was closed): recorded, with why.
 */
export type ResumedChange =
  | { readonly kind: 'finished'; readonly status: 'succeeded' | 'failed' | 'rejected'; readonly reason?: string }
  | { readonly kind: 'pipeline'; readonly commit: string; readonly pipeline: PipelineJson }
  | { readonly kind: 'applied'; readonly applied: ChangeApplied }
  | { readonly kind: 'failed'; readonly reason: string };

/** Seconds a Terraform left running by the killed process gets to stop cleanly (SIGINT) before SIGKILL. */
const ORPHAN_GRACE_MS = 30_000;

/** Whether the change's proposal is in the current branch: fast-forwarded, or replayed (its files there as it made them). */
async function isMerged(repo: GitRepository, commit: string, head: string): Promise<boolean> {
  if (!commit) return false;
  if (await repo.isAncestor(commit, head)) return true;
  const base = (await repo.readCommit(commit)).parents[0];
  if (!base) return false;
  const files = await repo.changedFiles(base, commit);
  for (const f of files) {
    const [mine, there] = await Promise.all([repo.fileAt(commit, f), repo.fileAt(head, f)]);
    if (mine === undefined ? there !== undefined : there === undefined || Buffer.compare(Buffer.from(mine), Buffer.from(there)) !== 0) return false;
  }
  return files.length > 0;
}

/**
 * Resumes an apply that a stopped process had started (`karma serve` killed mid-apply, the queue running it
 * again): a change that finished is never applied again; one merged has the pipeline for its dependents run
 * again; one not merged is re-planned and applied under the same decision (`allowDestroy` as given then: a
 * re-plan that destroys without it is refused and recorded). Terraform left running by the dead process in
 * the component's working copy is stopped first, and its environment lock is taken over (a dead holder).
 */
export async function resumeChange(ctx: ChangeContext, id: string, options: ResumeChangeOptions = {}): Promise<ResumedChange> {
  const change = await getChange(ctx, id);
  const since = options.since;
  const recent = since === undefined ? change.history : change.history.filter((e) => e.at >= since);
  const latest = recent.findLast((e) => STATUS_OF[e.action] !== undefined);
  const status = latest ? STATUS_OF[latest.action] : undefined;
  if (status === 'succeeded' || status === 'failed' || status === 'rejected') {
    return { kind: 'finished', status, ...(latest?.result !== undefined ? { reason: latest.result } : {}) };
  }
  const entry = { change: change.id, component: change.component, env: change.env };
  const head = await ctx.repo.head();
  const config = await loadConfig(ctx.repo.sourceAt(head.commit));
  const places = terraformPlaces(config, ctx.places);
  const stopOrphan = async (component: string): Promise<void> => {
    const pid = await stopOrphanedTerraform(join(places.workRoot, change.env, component), ORPHAN_GRACE_MS);
    if (pid !== undefined) ctx.progress?.step(`stopped terraform (pid ${pid}) left running in ${change.env}/${component} by the stopped process`);
  };
  const proposal = await findProposal(ctx.repo, id);
  const merged = await isMerged(ctx.repo, proposal?.commit ?? change.commit, head.commit);

  if (merged) {
    // The saved plan was applied and the proposal merged; the dependents' pipeline was cut short.
    if (proposal) await ctx.repo.deleteBranch(proposal.branch); // merged, the branch not yet deleted
    const { build } = await ctx.withBackend(config, (backend) => buildFromConfig(config, backend.runtime, {}));
    const reach = impact(build, change.env, change.component).waves.flat();
    for (const c of reach) await stopOrphan(c);
    // Left alone (unless includePending), as applyChange does: what needed an apply for its own reasons. The
    // change's own effects (stale inputs, blocked) are not; the status before the apply is no longer known, so a
    // dependent that was already stale-inputs before is applied too.
    const left = reach.filter((c) => c !== change.component && !['in-sync', 'blocked', 'stale-inputs'].includes(build.statuses.get(deploymentKey(change.env, c))?.status ?? 'in-sync'));
    await record(ctx, config, { ...entry, action: 'change.apply-started', commit: head.commit, result: 'resumed after a stop: applied and merged before it; the pipeline for the dependents runs again' });
    const input = { env: change.env, mode: 'apply', trigger: 'manual', commit: head.commit, ...(options.includePending ? {} : { components: reach.filter((c) => !left.includes(c)) }) };
    const pipeline = await runDependents(ctx, config, entry, head.commit, input, options);
    return { kind: 'pipeline', commit: head.commit, pipeline };
  }

  if (!proposal) {
    const reason = `${CLOSED_UNAPPLIED} (found when resuming its apply after a stop)`;
    await record(ctx, config, { ...entry, action: 'change.rejected', commit: change.commit, result: reason });
    return { kind: 'failed', reason };
  }
  // Cut short before the merge, maybe mid-apply: the saved plan is stale; plan again from the state as it is.
  await stopOrphan(proposal.component);
  const planned = await planChange(ctx, proposal);
  if (planned.status !== 'planned') {
    const reason = `re-plan after a stop failed: ${planned.status === 'failed' ? planned.error : planned.reason}`;
    await record(ctx, config, { ...entry, action: 'change.apply-failed', commit: proposal.commit, result: reason });
    return { kind: 'failed', reason };
  }
  const checked = await checkApply(ctx, id);
  const { since: _since, ...apply } = options;
  return { kind: 'applied', applied: await applyChange(ctx, id, { ...apply, checked }) };
}

// ---------------------------------------------------------------------------------------------------------
// Statuses and queries

/**
 * proposed: recorded, open, never applied · queued: waiting for an apply (the service's queue, a started
 * deployed run) · applying: its apply is under way · succeeded: applied, merged, the pipeline for its dependents
 * succeeded · failed: its apply or that pipeline failed (`reason` says which) · rejected: an apply was refused
 * before anything changed (the proposal stays open: re-plan and apply again), or the proposal was closed
 * without being applied.
 */
export type ChangeStatus = 'proposed' | 'queued' | 'applying' | 'succeeded' | 'failed' | 'rejected';

/** What each apply entry makes the status; change.requested moves nothing. */
const STATUS_OF: Partial<Record<AuditAction, ChangeStatus>> = {
  'change.apply-queued': 'queued',
  'change.apply-started': 'applying',
  'change.applied': 'succeeded',
  'change.apply-failed': 'failed',
  'change.rejected': 'rejected',
};

/** A closed proposal that nothing applied: its branch was deleted. */
export const CLOSED_UNAPPLIED = 'closed without being applied: its proposal branch was deleted';

/**
 * The status of a change from its audit entries (oldest first) and whether its proposal is still open: the
 * latest apply entry decides; none → proposed while open, rejected once closed. `reason`: why it failed or was
 * rejected (that entry's result).
 */
export function changeStatus(history: readonly AuditEntry[], open: boolean): { status: ChangeStatus; reason?: string } {
  const latest = history.findLast((e) => STATUS_OF[e.action] !== undefined);
  if (!latest) return open ? { status: 'proposed' } : { status: 'rejected', reason: CLOSED_UNAPPLIED };
  const status = STATUS_OF[latest.action]!;
  return status === 'failed' || status === 'rejected' ? { status, ...(latest.result !== undefined ? { reason: latest.result } : {}) } : { status };
}

/**
 * One change, as `GET /changes/{id}` returns it (and each of `GET /changes`). Plain JSON values.
 */
export interface Change {
  /** The proposal id, `p-` and hex digits of its commit. */
  readonly id: string;
  readonly status: ChangeStatus;
  readonly component: string;
  readonly env: string;
  /** The proposal's message (its commit's first line); null when that commit can no longer be read. */
  readonly message: string | null;
  /** The commit the proposal was made on; null when the proposal's commit can no longer be read. */
  readonly base: string | null;
  /** The proposal's commit (a merge that replayed it made another: its change.applied entry names it). */
  readonly commit: string;
  /** ISO 8601: when the proposal was made. */
  readonly createdAt: string;
  /** Its branch `karma/proposals/<id>` is still there: it can be (re-)planned and applied. */
  readonly open: boolean;
  /** The saved plan, for an open change that has one (unexpired); else null. */
  readonly plan: PlanJson | null;
  /** Its audit entries, oldest first. */
  readonly history: readonly AuditEntry[];
  /** Why it failed or was rejected. */
  readonly reason?: string;
}

/** The stores and the store folder the queries read: karma.yaml's at HEAD. */
async function headConfig(ctx: ChangeContext): Promise<Config> {
  const head = await ctx.repo.head();
  return loadConfig(ctx.repo.sourceAt(head.commit));
}

async function changeOf(ctx: ChangeContext, id: string, proposal: Proposal | undefined, history: readonly AuditEntry[], storeDir: string): Promise<Change> {
  const first = history[0];
  const requested = history.find((e) => e.action === 'change.requested');
  const commit = proposal?.commit ?? requested?.commit ?? history.find((e) => e.commit)?.commit ?? '';
  let made: Pick<Proposal, 'message' | 'base' | 'createdAt'> | undefined = proposal;
  if (!made && commit) {
    try {
      const c = await ctx.repo.readCommit(commit);
      made = { message: c.message.split('\n')[0] ?? '', base: c.parents[0] ?? '', createdAt: new Date(c.author.timestamp * 1000).toISOString() };
    } catch {
      made = undefined; // a clone that never had it, or a replayed proposal's commit that is gone: null below
    }
  }
  let plan: PlanJson | null = null;
  if (proposal) {
    const read = readSavedPlan(storeDir, id, ctx.clock);
    if (read.kind === 'ok') plan = planJson({ status: 'planned', saved: read.saved, file: read.file });
  }
  return {
    id,
    ...changeStatus(history, proposal !== undefined),
    component: proposal?.component ?? first!.component,
    env: proposal?.env ?? first!.env,
    message: made?.message ?? null,
    base: made?.base || null,
    commit,
    createdAt: made?.createdAt ?? requested?.at ?? first!.at,
    open: proposal !== undefined,
    plan,
    history,
  };
}

const newestFirst = (a: Change, b: Change): number => (a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt));

export const DEFAULT_CHANGES_LIMIT = 50;
export const MAX_CHANGES_LIMIT = 500;
const PAGE = 100;

/**
 * The changes, newest first: every open proposal and the changes the audit log names, at most `limit`
 * (default 50, at most 500). The log is read newest first until `limit` requests are found.
 */
export async function listChanges(ctx: ChangeContext, options: { readonly limit?: number } = {}): Promise<{ changes: Change[] }> {
  const limit = options.limit ?? DEFAULT_CHANGES_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHANGES_LIMIT) throw new UsageError(`limit must be an integer from 1 to ${MAX_CHANGES_LIMIT}, got ${limit}`);
  const config = await headConfig(ctx);
  const open = await listProposals(ctx.repo);
  const entries = new Map<string, AuditEntry[]>();
  if (ctx.audit) {
    await ctx.withBackend(config, async (backend) => {
      const log = ctx.audit!(backend);
      const requested = new Set<string>();
      let after: string | undefined;
      do {
        const page = await log.list({ limit: PAGE, ...(after !== undefined ? { after } : {}) });
        for (const e of page.entries) {
          entries.set(e.change, [...(entries.get(e.change) ?? []), e]);
          if (e.action === 'change.requested') requested.add(e.change);
        }
        after = page.next;
      } while (after !== undefined && requested.size < limit);
    });
  }
  const storeDir = storeDirOf(config, ctx.places);
  const byId = new Map(open.map((p) => [p.id, p]));
  const ids = new Set([...byId.keys(), ...entries.keys()]);
  // Read newest first; a change's history is oldest first.
  const changes = await Promise.all([...ids].map((id) => changeOf(ctx, id, byId.get(id), [...(entries.get(id) ?? [])].reverse(), storeDir)));
  return { changes: changes.sort(newestFirst).slice(0, limit) };
}

/** One change by id (or proposal branch name); a NotFoundError (kind change) when no proposal or entry has it. */
export async function getChange(ctx: ChangeContext, idOrBranch: string): Promise<Change> {
  const id = proposalIdOf(idOrBranch);
  const proposal = id === undefined ? undefined : await findProposal(ctx.repo, id);
  const history: AuditEntry[] = [];
  const config = await headConfig(ctx);
  if (id !== undefined && ctx.audit) {
    await ctx.withBackend(config, async (backend) => {
      const log = ctx.audit!(backend);
      let after: string | undefined;
      do {
        const page = await log.list({ limit: PAGE, change: id, ...(after !== undefined ? { after } : {}) });
        history.push(...page.entries);
        after = page.next;
      } while (after !== undefined);
    });
  }
  if (id === undefined || (!proposal && history.length === 0)) {
    const known = (await listProposals(ctx.repo)).map((p) => p.id);
    throw new NotFoundError(`unknown change "${idOrBranch}"; open proposals: ${known.join(', ') || 'none'} (karma proposals lists them)`, { kind: 'change', value: idOrBranch, known });
  }
  return changeOf(ctx, id, proposal, history.reverse(), storeDirOf(config, ctx.places));
}
