/**
 * RuntimeChangeFeed in AWS: which SSM parameters changed, without re-reading the store (docs/service-stores.md).
 *
 * SqsParameterChangeFeed — the SQS queue an EventBridge rule fills with SSM's "Parameter Store Change" events
 * (source aws.ssm; detail {name, operation: Create | Update | Delete | LabelParameterVersion, type}). A poll:
 *   1. deletes the messages of the batches the cursor acknowledges (the names returned by earlier polls up to
 *      that cursor: the caller has them), DeleteMessageBatch by 10;
 *   2. long-polls ReceiveMessage (WaitTimeSeconds `waitSeconds`, default 1, so a poll never holds the service up
 *      long; then without waiting while full pages of 10 come back, up to `maxMessages`);
 *   3. returns the distinct names under the prefix or in `names`, and a cursor naming this batch.
 * A message that is not such an event, or names another parameter, is deleted with its batch and counted in
 * `ignored`. Messages returned but never acknowledged (the service stopped before its next poll) come back after
 * the queue's visibility timeout: a name seen twice is read twice, nothing is lost. poll(undefined) receives
 * nothing (start following from now; messages already queued come with the next polls: harmless re-reads).
 * `reset` is never set: a purged queue cannot be told from a quiet one.
 *
 * DescribeParametersChangeFeed — without a queue: DescribeParameters (ParameterFilters Path, Recursive, under the
 * prefix; and Name Equals for the `names` outside it, 50 a call), every page, the Version of every name compared
 * with the last poll's. Its state is in memory: a cursor is `<feed instance>:<generation>`; a cursor of another
 * instance (a restart) or an older generation gets `reset: true` (nothing to compare with: read everything).
 * Each poll reads every page (ceil(parameters / pageSize) calls), so a poll within `minIntervalMs` of the last
 * one returns nothing without calling, and the calls wait on a token bucket (`tps`).
 */
import { randomUUID } from 'node:crypto';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { DescribeParametersCommand, SSMClient, type ParameterStringFilter, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { StoreError, UsageError } from '../../core/errors.ts';
import type { RuntimeChangeFeed } from '../../ports.ts';
import { TokenBucket, type Sleeper } from '../../shared/rate-limit.ts';

function describeAwsError(error: unknown): string {
  const e = error as { name?: string; message?: string };
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${(e?.message ?? String(error)).split('\n')[0]}`;
}

/** `/karma` for `/karma`, `/karma/` or `karma`: how names under it start is `${base}/`. */
function basePath(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Names under the prefix, or in the set. */
function watching(prefix: string, names: ReadonlySet<string> | undefined): (name: string) => boolean {
  const base = basePath(prefix);
  return (name) => name.startsWith(`${base}/`) || (names?.has(name) ?? false);
}

/**
 * The parameter an SSM "Parameter Store Change" event names, from an SQS message body: the EventBridge event
 * itself, or the same wrapped in an SNS notification (a rule whose target is a topic the queue subscribes to).
 * undefined for anything else.
 */
export function parameterChangeName(body: string | undefined): string | undefined {
  let event: unknown;
  try {
    event = JSON.parse(body ?? '');
    const wrapped = event as { Type?: unknown; Message?: unknown };
    if (wrapped?.Type === 'Notification' && typeof wrapped.Message === 'string') event = JSON.parse(wrapped.Message);
  } catch {
    return undefined;
  }
  const e = event as { source?: unknown; 'detail-type'?: unknown; detail?: { name?: unknown } };
  if (e?.source !== 'aws.ssm' || e['detail-type'] !== 'Parameter Store Change') return undefined;
  const name = e.detail?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

export interface SqsParameterChangeFeedOptions {
  readonly queueUrl: string;
  /** Parameters under this path are followed (the project's parameterPrefix). */
  readonly prefix: string;
  /** Parameters outside the prefix to follow as well (`${ssm:…}` inputs); read at every poll, so the owner may change it. */
  readonly names?: ReadonlySet<string>;
  readonly client?: SQSClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). The SDK also honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS. */
  readonly endpoint?: string;
  /** ReceiveMessage's WaitTimeSeconds for the first receive of a poll, 0 to 20. @default 1 */
  readonly waitSeconds?: number;
  /** Messages received per poll at most (10 a receive). @default 100 */
  readonly maxMessages?: number;
}

export class SqsParameterChangeFeed implements RuntimeChangeFeed {
  readonly description: string;
  readonly client: SQSClient;
  /** Messages deleted that were not a change of a followed parameter. */
  ignored = 0;
  private readonly ownsClient: boolean;
  private readonly queueUrl: string;
  private readonly follows: (name: string) => boolean;
  private readonly waitSeconds: number;
  private readonly maxMessages: number;
  private readonly instance = randomUUID().slice(0, 8);
  private batch = 0;
  /** Receipt handles of the messages each batch returned, until a cursor acknowledges them. */
  private readonly pending = new Map<number, string[]>();

  constructor(options: SqsParameterChangeFeedOptions) {
    const wait = options.waitSeconds ?? 1;
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) throw new UsageError(`the SQS change feed's waitSeconds must be an integer from 0 to 20, got ${String(wait)}`);
    const config: SQSClientConfig = { retryMode: 'adaptive', maxAttempts: 4 };
    if (options.region) config.region = options.region;
    if (options.endpoint) config.endpoint = options.endpoint;
    this.client = options.client ?? new SQSClient(config);
    this.ownsClient = !options.client;
    this.queueUrl = options.queueUrl;
    this.follows = watching(options.prefix, options.names);
    this.waitSeconds = wait;
    this.maxMessages = Math.max(1, options.maxMessages ?? 100);
    this.description = `SSM change events from the SQS queue ${options.queueUrl}`;
  }

  private failure(what: string, error: unknown): StoreError {
    const missing = /NonExistentQueue|QueueDoesNotExist/.test((error as { name?: string }).name ?? '') ? ' (does the queue exist? KARMA_SSM_EVENTS_QUEUE_URL names it)' : '';
    return new StoreError(`SQS ${what} on ${this.queueUrl} failed: ${describeAwsError(error)}${missing}`, { cause: error });
  }

  /** Deletes the messages of every batch up to the one `cursor` names. */
  private async acknowledge(cursor: string): Promise<void> {
    const match = /^sqs:([0-9a-f]{8}):(\d+)$/.exec(cursor);
    if (!match || match[1] !== this.instance) return; // another instance's batches: they come back and are re-read
    const upTo = Number(match[2]);
    const handles: string[] = [];
    for (const [batch, receipts] of this.pending) {
      if (batch > upTo) continue;
      handles.push(...receipts);
      this.pending.delete(batch);
    }
    for (let i = 0; i < handles.length; i += 10) {
      const chunk = handles.slice(i, i + 10);
      try {
        // An entry that fails (its Failed list) is no error here: the message comes back and its name is read again.
        await this.client.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: chunk.map((h, n) => ({ Id: String(n), ReceiptHandle: h })) }));
      } catch (error) {
        throw this.failure('DeleteMessageBatch', error);
      }
    }
  }

  private async receive(): Promise<Message[]> {
    const out: Message[] = [];
    let wait = this.waitSeconds;
    while (out.length < this.maxMessages) {
      let messages: Message[];
      try {
        const max = Math.min(10, this.maxMessages - out.length);
        messages = (await this.client.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: wait }))).Messages ?? [];
        out.push(...messages);
        if (messages.length < max) break;
      } catch (error) {
        throw this.failure('ReceiveMessage', error);
      }
      wait = 0;
    }
    return out;
  }

  async poll(cursor: string | undefined): Promise<{ readonly cursor: string; readonly changed: readonly string[]; readonly reset?: boolean }> {
    if (cursor === undefined) return { cursor: `sqs:${this.instance}:${this.batch}`, changed: [] };
    await this.acknowledge(cursor);
    const messages = await this.receive();
    if (messages.length === 0) return { cursor: `sqs:${this.instance}:${this.batch}`, changed: [] };
    const batch = ++this.batch;
    this.pending.set(
      batch,
      messages.flatMap((m) => (m.ReceiptHandle ? [m.ReceiptHandle] : [])),
    );
    const changed = new Set<string>();
    for (const m of messages) {
      const name = parameterChangeName(m.Body);
      if (name !== undefined && this.follows(name)) changed.add(name);
      else this.ignored++;
    }
    return { cursor: `sqs:${this.instance}:${batch}`, changed: [...changed] };
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

export interface DescribeParametersChangeFeedOptions {
  /** Parameters under this path are followed (the project's parameterPrefix). */
  readonly prefix: string;
  /** Parameters outside the prefix to follow as well; read at every poll. */
  readonly names?: ReadonlySet<string>;
  readonly client?: SSMClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). The SDK also honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SSM. */
  readonly endpoint?: string;
  /** DescribeParameters' MaxResults: 50 is the API's maximum (moto answers 10 a page whatever is asked). @default 50 */
  readonly pageSize?: number;
  /** A poll within this many ms of the last one calls nothing and returns no names. @default 30000 */
  readonly minIntervalMs?: number;
  /** DescribeParameters calls per second at most. @default 10 */
  readonly tps?: number;
  readonly now?: () => number;
  readonly sleep?: Sleeper;
}

export class DescribeParametersChangeFeed implements RuntimeChangeFeed {
  readonly description: string;
  readonly client: SSMClient;
  /** DescribeParameters calls sent so far. */
  calls = 0;
  private readonly ownsClient: boolean;
  private readonly base: string;
  private readonly names: ReadonlySet<string> | undefined;
  private readonly pageSize: number;
  private readonly minIntervalMs: number;
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private readonly instance = randomUUID().slice(0, 8);
  private generation = 0;
  private versions: Map<string, number> | undefined;
  private lastScan = Number.NEGATIVE_INFINITY;

  constructor(options: DescribeParametersChangeFeedOptions) {
    const config: SSMClientConfig = { retryMode: 'adaptive', maxAttempts: 4 };
    if (options.region) config.region = options.region;
    if (options.endpoint) config.endpoint = options.endpoint;
    this.client = options.client ?? new SSMClient(config);
    this.ownsClient = !options.client;
    this.base = basePath(options.prefix);
    this.names = options.names;
    this.pageSize = Math.min(50, Math.max(1, options.pageSize ?? 50));
    this.minIntervalMs = options.minIntervalMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.bucket = new TokenBucket(options.tps ?? 10, { now: this.now, ...(options.sleep ? { sleep: options.sleep } : {}) });
    this.description = `SSM DescribeParameters under ${this.base}, compared by version`;
  }

  private async describe(filters: ParameterStringFilter[], into: Map<string, number>): Promise<void> {
    let next: string | undefined;
    do {
      const token = next;
      await this.bucket.take();
      this.calls++;
      let page;
      try {
        page = await this.client.send(new DescribeParametersCommand({ ParameterFilters: filters, MaxResults: this.pageSize, ...(token ? { NextToken: token } : {}) }));
      } catch (error) {
        throw new StoreError(`SSM DescribeParameters under ${this.base} failed: ${describeAwsError(error)}`, { cause: error });
      }
      for (const p of page.Parameters ?? []) if (p.Name) into.set(p.Name, Number(p.Version ?? 0));
      next = page.NextToken;
    } while (next);
  }

  /** Every followed parameter's version now. */
  private async scan(): Promise<Map<string, number>> {
    const versions = new Map<string, number>();
    await this.describe([{ Key: 'Path', Option: 'Recursive', Values: [this.base] }], versions);
    const outside = [...(this.names ?? [])].filter((n) => !n.startsWith(`${this.base}/`));
    for (let i = 0; i < outside.length; i += 50) await this.describe([{ Key: 'Name', Option: 'Equals', Values: outside.slice(i, i + 50) }], versions);
    this.lastScan = this.now();
    return versions;
  }

  private cursor(): string {
    return `describe:${this.instance}:${this.generation}`;
  }

  async poll(cursor: string | undefined): Promise<{ readonly cursor: string; readonly changed: readonly string[]; readonly reset?: boolean }> {
    if (cursor === undefined) {
      this.versions = await this.scan();
      this.generation++;
      return { cursor: this.cursor(), changed: [] };
    }
    if (cursor !== this.cursor() || !this.versions) {
      // Not this feed's latest cursor: nothing to compare with since then.
      this.versions = await this.scan();
      this.generation++;
      return { cursor: this.cursor(), changed: [], reset: true };
    }
    if (this.now() - this.lastScan < this.minIntervalMs) return { cursor, changed: [] };
    const before = this.versions;
    const now = await this.scan();
    const changed: string[] = [];
    for (const [name, version] of now) if (before.get(name) !== version) changed.push(name);
    for (const name of before.keys()) if (!now.has(name)) changed.push(name);
    this.versions = now;
    if (changed.length === 0) return { cursor, changed: [] };
    this.generation++;
    return { cursor: this.cursor(), changed: changed.sort() };
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
