/**
 * The change routes of the serverless API: the change use cases (lib/app/changes.ts) on a clone of the config
 * repo's remote in /tmp, kept in sync with it (the pipeline's Git credentials: CodeCommit signed with the
 * function's role, GitHub with KARMA_GIT_TOKEN_SECRET), the audit log in DynamoDB, and the deployed pipeline:
 *
 *   POST /request-change      requestChange on the tracked branch's tip (validation, diff, impact, a commit on
 *                             `karma/proposals/<id>`), that branch pushed to the remote, then change.requested
 *                             recorded. No Terraform here: `plan` is skipped; the deployed pipeline plans in CodeBuild.
 *   POST /changes/{id}/apply  the proposal merged into the tracked branch (fast-forward, or a replay when only other
 *                             files moved: lib/app/change.ts mergeProposal) and pushed (change.apply-queued), the
 *                             proposal's branch deleted there, then the state machine started for the environment at
 *                             the merged commit (change.apply-queued with the execution): the change is `queued`.
 *                             A refused merge is change.rejected (the proposal stays open). Two halves:
 *                             checkAwsApply (every refusal) and startAwsApply (merge, push, start); the Lambda runs
 *                             them together, `karma serve` in AWS runs the check at the call and the start in its
 *                             queue (lib/service/aws-runner.ts).
 *   GET /changes[/{id}]       listChanges / getChange (open proposals + the audit log); a change whose run was
 *                             started here takes its status from that execution: applying, succeeded or failed.
 *
 * The clone is per container and re-synced with the remote before every request: the remote is the truth (two
 * containers may serve requests at once; a push that lost the race is a 409).
 */
import { join } from 'node:path';
import { ConflictError, EXIT_INVALID, KarmaError } from '../../core/errors.ts';
import { buildGraph } from '../../core/graph.ts';
import type { Config } from '../../core/model.ts';
import { impact } from '../../core/order.ts';
import type { AuditEntry, GitRepository, PipelineExecutions } from '../../ports.ts';
import { isGitUrl } from '../../adapters/git/url.ts';
import { gitOnAuthFromEnv } from '../../adapters/git/auth.ts';
import { openRemoteClone } from '../../adapters/git/repository.ts';
import { openAwsBackend } from '../aws-backend.ts';
import type { Backend } from '../backend.ts';
import { loadConfig } from '../build.ts';
import { findProposal, mergeProposal, PROPOSAL_BRANCH_PREFIX, type Proposal } from '../change.ts';
import { getChange, listChanges, requestChange, type Change, type ChangeContext, type ChangeStatus, type RequestedChange } from '../changes.ts';
import { startRemotePipeline } from '../pipeline/remote.ts';
import { proposalRequest, type ApplyRequest, type ChangeRequest, type Workspace } from '../workspace.ts';
import { describeExecution, executionPrefix, remoteOptions } from './ops.ts';
import { ApiSetupError, awsWorkspaceSettings, composeWorkspace, requireStateMachine, type AwsWorkspaceSettings, type ChangesPart } from './settings.ts';

/** What request-change says about the plan: Terraform never runs in the API's functions. */
export const SERVERLESS_PLAN = {
  status: 'skipped',
  reason: 'the serverless API runs no Terraform: the deployed pipeline plans the change in CodeBuild when it is applied (POST /changes/{id}/apply)',
} as const;

/** An execution's status → the change's. */
function statusOfExecution(status: string): ChangeStatus {
  if (status === 'RUNNING' || status === 'PENDING_REDRIVE') return 'applying';
  if (status === 'SUCCEEDED') return 'succeeded';
  if (status === 'FAILED' || status === 'TIMED_OUT' || status === 'ABORTED') return 'failed';
  return 'queued';
}

/** What the two halves of an apply need: the synced clone and its tracked branch, the settings, the audit log. */
export interface AwsApplyDeps {
  readonly repo: GitRepository;
  readonly branch: string;
  readonly settings: AwsWorkspaceSettings;
  /** Who decided, as the audit log records it. */
  readonly actor: string;
  readonly now: () => Date;
  readonly append: (entry: Omit<AuditEntry, 'id' | 'at'>) => Promise<void>;
  /** The change with its audit history (an unknown one: NotFoundError, a 404). */
  readonly change: (id: string) => Promise<Change>;
  /** The executions port (tests); default Step Functions. */
  readonly executions?: PipelineExecutions;
}

/** What the checks found: the open proposal, the state machine, and whether the branch holds it already. */
export interface AwsApplyCheck {
  readonly proposal: Proposal;
  readonly stateMachineArn: string;
  /** An earlier call merged (fast-forward) and pushed it, then failed: only what is left is done. */
  readonly merged: boolean;
}

/** The run started for a change: the execution, and the commit it runs at. */
export interface AwsApplyStarted {
  readonly change: string;
  readonly env: string;
  readonly commit: string;
  readonly executionArn: string;
  /** false: an execution with the same name (same input) existed already; Step Functions handed it back. */
  readonly started: boolean;
}

/**
 * Every refusal of POST /changes/{id}/apply, before anything changes: an unknown change (404), a closed proposal
 * (409), no state machine (503), a merge that would be refused (the tracked branch moved and clashes, or the result
 * no longer validates: recorded as change.rejected, then thrown; the proposal stays open). No saved plan and no
 * destroy gate here: the deployed pipeline plans in CodeBuild.
 */
export async function checkAwsApply(d: AwsApplyDeps, id: string): Promise<AwsApplyCheck> {
  const change = await d.change(id); // unknown: 404
  const proposal = await findProposal(d.repo, change.id);
  if (!proposal) throw new ConflictError(`change ${change.id} is ${change.status} and its proposal is closed: there is nothing left to apply (GET /changes/${change.id} says how it went)`);
  const stateMachineArn = requireStateMachine(d.settings);
  const merged = await d.repo.isAncestor(proposal.commit, (await d.repo.head()).commit);
  if (!merged) {
    try {
      await mergeProposal(d.repo, proposal.id, { checkOnly: true });
    } catch (error) {
      await rejectRefusal(d, proposal, error);
      throw error;
    }
  }
  return { proposal, stateMachineArn, merged };
}

/** A refused merge (exit 2) is recorded as change.rejected. */
async function rejectRefusal(d: AwsApplyDeps, proposal: Proposal, error: unknown): Promise<void> {
  if (error instanceof KarmaError && error.exitCode === EXIT_INVALID) {
    await d.append({ actor: d.actor, change: proposal.id, component: proposal.component, env: proposal.env, action: 'change.rejected', commit: proposal.commit, result: error.message });
  }
}

/**
 * After checkAwsApply: the proposal merged into the tracked branch and pushed (change.apply-queued), its branch
 * deleted on the remote, then the state machine started for the environment at the merged commit.
 */
export async function startAwsApply(d: AwsApplyDeps, check: AwsApplyCheck, request: ApplyRequest): Promise<AwsApplyStarted> {
  const { proposal } = check;
  const about = { actor: d.actor, change: proposal.id, component: proposal.component, env: proposal.env };
  let commit: string;
  if (check.merged) {
    commit = (await d.repo.head()).commit;
  } else {
    let merged;
    try {
      merged = await mergeProposal(d.repo, proposal.id);
    } catch (error) {
      // Refused before anything changed (the branch moved since the check and clashes now).
      await rejectRefusal(d, proposal, error);
      throw error;
    }
    await d.repo.push(merged.into);
    commit = merged.commit;
    // Recorded once pushed: whatever fails next, the change is in the branch the pipeline reads.
    await d.append({ ...about, action: 'change.apply-queued', commit, result: `merged into ${d.branch} (${merged.how}) at ${commit.slice(0, 8)} and pushed` });
  }
  await d.repo.push(proposal.branch, { delete: true });
  return startAwsPipeline(d, about, commit, request);
}

/**
 * The state machine started for a merged change's environment at `commit`: the change's component and what
 * depends on it, unless the caller accepts everything pending. Recorded as change.apply-queued with the execution.
 */
export async function startAwsPipeline(
  d: AwsApplyDeps,
  about: { readonly actor: string; readonly change: string; readonly component: string; readonly env: string },
  commit: string,
  request: ApplyRequest,
): Promise<AwsApplyStarted> {
  const stateMachineArn = requireStateMachine(d.settings);
  const config = await loadConfig(d.repo.sourceAt(commit));
  const reach = impact(buildGraph(config, new Map(), { builtAt: d.now().toISOString() }), about.env, about.component).waves.flat();
  const input = { env: about.env, mode: 'apply', trigger: 'manual', commit, ...(request.includePending ? {} : { components: reach }) };
  const started = await startRemotePipeline(input, { stateMachineArn, ...remoteOptions(d.settings), ...(d.executions ? { executions: d.executions } : {}) });
  await d.append({
    ...about,
    action: 'change.apply-queued',
    commit,
    execution: started.executionArn,
    result: `pipeline ${started.started ? 'started' : `already ${started.status?.toLowerCase() ?? 'started'}`} for ${about.env} at ${commit.slice(0, 8)}${request.includePending ? '' : `: ${reach.join(', ')}`}`,
  });
  return { change: about.change, env: about.env, commit, executionArn: started.executionArn, started: started.started };
}

/** The changes part, and what the service's queue (lib/service/aws-runner.ts) uses besides the routes. */
export type AwsChangesPart = ChangesPart & {
  /** checkAwsApply on the synced clone. */
  checkApply(id: string, actor: string): Promise<AwsApplyCheck>;
  /**
   * checkAwsApply then startAwsApply on the synced clone. `mergedAt`: a run cut short after the merge recorded
   * that commit; when the proposal is closed and the branch holds it, the pipeline is started at it.
   */
  startApply(id: string, request: ApplyRequest, actor: string, resume?: { readonly mergedAt?: string }): Promise<AwsApplyStarted>;
  /** A change's audit entries, oldest first (its status from the log alone, no execution described). */
  history(id: string): Promise<readonly AuditEntry[]>;
  /** Appends an audit entry (the time is set here). */
  record(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void>;
  close(): Promise<void>;
};

export interface AwsChangesOptions {
  /** The executions port (tests); default Step Functions. */
  readonly executions?: PipelineExecutions;
  readonly now?: () => Date;
}

export function awsChanges(s: AwsWorkspaceSettings, options: AwsChangesOptions = {}): AwsChangesPart {
  const now = options.now ?? (() => new Date());
  const clock = { now };
  let backend: Promise<Backend> | undefined;
  // One backend per container (its audit log is the DynamoDB table; SSM and Neptune are never called here).
  const backendFor = (config: Config): Promise<Backend> => {
    if (!s.auditTable) return Promise.reject(new ApiSetupError('KARMA_AUDIT_TABLE is not set: the change routes record every step in the audit log'));
    backend ??= openAwsBackend(config, { baseDir: s.workDir }).catch((error: unknown) => {
      backend = undefined;
      throw error;
    });
    return backend;
  };

  /** The clone, synced with the remote; requests in one container are serialised (one clone, one work tree). */
  let queue: Promise<unknown> = Promise.resolve();
  const withClone = <T>(fn: (repo: GitRepository, branch: string) => Promise<T>): Promise<T> => {
    const run = queue.then(async () => {
      if (!isGitUrl(s.config)) throw new ApiSetupError(`the change routes need KARMA_CONFIG to be the config repo's Git URL (they push to it), got a directory`);
      const { repo, branch } = await openRemoteClone(s.config, join(s.workDir, 'config'), {
        onAuth: gitOnAuthFromEnv(s.env),
        mirrorPrefix: PROPOSAL_BRANCH_PREFIX,
        ...(s.branch ? { branch: s.branch } : {}),
      });
      return fn(repo, branch);
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const contextOf = (repo: GitRepository, actor: string, audited = true): ChangeContext => ({
    repo,
    withBackend: async (config, work) => work(await backendFor(config)),
    ...(audited ? { audit: (b: Backend) => b.audit } : {}),
    places: { baseDir: repo.dir },
    backendType: 'aws',
    actor,
    clock,
  });

  const append = async (repo: GitRepository, entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> => {
    const config = await loadConfig(repo.sourceAt((await repo.head()).commit));
    await (await backendFor(config)).audit.append({ at: now().toISOString(), ...entry });
  };

  /** A change whose run was started here: its status is that execution's (the pipeline writes no audit entry). */
  const followed = async (change: Change): Promise<Change> => {
    const latest = change.history.findLast((e) => e.action !== 'change.requested');
    if (change.status !== 'queued' || latest?.action !== 'change.apply-queued' || !latest.execution || !s.stateMachineArn) return change;
    if (!latest.execution.startsWith(executionPrefix(s.stateMachineArn))) return change;
    try {
      const run = await describeExecution(s, latest.execution, options.executions);
      const status = statusOfExecution(run.status);
      const reason = status === 'failed' ? `the pipeline run ${run.status.toLowerCase()}${run.error ? `: ${run.error}` : ''}${run.cause ? `: ${run.cause}` : ''}` : undefined;
      return { ...change, status, ...(reason ? { reason } : {}) };
    } catch (error) {
      if (!(error instanceof KarmaError)) throw error;
      return { ...change, reason: `its pipeline run cannot be read now: ${error.message}` };
    }
  };

  const depsOf = (repo: GitRepository, branch: string, actor: string): AwsApplyDeps => ({
    repo,
    branch,
    settings: s,
    actor,
    now,
    append: (entry) => append(repo, entry),
    change: (id) => getChange(contextOf(repo, actor), id),
    ...(options.executions ? { executions: options.executions } : {}),
  });

  return {
    requestChange: (request: ChangeRequest, actor: string) =>
      withClone(async (repo): Promise<RequestedChange> => {
        // Recorded once pushed: an entry for a proposal the remote does not have would never be closed.
        // No Terraform in a Lambda: the pipeline plans in CodeBuild.
        const proposed = await requestChange(contextOf(repo, actor, false), { ...proposalRequest(request), plan: false });
        if (proposed.id && proposed.branch && proposed.commit) {
          await repo.push(proposed.branch);
          await append(repo, {
            actor,
            action: 'change.requested',
            change: proposed.id,
            component: proposed.component,
            env: proposed.env,
            commit: proposed.commit,
            diff: proposed.diff,
            result: 'no plan: the deployed pipeline plans it in CodeBuild when it is applied',
          });
        }
        return { ...proposed, plan: SERVERLESS_PLAN };
      }),

    listChanges: (opts) =>
      withClone(async (repo) => {
        const { changes } = await listChanges(contextOf(repo, 'reader'), opts);
        return { changes: await Promise.all(changes.map(followed)) };
      }),

    getChange: (id) => withClone(async (repo) => followed(await getChange(contextOf(repo, 'reader'), id))),

    applyChange: (id: string, request: ApplyRequest, actor: string) =>
      withClone(async (repo, branch) => {
        const d = depsOf(repo, branch, actor);
        const started = await startAwsApply(d, await checkAwsApply(d, id), request);
        return { change: await getChange(contextOf(repo, actor), started.change), execution: started.executionArn };
      }),

    checkApply: (id: string, actor: string) => withClone((repo, branch) => checkAwsApply(depsOf(repo, branch, actor), id)),

    startApply: (id: string, request: ApplyRequest, actor: string, resume: { readonly mergedAt?: string } = {}) =>
      withClone(async (repo, branch) => {
        const d = depsOf(repo, branch, actor);
        if (resume.mergedAt && !(await findProposal(repo, id)) && (await repo.isAncestor(resume.mergedAt, (await repo.head()).commit))) {
          // Merged, pushed and closed by a run cut short before the state machine started: start it now.
          const change = await getChange(contextOf(repo, actor), id);
          return startAwsPipeline(d, { actor, change: change.id, component: change.component, env: change.env }, resume.mergedAt, request);
        }
        return startAwsApply(d, await checkAwsApply(d, id), request);
      }),

    history: (id: string) => withClone(async (repo) => (await getChange(contextOf(repo, 'reader'), id)).history),

    record: (entry: Omit<AuditEntry, 'id' | 'at'>) => withClone((repo) => append(repo, entry)),

    close: async () => {
      const b = backend;
      backend = undefined;
      if (b) await (await b).close();
    },
  };
}

/** The workspace of the changes function (lambdas/api-changes.ts): the Git remote, Step Functions, the audit log. */
export async function openAwsChangesWorkspace(env: NodeJS.ProcessEnv = process.env): Promise<Workspace> {
  const s = awsWorkspaceSettings(env);
  return composeWorkspace(`serverless: config ${s.config}`, { changes: awsChanges(s) });
}
