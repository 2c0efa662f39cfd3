/**
 * The change workflow (docs/workflow.md): propose a component's new inputs for one environment as a commit on
 * a branch `karma/proposals/<id>` of the config repo, list the open proposals, and merge one into the current
 * branch (fast-forward, or a replay when only other files changed since).
 *
 * Everything is checked before anything is written: an invalid proposal leaves no branch and no reachable
 * object; a refused merge changes nothing.
 */
import { basename } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import { parseConfig, requireEnvironment } from '../core/config.ts';
import { ConfigError, ConflictError, UsageError, formatProblem, unknownComponent, type Problem } from '../core/errors.ts';
import { buildGraph } from '../core/graph.ts';
import { canonicalJson } from '../core/hash.ts';
import { diffInputs, type InputChange } from '../core/inputs-diff.ts';
import type { Config, RepoFile } from '../core/model.ts';
import { impact, type Impact } from '../core/order.ts';
import type { GitRepository } from '../ports.ts';
import { readUserDocument } from '../adapters/fs/user-file.ts';

export const PROPOSAL_BRANCH_PREFIX = 'karma/proposals/';
const ENV_FILE = (env: string, component: string): RegExp => new RegExp(`^environments/${env}/${component}\\.(json|ya?ml)$`);

/** The component's full new inputs: a file the user names (the CLI), or an object already parsed (the API). */
export type ProposedInputs =
  | {
      /** Path of the JSON or YAML file with the component's full new inputs; messages name it (`--input PATH`). */
      readonly inputFile: string;
      readonly inputs?: undefined;
    }
  | {
      readonly inputs: Record<string, unknown>;
      /** What messages call the inputs: the field they came in (default `input`, the request body's field). */
      readonly label?: string;
      readonly inputFile?: undefined;
    };

export type ProposeRequest = ProposedInputs & {
  /** The config repo: a local Git clone. */
  readonly repo: GitRepository;
  readonly component: string;
  readonly env: string;
  readonly message?: string;
  /** Validate, diff and compute the impact, but record nothing. */
  readonly dryRun?: boolean;
};

export interface Proposed {
  /** Undefined on a dry run. */
  readonly id?: string;
  readonly branch?: string;
  readonly commit?: string;
  readonly base: string;
  readonly component: string;
  readonly env: string;
  /** The env file written (its existing format kept; a new deployment gets .json). */
  readonly file: string;
  /** True when the component was not deployed in the env before. */
  readonly newDeployment: boolean;
  readonly message: string;
  readonly diff: readonly InputChange[];
  readonly impact: Impact;
  readonly warnings: readonly string[];
}

/** Loads the repo's files at a commit, and the config they make. */
async function configAt(repo: GitRepository, commit: string): Promise<{ files: RepoFile[]; problems: Problem[]; config: Config }> {
  const { files, problems } = await repo.sourceAt(commit).load();
  return { files, problems, config: parseConfig(files, { source: `${repo.dir}@${commit.slice(0, 8)}`, commit }, problems) };
}

/** A Terraform variable name: what each top-level input key becomes. */
const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * The inputs as given → a plain object of input names to values, or a one-line UsageError starting with
 * `where` (`--input PATH` for a file, `input` for an API body). `lineOf`: the line of a top-level key, for a file.
 */
function requireInputsObject(data: unknown, where: string, lineOf?: (key: string) => number): Record<string, unknown> {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const got = data === null || data === undefined ? 'nothing' : Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    throw new UsageError(`${where}: the inputs must be an object of input names to values (the component's full inputs), got ${got}`);
  }
  // Each top-level key becomes a Terraform variable: a key that cannot be one means this is not an inputs file
  // (a YAML reading of /etc/shadow has keys like `root:...:::`). Refused without quoting the key: it may be a secret.
  const bad = Object.keys(data).filter((k) => !INPUT_NAME.test(k));
  if (bad.length > 0) {
    const count = bad.length === 1 ? '1 top-level key is' : `${bad.length} top-level keys are`;
    throw new UsageError(
      `${where}${lineOf ? `:${lineOf(bad[0]!)}` : ''}: not the component's inputs: ${count} not a valid input name (a Terraform variable name: a letter or _, then letters, digits, _ or -); the content is not shown`,
    );
  }
  return data as Record<string, unknown>;
}

/**
 * The user's input file → a plain object, or a one-line error (exit 2). Read with readUserDocument: a regular
 * file of at most 1 MiB, inside the config repo `dir` or named outside it explicitly; nothing of its content is
 * quoted when it is refused.
 */
export function readInputFile(path: string, dir?: string): Record<string, unknown> {
  const doc = readUserDocument(path, { label: '--input', expected: "a JSON or YAML file with the component's full inputs", ...(dir ? { repoRoot: dir } : {}) });
  return requireInputsObject(doc.data, `--input ${path}`, (key) => doc.lineOf([key]));
}

/** The request's inputs, checked, and how messages name them: `--input PATH` (and the file's name), or the label. */
function inputsOf(request: ProposedInputs, dir: string): { inputs: Record<string, unknown>; where: string; name: string } {
  if (request.inputFile !== undefined) {
    return { inputs: readInputFile(request.inputFile, dir), where: `--input ${request.inputFile}`, name: basename(request.inputFile) };
  }
  const label = request.label ?? 'input';
  return { inputs: requireInputsObject(request.inputs, label), where: label, name: label };
}

function serialise(path: string, inputs: Record<string, unknown>): Uint8Array {
  const text = path.endsWith('.json') ? `${JSON.stringify(inputs, null, 2)}\n` : yamlStringify(inputs);
  return new TextEncoder().encode(text);
}

const TRAILERS = { component: 'Karma-Component', env: 'Karma-Env', file: 'Karma-File' } as const;

function proposalMessage(summary: string, component: string, env: string, file: string): string {
  return `${summary}\n\n${TRAILERS.component}: ${component}\n${TRAILERS.env}: ${env}\n${TRAILERS.file}: ${file}\n`;
}

function trailer(message: string, key: string): string | undefined {
  return new RegExp(`^${key}: (.+)$`, 'm').exec(message)?.[1]?.trim();
}

export async function proposeChange(request: ProposeRequest): Promise<Proposed> {
  const { repo, component, env } = request;
  const dir = repo.dir;
  const head = await repo.head();
  const { files, problems, config } = await configAt(repo, head.commit);
  requireEnvironment(config, env);
  const def = config.components.get(component);
  if (!def) throw unknownComponent(component, config.components.keys());
  const { inputs, where, name } = inputsOf(request, dir);

  const existing = files.find((f) => ENV_FILE(env, component).test(f.path));
  const file = existing?.path ?? `environments/${env}/${component}.json`;
  const current = config.deployments.find((d) => d.env === env && d.component === component);
  const diff = diffInputs(current?.inputs, inputs);
  if (current && diff.length === 0) {
    throw new UsageError(`no change: ${name} holds the same inputs as ${file} at ${head.commit.slice(0, 8)}; nothing to propose`);
  }
  const bytes = serialise(file, inputs);

  // The whole repo with the change, in memory: references, cycles and schemas, reported against the env file.
  const proposedFiles = [...files.filter((f) => f.path !== file), { path: file, bytes }].sort((a, b) => (a.path < b.path ? -1 : 1));
  const proposedConfig = parseConfig(proposedFiles, { source: `${dir}@${head.commit.slice(0, 8)} with ${file} as proposed` }, problems);
  const roundTrip = proposedConfig.deployments.find((d) => d.env === env && d.component === component);
  if (!roundTrip || canonicalJson(roundTrip.inputs) !== canonicalJson(inputs)) {
    throw new UsageError(`${where}: these inputs do not survive being written as ${file}; write them as plain JSON values`);
  }
  const im = impact(buildGraph(proposedConfig, new Map(), { builtAt: new Date(0).toISOString() }), env, component);

  const warnings: string[] = [];
  if (!(await repo.isClean(file))) {
    warnings.push(`${file} has uncommitted changes in the working tree; the proposal is based on HEAD (${head.commit.slice(0, 8)}) and ignores them, and karma apply will refuse until they are committed or discarded`);
  }
  const summary = (request.message?.trim() || `change ${component} in ${env}`).split('\n')[0]!;
  const base = { base: head.commit, component, env, file, newDeployment: !current, message: summary, diff, impact: im, warnings };
  if (request.dryRun) return base;

  const author = await repo.author();
  const commit = await repo.commitOnto(head.commit, { [file]: bytes }, proposalMessage(summary, component, env, file), author);
  // p- and the commit's first 8 hex digits: short and stable; longer in the rare case of a clash.
  for (let length = 8; length <= 40; length += 2) {
    const id = `p-${commit.slice(0, length)}`;
    const branch = `${PROPOSAL_BRANCH_PREFIX}${id}`;
    const taken = await repo.resolveBranch(branch);
    if (taken === commit) return { id, branch, commit, ...base };
    if (taken === undefined) {
      await repo.createBranch(branch, commit);
      return { id, branch, commit, ...base };
    }
  }
  throw new ConflictError(`cannot name the proposal for commit ${commit}: every id is taken`);
}

export interface Proposal {
  readonly id: string;
  readonly branch: string;
  readonly commit: string;
  readonly base: string;
  readonly component: string;
  readonly env: string;
  readonly file: string;
  readonly message: string;
  readonly createdAt: string;
}

/** A proposal id: `p-` and 8 to 40 hex digits of its commit. */
const PROPOSAL_ID = /^p-[0-9a-f]{8,40}$/;

/** The id in `p-…` or `karma/proposals/p-…`; undefined when it cannot be a proposal's (nothing to look up in Git). */
export function proposalIdOf(idOrBranch: string): string | undefined {
  const id = idOrBranch.startsWith(PROPOSAL_BRANCH_PREFIX) ? idOrBranch.slice(PROPOSAL_BRANCH_PREFIX.length) : idOrBranch;
  return PROPOSAL_ID.test(id) ? id : undefined;
}

/** An open proposal by id (or branch name); undefined when there is none. */
export async function findProposal(repo: GitRepository, idOrBranch: string): Promise<Proposal | undefined> {
  const id = proposalIdOf(idOrBranch);
  return id === undefined ? undefined : readProposal(repo, `${PROPOSAL_BRANCH_PREFIX}${id}`);
}

async function readProposal(repo: GitRepository, branch: string): Promise<Proposal | undefined> {
  const commit = await repo.resolveBranch(branch);
  if (!commit) return undefined;
  const c = await repo.readCommit(commit);
  const component = trailer(c.message, TRAILERS.component);
  const env = trailer(c.message, TRAILERS.env);
  const file = trailer(c.message, TRAILERS.file);
  if (!component || !env || !file || c.parents.length !== 1) return undefined; // not made by propose-change
  return {
    id: branch.slice(PROPOSAL_BRANCH_PREFIX.length),
    branch,
    commit,
    base: c.parents[0]!,
    component,
    env,
    file,
    message: c.message.split('\n')[0] ?? '',
    createdAt: new Date(c.author.timestamp * 1000).toISOString(),
  };
}

/** Open proposals, oldest first. */
export async function listProposals(repo: GitRepository): Promise<Proposal[]> {
  await repo.head();
  const branches = (await repo.branches()).filter((b) => b.startsWith(PROPOSAL_BRANCH_PREFIX));
  const proposals = (await Promise.all(branches.map((b) => readProposal(repo, b)))).filter((p): p is Proposal => p !== undefined);
  return proposals.sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)));
}

export interface Merged {
  readonly proposal: Proposal;
  /** The branch it was merged into. */
  readonly into: string;
  /** The commit the branch points at now. */
  readonly commit: string;
  /** fast-forward: HEAD was the proposal's base; replayed: HEAD had moved, only other files changed. */
  readonly how: 'fast-forward' | 'replayed';
  readonly files: readonly string[];
}

/**
 * Merges a proposal into the current branch: a fast-forward when HEAD is still its base; a replay of its
 * files on top of HEAD when HEAD moved but changed none of them (and the result still validates); otherwise a
 * ConflictError and nothing changes. Then checks the files out and deletes the proposal's branch.
 */
export async function mergeProposal(repo: GitRepository, idOrBranch: string, options: { checkOnly?: boolean } = {}): Promise<Merged> {
  const dir = repo.dir;
  const head = await repo.head();
  if (!head.branch) throw new UsageError('HEAD is detached; check out the branch to apply the proposal to, then re-run karma apply');
  const id = idOrBranch.startsWith(PROPOSAL_BRANCH_PREFIX) ? idOrBranch.slice(PROPOSAL_BRANCH_PREFIX.length) : idOrBranch;
  const proposal = await findProposal(repo, id);
  if (!proposal) {
    const open = (await listProposals(repo)).map((p) => p.id);
    throw new UsageError(`no open proposal "${id}"; open proposals: ${open.join(', ') || 'none'} (karma proposals lists them)`);
  }
  const short = (c: string): string => c.slice(0, 8);
  const files = await repo.changedFiles(proposal.base, proposal.commit);
  let how: Merged['how'] = 'fast-forward';
  if (head.commit !== proposal.base) {
    if (!(await repo.isAncestor(proposal.base, head.commit))) {
      throw new ConflictError(
        `proposal ${id} is based on ${short(proposal.base)}, which is not in the history of ${head.branch} (HEAD ${short(head.commit)}); re-run propose-change on ${head.branch}`,
      );
    }
    const moved = new Set(await repo.changedFiles(proposal.base, head.commit));
    const clash = files.filter((f) => moved.has(f));
    if (clash.length > 0) {
      throw new ConflictError(`HEAD moved since proposal ${id} (base ${short(proposal.base)}, now ${short(head.commit)}) and changed ${clash.join(', ')}; re-run propose-change`);
    }
    how = 'replayed';
  }
  // The result must still be a valid repo (HEAD may have removed something the proposal refers to).
  const { files: headFiles, problems } = await repo.sourceAt(head.commit).load();
  const changed = new Map<string, Uint8Array | null>();
  for (const f of files) changed.set(f, (await repo.fileAt(proposal.commit, f)) ?? null);
  const merged = [...headFiles.filter((f) => !changed.has(f.path))];
  for (const [path, bytes] of changed) if (bytes) merged.push({ path, bytes });
  try {
    parseConfig(merged, { source: `${dir}@${short(head.commit)} with proposal ${id}` }, problems);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConflictError(`proposal ${id} no longer validates on top of ${head.branch} (HEAD ${short(head.commit)}): ${error.problems.map(formatProblem).join('; ')}; re-run propose-change`);
  }
  for (const f of files) {
    if (!(await repo.isClean(f))) throw new ConflictError(`${f} has uncommitted changes in the working tree; commit or discard them, then re-run karma apply ${id}`);
  }

  // checkOnly: every check above passed; nothing written (the commit named is the proposal's own).
  if (options.checkOnly) return { proposal, into: head.branch, commit: proposal.commit, how, files };
  let target = proposal.commit;
  if (how === 'replayed') {
    const c = await repo.readCommit(proposal.commit);
    target = await repo.commitOnto(head.commit, Object.fromEntries(changed), c.message, c.author);
  }
  await repo.moveBranch(head.branch, head.commit, target);
  for (const f of files) await repo.checkoutFile(target, f);
  await repo.deleteBranch(proposal.branch);
  return { proposal, into: head.branch, commit: target, how, files };
}
