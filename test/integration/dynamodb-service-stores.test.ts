/**
 * The service's stores in AWS against a real moto server: the shared contract
 * (test/support/service-stores-contract.ts) on a DynamoDB table made with the adapter's own definition
 * (serviceTableDefinition: pk/sk, on-demand), a second service instance being a second client on the same table;
 * then the change feeds: SQS (SSM's EventBridge events, sent to the queue by the test) and DescribeParameters
 * compared by version (moto SSM), and openServiceStores's settings.
 */
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoChangeQueue, DynamoDeliveryLog, DynamoRolloutStore, SERVICE_TABLE_KEYS, serviceTableDefinition } from '../../lib/adapters/dynamodb/service-table.ts';
import { DescribeParametersChangeFeed, parameterChangeName, SqsParameterChangeFeed } from '../../lib/adapters/ssm/parameter-changes.ts';
import { awsServiceSettings, openServiceStores } from '../../lib/app/service-stores.ts';
import { StoreError, UsageError } from '../../lib/core/errors.ts';
import { at, request, serviceStoresContract } from '../support/service-stores-contract.ts';
import { motoClientConfig, standInEnv, withEnv } from '../support/stand-ins.ts';

let dynamo: DynamoDBClient;
let sqs: SQSClient;
let ssm: SSMClient;
beforeAll(() => {
  dynamo = new DynamoDBClient(motoClientConfig());
  sqs = new SQSClient(motoClientConfig());
  ssm = new SSMClient(motoClientConfig());
});
afterAll(() => {
  dynamo.destroy();
  sqs.destroy();
  ssm.destroy();
});

/** A fresh table: moto's tables live as long as the server. */
async function freshTable(): Promise<string> {
  const table = `karma-service-${randomUUID().slice(0, 8)}`;
  await dynamo.send(new CreateTableCommand(serviceTableDefinition(table)));
  return table;
}

serviceStoresContract('DynamoDB on moto', async () => {
  const table = await freshTable();
  return {
    queue: new DynamoChangeQueue({ table, client: dynamo }),
    rollouts: new DynamoRolloutStore({ table, client: dynamo }),
    deliveries: new DynamoDeliveryLog({ table, client: dynamo }),
    second: async () => {
      const other = new DynamoDBClient(motoClientConfig());
      return { queue: new DynamoChangeQueue({ table, client: other }), close: async () => other.destroy() };
    },
    close: async () => undefined, // a given client is not destroyed by the stores
  };
});

describe('the DynamoDB service table on moto', () => {
  it('has the key design the docs give: pk and sk strings, on demand, no index', async () => {
    const table = await freshTable();
    const described = (await dynamo.send(new DescribeTableCommand({ TableName: table }))).Table!;
    expect(SERVICE_TABLE_KEYS).toEqual({ partition: 'pk', sort: 'sk' });
    expect(described.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(described.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(described.GlobalSecondaryIndexes ?? []).toEqual([]);
  });

  it('holds the items the docs list: the counter, the entry, its pointer, the env slot or running item, rollouts, deliveries', async () => {
    // Prepare
    const table = await freshTable();
    const queue = new DynamoChangeQueue({ table, client: dynamo });
    await queue.enqueue(request('p-1'), at(1));
    await queue.enqueue(request('p-2'), at(2));
    await queue.claimNext('karma-dev', 'host:1:t0', at(3));
    await new DynamoDeliveryLog({ table, client: dynamo }).recordFailed({
      webhook: 'chat', event: 'change.finished', target: 'https://h.example.com/x', attempts: 3, lastStatus: 500, lastError: 'HTTP 500', firstAttemptAt: at(1), failedAt: at(2), payload: '{}',
    });

    // Act
    const items = (await dynamo.send(new ScanCommand({ TableName: table }))).Items ?? [];

    // Assess
    expect(items.map((i) => `${i['pk']!.S} | ${i['sk']!.S}`).sort()).toEqual([
      'change#p-1 | apply',
      'change#p-2 | apply',
      'counter | queue-seq',
      expect.stringMatching(/^deliveries \| 2026-12-02T10:00:02\.000Z#[0-9a-f]{16}$/) as unknown as string,
      'env#karma-dev | queued#0000000000000002',
      'env#karma-dev | running',
      'queue | 0000000000000001',
      'queue | 0000000000000002',
    ]);
    const running = items.find((i) => i['sk']!.S === 'running')!;
    expect([running['id']!.S, running['seq']!.N, running['owner']!.S]).toEqual(['p-1', '1', 'host:1:t0']);
  });

  it('two instances that both read "nothing running": the second, which then finds the next entry, is refused by the running item', async () => {
    // Prepare: instance B has read "nothing running" in karma-dev; its Query of the queued slots waits until
    // instance A has claimed p-1. B then finds p-2, and only the condition on the env's running item stops it.
    const table = await freshTable();
    const a = new DynamoChangeQueue({ table, client: dynamo });
    await a.enqueue(request('p-1'), at(1));
    await a.enqueue(request('p-2'), at(2));
    const slow = new DynamoDBClient(motoClientConfig());
    let reached!: () => void;
    const atQuery = new Promise<void>((ok) => (reached = ok));
    let proceed!: () => void;
    const go = new Promise<void>((ok) => (proceed = ok));
    const transactions: string[] = [];
    slow.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') {
          reached();
          await go;
        }
        try {
          return await next(args);
        } catch (error) {
          if (context.commandName === 'TransactWriteItemsCommand') transactions.push((error as { name?: string }).name ?? '?');
          throw error;
        }
      },
      { step: 'initialize', name: 'holdQueries' },
    );
    const b = new DynamoChangeQueue({ table, client: slow });

    // Act
    const claimB = b.claimNext('karma-dev', 'B', at(3));
    await atQuery;
    const claimA = await a.claimNext('karma-dev', 'A', at(3));
    proceed();
    const lost = await claimB;

    // Assess
    expect(claimA).toMatchObject({ id: 'p-1', owner: 'A', attempts: 1 });
    expect(lost).toBeNull();
    expect(transactions).toEqual(['TransactionCanceledException']);
    expect(await a.get('p-1')).toEqual(claimA);
    expect(await a.get('p-2')).toMatchObject({ state: 'queued', attempts: 0 });
    slow.destroy();
  });

  it('says which table is missing, and what names it', async () => {
    const queue = new DynamoChangeQueue({ table: 'karma-service-missing', client: dynamo });
    const failed = queue.get('p-1');
    await expect(failed).rejects.toBeInstanceOf(StoreError);
    await expect(failed).rejects.toThrow(/^DynamoDB GetItem on the service table karma-service-missing failed: ResourceNotFoundException: .*KARMA_SERVICE_TABLE names it\)$/);
  });
});

/** An SSM "Parameter Store Change" event as EventBridge delivers it to an SQS target. */
const ssmEvent = (name: string, operation = 'Update'): string =>
  JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Parameter Store Change',
    source: 'aws.ssm',
    account: '123456789012',
    time: '2026-12-02T10:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:ssm:us-east-1:123456789012:parameter${name}`],
    detail: { name, type: 'String', operation },
  });

describe('SqsParameterChangeFeed on moto SQS (events sent by the test: moto\'s EventBridge does not deliver to SQS reliably)', () => {
  const freshQueue = async (): Promise<string> => (await sqs.send(new CreateQueueCommand({ QueueName: `karma-ssm-events-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
  const inQueue = async (url: string): Promise<number> => {
    const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
    return Number(a['ApproximateNumberOfMessages'] ?? 0) + Number(a['ApproximateNumberOfMessagesNotVisible'] ?? 0);
  };

  it('names the parameters under the prefix or in the set, once each, and deletes the messages the next poll acknowledges', async () => {
    // Prepare
    const url = await freshQueue();
    const feed = new SqsParameterChangeFeed({ queueUrl: url, client: sqs, prefix: '/karma', names: new Set(['/shared/dns/zone']), waitSeconds: 0 });
    const start = await feed.poll(undefined);
    const bodies = [
      ssmEvent('/karma/dev/net/outputs/id', 'Create'),
      ssmEvent('/karma/dev/app/state'),
      ssmEvent('/karma/dev/net/outputs/id'),
      ssmEvent('/karma-other/dev/x'), // shares the prefix's text, not its path
      ssmEvent('/shared/dns/zone', 'Delete'),
      ssmEvent('/shared/unwatched'),
      '{"not":"an event"}',
      JSON.stringify({ Type: 'Notification', Message: ssmEvent('/karma/prod/app/state') }), // through an SNS topic
    ];
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));

    // Act
    const first = await feed.poll(start.cursor);
    const leftBeforeAck = await inQueue(url);
    const second = await feed.poll(first.cursor);

    // Assess
    expect([...first.changed].sort()).toEqual(['/karma/dev/app/state', '/karma/dev/net/outputs/id', '/karma/prod/app/state', '/shared/dns/zone']);
    expect(first.reset).toBeUndefined();
    expect(feed.ignored).toBe(3);
    expect(leftBeforeAck).toBe(8); // received, in flight, not deleted until acknowledged
    expect(second.changed).toEqual([]);
    expect(await inQueue(url)).toBe(0);
    await feed.close();
  });

  it('reads more than one receive of 10 in a poll, up to maxMessages', async () => {
    const url = await freshQueue();
    const feed = new SqsParameterChangeFeed({ queueUrl: url, client: sqs, prefix: '/karma/', waitSeconds: 0, maxMessages: 25 });
    for (let i = 0; i < 30; i++) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: ssmEvent(`/karma/dev/c${i}/state`) }));
    const { cursor } = await feed.poll(undefined);

    const first = await feed.poll(cursor);
    const second = await feed.poll(first.cursor);
    const third = await feed.poll(second.cursor);

    expect(first.changed).toHaveLength(25);
    expect(second.changed).toHaveLength(5);
    expect(new Set([...first.changed, ...second.changed]).size).toBe(30);
    expect(third.changed).toEqual([]);
  });

  it('parses the EventBridge event, raw or in an SNS notification, and nothing else', () => {
    expect(parameterChangeName(ssmEvent('/karma/a'))).toBe('/karma/a');
    expect(parameterChangeName(JSON.stringify({ Type: 'Notification', Message: ssmEvent('/karma/b') }))).toBe('/karma/b');
    expect(parameterChangeName(JSON.stringify({ source: 'aws.ssm', 'detail-type': 'Parameter Store Policy Action', detail: { name: '/karma/c' } }))).toBeUndefined();
    expect(parameterChangeName('not json')).toBeUndefined();
    expect(parameterChangeName(undefined)).toBeUndefined();
  });

  it('a missing queue is a StoreError naming the queue and what names it', async () => {
    const url = (await freshQueue()).replace(/[^/]+$/, 'karma-no-such-queue');
    const feed = new SqsParameterChangeFeed({ queueUrl: url, client: sqs, prefix: '/karma', waitSeconds: 0 });
    await expect(feed.poll('sqs:00000000:0')).rejects.toThrow(new RegExp(`^SQS ReceiveMessage on ${url} failed: .*KARMA_SSM_EVENTS_QUEUE_URL names it\\)$`));
  });
});

describe('DescribeParametersChangeFeed on moto SSM', () => {
  it('names the parameters created, updated or deleted under the prefix (and in the set) since the last poll', async () => {
    // Prepare: a prefix of this test's own (moto is shared by every test file), 23 parameters: 3 pages of 10.
    const prefix = `/karma-test-${randomUUID().slice(0, 8)}`;
    const outside = `/shared-${randomUUID().slice(0, 8)}/zone`;
    const put = (name: string, value: string): Promise<unknown> => ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
    for (let i = 0; i < 23; i++) await put(`${prefix}/dev/c${i}/state`, 'v1');
    await put(outside, 'z1');
    await put(`${prefix}-other/x`, 'not followed');
    let clock = 0;
    const feed = new DescribeParametersChangeFeed({ client: ssm, prefix, names: new Set([outside]), minIntervalMs: 1_000, now: () => clock, tps: 1_000 });

    // Act
    const start = await feed.poll(undefined);
    const callsForOneScan = feed.calls;
    await put(`${prefix}/dev/c3/state`, 'v2');
    await put(`${prefix}/dev/new/state`, 'v1');
    await ssm.send(new DeleteParameterCommand({ Name: `${prefix}/dev/c7/state` }));
    await put(outside, 'z2');
    await put(`${prefix}-other/x`, 'changed, not followed');
    const tooSoon = await feed.poll(start.cursor);
    clock += 1_000;
    const changed = await feed.poll(start.cursor);
    clock += 1_000;
    const quiet = await feed.poll(changed.cursor);
    const stale = await feed.poll(start.cursor);
    const foreign = await new DescribeParametersChangeFeed({ client: ssm, prefix }).poll(changed.cursor);

    // Assess
    expect(start.changed).toEqual([]);
    expect(callsForOneScan).toBe(4); // 3 pages under the prefix + 1 for the name outside it
    expect(tooSoon).toEqual({ cursor: start.cursor, changed: [] });
    expect(changed.changed).toEqual([`${prefix}/dev/c3/state`, `${prefix}/dev/c7/state`, `${prefix}/dev/new/state`, outside].sort());
    expect(changed.cursor).not.toBe(start.cursor);
    expect(quiet).toEqual({ cursor: changed.cursor, changed: [] });
    expect(stale.reset).toBe(true);
    expect(foreign.reset).toBe(true);
    await feed.close();
  });
});

describe('openServiceStores on the aws backend', () => {
  it('opens the table from KARMA_SERVICE_TABLE and the SQS feed from KARMA_SSM_EVENTS_QUEUE_URL, all at the stand-ins', async () => {
    // Prepare
    const table = await freshTable();
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: `karma-ssm-events-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
    const env = standInEnv({ KARMA_SERVICE_TABLE: table, KARMA_SSM_EVENTS_QUEUE_URL: url });

    await withEnv(env, async () => {
      // Act
      const stores = await openServiceStores(undefined, { baseDir: '.', type: 'aws', feedWaitSeconds: 0 });
      try {
        const entry = await stores.queue.enqueue(request('p-1'), at(1));
        const { cursor } = await stores.changes.poll(undefined);
        await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: ssmEvent('/karma/karma-dev/app/state') }));
        const polled = await stores.changes.poll(cursor);

        // Assess
        expect(stores.queue.description).toBe(`the apply queue in DynamoDB table ${table} at ${env['AWS_ENDPOINT_URL']}`);
        expect(stores.changes.description).toBe(`SSM change events from the SQS queue ${url}`);
        expect(await new DynamoChangeQueue({ table, client: dynamo }).get('p-1')).toEqual(entry);
        expect(polled.changed).toEqual(['/karma/karma-dev/app/state']);
      } finally {
        await stores.close();
      }
    });
  });

  it('without a queue URL the feed is DescribeParameters; without a table, one line says what to set', async () => {
    const table = await freshTable();
    await withEnv({ ...standInEnv({ KARMA_SERVICE_TABLE: table }), KARMA_SSM_EVENTS_QUEUE_URL: undefined }, async () => {
      const stores = await openServiceStores(undefined, { baseDir: '.', type: 'aws' });
      expect(stores.changes.description).toBe('SSM DescribeParameters under /karma, compared by version');
      await stores.close();
    });
    const missing = (() => {
      try {
        return awsServiceSettings(undefined, { AWS_REGION: 'us-east-1' });
      } catch (error) {
        return error;
      }
    })();
    expect(missing).toBeInstanceOf(UsageError);
    expect((missing as Error).message).toBe(
      'the service on the aws backend keeps its queue, rollouts and failed deliveries in DynamoDB: set KARMA_SERVICE_TABLE to the table (docs/service-stores.md)',
    );
    expect(() => awsServiceSettings(undefined, { KARMA_SERVICE_TABLE: 'a b' })).toThrow('KARMA_SERVICE_TABLE must be a DynamoDB table name (3 to 255 letters, digits, _ . -), got "a b"');
    expect(awsServiceSettings(undefined, { KARMA_SERVICE_TABLE: 'svc', AWS_ENDPOINT_URL: 'http://e', AWS_ENDPOINT_URL_SQS: 'http://q', KARMA_SSM_EVENTS_QUEUE_URL: 'http://q/1/events' })).toEqual({
      table: 'svc',
      prefix: '/karma',
      dynamodbEndpoint: 'http://e',
      queueUrl: 'http://q/1/events',
      sqsEndpoint: 'http://q',
    });
  });
});
