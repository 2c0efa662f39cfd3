/**
 * Where Karma keeps its files on this machine, from plain values (no CLI options): the local store's folder
 * (`.karma` by default: the SQLite store, saved plans, work copies and local state live under it) and the places
 * a command that runs Terraform uses. The CLI, `karma serve` and the change use cases call these, so a plan made
 * by one is found by the others.
 */
import { dirname, join, resolve } from 'node:path';
import type { Config, StateSettings } from '../core/model.ts';
import { localDatabasePath } from './backend.ts';
import type { StateOptions } from './component.ts';

export interface Places {
  /** The directory the store folder is relative to: the config directory (the current one for a Git URL). */
  readonly baseDir: string;
  /** The local store folder (--store), over karma.yaml's backend.path. */
  readonly store?: string;
  /** Terraform's working directories (--work-dir), over $KARMA_WORK_DIR. */
  readonly workDir?: string;
}

/**
 * The backend used when karma.yaml leaves state local but the run must not keep it: the stack's state bucket,
 * which CodeBuild names in KARMA_STATE_BUCKET (S3-native locking; encrypted at rest).
 */
export function remoteStateFromEnv(env: NodeJS.ProcessEnv): StateSettings | undefined {
  const bucket = env['KARMA_STATE_BUCKET'];
  if (!bucket) return undefined;
  const region = env['KARMA_STATE_REGION'] ?? env['AWS_REGION'];
  // The stack's bucket is Karma's own: no project prefix, and each deploy role may reach `<env>/*` only.
  return { backend: 's3', config: { bucket, key: '{env}/{component}/terraform.tfstate', ...(region ? { region } : {}), encrypt: true, use_lockfile: true } };
}

/** The local store's folder (`.karma` by default): work copies, local state and saved plans live under it. */
export function storeDirOf(config: Config, places: Places): string {
  return dirname(localDatabasePath(config, { baseDir: places.baseDir, ...(places.store ? { localPath: places.store } : {}) }));
}

/**
 * Where a command that runs Terraform keeps its working copies and its local state, and which backend it uses
 * when karma.yaml leaves state local: the same for apply, plan, drift and destroy.
 */
export function terraformPlaces(config: Config, places: Places, env: NodeJS.ProcessEnv = process.env): { workRoot: string } & StateOptions {
  const storeDir = storeDirOf(config, places);
  const remoteState = remoteStateFromEnv(env);
  return {
    workRoot: places.workDir ?? env['KARMA_WORK_DIR'] ?? join(storeDir, 'work'),
    stateRoot: resolve(env['KARMA_STATE_DIR'] ?? join(storeDir, 'state')),
    ...(remoteState ? { remoteState } : {}),
    // A CodeBuild container is thrown away after the build: state kept there would be lost.
    requireRemoteState: env['CODEBUILD_BUILD_ID'] !== undefined,
  };
}
