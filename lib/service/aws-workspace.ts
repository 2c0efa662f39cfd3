/**
 * The workspace of `karma serve` in AWS (docs/service.md "In AWS"): the config is the config repo's Git URL, the
 * backend is aws, and the stack's state machine runs the applies.
 *
 *   reads        the live graph (as ServiceWorkspace: always current; `refresh` polls and writes Neptune now)
 *   changes      the serverless API's change routes (lib/app/aws-workspace/changes.ts): a proposal is a branch
 *                karma/proposals/<id> pushed to the remote, the audit log is the DynamoDB table, a change's
 *                status follows its execution
 *   apply        the AWS checks now (404, 409 closed, 503 no state machine, a refused merge: change.rejected),
 *                then the durable queue (one apply per environment at a time): lib/service/aws-runner.ts merges,
 *                pushes, starts the state machine and follows the execution
 *   executions   GET /executions/{id}: the stack's state machine (DescribeExecution); GET /audit: DynamoDB
 */
import { ConflictError } from '../core/errors.ts';
import type { Change, RequestedChange } from '../app/changes.ts';
import type { ApplyRequest, AuditPage, ChangeRequest, Current, ExecutionView, Workspace } from '../app/workspace.ts';
import { openAuditLog } from '../app/aws-workspace/audit.ts';
import { awsChanges, type AwsChangesOptions, type AwsChangesPart } from '../app/aws-workspace/changes.ts';
import { awsOps, remoteOptions } from '../app/aws-workspace/ops.ts';
import { awsWorkspaceSettings, type AwsWorkspaceSettings } from '../app/aws-workspace/settings.ts';
import { describeRemote } from '../app/pipeline/remote.ts';
import type { ChangeQueue, EnqueueRequest, ExecutionDescription, PipelineExecutions, QueuedApply } from '../ports.ts';
import type { LiveGraph } from './live-graph.ts';

/** What request-change says about the plan in this mode: the deployed pipeline plans in CodeBuild. */
export const SERVICE_AWS_PLAN = {
  status: 'skipped',
  reason: 'karma serve in AWS runs no Terraform: the deployed pipeline plans the change in CodeBuild when it is applied (POST /changes/{id}/apply)',
} as const;

export interface AwsServiceWorkspaceOptions {
  /** The config repo's Git URL. */
  readonly config: string;
  /** The tracked branch (--ref; else KARMA_CONFIG_BRANCH; else the remote's default). */
  readonly ref?: string;
  /** KARMA_STATE_MACHINE_ARN, KARMA_AUDIT_TABLE, KARMA_API_WORK_DIR, AWS_REGION, endpoints (lib/app/aws-workspace/settings.ts). */
  readonly env: NodeJS.ProcessEnv;
  readonly live: () => LiveGraph;
  readonly queue: () => ChangeQueue;
  /** Puts the apply in the queue (the runner records change.apply-queued) and wakes the worker. */
  readonly enqueue: (request: EnqueueRequest) => Promise<QueuedApply>;
  /** The executions port (tests); default Step Functions. */
  readonly executions?: PipelineExecutions;
}

export class AwsServiceWorkspace implements Workspace {
  readonly description: string;
  readonly settings: AwsWorkspaceSettings;
  /** The changes part: the routes and what the queue's runner uses (startApply, history, record). */
  readonly changes: AwsChangesPart;
  private readonly ops: ReturnType<typeof awsOps>;
  private readonly options: AwsServiceWorkspaceOptions;

  constructor(options: AwsServiceWorkspaceOptions) {
    this.options = options;
    const branch = options.ref ?? options.env['KARMA_CONFIG_BRANCH'];
    this.settings = awsWorkspaceSettings({ ...options.env, KARMA_CONFIG: options.config, ...(branch ? { KARMA_CONFIG_BRANCH: branch } : {}) });
    const changesOptions: AwsChangesOptions = options.executions ? { executions: options.executions } : {};
    this.changes = awsChanges(this.settings, changesOptions);
    this.ops = awsOps(this.settings, () => openAuditLog(this.settings));
    this.description = `config ${options.config}${branch ? ` at ${branch}` : ''}; applies by ${this.settings.stateMachineArn ?? '(no state machine)'}`;
  }

  /** DescribeExecution on the stack's Step Functions (the runner follows executions with it). */
  describe(executionArn: string): Promise<ExecutionDescription> {
    return describeRemote(executionArn, { ...remoteOptions(this.settings), ...(this.options.executions ? { executions: this.options.executions } : {}) });
  }

  async current(options: { readonly refresh?: boolean } = {}): Promise<Current> {
    const live = this.options.live();
    if (options.refresh) {
      await live.poll();
      await live.sync();
    }
    return live.current();
  }

  async requestChange(request: ChangeRequest, actor: string): Promise<RequestedChange> {
    const proposed = await this.changes.requestChange(request, actor);
    return { ...proposed, plan: SERVICE_AWS_PLAN };
  }

  listChanges(options: { readonly limit?: number }): Promise<{ readonly changes: readonly Change[] }> {
    return this.changes.listChanges(options);
  }

  getChange(id: string): Promise<Change> {
    return this.changes.getChange(id);
  }

  /** The decision is this call: the AWS checks now, then the queue; the answer is the change queued. */
  async applyChange(id: string, request: ApplyRequest, actor: string): Promise<{ readonly change: Change; readonly execution: string | null }> {
    const change = await this.changes.getChange(id); // an unknown change is a 404
    const waiting = await this.options.queue().get(change.id);
    if (waiting && waiting.state !== 'done') throw new ConflictError(`change ${change.id} is already ${waiting.state === 'queued' ? 'in the queue' : 'being applied'}; follow GET /changes/${change.id}`);
    const { proposal } = await this.changes.checkApply(change.id, actor);
    await this.options.enqueue({
      id: proposal.id,
      env: proposal.env,
      component: proposal.component,
      actor,
      allowDestroy: request.allowDestroy === true,
      includePending: request.includePending === true,
    });
    return { change: await this.changes.getChange(proposal.id), execution: null };
  }

  execution(id: string): Promise<ExecutionView> {
    return this.ops.execution(id);
  }

  audit(page: { readonly limit?: number; readonly after?: string; readonly change?: string }): Promise<AuditPage> {
    return this.ops.audit(page);
  }

  async close(): Promise<void> {
    await Promise.all([this.changes.close(), this.ops.close()]);
  }
}
