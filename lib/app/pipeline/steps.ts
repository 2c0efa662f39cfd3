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
 * components of the first wave; the rest of the wave comes next round. A drift run checks the applied components
 * in dependency order, `maxParallel` a round (core/order.ts driftOrder).
 *
 * Beside this file: context.ts (what a step runs with), model.ts (the state between steps, validated),
 * loop-safety.ts (own writes, at most once, the guard against endless re-planning), summary.ts (Summarize's rows
 * and table). Every graph write is recorded in the build history when it changed something (buildAndStore).
 */
import { keepBuilds } from '../../core/config.ts';
import { dagOf } from '../../core/dag.ts';
import type { Build } from '../../core/graph.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import { stateParamPath, type Config } from '../../core/model.ts';
import { parseState } from '../../core/runtime.ts';
import { driftOrder, holdsDrift, planEnv } from '../../core/order.ts';
import type { Clock, ConfigSource, RuntimeStore } from '../../ports.ts';
import { recordApply } from '../record.ts';
import type { Backend } from '../backend.ts';
import { buildFromConfig, loadConfig } from '../build.ts';
import { notifySummary } from './notify.ts';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, holderState, lockName, lockTimeoutMessage, tookOverLine } from '../locks.ts';
import { pinned, withBackend, type PipelineContext } from './context.ts';
import { alreadyProcessed, guardWave, isOwnWrite } from './loop-safety.ts';
import { renderSummary, summaryRows } from './summary.ts';
import {
  ExecutionInput,
  InvalidInputError,
  parsePipelineState,
  type LockState,
  type BuildRef,
  type PipelineState,
  type Plan,
  type Processed,
  type RunProgress,
  type Summary,
  type WorkItem,
} from './model.ts';

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
    return dagOf(config).environmentOrder([...new Set(consumers)]);
  }
  return dagOf(config).environmentOrder(declared);
}

/**
 * How a graph write of this execution appears in `karma graph history`: `pipeline <trigger> <execution> <step>`
 * (the execution's name: the last part of an ARN).
 */
export function historyLabel(state: PipelineState, step: string): string {
  return `pipeline ${state.run.trigger} ${state.run.executionId.split(':').at(-1)} ${step}`;
}

/**
 * Builds the graph from the runtime as it is now and writes it. Every write that changed the graph is recorded in
 * the build history, labelled (historyLabel); so is Build's write when `always` (a run with environments to work
 * on), changed or not, so every such execution is listed. A write that changed nothing leaves the store equal to
 * the last recorded build: `graph diff` between recorded builds and their change counts agree.
 */
async function buildAndStore(
  ctx: PipelineContext,
  backend: Backend,
  config: Config,
  source: ConfigSource,
  label: { state: PipelineState; step: string; always?: boolean },
): Promise<{ build: Build; snapshot: GraphSnapshot }> {
  const result = await buildFromConfig(config, backend.runtime, { clock: ctx.clock, source });
  const snapshot: GraphSnapshot = { ...result.snapshot, meta: { ...result.snapshot.meta, trigger: historyLabel(label.state, label.step) } };
  const stats = await backend.graph.write(snapshot);
  if (label.always || stats.added + stats.updated + stats.deleted > 0) await backend.graph.recordBuild(snapshot, stats);
  return { build: result.build, snapshot };
}

/** Build: load the config (pinned to one commit from here on), build the graph, write and record it, keep the snapshot. */
export async function buildStep(raw: unknown, ctx: PipelineContext): Promise<BuildRef> {
  const state = parsePipelineState(raw);
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
    // Recorded even when nothing changed, so every run is listed; not an execution that ignores Karma's own write
    // (every output an apply changes starts one), unless the graph did change.
    const { snapshot } = await buildAndStore(ctx, backend, config, source, { state, step: 'build', always: envs.length > 0 });
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
  const state = parsePipelineState(raw);
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
  const state = parsePipelineState(raw);
  if (!state.build) return null;
  const config = await loadConfig(ctx.source(pinned(state)));
  await withBackend(ctx, config, (backend) => backend.locks.release(lockNames(state.build!.envs), state.run.executionId));
  return null;
}

/** PlanWave: re-plan from the runtime as it is now; the next (part of a) wave, or done. */
export async function planStep(raw: unknown, ctx: PipelineContext): Promise<Plan> {
  const state = parsePipelineState(raw);
  const round = (state.progress?.round ?? 0) + 1;
  const source = ctx.source(pinned(state));
  const config = await loadConfig(source);
  const only = state.run.components ? new Set(state.run.components) : undefined;
  return withBackend(ctx, config, async (backend) => {
    await recordLostFailures(config, backend.runtime, state, ctx.clock);
    const { build } = await buildAndStore(ctx, backend, config, source, { state, step: `round ${round}` });
    const envs = state.build?.envs ?? [];
    for (const env of envs) {
      const exclude = alreadyProcessed(state.progress, env);
      let next: string[];
      if (state.run.mode === 'drift') {
        // Drift checks change nothing, so they do not wait for each other: a round takes the next maxParallel
        // in dependency order (upstream first), which is the order the summary and the at-risk rows read in.
        next = driftOrder(build, env, { exclude, ...(only ? { only } : {}) }).flat();
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
      guardWave(round, wave, state.progress, config.deployments.filter((d) => envs.includes(d.env)).length);
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
export function recordStep(raw: unknown): RunProgress {
  const state = parsePipelineState(raw);
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
    const read = parseState((await runtime.readNames([stateParamPath(config.project.parameterPrefix, p.env, p.component)]))[0]);
    if (read.kind === 'ok' && read.state.result === 'failed') continue;
    const what = p.detail ?? p.error ?? 'the apply step failed';
    const error = `the apply ended without recording a result (${what}); its resources may be partly changed${p.log ? `: see ${p.log}` : ''}`;
    await recordApply(config, runtime, { env: p.env, component: p.component, result: 'failed', error, ...(state.build?.commit ? { commit: state.build.commit } : {}) }, clock);
  }
}

/** Summarize: one row per component touched or left behind, from the runtime as it now is (see summary.ts). */
export async function summarizeStep(raw: unknown, ctx: PipelineContext): Promise<Summary> {
  const state = parsePipelineState(raw);
  const source = ctx.source(pinned(state));
  const config = await loadConfig(source);
  const rows = await withBackend(ctx, config, async (backend) => {
    const { build, snapshot } = await buildAndStore(ctx, backend, config, source, { state, step: 'final' });
    await ctx.snapshots.put(`${state.run.executionId}-final`, snapshot, { keep: snapshotsToKeep(config) });
    return summaryRows(build, state, ctx.planSummary);
  });
  const summary = renderSummary(state.run.mode, state.build?.envs ?? [], rows);
  await notifySummary(ctx, summary, state.run.executionId);
  return summary;
}
