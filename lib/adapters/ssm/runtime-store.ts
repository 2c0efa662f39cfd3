/**
 * RuntimeStore on AWS Systems Manager Parameter Store.
 *
 * - readPath: GetParametersByPath (Recursive, WithDecryption, MaxResults 10), every page.
 * - readNames: GetParameters by 10 names a call; names SSM reports as InvalidParameters are missing.
 * - put: PutParameter with Overwrite (String, StringList, SecureString); overwrite=false on an existing
 *   name throws ParameterExistsError, as the local store does.
 * - delete: DeleteParameters, 10 names a call (SSM's limit); names SSM reports as InvalidParameters did not exist.
 *
 * Quotas: GetParameter(s) and GetParametersByPath share 40 TPS per account and region by default. Every
 * HTTP attempt waits on a client-side token bucket (reads: 30 TPS by default, writes: their own bucket), the
 * SDK retries in adaptive mode, and throttling that still gets through is retried here with exponential
 * backoff and full jitter. A hard failure is a StoreError naming the parameter path and the AWS error.
 *
 * SecureString values are returned decrypted (they are needed to resolve inputs for an apply) and never
 * logged: errors carry names and AWS error codes only.
 */
import {
  DeleteParametersCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
  type ParameterHistory,
  type Parameter as SsmParameter,
  type SSMClientConfig,
} from '@aws-sdk/client-ssm';
import { StoreError } from '../../core/errors.ts';
import type { Parameter, ParameterType } from '../../core/runtime.ts';
import type { PutOptions, RuntimeStore } from '../../ports.ts';
import { ParameterExistsError } from '../errors.ts';
import { mapLimit } from '../../shared/concurrency.ts';
import { TokenBucket, withBackoff, type BackoffPolicy, type Sleeper } from '../../shared/rate-limit.ts';

export interface SsmRuntimeStoreOptions {
  /** A ready client (tests, custom credentials). Otherwise one is built from the standard SDK chain. */
  readonly client?: SSMClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). The SDK also honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SSM. */
  readonly endpoint?: string;
  /** Read requests per second, all read APIs together. @default 30 (the shared default quota is 40) */
  readonly readTps?: number;
  /** PutParameter requests per second. @default 10 */
  readonly writeTps?: number;
  /** Read calls in flight at once (readNames chunks). @default 4 */
  readonly concurrency?: number;
  /** Our own retries on throttling and 5xx, on top of the SDK's. @default 5 attempts, 200 ms base, 10 s cap */
  readonly backoff?: BackoffPolicy;
  readonly sleep?: Sleeper;
}

const READ_COMMANDS = new Set(['GetParametersByPathCommand', 'GetParametersCommand', 'GetParameterCommand']);
const THROTTLING = new Set(['ThrottlingException', 'TooManyUpdates', 'Throttling', 'RequestLimitExceeded', 'TooManyRequestsException']);

/** Throttling or a server-side fault: worth another try. */
export function isRetryableAwsError(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (!e || typeof e !== 'object') return false;
  if (e.name && THROTTLING.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

function describeAwsError(error: unknown): string {
  const e = error as { name?: string; message?: string };
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${(e?.message ?? String(error)).split('\n')[0]}`;
}

function toParameter(p: SsmParameter | ParameterHistory): Parameter {
  return {
    name: p.Name!,
    value: p.Value ?? '',
    version: Number(p.Version ?? 0),
    type: (p.Type ?? 'String') as ParameterType,
    lastModified: (p.LastModifiedDate ?? new Date(0)).toISOString(),
  };
}

export class SsmRuntimeStore implements RuntimeStore {
  readonly client: SSMClient;
  private readonly ownsClient: boolean;
  private readonly readBucket: TokenBucket;
  private readonly writeBucket: TokenBucket;
  private readonly concurrency: number;
  private readonly backoff: BackoffPolicy;
  private readonly sleep: Sleeper | undefined;
  /** HTTP attempts sent, by command name (retries included). */
  readonly calls = new Map<string, number>();

  constructor(options: SsmRuntimeStoreOptions = {}) {
    const config: SSMClientConfig = { retryMode: 'adaptive', maxAttempts: 4 };
    if (options.region) config.region = options.region;
    if (options.endpoint) config.endpoint = options.endpoint;
    this.client = options.client ?? new SSMClient(config);
    this.ownsClient = !options.client;
    this.readBucket = new TokenBucket(options.readTps ?? 30, options.sleep ? { sleep: options.sleep } : {});
    this.writeBucket = new TokenBucket(options.writeTps ?? 10, options.sleep ? { sleep: options.sleep } : {});
    this.concurrency = options.concurrency ?? 4;
    this.backoff = options.backoff ?? { attempts: 5, baseMs: 200, maxMs: 10_000 };
    this.sleep = options.sleep;
    // Inside the SDK's retry loop: every HTTP attempt is rate-limited and counted.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? 'unknown';
        await (READ_COMMANDS.has(command) ? this.readBucket : this.writeBucket).take();
        this.calls.set(command, (this.calls.get(command) ?? 0) + 1);
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'karmaRateLimitAndCount' },
    );
  }

  /** API calls (HTTP attempts) sent so far, all commands. */
  get apiCalls(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  private async send<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withBackoff(this.backoff, isRetryableAwsError, fn, this.sleep ? { sleep: this.sleep } : {});
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(`SSM ${what} ${path} failed: ${describeAwsError(error)}`, { cause: error });
    }
  }

  async readPath(path: string): Promise<Parameter[]> {
    const base = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    const out: Parameter[] = [];
    let next: string | undefined;
    do {
      const token = next;
      const page = await this.send('GetParametersByPath', base, () =>
        this.client.send(new GetParametersByPathCommand({ Path: base, Recursive: true, WithDecryption: true, MaxResults: 10, ...(token ? { NextToken: token } : {}) })),
      );
      for (const p of page.Parameters ?? []) out.push(toParameter(p));
      next = page.NextToken;
    } while (next);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readNames(names: readonly string[]): Promise<Parameter[]> {
    const unique = [...new Set(names)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += 10) chunks.push(unique.slice(i, i + 10));
    const found = new Map<string, Parameter>();
    await mapLimit(chunks, this.concurrency, async (chunk) => {
      const res = await this.send('GetParameters', chunk.length === 1 ? chunk[0]! : `${chunk[0]} (+${chunk.length - 1} more)`, () =>
        this.client.send(new GetParametersCommand({ Names: chunk, WithDecryption: true })),
      );
      for (const p of res.Parameters ?? []) found.set(p.Name!, toParameter(p));
    });
    return names.flatMap((n) => {
      const p = found.get(n);
      if (!p) return [];
      found.delete(n);
      return [p];
    });
  }

  async put(name: string, value: string, options: PutOptions = {}): Promise<{ version: number }> {
    const type = options.type ?? 'String';
    try {
      const res = await this.send('PutParameter', name, () =>
        this.client.send(new PutParameterCommand({ Name: name, Value: value, Type: type, Overwrite: options.overwrite !== false })),
      );
      return { version: Number(res.Version ?? 0) };
    } catch (error) {
      if ((error as StoreError).cause && ((error as StoreError).cause as { name?: string }).name === 'ParameterAlreadyExists') {
        throw new ParameterExistsError(`parameter ${name} already exists; pass overwrite to replace it`, { cause: (error as StoreError).cause });
      }
      throw error;
    }
  }

  async delete(names: readonly string[]): Promise<{ deleted: number }> {
    const unique = [...new Set(names)];
    let deleted = 0;
    for (let i = 0; i < unique.length; i += 10) {
      const chunk = unique.slice(i, i + 10);
      const res = await this.send('DeleteParameters', chunk.length === 1 ? chunk[0]! : `${chunk[0]} (+${chunk.length - 1} more)`, () =>
        this.client.send(new DeleteParametersCommand({ Names: chunk })),
      );
      deleted += res.DeletedParameters?.length ?? 0;
    }
    return { deleted };
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
