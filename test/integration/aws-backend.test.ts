/**
 * End to end on the AWS backend with local stand-ins: the example's recorded applies go to SSM (moto), the
 * graph is built from that runtime and written to Neptune (Gremlin Server) by the real CLI with
 * `--backend aws`; the same steps with the local backend must give the very same graph.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../lib/app/backend.ts';
import { loadConfig } from '../../lib/app/build.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { NeptuneGraphStore } from '../../lib/adapters/neptune/graph-store.ts';
import { SsmRuntimeStore } from '../../lib/adapters/ssm/runtime-store.ts';
import { main } from '../../lib/cli/main.ts';
import type { IO } from '../../lib/cli/io.ts';
import type { GraphElement, GraphSnapshot } from '../../lib/core/snapshot.ts';
import { REPO_ROOT } from '../../scripts/servers/servers.ts';
import { gremlinEndpoint, setEnv, standInEnv } from '../support/stand-ins.ts';

const EXAMPLE = join(REPO_ROOT, 'examples', 'acme-platform');

function capture(): IO & { text: () => string } {
  const lines: string[] = [];
  return { out: (t) => void lines.push(t), err: (t) => void lines.push(t), color: false, text: () => lines.join('\n') };
}

function norm(s: GraphSnapshot | undefined): { vertices: GraphElement[]; edges: GraphElement[] } {
  const one = (e: GraphElement): GraphElement => ({ ...e, props: Object.fromEntries(Object.entries(e.props).sort(([a], [b]) => (a < b ? -1 : 1))) });
  const byId = (a: GraphElement, b: GraphElement): number => (a.id < b.id ? -1 : 1);
  return { vertices: (s?.vertices ?? []).map(one).sort(byId), edges: (s?.edges ?? []).map(one).sort(byId) };
}

describe('karma on the AWS backend (moto + Gremlin Server) against the local backend', () => {
  const dirs: string[] = [];
  let restoreEnv: () => void;
  let awsRepo: string;
  let localRepo: string;
  const prefix = `/karma-e2e-${Date.now().toString(36)}`;

  const copyExample = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-e2e-'));
    dirs.push(dir);
    cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !src.includes(`${EXAMPLE}/.karma`) });
    const yaml = readFileSync(join(dir, 'karma.yaml'), 'utf8').replace(/^parameterPrefix: .*$/m, `parameterPrefix: ${prefix}`);
    writeFileSync(join(dir, 'karma.yaml'), yaml);
    return dir;
  };

  beforeAll(async () => {
    awsRepo = copyExample();
    localRepo = copyExample();
    restoreEnv = setEnv(standInEnv({ KARMA_HISTORY_DIR: join(awsRepo, '.karma', 'neptune-history') }));
    const store = new NeptuneGraphStore({ endpoint: gremlinEndpoint(), history: { latestMeta: async () => undefined } as never });
    await store.clear();
    await store.close();
  });
  afterAll(() => {
    restoreEnv();
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it('records the seeded applies in SSM, builds and writes to Neptune the same graph as the local backend', async () => {
    // Prepare: the same seeded history in both runtimes
    const io = capture();
    expect(await main(['runtime', 'record', join(awsRepo, 'runtime-seed.yaml'), '--config', awsRepo, '--backend', 'aws'], io)).toBe(0);
    expect(await main(['runtime', 'record', join(localRepo, 'runtime-seed.yaml'), '--config', localRepo, '--backend', 'local'], io)).toBe(0);

    // Act
    const awsBuild = capture();
    const awsCode = await main(['graph', 'build', '--config', awsRepo, '--backend', 'aws', '--json'], awsBuild);
    const localCode = await main(['graph', 'build', '--config', localRepo, '--backend', 'local', '--json'], capture());
    const again = capture();
    expect(await main(['graph', 'build', '--config', awsRepo, '--backend', 'aws', '--json'], again)).toBe(0);

    // Assess
    expect(awsCode, awsBuild.text()).toBe(0);
    expect(localCode).toBe(0);
    const config = await loadConfig(new DirectorySource(awsRepo));
    const aws = await openBackend(config, { baseDir: awsRepo, type: 'aws' });
    const local = await openBackend(await loadConfig(new DirectorySource(localRepo)), { baseDir: localRepo, type: 'local' });
    try {
      const [awsGraph, localGraph] = [await aws.graph.read(), await local.graph.read()];
      expect(awsGraph!.vertices.length).toBe(localGraph!.vertices.length);
      expect(awsGraph!.edges.length).toBe(localGraph!.edges.length);
      expect(norm(awsGraph)).toEqual(norm(localGraph));
      // Runtime really in SSM: the same parameters (names, versions, types) as the local store.
      const ssm = aws.runtime as SsmRuntimeStore;
      const inSsm = await ssm.readPath(prefix);
      const inLocal = await local.runtime.readPath(prefix);
      expect(inSsm.map((p) => [p.name, p.version, p.type])).toEqual(inLocal.map((p) => [p.name, p.version, p.type]));
      expect(inSsm.filter((p) => p.type === 'SecureString').map((p) => p.name)).toEqual([`${prefix}/karma-dev/database/outputs/master_password`, `${prefix}/karma-prod/database/outputs/master_password`]);
      // Secrets never reach the graph or the CLI's output: only versions.
      const secrets = [...inSsm, ...(await ssm.readNames(['/acme/external/datadog-api-key']))].filter((p) => p.type === 'SecureString').map((p) => p.value);
      // runtime-seed.yaml's two database passwords and its external API key.
      expect([...secrets].sort()).toEqual(['dd-example-not-a-real-key', 'dev-secret-never-shown', 'prod-secret-never-shown']);
      const graphText = JSON.stringify(awsGraph);
      for (const s of secrets) {
        expect(graphText).not.toContain(s);
        expect(awsBuild.text()).not.toContain(s);
      }
      // The second build over the unchanged runtime wrote nothing.
      const stats = JSON.parse(again.text()) as { write?: { added: number; updated: number; deleted: number } };
      expect(JSON.stringify(stats)).toMatch(/"added":0,"updated":0,"deleted":0/);
      expect((await aws.graph.listBuilds()).length).toBe(2);
    } finally {
      await aws.close();
      await local.close();
    }
  });
});
