/**
 * The queue's ApplyRunner for `karma serve` in AWS (docs/service.md "In AWS"): the config repo is a Git remote,
 * the applies run in the deployed state machine (CodeBuild), and this runner starts it and follows it.
 *
 *   queued      change.apply-queued recorded in the audit log (DynamoDB), as the local runner does.
 *   attempt 1   the AWS apply's two halves (lib/app/aws-workspace/changes.ts): checkAwsApply, then startAwsApply —
 *               the proposal merged into the tracked branch and pushed, its branch deleted, StartExecution for its
 *               environment (each step recorded as the Lambda API records it: change.apply-queued, the last one
 *               with the execution). Then the execution is followed: DescribeExecution every `pollMs` (5 s) until
 *               it ends. SUCCEEDED → succeeded, recorded change.applied; anything else → failed with the
 *               execution's error and cause in one line, recorded change.apply-failed (both with the execution).
 *               A refusal (closed, a merge refused) fails the entry with its message (a refused merge is
 *               change.rejected, recorded by checkAwsApply).
 *   attempt > 1 a restart found it running. The audit log, since the entry was queued, decides:
 *               finished (applied, apply-failed, rejected) → that outcome, never applied again;
 *               an execution started for it (an entry carrying `execution`) → THAT execution is followed, no
 *               other is started; merged but not started → started at the merged commit; otherwise → started.
 *
 * The AbortSignal (stop) ends the following, not the run: the execution goes on in AWS, the queue hands the
 * entry back, and the next start follows the same execution (attempt > 1). Nothing here stops an execution.
 */
import { EXIT_INVALID, KarmaError } from '../core/errors.ts';
import type { AuditAction, ExecutionDescription, QueuedApply } from '../ports.ts';
import type { AwsChangesPart } from '../app/aws-workspace/changes.ts';
import type { ApplyOutcome, ApplyRunner } from './queue.ts';

export const DEFAULT_FOLLOW_POLL_MS = 5000;

export interface AwsApplyRunnerOptions {
  /** The AWS changes part (lib/app/aws-workspace/changes.ts awsChanges): start, the history, the audit log. */
  readonly changes: Pick<AwsChangesPart, 'startApply' | 'history' | 'record'>;
  /** DescribeExecution (lib/app/pipeline/remote.ts describeRemote on the stack's Step Functions). */
  readonly describe: (executionArn: string) => Promise<ExecutionDescription>;
  /** How often a running execution is described (default 5 s). */
  readonly pollMs?: number;
  /** A line each time the execution's status is read and when it changes (the service's debug log). */
  readonly progress?: (change: string, line: string) => void;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
};

/** The entries that end a change's apply, and what each makes the queue's outcome. */
const FINISHED: Partial<Record<AuditAction, ApplyOutcome['outcome']>> = {
  'change.applied': 'succeeded',
  'change.apply-failed': 'failed',
  'change.rejected': 'failed',
};

/** The following was stopped (the service stops): the entry is handed back, the execution goes on. */
export class FollowStoppedError extends KarmaError {
  override readonly name: string = 'FollowStoppedError';
}

/** Waits `ms`, or less when `signal` aborts (then rejects with FollowStoppedError). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new FollowStoppedError('stopped following: the service is stopping'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new FollowStoppedError('stopped following: the service is stopping'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** An execution's end as the queue's outcome and the audit entry's result. */
export function executionOutcome(d: ExecutionDescription): ApplyOutcome {
  const name = d.executionArn.split(':').pop() ?? d.executionArn;
  if (d.status === 'SUCCEEDED') return { outcome: 'succeeded', result: `merged and pushed; the pipeline run ${name} succeeded` };
  const why = [d.error, d.cause].filter((x): x is string => typeof x === 'string' && x.trim() !== '').join(': ');
  return { outcome: 'failed', result: oneLine(`merged and pushed; the pipeline run ${name} ${(d.status ?? 'ended').toLowerCase()}${why ? `: ${why}` : ''}`) };
}

export class AwsApplyRunner implements ApplyRunner {
  private readonly options: AwsApplyRunnerOptions;

  constructor(options: AwsApplyRunnerOptions) {
    this.options = options;
  }

  async queued(item: QueuedApply): Promise<void> {
    await this.options.changes.record({ actor: item.actor, action: 'change.apply-queued', change: item.id, component: item.component, env: item.env, result: 'in the queue of karma serve' });
  }

  async run(item: QueuedApply, signal: AbortSignal): Promise<ApplyOutcome> {
    let execution: string;
    try {
      const request = { allowDestroy: item.allowDestroy, includePending: item.includePending };
      if (item.attempts > 1) {
        // What happened before the restart: the entries since this one was queued.
        const since = (await this.options.changes.history(item.id)).filter((e) => e.at >= item.enqueuedAt);
        const finished = since.findLast((e) => FINISHED[e.action] !== undefined);
        if (finished) return { outcome: FINISHED[finished.action]!, result: oneLine(`finished before the restart: ${finished.result ?? finished.action}`) };
        const followed = since.findLast((e) => e.execution !== undefined)?.execution;
        if (followed) {
          execution = followed;
        } else {
          const mergedAt = since.findLast((e) => e.action === 'change.apply-queued' && e.commit !== undefined)?.commit;
          execution = (await this.options.changes.startApply(item.id, request, item.actor, mergedAt ? { mergedAt } : {})).executionArn;
        }
      } else {
        execution = (await this.options.changes.startApply(item.id, request, item.actor)).executionArn;
      }
    } catch (error) {
      // Refusals were recorded by the checks (change.rejected); anything else fails the entry with its line.
      return { outcome: 'failed', result: oneLine(error instanceof KarmaError ? error.message : `unexpected error: ${messageOf(error)}`) };
    }
    // Following: a stop (FollowStoppedError) is thrown on, so the queue hands the entry back unrecorded.
    let outcome: ApplyOutcome;
    try {
      outcome = executionOutcome(await this.follow(item, execution, signal));
    } catch (error) {
      if (error instanceof FollowStoppedError) throw error;
      outcome = { outcome: 'failed', result: oneLine(`merged and pushed; its pipeline run cannot be followed: ${messageOf(error)}`) };
    }
    await this.options.changes.record({
      actor: item.actor,
      action: outcome.outcome === 'succeeded' ? 'change.applied' : 'change.apply-failed',
      change: item.id,
      component: item.component,
      env: item.env,
      execution,
      result: outcome.result,
    });
    return outcome;
  }

  /** DescribeExecution every pollMs until the execution is no longer running; a read that fails is retried. */
  private async follow(item: QueuedApply, execution: string, signal: AbortSignal): Promise<ExecutionDescription> {
    const pollMs = this.options.pollMs ?? DEFAULT_FOLLOW_POLL_MS;
    let last: string | undefined;
    for (;;) {
      if (signal.aborted) throw new FollowStoppedError('stopped following: the service is stopping');
      try {
        const d = await this.options.describe(execution);
        if (d.status !== last) this.options.progress?.(item.id, `${execution}: ${d.status ?? 'UNKNOWN'}`);
        last = d.status;
        if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE' && d.status !== undefined) return d;
      } catch (error) {
        // No such execution (exit 2): nothing to wait for.
        if (error instanceof KarmaError && error.exitCode === EXIT_INVALID) throw error;
        // Throttling or a network blip: the execution runs on regardless; read it again at the next poll.
        this.options.progress?.(item.id, oneLine(`${execution}: cannot be read now: ${messageOf(error)}`));
      }
      await pause(pollMs, signal);
    }
  }
}
