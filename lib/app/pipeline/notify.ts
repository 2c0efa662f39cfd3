/**
 * What Summarize tells the notification topic, and when.
 *
 * One message per execution, from one place:
 *   - drift found (drifted > 0) and nothing failed → Summarize publishes `Karma: N drifted in ENV` with the
 *     result table (names, statuses and Terraform's plan line; never a value: the table holds none);
 *   - orphaned deployments (removed from the config, resources still there) and nothing failed → the same
 *     message, `Karma: N orphaned in ENV` (or `Karma: N drifted, M orphaned in ...`): on every execution
 *     while they remain, until someone destroys or forgets them;
 *   - any component failed (apply, plan or drift mode) → Summarize publishes nothing: the execution then fails
 *     with ComponentsFailedError and the table as cause, and the stack's EventBridge rule already sends every
 *     FAILED / TIMED_OUT / ABORTED execution to the same topic, with that cause. Publishing here too would
 *     send two messages for one failure.
 * A failed Publish never fails the execution: it is logged and the pipeline goes on.
 */
import type { Summary } from './model.ts';
import type { PipelineContext } from './context.ts';

export interface Notification {
  readonly subject: string;
  readonly text: string;
}

/** The message Summarize publishes for this summary, or undefined when it publishes nothing. */
export function notificationFor(summary: Summary, executionId: string): Notification | undefined {
  const orphaned = summary.orphaned ?? 0;
  if (summary.failed > 0 || (summary.drifted === 0 && orphaned === 0)) return undefined;
  const envs = [...new Set(summary.rows.filter((r) => r.result === 'drifted' || r.result === 'orphaned').map((r) => r.env))];
  const atRisk = summary.rows.filter((r) => r.result === 'at-risk').length;
  const counts = [...(summary.drifted > 0 ? [`${summary.drifted} drifted`] : []), ...(orphaned > 0 ? [`${orphaned} orphaned`] : [])];
  const subject = `Karma: ${counts.join(', ')} in ${envs.join(', ')}`;
  const drift =
    summary.drifted > 0
      ? `${summary.drifted} drifted` + (atRisk > 0 ? `, ${atRisk} at risk (they consume outputs of drifted components)` : '') + `. Apply to converge, or change the config to match.`
      : '';
  const orphans =
    orphaned > 0 ? `${orphaned} orphaned: removed from the config, their resources still exist. Destroy them (karma destroy) or drop their record (karma forget).` : '';
  const header = `Karma ${summary.mode === 'drift' ? 'drift check' : `${summary.mode} run`} (execution ${executionId}): ${[drift, orphans].filter(Boolean).join(' ')}`;
  return { subject, text: `${header}\n\n${summary.text}\n` };
}

/** Publishes the summary's notification, if any, through ctx.notify; a failure is logged, never thrown. */
export async function notifySummary(ctx: PipelineContext, summary: Summary, executionId: string): Promise<void> {
  if (!ctx.notify) return;
  const message = notificationFor(summary, executionId);
  if (!message) return;
  try {
    await ctx.notify(message.subject, message.text);
    ctx.log('notified', { subject: message.subject });
  } catch (error) {
    ctx.log('notification failed; the execution goes on', { error: (error as Error).message, errorName: (error as Error).name });
  }
}
