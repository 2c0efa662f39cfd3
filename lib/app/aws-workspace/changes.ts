/**
 * The change routes of the serverless API, on a clone of the config repo's remote in /tmp (the pipeline's Git
 * credentials: CodeCommit signed with the function's role, GitHub with KARMA_GIT_TOKEN_SECRET):
 *
 *   POST /request-change      `karma propose-change` on the tracked branch's tip (validation, diff, impact, a commit
 *                             on `karma/proposals/<id>`), then that branch pushed to the remote. No Terraform here:
 *                             `plan` is skipped; the deployed pipeline plans in CodeBuild.
 *   POST /changes/{id}/apply  the proposal merged into the tracked branch (fast-forward, or a replay when only other
 *                             files moved: lib/app/change.ts mergeProposal), the branch pushed (audit: apply-queued),
 *                             the proposal's branch deleted there, then the state machine started for the environment
 *                             at the merged commit (audit: apply-started): the change is `queued` with the ARN.
 *   GET /changes[/{id}]       open proposals (the remote's proposal branches) and, from the audit log, the changes
 *                             applied since: queued, applying, succeeded or failed as their execution says.
 *
 * Each step writes an audit entry (DynamoDB). The clone is per container and re-synced with the remote before every
 * request: the remote is the truth (two containers may serve requests at once; a push that lost the race is a 409).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConflictError, KarmaError, NotFoundError, UsageError } from '../../core/errors.ts';
import { buildGraph } from '../../core/graph.ts';
import { impact } from '../../core/order.ts';
import type { AuditEntry, AuditLog, GitRepository, PipelineExecutions } from '../../ports.ts';
import { isGitUrl } from '../../adapters/git/url.ts';
import { gitOnAuthFromEnv } from '../../adapters/git/auth.ts';
import { openRemoteClone } from '../../adapters/git/repository.ts';
import { loadConfig } from '../build.ts';
import { findProposal, listProposals, mergeProposal, proposeChange, PROPOSAL_BRANCH_PREFIX, type Proposal } from '../change.ts';
import { startRemotePipeline } from '../pipeline/remote.ts';
import type { ApplyRequest, ChangeRequest, Json, Workspace } from '../workspace.ts';
import { openAuditLog } from './audit.ts';
import { describeExecution, remoteOptions } from './ops.ts';
import { ApiSetupError, awsWorkspaceSettings, composeWorkspace, requireStateMachine, type AwsWorkspaceSettings, type ChangesPart } from './settings.ts';

/** What request-change says about the plan: Terraform never runs in the API's functions. */
export const SERVERLESS_PLAN = {
  status: 'skipped',
  reason: 'the serverless API runs no Terraform: the deployed pipeline plans the change in CodeBuild when it is applied (POST /changes/{id}/apply)',
} as const;

const DEFAULT_LIST = 50;
/** How many audit entries GET /changes reads to find the changes closed since (newest first). */
const AUDIT_SCAN = 200;

type ChangeStatus = 'proposed' | 'queued' | 'applying' | 'succeeded' | 'failed' | 'rejected';

/** An execution's status → the change's. */
function statusOfExecution(status: string): ChangeStatus {
  if (status === 'RUNNING' || status === 'PENDING_REDRIVE') return 'applying';
  if (status === 'SUCCEEDED') return 'succeeded';
  if (status === 'FAILED' || status === 'TIMED_OUT' || status === 'ABORTED') return 'failed';
  return 'queued';
}

export interface AwsChangesOptions {
  /** The executions port (tests); default Step Functions. */
  readonly executions?: PipelineExecutions;
  readonly now?: () => Date;
}

export function awsChanges(s: AwsWorkspaceSettings, audit: () => AuditLog, options: AwsChangesOptions = {}): ChangesPart & { close(): Promise<void> } {
  const now = options.now ?? (() => new Date());
  let log: AuditLog | undefined;
  const auditLog = (): AuditLog => (log ??= audit());
  const executions = options.executions ? { executions: options.executions } : {};

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

  const append = (entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry> => auditLog().append({ at: now().toISOString(), ...entry });

  const historyOf = async (id: string): Promise<AuditEntry[]> => (await auditLog().list({ limit: AUDIT_SCAN, change: id })).entries;

  /** A change as GET /changes shows it: an open proposal, or what the audit log says of a closed one. */
  const changeOf = async (id: string, proposal: Proposal | undefined, history: readonly AuditEntry[]): Promise<Json> => {
    const requested = history.find((e) => e.action === 'change.requested');
    const queued = history.find((e) => e.action === 'change.apply-queued');
    const started = history.find((e) => e.action === 'change.apply-started' && e.execution);
    let status: ChangeStatus = 'proposed';
    let reason: string | undefined;
    if (!proposal) {
      if (started?.execution) {
        try {
          status = statusOfExecution((await describeExecution(s, started.execution, options.executions)).status);
        } catch (error) {
          if (!(error instanceof KarmaError)) throw error;
          status = 'queued';
          reason = `the execution cannot be read now: ${error.message}`;
        }
      } else if (queued) {
        status = 'queued';
        reason = 'merged and pushed, but no execution was started for it: the git-push trigger runs the pipeline for the pushed commit';
      } else {
        status = 'rejected';
        reason = 'its proposal branch was deleted without an apply';
      }
    }
    const any = history[0];
    return {
      id,
      status,
      component: proposal?.component ?? any?.component ?? '',
      env: proposal?.env ?? any?.env ?? '',
      message: proposal?.message ?? requested?.result ?? '',
      base: proposal?.base ?? null,
      commit: started?.commit ?? queued?.commit ?? proposal?.commit ?? requested?.commit ?? null,
      createdAt: proposal?.createdAt ?? requested?.at ?? null,
      plan: null,
      history,
      ...(reason ? { reason } : {}),
    };
  };

  const notFound = (id: string, open: readonly Proposal[]): NotFoundError =>
    new NotFoundError(`no change "${id}"; open proposals: ${open.map((p) => p.id).join(', ') || 'none'}`, { kind: 'change', value: id, known: open.map((p) => p.id) });

  return {
    requestChange: (request: ChangeRequest, actor: string) =>
      withClone(async (repo, branch) => {
        const dir = join(s.workDir, 'requests');
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const file = join(dir, `${randomUUID()}.json`);
        writeFileSync(file, JSON.stringify(request.input), { mode: 0o600 });
        let proposed;
        try {
          proposed = await proposeChange({ repo, component: request.component, env: request.env, inputFile: file, ...(request.message ? { message: request.message } : {}), ...(request.dryRun ? { dryRun: true } : {}) });
        } catch (error) {
          // The inputs came in the body, not from a file: say so instead of naming the temporary file.
          if (error instanceof UsageError) throw new UsageError(error.message.split(`--input ${file}`).join('body.input').split(basename(file)).join('body.input'), { cause: error });
          throw error;
        } finally {
          rmSync(file, { force: true });
        }
        if (proposed.branch && proposed.id) {
          await repo.push(proposed.branch);
          await append({
            actor,
            action: 'change.requested',
            change: proposed.id,
            component: proposed.component,
            env: proposed.env,
            ...(proposed.commit ? { commit: proposed.commit } : {}),
            diff: proposed.diff,
            result: proposed.message,
          });
        }
        return { ...proposed, warnings: [...proposed.warnings, ...(proposed.branch ? [] : [`dry run: nothing committed or pushed (based on ${branch} at ${proposed.base.slice(0, 8)})`])], plan: SERVERLESS_PLAN };
      }),

    listChanges: ({ limit }) =>
      withClone(async (repo) => {
        const open = await listProposals(repo);
        const recent = (await auditLog().list({ limit: AUDIT_SCAN })).entries;
        const closed = [...new Set(recent.map((e) => e.change))].filter((id) => !open.some((p) => p.id === id));
        const changes: Json[] = [];
        for (const p of [...open].reverse()) changes.push(await changeOf(p.id, p, recent.filter((e) => e.change === p.id)));
        for (const id of closed) changes.push(await changeOf(id, undefined, await historyOf(id)));
        changes.sort((a, b) => String(b['createdAt'] ?? '').localeCompare(String(a['createdAt'] ?? '')));
        return { changes: changes.slice(0, limit ?? DEFAULT_LIST) };
      }),

    getChange: (id) =>
      withClone(async (repo) => {
        const proposal = await findProposal(repo, id);
        const history = await historyOf(id);
        if (!proposal && history.length === 0) throw notFound(id, await listProposals(repo));
        return changeOf(id, proposal, history);
      }),

    applyChange: (id: string, request: ApplyRequest, actor: string) =>
      withClone(async (repo, branch) => {
        const proposal = await findProposal(repo, id);
        if (!proposal) {
          const history = await historyOf(id);
          if (history.some((e) => e.action === 'change.apply-started' || e.action === 'change.apply-queued')) {
            throw new ConflictError(`change ${id} was merged already (GET /changes/${id} says how it went)`);
          }
          throw notFound(id, await listProposals(repo));
        }
        const stateMachineArn = requireStateMachine(s);
        const about = { actor, change: proposal.id, component: proposal.component, env: proposal.env };
        const head = (await repo.head()).commit;
        let commit: string;
        if (await repo.isAncestor(proposal.commit, head)) {
          // Merged (fast-forward) and pushed by an earlier call that failed after: only what is left to do.
          commit = head;
        } else {
          const merged = await mergeProposal(repo, proposal.id);
          await repo.push(merged.into);
          commit = merged.commit;
          // Recorded once pushed: whatever fails next, the change is in the branch the pipeline reads.
          await append({ ...about, action: 'change.apply-queued', commit, result: `merged into ${branch} (${merged.how}) at ${commit.slice(0, 8)} and pushed` });
        }
        await repo.push(proposal.branch, { delete: true });
        // The run: the proposal's component and what depends on it, unless the caller accepts everything pending.
        const config = await loadConfig(repo.sourceAt(commit));
        const reach = impact(buildGraph(config, new Map(), { builtAt: now().toISOString() }), proposal.env, proposal.component).waves.flat();
        const input = { env: proposal.env, mode: 'apply', trigger: 'manual', commit, ...(request.includePending ? {} : { components: reach }) };
        const started = await startRemotePipeline(input, { stateMachineArn, ...remoteOptions(s), ...executions });
        await append({
          ...about,
          action: 'change.apply-started',
          commit,
          execution: started.executionArn,
          result: `pipeline ${started.started ? 'started' : `already ${started.status?.toLowerCase() ?? 'started'}`} for ${proposal.env} at ${commit.slice(0, 8)}${request.includePending ? '' : `: ${reach.join(', ')}`}`,
        });
        const change = await changeOf(proposal.id, undefined, await historyOf(proposal.id));
        return { change: { ...change, status: 'queued', commit }, execution: started.executionArn };
      }),

    close: async () => undefined,
  };
}

/** The workspace of the changes function (lambdas/api-changes.ts): the Git remote, Step Functions, the audit log. */
export async function openAwsChangesWorkspace(env: NodeJS.ProcessEnv = process.env): Promise<Workspace> {
  const s = awsWorkspaceSettings(env);
  return composeWorkspace(`serverless: config ${s.config}`, { changes: awsChanges(s, () => openAuditLog(s)) });
}
