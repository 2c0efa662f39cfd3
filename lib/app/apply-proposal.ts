/**
 * `karma apply ID`, the rules (the CLI shows and asks; an API route or the service can call the same functions):
 *
 *   checkProposalApply  the refusals that come before anything changes: no open proposal, a merge that would
 *                       be refused, no saved plan or an expired one, a plan made for another commit or config.
 *                       Returns the saved plan to show and decide on;
 *   requireDestroyAllowed  then (once shown) a plan that destroys or replaces anything needs allowDestroy.
 *   applySavedProposal  after the decision: under the environment lock, apply exactly the saved plan to the
 *                       proposal's component (stale state or changed inputs refused), merge the proposal, and say
 *                       what the pipeline must run next: the proposal's reach, less what already needed an apply
 *                       before it (unless includePending).
 */
import { ConflictError, UsageError } from '../core/errors.ts';
import { deploymentKey, type Config, type RepoFile } from '../core/model.ts';
import { destructive } from '../core/plan.ts';
import { impact } from '../core/order.ts';
import type { GitRepository, LockHolder, LockInfo } from '../ports.ts';
import type { ProcessProbe } from './locks.ts';
import type { Backend } from './backend.ts';
import { buildFromConfig, loadConfigAndFiles } from './build.ts';
import { findProposal, listProposals, mergeProposal, type Merged, type Proposal } from './change.ts';
import { runComponent, type ComponentRunOptions, type ComponentRunResult } from './component.ts';
import { withEnvironmentLock } from './destroy.ts';
import { readSavedPlan, removeSavedPlan, sweepSavedPlans, type SavedPlan } from './saved-plans.ts';

export interface ProposalApplyCheck {
  readonly proposal: Proposal;
  /** The config and files at the proposal's commit. */
  readonly config: Config;
  readonly files: readonly RepoFile[];
  readonly storeDir: string;
  readonly saved: SavedPlan;
  /** The saved plan file. */
  readonly file: string;
}

/** The open proposal `id`, or a usage error listing the open ones. */
export async function requireProposal(repo: GitRepository, id: string): Promise<Proposal> {
  const proposal = await findProposal(repo, id);
  if (proposal) return proposal;
  const open = (await listProposals(repo)).map((pr) => pr.id);
  throw new UsageError(`no open proposal "${id}"; open proposals: ${open.join(', ') || 'none'} (karma proposals lists them)`);
}

const replan = (id: string): string => `re-plan with karma plan ${id}, review the plan, then run karma apply ${id} again`;

export async function checkProposalApply(
  repo: GitRepository,
  id: string,
  options: { readonly storeDirFor: (config: Config) => string },
): Promise<ProposalApplyCheck> {
  const proposal = await requireProposal(repo, id);
  // A merge that would be refused is said first: the fix (re-run propose-change) makes a new plan anyway.
  await mergeProposal(repo, proposal.id, { checkOnly: true });
  const { config, files } = await loadConfigAndFiles(repo.sourceAt(proposal.commit));
  const storeDir = options.storeDirFor(config);
  const read = readSavedPlan(storeDir, proposal.id);
  // The others: expired ones, and those of proposals closed without karma apply (a deleted branch), go.
  sweepSavedPlans(storeDir, new Set((await listProposals(repo)).map((pr) => pr.id)));
  if (read.kind === 'none') throw new UsageError(`proposal ${proposal.id} has no saved plan (made with --no-plan, without terraform, or its plan failed); make one with karma plan ${proposal.id}, review it, then apply`);
  if (read.kind === 'expired') throw new ConflictError(`the plan for ${proposal.id} expired at ${read.saved.expiresAt} (KARMA_PLAN_TTL, default 24h) and was deleted; ${replan(proposal.id)}`);
  const { saved, file } = read;
  const configHash = config.deployments.find((d) => d.env === proposal.env && d.component === proposal.component)?.configHash;
  if (saved.commit !== proposal.commit || configHash !== saved.configHash) {
    removeSavedPlan(storeDir, proposal.id);
    throw new ConflictError(`the plan for ${proposal.id} was made for another commit or config than the proposal's now; ${replan(proposal.id)}`);
  }
  return { proposal, config, files, storeDir, saved, file };
}

/** A plan that destroys or replaces anything needs allowDestroy; called once the plan has been shown. */
export function requireDestroyAllowed(check: ProposalApplyCheck, allowDestroy: boolean | undefined): void {
  const gone = destructive(check.saved.plan);
  if (gone.length > 0 && !allowDestroy) {
    throw new UsageError(`the plan for ${check.proposal.id} destroys or replaces ${gone.map((r) => `${r.address} (${r.action})`).join(', ')}; run again with --allow-destroy to accept that`);
  }
}

export type ProposalApplied =
  | { readonly kind: 'failed'; readonly result: ComponentRunResult }
  | {
      readonly kind: 'applied';
      readonly result: ComponentRunResult;
      readonly merged: Merged;
      /** In the proposal's reach but needing an apply before it: left alone unless includePending. */
      readonly left: readonly string[];
      /** What the pipeline runs next (the dependents: it re-plans after each wave). */
      readonly pipelineInput: Record<string, unknown>;
    };

export async function applySavedProposal(
  repo: GitRepository,
  check: ProposalApplyCheck,
  backend: Backend,
  options: Omit<ComponentRunOptions, 'env' | 'component' | 'mode' | 'files' | 'commit' | 'savedPlan'> & {
    readonly holder: LockHolder;
    readonly includePending?: boolean;
    /** Takes over the environment lock of a dead process on this host (a killed apply or karma serve). */
    readonly probe?: ProcessProbe;
    readonly onTookOver?: (lock: LockInfo) => void;
  },
): Promise<ProposalApplied> {
  const { probe, onTookOver, ...run } = options;
  const { proposal, config, files, saved, file, storeDir } = check;
  const { build } = await buildFromConfig(config, backend.runtime, {});
  const reach = impact(build, proposal.env, proposal.component).waves.flat();
  const left = reach.filter((c) => c !== proposal.component && !['in-sync', 'blocked'].includes(build.statuses.get(deploymentKey(proposal.env, c))?.status ?? 'in-sync'));
  let result: ComponentRunResult;
  try {
    // The environment's pipeline lock, as karma destroy takes it: never racing an execution (released before the
    // pipeline run that follows takes it again).
    result = await withEnvironmentLock(backend.locks, proposal.env, run.holder, () =>
      runComponent(config, backend.runtime, {
        ...run,
        env: proposal.env,
        component: proposal.component,
        mode: 'apply',
        files,
        commit: proposal.commit,
        savedPlan: { file, inputsHash: saved.inputsHash, inputsSalt: saved.inputsSalt },
      }),
      { ...(probe ? { probe } : {}), ...(onTookOver ? { onTookOver } : {}) },
    );
  } finally {
    removeSavedPlan(storeDir, proposal.id);
  }
  if (result.refused) throw new ConflictError(`${result.error}; ${replan(proposal.id)}`);
  if (result.outcome === 'failed') return { kind: 'failed', result };
  const merged = await mergeProposal(repo, proposal.id);
  const components = reach.filter((c) => !left.includes(c));
  const pipelineInput = { env: proposal.env, mode: 'apply', trigger: 'manual', commit: merged.commit, ...(run.includePending ? {} : { components }) };
  return { kind: 'applied', result, merged, left, pipelineInput };
}
