/**
 * AuditLog on a DynamoDB table (docs/audit.md has the design and the CDK side):
 *
 *   partition key `log` (S, always "audit"), sort key `id` (S, `<at>#<16 hex>`: sorts as time does)
 *   GSI `byChange`: partition key `change` (S), sort key `id` (S), projection ALL
 *
 * - append: PutItem with `attribute_not_exists(id)`: an entry is never overwritten. On
 *   ConditionalCheckFailedException the item that is there comes back (ReturnValuesOnConditionCheckFailure
 *   ALL_OLD): when it is this very entry, an earlier attempt of this same call landed and its answer was lost
 *   (the SDK retried), so the entry is written once and returned; otherwise it is a true collision of ids and the
 *   put is retried once with a new random id. A second collision is an AuditEntryExistsError, nothing written.
 * - list: Query, ScanIndexForward false (newest first), on the table (`log = "audit"`, strongly consistent) or on
 *   `byChange` (`change = :change`, eventually consistent: an entry just appended may show a moment later). The
 *   cursor is an entry id and becomes a key condition, `id < :after`, not an ExclusiveStartKey: the same for the
 *   table and the index (whose start key would need log, change and id), and a cursor whose entry is unknown
 *   still means "older than this". One item more than asked is read (over several requests when a 1 MB response
 *   page ends early), so the last page has no `next`.
 *
 * Attributes are marshalled here by hand (no @aws-sdk/util-dynamodb): every attribute is a string; the diff is
 * stored as its JSON text (entries are bounded to 256 KiB by ../audit.ts, under DynamoDB's 400 KB item limit).
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClientConfig,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { StoreError } from '../../core/errors.ts';
import type { AuditAction, AuditEntry, AuditLog } from '../../ports.ts';
import { AuditEntryExistsError, checkAuditCursor, checkAuditEntry, checkAuditLimit, newAuditId, type NewAuditEntry } from '../audit.ts';

/** The value of the partition key `log` of every entry. */
export const AUDIT_PARTITION = 'audit';
/** The index that finds one change's entries. */
export const AUDIT_BY_CHANGE_INDEX = 'byChange';

/**
 * The table as this adapter reads and writes it (the key design above): what the tests create on moto.
 * lib/infra/api.ts declares the same keys and index in CDK (the CDK code may not import adapters).
 */
export function auditTableDefinition(table: string): CreateTableCommandInput {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'log', AttributeType: 'S' },
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'change', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'log', KeyType: 'HASH' },
      { AttributeName: 'id', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: AUDIT_BY_CHANGE_INDEX,
        KeySchema: [
          { AttributeName: 'change', KeyType: 'HASH' },
          { AttributeName: 'id', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

export interface DynamoAuditLogOptions {
  readonly table: string;
  /** A ready client (tests, custom credentials). Otherwise one is built from the standard SDK chain. */
  readonly client?: DynamoDBClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). The SDK also honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoint?: string;
  /** How an id is made (tests force a collision with it). @default newAuditId */
  readonly newId?: (at: string) => string;
}

type Item = Record<string, AttributeValue>;

const OPTIONAL = ['commit', 'result', 'execution'] as const;

function toItem(id: string, entry: NewAuditEntry): Item {
  const item: Item = {
    log: { S: AUDIT_PARTITION },
    id: { S: id },
    at: { S: entry.at },
    actor: { S: entry.actor },
    action: { S: entry.action },
    change: { S: entry.change },
    component: { S: entry.component },
    env: { S: entry.env },
  };
  for (const field of OPTIONAL) {
    const value = entry[field];
    if (value !== undefined) item[field] = { S: value };
  }
  if (entry.diff !== undefined) item['diff'] = { S: JSON.stringify(entry.diff) };
  return item;
}

function text(item: Item, name: string): string | undefined {
  return item[name]?.S;
}

function toEntry(item: Item): AuditEntry {
  const required = (name: string): string => {
    const v = text(item, name);
    if (v === undefined) throw new StoreError(`the audit table holds an item without ${name} (id ${text(item, 'id') ?? '?'}): it was not written by Karma`);
    return v;
  };
  const [commit, diff, result, execution] = [text(item, 'commit'), text(item, 'diff'), text(item, 'result'), text(item, 'execution')];
  // The fields in the order the port declares them, as the local log returns them.
  return {
    id: required('id'),
    at: required('at'),
    actor: required('actor'),
    action: required('action') as AuditAction,
    change: required('change'),
    component: required('component'),
    env: required('env'),
    ...(commit !== undefined ? { commit } : {}),
    ...(diff !== undefined ? { diff: JSON.parse(diff) as unknown[] } : {}),
    ...(result !== undefined ? { result } : {}),
    ...(execution !== undefined ? { execution } : {}),
  };
}

/** Same attributes, same string values: the item a ConditionalCheckFailedException returned is this one. */
function sameItem(a: Item, b: Item): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k]?.S !== undefined && a[k]?.S === b[k]?.S);
}

function describeAwsError(error: unknown): string {
  const e = error as { name?: string; message?: string };
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${(e?.message ?? String(error)).split('\n')[0]}`;
}

export class DynamoAuditLog implements AuditLog {
  readonly description: string;
  readonly client: DynamoDBClient;
  readonly table: string;
  private readonly ownsClient: boolean;
  private readonly newId: (at: string) => string;

  constructor(options: DynamoAuditLogOptions) {
    const config: DynamoDBClientConfig = { retryMode: 'adaptive', maxAttempts: 4 };
    if (options.region) config.region = options.region;
    if (options.endpoint) config.endpoint = options.endpoint;
    this.client = options.client ?? new DynamoDBClient(config);
    this.ownsClient = !options.client;
    this.table = options.table;
    this.newId = options.newId ?? newAuditId;
    this.description = `DynamoDB table ${options.table}${options.endpoint ? ` at ${options.endpoint}` : options.region ? ` in ${options.region}` : ''}`;
  }

  private failure(what: string, error: unknown): StoreError {
    const missing = (error as { name?: string }).name === 'ResourceNotFoundException' ? ' (does the table exist in this account and region? KARMA_AUDIT_TABLE or karma.yaml backend.auditTable names it)' : '';
    return new StoreError(`DynamoDB ${what} on the audit table ${this.table} failed: ${describeAwsError(error)}${missing}`, { cause: error });
  }

  async append(input: NewAuditEntry): Promise<AuditEntry> {
    const entry = checkAuditEntry(input);
    let taken: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = this.newId(entry.at);
      const item = toItem(id, entry);
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(id)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { id, ...entry };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) && (error as { name?: string }).name !== 'ConditionalCheckFailedException') throw this.failure('PutItem', error);
        const there = (error as ConditionalCheckFailedException).Item;
        if (there && sameItem(item, there)) return { id, ...entry }; // our own earlier attempt landed
        taken = id;
      }
    }
    throw new AuditEntryExistsError(`cannot append to the audit table ${this.table}: the id ${taken} is taken, twice in a row with a fresh id; nothing was written`);
  }

  async list(options: { readonly limit: number; readonly after?: string; readonly change?: string }): Promise<{ entries: AuditEntry[]; next?: string }> {
    const limit = checkAuditLimit(options.limit);
    const after = checkAuditCursor(options.after);
    const byChange = options.change !== undefined;
    const base: QueryCommandInput = {
      TableName: this.table,
      ScanIndexForward: false,
      KeyConditionExpression: `#pk = :pk${after !== undefined ? ' AND #id < :after' : ''}`,
      ExpressionAttributeNames: { '#pk': byChange ? 'change' : 'log', ...(after !== undefined ? { '#id': 'id' } : {}) },
      ExpressionAttributeValues: { ':pk': { S: byChange ? options.change! : AUDIT_PARTITION }, ...(after !== undefined ? { ':after': { S: after } } : {}) },
      ...(byChange ? { IndexName: AUDIT_BY_CHANGE_INDEX } : { ConsistentRead: true }),
    };
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new QueryCommand({ ...base, Limit: limit + 1 - items.length, ...(start ? { ExclusiveStartKey: start } : {}) }));
      } catch (error) {
        throw this.failure('Query', error);
      }
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && items.length <= limit);
    const entries = items.slice(0, limit).map(toEntry);
    return items.length > limit ? { entries, next: entries.at(-1)!.id } : { entries };
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
