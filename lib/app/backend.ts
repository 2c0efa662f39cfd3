/**
 * Backend selection: which RuntimeStore, GraphStore, LockStore and AuditLog a command uses. `local` is the
 * embedded SQLite database (all four in one file); `aws` is SSM Parameter Store + Neptune + a DynamoDB audit
 * table (lib/adapters/ssm, lib/adapters/neptune, lib/adapters/dynamodb; see aws-backend.ts).
 */
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { UsageError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import { keepBuilds } from '../core/config.ts';
import type { AuditLog, Clock, GraphStore, LockStore, RuntimeStore } from '../ports.ts';
import { DATABASE_FILE, openDatabase } from '../adapters/local/database.ts';
import { LocalRuntimeStore } from '../adapters/local/runtime-store.ts';
import { LocalGraphStore } from '../adapters/local/graph-store.ts';
import { LocalLockStore } from '../adapters/local/lock-store.ts';
import { LocalAuditLog } from '../adapters/local/audit-log.ts';

export type BackendType = 'local' | 'aws';

export interface Backend {
  readonly type: BackendType;
  readonly description: string;
  readonly runtime: RuntimeStore;
  readonly graph: GraphStore;
  readonly locks: LockStore;
  /** Change requests and applies (docs/audit.md). On `aws` without a table: an UnrecordedAuditLog (app/audit.ts). */
  readonly audit: AuditLog;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** --backend: overrides karma.yaml. */
  readonly type?: BackendType;
  /** Directory the local store path is relative to (the config repo directory). */
  readonly baseDir: string;
  /** --store: overrides the local store folder. */
  readonly localPath?: string;
  readonly clock?: Clock;
  /** Create the store when it does not exist (writes do; reads do not). */
  readonly create?: boolean;
  /** Told (once per store and process) when the local store can be read by other users. */
  readonly warn?: (message: string) => void;
}

export function localDatabasePath(config: Config | undefined, options: BackendOptions): string {
  const configured = config?.project.backend.type === 'local' ? config.project.backend.path : '.karma';
  return join(resolve(options.baseDir, options.localPath ?? configured), DATABASE_FILE);
}

export function openLocalBackend(file: string, options: { create: boolean; clock?: Clock; warn?: (message: string) => void; keepBuilds?: number }): Backend {
  if (!options.create && !existsSync(file)) {
    throw new UsageError(`no local store at ${file}: run \`karma graph build\` first (or pass --store)`);
  }
  const db: DatabaseSync = openDatabase(file, { create: options.create, ...(options.warn ? { warn: options.warn } : {}) });
  return {
    type: 'local',
    description: `local store ${file}`,
    runtime: new LocalRuntimeStore(db, options.clock),
    graph: new LocalGraphStore(db, options.keepBuilds ? { keepBuilds: options.keepBuilds } : {}),
    locks: new LocalLockStore(db, options.clock),
    audit: new LocalAuditLog(db, { description: `the audit table of local store ${file}` }),
    close: async () => db.close(),
  };
}

export async function openBackend(config: Config | undefined, options: BackendOptions): Promise<Backend> {
  const type = options.type ?? config?.project.backend.type ?? 'local';
  if (type === 'local') {
    return openLocalBackend(localDatabasePath(config, options), {
      create: options.create ?? false,
      keepBuilds: keepBuilds(config),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.warn ? { warn: options.warn } : {}),
    });
  }
  const { openAwsBackend } = await import('./aws-backend.ts');
  return openAwsBackend(config, options);
}
