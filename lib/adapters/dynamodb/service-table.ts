/**
 * The service's durable state in ONE DynamoDB table (KARMA_SERVICE_TABLE; docs/service-stores.md): the apply
 * queue, the rollouts and the failed webhook deliveries. Keys: partition `pk` (S), sort `sk` (S), no index,
 * on-demand. Every read is strongly consistent; every change of more than one item is one TransactWriteItems.
 *
 *   pk                 sk                      what                                           attributes
 *   counter            queue-seq               the queue's seq counter (UpdateItem ADD)       n
 *   queue              <seq, 16 digits>        a queue entry (the truth), in arrival order    id env state attempts doc
 *   change#<id>        apply                   where change <id>'s entry is                   seq env state
 *   env#<env>          queued#<seq, 16 digits> one queued entry of <env>, oldest first        id
 *   env#<env>          running                 THE running entry of <env>: at most one        id seq owner
 *   rollouts           <createdAt>#<id>        a rollout, newest last                         id status version doc
 *   rollout#<id>       rollout                 where rollout <id> is                          key
 *   deliveries         <failedAt>#<16 hex>     a failed delivery                              doc
 *
 * - enqueue: seq from the counter (UpdateItem ADD n 1: atomic, increasing, gaps possible); then one transaction:
 *   the pointer (condition: absent, or done with the seq read, so two enqueues of one id cannot both land), the
 *   entry, the env's queued slot, and the old entry's delete when a done entry is replaced.
 * - claimNext: reads the env's running item and its oldest queued slot, then one transaction: put `running`
 *   (condition attribute_not_exists: two service instances claiming at once, one wins), delete the slot
 *   (condition: it exists), rewrite the entry (condition: still queued, same attempts), move the pointer. A
 *   transaction refused because something of the env runs now is `null`; refused for another reason (the entry
 *   moved under us), it reads again, up to 3 times.
 * - finish / release: one transaction each: delete `running` (condition: it is this id), rewrite the entry
 *   (condition: running), move the pointer; release also puts the queued slot back at its seq (first in line).
 * - rollouts: update is a put conditional on `version = next.version - 1`; create puts the rollout and its
 *   pointer, both conditional on absence.
 *
 * Documents are JSON text in `doc` (the fields the port declares); attributes used by keys and conditions are
 * beside it, marshalled by hand (no @aws-sdk/util-dynamodb). An item is at most 400 KB: a rollout's input is
 * bounded by that.
 */
import { randomUUID } from 'node:crypto';
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClientConfig,
  type QueryCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { StoreError } from '../../core/errors.ts';
import type { ChangeQueue, DeliveryLog, EnqueueRequest, FailedDelivery, QueueState, QueuedApply, Rollout, RolloutStatus, RolloutStore } from '../../ports.ts';
import {
  alreadyQueued,
  checkDelivery,
  checkEnqueue,
  checkListLimit,
  checkOwner,
  checkRollout,
  claimed,
  failedDelivery,
  finished,
  isoTime,
  newDeliveryId,
  newEntry,
  notInQueue,
  notRunning,
  notVersionOne,
  released,
  rolloutExists,
  staleRollout,
} from '../service-records.ts';

/** The table's key attributes (the CDK table uses the same; test/integration/dynamodb-service-stores.test.ts checks). */
export const SERVICE_TABLE_KEYS = { partition: 'pk', sort: 'sk' } as const;

/** The table as CreateTable makes it: the tests make theirs with this, the CDK construct declares the same. */
export function serviceTableDefinition(table: string): CreateTableCommandInput {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: SERVICE_TABLE_KEYS.partition, AttributeType: 'S' },
      { AttributeName: SERVICE_TABLE_KEYS.sort, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: SERVICE_TABLE_KEYS.partition, KeyType: 'HASH' },
      { AttributeName: SERVICE_TABLE_KEYS.sort, KeyType: 'RANGE' },
    ],
  };
}

type Item = Record<string, AttributeValue>;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });
const key = (pk: string, sk: string): Item => ({ pk: S(pk), sk: S(sk) });
const seqKey = (seq: number): string => String(seq).padStart(16, '0');

const COUNTER = key('counter', 'queue-seq');
const entryKey = (seq: number): Item => key('queue', seqKey(seq));
const pointerKey = (id: string): Item => key(`change#${id}`, 'apply');
const runningKey = (env: string): Item => key(`env#${env}`, 'running');
const slotKey = (env: string, seq: number): Item => key(`env#${env}`, `queued#${seqKey(seq)}`);
const rolloutPointerKey = (id: string): Item => key(`rollout#${id}`, 'rollout');

function describeAwsError(error: unknown): string {
  const e = error as { name?: string; message?: string };
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${(e?.message ?? String(error)).split('\n')[0]}`;
}

/** The codes of a cancelled transaction, one per item (`None` for an item that was not the cause). */
function cancellationCodes(error: unknown): string[] | undefined {
  const e = error as { name?: string; CancellationReasons?: { Code?: string }[] };
  if (e?.name !== 'TransactionCanceledException') return undefined;
  return (e.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

export interface DynamoServiceTableOptions {
  readonly table: string;
  /** A ready client (tests, one client for the three stores). Otherwise one is built from the standard SDK chain. */
  readonly client?: DynamoDBClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). The SDK also honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoint?: string;
}

/** What the three stores share: the client, the table, the error wording and the paging of a Query. */
class ServiceTable {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly where: string;
  private readonly ownsClient: boolean;

  constructor(options: DynamoServiceTableOptions) {
    const config: DynamoDBClientConfig = { retryMode: 'adaptive', maxAttempts: 4 };
    if (options.region) config.region = options.region;
    if (options.endpoint) config.endpoint = options.endpoint;
    this.client = options.client ?? new DynamoDBClient(config);
    this.ownsClient = !options.client;
    this.table = options.table;
    this.where = `DynamoDB table ${options.table}${options.endpoint ? ` at ${options.endpoint}` : options.region ? ` in ${options.region}` : ''}`;
  }

  failure(what: string, error: unknown): StoreError {
    const missing = (error as { name?: string }).name === 'ResourceNotFoundException' ? ' (does the table exist in this account and region? KARMA_SERVICE_TABLE names it)' : '';
    return new StoreError(`DynamoDB ${what} on the service table ${this.table} failed: ${describeAwsError(error)}${missing}`, { cause: error });
  }

  async get(k: Item): Promise<Item | undefined> {
    try {
      return (await this.client.send(new GetItemCommand({ TableName: this.table, Key: k, ConsistentRead: true }))).Item;
    } catch (error) {
      throw this.failure('GetItem', error);
    }
  }

  /** Runs the transaction; a cancellation by a condition or a conflict comes back as its codes (one per item), anything else throws. */
  async transact(what: string, items: TransactWriteItem[]): Promise<string[] | undefined> {
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: randomUUID() }));
      return undefined;
    } catch (error) {
      const codes = cancellationCodes(error);
      // Refused by a condition, or by a concurrent transaction on the same items: the caller reads again.
      if (codes && codes.some((c) => c === 'ConditionalCheckFailed' || c === 'TransactionConflict')) return codes;
      throw this.failure(`TransactWriteItems (${what})`, error);
    }
  }

  put(item: Item, condition?: { expression: string; names?: Record<string, string>; values?: Item }): TransactWriteItem {
    return {
      Put: {
        TableName: this.table,
        Item: item,
        ...(condition ? { ConditionExpression: condition.expression } : {}),
        ...(condition?.names ? { ExpressionAttributeNames: condition.names } : {}),
        ...(condition?.values ? { ExpressionAttributeValues: condition.values } : {}),
      },
    };
  }

  delete(k: Item, condition?: { expression: string; names?: Record<string, string>; values?: Item }): TransactWriteItem {
    return {
      Delete: {
        TableName: this.table,
        Key: k,
        ...(condition ? { ConditionExpression: condition.expression } : {}),
        ...(condition?.names ? { ExpressionAttributeNames: condition.names } : {}),
        ...(condition?.values ? { ExpressionAttributeValues: condition.values } : {}),
      },
    };
  }

  /**
   * Items of partition `pk`, in sort order (`forward`) or reverse, that `keep` accepts, until `limit` are
   * collected (all without a limit). Filtering here, not with a FilterExpression: the same code for every
   * filter, and a page read is a page paid for either way.
   */
  async query(pk: string, options: { forward: boolean; limit?: number; beginsWith?: string; keep?: (item: Item) => boolean }): Promise<Item[]> {
    const base: QueryCommandInput = {
      TableName: this.table,
      ConsistentRead: true,
      ScanIndexForward: options.forward,
      KeyConditionExpression: options.beginsWith !== undefined ? '#pk = :pk AND begins_with(#sk, :prefix)' : '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk', ...(options.beginsWith !== undefined ? { '#sk': 'sk' } : {}) },
      ExpressionAttributeValues: { ':pk': S(pk), ...(options.beginsWith !== undefined ? { ':prefix': S(options.beginsWith) } : {}) },
    };
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      let page;
      try {
        // Without a filter, ask for exactly what is missing; with one, full pages.
        const limit = options.limit !== undefined && !options.keep ? options.limit - out.length : undefined;
        page = await this.client.send(new QueryCommand({ ...base, ...(limit !== undefined ? { Limit: limit } : {}), ...(start ? { ExclusiveStartKey: start } : {}) }));
      } catch (error) {
        throw this.failure('Query', error);
      }
      for (const item of page.Items ?? []) {
        if (options.keep && !options.keep(item)) continue;
        out.push(item);
        if (options.limit !== undefined && out.length >= options.limit) return out;
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

const text = (item: Item | undefined, name: string): string | undefined => item?.[name]?.S;
const num = (item: Item | undefined, name: string): number | undefined => (item?.[name]?.N !== undefined ? Number(item[name]!.N) : undefined);

function doc<T>(item: Item, table: string): T {
  const json = text(item, 'doc');
  if (json === undefined) throw new StoreError(`the service table ${table} holds an item without doc (pk ${text(item, 'pk') ?? '?'}, sk ${text(item, 'sk') ?? '?'}): it was not written by Karma`);
  return JSON.parse(json) as T;
}

// ---------------------------------------------------------------------------------------------------------

export class DynamoChangeQueue implements ChangeQueue {
  readonly description: string;
  private readonly t: ServiceTable;

  constructor(options: DynamoServiceTableOptions) {
    this.t = new ServiceTable(options);
    this.description = `the apply queue in ${this.t.where}`;
  }

  private entryItem(entry: QueuedApply): Item {
    return { ...entryKey(entry.seq), id: S(entry.id), env: S(entry.env), state: S(entry.state), attempts: N(entry.attempts), doc: S(JSON.stringify(entry)) };
  }

  private pointerItem(entry: QueuedApply): Item {
    return { ...pointerKey(entry.id), seq: N(entry.seq), env: S(entry.env), state: S(entry.state) };
  }

  /** The entry's pointer and the entry, or undefined. */
  private async read(id: string): Promise<QueuedApply | undefined> {
    const pointer = await this.t.get(pointerKey(id));
    const seq = num(pointer, 'seq');
    if (seq === undefined) return undefined;
    const item = await this.t.get(entryKey(seq));
    return item ? doc<QueuedApply>(item, this.t.table) : undefined;
  }

  /** Rewrites the entry, on condition that it is still in `from` with the attempts read. */
  private rewrite(before: QueuedApply, after: QueuedApply): TransactWriteItem {
    return this.t.put(this.entryItem(after), {
      expression: '#state = :from AND attempts = :attempts',
      names: { '#state': 'state' },
      values: { ':from': S(before.state), ':attempts': N(before.attempts) },
    });
  }

  /** Moves the pointer to `after`'s state, on condition that it still names `before`'s seq and state. */
  private movePointer(before: QueuedApply, after: QueuedApply): TransactWriteItem {
    return this.t.put(this.pointerItem(after), {
      expression: 'seq = :seq AND #state = :from',
      names: { '#state': 'state' },
      values: { ':seq': N(before.seq), ':from': S(before.state) },
    });
  }

  async enqueue(input: EnqueueRequest, when: string): Promise<QueuedApply> {
    const { request, at } = checkEnqueue(input, when);
    for (let attempt = 0; attempt < 3; attempt++) {
      const pointer = await this.t.get(pointerKey(request.id));
      const state = text(pointer, 'state');
      if (pointer && state !== 'done') throw alreadyQueued({ id: request.id, env: text(pointer, 'env') ?? '?', state: (state ?? 'queued') as QueueState });
      let seq: number;
      try {
        const counted = await this.t.client.send(
          new UpdateItemCommand({ TableName: this.t.table, Key: COUNTER, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': N(1) }, ReturnValues: 'UPDATED_NEW' }),
        );
        seq = Number(counted.Attributes?.['n']?.N);
      } catch (error) {
        throw this.t.failure('UpdateItem (the queue counter)', error);
      }
      const entry = newEntry(request, seq, at);
      const oldSeq = num(pointer, 'seq');
      const refused = await this.t.transact('enqueue', [
        pointer
          ? this.t.put(this.pointerItem(entry), { expression: 'seq = :seq AND #state = :done', names: { '#state': 'state' }, values: { ':seq': N(oldSeq!), ':done': S('done') } })
          : this.t.put(this.pointerItem(entry), { expression: 'attribute_not_exists(pk)' }),
        this.t.put(this.entryItem(entry), { expression: 'attribute_not_exists(pk)' }),
        this.t.put({ ...slotKey(entry.env, seq), id: S(entry.id) }),
        ...(oldSeq !== undefined ? [this.t.delete(entryKey(oldSeq))] : []),
      ]);
      if (!refused) return entry;
      // Another enqueue of this id landed between the read and the write: the next read says what it is now.
    }
    throw new StoreError(`cannot enqueue change ${request.id} in ${this.t.where}: it changed under every one of 3 attempts`);
  }

  async claimNext(env: string, owner: string, when: string): Promise<QueuedApply | null> {
    checkOwner(owner);
    const at = isoTime(when, 'queue: startedAt');
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.t.get(runningKey(env))) return null;
      const [slot] = await this.t.query(`env#${env}`, { forward: true, beginsWith: 'queued#', limit: 1 });
      if (!slot) return null;
      const seq = Number(text(slot, 'sk')!.slice('queued#'.length));
      const item = await this.t.get(entryKey(seq));
      const before = item ? doc<QueuedApply>(item, this.t.table) : undefined;
      if (!before || before.state !== 'queued') continue; // moved between the two reads
      const after = claimed(before, owner, at);
      const refused = await this.t.transact('claim', [
        this.t.put({ ...runningKey(env), id: S(after.id), seq: N(seq), owner: S(owner) }, { expression: 'attribute_not_exists(pk)' }),
        this.t.delete(slotKey(env, seq), { expression: 'attribute_exists(pk)' }),
        this.rewrite(before, after),
        this.movePointer(before, after),
      ]);
      if (!refused) return after;
      if (refused[0] === 'ConditionalCheckFailed') return null; // another instance claimed first
    }
    return null;
  }

  async finish(id: string, outcome: 'succeeded' | 'failed', result: string, when: string): Promise<QueuedApply> {
    const at = isoTime(when, 'queue: finishedAt');
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await this.read(id);
      if (!before) throw notInQueue(id);
      if (before.state !== 'running') throw notRunning(before, 'finish');
      const after = finished(before, outcome, result, at);
      const refused = await this.t.transact('finish', [
        this.t.delete(runningKey(before.env), { expression: 'id = :id', values: { ':id': S(id) } }),
        this.rewrite(before, after),
        this.movePointer(before, after),
      ]);
      if (!refused) return after;
    }
    throw new StoreError(`cannot finish the apply of change ${id} in ${this.t.where}: it changed under every one of 3 attempts`);
  }

  async release(id: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await this.read(id);
      if (!before) throw notInQueue(id);
      if (before.state === 'queued') return; // released already
      if (before.state !== 'running') throw notRunning(before, 'release');
      const after = released(before);
      const refused = await this.t.transact('release', [
        this.t.delete(runningKey(before.env), { expression: 'id = :id', values: { ':id': S(id) } }),
        this.t.put({ ...slotKey(before.env, before.seq), id: S(id) }),
        this.rewrite(before, after),
        this.movePointer(before, after),
      ]);
      if (!refused) return;
    }
    throw new StoreError(`cannot release the apply of change ${id} in ${this.t.where}: it changed under every one of 3 attempts`);
  }

  async get(id: string): Promise<QueuedApply | undefined> {
    return this.read(id);
  }

  async list(options: { readonly env?: string; readonly states?: readonly QueueState[]; readonly limit?: number } = {}): Promise<QueuedApply[]> {
    const limit = checkListLimit(options.limit, 'queue list');
    const { env, states } = options;
    const filtered = env !== undefined || states !== undefined;
    const items = await this.t.query('queue', {
      forward: false,
      ...(limit !== undefined ? { limit } : {}),
      ...(filtered ? { keep: (item: Item) => (env === undefined || text(item, 'env') === env) && (states === undefined || states.includes(text(item, 'state') as QueueState)) } : {}),
    });
    return items.reverse().map((item) => doc<QueuedApply>(item, this.t.table));
  }

  async close(): Promise<void> {
    await this.t.close();
  }
}

// ---------------------------------------------------------------------------------------------------------

export class DynamoRolloutStore implements RolloutStore {
  readonly description: string;
  private readonly t: ServiceTable;

  constructor(options: DynamoServiceTableOptions) {
    this.t = new ServiceTable(options);
    this.description = `the rollouts in ${this.t.where}`;
  }

  private item(sk: string, rollout: Rollout): Item {
    return { ...key('rollouts', sk), id: S(rollout.id), status: S(rollout.status), version: N(rollout.version), doc: S(JSON.stringify(rollout)) };
  }

  async create(input: Rollout): Promise<void> {
    const rollout = checkRollout(input);
    if (rollout.version !== 1) throw notVersionOne(rollout);
    const sk = `${isoTime(rollout.createdAt, 'rollout: createdAt')}#${rollout.id}`;
    const refused = await this.t.transact('create a rollout', [
      this.t.put({ ...rolloutPointerKey(rollout.id), key: S(sk) }, { expression: 'attribute_not_exists(pk)' }),
      this.t.put(this.item(sk, rollout), { expression: 'attribute_not_exists(pk)' }),
    ]);
    if (refused) throw rolloutExists(rollout.id);
  }

  private async find(id: string): Promise<{ sk: string; item: Item | undefined } | undefined> {
    const sk = text(await this.t.get(rolloutPointerKey(id)), 'key');
    return sk === undefined ? undefined : { sk, item: await this.t.get(key('rollouts', sk)) };
  }

  async get(id: string): Promise<Rollout | undefined> {
    const found = await this.find(id);
    return found?.item ? doc<Rollout>(found.item, this.t.table) : undefined;
  }

  async list(options: { readonly limit?: number; readonly status?: readonly RolloutStatus[] } = {}): Promise<Rollout[]> {
    const limit = checkListLimit(options.limit, 'rollout list');
    const status = options.status;
    const items = await this.t.query('rollouts', {
      forward: false,
      ...(limit !== undefined ? { limit } : {}),
      ...(status !== undefined ? { keep: (item: Item) => status.includes(text(item, 'status') as RolloutStatus) } : {}),
    });
    return items.map((item) => doc<Rollout>(item, this.t.table));
  }

  async update(input: Rollout): Promise<Rollout> {
    const next = checkRollout(input);
    const found = await this.find(next.id);
    if (!found?.item) throw staleRollout(next, undefined);
    try {
      await this.t.client.send(
        new PutItemCommand({
          TableName: this.t.table,
          Item: this.item(found.sk, next),
          ConditionExpression: 'version = :previous',
          ExpressionAttributeValues: { ':previous': N(next.version - 1) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return next;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw this.t.failure('PutItem (a rollout)', error);
      const stored = num((error as { Item?: Item }).Item, 'version') ?? num(await this.t.get(key('rollouts', found.sk)), 'version');
      throw staleRollout(next, stored);
    }
  }

  async close(): Promise<void> {
    await this.t.close();
  }
}

// ---------------------------------------------------------------------------------------------------------

export class DynamoDeliveryLog implements DeliveryLog {
  readonly description: string;
  private readonly t: ServiceTable;

  constructor(options: DynamoServiceTableOptions) {
    this.t = new ServiceTable(options);
    this.description = `the failed deliveries in ${this.t.where}`;
  }

  async recordFailed(input: Omit<FailedDelivery, 'id'>): Promise<FailedDelivery> {
    const delivery = failedDelivery(newDeliveryId(checkDelivery(input).failedAt), input);
    const { id, ...rest } = delivery;
    try {
      await this.t.client.send(
        new PutItemCommand({ TableName: this.t.table, Item: { ...key('deliveries', id), doc: S(JSON.stringify(rest)) }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      throw this.t.failure('PutItem (a failed delivery)', error);
    }
    return delivery;
  }

  async listFailed(options: { readonly limit?: number } = {}): Promise<FailedDelivery[]> {
    const limit = checkListLimit(options.limit, 'failed deliveries');
    const items = await this.t.query('deliveries', { forward: false, ...(limit !== undefined ? { limit } : {}) });
    return items.map((item) => failedDelivery(text(item, 'sk')!, doc<Omit<FailedDelivery, 'id'>>(item, this.t.table)));
  }

  async close(): Promise<void> {
    await this.t.close();
  }
}
