/**
 * `karma pipeline run` (and `karma drift`): execute statemachines/pipeline.asl.json locally.
 *
 * Exit codes: 0 the execution succeeded; 1 it failed (a component failed: the table says which; or a step
 * failed); 2 the input was invalid (unknown env or component, bad mode); 3 it succeeded and found drift that
 * is still in place (a drift check, or an event-driven run under drift.onTrigger: report).
 */
import { resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import { runLocalPipeline, type LocalPipelineResult } from '../../app/pipeline/local-run.ts';
import { withConfig, configLocation, type CommonOptions } from '../context.ts';
import { isGitUrl } from '../../adapters/git/git-source.ts';
import { palette, type IO } from '../io.ts';
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
  return input;
}

export function pipelineJson(result: LocalPipelineResult): Record<string, unknown> {
  return {
    executionId: result.executionId,
    status: result.status,
    ...(result.error ? { error: result.error, cause: result.cause } : {}),
    summary: result.summary ?? null,
    waves: result.waves,
    millis: result.millis,
  };
}

/**
 * Runs the pipeline locally and reports it: progress on stderr, the result table and a status line on stdout
 * (or `{...jsonExtra, pipeline: {...}}` with --json). Returns the exit code: 0 succeeded, 1 failed, 2 invalid input.
 */
export async function runPipelineAndReport(
  configDir: string,
  input: Record<string, unknown>,
  options: PipelineRunOptions,
  io: IO,
  jsonExtra?: Record<string, unknown>,
): Promise<number> {
  const p = palette(io);
  const result = await runLocalPipeline({
    configDir,
    input,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.terraform ? { terraform: options.terraform } : {}),
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
    progress: (line) => (options.json ? undefined : io.err(p.dim(line))),
  });
  const code = result.status === 'SUCCEEDED' ? (result.summary?.drifted ? DRIFT_FOUND : 0) : result.error === 'InvalidInputError' ? 2 : 1;
  warnOrphans(io, (result.summary?.rows ?? []).filter((r) => r.result === 'orphaned'));
  if (options.json) {
    io.out(JSON.stringify(jsonExtra ? { ...jsonExtra, pipeline: pipelineJson(result) } : pipelineJson(result)));
    return code;
  }
  if (result.summary) io.out(result.summary.text);
  const timing = result.waves.map((w) => `wave ${w.round} (${w.env}: ${w.components.join(', ')}) ${w.millis} ms`).join('; ');
  if (result.status === 'SUCCEEDED') {
    io.out(p.green(`succeeded in ${result.millis} ms${timing ? ` — ${timing}` : ''}`));
  } else if (result.error === 'ComponentsFailedError') {
    io.out(p.red(`failed: ${result.summary?.failed ?? 'some'} component(s) failed, in ${result.millis} ms${timing ? ` — ${timing}` : ''}`));
  } else {
    io.err(`karma: pipeline failed: ${result.error}: ${result.cause}`);
  }
  return code;
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
  } else {
    io.out(`${out.executionArn}: ${out.status}${out.stopDate ? ` (${out.stopDate.toISOString()})` : ''}`);
    if (summary?.text) io.out(summary.text);
    else if (out.cause) io.out(out.cause);
  }
  if (out.status === 'SUCCEEDED') return summary?.drifted ? DRIFT_FOUND : 0;
  return out.status === 'RUNNING' || out.status === 'PENDING_REDRIVE' ? 0 : 1;
}
