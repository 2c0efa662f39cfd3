/**
 * The stores `karma serve` keeps open for its life (ServiceStores, lib/ports.ts; docs/service-stores.md):
 *
 * - local: the apply queue, rollouts, failed deliveries and the parameter change log, as tables of the local
 *   store's SQLite file (the one the CLI and the pipeline use; created when missing), on a connection of the
 *   service's own.
 * - aws: one DynamoDB table for the queue, rollouts and deliveries, and the change feed from SQS or, without a
 *   queue, from DescribeParameters. From the environment (and karma.yaml's backend.region / backend.endpoint):
 *
 *   KARMA_SERVICE_TABLE            the service's DynamoDB table (required with the aws backend)
 *   KARMA_SSM_EVENTS_QUEUE_URL     the SQS queue EventBridge delivers SSM "Parameter Store Change" events to;
 *                                  unset: the feed compares DescribeParameters versions (slower, costlier)
 *   AWS_REGION, AWS_PROFILE, ...   the standard AWS SDK chain
 *   AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_SSM, then AWS_ENDPOINT_URL, then
 *   backend.endpoint               endpoint overrides (a local moto server)
 */
import { UsageError } from '../core/errors.ts';
import { AUDIT_TABLE_NAME } from '../core/config.ts';
import type { Config } from '../core/model.ts';
import type { ServiceStores } from '../ports.ts';
import { openDatabase } from '../adapters/local/database.ts';
import { LocalChangeQueue } from '../adapters/local/queue.ts';
import { LocalRolloutStore } from '../adapters/local/rollouts.ts';
import { LocalDeliveryLog } from '../adapters/local/deliveries.ts';
import { LocalRuntimeChangeFeed } from '../adapters/local/runtime-changes.ts';
import { localDatabasePath, type BackendOptions } from './backend.ts';

export interface ServiceStoresOptions extends BackendOptions {
  /** Parameters outside the prefix the change feed follows too (`${ssm:…}` inputs); the caller may update the set. */
  readonly names?: ReadonlySet<string>;
  /** Where the settings are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The SQS feed's long poll (WaitTimeSeconds of a poll's first receive). @default 1 */
  readonly feedWaitSeconds?: number;
  /** The DescribeParameters feed's least interval between two reads of every page. @default 30000 */
  readonly describeIntervalMs?: number;
}

export interface AwsServiceSettings {
  readonly table: string;
  readonly prefix: string;
  readonly region?: string;
  readonly dynamodbEndpoint?: string;
  readonly queueUrl?: string;
  readonly sqsEndpoint?: string;
  readonly ssmEndpoint?: string;
}

/** Where the aws service stores live; a UsageError saying what to set when the table is not named. */
export function awsServiceSettings(config: Config | undefined, env: NodeJS.ProcessEnv = process.env): AwsServiceSettings {
  const backend = config?.project.backend.type === 'aws' ? config.project.backend : undefined;
  const table = env['KARMA_SERVICE_TABLE'];
  if (!table) {
    throw new UsageError('the service on the aws backend keeps its queue, rollouts and failed deliveries in DynamoDB: set KARMA_SERVICE_TABLE to the table (docs/service-stores.md)');
  }
  if (!AUDIT_TABLE_NAME.test(table)) throw new UsageError(`KARMA_SERVICE_TABLE must be a DynamoDB table name (3 to 255 letters, digits, _ . -), got "${table}"`);
  const queueUrl = env['KARMA_SSM_EVENTS_QUEUE_URL'] || undefined;
  if (queueUrl !== undefined && !/^https?:\/\/\S+$/.test(queueUrl)) throw new UsageError(`KARMA_SSM_EVENTS_QUEUE_URL must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), got "${queueUrl}"`);
  const region = env['AWS_REGION'] ?? backend?.region ?? env['AWS_DEFAULT_REGION'];
  const endpoint = (service: string): string | undefined => env[`AWS_ENDPOINT_URL_${service}`] ?? env['AWS_ENDPOINT_URL'] ?? backend?.endpoint;
  const dynamodbEndpoint = endpoint('DYNAMODB');
  const sqsEndpoint = queueUrl !== undefined ? endpoint('SQS') : undefined;
  const ssmEndpoint = queueUrl === undefined ? endpoint('SSM') : undefined;
  return {
    table,
    prefix: config?.project.parameterPrefix ?? '/karma',
    ...(region ? { region } : {}),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(queueUrl ? { queueUrl } : {}),
    ...(sqsEndpoint ? { sqsEndpoint } : {}),
    ...(ssmEndpoint ? { ssmEndpoint } : {}),
  };
}

export async function openServiceStores(config: Config | undefined, options: ServiceStoresOptions): Promise<ServiceStores> {
  const type = options.type ?? config?.project.backend.type ?? 'local';
  if (type === 'local') {
    const file = localDatabasePath(config, options);
    const db = openDatabase(file, { create: true, ...(options.warn ? { warn: options.warn } : {}) });
    return {
      queue: new LocalChangeQueue(db, { description: `the apply queue of local store ${file}` }),
      rollouts: new LocalRolloutStore(db, { description: `the rollouts of local store ${file}` }),
      deliveries: new LocalDeliveryLog(db, { description: `the failed deliveries of local store ${file}` }),
      changes: new LocalRuntimeChangeFeed(db, { description: `the parameter change log of local store ${file}` }),
      close: async () => db.close(),
    };
  }
  const s = awsServiceSettings(config, options.env ?? process.env);
  // Loaded only here: the local service never loads the AWS SDK clients.
  const [{ DynamoDBClient }, table, feeds] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('../adapters/dynamodb/service-table.ts'),
    import('../adapters/ssm/parameter-changes.ts'),
  ]);
  const client = new DynamoDBClient({ retryMode: 'adaptive', maxAttempts: 4, ...(s.region ? { region: s.region } : {}), ...(s.dynamodbEndpoint ? { endpoint: s.dynamodbEndpoint } : {}) });
  const where = { table: s.table, client, ...(s.dynamodbEndpoint ? { endpoint: s.dynamodbEndpoint } : s.region ? { region: s.region } : {}) };
  const names = options.names ? { names: options.names } : {};
  const changes = s.queueUrl
    ? new feeds.SqsParameterChangeFeed({
        queueUrl: s.queueUrl,
        prefix: s.prefix,
        ...names,
        ...(s.region ? { region: s.region } : {}),
        ...(s.sqsEndpoint ? { endpoint: s.sqsEndpoint } : {}),
        ...(options.feedWaitSeconds !== undefined ? { waitSeconds: options.feedWaitSeconds } : {}),
      })
    : new feeds.DescribeParametersChangeFeed({
        prefix: s.prefix,
        ...names,
        ...(s.region ? { region: s.region } : {}),
        ...(s.ssmEndpoint ? { endpoint: s.ssmEndpoint } : {}),
        ...(options.describeIntervalMs !== undefined ? { minIntervalMs: options.describeIntervalMs } : {}),
      });
  return {
    queue: new table.DynamoChangeQueue(where),
    rollouts: new table.DynamoRolloutStore(where),
    deliveries: new table.DynamoDeliveryLog(where),
    changes,
    close: async () => {
      await changes.close();
      client.destroy();
    },
  };
}
