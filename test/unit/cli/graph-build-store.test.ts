/**
 * What `karma graph build` says about its store write: progress never announces counts the store has not
 * compared yet, and the build line counts the same changes as `graph history` and `graph diff`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { buildFromSources } from '../../../lib/app/build.ts';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import { copyRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'acme-platform');

async function karma(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

let tmp: string;
let repo: string;
beforeAll(() => {
  tmp = makeTempDir();
  repo = copyRepo(EXAMPLE, tmp, 'example');
});
afterAll(() => removeDir(tmp));

describe('graph build: the store write as reported', () => {
  it('an unchanged rebuild announces no write and reports 0 changes; history and diff agree with every build line', async () => {
    // Prepare + Act: a first build, a second one with nothing changed.
    const first = await karma('graph', 'build', '-c', repo);
    const second = await karma('graph', 'build', '-c', repo);

    // Assess: no "writing N vertices" before the store compared anything.
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(second.stderr.filter((l) => /writing \d+ vertices/.test(l))).toEqual([]);
    expect(second.stderr).toContain(`… storing the build in the local store ${join(repo, '.karma', 'karma.db')}: only what changed since the stored graph is written`);
    const storeLine = (run: { stdout: string[] }): string => run.stdout.find((l) => l.startsWith('  store: build #'))!;
    expect(storeLine(second)).toMatch(/^ {2}store: build #2: 0 added, 0 updated, 0 deleted, \d+ unchanged /);

    // An output changes (an apply) and the graph is written without a record, as pipelines of older versions did;
    // then a third build: its line, its history entry and `graph diff 2 3` count the same changes.
    const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
    const output = (await backend.graph.read())!.vertices.find((x) => x.label === 'Output')!;
    await backend.runtime.put(String(output.props['path']), 'a new value');
    const { snapshot } = await buildFromSources(new DirectorySource(repo), backend.runtime);
    const unrecorded = await backend.graph.write(snapshot);
    await backend.close();
    const third = await karma('graph', 'build', '-c', repo);
    const diff = await karma('graph', 'diff', '2', '3', '-c', repo, '--json');
    const history = await karma('graph', 'history', '-c', repo, '--json');

    const d = JSON.parse(diff.stdout[0]!) as { added: string[]; removed: string[]; changed: unknown[] };
    expect(d.changed.length).toBeGreaterThan(0);
    expect(d.changed).toHaveLength(unrecorded.updated);
    expect(storeLine(third)).toMatch(new RegExp(`^ {2}store: build #3: ${d.added.length} added, ${d.changed.length} updated, ${d.removed.length} deleted, `));
    expect(third.stdout).toContain('  (since the previous build, something wrote the graph without recording it; this build wrote 0 elements)');
    const h = JSON.parse(history.stdout[0]!) as { builds: { id: string; stats: { added: number; updated: number; deleted: number } }[] };
    expect(h.builds.find((b) => b.id === '3')!.stats).toMatchObject({ added: d.added.length, updated: d.changed.length, deleted: d.removed.length });
  });
});
