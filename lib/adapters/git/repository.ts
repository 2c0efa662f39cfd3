/** The GitRepository port (lib/ports.ts) on a local clone, with isomorphic-git (repo.ts) and GitSource. */
import type { AuthCallback } from 'isomorphic-git';
import type { ConfigSource, GitAuthor, GitCommit, GitRepository } from '../../ports.ts';
import { GitSource } from './git-source.ts';
import * as repo from './repo.ts';

export class LocalGitRepository implements GitRepository {
  readonly dir: string;
  private readonly remote: repo.RemoteOptions;
  /** `onAuth`: credentials for the remote (push), as GitSource gets them (./auth.ts). */
  constructor(dir: string, options: { readonly onAuth?: AuthCallback } = {}) {
    this.dir = dir;
    this.remote = options.onAuth ? { onAuth: options.onAuth } : {};
  }
  head(): Promise<{ branch?: string; commit: string }> {
    return repo.readHead(this.dir);
  }
  sourceAt(commit: string): ConfigSource {
    return new GitSource(this.dir, commit);
  }
  author(): Promise<GitAuthor> {
    return repo.authorOf(this.dir);
  }
  async readCommit(commit: string): Promise<GitCommit> {
    const { commit: c } = await repo.readCommit(this.dir, commit);
    return { message: c.message, parents: c.parent, author: c.author };
  }
  async fileAt(commit: string, path: string): Promise<Uint8Array | undefined> {
    return (await repo.blobAt(this.dir, commit, path))?.bytes;
  }
  commitOnto(parent: string, files: Readonly<Record<string, Uint8Array | null>>, message: string, author: GitAuthor): Promise<string> {
    return repo.writeCommitOnto(this.dir, parent, files, message, author);
  }
  changedFiles(from: string, to: string): Promise<string[]> {
    return repo.changedFiles(this.dir, from, to);
  }
  isAncestor(ancestor: string, of: string): Promise<boolean> {
    return repo.isAncestor(this.dir, ancestor, of);
  }
  branches(): Promise<string[]> {
    return repo.listBranches(this.dir);
  }
  resolveBranch(branch: string): Promise<string | undefined> {
    return repo.resolveBranch(this.dir, branch);
  }
  createBranch(branch: string, commit: string): Promise<void> {
    return repo.createBranch(this.dir, branch, commit);
  }
  moveBranch(branch: string, expected: string, commit: string): Promise<void> {
    return repo.moveBranch(this.dir, branch, expected, commit);
  }
  deleteBranch(branch: string): Promise<void> {
    return repo.deleteBranch(this.dir, branch);
  }
  isClean(path: string): Promise<boolean> {
    return repo.fileIsClean(this.dir, path);
  }
  checkoutFile(commit: string, path: string): Promise<void> {
    return repo.checkoutFile(this.dir, commit, path);
  }
  publishedOn(commit: string): Promise<string | undefined> {
    return repo.publishedOn(this.dir, commit);
  }
  push(ref: string, options: { readonly delete?: boolean } = {}): Promise<void> {
    return repo.push(this.dir, ref, { ...this.remote, ...options });
  }
}

/**
 * A clone of the config repo's remote `url` in `dir` (cloned the first time, fetched after), with `branch` (else
 * the remote's default branch) checked out at the remote's tip and the proposal branches mirrored: what the
 * serverless API writes its proposals from (lib/app/aws-workspace). Returns the clone and the tracked branch.
 */
export async function openRemoteClone(
  url: string,
  dir: string,
  options: { readonly onAuth?: AuthCallback; readonly branch?: string; readonly mirrorPrefix: string },
): Promise<{ repo: LocalGitRepository; branch: string }> {
  const branch = await repo.syncRemoteClone(dir, url, options);
  return { repo: new LocalGitRepository(dir, options.onAuth ? { onAuth: options.onAuth } : {}), branch };
}
