/**
 * The ops routes of the serverless API: GET /executions/{id} (a run of this stack's pipeline, as `karma pipeline
 * status --json` prints it) and GET /audit (the DynamoDB audit log, newest first).
 */
import { NotFoundError, UsageError } from '../../core/errors.ts';
import type { AuditLog, ExecutionDescription, PipelineExecutions } from '../../ports.ts';
import { describeRemote } from '../pipeline/remote.ts';
import { auditPage } from '../audit.ts';
import type { ExecutionView, Workspace } from '../workspace.ts';
import { openAuditLog } from './audit.ts';
import { awsWorkspaceSettings, composeWorkspace, requireStateMachine, type AwsWorkspaceSettings, type OpsPart } from './settings.ts';

/** `arn:aws:states:R:A:stateMachine:NAME` → `arn:aws:states:R:A:execution:NAME:` (its executions' prefix). */
export function executionPrefix(stateMachineArn: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
}

/**
 * An execution of this stack's state machine, by ARN or by name (the ARN is made from the state machine's);
 * anything else is not found (the API never describes another state machine's runs).
 */
export function executionArnOf(stateMachineArn: string, id: string): string {
  const prefix = executionPrefix(stateMachineArn);
  const arn = id.startsWith('arn:') ? id : `${prefix}${id}`;
  const name = arn.slice(prefix.length);
  if (!arn.startsWith(prefix) || !/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new NotFoundError(`no execution "${id}" of the pipeline ${stateMachineArn}: give an execution ARN of that state machine or an execution name`, {
      kind: 'execution',
      value: id,
      known: [],
    });
  }
  return arn;
}

/** The view of one execution: `karma pipeline status --json`'s keys. */
export function executionView(d: ExecutionDescription): ExecutionView {
  let summary: unknown = null;
  try {
    summary = (JSON.parse(d.output ?? 'null') as { summary?: unknown } | null)?.summary ?? null;
  } catch {
    summary = null;
  }
  return {
    executionArn: d.executionArn,
    status: d.status ?? 'UNKNOWN',
    startDate: d.startDate?.toISOString() ?? '',
    stopDate: d.stopDate?.toISOString() ?? null,
    error: d.error ?? null,
    cause: d.cause ?? null,
    summary,
  };
}

/** One execution of this stack's pipeline; a NotFoundError when there is none. */
export async function describeExecution(s: AwsWorkspaceSettings, id: string, executions?: PipelineExecutions): Promise<ExecutionView> {
  const arn = executionArnOf(requireStateMachine(s), id);
  try {
    return executionView(await describeRemote(arn, { ...remoteOptions(s), ...(executions ? { executions } : {}) }));
  } catch (error) {
    if (error instanceof UsageError) throw new NotFoundError(`no execution ${arn}`, { kind: 'execution', value: id, known: [] });
    throw error;
  }
}

/** Where Step Functions is (region from the ARN; endpoint override for tests). */
export function remoteOptions(s: AwsWorkspaceSettings): { region?: string; endpoint?: string } {
  return { ...(s.region ? { region: s.region } : {}), ...(s.endpoints.sfn ? { endpoint: s.endpoints.sfn } : {}) };
}

export function awsOps(s: AwsWorkspaceSettings, audit: () => AuditLog): OpsPart & { close(): Promise<void> } {
  let log: AuditLog | undefined;
  return {
    execution: (id) => describeExecution(s, id),
    audit: (page) => auditPage((log ??= audit()), page),
    close: async () => undefined,
  };
}

/** The workspace of the ops function (lambdas/api-ops.ts): Step Functions + the audit log. */
export async function openAwsOpsWorkspace(env: NodeJS.ProcessEnv = process.env): Promise<Workspace> {
  const s = awsWorkspaceSettings(env);
  return composeWorkspace(`serverless: pipeline ${s.stateMachineArn ?? '(none)'}`, { ops: awsOps(s, () => openAuditLog(s)) });
}
