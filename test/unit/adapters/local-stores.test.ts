import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { ParameterExistsError } from '../../../lib/adapters/local/runtime-store.ts';
import { diffSnapshots, type GraphSnapshot } from '../../../lib/core/snapshot.ts';
import { storeBuild } from '../../../lib/app/build.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const backend = () => {
  const dir = mkdtempSync(join(tmpdir(), 'karma-store-'));
  dirs.push(dir);
  return openLocalBackend(join(dir, '.karma', 'karma.db'), { create: true });
};

const v = (id: string, props: Record<string, string | number | boolean>, hash = id) => ({ id, label: 'Component', props, hash });
const e = (id: string, from: string, to: string, hash = id) => ({ id, label: 'DEPENDS_ON', from, to, props: {}, hash });
const snap = (vertices: GraphSnapshot['vertices'], edges: GraphSnapshot['edges']): GraphSnapshot => ({
  meta: { project: 'p', builtAt: '2026-11-28T00:00:00Z', source: 't', configFingerprint: 'f' },
  vertices,
  edges,
});

describe('local runtime store (SSM semantics)', () => {
  it('versions increase on every put, paths read recursively and exactly', async () => {
    // Prepare
    const b = backend();
    // Act
    await b.runtime.put('/karma/dev/net/outputs/id', 'a');
    await b.runtime.put('/karma/dev/net/outputs/id', 'a');
    await b.runtime.put('/karma/dev/net/outputs/id', 'b', { type: 'SecureString' });
    await b.runtime.put('/karma/dev-2/x', 'no');
    await b.runtime.put('/karma/dev', 'not under, the path itself');
    // Assess
    expect((await b.runtime.readPath('/karma/dev')).map((p) => [p.name, p.version, p.type])).toEqual([['/karma/dev/net/outputs/id', 3, 'SecureString']]);
    expect((await b.runtime.readNames(['/karma/dev/net/outputs/id'])).map((p) => [p.value, p.version])).toEqual([['b', 3]]);
    expect((await b.runtime.readNames(['/missing', '/karma/dev-2/x'])).map((p) => p.name)).toEqual(['/karma/dev-2/x']);
    await expect(b.runtime.put('/karma/dev-2/x', 'again', { overwrite: false })).rejects.toBeInstanceOf(ParameterExistsError);
    await b.close();
  });

  it('delete removes the named parameters and their history, ignores missing names; a new put starts at version 1', async () => {
    const b = backend();
    await b.runtime.put('/karma/dev/app/state', 's');
    await b.runtime.put('/karma/dev/app/state', 's2');
    await b.runtime.put('/karma/dev/app/outputs/url', 'u');
    await b.runtime.put('/karma/dev/app-2/state', 'stays');

    const result = await b.runtime.delete(['/karma/dev/app/state', '/karma/dev/app/outputs/url', '/karma/dev/app/missing']);

    expect(result).toEqual({ deleted: 2 });
    expect((await b.runtime.readPath('/karma/dev')).map((p) => p.name)).toEqual(['/karma/dev/app-2/state']);
    expect(await b.runtime.put('/karma/dev/app/state', 'again')).toEqual({ version: 1 });
    await b.close();
  });
});

describe('local graph store', () => {
  it('writes only what changed, deletes what vanished, and keeps build history', async () => {
    const b = backend();
    const first = snap([v('a', { n: 1 }), v('b', { n: 2 })], [e('DEPENDS_ON:b->a', 'b', 'a')]);
    const s1 = await b.graph.write(first);
    await b.graph.recordBuild(first, s1);
    expect([s1.added, s1.updated, s1.deleted, s1.unchanged]).toEqual([3, 0, 0, 0]);

    const again = await b.graph.write(first);
    expect([again.added, again.updated, again.deleted, again.unchanged]).toEqual([0, 0, 0, 3]);

    const second = snap([v('a', { n: 9 }, 'a2'), v('c', { n: 3 })], []);
    const s2 = await b.graph.write(second);
    await b.graph.recordBuild(second, s2);
    expect([s2.added, s2.updated, s2.deleted, s2.unchanged]).toEqual([1, 1, 2, 0]);

    const read = await b.graph.read();
    expect(read?.vertices.map((x) => [x.id, x.props['n']])).toEqual([['a', 9], ['c', 3]]);
    expect(read?.edges).toEqual([]);
    const builds = await b.graph.listBuilds();
    expect(builds.map((x) => x.id)).toEqual(['2', '1']);
    expect((await b.graph.readBuild('1'))?.vertices.map((x) => x.id)).toEqual(['a', 'b']);
    await b.close();
  });

  it('deletes the edges still attached to vanished vertices, in one statement for all of them', async () => {
    // Prepare: a store whose next snapshot keeps two unchanged edges that point at vertices it drops.
    const b = backend();
    const first = snap([v('a', {}), v('b', {}), v('c', {}), v('d', {})], [e('E:b->a', 'b', 'a'), e('E:c->d', 'c', 'd'), e('E:c->b', 'c', 'b')]);
    await b.graph.write(first);
    // Act
    const second = snap([v('b', {}), v('c', {})], [e('E:b->a', 'b', 'a'), e('E:c->d', 'c', 'd'), e('E:c->b', 'c', 'b')]);
    const stats = await b.graph.write(second);
    await b.graph.recordBuild(second, stats);
    // Assess: 2 reads + 1 statement for the attached edges + 2 vertex deletes; only E:c->b is left.
    expect([stats.deleted, stats.requests]).toEqual([2, 5]);
    expect((await b.graph.read())?.edges.map((x) => x.id)).toEqual(['E:c->b']);
    await b.close();
  });

  it('a build record counts the changes since the previous record, as graph diff does, even after a write nobody recorded', async () => {
    // Prepare: build #1; then a write that is not recorded (a pipeline of an older Karma did that) changes a and adds c.
    const b = backend();
    const s1 = snap([v('a', { n: 1 }), v('b', { n: 2 })], [e('E:b->a', 'b', 'a')]);
    await storeBuild(b.graph, s1);
    await b.graph.write(snap([v('a', { n: 9 }, 'a2'), v('b', { n: 2 }), v('c', {})], [e('E:b->a', 'b', 'a')]));

    // Act: build #2 adds d on top of that; build #3 changes b, right after #2.
    const s2 = snap([v('a', { n: 9 }, 'a2'), v('b', { n: 2 }), v('c', {}), v('d', {})], [e('E:b->a', 'b', 'a')]);
    const second = await storeBuild(b.graph, s2);
    const s3 = snap([v('a', { n: 9 }, 'a2'), v('b', { n: 3 }, 'b2'), v('c', {}), v('d', {})], [e('E:b->a', 'b', 'a')]);
    const third = await storeBuild(b.graph, s3);

    // Assess: the write of #2 sent only d, but its record counts what graph diff 1 2 shows; #3's are its write's.
    expect([second.stats.added, second.stats.updated, second.stats.deleted]).toEqual([1, 0, 0]);
    const counts = (x: { added: number; updated: number; deleted: number; unchanged: number }) => [x.added, x.updated, x.deleted, x.unchanged];
    const history = await b.graph.listBuilds();
    expect(history.map((r) => [r.id, counts(r.stats!)])).toEqual([
      ['3', [0, 1, 0, 4]],
      ['2', [2, 1, 0, 2]],
      ['1', [3, 0, 0, 0]],
    ]);
    for (const [from, to] of [['1', '2'], ['2', '3']] as const) {
      const d = diffSnapshots((await b.graph.readBuild(from))!, (await b.graph.readBuild(to))!);
      expect(counts(history.find((r) => r.id === to)!.stats!)).toEqual([d.added.length, d.changed.length, d.removed.length, d.unchanged]);
    }
    expect(counts(third.record.stats!)).toEqual(counts(third.stats));
    await b.close();
  });
});

describe('local store file permissions (it holds SecureString values)', () => {
  const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
  const newStore = (): { dir: string; file: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-store-'));
    dirs.push(dir);
    return { dir, file: join(dir, '.karma', 'karma.db') };
  };

  it('creates the folder 0700 and the database, its -wal and -shm 0600, whatever the umask allows', async () => {
    // Prepare
    const { file } = newStore();
    const warnings: string[] = [];

    // Act
    const b = openLocalBackend(file, { create: true, warn: (m) => warnings.push(m) });
    await b.runtime.put('/karma/dev/db/outputs/password', 'p4ss', { type: 'SecureString' });

    // Assess: while it is open, WAL mode keeps the -wal and -shm files beside it
    expect({ folder: mode(join(file, '..')), db: mode(file), wal: mode(`${file}-wal`), shm: mode(`${file}-shm`) }).toEqual({ folder: '700', db: '600', wal: '600', shm: '600' });
    await b.close();
    expect(warnings).toEqual([]);
  });

  it('warns once, with the chmod that fixes it, when an existing store can be read by others; changes nothing itself', async () => {
    // Prepare
    const { file } = newStore();
    await openLocalBackend(file, { create: true }).close();
    chmodSync(file, 0o644);
    const warnings: string[] = [];

    // Act
    await openLocalBackend(file, { create: false, warn: (m) => warnings.push(m) }).close();
    await openLocalBackend(file, { create: true, warn: (m) => warnings.push(m) }).close();

    // Assess
    expect(warnings).toEqual([
      `the local store ${file} (mode 644) can be read by other users, and it holds SecureString values; fix it with: chmod 600 ${file}*; chmod 700 ${join(file, '..')}`,
    ]);
    expect(mode(file)).toBe('644');
  });
});
