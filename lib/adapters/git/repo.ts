/**
 * The Git plumbing of the change workflow (isomorphic-git, pure JavaScript): commits written as objects
 * (blob → trees → commit) without touching the working tree, the index or the current branch; branches under
 * refs/heads/karma/proposals/; fast-forward checks; checking a few files out into the working tree.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import git, { Errors, type AuthCallback, type HttpClient, type PushResult, type ReadCommitResult, type TreeEntry } from 'isomorphic-git';
import { ConflictError, UsageError } from '../../core/errors.ts';
import { GitAccessError } from '../errors.ts';

export interface Author {
  readonly name: string;
  readonly email: string;
}

/** The repository's user.name/user.email, else `karma <karma@localhost>`. */
export async function authorOf(dir: string): Promise<Author> {
  const name = (await git.getConfig({ fs, dir, path: 'user.name' }).catch(() => undefined)) as string | undefined;
  const email = (await git.getConfig({ fs, dir, path: 'user.email' }).catch(() => undefined)) as string | undefined;
  return { name: name || 'karma', email: email || 'karma@localhost' };
}

/** The current branch (undefined when HEAD is detached) and the commit HEAD points at. */
export async function readHead(dir: string): Promise<{ branch?: string; commit: string }> {
  if (!fs.existsSync(join(dir, '.git'))) {
    throw new UsageError(`--config ${dir}: not a Git repository; the change workflow records proposals as Git commits (run git init and commit the config first)`);
  }
  let commit: string;
  try {
    commit = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  } catch {
    throw new UsageError(`--config ${dir}: the Git repository has no commit yet; commit the config first`);
  }
  const branch = await git.currentBranch({ fs, dir, fullname: false });
  return { ...(branch ? { branch } : {}), commit };
}

/** The blob id of `path` in `commit`, or undefined when the file is not there. */
export async function blobAt(dir: string, commit: string, path: string): Promise<{ oid: string; bytes: Uint8Array } | undefined> {
  try {
    const { oid, blob } = await git.readBlob({ fs, dir, oid: commit, filepath: path });
    return { oid, bytes: blob };
  } catch (error) {
    if (error instanceof Errors.NotFoundError) return undefined;
    throw error;
  }
}

/**
 * A new tree: `tree` (undefined = empty) with the file at `parts` set to `blob` (or removed when blob is
 * undefined). Writes only new tree objects; returns the new tree's id.
 */
async function replaceInTree(dir: string, tree: string | undefined, parts: readonly string[], blob: string | undefined): Promise<string> {
  const entries: TreeEntry[] = tree ? (await git.readTree({ fs, dir, oid: tree })).tree : [];
  const [name, ...rest] = parts as [string, ...string[]];
  const index = entries.findIndex((e) => e.path === name);
  const existing = index >= 0 ? entries[index] : undefined;
  let entry: TreeEntry | undefined;
  if (rest.length === 0) {
    entry = blob === undefined ? undefined : { mode: existing?.type === 'blob' ? existing.mode : '100644', path: name, oid: blob, type: 'blob' };
  } else {
    const sub = await replaceInTree(dir, existing?.type === 'tree' ? existing.oid : undefined, rest, blob);
    const empty = (await git.readTree({ fs, dir, oid: sub })).tree.length === 0;
    entry = empty ? undefined : { mode: '040000', path: name, oid: sub, type: 'tree' };
  }
  const next = entries.filter((_, i) => i !== index);
  if (entry) next.push(entry);
  return git.writeTree({ fs, dir, tree: next });
}

/**
 * Writes a commit whose tree is `parent`'s tree with `files` replaced (content, or null to delete), and whose
 * parent is `parent`. No ref, the index or the working tree is touched.
 */
export async function writeCommitOnto(
  dir: string,
  parent: string,
  files: Readonly<Record<string, Uint8Array | null>>,
  message: string,
  author: Author & { timestamp?: number; timezoneOffset?: number },
): Promise<string> {
  let tree = (await git.readCommit({ fs, dir, oid: parent })).commit.tree;
  for (const [path, bytes] of Object.entries(files)) {
    const blob = bytes === null ? undefined : await git.writeBlob({ fs, dir, blob: bytes });
    tree = await replaceInTree(dir, tree, path.split('/'), blob);
  }
  return git.commit({ fs, dir, message, author, committer: { name: author.name, email: author.email }, tree, parent: [parent], noUpdateBranch: true });
}

export async function readCommit(dir: string, oid: string): Promise<ReadCommitResult> {
  return git.readCommit({ fs, dir, oid });
}

/** Paths of the files that differ between two commits (added, removed or changed), sorted. */
export async function changedFiles(dir: string, from: string, to: string): Promise<string[]> {
  const changed: string[] = [];
  await git.walk({
    fs,
    dir,
    trees: [git.TREE({ ref: from }), git.TREE({ ref: to })],
    map: async (path, [a, b]) => {
      if (path === '.') return true;
      const [ta, tb] = [await a?.type(), await b?.type()];
      const [oa, ob] = [await a?.oid(), await b?.oid()];
      if (oa === ob) return null; // identical subtree or file: skip it entirely
      if (ta === 'tree' || tb === 'tree') {
        if (ta === 'blob' || tb === 'blob') changed.push(path);
        return true;
      }
      changed.push(path);
      return true;
    },
  });
  return changed.sort();
}

export async function isAncestor(dir: string, ancestor: string, of: string): Promise<boolean> {
  if (ancestor === of) return true;
  return git.isDescendent({ fs, dir, oid: of, ancestor, depth: -1 });
}

export async function listBranches(dir: string): Promise<string[]> {
  return git.listBranches({ fs, dir });
}

export async function resolveBranch(dir: string, branch: string): Promise<string | undefined> {
  try {
    return await git.resolveRef({ fs, dir, ref: `refs/heads/${branch}` });
  } catch {
    return undefined;
  }
}

export async function createBranch(dir: string, branch: string, commit: string): Promise<void> {
  await git.writeRef({ fs, dir, ref: `refs/heads/${branch}`, value: commit, force: false });
}

/** Moves `branch` from `expected` to `commit`; refuses when someone moved it meanwhile. */
export async function moveBranch(dir: string, branch: string, expected: string, commit: string): Promise<void> {
  const now = await git.resolveRef({ fs, dir, ref: `refs/heads/${branch}` });
  if (now !== expected) throw new UsageError(`branch ${branch} moved to ${now.slice(0, 8)} while applying; re-run the command`);
  await git.writeRef({ fs, dir, ref: `refs/heads/${branch}`, value: commit, force: true });
}

export async function deleteBranch(dir: string, branch: string): Promise<void> {
  await git.deleteBranch({ fs, dir, ref: branch });
}

/**
 * The state of one file: HEAD, working tree and index (git's status matrix row). `clean` when the working tree
 * and the index both match HEAD (including: absent everywhere).
 */
export async function fileIsClean(dir: string, path: string): Promise<boolean> {
  const [row] = await git.statusMatrix({ fs, dir, filepaths: [path] });
  if (!row) return !fs.existsSync(join(dir, path)); // not in HEAD, not in the index: clean only when absent
  const [, head, work, stage] = row;
  return (head === 1 && work === 1 && stage === 1) || (head === 0 && work === 0 && stage === 0);
}

/** Writes `path` from `commit` into the working tree and the index (or removes it when absent there). */
export async function checkoutFile(dir: string, commit: string, path: string): Promise<void> {
  const blob = await blobAt(dir, commit, path);
  const full = join(dir, path);
  if (blob) {
    fs.mkdirSync(dirname(full), { recursive: true });
    fs.writeFileSync(full, blob.bytes);
    await git.add({ fs, dir, filepath: path });
  } else {
    fs.rmSync(full, { force: true });
    await git.remove({ fs, dir, filepath: path });
  }
}

/**
 * A remote-tracking branch (`origin/main`) that contains `commit`, as far as this clone knows (its last fetch or
 * push); undefined when none does. The deployed pipeline reads the config from the Git remote, so only such a
 * commit can be applied remotely.
 */
export async function publishedOn(dir: string, commit: string): Promise<string | undefined> {
  for (const { remote } of await git.listRemotes({ fs, dir })) {
    for (const branch of await git.listBranches({ fs, dir, remote })) {
      if (branch === 'HEAD') continue;
      const tip = await git.resolveRef({ fs, dir, ref: `refs/remotes/${remote}/${branch}` }).catch(() => undefined);
      if (tip && (await isAncestor(dir, commit, tip))) return `${remote}/${branch}`;
    }
  }
  return undefined;
}

/** How to reach the remote `origin` of a clone (isomorphic-git's onAuth: lib/adapters/git/auth.ts). */
export interface RemoteOptions {
  readonly onAuth?: AuthCallback;
}

const httpClient = async (): Promise<HttpClient> => (await import('isomorphic-git/http/node')).default;

/** An HTTP error's status, when isomorphic-git reports one. */
function httpStatus(error: unknown): number | undefined {
  const e = error as { code?: string; data?: { statusCode?: number } };
  return e.code === 'HttpError' ? e.data?.statusCode : undefined;
}

/**
 * Pushes the local branch `ref` to the same branch of `origin` (fast-forward only), or with `delete` removes that
 * branch there. A push the remote refuses because it moved is a ConflictError; a refused login a GitAccessError
 * saying what to grant. The credentials never appear in a message.
 */
export async function push(dir: string, ref: string, options: RemoteOptions & { readonly delete?: boolean } = {}): Promise<void> {
  const http = await httpClient();
  let result: PushResult;
  try {
    // A deletion names the remote-tracking ref: isomorphic-git resolves `ref` locally even then, and the local
    // branch may be gone already (a merged proposal).
    const local = options.delete ? `refs/remotes/origin/${ref}` : `refs/heads/${ref}`;
    result = await git.push({ fs, http, dir, remote: 'origin', ref: local, remoteRef: `refs/heads/${ref}`, ...(options.delete ? { delete: true } : {}), ...(options.onAuth ? { onAuth: options.onAuth } : {}) });
  } catch (error) {
    if (error instanceof Errors.PushRejectedError) {
      throw new ConflictError(`the remote's ${ref} moved since it was fetched (push refused: not a fast-forward); try again`, { cause: error });
    }
    const status = httpStatus(error);
    if (status === 401 || status === 403) {
      throw new GitAccessError(`cannot push ${ref}: HTTP ${status}; the credentials need write access to the config repo (codecommit:GitPush, or a token that may push)`, { cause: error });
    }
    throw new GitAccessError(`cannot push ${ref}: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  const refResult = result.refs[`refs/heads/${ref}`];
  if (!result.ok || (refResult && !refResult.ok)) {
    throw new ConflictError(`the remote refused ${ref}: ${refResult?.error ?? result.error ?? 'no reason given'}; try again`);
  }
}

/**
 * A clone of `url` in `dir`, brought up to date with the remote: cloned the first time, fetched (pruned) after;
 * `branch` (else the remote's default branch) checked out at the remote's tip, and the local branches under
 * `mirrorPrefix` made the same as the remote's (created, moved, deleted). Local commits not on the remote are
 * dropped: the remote is the truth, this clone only a place to write the next commit from. Returns the branch.
 */
export async function syncRemoteClone(dir: string, url: string, options: RemoteOptions & { readonly branch?: string; readonly mirrorPrefix: string }): Promise<string> {
  const http = await httpClient();
  const auth = options.onAuth ? { onAuth: options.onAuth } : {};
  const fresh = !fs.existsSync(join(dir, '.git'));
  try {
    if (fresh) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      await git.clone({ fs, http, dir, url, singleBranch: false, noCheckout: true, ...auth });
    } else {
      await git.fetch({ fs, http, dir, remote: 'origin', singleBranch: false, prune: true, tags: false, ...auth });
    }
  } catch (error) {
    if (fresh) fs.rmSync(dir, { recursive: true, force: true });
    const status = httpStatus(error);
    const why = status === 401 || status === 403 ? `HTTP ${status}; the credentials need read access to the config repo` : (error as Error).message.split('\n')[0];
    throw new GitAccessError(`cannot fetch the config repo: ${why}`, { cause: error });
  }
  const branch = options.branch ?? (await defaultRemoteBranch(dir));
  const tip = await git.resolveRef({ fs, dir, ref: `refs/remotes/origin/${branch}` }).catch(() => undefined);
  if (!tip) {
    const known = (await git.listBranches({ fs, dir, remote: 'origin' })).filter((b) => b !== 'HEAD');
    throw new UsageError(`the config repo has no branch "${branch}"; its branches: ${known.join(', ') || 'none'} (KARMA_CONFIG_BRANCH names the tracked branch)`);
  }
  await git.writeRef({ fs, dir, ref: `refs/heads/${branch}`, value: tip, force: true });
  await git.checkout({ fs, dir, ref: branch, force: true });
  const remote = new Map<string, string>();
  for (const b of await git.listBranches({ fs, dir, remote: 'origin' })) {
    if (b.startsWith(options.mirrorPrefix)) remote.set(b, await git.resolveRef({ fs, dir, ref: `refs/remotes/origin/${b}` }));
  }
  for (const b of await git.listBranches({ fs, dir })) {
    if (b.startsWith(options.mirrorPrefix) && !remote.has(b)) await git.deleteRef({ fs, dir, ref: `refs/heads/${b}` });
  }
  for (const [b, oid] of remote) await git.writeRef({ fs, dir, ref: `refs/heads/${b}`, value: oid, force: true });
  return branch;
}

/** The branch origin/HEAD points at (what a clone checks out), else main. */
async function defaultRemoteBranch(dir: string): Promise<string> {
  const head = await git.resolveRef({ fs, dir, ref: 'refs/remotes/origin/HEAD', depth: 2 }).catch(() => undefined);
  if (head?.startsWith('refs/remotes/origin/')) return head.slice('refs/remotes/origin/'.length);
  return (await git.currentBranch({ fs, dir, fullname: false })) ?? 'main';
}
