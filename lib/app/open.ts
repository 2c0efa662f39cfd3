/**
 * Where an entry point (the CLI today; the API and the service next) gets the outside things it hands to
 * lib/app, so that it never imports lib/adapters itself (lint: karma/layers). Stores are opened by
 * ./backend.ts; this module opens the rest: the config source, the Git clone of the change workflow, the
 * Terraform binary, the user's own files, and the probe of local processes. Config sources and Git are loaded
 * only when opened (start-up time).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import type { ConfigSource, GitRepository, TerraformRunner } from '../ports.ts';
import type { Removal } from '../core/orphans.ts';
import { DirectorySource } from '../adapters/fs/directory-source.ts';
import { isGitUrl } from '../adapters/git/url.ts';
import { findTerraform, terraformRunner } from '../adapters/terraform/runner.ts';

export { isGitUrl };
export { readUserDocument, readUserStdin } from '../adapters/fs/user-file.ts';
export { pluginCacheDir } from '../adapters/terraform/plugin-cache.ts';
export { localProcesses } from '../adapters/local/process.ts';

/**
 * The Git adapter (isomorphic-git, ~50 ms to load) is imported when the source is first read, so commands on a
 * directory never load it (start-up: bench/startup.ts).
 */
class LazyGitSource implements ConfigSource {
  readonly description: string;
  private readonly location: string;
  private readonly ref: string;
  private source: Promise<ConfigSource> | undefined;
  constructor(location: string, ref: string) {
    this.location = location;
    this.ref = ref;
    this.description = `${location}@${ref}`;
  }
  private git(): Promise<ConfigSource> {
    this.source ??= Promise.all([import('../adapters/git/git-source.ts'), import('../adapters/git/auth.ts')]).then(([{ GitSource }, { gitOnAuthFromEnv }]) =>
      // A URL gets the pipeline's credentials: CodeCommit signed with the AWS ones, another host the token in
      // KARMA_GIT_TOKEN_SECRET when set (the deployed service reads a private repo so); a local repo needs none.
      isGitUrl(this.location) ? new GitSource(this.location, this.ref, { onAuth: gitOnAuthFromEnv(process.env) }) : new GitSource(this.location, this.ref),
    );
    return this.source;
  }
  async load(): ReturnType<ConfigSource['load']> {
    return (await this.git()).load();
  }
  async findRemovals(deployments: Parameters<NonNullable<ConfigSource['findRemovals']>>[0]): Promise<ReadonlyMap<string, Removal>> {
    const source = await this.git();
    return source.findRemovals ? source.findRemovals(deployments) : new Map();
  }
}

/**
 * The config at `location`: a Git URL (at `ref`, default HEAD), a directory's working tree, or with `ref` that
 * directory's Git history at the ref. A usage error when the location is neither a directory nor a Git URL.
 */
export function openConfigSource(location: string, ref?: string): ConfigSource {
  if (isGitUrl(location)) return new LazyGitSource(location, ref ?? 'HEAD');
  if (!existsSync(location) || !statSync(location).isDirectory()) {
    throw new UsageError(`--config ${location}: not a directory or a Git URL; point it at a config repo (the folder with karma.yaml)`);
  }
  if (ref) return new LazyGitSource(resolve(location), ref);
  return new DirectorySource(location);
}

/** The local Git clone at `dir`, for the change workflow (lib/app/change.ts). */
export async function openGitRepository(dir: string): Promise<GitRepository> {
  const { LocalGitRepository } = await import('../adapters/git/repository.ts');
  return new LocalGitRepository(dir);
}

export interface TerraformOptions {
  /** --terraform: the binary to use, over $KARMA_TERRAFORM and karma.yaml's terraform.binary. */
  readonly binary?: string;
  /** Each line Terraform prints, redacted (--verbose). */
  readonly onLine?: ((line: string) => void) | undefined;
}

/**
 * The Terraform (or OpenTofu) binary and a runner for it: --terraform, else $KARMA_TERRAFORM, else karma.yaml's
 * terraform.binary, else terraform then tofu on PATH. A usage error saying what to install when none is found.
 */
export function openTerraform(
  config: Config,
  options: TerraformOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): { readonly binary: string; readonly runner: TerraformRunner } {
  const binary = findTerraform(options.binary ?? env['KARMA_TERRAFORM'] ?? config.project.terraform.binary, env['PATH'] ?? '');
  return { binary, runner: terraformRunner(binary, options.onLine ? { onLine: options.onLine } : {}) };
}
