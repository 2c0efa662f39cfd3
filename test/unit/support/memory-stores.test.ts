/**
 * The in-memory stores of test/support behave as the SQLite adapter does: every case runs against both, with the
 * same clock, and expects the same exact values. Unit tests that use the in-memory stores rely on this.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../lib/adapters/local/database.ts';
import { LocalGraphStore } from '../../../lib/adapters/local/graph-store.ts';
import { LocalRuntimeStore } from '../../../lib/adapters/local/runtime-store.ts';
import type { GraphElement, GraphSnapshot } from '../../../lib/core/snapshot.ts';
import type { GraphStore, RuntimeStore } from '../../../lib/ports.ts';
import { InMemoryGraphStore, InMemoryRuntimeStore, tickingClock } from '../../support/memory-stores.ts';

type Stores = { runtime: RuntimeStore; graph: GraphStore; close(): void };

const implementations: [string, () => Stores][] = [
  ['in-memory', () => ({ runtime: new InMemoryRuntimeStore(tickingClock()), graph: new InMemoryGraphStore({ keepBuilds: 2 }), close: () => undefined })],
  [
    'SQLite',
    () => {
      const db = openDatabase(':memory:', { create: false });
      return { runtime: new LocalRuntimeStore(db, tickingClock()), graph: new LocalGraphStore(db, { keepBuilds: 2 }), close: () => db.close() };
    },
  ],
];

const vertex = (id: string, hash: string, props: GraphElement['props'] = {}): GraphElement => ({ id, label: id.split(':')[0]!, props, hash });
const edge = (id: string, from: string, to: string, hash = 'e'): GraphElement => ({ id, label: 'DEPENDS_ON', from, to, props: {}, hash });
const snapshot = (builtAt: string, vertices: GraphElement[], edges: GraphElement[] = []): GraphSnapshot => ({
  meta: { project: 'p', builtAt, source: 'test', configFingerprint: 'f' },
  vertices,
  edges,
});

describe.each(implementations)('%s stores', (_name, open) => {
  let stores: Stores;
  afterEach(() => stores.close());

  describe('RuntimeStore', () => {
    it('versions every put, keeps history, reads paths recursively and names in the order asked', async () => {
      // Prepare
      stores = open();
      const { runtime } = stores;

      // Act
      const puts = [
        await runtime.put('/karma/dev/net/outputs/id', 'vpc-1'),
        await runtime.put('/karma/dev/net/outputs/id', 'vpc-1'),
        await runtime.put('/karma/dev/net/outputs/id', 'vpc-2', { type: 'SecureString' }),
        await runtime.put('/karma/dev-2/app/state', '{}'),
        await runtime.put('/karma/dev/app/state', '{}'),
      ];

      // Assess
      expect(puts).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 1 }, { version: 1 }]);
      expect(await runtime.readPath('/karma/dev')).toEqual([
        { name: '/karma/dev/app/state', value: '{}', type: 'String', version: 1, lastModified: '2026-11-28T00:00:04.000Z' },
        { name: '/karma/dev/net/outputs/id', value: 'vpc-2', type: 'SecureString', version: 3, lastModified: '2026-11-28T00:00:02.000Z' },
      ]);
      expect((await runtime.readPath('/karma/dev/')).map((p) => p.name)).toEqual(['/karma/dev/app/state', '/karma/dev/net/outputs/id']);
      expect((await runtime.readNames(['/karma/dev-2/app/state', '/missing', '/karma/dev/app/state'])).map((p) => p.name)).toEqual(['/karma/dev-2/app/state', '/karma/dev/app/state']);
    });

    it('refuses overwrite=false on an existing name and deletes names with their history', async () => {
      // Prepare
      stores = open();
      const { runtime } = stores;
      await runtime.put('/karma/dev/a/state', 'x');

      // Act
      const refused = (await runtime.put('/karma/dev/a/state', 'y', { overwrite: false }).catch((e: unknown) => e)) as Error;
      const created = await runtime.put('/karma/dev/b/state', 'y', { overwrite: false });
      const deleted = await runtime.delete(['/karma/dev/a/state', '/karma/dev/a/state', '/karma/dev/none']);

      // Assess
      expect([refused.name, refused.message]).toEqual(['ParameterExistsError', 'parameter /karma/dev/a/state already exists (version 1); pass overwrite to replace it']);
      expect(created).toEqual({ version: 1 });
      expect(deleted).toEqual({ deleted: 1 });
      expect((await runtime.readPath('/karma')).map((p) => p.name)).toEqual(['/karma/dev/b/state']);
      expect(await runtime.put('/karma/dev/a/state', 'z')).toEqual({ version: 1 });
    });
  });

  describe('GraphStore', () => {
    it('writes only what changed, deletes what vanished with its edges, and reads under the newest build', async () => {
      // Prepare
      stores = open();
      const { graph } = stores;
      const first = snapshot('2026-11-28T10:00:00Z', [vertex('env:dev', 'h1'), vertex('component:dev:a', 'h2', { env: 'dev' }), vertex('component:dev:b', 'h3', { env: 'dev' })], [edge('e:a-b', 'component:dev:a', 'component:dev:b'), edge('e:a-env', 'component:dev:a', 'env:dev')]);
      const second = snapshot('2026-11-28T11:00:00Z', [vertex('env:dev', 'h1'), vertex('component:dev:b', 'h3x', { env: 'dev', status: 'pending' }), vertex('component:prod:c', 'h4', { env: 'prod' })]);

      // Act
      const before = await graph.read();
      const s1 = await graph.write(first);
      await graph.recordBuild(first, s1);
      const s2 = await graph.write(second);
      await graph.recordBuild(second, s2);
      const again = await graph.write(second);

      // Assess
      expect(before).toBeUndefined();
      expect({ ...s1, millis: 0 }).toEqual({ added: 5, updated: 0, deleted: 0, unchanged: 0, requests: 7, millis: 0 });
      expect({ ...s2, millis: 0 }).toEqual({ added: 1, updated: 1, deleted: 3, unchanged: 1, requests: 8, millis: 0 });
      expect({ ...again, millis: 0 }).toEqual({ added: 0, updated: 0, deleted: 0, unchanged: 3, requests: 2, millis: 0 });
      const [env, b, c] = second.vertices;
      expect(await graph.read()).toEqual({ ...second, vertices: [b, c, env] });
      expect(await graph.read({ env: 'dev' })).toEqual({ ...second, vertices: [b, env] });
    });

    it('keeps the newest keepBuilds builds, lists them newest first and reads each back', async () => {
      // Prepare
      stores = open();
      const { graph } = stores;
      const stats = { added: 0, updated: 0, deleted: 0, unchanged: 0, requests: 0, millis: 0 };
      const builds = ['10', '11', '12'].map((h) => snapshot(`2026-11-28T${h}:00:00Z`, [vertex(`env:e${h}`, h)]));

      // Act
      const records = [];
      for (const b of builds) records.push(await graph.recordBuild(b, stats));

      // Assess: recorded without a write, each record counts the changes since the one before (as graph diff does)
      expect(records.map((r) => [r.id, r.stats?.added, r.stats?.deleted])).toEqual([['1', 1, 0], ['2', 1, 1], ['3', 1, 1]]);
      const replaced = { ...stats, added: 1, deleted: 1 };
      expect(await graph.listBuilds()).toEqual([
        { id: '3', builtAt: '2026-11-28T12:00:00Z', source: 'test', vertices: 1, edges: 0, stats: replaced },
        { id: '2', builtAt: '2026-11-28T11:00:00Z', source: 'test', vertices: 1, edges: 0, stats: replaced },
      ]);
      expect((await graph.listBuilds(1)).map((r) => r.id)).toEqual(['3']);
      expect(await graph.readBuild('1')).toBeUndefined();
      expect(await graph.readBuild('2')).toEqual(builds[1]);
    });
  });
});
