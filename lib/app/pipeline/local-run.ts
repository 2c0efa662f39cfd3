/**
 * `karma pipeline run`: the pipeline executed locally from the same ASL file. Lambda steps run in-process; the
 * CodeBuild step runs `karma component <mode> <component> <env>` as a child process, exactly the command the
 * buildspec runs in AWS.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyTaskTimeoutSeconds, runLocal, type ApplyRequest, type LocalEvent, type LocalRunResult } from '../../adapters/stepfunctions/local-runner.ts';
import type { BackendType } from '../backend.ts';
import { localContext } from './context.ts';
import { makeHandlers } from './handlers.ts';
import { Summary, type Plan } from './model.ts';

const KARMA_BIN = fileURLToPath(new URL('../../../bin/karma.ts', import.meta.url));

/** The apply task's TimeoutSeconds in the ASL (the same number bounds CodeBuild in AWS). */
const APPLY_TIMEOUT_SECONDS = applyTaskTimeoutSeconds();

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
}

/**
 * A failed Map item, as Step Functions reports a failed CodeBuild build (`States.TaskFailed`) or one that ran out
 * of time (`States.Timeout`). The message is the cause: `{message, log}` as JSON, which RecordWave reads
 * (failureOf) as it reads a CodeBuild build record in AWS.
 */
class ComponentFailedError extends Error {
  constructor(message: string, log: string | undefined, name: 'States.TaskFailed' | 'States.Timeout' = 'States.TaskFailed') {
    super(JSON.stringify({ message, ...(log ? { log } : {}) }));
    this.name = name;
  }
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

/** Runs `karma component ...` for one Map item: the local stand-in for CodeBuild. */
function componentCommand(options: LocalPipelineOptions, progress: (l: string) => void) {
  return (request: ApplyRequest): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = [KARMA_BIN, 'component', request.mode, request.component, request.env, '--config', options.configDir, '--json'];
      if (request.commit) args.push('--ref', request.commit, '--commit', request.commit);
      if (options.backend) args.push('--backend', options.backend);
      if (options.store) args.push('--store', options.store);
      if (options.terraform) args.push('--terraform', options.terraform);
      // The runner names the working copy, so it can point at the log even when the component process dies.
      const workRoot = process.env['KARMA_WORK_DIR'] ?? join(resolvePath(options.configDir), options.store ?? '.karma', 'work');
      const log = join(workRoot, request.env, request.component, `${request.mode}.log`);
      args.push('--work-dir', workRoot);
      const started = performance.now();
      progress(`    ${request.env}/${request.component}: ${request.mode} started`);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const { stopAfterMs, graceMs } = applyDeadline(process.env, APPLY_TIMEOUT_SECONDS);
      let timedOut = false;
      let kill: NodeJS.Timeout | undefined;
      const stop = setTimeout(() => {
        timedOut = true;
        progress(`    ${request.env}/${request.component}: timed out after ${Math.round(stopAfterMs / 1000)} s: stopping terraform (SIGINT, SIGKILL in ${graceMs / 1000} s)`);
        child.kill('SIGINT');
        kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      }, stopAfterMs);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => reject(new ComponentFailedError(`cannot start karma: ${e.message}`, undefined)));
      child.on('close', (code, signal) => {
        clearTimeout(stop);
        clearTimeout(kill);
        const ms = Math.round(performance.now() - started);
        let result: { outcome?: string; error?: unknown; changedOutputs?: string[]; initMillis?: number } = {};
        try {
          result = JSON.parse(Buffer.concat(out).toString('utf8') || '{}') as typeof result;
        } catch {
          // not JSON: reported below from stderr
        }
        if (timedOut) {
          const error = `timed out after ${Math.round(stopAfterMs / 1000)} s; terraform was stopped (${signal ?? `exit ${code}`})`;
          progress(`    ${request.env}/${request.component}: failed (${ms} ms): ${error}`);
          reject(new ComponentFailedError(error, log, 'States.Timeout'));
        } else if (code === 0) {
          const changed = result.changedOutputs?.length ? `, changed outputs: ${result.changedOutputs.join(', ')}` : '';
          const init = result.initMillis !== undefined ? `, init ${result.initMillis} ms` : '';
          progress(`    ${request.env}/${request.component}: ${result.outcome ?? 'done'} (${ms} ms${init}${changed})`);
          resolve();
        } else {
          const said = typeof result.error === 'string' ? result.error : ((result.error as { message?: string } | undefined)?.message ?? Buffer.concat(err).toString('utf8').trim().split('\n').pop());
          const error = said || (signal ? `the component process was killed (${signal})` : `the component process exited ${code}`);
          progress(`    ${request.env}/${request.component}: failed (${ms} ms): ${error}`);
          reject(new ComponentFailedError(error, log));
        }
      });
    });
}

export async function runLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  const progress = options.progress ?? (() => undefined);
  const executionId = `arn:aws:states:local:123456789012:execution:karma-pipeline:${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
  const ctx = localContext({
    configDir: options.configDir,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
  });
  const waves: WaveTiming[] = [];
  let summary: Summary | undefined;
  let current: { round: number; env: string; components: string[]; started: number } | undefined;
  const onEvent = (e: LocalEvent): void => {
    if (e.type === 'StateEntered' && e.index === undefined && e.state) {
      if (e.state !== 'ApplyWave' && e.state !== 'Done?' && e.state !== 'LockAcquired?' && e.state !== 'Outcome?') progress(`→ ${e.state}`);
    }
    if (e.type === 'StateExited' && e.state === 'PlanWave') {
      const plan = (e.output as { plan?: Plan } | undefined)?.plan;
      if (plan && !plan.done && plan.wave.length > 0) {
        current = { round: plan.round, env: plan.wave[0]!.env, components: plan.wave.map((w) => w.component), started: performance.now() };
        progress(`  wave ${plan.round} in ${current.env}: ${current.components.join(', ')}`);
      }
    }
    if (e.type === 'StateExited' && e.state === 'ApplyWave' && current) {
      waves.push({ round: current.round, env: current.env, components: current.components, millis: Math.round(performance.now() - current.started) });
      current = undefined;
    }
    if (e.type === 'StateExited' && e.state === 'Summarize') {
      const parsed = Summary.safeParse((e.output as { summary?: unknown } | undefined)?.summary);
      if (parsed.success) summary = parsed.data;
    }
  };
  const result = await runLocal({
    handlers: makeHandlers(ctx),
    applyComponent: componentCommand(options, progress),
    input: options.input,
    executionId,
    ...(options.waitMillis !== undefined ? { waitMillis: options.waitMillis } : {}),
    onEvent,
  });
  return { ...result, executionId, ...(summary ? { summary } : {}), waves };
}
