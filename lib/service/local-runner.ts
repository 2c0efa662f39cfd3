/**
 * The queue's ApplyRunner for `karma serve` (docs/rollouts.md "The change queue"): the change use cases of
 * lib/app/changes.ts on the change context the service gives it (the config repo's clone, the backend it keeps
 * open, Terraform here: what LocalWorkspace's changes() builds).
 *
 *   attempt 1   checkApply → requireDestroyAccepted(item.allowDestroy) → applyChange: exactly the saved plan,
 *               merged, then the pipeline for the dependents. Succeeded = the pipeline SUCCEEDED (applied and
 *               merged); anything else failed, with the one-line reason. A refusal (a stale or expired plan, a
 *               merge refused, a destroy not accepted) is recorded by the use case as change.rejected and fails
 *               the apply with its message.
 *   attempt > 1 a restart found it running: resumeChange. A change the audit log says finished (succeeded,
 *               failed, rejected) is finished in the queue with that outcome and NOT applied again; one merged has
 *               the pipeline for its dependents run again; one cut short before the merge is re-planned and
 *               applied under the same decision.
 *
 * It also records change.apply-queued when an entry enters the queue, so GET /changes/{id} says queued.
 */
import { KarmaError } from '../core/errors.ts';
import { applyChange, checkApply, requireDestroyAccepted, resumeChange, type ChangeApplied, type ChangeContext } from '../app/changes.ts';
import type { PipelineJson } from '../app/pipeline/local-run.ts';
import type { Backend } from '../app/backend.ts';
import { loadConfig } from '../app/build.ts';
import type { QueuedApply } from '../ports.ts';
import type { ApplyOutcome, ApplyRunner } from './queue.ts';

export interface LocalApplyRunnerOptions {
  /** The change context to apply as `actor` (the queue entry's: who decided). */
  readonly context: (actor: string) => Promise<ChangeContext>;
  /** Pipeline and Terraform progress lines of an apply (the service's logger). */
  readonly progress?: (change: string, line: string) => void;
  /** Seconds the dependents' pipeline waits for a busy environment lock (default: applyChange's, 1 h). */
  readonly lockTimeout?: number;
  /** The pipeline run an apply made for its dependents, when it ended (the service keeps it for GET /executions/{id}). */
  readonly onPipeline?: (run: PipelineJson, startedAt: string) => void;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
};

/** The pipeline's outcome as the queue's result (the audit log has the same line). */
function pipelineOutcome(pipeline: PipelineJson): ApplyOutcome {
  if (pipeline.status === 'SUCCEEDED') {
    const summary = pipeline.summary ? ` (${pipeline.summary.applied} applied, ${pipeline.summary.skipped} skipped)` : '';
    return { outcome: 'succeeded', result: `applied and merged; pipeline succeeded${summary}` };
  }
  if (pipeline.status === 'ABORTED') return { outcome: 'failed', result: 'applied and merged; the pipeline for the dependents was interrupted' };
  return { outcome: 'failed', result: oneLine(`applied and merged; the pipeline for the dependents failed: ${pipeline.error ?? pipeline.status}${pipeline.cause ? `: ${pipeline.cause}` : ''}`) };
}

/** applyChange's result → the queue's outcome. */
export function appliedOutcome(applied: ChangeApplied): ApplyOutcome {
  if (!applied.merged) return { outcome: 'failed', result: oneLine(`the saved plan's apply failed: ${applied.component.error ?? applied.component.outcome}`) };
  if (!applied.pipeline) return { outcome: 'failed', result: 'applied and merged; the pipeline for the dependents did not run' };
  return pipelineOutcome(applied.pipeline);
}

export class LocalApplyRunner implements ApplyRunner {
  private readonly options: LocalApplyRunnerOptions;

  constructor(options: LocalApplyRunnerOptions) {
    this.options = options;
  }

  async queued(item: QueuedApply): Promise<void> {
    const ctx = await this.options.context(item.actor);
    if (!ctx.audit) return;
    const audit = ctx.audit;
    const head = await ctx.repo.head();
    const config = await loadConfig(ctx.repo.sourceAt(head.commit));
    await ctx.withBackend(config, (backend: Backend) =>
      audit(backend).append({ at: (ctx.clock?.now() ?? new Date()).toISOString(), actor: item.actor, action: 'change.apply-queued', change: item.id, component: item.component, env: item.env }),
    );
  }

  async run(item: QueuedApply, signal: AbortSignal): Promise<ApplyOutcome> {
    const startedAt = new Date().toISOString();
    const told = (run: PipelineJson | null | undefined): void => {
      if (run) this.options.onPipeline?.(run, startedAt);
    };
    try {
      const ctx = await this.options.context(item.actor);
      const progress = this.options.progress;
      const options = {
        allowDestroy: item.allowDestroy,
        includePending: item.includePending,
        signal,
        ...(this.options.lockTimeout !== undefined ? { lockTimeout: this.options.lockTimeout } : {}),
        ...(progress ? { pipelineProgress: (line: string) => progress(item.id, line) } : {}),
      };
      if (item.attempts > 1) {
        const resumed = await resumeChange(ctx, item.id, { ...options, since: item.enqueuedAt });
        switch (resumed.kind) {
          case 'finished':
            return { outcome: resumed.status === 'succeeded' ? 'succeeded' : 'failed', result: oneLine(`finished before the restart: ${resumed.status}${resumed.reason ? `: ${resumed.reason}` : ''}`) };
          case 'pipeline':
            told(resumed.pipeline);
            return pipelineOutcome(resumed.pipeline);
          case 'applied':
            told(resumed.applied.pipeline);
            return appliedOutcome(resumed.applied);
          case 'failed':
            return { outcome: 'failed', result: oneLine(resumed.reason) };
        }
      }
      const checked = await checkApply(ctx, item.id);
      await requireDestroyAccepted(ctx, checked, item.allowDestroy);
      const applied = await applyChange(ctx, item.id, { ...options, checked });
      told(applied.pipeline);
      return appliedOutcome(applied);
    } catch (error) {
      // Refusals (KarmaError, exit 2) were recorded as change.rejected by the use case; anything else is a failure.
      return { outcome: 'failed', result: oneLine(error instanceof KarmaError ? error.message : `unexpected error: ${messageOf(error)}`) };
    }
  }
}
