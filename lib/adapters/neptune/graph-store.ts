/**
 * GraphStore on Amazon Neptune (any TinkerPop 3.7 Gremlin endpoint: Gremlin Server with TinkerGraph in tests).
 *
 * Write = diff. Two requests read every vertex's and edge's id and `_hash` property; core's planWrite says
 * what to send; then, in batches of `batchSize` (AWS advises ~200 records a request) with at most
 * `concurrency` requests in flight:
 *
 *   vertices  g.inject(rows).unfold().as('m').mergeV(select('k')).as('v')
 *               .sideEffect(properties().drop())
 *               .sideEffect(select('m').select('p').unfold().as('kv').select('v')
 *                  .property(single, select('kv').by(keys), select('kv').by(values)))
 *   edges     the same with mergeE (k holds T.id, T.label, Direction.out, Direction.in)
 *   deletes   g.E(ids).drop(), then g.V(ids).drop()
 *
 * Vertices go first, then edges in one serial queue per environment (queues in parallel: they share no
 * vertex, so no transaction conflicts), then the edges across environments or to shared vertices serially.
 *
 * Each row is a Map { k: {T.id, T.label}, p: {prop: value, ..., _hash} }. The step count of a request does
 * not grow with the rows (far under Neptune's limits). Properties are rewritten whole, with single
 * cardinality written explicitly (Neptune's default is set), so a property that vanished from an element
 * vanishes from the store too.
 *
 * Retries (whole request, exponential backoff with full jitter, bounded): ConcurrentModificationException
 * (and TinkerGraph's transaction conflicts); ReadOnlyViolationException (a failover made our instance a
 * reader: reconnect, DNS then points at the new writer); a lost connection (reconnect). Every request is an
 * idempotent upsert or drop, so retrying one that did land is harmless; a write that still fails leaves a
 * partial graph that the next write converges from (it diffs against what is really there).
 *
 * Build history does not live in Neptune: see lib/adapters/history/directory-history.ts.
 */
import gremlin from 'gremlin';
import { StoreError } from '../../core/errors.ts';
import { filterEnv, planWrite, writeStats, type BuildMeta, type GraphElement, type GraphSnapshot, type PropValue, type WriteStats } from '../../core/snapshot.ts';
import type { BuildRecord, GraphStore } from '../../ports.ts';
import { mapLimit } from '../../shared/concurrency.ts';
import { withBackoff, type BackoffPolicy, type Sleeper } from '../../shared/rate-limit.ts';
import type { BuildHistory } from '../../ports.ts';
import { signedHandshakeHeaders } from './iam-auth.ts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

const { DriverRemoteConnection } = gremlin.driver;
const { traversal } = gremlin.process.AnonymousTraversalSource;
const __ = gremlin.process.statics;
const { t, cardinality, direction, column } = gremlin.process;

type Source = gremlin.process.GraphTraversalSource;
type Connection = gremlin.driver.DriverRemoteConnection;

export const HASH_PROPERTY = '_hash';

export type RequestKind = 'read' | 'upsert-vertices' | 'upsert-edges' | 'delete-edges' | 'delete-vertices';

export interface NeptuneGraphStoreOptions {
  /** ws://host:port/gremlin (local Gremlin Server) or wss://cluster-endpoint:8182/gremlin. */
  readonly endpoint: string;
  readonly history: BuildHistory;
  /** Sign the WebSocket handshake with SigV4 (service neptune-db). */
  readonly iamAuth?: boolean;
  /** Region for SigV4. */
  readonly region?: string;
  /** Credentials for SigV4: resolved again on every (re)connect. @default the standard AWS chain */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Records per upsert or delete request. @default 200 */
  readonly batchSize?: number;
  /** Requests in flight at once. @default 4 */
  readonly concurrency?: number;
  /** @default 8 attempts, 50 ms base, 5 s cap */
  readonly retry?: BackoffPolicy;
  readonly rejectUnauthorized?: boolean;
  /** Called before every request is sent (counting, tests that interrupt a write). */
  readonly onRequest?: (kind: RequestKind, records: number) => void | Promise<void>;
  readonly sleep?: Sleeper;
}

/** What Neptune (or Gremlin Server) said, as one line. */
function describe(error: unknown): string {
  const e = error as { statusMessage?: string; message?: string; code?: string };
  const text = e?.statusMessage ?? e?.message ?? String(error);
  return text.split('\n')[0]!.slice(0, 500);
}

function serverError(error: unknown): boolean {
  return typeof (error as { statusCode?: unknown })?.statusCode === 'number';
}

export function isConcurrentModification(error: unknown): boolean {
  const text = `${describe(error)} ${JSON.stringify([...(((error as { statusAttributes?: Map<string, unknown> })?.statusAttributes?.get('exceptions') as string[] | undefined) ?? [])])}`;
  return /ConcurrentModificationException|Conflict: element modified in another transaction|TransactionException/.test(text);
}

export function isReadOnlyViolation(error: unknown): boolean {
  return /ReadOnlyViolationException/.test(describe(error));
}

/** No answer from the server at all: refused, reset, closed. */
export function isConnectionError(error: unknown): boolean {
  if (serverError(error)) return false;
  const e = error as { code?: string; message?: string };
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|socket hang up|closed|Unexpected server response|WebSocket/i.test(`${e?.code ?? ''} ${e?.message ?? String(error)}`);
}

function toNumberish(v: unknown): PropValue {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && v !== null && 'value' in v) return toNumberish((v as { value: unknown }).value);
  return v as PropValue;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class NeptuneGraphStore implements GraphStore {
  readonly endpoint: string;
  readonly history: BuildHistory;
  private readonly options: NeptuneGraphStoreOptions;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly retry: BackoffPolicy;
  private connection: Connection | undefined;
  private g: Source | undefined;
  private connecting: Promise<Source> | undefined;
  /** Requests sent so far (every attempt). */
  requests = 0;
  /** Reconnects after a lost connection or a read-only instance. */
  reconnects = 0;
  /** Requests sent again after a conflict, a read-only violation or a lost connection. */
  retries = 0;

  constructor(options: NeptuneGraphStoreOptions) {
    this.options = options;
    this.endpoint = options.endpoint;
    this.history = options.history;
    this.batchSize = options.batchSize ?? 200;
    this.concurrency = options.concurrency ?? 4;
    this.retry = options.retry ?? { attempts: 8, baseMs: 50, maxMs: 5000 };
  }

  // ------------------------------------------------------------------------------------------ connection

  private async source(): Promise<Source> {
    if (this.g) return this.g;
    this.connecting ??= (async () => {
      let headers: Record<string, string> = {};
      if (this.options.iamAuth) {
        const region = this.options.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'];
        if (!region) throw new StoreError(`Neptune IAM auth needs a region: set backend.region in karma.yaml or AWS_REGION`);
        let credentials = this.options.credentials;
        if (!credentials) {
          const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
          credentials = fromNodeProviderChain();
        }
        // Resolved now, for this connection: a reconnect signs again with whatever the chain returns then.
        const resolved = typeof credentials === 'function' ? await credentials() : credentials;
        headers = await signedHandshakeHeaders(this.endpoint, { region, credentials: resolved });
      }
      // A non-empty options object with `headers` makes the driver use the `ws` package, which sends them.
      const connection = new DriverRemoteConnection(this.endpoint, {
        headers,
        traversalSource: 'g',
        ...(this.options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: this.options.rejectUnauthorized }),
      });
      this.connection = connection;
      this.g = traversal().withRemote(connection);
      return this.g;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Drops the connection `used` (if still current) so the next request opens a fresh, freshly signed one. */
  private async reset(used: Connection | undefined): Promise<void> {
    if (!used || this.connection !== used) return;
    this.connection = undefined;
    this.g = undefined;
    this.reconnects++;
    await used.close().catch(() => undefined);
  }

  /** One request, retried as a whole on conflicts, read-only violations and lost connections. */
  private async request<T>(kind: RequestKind, records: number, fn: (g: Source) => Promise<T>): Promise<T> {
    try {
      return await withBackoff(
        this.retry,
        (error) => isConcurrentModification(error) || isReadOnlyViolation(error) || isConnectionError(error),
        async () => {
          const g = await this.source();
          const used = this.connection;
          this.requests++;
          await this.options.onRequest?.(kind, records);
          try {
            return await fn(g);
          } catch (error) {
            if (isReadOnlyViolation(error) || isConnectionError(error)) await this.reset(used);
            throw error;
          }
        },
        { ...(this.options.sleep ? { sleep: this.options.sleep } : {}), onRetry: () => void this.retries++ },
      );
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(`Neptune ${kind} (${records} records) at ${this.endpoint} failed: ${describe(error)}`, { cause: error });
    }
  }

  // ------------------------------------------------------------------------------------------ writes

  /** id → _hash of every vertex and edge in the store. */
  private async readHashes(): Promise<{ vertices: Map<string, string>; edges: Map<string, string> }> {
    const project = (kind: 'V' | 'E'): Promise<Map<string, string>> =>
      this.request('read', 0, async (g) => {
        const rows = (await (kind === 'V' ? g.V() : g.E()).project('id', 'h').by(t.id).by(__.coalesce(__.values(HASH_PROPERTY), __.constant(''))).toList()) as unknown as Map<string, string>[];
        return new Map(rows.map((r) => [String(r.get('id')), String(r.get('h'))]));
      });
    const [vertices, edges] = await Promise.all([project('V'), project('E')]);
    return { vertices, edges };
  }

  private async inParallel<T>(batches: readonly T[][], fn: (batch: T[]) => Promise<unknown>, concurrency = this.concurrency): Promise<void> {
    await mapLimit(batches, concurrency, fn);
  }

  private row(e: GraphElement, edge: boolean): Map<string, unknown> {
    const key = new Map<unknown, unknown>([
      [t.id, e.id],
      [t.label, e.label],
    ]);
    if (edge) {
      key.set(direction.out, e.from);
      key.set(direction.in, e.to);
    }
    const props = new Map<string, unknown>(Object.entries(e.props).filter(([k]) => k !== HASH_PROPERTY));
    props.set(HASH_PROPERTY, e.hash);
    return new Map<string, unknown>([
      ['k', key],
      ['p', props],
    ]);
  }

  /** The whole element as one merge map: id, label, ends, props and hash (new elements). */
  private createMap(e: GraphElement, edge: boolean): Map<unknown, unknown> {
    const m = new Map<unknown, unknown>([
      [t.id, e.id],
      [t.label, e.label],
    ]);
    if (edge) {
      m.set(direction.out, e.from);
      m.set(direction.in, e.to);
    }
    for (const [k, v] of Object.entries(e.props)) if (k !== HASH_PROPERTY) m.set(k, v);
    m.set(HASH_PROPERTY, e.hash);
    return m;
  }

  /**
   * Upserts vertices, one request per batch. Vertices that `isNew` says are absent go as whole merge maps
   * (mergeV(map): one step per element, created with their properties in one go — a single value each, so
   * set and single cardinality agree); the others have their properties dropped and written again with
   * single cardinality. A "new" vertex that exists by then with other content fails the request (the store
   * changed under us): the write fails and the next one converges.
   */
  async upsertVertices(vertices: readonly GraphElement[], batchSize = this.batchSize, isNew: (id: string) => boolean = () => false): Promise<void> {
    const created = vertices.filter((v) => isNew(v.id));
    const updated = vertices.filter((v) => !isNew(v.id));
    await this.inParallel(chunks(created, batchSize), (batch) =>
      this.request('upsert-vertices', batch.length, (g) =>
        g
          .inject(batch.map((v) => this.createMap(v, false)))
          .unfold()
          .mergeV(__.identity())
          .count()
          .next(),
      ),
    );
    await this.inParallel(chunks(updated, batchSize), (batch) =>
      this.request('upsert-vertices', batch.length, (g) =>
        g
          .inject(batch.map((v) => this.row(v, false)))
          .unfold()
          .as('m')
          .mergeV(__.select('k'))
          .as('v')
          .sideEffect(__.properties().drop())
          .sideEffect(__.select('m').select('p').unfold().as('kv').select('v').property(cardinality.single, __.select('kv').by(column.keys), __.select('kv').by(column.values)))
          .count()
          .next(),
      ),
    );
  }

  /**
   * Upserts edges (one request per batch); their vertices must exist. New edges go as whole merge maps, the
   * others get their properties rewritten (as for vertices). Adding an edge modifies both of its vertices, so
   * two parallel batches holding edges of one vertex conflict (ConcurrentModificationException on Neptune,
   * a whole-request retry each).
   *
   * With `laneOf` (vertex id → lane key: Karma's environment), edges whose two ends share a lane go in that
   * lane's serial queue; lanes run in parallel (at most `concurrency` at once) and never share a vertex, so
   * they cannot conflict. Every other edge (across lanes, or touching a vertex without a lane: environments,
   * shared parameters) goes afterwards in one serial queue.
   *
   * Without `laneOf`: edges touching a hub (more than `hubDegree` edges in this write) go in one serial lane
   * after the parallel ones; the rest are sorted by their source so a component's edges share a batch.
   */
  async upsertEdges(
    edges: readonly GraphElement[],
    batchSize = this.batchSize,
    isNew: (id: string) => boolean = () => false,
    hubDegree = 16,
    laneOf?: (vertexId: string) => string | undefined,
  ): Promise<void> {
    const bySource = (a: GraphElement, b: GraphElement): number => (a.from! < b.from! ? -1 : a.from! > b.from! ? 1 : 0);
    const send = async (batch: GraphElement[]): Promise<void> => {
      const created = batch.filter((e) => isNew(e.id));
      const updated = batch.filter((e) => !isNew(e.id));
      if (created.length > 0) {
        await this.request('upsert-edges', created.length, (g) =>
          g
            .inject(created.map((e) => this.createMap(e, true)))
            .unfold()
            .mergeE(__.identity())
            .count()
            .next(),
        );
      }
      if (updated.length > 0) {
        await this.request('upsert-edges', updated.length, (g) =>
          g
            .inject(updated.map((e) => this.row(e, true)))
            .unfold()
            .as('m')
            .mergeE(__.select('k'))
            .as('e')
            .sideEffect(__.properties().drop())
            .sideEffect(__.select('m').select('p').unfold().as('kv').select('e').property(__.select('kv').by(column.keys), __.select('kv').by(column.values)))
            .count()
            .next(),
        );
      }
    };
    if (laneOf) {
      const lanes = new Map<string, GraphElement[]>();
      const rest: GraphElement[] = [];
      for (const e of edges) {
        const lane = laneOf(e.from!);
        if (lane !== undefined && lane === laneOf(e.to!)) {
          const list = lanes.get(lane);
          if (list) list.push(e);
          else lanes.set(lane, [e]);
        } else rest.push(e);
      }
      const queues = [...lanes.values()].sort((a, b) => b.length - a.length);
      await this.inParallel(
        queues.map((lane) => [lane]),
        async ([lane]) => {
          for (const batch of chunks(lane!.sort(bySource), batchSize)) await send(batch);
        },
      );
      await this.inParallel(chunks(rest.sort(bySource), batchSize), send, 1);
      return;
    }
    const degree = new Map<string, number>();
    for (const e of edges) {
      degree.set(e.from!, (degree.get(e.from!) ?? 0) + 1);
      degree.set(e.to!, (degree.get(e.to!) ?? 0) + 1);
    }
    const isHub = (e: GraphElement): boolean => (degree.get(e.from!) ?? 0) > hubDegree || (degree.get(e.to!) ?? 0) > hubDegree;
    const hubs = edges.filter(isHub).sort((a, b) => (a.to! < b.to! ? -1 : a.to! > b.to! ? 1 : 0));
    const rest = edges.filter((e) => !isHub(e)).sort(bySource);
    await this.inParallel(chunks(rest, batchSize), send);
    await this.inParallel(chunks(hubs, batchSize), send, 1);
  }

  async write(snapshot: GraphSnapshot): Promise<WriteStats> {
    const started = performance.now();
    const before = this.requests;
    const stored = await this.readHashes();
    const plan = planWrite(stored, snapshot);
    await this.upsertVertices(plan.upsertVertices, this.batchSize, (id) => !stored.vertices.has(id));
    // Lanes for edges: a vertex's environment (Karma's vertices carry `env`; environments and shared
    // parameters do not, so their edges go in the serial queue).
    const env = new Map<string, string>();
    for (const v of snapshot.vertices) if (typeof v.props['env'] === 'string') env.set(v.id, v.props['env']);
    await this.upsertEdges(plan.upsertEdges, this.batchSize, (id) => !stored.edges.has(id), undefined, (id) => env.get(id));
    await this.inParallel(chunks(plan.deleteEdges, this.batchSize), (ids) => this.request('delete-edges', ids.length, (g) => g.E(...ids).drop().iterate()));
    await this.inParallel(chunks(plan.deleteVertices, this.batchSize), (ids) => this.request('delete-vertices', ids.length, (g) => g.V(...ids).drop().iterate()));
    return writeStats(plan, stored, this.requests - before, performance.now() - started);
  }

  // ------------------------------------------------------------------------------------------ reads

  private static vertexOf(row: Map<string, unknown>): GraphElement {
    const props: Record<string, PropValue> = {};
    let hash = '';
    const raw = row.get('props') as Map<string, unknown[]>;
    for (const key of [...raw.keys()].sort()) {
      const values = raw.get(key)!;
      const value = toNumberish(Array.isArray(values) ? values[0] : values);
      if (key === HASH_PROPERTY) hash = String(value);
      else props[key] = value;
    }
    return { id: String(row.get('id')), label: String(row.get('label')), props, hash };
  }

  private static edgeOf(row: Map<string, unknown>): GraphElement {
    const v = NeptuneGraphStore.vertexOf(row);
    return { id: v.id, label: v.label, from: String(row.get('from')), to: String(row.get('to')), props: v.props, hash: v.hash };
  }

  private vertexProjection(g: Source | gremlin.process.GraphTraversal): gremlin.process.GraphTraversal {
    return (g as gremlin.process.GraphTraversal).project('id', 'label', 'props').by(t.id).by(t.label).by(__.valueMap());
  }

  private edgeProjection(g: gremlin.process.GraphTraversal): gremlin.process.GraphTraversal {
    return g.project('id', 'label', 'from', 'to', 'props').by(t.id).by(t.label).by(__.outV().id()).by(__.inV().id()).by(__.valueMap());
  }

  async read(options: { env?: string } = {}): Promise<GraphSnapshot | undefined> {
    const [vertexRows, edgeRows, meta] = await Promise.all([
      this.request('read', 0, async (g) => (await this.vertexProjection(g.V()).toList()) as unknown as Map<string, unknown>[]),
      this.request('read', 0, async (g) => (await this.edgeProjection(g.E()).toList()) as unknown as Map<string, unknown>[]),
      this.history.latestMeta(),
    ]);
    if (!meta && vertexRows.length === 0) return undefined;
    const snapshot: GraphSnapshot = {
      meta: meta ?? unknownMeta(this.endpoint),
      vertices: vertexRows.map(NeptuneGraphStore.vertexOf).sort(byId),
      edges: edgeRows.map(NeptuneGraphStore.edgeOf).sort(byId),
    };
    return options.env === undefined ? snapshot : filterEnv(snapshot, options.env);
  }

  /** Removes every vertex and edge (tests, benchmarks). */
  async clear(): Promise<void> {
    await this.request('delete-vertices', 0, (g) => g.V().drop().iterate());
  }

  // ------------------------------------------------------------------------------------------ history

  recordBuild(snapshot: GraphSnapshot, stats: WriteStats): Promise<BuildRecord> {
    return this.history.record(snapshot, stats);
  }

  listBuilds(limit?: number): Promise<BuildRecord[]> {
    return this.history.list(limit);
  }

  readBuild(id: string): Promise<GraphSnapshot | undefined> {
    return this.history.read(id);
  }

  async close(): Promise<void> {
    const c = this.connection;
    this.connection = undefined;
    this.g = undefined;
    await c?.close().catch(() => undefined);
  }
}

function unknownMeta(endpoint: string): BuildMeta {
  return { project: '', builtAt: '', source: endpoint, configFingerprint: '' };
}
