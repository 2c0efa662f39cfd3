/**
 * NeptuneGraphStore against a real Gremlin Server 3.7.4 (TinkerGraph configured like Neptune: transactional,
 * string ids, set cardinality by default), started by the integration global setup; the kill-mid-write test
 * runs its own server so it can stop and restart it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gremlin from 'gremlin';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openLocalBackend, type Backend } from '../../lib/app/backend.ts';
import { buildFromSources } from '../../lib/app/build.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { NeptuneGraphStore, type RequestKind } from '../../lib/adapters/neptune/graph-store.ts';
import { DirectoryBuildHistory } from '../../lib/adapters/history/directory-history.ts';
import { StoreError } from '../../lib/core/errors.ts';
import { filterEnv, type GraphElement, type GraphSnapshot } from '../../lib/core/snapshot.ts';
import { REPO_ROOT, startGremlinServer, type GremlinServer } from '../../scripts/servers/servers.ts';
import { gremlinEndpoint } from '../support/stand-ins.ts';

const EXAMPLE = join(REPO_ROOT, 'examples', 'acme-platform');

/** Elements only, ids sorted, props keys sorted: what two stores must agree on. */
function norm(s: GraphSnapshot | undefined): { vertices: GraphElement[]; edges: GraphElement[] } {
  if (!s) return { vertices: [], edges: [] };
  const one = (e: GraphElement): GraphElement => ({
    id: e.id,
    label: e.label,
    ...(e.from !== undefined ? { from: e.from, to: e.to! } : {}),
    props: Object.fromEntries(Object.entries(e.props).sort(([a], [b]) => (a < b ? -1 : 1))),
    hash: e.hash,
  });
  const byId = (a: GraphElement, b: GraphElement): number => (a.id < b.id ? -1 : 1);
  return { vertices: s.vertices.map(one).sort(byId), edges: s.edges.map(one).sort(byId) };
}

function withVertex(s: GraphSnapshot, id: string, change: (v: GraphElement) => GraphElement | undefined): GraphSnapshot {
  const vertices = s.vertices.flatMap((v) => (v.id === id ? [change(v)].filter((x): x is GraphElement => x !== undefined) : [v]));
  const kept = new Set(vertices.map((v) => v.id));
  return { ...s, vertices, edges: s.edges.filter((e) => kept.has(e.from!) && kept.has(e.to!)) };
}

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'karma-neptune-'));
  dirs.push(d);
  return d;
};

let base: GraphSnapshot;
beforeAll(async () => {
  base = (await buildFromSources(new DirectorySource(EXAMPLE), undefined)).snapshot;
  // The example without a runtime: large enough that every write below takes several batches.
  expect([base.vertices.length, base.edges.length]).toEqual([53, 101]);
});
afterAll(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('NeptuneGraphStore on Gremlin Server', () => {
  let store: NeptuneGraphStore;
  let sent: RequestKind[];

  beforeEach(async () => {
    sent = [];
    store = new NeptuneGraphStore({
      endpoint: gremlinEndpoint(),
      history: new DirectoryBuildHistory(tempDir()),
      batchSize: 10,
      onRequest: (kind) => void sent.push(kind),
    });
    await store.clear();
    sent = [];
  });
  afterEach(async () => {
    await store.close();
  });

  it('writes the example graph and reads back exactly what the local store holds for the same build', async () => {
    // Prepare
    const local: Backend = openLocalBackend(join(tempDir(), 'karma.db'), { create: true });
    await local.graph.write(base);
    await local.graph.recordBuild(base, { added: 0, updated: 0, deleted: 0, unchanged: 0, requests: 0, millis: 0 });

    // Act
    const stats = await store.write(base);
    await store.recordBuild(base, stats);
    const back = await store.read();

    // Assess
    expect(stats).toMatchObject({ added: base.vertices.length + base.edges.length, updated: 0, deleted: 0, unchanged: 0 });
    // 2 hash reads + ceil(n/10) batches of each kind (+ whole-request retries after transaction conflicts):
    // batching is real. Edges are queued per environment (plus one queue for the rest), each queue
    // chunked on its own, so each can end in one partial batch more.
    const floor = 2 + Math.ceil(base.vertices.length / 10) + Math.ceil(base.edges.length / 10) + store.retries;
    const envs = new Set(base.vertices.map((v) => v.props['env']).filter((e) => e !== undefined)).size;
    expect(stats.requests).toBeGreaterThanOrEqual(floor);
    expect(stats.requests).toBeLessThanOrEqual(floor + envs);
    expect(norm(back)).toEqual(norm(await local.graph.read()));
    expect(norm(back)).toEqual(norm(base));
    expect(back!.meta).toEqual(base.meta);
    await local.close();
  });

  it('an unchanged rewrite sends nothing but the two hash reads', async () => {
    await store.write(base);
    sent = [];

    const stats = await store.write(base);

    expect(stats).toMatchObject({ added: 0, updated: 0, deleted: 0, unchanged: base.vertices.length + base.edges.length, requests: 2 });
    expect(sent).toEqual(['read', 'read']);
  });

  it('sends only the changed element, and a property that vanished vanishes from the store', async () => {
    await store.write(base);
    const target = base.vertices.find((v) => v.label === 'Component' && v.props['description'] !== undefined)!;
    const changed = withVertex(base, target.id, (v) => {
      const { description: _dropped, ...rest } = v.props;
      return { ...v, props: { ...rest, extra: 42, flag: false }, hash: `${v.hash}-changed` };
    });
    sent = [];

    const stats = await store.write(changed);

    expect(stats).toMatchObject({ added: 0, updated: 1, deleted: 0, requests: 3 });
    expect(sent).toEqual(['read', 'read', 'upsert-vertices']);
    const back = await store.read();
    expect(norm(back)).toEqual(norm(changed));
    const v = back!.vertices.find((x) => x.id === target.id)!;
    expect(v.props).not.toHaveProperty('description');
    expect(v.props).toMatchObject({ extra: 42, flag: false });
  });

  it('deletes vanished vertices (with their edges) and vanished edges', async () => {
    await store.write(base);
    const component = base.vertices.find((v) => v.label === 'Component')!;
    const droppedEdge = base.edges.find((e) => e.from !== component.id && e.to !== component.id)!;
    let smaller = withVertex(base, component.id, () => undefined);
    smaller = { ...smaller, edges: smaller.edges.filter((e) => e.id !== droppedEdge.id) };

    const stats = await store.write(smaller);

    expect(stats.added + stats.updated).toBe(0);
    expect(stats.deleted).toBe(base.vertices.length - smaller.vertices.length + (base.edges.length - smaller.edges.length));
    expect(norm(await store.read())).toEqual(norm(smaller));
  });

  it('keeps single cardinality: rewriting a property replaces it, never adds a second value', async () => {
    const id = base.vertices[0]!.id;
    for (let i = 0; i < 3; i++) await store.write(withVertex(base, id, (v) => ({ ...v, props: { ...v.props, round: i }, hash: `h${i}` })));

    const conn = new gremlin.driver.DriverRemoteConnection(gremlinEndpoint(), { headers: {} });
    try {
      const g = gremlin.process.AnonymousTraversalSource.traversal().withRemote(conn);
      const values = await g.V(id).properties('round').value().toList();
      const hashes = await g.V(id).properties('_hash').value().toList();
      // Assess
      expect(values).toEqual([2]);
      expect(hashes).toEqual(['h2']);
    } finally {
      await conn.close();
    }
  });

  it('reads one environment with the same semantics as filterEnv', async () => {
    await store.write(base);
    const env = base.vertices.find((v) => v.label === 'Environment')!.props['name'] as string;

    const part = await store.read({ env });

    expect(norm(part)).toEqual(norm(filterEnv(base, env)));
    expect(part!.vertices.length).toBeLessThan(base.vertices.length);
  });

  it('keeps the build history beside the graph, newest first', async () => {
    const s1 = await store.write(base);
    const r1 = await store.recordBuild(base, s1);
    const second = { ...base, meta: { ...base.meta, builtAt: new Date(Date.parse(base.meta.builtAt) + 1000).toISOString() } };
    const r2 = await store.recordBuild(second, s1);

    const list = await store.listBuilds();

    expect(list.map((r) => r.id)).toEqual([r2.id, r1.id]);
    expect(norm(await store.readBuild(r1.id))).toEqual(norm(base));
    expect((await store.readBuild(r2.id))!.meta.builtAt).toBe(second.meta.builtAt);
    expect(await store.readBuild('20990101T000000000-abcdef')).toBeUndefined();
  });
});

describe('NeptuneGraphStore when the server dies mid-write', () => {
  let server: GremlinServer;
  beforeAll(async () => {
    server = await startGremlinServer({ dataFile: join(tempDir(), 'graph.json') });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('fails that write with one StoreError, and the next write after a restart on the same port converges exactly', async () => {
    // Prepare: a first build fully written, then a second that changes every component and drops a few.
    const history = new DirectoryBuildHistory(tempDir());
    const first = new NeptuneGraphStore({ endpoint: server.endpoint, history, batchSize: 5, concurrency: 1 });
    await first.write(base);
    await first.close();
    const components = base.vertices.filter((v) => v.label === 'Component');
    let second: GraphSnapshot = {
      ...base,
      vertices: base.vertices.map((v) => (v.label === 'Component' ? { ...v, props: { ...v.props, rebuilt: true }, hash: `${v.hash}-2` } : v)),
    };
    for (const c of components.slice(0, 2)) second = withVertex(second, c.id, () => undefined);

    let upserts = 0;
    const store = new NeptuneGraphStore({
      endpoint: server.endpoint,
      history,
      batchSize: 2,
      concurrency: 1,
      retry: { attempts: 3, baseMs: 50, maxMs: 200 },
      onRequest: async (kind) => {
        // Act: stop the server (gracefully: TinkerGraph saves what was committed) after 3 upsert requests.
        if (kind === 'upsert-vertices' && ++upserts === 4) await server.stop();
      },
    });

    const interrupted = await store.write(second).then(
      () => undefined,
      (e: unknown) => e,
    );
    await server.restart();
    const between = await store.read();
    const stats = await store.write(second);
    const after = await store.read();
    await store.close();

    // Assess
    expect(interrupted).toBeInstanceOf(StoreError);
    expect((interrupted as Error).message).toMatch(/^Neptune upsert-vertices \(2 records\) at ws:\/\/127\.0\.0\.1:\d+\/gremlin failed: /);
    expect((interrupted as Error).message).not.toContain('\n');
    // The interrupted write landed partly: 3 batches of 2 components.
    const rebuilt = between!.vertices.filter((v) => v.props['rebuilt'] === true).length;
    expect(rebuilt).toBe(6);
    expect(norm(between)).not.toEqual(norm(second));
    // The next write sends only the rest and converges to the exact graph.
    expect(stats.updated).toBe(components.length - 2 - 6);
    // Deletes come after every upsert, so the interrupted write deleted nothing: the two components and their edges go now.
    expect(stats.deleted).toBe(base.vertices.length + base.edges.length - second.vertices.length - second.edges.length);
    expect(norm(after)).toEqual(norm(second));
    expect(store.reconnects).toBeGreaterThanOrEqual(1);
  });
});
