/**
 * `karma pipeline run` (and `karma drift`): execute statemachines/pipeline.asl.json locally.
 *
 * Exit codes: 0 the execution succeeded; 1 it failed (a component failed: the table says which; a step failed;
 * the lock stayed busy past --lock-timeout); 2 the input was invalid (unknown env or component, bad mode); 3 it
 * succeeded and found drift that is still in place (a drift check, or an event-driven run under
 * drift.onTrigger: report); 130 interrupted (Ctrl-C, SIGINT) and 143 terminated (SIGTERM): running applies
 * stopped, the lock released.
 */
import { resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import { PIPELINE_ERRORS } from '../../core/pipeline-contract.ts';
import { pipelineJson, runLocalPipeline, type PipelineJson } from '../../app/pipeline/local-run.ts';
import { withConfig, configLocation, type CommonOptions } from '../context.ts';
import { isGitUrl } from '../../app/open.ts';
import { palette, spinner, type IO } from '../io.ts';
import { plural } from '../format.ts';
import { parseDuration } from '../../core/duration.ts';

/** Exit codes of an interrupted run (128 + the signal number, as shells report them). */
export const EXIT_INTERRUPTED = 130;
export const EXIT_TERMINATED = 143;
import { warnOrphans } from '../warnings.ts';

/** Exit code of a run that succeeded but left drift in place: scripts and schedules can tell it from 0. */
export const DRIFT_FOUND = 3;

export interface PipelineRunOptions extends CommonOptions {
  readonly env?: string;
  readonly trigger?: string;
  readonly mode?: string;
  readonly component?: string[];
  readonly commit?: string;
  readonly maxParallel?: number;
  readonly terraform?: string;
  /** How long to wait for a busy environment lock: `90s`, `10m`, `1h` or seconds (default 1h). */
  readonly lockTimeout?: string;
}

/** --lock-timeout → seconds (UsageError when it is not a duration); undefined when not given. */
export function lockTimeoutSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = parseDuration(value);
  if (seconds === undefined || seconds > 86_400) throw new UsageError(`--lock-timeout must be a duration up to 24h, like 90s, 10m or 1h, got "${value}"`);
  return seconds;
}

export async function pipelineRun(options: PipelineRunOptions, io: IO): Promise<number> {
  const location = configLocation(options);
  if (isGitUrl(location)) throw new UsageError('karma pipeline run needs a local config directory (clone the repository first); --ref picks the commit');
  // Fail fast, with the usual one-line problems, on a broken config.
  await withConfig(options);
  if (options.maxParallel !== undefined && (!Number.isInteger(options.maxParallel) || options.maxParallel < 1)) {
    throw new UsageError(`--max-parallel must be a positive integer, got ${options.maxParallel}`);
  }
  return runPipelineAndReport(resolve(location), executionInput(options), options, io);
}

/** The execution input from the command's flags. */
export function executionInput(options: PipelineRunOptions): Record<string, unknown> {
  const input: Record<string, unknown> = { trigger: options.trigger ?? 'manual' };
  if (options.env) input['env'] = options.env;
  if (options.mode) input['mode'] = options.mode;
  if (options.component?.length) input['components'] = options.component;
  if (options.ref) input['ref'] = options.ref;
  if (options.commit) input['commit'] = options.commit;
  const lockTimeout = lockTimeoutSeconds(options.lockTimeout);
  if (lockTimeout !== undefined) input['lockTimeout'] = lockTimeout;
  return input;
}

/**
 * The terminal side of a local pipeline run: progress lines (dim, on stderr), a spinner while a lock is busy,
 * and Ctrl-C / SIGTERM, which stop the applies and release the lock (exit 130 / 143). The handlers are armed
 * only while the pipeline runs; a second Ctrl-C exits at once (the handler is `once`), leaving the lock to the
 * next run's dead-process takeover.
 */
export function pipelineTerminal(io: IO, options: { readonly json?: boolean }): {
  readonly signal: AbortSignal;
  readonly progress: (line: string) => void;
  readonly waiting: (text: string | undefined) => void;
  arm(): void;
  disarm(): void;
  /** The signal that interrupted the run, if one did. */
  signalled(): NodeJS.Signals | undefined;
} {
  const p = palette(io);
  const spin = spinner(io);
  const controller = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = signal;
    spin.stop();
    if (!options.json) io.err(`karma: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping the running applies and releasing the lock (Ctrl-C again to exit at once)`);
    controller.abort();
  };
  return {
    signal: controller.signal,
    progress: (line) => (options.json ? undefined : io.err(p.dim(line))),
    waiting: (text) => (options.json ? undefined : text ? spin.start(text) : spin.stop()),
    arm: () => {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    },
    disarm: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
    signalled: () => signalled,
  };
}

/**
 * Reports a finished local run: with --json, `document` (the run, or the run within a larger result); else the
 * result table and a status line on stdout, failures and orphans on stderr. Returns the exit code: 0 succeeded,
 * 3 succeeded with drift left, 1 failed, 2 invalid input, 130 / 143 interrupted.
 */
export function reportPipeline(io: IO, options: { readonly json?: boolean }, run: PipelineJson, signalled: NodeJS.Signals | undefined, document: unknown): number {
  const p = palette(io);
  if (run.status === 'ABORTED') {
    const { stopped = [], released = [] } = run.interrupted ?? {};
    const code = signalled === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
    if (options.json) io.out(JSON.stringify(document));
    else {
      io.err(`karma: ${signalled === 'SIGTERM' ? 'terminated' : 'interrupted'}: stopped ${stopped.join(', ') || 'no running apply'}; released the lock on ${released.join(', ') || 'no environment'}. Run it again to go on.`);
    }
    return code;
  }
  const code = run.status === 'SUCCEEDED' ? (run.summary?.drifted ? DRIFT_FOUND : 0) : run.error === PIPELINE_ERRORS.invalidInput ? 2 : 1;
  warnOrphans(io, (run.summary?.rows ?? []).filter((r) => r.result === 'orphaned'));
  if (options.json) {
    io.out(JSON.stringify(document));
    return code;
  }
  if (run.summary) io.out(run.summary.text);
  const timing = run.waves.map((w) => `wave ${w.round} (${w.env}: ${w.components.join(', ')}) ${w.millis} ms`).join('; ');
  if (run.status === 'SUCCEEDED') {
    io.out(p.green(`succeeded in ${run.millis} ms${timing ? ` — ${timing}` : ''}`));
  } else if (run.error === PIPELINE_ERRORS.componentsFailed) {
    io.out(p.red(`failed: ${run.summary ? plural(run.summary.failed, 'component') : 'some components'} failed, in ${run.millis} ms${timing ? ` — ${timing}` : ''}`));
  } else {
    io.err(`karma: pipeline failed: ${run.error}: ${run.cause}`);
  }
  return code;
}

/**
 * Runs the pipeline locally and reports it: progress on stderr, the result table and a status line on stdout
 * (or `{...jsonExtra, pipeline: {...}}` with --json). Returns the exit code (reportPipeline).
 */
export async function runPipelineAndReport(
  configDir: string,
  input: Record<string, unknown>,
  options: PipelineRunOptions,
  io: IO,
  jsonExtra?: Record<string, unknown>,
): Promise<number> {
  const lockTimeout = lockTimeoutSeconds(options.lockTimeout);
  const terminal = pipelineTerminal(io, options);
  terminal.arm();
  const result = await runLocalPipeline({
    configDir,
    input: lockTimeout !== undefined && input['lockTimeout'] === undefined ? { ...input, lockTimeout } : input,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.terraform ? { terraform: options.terraform } : {}),
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
    progress: terminal.progress,
    waiting: terminal.waiting,
    signal: terminal.signal,
  }).finally(() => terminal.disarm());
  const run = pipelineJson(result);
  return reportPipeline(io, options, run, terminal.signalled(), jsonExtra ? { ...jsonExtra, pipeline: run } : run);
}

export interface PipelineStartOptions extends PipelineRunOptions {
  readonly stateMachine?: string;
  readonly name?: string;
  readonly region?: string;
}

/** `karma pipeline start`: start the deployed state machine (idempotent execution name). */
export async function pipelineStart(options: PipelineStartOptions, io: IO): Promise<number> {
  const { startRemotePipeline } = await import('../../app/pipeline/remote.ts');
  const started = await startRemotePipeline(executionInput(options), {
    ...(options.stateMachine ? { stateMachineArn: options.stateMachine } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.region ? { region: options.region } : {}),
  });
  if (options.json) io.out(JSON.stringify(started));
  else if (started.started) io.out(`started ${started.executionArn}\nfollow it: karma pipeline status ${started.executionArn} --follow`);
  else io.out(`already ${started.status?.toLowerCase() ?? 'started'}: ${started.executionArn} (same input, same name; pass --name to run it again)`);
  return 0;
}

/** `karma pipeline status EXECUTION [--follow]`. Exit 0 running or succeeded, 3 succeeded with drift left in place, 1 failed, timed out or aborted. */
export async function pipelineStatus(options: { execution: string; follow?: boolean; json?: boolean; region?: string; intervalMs?: number }, io: IO): Promise<number> {
  const { describeRemote } = await import('../../app/pipeline/remote.ts');
  const remote = options.region ? { region: options.region } : {};
  let out = await describeRemote(options.execution, remote);
  while (options.follow && out.status === 'RUNNING') {
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 5000));
    out = await describeRemote(options.execution, remote);
  }
  const summary = (() => {
    try {
      return (JSON.parse(out.output ?? 'null') as { summary?: { text?: string; drifted?: number } } | null)?.summary;
    } catch {
      return undefined;
    }
  })();
  if (options.json) {
    io.out(JSON.stringify({ executionArn: out.executionArn, status: out.status, startDate: out.startDate, stopDate: out.stopDate ?? null, error: out.error ?? null, cause: out.cause ?? null, summary: summary ?? null }));
    return executionExitCode(out.status, summary);
  }
  return printExecution(io, { executionArn: out.executionArn, status: out.status, stopDate: out.stopDate?.toISOString() ?? null, cause: out.cause ?? null, summary });
}

/** What `karma pipeline status` prints of a run (GET /executions/{id} answers the same keys). */
export interface ExecutionLines {
  readonly executionArn: string;
  readonly status: string | undefined;
  readonly stopDate: string | null;
  readonly cause: string | null;
  readonly summary: unknown;
}

/** `karma pipeline status`'s exit code: 0 running or succeeded, 3 succeeded with drift left, 1 failed, timed out or aborted. */
export function executionExitCode(status: string | undefined, summary: unknown): number {
  const drifted = summary && typeof summary === 'object' ? (summary as { drifted?: unknown }).drifted : undefined;
  if (status === 'SUCCEEDED') return drifted ? DRIFT_FOUND : 0;
  return status === 'RUNNING' || status === 'PENDING_REDRIVE' ? 0 : 1;
}

/** `karma pipeline status`'s text (also for GET /executions/{id}'s answer, with --api); returns the exit code. */
export function printExecution(io: IO, run: ExecutionLines): number {
  io.out(`${run.executionArn}: ${run.status}${run.stopDate ? ` (${run.stopDate})` : ''}`);
  const text = run.summary && typeof run.summary === 'object' ? (run.summary as { text?: unknown }).text : undefined;
  if (typeof text === 'string' && text) io.out(text);
  else if (run.cause) io.out(run.cause);
  return executionExitCode(run.status, run.summary);
}
