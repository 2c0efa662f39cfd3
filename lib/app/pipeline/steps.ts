/**
 * The pipeline's steps. The state machine (statemachines/pipeline.asl.json) calls each as a Lambda function in
 * AWS (lambdas/*.ts are thin wrappers) and in-process when run locally; both run this code.
 *
 *   Normalize → Build → AcquireLock ⟲ WaitForLock → PlanWave → (done? Summarize : ApplyWave (Map) → RecordWave → PlanWave)
 *   Summarize → ReleaseLock → succeeded | failed
 *
 * PlanWave re-plans from the real runtime every round (BRIEF: no mock outputs): what was applied this execution
 * is excluded (each component applies at most once), a component whose inputs did not change stays in-sync and is
 * not applied, one whose inputs changed is now stale-inputs and is. A round applies at most `maxParallel`
 * components of the first wave; the rest of the wave comes next round.
 */
import { KarmaError } from '../../core/errors.ts';
import { keepBuilds } from '../../core/config.ts';
import type { Build } from '../../core/graph.ts';
import { stateParamPath, type Config } from '../../core/model.ts';
import { parseState as parseRuntimeState } from '../../core/runtime.ts';
import { holdsDrift, orphansIn, planEnv } from '../../core/order.ts';
import { ORPHAN_ADVICE } from '../../core/status.ts';
import { planDetail, type PlanSummary } from '../../core/plan.ts';
import { toSnapshot } from '../../core/graph.ts';
import type { Clock, ConfigSource, RuntimeStore, SnapshotStore } from '../../ports.ts';
import { recordApply } from '../record.ts';
import type { Backend } from '../backend.ts';
import { buildFromConfig, loadConfig } from '../build.ts';
import { table } from '../../core/table.ts';
import { notifySummary } from './notify.ts';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, holderState, lockName, lockTimeoutMessage, tookOverLine, type ProcessProbe } from '../locks.ts';
import {
  ExecutionInput,
  PipelineState,
  type LockState,
  type BuildRef,
  type Plan,
  type Processed,
  type Progress,
  type ResultRow,
  type Summary,
  type WorkItem,
} from './model.ts';

/** Bad execution input: the state machine fails at once with this error name and the message as cause. */
export class InvalidInputError extends KarmaError {
  override readonly name: string = 'InvalidInputError';
  override readonly exitCode = 2;
}

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

function parseState(raw: unknown): PipelineState {
  const parsed = PipelineState.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new InvalidInputError(`pipeline state: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return parsed.data;
}

/** Normalize: validate the execution input (one clear message when it is wrong), apply defaults. */
export function normalize(raw: { input: unknown; executionId: string }): PipelineState {
  const parsed = ExecutionInput.safeParse(raw.input ?? {});
  if (!parsed.success) {
    const messages = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown field ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${i.path.join('.') || '(input)'}: ${i.message}`;
    });
    throw new InvalidInputError(
      `invalid execution input: ${messages.join('; ')}. Expected e.g. {"env":"karma-dev","mode":"apply"} (fields: trigger, env, components, mode, ref, commit, parameter, lockTimeout, event)`,
    );
  }
  const input = parsed.data;
  return {
    run: {
      executionId: raw.executionId,
      trigger: input.trigger,
      mode: input.mode ?? (input.trigger === 'schedule' ? 'drift' : 'apply'),
      ...(input.env ? { env: input.env } : {}),
      ...(input.components ? { components: [...new Set(input.components)].sort() } : {}),
      ...(input.ref ? { ref: input.ref } : {}),
      ...(input.commit ? { commit: input.commit } : {}),
      ...(input.parameter ? { parameter: input.parameter } : {}),
      ...(input.lockTimeout ? { lockTimeout: input.lockTimeout } : {}),
    },
  };
}

/** Environments in cross-environment dependency order (a shared environment before those consuming it), ties by name. */
export function environmentOrder(config: Config, envs: readonly string[]): string[] {
  const wanted = new Set(envs);
  const deps = new Map<string, Set<string>>([...wanted].map((e) => [e, new Set<string>()]));
  for (const d of config.deployments) {
    if (!wanted.has(d.env)) continue;
    for (const r of d.references) if (r.kind === 'output' && r.env !== d.env && wanted.has(r.env)) deps.get(d.env)!.add(r.env);
  }
  const out: string[] = [];
  const left = new Set(wanted);
  while (left.size > 0) {
    const ready = [...left].filter((e) => [...deps.get(e)!].every((x) => !left.has(x))).sort();
    // Environments cannot form a cycle (parseConfig rejects component cycles, and these edges come from them),
    // but never loop forever: fall back to name order.
    const take = ready.length > 0 ? ready : [...left].sort();
    for (const e of take) {
      out.push(e);
      left.delete(e);
    }
  }
  return out;
}

/**
 * Loop safety. A change event for a parameter Karma itself wrote must not start work: the state parameter is
 * only written by Karma, and an output whose version is the one Karma recorded right after writing it was
 * Karma's own write. A newer version was written by someone else: that is a real change.
 */
export async function isOwnWrite(config: Config, runtime: RuntimeStore, parameter: string): Promise<boolean> {
  const prefix = `${config.project.parameterPrefix}/`;
  if (!parameter.startsWith(prefix)) return false;
  const [env, component, kind, output] = parameter.slice(prefix.length).split('/');
  if (!env || !component) return false;
  if (kind === 'state' && output === undefined) return true;
  if (kind !== 'outputs' || !output) return false;
  const [current, stateParam] = await Promise.all([runtime.readNames([parameter]), runtime.readNames([stateParamPath(config.project.parameterPrefix, env, component)])]);
  const read = parseRuntimeState(stateParam[0]);
  return read.kind === 'ok' && current[0] !== undefined && read.state.outputVersions[output] === current[0].version;
}

function targetEnvironments(config: Config, state: PipelineState): string[] {
  const { run } = state;
  const declared = [...config.project.environments.keys()];
  if (run.env) {
    if (!config.project.environments.has(run.env)) throw new InvalidInputError(`env "${run.env}" is not declared in karma.yaml; declared: ${declared.join(', ')}`);
    return [run.env];
  }
  if (run.trigger === 'ssm-change' && run.parameter) {
    const prefix = `${config.project.parameterPrefix}/`;
    if (run.parameter.startsWith(prefix)) {
      const env = run.parameter.slice(prefix.length).split('/')[0]!;
      return config.project.environments.has(env) ? [env] : [];
    }
    const consumers = config.deployments.filter((d) => d.references.some((r) => r.kind === 'ssm' && r.path === run.parameter)).map((d) => d.env);
    return environmentOrder(config, [...new Set(consumers)]);
  }
  return environmentOrder(config, declared);
}

async function withBackend<T>(ctx: PipelineContext, config: Config, fn: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await ctx.openBackend(config);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

/** Build: load the config (pinned to one commit from here on), build the graph, write it, keep the snapshot. */
export async function buildStep(raw: unknown, ctx: PipelineContext): Promise<BuildRef> {
  const state = parseState(raw);
  const { run } = state;
  const source = ctx.source({ ...(run.ref ? { ref: run.ref } : {}), ...(run.commit ? { commit: run.commit } : {}) });
  const config = await loadConfig(source);
  let envs = targetEnvironments(config, state);
  for (const c of run.components ?? []) {
    if (!config.deployments.some((d) => d.component === c && envs.includes(d.env))) {
      throw new InvalidInputError(`component "${c}" is not deployed in ${envs.join(', ') || 'any targeted environment'}`);
    }
  }
  return withBackend(ctx, config, async (backend) => {
    if (run.trigger === 'ssm-change' && run.parameter && (await isOwnWrite(config, backend.runtime, run.parameter))) {
      ctx.log('ignored: the parameter was written by Karma itself', { parameter: run.parameter });
      envs = [];
    }
    const { snapshot } = await buildFromConfig(config, backend.runtime, { clock: ctx.clock, source });
    await backend.graph.write(snapshot);
    const ref = await ctx.snapshots.put(`${run.executionId}-build`, snapshot, { keep: snapshotsToKeep(config) });
    ctx.log('built', { envs, commit: config.commit, vertices: snapshot.vertices.length });
    return { ...(config.commit ? { commit: config.commit } : {}), envs, snapshot: ref, vertices: snapshot.vertices.length, edges: snapshot.edges.length };
  });
}

/** Two snapshots per run (after the build, and the final one): the last history.keepBuilds runs keep both. */
const snapshotsToKeep = (config: Config): number => 2 * keepBuilds(config);

const lockNames = (envs: readonly string[]): string[] => envs.map(lockName);

/**
 * AcquireLock: every target environment's lock, or none. A lock whose holder is a dead local process is taken
 * over at once (ctx.processes decides; deployed executions have none). A busy lock: the state machine waits
 * and comes back here, until `lockTimeout` seconds after the first attempt (then `timedOut`).
 */
export async function acquireLockStep(raw: unknown, ctx: PipelineContext): Promise<LockState> {
  const state = parseState(raw);
  const envs = state.build?.envs ?? [];
  const config = await loadConfig(ctx.source(pinned(state)));
  return withBackend(ctx, config, async (backend) => {
    const now = ctx.clock.now();
    const probe = ctx.processes;
    const got = await backend.locks.acquire(
      lockNames(envs),
      { owner: state.run.executionId, ...ctx.holder },
      ctx.lockTtlSeconds,
      probe ? { canTakeOver: (lock) => holderState(lock, now, probe) === 'dead' } : {},
    );
    const attempts = (state.lock?.attempts ?? 0) + 1;
    for (const lock of got.tookOver) ctx.log(tookOverLine(lock), { lock });
    if (got.acquired) {
      ctx.log('lock acquired', { envs, attempts });
      return {
        acquired: true,
        timedOut: false,
        attempts,
        ...(state.lock?.waitingSince ? { waitingSince: state.lock.waitingSince } : {}),
        ...(got.tookOver.length > 0 ? { tookOver: [...got.tookOver] } : {}),
      };
    }
    const holder = got.heldBy!;
    const waitingSince = state.lock?.waitingSince ?? now.toISOString();
    const waited = (now.getTime() - Date.parse(waitingSince)) / 1000;
    const timedOut = waited >= (state.run.lockTimeout ?? DEFAULT_LOCK_TIMEOUT_SECONDS);
    ctx.log(timedOut ? 'lock timeout' : 'lock busy', { envs, heldBy: holder.owner, attempts });
    return {
      acquired: false,
      timedOut,
      attempts,
      waitingSince,
      heldBy: holder.owner,
      holder,
      ...(timedOut ? { message: lockTimeoutMessage(holder, waited) } : {}),
    };
  });
}

export async function releaseLockStep(raw: unknown, ctx: PipelineContext): Promise<null> {
  const state = parseState(raw);
  if (!state.build) return null;
  const config = await loadConfig(ctx.source(pinned(state)));
  await withBackend(ctx, config, (backend) => backend.locks.release(lockNames(state.build!.envs), state.run.executionId));
  return null;
}

function pinned(state: PipelineState): { ref?: string; commit?: string } {
  const commit = state.build?.commit ?? state.run.commit;
  if (commit) return { commit };
  return state.run.ref ? { ref: state.run.ref } : {};
}

function processedIn(progress: Progress | undefined, env: string): Set<string> {
  return new Set((progress?.processed ?? []).filter((p) => p.env === env).map((p) => p.component));
}

/** The components a drift check covers: applied successfully and not (yet) checked in this execution. */
function driftCandidates(build: Build, env: string, exclude: ReadonlySet<string>, only?: ReadonlySet<string>): string[] {
  return [...build.statuses.values()]
    .filter((s) => s.env === env && (s.own === 'in-sync' || s.own === 'drifted') && !exclude.has(s.component) && (!only || only.has(s.component)))
    .map((s) => s.component)
    .sort();
}

async function liveBuild(ctx: PipelineContext, config: Config, backend: Backend, source: ConfigSource): Promise<Build> {
  const { build, snapshot } = await buildFromConfig(config, backend.runtime, { clock: ctx.clock, source });
  await backend.graph.write(snapshot);
  return build;
}

/** PlanWave: re-plan from the runtime as it is now; the next (part of a) wave, or done. */
export async function planStep(raw: unknown, ctx: PipelineContext): Promise<Plan> {
  const state = parseState(raw);
  const round = (state.progress?.round ?? 0) + 1;
  const source = ctx.source(pinned(state));
  const config = await loadConfig(source);
  const only = state.run.components ? new Set(state.run.components) : undefined;
  return withBackend(ctx, config, async (backend) => {
    await recordLostFailures(config, backend.runtime, state, ctx.clock);
    const build = await liveBuild(ctx, config, backend, source);
    for (const env of state.build?.envs ?? []) {
      const exclude = processedIn(state.progress, env);
      let next: string[];
      if (state.run.mode === 'drift') {
        next = driftCandidates(build, env, exclude, only);
      } else {
        const holdDrift = holdsDrift(config.project, env, state.run.trigger);
        next = planEnv(build, env, { exclude, holdDrift, ...(only ? { only } : {}) }).waves[0] ?? [];
      }
      if (next.length === 0) continue;
      const wave: WorkItem[] = next.slice(0, ctx.maxParallel).map((component) => ({
        env,
        component,
        mode: state.run.mode,
        commit: state.build?.commit ?? '',
        executionId: state.run.executionId,
      }));
      ctx.log('planned', { round, env, wave: wave.map((w) => w.component) });
      return { done: false, round, wave };
    }
    return { done: true, round, wave: [] };
  });
}

/**
 * What a failed Map item's cause says, kept short: locally the component command's `{message, log}`; in AWS the
 * CodeBuild build record startBuild.sync fails with (its status and log link; the whole record is kilobytes, and
 * the state payload is capped at 256 KiB).
 */
export function failureOf(cause: string | undefined): { detail?: string; log?: string } {
  if (!cause) return {};
  let json: unknown;
  try {
    json = JSON.parse(cause);
  } catch {
    return { detail: cause.slice(0, 500) };
  }
  if (json === null || typeof json !== 'object') return { detail: cause.slice(0, 500) };
  const o = json as Record<string, unknown>;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
  if (text(o['message'])) return { detail: text(o['message'])!.slice(0, 1500), ...(text(o['log']) ? { log: text(o['log'])! } : {}) };
  const build = (o['Build'] ?? o['build'] ?? o) as Record<string, unknown>;
  const logs = (build['Logs'] ?? build['logs'] ?? {}) as Record<string, unknown>;
  const status = text(build['BuildStatus']) ?? text(build['buildStatus']);
  const id = text(build['Id']) ?? text(build['id']);
  const log = text(logs['DeepLink']) ?? text(logs['deepLink']);
  return { ...(status ? { detail: `CodeBuild build ${id ?? ''} ended ${status}`.replace('  ', ' ') } : {}), ...(log ? { log } : {}) };
}

/** RecordWave: fold the Map's results into the progress. The runtime already holds outputs and state. */
export function recordStep(raw: unknown): Progress {
  const state = parseState(raw);
  const processed: Processed[] = [...(state.progress?.processed ?? [])];
  for (const r of state.waveResults ?? []) {
    const failure = r.outcome === 'succeeded' ? {} : failureOf(r.cause);
    processed.push({ env: r.env, component: r.component, ok: r.outcome === 'succeeded', ...(r.error ? { error: r.error } : {}), ...failure });
  }
  return { round: state.plan?.round ?? (state.progress?.round ?? 0) + 1, processed };
}

/**
 * A component whose apply step failed without recording it — the process was killed, the build timed out or was
 * stopped — must not look merely pending to the re-plan (its dependents would be applied on its old outputs):
 * record it failed, with what is known. Idempotent: a component whose state already says failed is left alone.
 */
async function recordLostFailures(config: Config, runtime: RuntimeStore, state: PipelineState, clock: Clock): Promise<void> {
  if (state.run.mode !== 'apply') return;
  for (const p of state.progress?.processed ?? []) {
    if (p.ok) continue;
    const read = parseRuntimeState((await runtime.readNames([stateParamPath(config.project.parameterPrefix, p.env, p.component)]))[0]);
    if (read.kind === 'ok' && read.state.result === 'failed') continue;
    const what = p.detail ?? p.error ?? 'the apply step failed';
    const error = `the apply ended without recording a result (${what}); its resources may be partly changed${p.log ? `: see ${p.log}` : ''}`;
    await recordApply(config, runtime, { env: p.env, component: p.component, result: 'failed', error, ...(state.build?.commit ? { commit: state.build.commit } : {}) }, clock);
  }
}

/** Summarize: one row per component touched or left behind, from the runtime as it now is. */
export async function summarizeStep(raw: unknown, ctx: PipelineContext): Promise<Summary> {
  const state = parseState(raw);
  const envs = state.build?.envs ?? [];
  const mode = state.run.mode;
  const source = ctx.source(pinned(state));
  const config = await loadConfig(source);
  const only = state.run.components ? new Set(state.run.components) : undefined;
  const rows: ResultRow[] = [];
  await withBackend(ctx, config, async (backend) => {
    const build = await liveBuild(ctx, config, backend, source);
    const snapshot = toSnapshot(build);
    await ctx.snapshots.put(`${state.run.executionId}-final`, snapshot, { keep: snapshotsToKeep(config) });
    for (const env of envs) {
      const processed = (state.progress?.processed ?? []).filter((p) => p.env === env);
      const drifted: string[] = [];
      for (const p of processed) {
        const s = build.statuses.get(`${env}/${p.component}`)!;
        // The state this execution's apply (or drift check) wrote says how long its init took.
        const init = (own: boolean) => (own && s.state?.initMillis !== undefined ? { initMillis: s.state.initMillis } : {});
        if (!p.ok) {
          const reason = s.own === 'failed' ? s.ownReason : (p.detail ?? p.error ?? 'the apply step failed');
          rows.push({
            env,
            component: p.component,
            result: 'failed',
            detail: p.log && !reason.includes(p.log) ? `${reason} (log: ${p.log})` : reason,
            ...init(s.own === 'failed' && mode === 'apply'),
          });
        } else if (mode === 'apply') {
          rows.push({ env, component: p.component, result: 'applied', detail: s.own === 'in-sync' ? 'in-sync' : `${s.status}: ${s.reason}`, ...init(true) });
        } else if (mode === 'drift') {
          const isDrifted = s.state?.drift?.drifted === true;
          if (isDrifted) drifted.push(p.component);
          rows.push({ env, component: p.component, result: isDrifted ? 'drifted' : 'in-sync', detail: isDrifted ? (s.state?.drift?.summary ?? 'changes found') : 'no changes', ...init(true) });
        } else {
          const plan = ctx.planSummary?.(env, p.component);
          if (plan) {
            // Bounded: the summary travels in the state machine's payload (256 KiB).
            const resources = plan.resources.slice(0, 100).map((r) => ({ address: r.address, action: r.action }));
            rows.push({ env, component: p.component, result: 'planned', detail: planDetail(plan), plan: { add: plan.add, change: plan.change, destroy: plan.destroy, line: plan.line, resources } });
          } else {
            rows.push({ env, component: p.component, result: 'planned', detail: 'terraform plan ran; see the build log' });
          }
        }
      }
      if (mode === 'apply') {
        const done = new Set(processed.map((p) => p.component));
        const holdDrift = holdsDrift(config.project, env, state.run.trigger);
        const left = planEnv(build, env, { exclude: done, holdDrift, ...(only ? { only } : {}) });
        for (const s of left.skipped) {
          if (!done.has(s.component)) rows.push({ env, component: s.component, result: 'skipped', detail: `${s.status}: ${s.reason}` });
        }
        for (const s of left.held ?? []) {
          drifted.push(s.component);
          rows.push({
            env,
            component: s.component,
            result: 'drifted',
            detail: `${s.reason}; not reverted (drift.onTrigger is report for a ${state.run.trigger} run): run karma pipeline run --env ${env} to revert it, or change the config to match`,
          });
        }
      }
      if (drifted.length > 0) {
        // Dependents of a drifted component are at risk: they consume outputs of infrastructure that changed under Terraform.
        const risk = dependentsOf(config, env, drifted);
        // A drift check lists a dependent twice (its own check, and at risk); an apply run lists each component once.
        const listed = new Set(mode === 'drift' ? drifted : rows.filter((r) => r.env === env).map((r) => r.component));
        for (const c of risk) if (!listed.has(c)) rows.push({ env, component: c, result: 'at-risk', detail: `depends on drifted ${dependsOnWhich(config, env, c, drifted)}` });
      }
      // Removed from the config, resources still there: every run lists them until they are destroyed or forgotten.
      for (const o of orphansIn(build, env)) rows.push({ env, component: o.component, result: 'orphaned', detail: `${o.reason}; ${ORPHAN_ADVICE(o.component, env)}` });
    }
  });
  const count = (r: ResultRow['result']): number => rows.filter((x) => x.result === r).length;
  const text =
    rows.length === 0
      ? `nothing to do in ${envs.join(', ') || 'no environment'}`
      : rows.some((r) => r.initMillis !== undefined)
        ? table(['ENV', 'COMPONENT', 'RESULT', 'DETAIL', 'INIT'], rows.map((r) => [r.env, r.component, r.result, r.detail, r.initMillis === undefined ? '' : formatMillis(r.initMillis)]))
        : table(['ENV', 'COMPONENT', 'RESULT', 'DETAIL'], rows.map((r) => [r.env, r.component, r.result, r.detail]));
  const summary: Summary = {
    mode,
    envs,
    rows,
    applied: count('applied'),
    failed: count('failed'),
    skipped: count('skipped'),
    drifted: count('drifted'),
    orphaned: count('orphaned'),
    text,
  };
  await notifySummary(ctx, summary, state.run.executionId);
  return summary;
}

/** `412 ms`, `3.2 s`. */
export function formatMillis(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function dependentsOf(config: Config, env: string, roots: readonly string[]): string[] {
  const inEnv = config.deployments.filter((d) => d.env === env);
  const out = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const c = queue.shift()!;
    for (const d of inEnv) {
      const depends = d.dependsOn.includes(c) || d.references.some((r) => r.kind === 'output' && r.env === env && r.component === c);
      if (depends && !out.has(d.component)) {
        out.add(d.component);
        queue.push(d.component);
      }
    }
  }
  return [...out].sort();
}

function dependsOnWhich(config: Config, env: string, component: string, drifted: readonly string[]): string {
  const reach = drifted.filter((d) => dependentsOf(config, env, [d]).includes(component));
  return reach.join(', ');
}
