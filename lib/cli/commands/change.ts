/**
 * The change workflow (docs/workflow.md):
 *   karma propose-change COMPONENT ENV --input FILE   validate, show diff + impact, record on karma/proposals/<id>
 *   karma proposals                                   the open proposals
 *   karma apply [PROPOSAL] [--env ENV] [--remote]     merge the proposal (fast-forward or replay), run the pipeline
 *                                                     (locally, or start the deployed state machine)
 *
 * Exit codes: 0 done · 1 the pipeline failed (the merge, if any, stays) · 2 invalid input, or a refused merge
 * (ConflictError: nothing changed).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import { formatInputChanges } from '../../core/inputs-diff.ts';
import { listProposals, mergeProposal, proposeChange, type Merged } from '../../app/change.ts';
import { lockTimeoutSeconds, runPipelineAndReport } from './pipeline.ts';
import { publishedOn, readHead } from '../../adapters/git/repo.ts';
import { isGitUrl } from '../../adapters/git/git-source.ts';
import { configLocation, type CommonOptions } from '../context.ts';
import { formatWaves, table } from '../format.ts';
import { palette, type IO } from '../io.ts';

/** The config repo as a local directory; the workflow reads and writes its Git repository. */
function repoDir(options: CommonOptions, command: string): string {
  const location = configLocation(options);
  if (isGitUrl(location)) throw new UsageError(`karma ${command} needs a local clone of the config repo (--config DIR), not a URL`);
  if (options.ref) throw new UsageError(`karma ${command} works on the current branch of the config repo; --ref is not supported here`);
  return resolve(location);
}

export interface ProposeChangeOptions extends CommonOptions {
  readonly component: string;
  readonly env: string;
  readonly input: string;
  readonly message?: string;
  readonly dryRun?: boolean;
}

export async function proposeChangeCommand(options: ProposeChangeOptions, io: IO): Promise<number> {
  const dir = repoDir(options, 'propose-change');
  const proposed = await proposeChange({
    dir,
    component: options.component,
    env: options.env,
    inputFile: options.input,
    ...(options.message !== undefined ? { message: options.message } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
  });
  if (options.json) {
    io.out(JSON.stringify(proposed));
    return 0;
  }
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
    io.out(`proposal ${p.cyan(proposed.id)} recorded on branch ${proposed.branch} (commit ${proposed.commit!.slice(0, 8)})`);
    io.out(`apply it with: karma apply ${proposed.id}`);
  } else {
    io.out('dry run: nothing recorded');
  }
  return 0;
}

export async function proposalsCommand(options: CommonOptions, io: IO): Promise<number> {
  const dir = repoDir(options, 'proposals');
  const head = await readHead(dir);
  const proposals = await listProposals(dir);
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
  if (!options.proposal && !options.env) throw new UsageError('karma apply needs a PROPOSAL (see karma proposals) or --env ENV');
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
  let merged: Merged | undefined;
  let env = options.env;
  let commit: string | undefined;
  if (options.proposal) {
    merged = await mergeProposal(dir, options.proposal);
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
    commit = (await readHead(dir)).commit;
  }
  if (options.remote) return applyRemote(dir, env!, commit!, merged, options, io);
  return runPipelineAndReport(dir, { env, mode: 'apply', trigger: 'manual', ...(commit ? { commit } : {}) }, options, io, { merged: merged ?? null });
}

/**
 * `--remote`: start the deployed state machine for the env at the commit. The deployed pipeline reads the config
 * from the Git remote, so the commit must be published there (on a remote-tracking branch, as far as this clone
 * knows): otherwise nothing is started (exit 1; a merge already made stays) and the message says to push.
 */
async function applyRemote(dir: string, env: string, commit: string, merged: Merged | undefined, options: ApplyOptions, io: IO): Promise<number> {
  const { startRemotePipeline } = await import('../../app/pipeline/remote.ts');
  const where = await publishedOn(dir, commit);
  if (!where) {
    const branch = merged?.into ?? (await readHead(dir)).branch ?? 'HEAD';
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
