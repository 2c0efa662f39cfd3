/**
 * ConfigSource for a Git repository at a ref (isomorphic-git: pure JavaScript, so the same code runs in
 * Lambda). `dir` is a local clone; for an https URL the repository is cloned (shallow, one branch) into a
 * cache directory first. The commit id becomes part of the build.
 *
 * Credentials: `onAuth` (isomorphic-git's callback, asked when the server answers 401) supplies them; see
 * ./auth.ts for CodeCommit (SigV4 from AWS credentials) and tokens from Secrets Manager (GitHub). A 401/403 that
 * remains is a GitAccessError saying what to grant or set.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import git, { type AuthCallback } from 'isomorphic-git';
import { UsageError } from '../../core/errors.ts';
import type { Problem } from '../../core/errors.ts';
import type { RepoFile } from '../../core/model.ts';
import type { ConfigSource } from '../../ports.ts';
import { GitAccessError } from '../errors.ts';
import { isGitUrl } from './url.ts';
import { codeCommitTarget } from './auth.ts';
import { findRemovals } from './history.ts';
import type { Removal } from '../../core/orphans.ts';

export { isGitUrl };

export class GitSource implements ConfigSource {
  readonly description: string;
  private readonly location: string;
  private readonly ref: string;
  private readonly cacheDir: string;
  private readonly onAuth: AuthCallback | undefined;
  constructor(location: string, ref: string, options: { cacheDir?: string; onAuth?: AuthCallback } = {}) {
    this.location = location;
    this.ref = ref;
    this.description = `${location}@${ref}`;
    this.cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'karma', 'git');
    this.onAuth = options.onAuth;
  }

  private async localDir(): Promise<string> {
    if (!isGitUrl(this.location)) return this.location;
    checkGitUrl(this.location);
    const http = (await import('isomorphic-git/http/node')).default;
    const dir = join(this.cacheDir, createHash('sha256').update(this.location).digest('hex').slice(0, 16));
    const fresh = !fs.existsSync(join(dir, '.git'));
    const auth = this.onAuth ? { onAuth: this.onAuth } : {};
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (fresh) {
        await git.clone({ fs, http, dir, url: this.location, noCheckout: true, singleBranch: false, depth: 50, ...auth });
      } else {
        await git.fetch({ fs, http, dir, url: this.location, depth: 50, tags: true, ...auth });
      }
    } catch (error) {
      // A clone that failed leaves nothing behind (a half-made cache would be mistaken for a clone next time).
      if (fresh) fs.rmSync(dir, { recursive: true, force: true });
      const status = (error as { code?: string; data?: { statusCode?: number } }).code === 'HttpError' ? (error as { data: { statusCode?: number } }).data.statusCode : undefined;
      if (status !== 401 && status !== 403) throw new GitAccessError(`cannot fetch ${redact(this.location)}: ${fetchFailure(error, status)}`, { cause: error });
      const hint = codeCommitTarget(this.location)
        ? 'the role needs codecommit:GitPull on the repository (Karma signs with the AWS credentials of the default chain)'
        : this.onAuth
          ? 'check that KARMA_GIT_TOKEN_SECRET holds a token that can read the repository'
          : 'a private repository needs a token: set KARMA_GIT_TOKEN_SECRET to a Secrets Manager secret holding it';
      throw new GitAccessError(`cannot fetch ${redact(this.location)}: HTTP ${status}; ${hint}`, { cause: error });
    }
    return dir;
  }

  /** The clone load() used: findRemovals reads the same one instead of fetching twice. */
  private loadedDir: Promise<string> | undefined;

  async load(): Promise<{ files: RepoFile[]; problems: Problem[]; commit: string }> {
    const dir = await (this.loadedDir = this.localDir());
    let commit: string;
    try {
      commit = await this.resolve(dir);
    } catch (error) {
      throw new UsageError(`--ref ${this.ref}: not a branch, tag or commit of ${this.location} (${(error as Error).message})`, { cause: error });
    }
    const files: RepoFile[] = [];
    const problems: Problem[] = [];
    const links: { path: string; target: string }[] = [];
    await git.walk({
      fs,
      dir,
      trees: [git.TREE({ ref: commit })],
      map: async (path, [entry]) => {
        if (!entry || path === '.') return true;
        const type = await entry.type();
        const base = posix.basename(path);
        if (type === 'tree') return !(base.startsWith('.') || base === 'node_modules') ? true : null;
        if (type !== 'blob') return null;
        const mode = await entry.mode();
        const content = (await entry.content()) ?? new Uint8Array();
        if (mode === 0o120000) links.push({ path, target: new TextDecoder().decode(content) });
        else files.push({ path, bytes: content });
        return true;
      },
    });
    const byPath = new Map(files.map((f) => [f.path, f]));
    for (const link of links) {
      const resolved = posix.normalize(posix.join(posix.dirname(link.path), link.target));
      if (link.target.startsWith('/') || resolved === '..' || resolved.startsWith('../')) {
        problems.push({ file: link.path, message: `symlink to ${link.target} leaves the repository; commit the file itself instead` });
        continue;
      }
      const target = byPath.get(resolved);
      if (target) files.push({ path: link.path, bytes: target.bytes });
      else problems.push({ file: link.path, message: `symlink to ${link.target} points at nothing in the repository` });
    }
    files.sort((a, b) => (a.path < b.path ? -1 : 1));
    return { files, problems, commit };
  }

  /** Removed deployments looked up in the history of the ref (history.ts); after load(), without fetching again. */
  async findRemovals(deployments: readonly { readonly env: string; readonly component: string }[]): Promise<ReadonlyMap<string, Removal>> {
    const dir = await (this.loadedDir ?? this.localDir());
    return findRemovals(dir, await this.resolve(dir), deployments);
  }

  /**
   * The commit of the ref. In a clone kept between runs (a warm Lambda container, the CLI's cache), a fetch moves
   * only the remote-tracking branches: a branch name, or HEAD (the branch the clone checked out), is read from
   * `refs/remotes/origin/<branch>`, what the remote has now, not from the local branch of the first clone.
   */
  private async resolve(dir: string): Promise<string> {
    if (isGitUrl(this.location) && !/^[0-9a-f]{40}$/.test(this.ref)) {
      const branch = this.ref === 'HEAD' ? await git.currentBranch({ fs, dir, fullname: false }) : this.ref.replace(/^refs\/heads\//, '');
      if (branch) {
        const tracking = await git.resolveRef({ fs, dir, ref: `refs/remotes/origin/${branch}` }).catch(() => undefined);
        if (tracking) return tracking;
      }
    }
    return resolveCommit(dir, this.ref);
  }
}

/** Hosts plain http is accepted for: a Git server on this machine (tests run git http-backend on loopback). */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Only https Git URLs are fetched (the config decides what gets applied: it must not travel in clear text or be
 * altered on the way); plain http only for a server on this machine. ssh and git@ URLs: clone it yourself.
 */
export function checkGitUrl(location: string): void {
  const shown = redact(location);
  if (!/^https?:\/\//.test(location)) {
    throw new UsageError(`--config ${shown}: only https Git URLs can be fetched; clone it yourself and pass the directory`);
  }
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new UsageError(`--config ${shown}: not a valid URL; use https://HOST/PATH (or a local directory)`);
  }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    throw new UsageError(`--config ${shown}: plain http is refused (the config would travel unencrypted); use https:// (http is accepted only for 127.0.0.1 or localhost)`);
  }
}

/** Why a fetch failed, in words, with what to do. */
function fetchFailure(error: unknown, status: number | undefined): string {
  const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  const check = 'check the URL and that the Git server is reachable from here, or clone the repository yourself and pass the directory';
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused (ECONNREFUSED); ${check}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${code}); ${check}`;
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `network error (${code}); ${check}`;
    case 'HttpError':
      return status === 404 ? `HTTP 404: no repository there (or a private one); ${check}` : `HTTP ${status ?? 'error'}; ${check}`;
    default:
      if (code && /CERT|SSL|TLS/.test(code)) return `TLS error (${code}): the server's certificate is not trusted; fix the certificate or set NODE_EXTRA_CA_CERTS`;
      return `${(error as Error).message.split('\n')[0]} (${code ?? 'error'}); ${check}`;
  }
}

/** The URL without any user:password part, for messages. */
function redact(url: string): string {
  return url.replace(/^(https?:\/\/)[^@/]*@/, '$1');
}

/** A branch, tag, full or abbreviated commit id → the full commit id. */
export async function resolveCommit(dir: string, ref: string): Promise<string> {
  if (/^[0-9a-f]{4,40}$/.test(ref)) {
    try {
      return await git.expandOid({ fs, dir, oid: ref });
    } catch {
      // not an abbreviated id: try it as a ref name below
    }
  }
  const oid = await git.resolveRef({ fs, dir, ref });
  const { type, object } = await git.readObject({ fs, dir, oid });
  if (type === 'tag') return (object as { object: string }).object;
  return oid;
}
