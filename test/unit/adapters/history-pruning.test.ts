/**
 * Build history is bounded (karma.yaml `history.keepBuilds`, default 50) in every store that keeps it: the local
 * SQLite store, the directory build history used with Neptune, and the pipeline's snapshot store (two snapshots per
 * run). The S3 snapshot store's pruning runs on moto in test/integration/s3-snapshots.test.ts.
 */
import { readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { DirectorySnapshotStore } from '../../../lib/adapters/snapshots/directory-snapshots.ts';
import { DirectoryBuildHistory } from '../../../lib/adapters/history/directory-history.ts';
import { DEFAULT_KEEP_BUILDS, keepBuilds } from '../../../lib/core/config.ts';
import { loadConfig } from '../../../lib/app/build.ts';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import type { GraphSnapshot } from '../../../lib/core/snapshot.ts';
import { MINIMAL_REPO, makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const snapshot = (builtAt: string): GraphSnapshot => ({ meta: { project: 'p', builtAt, source: 't', configFingerprint: 'f' }, vertices: [], edges: [] });
const stats = { added: 0, updated: 0, deleted: 0, unchanged: 0, requests: 0, ms: 0 } as never;

let tmp: string;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => removeDir(tmp));

describe('karma.yaml history.keepBuilds', () => {
  it('defaults to 50 and is read from karma.yaml', async () => {
    // Prepare
    const plain = makeRepo(join(tmp, 'a'));
    const set = makeRepo(join(tmp, 'b'), { 'karma.yaml': `${MINIMAL_REPO['karma.yaml']}history:\n  keepBuilds: 3\n` });

    // Act
    const [a, b] = await Promise.all([loadConfig(new DirectorySource(plain)), loadConfig(new DirectorySource(set))]);

    // Assess
    expect([keepBuilds(a), keepBuilds(b), DEFAULT_KEEP_BUILDS]).toEqual([50, 3, 50]);
  });

  it('a keepBuilds that is not a positive integer is exit 2 on its line', async () => {
    // Prepare
    const dir = makeRepo(tmp, { 'karma.yaml': `${MINIMAL_REPO['karma.yaml']}history:\n  keepBuilds: 0\n` });
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'validate', '-c', dir], io);

    // Assess
    expect(code).toBe(2);
    expect(io.stderr).toEqual(['karma: karma.yaml:9: history.keepBuilds: Too small: expected number to be >=1']);
  });

  it('the local store keeps only the newest keepBuilds builds (graph history, graph diff)', async () => {
    // Prepare
    const dir = makeRepo(tmp, { 'karma.yaml': `${MINIMAL_REPO['karma.yaml']}history:\n  keepBuilds: 2\n` });

    // Act
    for (let i = 0; i < 4; i++) expect(await main(['graph', 'build', '-c', dir, '--json'], memoryIO())).toBe(0);
    const io = memoryIO();
    await main(['graph', 'history', '-c', dir, '--json'], io);
    const old = memoryIO();
    const oldCode = await main(['graph', 'diff', '1', '4', '-c', dir], old);

    // Assess
    expect((JSON.parse(io.stdout[0]!) as { builds: { id: string }[] }).builds.map((b) => b.id)).toEqual(['4', '3']);
    expect(oldCode).toBe(2);
    expect(old.stderr.at(-1)).toMatch(/^karma: no build #1 in the local store /);
  });
});

describe('snapshot stores prune to the newest `keep`', () => {
  it('DirectorySnapshotStore (the local pipeline, and Lambda without a bucket): by time, the one just written always kept', async () => {
    // Prepare
    const dir = join(tmp, 'snapshots');
    const store = new DirectorySnapshotStore(dir);

    // Act: five runs, one second apart
    for (let run = 1; run <= 5; run++) {
      const file = await store.put(`run-${run}`, snapshot('2026-01-01T00:00:00Z'), { keep: 3 });
      utimesSync(file, 1_700_000_000 + run, 1_700_000_000 + run);
    }

    // Assess
    expect(readdirSync(dir).sort()).toEqual(['run-3.json.gz', 'run-4.json.gz', 'run-5.json.gz']);
  });

  it('without keep, nothing is deleted', async () => {
    // Prepare
    const store = new DirectorySnapshotStore(join(tmp, 'snapshots'));

    // Act
    for (let run = 1; run <= 3; run++) await store.put(`run-${run}`, snapshot('2026-01-01T00:00:00Z'));

    // Assess
    expect(readdirSync(join(tmp, 'snapshots'))).toHaveLength(3);
  });

  it('DirectoryBuildHistory (the Neptune backend) keeps its newest `keep` builds', async () => {
    // Prepare
    const history = new DirectoryBuildHistory(join(tmp, 'history'), { keep: 2 });

    // Act
    for (let i = 1; i <= 4; i++) await history.record(snapshot(`2026-01-01T00:00:0${i}.000Z`), stats);

    // Assess
    expect((await history.list()).map((r) => r.builtAt)).toEqual(['2026-01-01T00:00:04.000Z', '2026-01-01T00:00:03.000Z']);
    expect(readdirSync(join(tmp, 'history'))).toHaveLength(4);
  });
});
