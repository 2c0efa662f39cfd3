/**
 * Removed deployments: a deployment gone from the config whose runtime record remains is orphaned, with an
 * exact reason; it is in the graph (Component vertex, leftover outputs), in no plan, and listed per environment.
 */
import { describe, expect, it } from 'vitest';
import { buildGraph, toSnapshot } from '../../../lib/core/graph.ts';
import { findOrphans, type Removal } from '../../../lib/core/orphans.ts';
import { crossEnvironmentDependents, destroyClosure, planEnv } from '../../../lib/core/order.ts';
import { explainStatus } from '../../../lib/core/status.ts';
import type { Config } from '../../../lib/core/model.ts';
import type { RuntimeStore } from '../../../lib/ports.ts';
import { config } from '../../support/config.ts';
import { apply, memoryRuntime, status } from '../../support/applies.ts';

// network → app in dev; network also in prod.
const full = {
  network: { outputs: ['vpc_id'], in: { dev: { cidr: '10.0.0.0/16' }, prod: { cidr: '10.1.0.0/16' } } },
  app: { outputs: ['url', 'token'], in: { dev: { vpc: '${network.vpc_id}' } } },
};
const withoutApp = { network: full.network, app: { outputs: ['url', 'token'], in: {} } };

async function snapshot(runtime: RuntimeStore) {
  return new Map((await runtime.readPath('/karma')).map((p) => [p.name, p]));
}

async function orphanedApp(extra: Parameters<typeof apply>[5] = {}): Promise<{ cfg: Config; runtime: RuntimeStore }> {
  const before = config(['dev', 'prod'], full);
  const runtime = memoryRuntime();
  await apply(before, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
  await apply(before, runtime, 'dev', 'app', { url: 'https://app', token: 's3cret' }, { commit: 'abcdef0123456789', ...extra });
  return { cfg: config(['dev', 'prod'], withoutApp), runtime };
}

const build = async (cfg: Config, runtime: RuntimeStore, removals?: ReadonlyMap<string, Removal>) =>
  buildGraph(cfg, await snapshot(runtime), { builtAt: '2026-11-28T12:00:00Z', ...(removals ? { removals } : {}) });

describe('orphaned deployments', () => {
  it('removed from the config with its state still there: orphaned, with when it was last applied', async () => {
    // Prepare
    const { cfg, runtime } = await orphanedApp();
    // Act
    const b = await build(cfg, runtime);
    // Assess
    expect(status(b, 'dev', 'app')).toEqual(['orphaned', 'no longer in the config; last applied at 2026-11-28T10:00:00Z (commit abcdef0)']);
    expect(status(b, 'dev', 'network')[0]).toBe('in-sync');
    expect(b.orphans.map((o) => [o.env, o.component, [...o.outputs.keys()]])).toEqual([['dev', 'app', ['token', 'url']]]);
  });

  it('the reason names the commit that removed it, or says the removal is not committed yet', async () => {
    const { cfg, runtime } = await orphanedApp();
    const committed = await build(cfg, runtime, new Map([['dev/app', { file: 'environments/dev/app.json', lastCommit: 'b'.repeat(40), removedIn: { commit: '1234567890abcdef', at: '2026-11-29T08:00:00Z' } }]]));
    const uncommitted = await build(cfg, runtime, new Map([['dev/app', { file: 'environments/dev/app.json', lastCommit: 'b'.repeat(40), uncommitted: true }]]));

    expect(status(committed, 'dev', 'app')[1]).toBe('removed from the config in commit 1234567 (2026-11-29T08:00:00Z); last applied at 2026-11-28T10:00:00Z (commit abcdef0)');
    expect(status(uncommitted, 'dev', 'app')[1]).toBe('removed from the config in the working tree (not committed yet); last applied at 2026-11-28T10:00:00Z (commit abcdef0)');
  });

  it('a failed last apply, outputs without a state, and an unreadable state are all orphaned, each with its own reason', async () => {
    const { cfg, runtime } = await orphanedApp({ result: 'failed', error: 'boom' });
    await runtime.put('/karma/dev/cache/outputs/endpoint', 'cache:6379');
    await runtime.put('/karma/prod/queue/state', '{not json');

    const b = await build(cfg, runtime);

    expect(status(b, 'dev', 'app')).toEqual(['orphaned', 'no longer in the config; its last apply failed at 2026-11-28T10:00:00Z (commit abcdef0)']);
    expect(status(b, 'dev', 'cache')).toEqual(['orphaned', 'no longer in the config; 1 output left without an apply record']);
    expect(status(b, 'prod', 'queue')).toEqual(['orphaned', 'no longer in the config; state unreadable: /karma/prod/queue/state is not valid JSON']);
  });

  it('only state and output parameters of declared environments count; deployments in the config never do', async () => {
    const cfg = config(['dev', 'prod'], full);
    const runtime = memoryRuntime();
    await runtime.put('/karma/gone-env/app/state', '{}');
    await runtime.put('/karma/dev/app/notes/x', 'y');
    await runtime.put('/karma/dev/app/outputs/url/extra', 'y');
    await runtime.put('/karma/dev/network/state', '{}');

    expect(findOrphans(cfg, await snapshot(runtime))).toEqual([]);
  });

  it('is a Component vertex with its leftover outputs (no value, no hash), in no plan, listed per environment and explained', async () => {
    const { cfg, runtime } = await orphanedApp();
    const b = await build(cfg, runtime);
    const snap = toSnapshot(b);

    const vertex = snap.vertices.find((v) => v.id === 'component:dev:app')!;
    expect(vertex.props).toMatchObject({ name: 'app', env: 'dev', status: 'orphaned', appliedAt: '2026-11-28T10:00:00Z', result: 'success', appliedCommit: 'abcdef0123456789' });
    const token = snap.vertices.find((v) => v.id === 'output:dev:app:token')!;
    expect(token.props).toEqual({ name: 'token', env: 'dev', component: 'app', path: '/karma/dev/app/outputs/token', present: true, version: 1, type: 'String' });
    expect(snap.edges.map((e) => e.id)).toEqual(expect.arrayContaining(['IN_ENV:component:dev:app->env:dev', 'PRODUCES:component:dev:app->output:dev:app:url']));
    const plan = planEnv(b, 'dev');
    expect(plan.waves.flat()).not.toContain('app');
    expect(plan.orphaned).toEqual([{ component: 'app', status: 'orphaned', reason: 'no longer in the config; last applied at 2026-11-28T10:00:00Z (commit abcdef0)' }]);
    expect(planEnv(b, 'prod').orphaned).toEqual([]);
    expect(explainStatus(b.statuses, 'dev', 'app')).toEqual([
      'app is orphaned: no longer in the config; last applied at 2026-11-28T10:00:00Z (commit abcdef0)',
      '  its resources still exist: karma destroy app dev (destroy them) or karma forget app dev (drop the record)',
    ]);
  });
});

describe('destroy closure', () => {
  // network ← database ← app ← site; cache stands alone; prod/edge consumes dev's network across environments.
  const cfg = config(['dev', 'prod'], {
    network: { outputs: ['vpc_id'], in: { dev: {} } },
    database: { outputs: ['endpoint'], in: { dev: { vpc: '${network.vpc_id}' } } },
    app: { outputs: ['url'], dependsOn: ['database'], in: { dev: {} } },
    site: { in: { dev: { url: '${app.url}' } } },
    cache: { in: { dev: {} } },
    edge: { in: { prod: { vpc: '${env:dev/network.vpc_id}' } } },
  });

  it('is the component and its dependents in the environment, dependents first', () => {
    expect(destroyClosure(cfg, 'dev', 'database')).toEqual([['site'], ['app'], ['database']]);
    expect(destroyClosure(cfg, 'dev', 'network', (n) => n !== 'app')).toEqual([['database'], ['network']]);
    expect(() => destroyClosure(cfg, 'dev', 'nope')).toThrow('component "nope" is not deployed in dev; deployed there: app, cache, database, network, site');
  });

  it('names dependents in other environments', () => {
    expect(crossEnvironmentDependents(cfg, 'dev', 'network')).toEqual(['prod/edge']);
    expect(crossEnvironmentDependents(cfg, 'dev', 'app')).toEqual([]);
  });
});
