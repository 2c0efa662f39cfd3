/**
 * The change workflow (docs/workflow.md):
 *   karma propose-change COMPONENT ENV --input FILE   validate, show diff + impact, record on karma/proposals/<id>
 *   karma proposals                                   the open proposals
 *   karma apply [PROPOSAL] [--env ENV] [--remote]     merge the proposal (fast-forward or replay), run the pipeline
 *                                                     (locally, or start the deployed state machine)
 *
 * The steps themselves are lib/app/changes.ts (the API and the service call the same functions); here the
 * flags are parsed, the plan shown, the decision asked for, and the results printed.
 *
 * Exit codes: 0 done · 1 the pipeline failed (the merge, if any, stays) · 2 invalid input, or a refused merge
 * (ConflictError: nothing changed).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import { formatInputChanges } from '../../core/inputs-diff.ts';
import { destructive, formatPlannedResources, type PlanSummary } from '../../core/plan.ts';
import { listProposals, mergeProposal, type Merged } from '../../app/change.ts';
import { requireProposal } from '../../app/apply-proposal.ts';
import { applyChange, checkApply, planChange, planJson, requestChange, requireDestroyAccepted, type ChangeContext, type PlanJson, type RequestedChange } from '../../app/changes.ts';
import { loadConfigAndFiles } from '../../app/build.ts';
import { readSavedPlan } from '../../app/saved-plans.ts';
import { storeDirOf, terraformPlaces } from '../../app/places.ts';
import { actorOf } from '../../app/audit.ts';
import { isGitUrl, openGitRepository } from '../../app/open.ts';
import type { GitRepository } from '../../ports.ts';
import { placesOf } from './component.ts';
import { progressFor, withBackend } from '../context.ts';
import { lockTimeoutSeconds, pipelineTerminal, reportPipeline, runPipelineAndReport } from './pipeline.ts';
import { configLocation, type CommonOptions } from '../context.ts';
import { formatWaves, plural, table } from '../format.ts';
import { palette, type IO } from '../io.ts';

/** The config repo as a local directory; the workflow reads and writes its Git repository. */
function repoDir(options: CommonOptions, command: string): string {
  const location = configLocation(options);
  if (isGitUrl(location)) throw new UsageError(`karma ${command} needs a local clone of the config repo (--config DIR), not a URL`);
  if (options.ref) throw new UsageError(`karma ${command} works on the current branch of the config repo; --ref is not supported here`);
  return resolve(location);
}

/** How a command that plans a proposal finds Terraform and shows its plan. */
interface PlanFlags extends CommonOptions {
  /** false with --no-plan: record the proposal without a plan. */
  readonly plan?: boolean;
  readonly terraform?: string;
  readonly workDir?: string;
  /** Show Terraform's whole plan text (redacted). */
  readonly verbose?: boolean;
}


/**
 * The change use cases' context from the command's flags: the backend opened per step, as each command always
 * has (a missing local store is created). The audit log (ChangeContext.audit) is the Backend's own once Backend
 * carries one (`audit: (backend) => backend.audit`); until then the CLI records no audit entries.
 */
function changeContext(repo: GitRepository, options: CommonOptions & { readonly terraform?: string; readonly workDir?: string }, io: IO): ChangeContext {
  const flags = { ...options, config: repo.dir };
  return {
    repo,
    withBackend: (config, work) => withBackend(config, flags, { create: true, io }, work),
    places: placesOf(flags),
    ...(options.backend ? { backendType: options.backend } : {}),
    ...(options.terraform ? { terraform: options.terraform } : {}),
    actor: actorOf(),
    audit: (backend) => backend.audit,
    progress: progressFor(io, options),
  };
}

export interface ProposeChangeOptions extends PlanFlags {
  readonly component: string;
  readonly env: string;
  readonly input: string;
  readonly message?: string;
  readonly dryRun?: boolean;
}

/** A saved plan as the user sees it before deciding. */
export interface PlanView {
  readonly component: string;
  readonly env: string;
  readonly commit: string;
  readonly plannedAt: string;
  readonly expiresAt: string;
  readonly plan: PlanSummary;
  /** Terraform's plan text, redacted (-v). */
  readonly text?: string;
}

/** The saved plan as the user sees it before deciding: the summary, each resource, destroys and replaces marked. */
export function showPlan(io: IO, saved: PlanView, verbose: boolean | undefined): void {
  const p = palette(io);
  io.out(p.bold(`plan for ${saved.component} in ${saved.env} (commit ${saved.commit.slice(0, 8)}, planned ${saved.plannedAt}, expires ${saved.expiresAt}): ${saved.plan.line}`));
  for (const line of formatPlannedResources(saved.plan)) {
    const paint = /\((delete|replace)/.test(line) ? (t: string) => p.bold(p.red(t)) : line.trimStart().startsWith('+') ? p.green : p.yellow;
    io.out(`  ${paint(line)}`);
  }
  const gone = destructive(saved.plan);
  if (gone.length > 0) io.out(p.bold(p.red(`  ! this plan destroys or replaces ${plural(gone.length, 'resource')}: ${gone.map((r) => r.address).join(', ')}`)));
  if (verbose && saved.text) for (const line of saved.text.split('\n')) io.out(`    ${line}`);
}

/** A plan's outcome: the plan (`text` for -v), a note when none was made, or the failure with its log. */
function showPlanOutcome(io: IO, plan: PlanJson, of: { readonly env: string; readonly component: string }, text: string | undefined, verbose: boolean | undefined): void {
  if (plan.status === 'planned') showPlan(io, { ...of, commit: plan.commit, plannedAt: plan.plannedAt, expiresAt: plan.expiresAt, plan, ...(text !== undefined ? { text } : {}) }, verbose);
  else if (plan.status === 'skipped') io.err(`karma: note: ${plan.reason}`);
  else io.err(`karma: terraform plan failed: ${plan.error} (log: ${plan.log})`);
}

export async function proposeChangeCommand(options: ProposeChangeOptions, io: IO): Promise<number> {
  const repo = await openGitRepository(repoDir(options, 'propose-change'));
  const ctx = changeContext(repo, options, io);
  const proposed = await requestChange(ctx, {
    component: options.component,
    env: options.env,
    inputFile: options.input,
    ...(options.message !== undefined ? { message: options.message } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.plan === false ? { plan: false } : {}),
  });
  const code = proposed.plan?.status === 'failed' ? 1 : 0;
  if (options.json) {
    io.out(JSON.stringify(proposed));
    return code;
  }
  // -v shows Terraform's plan text: it is kept with the saved plan, not in the result.
  let text: string | undefined;
  if (proposed.id && options.verbose && proposed.plan?.status === 'planned') {
    const { config } = await loadConfigAndFiles(repo.sourceAt(proposed.commit!));
    const read = readSavedPlan(storeDirOf(config, ctx.places), proposed.id);
    if (read.kind === 'ok') text = read.saved.text;
  }
  printProposed(io, proposed, { text, verbose: options.verbose, karma: 'karma' });
  return code;
}

/**
 * `karma propose-change`'s text (also for POST /request-change's answer, with --api): the diff, the impact, the
 * plan, and how to apply it (`karma` is the command line that reaches the same place: `karma --api URL`).
 */
export function printProposed(io: IO, proposed: RequestedChange, how: { readonly text?: string | undefined; readonly verbose?: boolean | undefined; readonly karma: string }): void {
  const p = palette(io);
  for (const w of proposed.warnings) io.err(`karma: warning: ${w}`);
  const what = proposed.newDeployment ? 'new deployment' : 'inputs';
  io.out(p.bold(`${proposed.component} in ${proposed.env}: ${what} (${proposed.file}, against ${proposed.base.slice(0, 8)})`));
  for (const line of formatInputChanges(proposed.diff)) {
    const paint = line.startsWith('+') ? p.green : line.startsWith('-') ? p.red : p.yellow;
    io.out(`  ${paint(line)}`);
  }
  io.out(p.bold(`impact: what karma apply will apply in ${proposed.env}`));
  io.out(formatWaves(proposed.impact.waves));
  for (const other of proposed.impact.otherEnvironments) {
    io.out(`${other.env} (through cross-environment references; applied by ${other.env}'s own pipeline run):`);
    io.out(formatWaves(other.waves));
  }
  if (proposed.id) {
    if (proposed.plan) showPlanOutcome(io, proposed.plan, proposed, how.text, how.verbose);
    else io.out('no plan made (--no-plan); karma plan ' + proposed.id + ' makes one');
    io.out(`proposal ${p.cyan(proposed.id)} recorded on branch ${proposed.branch} (commit ${proposed.commit!.slice(0, 8)})`);
    io.out(`apply it with: ${how.karma} apply ${proposed.id}`);
  } else {
    io.out('dry run: nothing recorded, no plan made');
  }
}

export interface PlanProposalOptions extends PlanFlags {
  readonly proposal: string;
}

/** `karma plan ID`: (re-)plan an open proposal at its commit and save the plan, replacing the earlier one. */
export async function planProposalCommand(options: PlanProposalOptions, io: IO): Promise<number> {
  const repo = await openGitRepository(repoDir(options, 'plan'));
  const proposal = await requireProposal(repo, options.proposal);
  const planned = await planChange(changeContext(repo, options, io), proposal);
  if (planned.status === 'skipped') throw new UsageError(planned.reason.replace(/; once it is installed.*$/, ''));
  const plan = planJson(planned)!;
  if (options.json) io.out(JSON.stringify({ proposal: proposal.id, plan }));
  else {
    showPlanOutcome(io, plan, proposal, planned.status === 'planned' ? planned.saved.text : undefined, options.verbose);
    if (planned.status === 'planned') io.out(`apply it with: karma apply ${proposal.id}`);
  }
  return planned.status === 'failed' ? 1 : 0;
}

export async function proposalsCommand(options: CommonOptions, io: IO): Promise<number> {
  const repo = await openGitRepository(repoDir(options, 'proposals'));
  const head = await repo.head();
  const proposals = await listProposals(repo);
  if (options.json) {
    io.out(JSON.stringify({ head: head.commit, proposals: proposals.map((pr) => ({ ...pr, baseIsHead: pr.base === head.commit })) }));
    return 0;
  }
  if (proposals.length === 0) {
    io.out('no open proposals');
    return 0;
  }
  const rows = proposals.map((pr) => [pr.id, pr.component, pr.env, `${pr.base.slice(0, 8)}${pr.base === head.commit ? '' : ' (HEAD moved)'}`, pr.createdAt, pr.message]);
  io.out(table(['ID', 'COMPONENT', 'ENV', 'BASE', 'CREATED', 'MESSAGE'], rows));
  return 0;
}

export interface ApplyOptions extends CommonOptions {
  readonly proposal?: string;
  /** The decision, given in advance (CI): apply the saved plan without asking. */
  readonly yes?: boolean;
  /** Accept a plan that destroys or replaces resources. */
  readonly allowDestroy?: boolean;
  /** Also apply everything else pending in the proposal's environment (default: only the proposal's reach). */
  readonly includePending?: boolean;
  readonly verbose?: boolean;
  readonly workDir?: string;
  readonly env?: string;
  readonly terraform?: string;
  readonly maxParallel?: number;
  readonly lockTimeout?: string;
  /** Start the deployed state machine instead of running the pipeline locally. */
  readonly remote?: boolean;
  readonly stateMachine?: string;
  readonly region?: string;
}

export async function applyCommand(options: ApplyOptions, io: IO): Promise<number> {
  const dir = repoDir(options, 'apply');
  const repo = await openGitRepository(dir);
  if (!options.proposal && !options.env) {
    // Bare `karma apply`: the one open proposal, else the list to choose from.
    const open = await listProposals(repo);
    if (open.length === 0) throw new UsageError('no open proposals to apply (karma propose-change records one); to apply an environment as committed: karma apply --env ENV');
    if (open.length > 1) {
      if (!options.json) io.out(table(['ID', 'COMPONENT', 'ENV', 'CREATED', 'MESSAGE'], open.map((pr) => [pr.id, pr.component, pr.env, pr.createdAt, pr.message])));
      throw new UsageError(`${open.length} open proposals (${open.map((pr) => pr.id).join(', ')}); name the one to apply: karma apply ID`);
    }
    return applyCommand({ ...options, proposal: open[0]!.id }, io);
  }
  if (options.maxParallel !== undefined && (!Number.isInteger(options.maxParallel) || options.maxParallel < 1)) {
    throw new UsageError(`--max-parallel must be a positive integer, got ${options.maxParallel}`);
  }
  lockTimeoutSeconds(options.lockTimeout); // a usage error before anything is merged
  if (options.remote) {
    // Checked before anything is merged: a usage error must leave the repository as it was.
    const { stateMachineArn } = await import('../../app/pipeline/remote.ts');
    stateMachineArn({ ...(options.stateMachine ? { stateMachineArn: options.stateMachine } : {}) });
    if (!existsSync(join(dir, '.git'))) throw new UsageError(`--remote needs the config repo to be a Git clone of the repository the deployed pipeline reads; ${dir} is not a Git repository`);
  }
  if (options.proposal && !options.remote) return applyProposal(repo, options.proposal, options, io);
  let merged: Merged | undefined;
  let env = options.env;
  let commit: string | undefined;
  if (options.proposal) {
    // --remote: the deployed pipeline plans and applies in CodeBuild. Still nothing starts without a decision; the
    // proposal's saved plan (if any) is shown as what the deployed run is expected to do.
    const check = await mergeProposal(repo, options.proposal, { checkOnly: true });
    if (!options.json) {
      const { config } = await loadConfigAndFiles(repo.sourceAt(check.proposal.commit));
      const read = readSavedPlan(storeDirOf(config, placesOf({ ...options, config: dir })), check.proposal.id);
      if (read.kind === 'ok') showPlan(io, read.saved, options.verbose);
      else io.out(`no saved plan for ${check.proposal.id} here (karma plan ${check.proposal.id} makes one); the deployed pipeline plans it in CodeBuild`);
    }
    if (!(await decide(io, options, `${check.proposal.id} (merge, then start the deployed pipeline for ${check.proposal.env})`))) {
      io.err('karma: not started (only "yes" is accepted); nothing merged');
      return 1;
    }
    merged = await mergeProposal(repo, options.proposal);
    if (env && env !== merged.proposal.env) {
      if (!options.json) io.err(`karma: warning: --env ${env} ignored: proposal ${merged.proposal.id} changes ${merged.proposal.env}`);
    }
    env = merged.proposal.env;
    commit = merged.commit;
    if (!options.json) {
      io.out(`merged ${merged.proposal.id} into ${merged.into} (${merged.how}): ${merged.into} is now at ${merged.commit.slice(0, 8)}; checked out ${merged.files.join(', ')}`);
    }
  } else if (existsSync(join(dir, '.git'))) {
    // What is committed is what gets applied (and recorded in each component's state).
    commit = (await repo.head()).commit;
  }
  if (options.remote) return applyRemote(repo, env!, commit!, merged, options, io);
  return runPipelineAndReport(dir, { env, mode: 'apply', trigger: 'manual', ...(commit ? { commit } : {}) }, options, io, { merged: merged ?? null });
}

/**
 * `--remote`: start the deployed state machine for the env at the commit. The deployed pipeline reads the config
 * from the Git remote, so the commit must be published there (on a remote-tracking branch, as far as this clone
 * knows): otherwise nothing is started (exit 1; a merge already made stays) and the message says to push.
 */
async function applyRemote(repo: GitRepository, env: string, commit: string, merged: Merged | undefined, options: ApplyOptions, io: IO): Promise<number> {
  const { startRemotePipeline } = await import('../../app/pipeline/remote.ts');
  const where = await repo.publishedOn(commit);
  if (!where) {
    const branch = merged?.into ?? (await repo.head()).branch ?? 'HEAD';
    const reason = `not started: ${commit.slice(0, 8)} is on no remote branch yet, and the deployed pipeline reads the config from the Git remote; push ${branch} (its git-push trigger starts the pipeline), or push and re-run karma apply --env ${env} --remote`;
    if (options.json) io.out(JSON.stringify({ merged: merged ?? null, remote: { started: false, reason } }));
    else io.err(`karma: ${reason}`);
    return 1;
  }
  const started = await startRemotePipeline(
    { env, mode: 'apply', trigger: 'manual', commit, ...(options.lockTimeout ? { lockTimeout: lockTimeoutSeconds(options.lockTimeout) } : {}) },
    { ...(options.stateMachine ? { stateMachineArn: options.stateMachine } : {}), ...(options.region ? { region: options.region } : {}) },
  );
  if (options.json) {
    io.out(JSON.stringify({ merged: merged ?? null, remote: { ...started, publishedOn: where } }));
    return 0;
  }
  if (started.started) io.out(`started ${started.executionArn} (${env} at ${commit.slice(0, 8)}, published on ${where})\nfollow it: karma pipeline status ${started.executionArn} --follow`);
  else io.out(`already ${started.status?.toLowerCase() ?? 'started'}: ${started.executionArn} (same input, same execution)`);
  return 0;
}

/** Refuses (exit 2) before anything changes when nobody can be asked and --yes was not given. */
export async function decide(io: IO, options: { readonly yes?: boolean | undefined }, what: string): Promise<boolean> {
  if (options.yes) return true;
  if (!io.interactive || !io.ask) throw new UsageError(`refusing to apply ${what} without a decision: there is no terminal to ask on; review the plan above, then run again with --yes`);
  return (await io.ask(`apply ${what}? Only "yes" is accepted: `)).trim() === 'yes';
}

/**
 * `karma apply ID` (locally): the checks and the apply are lib/app/changes.ts (applyChange); here the plan is
 * shown, the decision taken, and the outcome printed. Every refusal comes before anything changes.
 */
async function applyProposal(repo: GitRepository, id: string, options: ApplyOptions, io: IO): Promise<number> {
  const p = palette(io);
  const ctx = changeContext(repo, options, io);
  const check = await checkApply(ctx, id);
  const { proposal, config } = check;
  if (options.env && options.env !== proposal.env && !options.json) io.err(`karma: warning: --env ${options.env} ignored: proposal ${proposal.id} changes ${proposal.env}`);
  if (!options.json) showPlan(io, check.saved, options.verbose);
  await requireDestroyAccepted(ctx, check, options.allowDestroy);
  if (!(await decide(io, options, `the plan for ${proposal.component} in ${proposal.env} (${proposal.id})`))) {
    io.err('karma: not applied (only "yes" is accepted); the plan stays saved until it expires');
    return 1;
  }
  const lockTimeout = lockTimeoutSeconds(options.lockTimeout);
  // Ctrl-C is the pipeline's to handle only once it runs; before, Terraform's own cleanup handles it.
  const terminal = pipelineTerminal(io, options);
  const applied = await applyChange(ctx, proposal.id, {
    checked: check,
    ...(options.allowDestroy ? { allowDestroy: true } : {}),
    ...(options.includePending ? { includePending: true } : {}),
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
    ...(lockTimeout !== undefined ? { lockTimeout } : {}),
    ...(options.verbose && !options.json ? { terraformLine: (l: string) => io.err(`  ${l}`) } : {}),
    pipelineProgress: terminal.progress,
    waiting: terminal.waiting,
    signal: terminal.signal,
    onApplied: ({ component, merged, left }) => {
      if (!options.json) {
        io.out(`applied the saved plan: ${proposal.env}/${proposal.component} ${component.outcome}${component.changedOutputs?.length ? ` (changed outputs: ${component.changedOutputs.join(', ')})` : ''}`);
        io.out(`merged ${merged.proposal.id} into ${merged.into} (${merged.how}): ${merged.into} is now at ${merged.commit.slice(0, 8)}; checked out ${merged.files.join(', ')}`);
        if (left.length > 0 && !options.includePending) io.out(p.dim(`left alone (they needed an apply before this change; --include-pending applies them): ${left.join(', ')}`));
      }
      terminal.arm();
    },
  }).finally(() => terminal.disarm());
  if (!applied.pipeline) {
    const log = join(terraformPlaces(config, ctx.places).workRoot, proposal.env, proposal.component, 'apply.log');
    if (options.json) io.out(JSON.stringify(applied));
    else io.err(`karma: applying the saved plan failed: ${applied.component.error} (log: ${log}); proposal ${proposal.id} stays open`);
    return 1;
  }
  return reportPipeline(io, options, applied.pipeline, terminal.signalled(), applied);
}
