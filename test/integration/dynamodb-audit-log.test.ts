/**
 * The DynamoDB audit log (lib/adapters/dynamodb/audit-log.ts) against a real moto server: the shared AuditLog
 * contract (test/support/audit-contract.ts) on a table made here with the documented key schema and GSI, then
 * what only DynamoDB adds: the conditional write itself, a lost answer of a put that landed (no duplicate), the
 * requests a page costs, and `karma audit --backend aws` reading the table the aws backend writes.
 */
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTableDefinition, DynamoAuditLog } from '../../lib/adapters/dynamodb/audit-log.ts';
import { openBackend } from '../../lib/app/backend.ts';
import { auditPage } from '../../lib/app/audit.ts';
import { StoreError } from '../../lib/core/errors.ts';
import { auditLogContract, entryAt } from '../support/audit-contract.ts';
import { karma, onlyJson } from '../support/cli.ts';
import { motoClientConfig, standInEnv, withEnv } from '../support/stand-ins.ts';
import { makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';

let client: DynamoDBClient;
const dirs: string[] = [];
beforeAll(() => {
  client = new DynamoDBClient(motoClientConfig());
});
afterAll(() => {
  client.destroy();
  dirs.forEach(removeDir);
});

/** A fresh table with the documented design (docs/audit.md): moto's tables live as long as the server. */
async function freshTable(): Promise<string> {
  const table = `karma-audit-${randomUUID().slice(0, 8)}`;
  await client.send(
    new CreateTableCommand(auditTableDefinition(table)),
  );
  return table;
}

auditLogContract('DynamoDB on moto', async () => {
  const table = await freshTable();
  const logs: DynamoAuditLog[] = [];
  return {
    log: (newId) => {
      const log = new DynamoAuditLog({ table, client, ...(newId ? { newId } : {}) });
      logs.push(log);
      return log;
    },
    close: async () => {
      await Promise.all(logs.map((l) => l.close())); // a given client is not destroyed by the log
    },
  };
});

describe('DynamoAuditLog on moto', () => {
  it('the table refuses a second put of an id under the condition the log writes with', async () => {
    // Prepare
    const table = await freshTable();
    const entry = await new DynamoAuditLog({ table, client }).append(entryAt(1, 'chg-1', { result: 'the original' }));

    // Act: a put of the same id, as the log makes it, but of other content.
    const overwrite = client.send(
      new PutItemCommand({
        TableName: table,
        Item: { log: { S: 'audit' }, id: { S: entry.id }, result: { S: 'rewritten' } },
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );

    // Assess
    await expect(overwrite).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const items = (await client.send(new ScanCommand({ TableName: table }))).Items ?? [];
    expect(items).toHaveLength(1);
    expect(items[0]!['result']).toEqual({ S: 'the original' });
  });

  it('a put that landed but whose answer was lost (the SDK retried) is one entry, not two', async () => {
    // Prepare: the item this append will write is already there, exactly: what a first attempt leaves behind.
    const table = await freshTable();
    const id = '2026-12-02T10:00:01.000Z#00000000000000cc';
    const landed = await new DynamoAuditLog({ table, client, newId: () => id }).append(entryAt(1, 'chg-1', { diff: [{ path: 'a', kind: 'added', after: 1 }] }));
    let made = 0;
    const retrying = new DynamoAuditLog({ table, client, newId: () => (made++ === 0 ? id : '2026-12-02T10:00:01.000Z#00000000000000dd') });

    // Act
    const again = await retrying.append(entryAt(1, 'chg-1', { diff: [{ path: 'a', kind: 'added', after: 1 }] }));

    // Assess
    expect(again).toEqual(landed);
    expect(made).toBe(1); // recognised as its own: no second id made
    expect((await client.send(new ScanCommand({ TableName: table }))).Items).toHaveLength(1);
  });

  it('reads a page in one Query of limit + 1 items, newest first, and the change filter on the index', async () => {
    // Prepare: count the requests the log's own client sends.
    const table = await freshTable();
    const own = new DynamoDBClient(motoClientConfig());
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    own.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ name: context.commandName ?? '?', input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    const log = new DynamoAuditLog({ table, client: own });
    for (let s = 1; s <= 5; s++) await log.append(entryAt(s, s <= 2 ? 'chg-old' : 'chg-new'));
    sent.length = 0;

    // Act
    const page = await log.list({ limit: 2 });
    const changePage = await log.list({ limit: 2, change: 'chg-old' });

    // Assess
    expect(page.entries.map((e) => e.at)).toEqual(['2026-12-02T10:00:05.000Z', '2026-12-02T10:00:04.000Z']);
    expect(changePage).toEqual({ entries: [expect.objectContaining({ at: '2026-12-02T10:00:02.000Z' }), expect.objectContaining({ at: '2026-12-02T10:00:01.000Z' })] });
    expect(sent.map((s) => [s.name, s.input['Limit'], s.input['IndexName'], s.input['ScanIndexForward'], s.input['ConsistentRead']])).toEqual([
      ['QueryCommand', 3, undefined, false, true],
      ['QueryCommand', 3, 'byChange', false, undefined],
    ]);
    own.destroy();
  });

  it('fills a page over several requests when a 1 MB response ends early', async () => {
    // Prepare: 6 entries of ~240 KB: a 1 MB response holds 4 of them.
    const table = await freshTable();
    const own = new DynamoDBClient(motoClientConfig());
    const limits: unknown[] = [];
    own.middlewareStack.add(
      (next) => async (args) => {
        limits.push((args.input as Record<string, unknown>)['Limit']);
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    const log = new DynamoAuditLog({ table, client: own });
    const ids: string[] = [];
    for (let s = 1; s <= 6; s++) ids.unshift((await log.append(entryAt(s, 'chg-1', { result: 'r'.repeat(240_000) }))).id);
    limits.length = 0;

    // Act
    const page = await log.list({ limit: 5 });
    const rest = await log.list({ limit: 5, after: page.next! });

    // Assess
    expect(page.entries.map((e) => e.id)).toEqual(ids.slice(0, 5));
    expect(page.next).toBe(ids[4]);
    expect(rest).toEqual({ entries: [expect.objectContaining({ id: ids[5] })] });
    expect(limits.slice(0, 2)).toEqual([6, 2]); // 4 came back in the first 1 MB, 2 more asked for
    own.destroy();
  });

  it('says which table is missing, and what names it', async () => {
    const log = new DynamoAuditLog({ table: 'karma-audit-missing', client });
    const failed = log.list({ limit: 1 });
    await expect(failed).rejects.toBeInstanceOf(StoreError);
    await expect(failed).rejects.toThrow(/^DynamoDB Query on the audit table karma-audit-missing failed: ResourceNotFoundException: .*KARMA_AUDIT_TABLE or karma.yaml backend.auditTable names it\)$/);
  });

  it('the index the log queries exists with the design the docs give (the test table is the documented one)', async () => {
    const table = await freshTable();
    const described = (await client.send(new DescribeTableCommand({ TableName: table }))).Table!;
    expect(described.KeySchema).toEqual([
      { AttributeName: 'log', KeyType: 'HASH' },
      { AttributeName: 'id', KeyType: 'RANGE' },
    ]);
    expect(described.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.KeySchema, i.Projection?.ProjectionType])).toEqual([
      [
        'byChange',
        [
          { AttributeName: 'change', KeyType: 'HASH' },
          { AttributeName: 'id', KeyType: 'RANGE' },
        ],
        'ALL',
      ],
    ]);
    // And a key condition on the index with a cursor is accepted by the service as the log sends it.
    const q = await client.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'byChange',
        KeyConditionExpression: '#pk = :pk AND #id < :after',
        ExpressionAttributeNames: { '#pk': 'change', '#id': 'id' },
        ExpressionAttributeValues: { ':pk': { S: 'c' }, ':after': { S: 'z' } },
      }),
    );
    expect(q.Items).toEqual([]);
  });
});

describe('the aws backend and `karma audit --backend aws`', () => {
  it('writes through openBackend to KARMA_AUDIT_TABLE and the CLI pages through it', async () => {
    // Prepare
    const table = await freshTable();
    const tmp = makeTempDir('karma-audit-aws-');
    dirs.push(tmp);
    const repo = makeRepo(tmp);
    const env = standInEnv({ KARMA_AUDIT_TABLE: table });

    await withEnv(env, async () => {
      const backend = await openBackend(undefined, { baseDir: repo, type: 'aws' });
      const appended = [];
      try {
        expect(backend.audit.description).toBe(`DynamoDB table ${table} at ${env['AWS_ENDPOINT_URL']}`);
        for (let s = 1; s <= 3; s++) appended.push(await backend.audit.append(entryAt(s, 'chg-1', { actor: 'arn:aws:iam::111111111111:role/ci' })));
      } finally {
        await backend.close();
      }

      // Act
      const first = onlyJson(await karma('audit', '-c', repo, '--backend', 'aws', '--limit', '2', '--json')) as { entries: { id: string }[]; next: string | null };
      const rest = onlyJson(await karma('audit', '-c', repo, '--backend', 'aws', '--limit', '2', '--after', first.next!, '--json'));
      const table_ = await karma('audit', '-c', repo, '--backend', 'aws', '--change', 'chg-1');

      // Assess
      expect(first).toEqual({ entries: [appended[2], appended[1]], next: appended[1]!.id });
      expect(rest).toEqual({ entries: [appended[0]], next: null });
      expect(rest).toEqual(await auditPage(new DynamoAuditLog({ table, client }), { limit: 2, after: first.next! }));
      expect(table_.code).toBe(0);
      expect(table_.stdout[0]!.split('\n')).toHaveLength(4); // header + 3 entries
      expect(table_.stdout[0]).toContain('arn:aws:iam::111111111111:role/ci');
    });
  });

  it('without a table: appends keep nothing, and `karma audit` says what to set (exit 2)', async () => {
    const tmp = makeTempDir('karma-audit-aws-');
    dirs.push(tmp);
    const repo = makeRepo(tmp);
    await withEnv({ ...standInEnv(), KARMA_AUDIT_TABLE: undefined }, async () => {
      const run = await karma('audit', '-c', repo, '--backend', 'aws');
      expect(run).toEqual({
        code: 2,
        stdout: [],
        stderr: ['karma: there is no audit log to read: set KARMA_AUDIT_TABLE or backend.auditTable in karma.yaml to the DynamoDB table (docs/audit.md)'],
      });
    });
  });
});
