/**
 * lib/app/build.ts over the in-memory stores: what readRuntime reads, and what storeBuild sends and records as
 * the runtime and the config change (a build that changes nothing sends nothing).
 */
import { describe, expect, it } from 'vitest';
import { buildFromConfig, readRuntime, storeBuild } from '../../../lib/app/build.ts';
import type { Config } from '../../../lib/core/model.ts';
import type { RuntimeStore } from '../../../lib/ports.ts';
import { InMemoryGraphStore } from '../../support/memory-stores.ts';
import { config } from '../../support/config.ts';
import { apply, memoryRuntime } from '../../support/applies.ts';

const clock = { now: () => new Date('2026-11-28T12:00:00Z') };
const network = { outputs: ['vpc_id'], in: { dev: {} } };
const app = { in: { dev: { vpc: '${network.vpc_id}' } } };

const snapshotOf = async (cfg: Config, runtime: RuntimeStore) => (await buildFromConfig(cfg, runtime, { clock })).snapshot;

describe('readRuntime', () => {
  it('reads every environment subtree and the external parameters the config references, nothing else', async () => {
    // Prepare
    const cfg = config(['dev', 'prod'], { network, app: { in: { dev: { vpc: '${network.vpc_id}', key: '${ssm:/shared/api-key}' } } } });
    const runtime = memoryRuntime();
    for (const name of ['/karma/dev/network/outputs/vpc_id', '/karma/prod/network/state', '/karma/qa/x/state', '/shared/api-key', '/shared/other']) await runtime.put(name, 'v');

    // Act
    const params = await readRuntime(cfg, runtime);

    // Assess
    expect([...params.keys()]).toEqual(['/karma/dev/network/outputs/vpc_id', '/karma/prod/network/state', '/shared/api-key']);
  });
});

describe('storeBuild', () => {
  it('writes a first build whole, then only the elements whose hash changed, and deletes what vanished', async () => {
    // Prepare
    const cfg = config(['dev'], { network, app });
    const runtime = memoryRuntime();
    const graph = new InMemoryGraphStore();
    const first = await snapshotOf(cfg, runtime);

    // Act
    const initial = await storeBuild(graph, first);
    const same = await storeBuild(graph, await snapshotOf(cfg, runtime));
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
    const applied = await storeBuild(graph, await snapshotOf(cfg, runtime));
    const withoutApp = config(['dev'], { network });
    const last = await snapshotOf(withoutApp, runtime);
    const removed = await storeBuild(graph, last);

    // Assess
    // 4 vertices (env, two components, one output) and 5 edges (IN_ENV ×2, PRODUCES, CONSUMES, DEPENDS_ON).
    expect(initial).toEqual({
      stats: { added: 9, updated: 0, deleted: 0, unchanged: 0, requests: 11, millis: 0 },
      record: { id: '1', builtAt: '2026-11-28T12:00:00.000Z', source: 'test', vertices: 4, edges: 5, stats: initial.stats },
    });
    expect(same.stats).toEqual({ added: 0, updated: 0, deleted: 0, unchanged: 9, requests: 2, millis: 0 });
    // network never-applied → in-sync, app blocked → never-applied, the output now present: three vertices.
    expect(applied.stats).toEqual({ added: 0, updated: 3, deleted: 0, unchanged: 6, requests: 5, millis: 0 });
    // app (never applied, so not orphaned) goes with its CONSUMES, DEPENDS_ON and IN_ENV edges.
    expect(removed.stats).toEqual({ added: 0, updated: 0, deleted: 4, unchanged: 5, requests: 7, millis: 0 });
    expect((await graph.listBuilds()).map((b) => [b.id, b.vertices, b.edges])).toEqual([
      ['4', 3, 2],
      ['3', 4, 5],
      ['2', 4, 5],
      ['1', 4, 5],
    ]);
    expect(await graph.read()).toEqual(last);
    expect(await graph.readBuild('1')).toEqual(first);
  });
});
