/**
 * Shared plumbing of the commands: where the config comes from, which backend, and the live build.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import type { ConfigSource, Progress } from '../ports.ts';
import type { Removal } from '../core/orphans.ts';
import { DirectorySource } from '../adapters/fs/directory-source.ts';
import { isGitUrl } from '../adapters/git/url.ts';
import { loadConfig, buildFromConfig, type BuildResult } from '../app/build.ts';
import { localDatabasePath, openBackend, type Backend, type BackendType } from '../app/backend.ts';
import type { IO } from './io.ts';

export interface SourceOptions {
  /** A directory or a Git URL. Default: $KARMA_CONFIG, else the current directory. */
  readonly config?: string;
  /** A branch, tag or commit: read the config from Git at that ref instead of the working tree. */
  readonly ref?: string;
}

export interface BackendFlags {
  readonly backend?: BackendType;
  /** Local store folder (default: karma.yaml backend.path, else .karma in the config repo). */
  readonly store?: string;
}

export interface CommonOptions extends SourceOptions, BackendFlags {
  readonly json?: boolean;
}

export function configLocation(options: SourceOptions): string {
  return options.config ?? process.env['KARMA_CONFIG'] ?? '.';
}

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
    this.source ??= import('../adapters/git/git-source.ts').then(({ GitSource }) => new GitSource(this.location, this.ref));
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

export function makeSource(options: SourceOptions): ConfigSource {
  const location = configLocation(options);
  if (isGitUrl(location)) return new LazyGitSource(location, options.ref ?? 'HEAD');
  if (!existsSync(location) || !statSync(location).isDirectory()) {
    throw new UsageError(`--config ${location}: not a directory or a Git URL; point it at a config repo (the folder with karma.yaml)`);
  }
  if (options.ref) return new LazyGitSource(resolve(location), options.ref);
  return new DirectorySource(location);
}

/** The directory the local store is relative to: the config directory, or the current one for a URL. */
export function baseDir(options: SourceOptions): string {
  const location = configLocation(options);
  return isGitUrl(location) ? process.cwd() : resolve(location);
}

export function progressFor(io: IO, options: { json?: boolean }): Progress {
  return { step: (m) => (options.json ? undefined : io.err(`… ${m}`)) };
}

export async function withConfig(options: SourceOptions): Promise<Config> {
  return loadConfig(makeSource(options));
}

/**
 * The live build, computed from config + runtime, without writing. A missing local store is an empty
 * runtime (everything never-applied), not an error: reading must not create files.
 */
export async function liveBuild(options: CommonOptions, io: IO): Promise<{ config: Config; result: BuildResult }> {
  const source = makeSource(options);
  const config = await loadConfig(source);
  const type = options.backend ?? config.project.backend.type;
  if (type === 'local') {
    const file = localDatabasePath(config, { baseDir: baseDir(options), ...(options.store ? { localPath: options.store } : {}) });
    if (!existsSync(file)) {
      if (!options.json) io.err(`… no local store at ${file} yet: every component shows as never-applied`);
      return { config, result: await buildFromConfig(config, undefined) };
    }
  }
  return withBackend(config, options, { create: false, io }, async (backend) => ({ config, result: await buildFromConfig(config, backend.runtime, { source }) }));
}

/**
 * The one way a command uses a store: open the backend, run `work`, close the backend whatever happens.
 * `create`: a command that writes creates a missing local store; one that reads refuses a missing one (a
 * UsageError naming `karma graph build`). `io` hears (on stderr, once) when the local store can be read by others.
 */
export async function withBackend<T>(config: Config | undefined, options: CommonOptions, access: { readonly create: boolean; readonly io?: IO }, work: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackendFor(config, options, access.create, access.io);
  try {
    return await work(backend);
  } finally {
    await backend.close();
  }
}

/** The store for a command; `io` hears (on stderr, once) when the local store can be read by other users. */
export async function openBackendFor(config: Config | undefined, options: CommonOptions, create: boolean, io?: IO): Promise<Backend> {
  return openBackend(config, {
    baseDir: baseDir(options),
    create,
    ...(io ? { warn: (m: string) => io.err(`karma: warning: ${m}`) } : {}),
    ...(options.backend ? { type: options.backend } : {}),
    ...(options.store ? { localPath: options.store } : {}),
  });
}
