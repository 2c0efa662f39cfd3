/**
 * Shared plumbing of the commands: where the config comes from, which backend, and the live build.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../core/model.ts';
import type { ConfigSource, Progress } from '../ports.ts';
import { isGitUrl, openConfigSource } from '../app/open.ts';
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

export function makeSource(options: SourceOptions): ConfigSource {
  return openConfigSource(configLocation(options), options.ref);
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
