/**
 * Where removed deployments were last seen in Git history (isomorphic-git, no `git` binary).
 *
 * From a starting commit, walk the log (newest first, at most `depth` commits) and, for each commit, list
 * `environments/<env>/` of the environments asked about (one tree read per commit and environment). The newest
 * commit that still has `environments/<env>/<component>.json|.yaml|.yml` is the deployment's last commit; the
 * commit that removed the file is the newer one whose parent it is (the previous one in the log when no child
 * is found, e.g. across a merge). Found at the starting commit itself (a work tree that deleted the file
 * without committing): `uncommitted`, and the last commit is HEAD.
 *
 * Bounded on purpose: a deployment removed more than `depth` commits ago, or before a shallow clone's horizon,
 * is simply not found (its reason then says "no longer in the config" and `karma destroy` asks for `--ref`).
 */
import * as fs from 'node:fs';
import git, { type ReadCommitResult } from 'isomorphic-git';
import type { Removal } from '../../core/orphans.ts';
import { deploymentKey } from '../../core/model.ts';

const ENV_FILE = /^(.+)\.(json|ya?ml)$/;
export const REMOVAL_SEARCH_DEPTH = 200;

async function envFiles(dir: string, oid: string, env: string): Promise<Map<string, string>> {
  try {
    const { tree } = await git.readTree({ fs, dir, oid, filepath: `environments/${env}` });
    const out = new Map<string, string>();
    for (const e of tree) {
      const m = e.type === 'blob' ? ENV_FILE.exec(e.path) : null;
      if (m && !out.has(m[1]!)) out.set(m[1]!, `environments/${env}/${e.path}`);
    }
    return out;
  } catch {
    return new Map();
  }
}

export async function findRemovals(
  dir: string,
  from: string,
  deployments: readonly { readonly env: string; readonly component: string }[],
  options: { workingTree?: boolean; depth?: number } = {},
): Promise<Map<string, Removal>> {
  const found = new Map<string, Removal>();
  if (deployments.length === 0) return found;
  let log: ReadCommitResult[];
  try {
    log = await git.log({ fs, dir, ref: from, depth: options.depth ?? REMOVAL_SEARCH_DEPTH });
  } catch {
    return found; // no commits yet, or a history we cannot read: nothing found
  }
  const left = new Map(deployments.map((d) => [deploymentKey(d.env, d.component), d]));
  for (let i = 0; i < log.length && left.size > 0; i++) {
    const commit = log[i]!;
    const envs = new Set([...left.values()].map((d) => d.env));
    const listed = new Map<string, Map<string, string>>();
    for (const env of envs) listed.set(env, await envFiles(dir, commit.oid, env));
    for (const [key, d] of left) {
      const file = listed.get(d.env)!.get(d.component);
      if (!file) continue;
      left.delete(key);
      if (i === 0) {
        // Still in the starting commit: only a work tree can have lost it since.
        if (options.workingTree) found.set(key, { file, lastCommit: commit.oid, uncommitted: true });
        continue;
      }
      const child = log.slice(0, i).find((c) => c.commit.parent.includes(commit.oid)) ?? log[i - 1]!;
      const at = new Date(child.commit.committer.timestamp * 1000).toISOString().replace('.000Z', 'Z');
      found.set(key, { file, lastCommit: commit.oid, removedIn: { commit: child.oid, at } });
    }
  }
  return found;
}
