/**
 * `karma pipeline run`: the pipeline executed locally from the same ASL file. Lambda steps run in-process; the
 * CodeBuild step runs `karma component <mode> <component> <env>` as a child process, exactly the command the
 * buildspec runs in AWS.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopOrphanedTerraform } from '../../adapters/terraform/runner.ts';
import { definitionApplyTimeoutSeconds, runLocal, type ApplyRequest, type LocalEvent, type LocalRunResult } from '../../adapters/stepfunctions/local-runner.ts';
import type { BackendType } from '../backend.ts';
import { localContext, localWorkRoot } from './context.ts';
import { loadConfig } from '../build.ts';
import type { PipelineContext } from './context.ts';
import { makeHandlers } from './handlers.ts';
import { LockState, Summary, type Plan } from './model.ts';
import { STATES } from '../../core/pipeline-contract.ts';
import { formatDuration } from '../../core/duration.ts';
import { deploymentKey } from '../../core/model.ts';
import { envOfLock, tookOverLine, waitingLine } from '../locks.ts';

const KARMA_BIN = fileURLToPath(new URL('../../../bin/karma.ts', import.meta.url));

/**
 * The apply task's TimeoutSeconds in the ASL (the same number bounds CodeBuild in AWS), read when a run first
 * needs it: a Lambda bundle that imports this module (through lib/app/changes.ts) has no ASL file beside it.
 */
let applyTimeoutSeconds: number | undefined;

export interface LocalPipelineOptions {
  readonly configDir: string;
  readonly input: Record<string, unknown>;
  readonly backend?: BackendType;
  readonly store?: string;
  readonly terraform?: string;
  readonly maxParallel?: number;
  readonly waitMillis?: number;
  /** Human progress lines (state transitions, applies with timings). */
  readonly progress?: (line: string) => void;
  /**
   * While waiting for a busy lock: called once with what is being waited for, then with undefined when the wait
   * ends (a terminal shows a spinner in between). The waiting line itself goes to `progress`, once.
   */
  readonly waiting?: (text: string | undefined) => void;
  /** Where KARMA_LOCK_TTL is read (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Interrupt (Ctrl-C): stop the execution, pass SIGINT to every running `karma component` (and its Terraform:
   * each runs in its own process group), wait until they are gone, release this execution's locks.
   */
  readonly signal?: AbortSignal;
}

/** What an interrupted run stopped and released. */
export interface Interrupted {
  /** `env/component` applies that were running and got SIGINT. */
  readonly stopped: readonly string[];
  /** Environments whose lock this execution held and released. */
  readonly released: readonly string[];
}

export interface WaveTiming {
  readonly round: number;
  readonly env: string;
  readonly components: readonly string[];
  readonly millis: number;
}

export interface LocalPipelineResult extends LocalRunResult {
  readonly executionId: string;
  readonly summary?: Summary;
  readonly waves: readonly WaveTiming[];
  readonly interrupted?: Interrupted;
}

/**
 * A run as `karma pipeline run --json` prints it (and as the `pipeline` of `karma apply ID --json`): the
 * execution, its status, the error and cause when it failed, what an interrupt stopped, the result table and
 * the timing of each wave.
 */
export interface PipelineJson {
  readonly executionId: string;
  readonly status: LocalPipelineResult['status'];
  readonly error?: string;
  readonly cause?: string;
  readonly interrupted?: Interrupted;
  readonly summary: Summary | null;
  readonly waves: readonly WaveTiming[];
  readonly millis: number;
}

export function pipelineJson(result: LocalPipelineResult): PipelineJson {
  return {
    executionId: result.executionId,
    status: result.status,
    ...(result.error ? { error: result.error, ...(result.cause !== undefined ? { cause: result.cause } : {}) } : {}),
    ...(result.interrupted ? { interrupted: result.interrupted } : {}),
    summary: result.summary ?? null,
    waves: result.waves,
    millis: result.millis,
  };
}

/**
 * A failed Map item, as Step Functions reports a failed CodeBuild build (`States.TaskFailed`) or one that ran out
 * of time (`States.Timeout`). The message is the cause: `{message, log}` as JSON, which RecordWave reads
 * (failureOf) as it reads a CodeBuild build record in AWS.
 */
class ComponentFailedError extends Error {
  override readonly name: string = 'States.TaskFailed';
  constructor(message: string, log: string | undefined) {
    super(JSON.stringify({ message, ...(log ? { log } : {}) }));
  }
}

class ComponentTimedOutError extends ComponentFailedError {
  override readonly name: string = 'States.Timeout';
}

/**
 * How long one component may run before it is stopped: the ASL's TimeoutSeconds for the apply task (the CodeBuild
 * project's timeout in AWS), or KARMA_APPLY_TIMEOUT seconds. Stopping is SIGINT (Terraform finishes what it can,
 * releases its state lock, Karma deletes the var file), then SIGKILL after the grace period. It happens before the
 * state machine's own timeout fires, so the item fails, and the lock is released, only once Terraform has ended.
 */
export function applyDeadline(env: NodeJS.ProcessEnv, aslTimeoutSeconds: number): { stopAfterMs: number; graceMs: number } {
  const graceMs = 1000 * Number(env['KARMA_APPLY_GRACE'] ?? 30);
  const configured = env['KARMA_APPLY_TIMEOUT'] ? 1000 * Number(env['KARMA_APPLY_TIMEOUT']) : Infinity;
  // Leave the grace period and a margin before the state machine gives up on the task.
  const limit = Math.max(1000, aslTimeoutSeconds * 1000 - graceMs - 30_000);
  return { stopAfterMs: Math.min(configured, limit), graceMs };
}

/** A running `karma component` child: its process group (it and its Terraform) and what it applies. */
interface Running {
  readonly pgid: number;
  readonly what: string;
}

/** Sends a signal to a whole process group; a group already gone is fine. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group
  }
}

/** Resolves once no process of the group is left (the child and whatever it started, Terraform included). */
async function groupGone(pgid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `karma component ...` for one Map item: the local stand-in for CodeBuild. */
function componentCommand(options: LocalPipelineOptions, progress: (l: string) => void, running: Set<Running>) {
  return (request: ApplyRequest): Promise<void> => {
    const applied = new Promise<void>((resolve, reject) => {
      const args = [KARMA_BIN, 'component', request.mode, request.component, request.env, '--config', options.configDir, '--json'];
      if (request.commit) args.push('--ref', request.commit, '--commit', request.commit);
      if (options.backend) args.push('--backend', options.backend);
      if (options.store) args.push('--store', options.store);
      if (options.terraform) args.push('--terraform', options.terraform);
      // The runner names the working copy, so it can point at the log even when the component process dies.
      const workRoot = localWorkRoot(options.configDir, options.store);
      const log = join(workRoot, request.env, request.component, `${request.mode}.log`);
      args.push('--work-dir', workRoot);
      const started = performance.now();
      const who = deploymentKey(request.env, request.component);
      progress(`    ${who}: ${request.mode} started`);
      // With an interrupt signal, each child leads its own process group, so SIGINT reaches it and its Terraform
      // (a terminal's Ctrl-C then reaches only this process, which passes it on: see runLocalPipeline).
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: options.signal !== undefined });
      const entry: Running | undefined = child.pid !== undefined ? { pgid: child.pid, what: who } : undefined;
      if (entry) running.add(entry);
      const { stopAfterMs, graceMs } = applyDeadline(process.env, (applyTimeoutSeconds ??= definitionApplyTimeoutSeconds()));
      let timedOut = false;
      let kill: NodeJS.Timeout | undefined;
      const stop = setTimeout(() => {
        timedOut = true;
        progress(`    ${who}: timed out after ${Math.round(stopAfterMs / 1000)} s: stopping terraform (SIGINT, SIGKILL in ${graceMs / 1000} s)`);
        child.kill('SIGINT');
        kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      }, stopAfterMs);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => reject(new ComponentFailedError(`cannot start karma: ${e.message}`, undefined)));
      child.on('close', (code, signal) => void finish(code, signal));
      const finish = async (code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
        clearTimeout(stop);
        clearTimeout(kill);
        // Killed (kill -9, out of memory, our deadline): the Terraform it started may still run, detached. Stop it
        // before the item fails, so the lock is never released while Terraform still writes.
        if (signal === 'SIGKILL') {
          const pid = await stopOrphanedTerraform(join(workRoot, request.env, request.component), graceMs);
          if (pid !== undefined) progress(`    ${who}: stopped terraform (pid ${pid}) left running by the killed component process`);
        }
        if (entry) running.delete(entry);
        const ms = Math.round(performance.now() - started);
        let result: { outcome?: string; error?: unknown; changedOutputs?: string[] } = {};
        try {
          result = JSON.parse(Buffer.concat(out).toString('utf8') || '{}') as typeof result;
        } catch {
          // not JSON: reported below from stderr
        }
        if (timedOut) {
          const error = `timed out after ${Math.round(stopAfterMs / 1000)} s; terraform was stopped (${signal ?? `exit ${code}`})`;
          progress(`    ${who}: failed (${ms} ms): ${error}`);
          reject(new ComponentTimedOutError(error, log));
        } else if (code === 0) {
          const changed = result.changedOutputs?.length ? `, changed outputs: ${result.changedOutputs.join(', ')}` : '';
          progress(`    ${who}: ${result.outcome ?? 'done'} (${ms} ms${changed})`);
          resolve();
        } else {
          const said = typeof result.error === 'string' ? result.error : ((result.error as { message?: string } | undefined)?.message ?? Buffer.concat(err).toString('utf8').trim().split('\n').pop());
          const error = said || (signal ? `the component process was killed (${signal})` : `the component process exited ${code}`);
          progress(`    ${who}: ${options.signal?.aborted ? 'interrupted' : 'failed'} (${ms} ms): ${error}`);
          reject(new ComponentFailedError(error, log));
        }
      };
    });
    // After an interrupt nothing awaits this any more: its rejection must not become an unhandled one.
    applied.catch(() => undefined);
    return applied;
  };
}

/** Releases every lock this execution holds (after an interrupt: the state machine's ReleaseLock never ran). */
async function releaseOwnLocks(ctx: PipelineContext, input: Record<string, unknown>, executionId: string): Promise<string[]> {
  const at = { ...(typeof input['ref'] === 'string' ? { ref: input['ref'] } : {}), ...(typeof input['commit'] === 'string' ? { commit: input['commit'] } : {}) };
  const backend = await ctx.openBackend(await loadConfig(ctx.source(at)));
  try {
    const mine = (await backend.locks.list()).filter((l) => l.owner === executionId);
    await backend.locks.release(mine.map((l) => l.name), executionId);
    return mine.map((l) => envOfLock(l.name));
  } finally {
    await backend.close();
  }
}

export async function runLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  const progress = options.progress ?? (() => undefined);
  const executionId = `arn:aws:states:local:123456789012:execution:karma-pipeline:${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
  const ctx = localContext({
    configDir: options.configDir,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const waves: WaveTiming[] = [];
  // Waiting for a lock is one line (and a spinner on a terminal), not two state lines per poll.
  let lockEntered = false;
  let waitingFor: string | undefined;
  const onLock = (lock: LockState): void => {
    for (const l of lock.tookOver ?? []) progress(tookOverLine(l));
    if (!lock.acquired && lock.holder) {
      const line = waitingLine(lock.holder);
      if (line !== waitingFor) {
        if (waitingFor !== undefined) options.waiting?.(undefined);
        progress(line);
        options.waiting?.(line);
        waitingFor = line;
      }
      return;
    }
    if (waitingFor !== undefined) {
      options.waiting?.(undefined);
      waitingFor = undefined;
      if (lock.acquired && lock.waitingSince) {
        const waited = (Date.now() - Date.parse(lock.waitingSince)) / 1000;
        progress(`lock acquired after ${formatDuration(waited)}${lock.holder ? ` (${envOfLock(lock.holder.name)})` : ''}`);
      }
    }
  };
  let summary: Summary | undefined;
  let current: { round: number; env: string; components: string[]; started: number } | undefined;
  const onEvent = (e: LocalEvent): void => {
    if (e.type === 'StateEntered' && e.index === undefined && e.state) {
      const quiet: readonly string[] = [STATES.applyWave, STATES.done, STATES.lockAcquired, STATES.outcome, STATES.waitForLock];
      if (e.state === STATES.acquireLock) {
        if (!lockEntered) progress(`→ ${e.state}`);
        lockEntered = true;
      } else if (!quiet.includes(e.state)) {
        progress(`→ ${e.state}`);
      }
    }
    if (e.type === 'StateExited' && e.state === STATES.acquireLock) {
      const lock = LockState.safeParse((e.output as { lock?: unknown } | undefined)?.lock);
      if (lock.success) onLock(lock.data);
    }
    if (e.type === 'StateExited' && e.state === STATES.planWave) {
      const plan = (e.output as { plan?: Plan } | undefined)?.plan;
      if (plan && !plan.done && plan.wave.length > 0) {
        current = { round: plan.round, env: plan.wave[0]!.env, components: plan.wave.map((w) => w.component), started: performance.now() };
        progress(`  wave ${plan.round} in ${current.env}: ${current.components.join(', ')}`);
      }
    }
    if (e.type === 'StateExited' && e.state === STATES.applyWave && current) {
      waves.push({ round: current.round, env: current.env, components: current.components, millis: Math.round(performance.now() - current.started) });
      current = undefined;
    }
    if (e.type === 'StateExited' && e.state === STATES.summarize) {
      const parsed = Summary.safeParse((e.output as { summary?: unknown } | undefined)?.summary);
      if (parsed.success) summary = parsed.data;
    }
  };
  const running = new Set<Running>();
  const stopped: Running[] = [];
  const interrupt = (): void => {
    for (const r of running) {
      stopped.push(r);
      signalGroup(r.pgid, 'SIGINT');
    }
  };
  options.signal?.addEventListener('abort', interrupt, { once: true });
  const result = await runLocal({
    handlers: makeHandlers(ctx),
    applyComponent: componentCommand(options, progress, running),
    input: options.input,
    executionId,
    ...(options.waitMillis !== undefined ? { waitMillis: options.waitMillis } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent,
  }).finally(() => {
    options.signal?.removeEventListener('abort', interrupt);
    if (waitingFor !== undefined) options.waiting?.(undefined);
  });
  if (result.status !== 'ABORTED') return { ...result, executionId, ...(summary ? { summary } : {}), waves };
  // Interrupted: Terraform stops gracefully on SIGINT (it saves its state); wait for every group to be empty
  // before giving the environment back, so a re-run never applies beside a Terraform still running.
  const what = stopped.map((r) => r.what);
  if (what.length > 0) progress(`interrupted: waiting for ${what.join(', ')} to stop`);
  await Promise.all(stopped.map((r) => groupGone(r.pgid)));
  const released = await releaseOwnLocks(ctx, options.input, executionId);
  return { ...result, executionId, ...(summary ? { summary } : {}), waves, interrupted: { stopped: what, released } };
}
