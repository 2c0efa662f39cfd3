/**
 * The AWS backend: SSM Parameter Store (runtime) + Neptune (graph), with the build history in a directory, and the
 * audit log in DynamoDB.
 *
 * From karma.yaml `backend: {type: aws, region?, endpoint?, auditTable?, neptune?: {endpoint, port?, iamAuth?, tls?}}`
 * and the environment (the environment wins):
 *
 *   AWS_REGION, AWS_PROFILE, ...   the standard AWS SDK chain (region and credentials)
 *   AWS_ENDPOINT_URL               endpoint override for SSM (e.g. a local moto server); also backend.endpoint
 *   KARMA_NEPTUNE_ENDPOINT         the Gremlin endpoint as a URL, e.g. ws://127.0.0.1:8182/gremlin
 *   KARMA_NEPTUNE_IAM_AUTH         true|false: sign the WebSocket handshake with SigV4 (neptune-db)
 *   KARMA_HISTORY_DIR              where build history is kept (default: <config repo>/.karma/history)
 *   KARMA_AUDIT_TABLE              the audit log's DynamoDB table; also backend.auditTable. Neither: the audit log
 *                                  keeps nothing and `karma audit` says what to set (UnrecordedAuditLog, app/audit.ts)
 *   AWS_ENDPOINT_URL_DYNAMODB      endpoint override for DynamoDB; else AWS_ENDPOINT_URL, then backend.endpoint
 *
 * A Neptune endpoint given as a host name becomes wss://HOST:PORT/gremlin (port 8182, TLS unless tls: false).
 */
import { join, resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';
import type { AuditLog } from '../ports.ts';
import type { Config } from '../core/model.ts';
import { SsmRuntimeStore } from '../adapters/ssm/runtime-store.ts';
import { SsmLockStore } from '../adapters/ssm/lock-store.ts';
import { NeptuneGraphStore } from '../adapters/neptune/graph-store.ts';
import { AUDIT_TABLE_NAME, keepBuilds } from '../core/config.ts';
import { UnrecordedAuditLog } from './audit.ts';
import { DirectoryBuildHistory } from '../adapters/history/directory-history.ts';
import type { Backend, BackendOptions } from './backend.ts';

export interface AwsBackendSettings {
  readonly region?: string;
  readonly ssmEndpoint?: string;
  readonly neptuneUrl: string;
  readonly iamAuth: boolean;
  readonly historyDir: string;
  /** The audit log's DynamoDB table; absent: nothing is audited (UnrecordedAuditLog). */
  readonly auditTable?: string;
  /** DynamoDB's endpoint override (only with an audit table). */
  readonly dynamodbEndpoint?: string;
}

/** Resolves where everything lives; throws a UsageError saying what to set when Neptune's endpoint is missing. */
export function awsBackendSettings(config: Config | undefined, options: BackendOptions, env: NodeJS.ProcessEnv = process.env): AwsBackendSettings {
  const backend = config?.project.backend.type === 'aws' ? config.project.backend : undefined;
  const neptune = backend?.neptune;
  let neptuneUrl = env['KARMA_NEPTUNE_ENDPOINT'];
  if (!neptuneUrl && neptune) {
    neptuneUrl = neptune.endpoint.includes('://')
      ? neptune.endpoint
      : `${neptune.tls === false ? 'ws' : 'wss'}://${neptune.endpoint}:${neptune.port ?? 8182}/gremlin`;
  }
  if (!neptuneUrl) {
    throw new UsageError(
      'the aws backend needs a Neptune endpoint: set backend.neptune.endpoint in karma.yaml (the cluster endpoint host) or KARMA_NEPTUNE_ENDPOINT (e.g. ws://127.0.0.1:8182/gremlin for a local Gremlin Server)',
    );
  }
  if (!/^wss?:\/\//.test(neptuneUrl)) {
    throw new UsageError(`the Neptune endpoint must be a ws:// or wss:// URL, got "${neptuneUrl}"`);
  }
  const iamEnv = env['KARMA_NEPTUNE_IAM_AUTH'];
  if (iamEnv !== undefined && iamEnv !== 'true' && iamEnv !== 'false') {
    throw new UsageError(`KARMA_NEPTUNE_IAM_AUTH must be true or false, got "${iamEnv}"`);
  }
  const region = env['AWS_REGION'] ?? backend?.region ?? env['AWS_DEFAULT_REGION'];
  const ssmEndpoint = env['AWS_ENDPOINT_URL_SSM'] ?? env['AWS_ENDPOINT_URL'] ?? backend?.endpoint;
  const auditTable = env['KARMA_AUDIT_TABLE'] || backend?.auditTable;
  if (auditTable !== undefined && !AUDIT_TABLE_NAME.test(auditTable)) {
    throw new UsageError(`KARMA_AUDIT_TABLE must be a DynamoDB table name (3 to 255 letters, digits, _ . -), got "${auditTable}"`);
  }
  const dynamodbEndpoint = auditTable ? (env['AWS_ENDPOINT_URL_DYNAMODB'] ?? env['AWS_ENDPOINT_URL'] ?? backend?.endpoint) : undefined;
  return {
    ...(region ? { region } : {}),
    ...(ssmEndpoint ? { ssmEndpoint } : {}),
    neptuneUrl,
    iamAuth: iamEnv !== undefined ? iamEnv === 'true' : (neptune?.iamAuth ?? false),
    historyDir: env['KARMA_HISTORY_DIR'] ? resolve(env['KARMA_HISTORY_DIR']) : join(resolve(options.baseDir), '.karma', 'history'),
    ...(auditTable ? { auditTable } : {}),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
  };
}

export async function openAwsBackend(config: Config | undefined, options: BackendOptions): Promise<Backend> {
  const s = awsBackendSettings(config, options);
  const runtime = new SsmRuntimeStore({ ...(s.region ? { region: s.region } : {}), ...(s.ssmEndpoint ? { endpoint: s.ssmEndpoint } : {}) });
  const graph = new NeptuneGraphStore({
    endpoint: s.neptuneUrl,
    iamAuth: s.iamAuth,
    ...(s.region ? { region: s.region } : {}),
    history: new DirectoryBuildHistory(s.historyDir, { keep: keepBuilds(config) }),
  });
  // The DynamoDB client loads only with a table: the pipeline's functions, which have none, do not pay for it.
  const audit: AuditLog & { close?: () => Promise<void> } = s.auditTable
    ? new (await import('../adapters/dynamodb/audit-log.ts')).DynamoAuditLog({
        table: s.auditTable,
        ...(s.region ? { region: s.region } : {}),
        ...(s.dynamodbEndpoint ? { endpoint: s.dynamodbEndpoint } : {}),
      })
    : new UnrecordedAuditLog();
  return {
    type: 'aws',
    description: `SSM Parameter Store${s.ssmEndpoint ? ` at ${s.ssmEndpoint}` : s.region ? ` in ${s.region}` : ''} + Neptune at ${s.neptuneUrl}${s.auditTable ? ` + DynamoDB audit table ${s.auditTable}` : ''}`,
    runtime,
    graph,
    locks: new SsmLockStore(runtime.client, `${config?.project.parameterPrefix ?? '/karma'}-locks`),
    audit,
    close: async () => {
      await Promise.all([runtime.close(), graph.close(), audit.close?.()]);
    },
  };
}
