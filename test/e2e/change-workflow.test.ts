/**
 * The change workflow end to end, with a real terraform (ensureTerraform: PATH, else built with Go, else a
 * clear failure) and the local backend: `karma apply --env` applies what is committed; `karma propose-change`
 * then `karma apply PROPOSAL` merges the proposal and runs the pipeline for its environment at the merged
 * commit, re-applying the changed component and only those dependents whose inputs changed.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { copyRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');

type Row = { env: string; component: string; result: string; detail: string };
type ApplyJson = {
  merged: { proposal: { id: string }; commit: string; how: string; files: string[] } | null;
  pipeline: { status: string; summary: { rows: Row[]; applied: number; failed: number } | null };
};

async function karma(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

let tmp: string;
let dir: string;
let terraform: string;
beforeAll(async () => {
  terraform = ensureTerraform();
  tmp = makeTempDir('karma-change-e2e-');
  dir = copyRepo(EXAMPLE, tmp);
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: { name: 'Test', email: 'test@example.com' } });
}, 600_000);
afterAll(() => removeDir(tmp));

const applied = (out: ApplyJson): string[] => (out.pipeline.summary?.rows ?? []).filter((r) => r.result === 'applied').map((r) => r.component).sort();

describe('propose-change then apply (real terraform, local backend)', () => {
  it('apply --env applies the committed config; apply PROPOSAL merges and re-applies only what the change reaches', async () => {
    // Prepare: the external parameter api-service consumes, then everything committed applied once.
    expect((await karma('runtime', 'put', '/acme/external/datadog-api-key', 'dd-e2e-not-a-real-key', '--type', 'SecureString', '-c', dir)).code).toBe(0);
    const first = await karma('apply', '--env', 'karma-dev', '-c', dir, '--terraform', terraform, '--json');
    expect(first.stderr).toEqual([]);
    const firstOut = JSON.parse(first.stdout[0]!) as ApplyJson;
    expect(first.code).toBe(0);
    expect(firstOut.merged).toBeNull();
    // serverless-site waits for karma-shared's dns-zone, never applied here.
    expect(applied(firstOut)).toEqual(['api-service', 'cache', 'database', 'monitoring', 'network', 'queue', 'security-baseline', 'worker']);

    // Act: three availability zones for the dev network.
    const input = join(tmp, 'network.json');
    fs.writeFileSync(input, JSON.stringify({ cidr: '10.10.0.0/16', az_count: 3 }));
    const proposed = await karma('propose-change', 'network', 'karma-dev', '--input', input, '-c', dir, '--json');
    expect(proposed.code).toBe(0);
    const { id } = JSON.parse(proposed.stdout[0]!) as { id: string };
    const run = await karma('apply', id, '-c', dir, '--terraform', terraform, '--json');

    // Assess
    expect(run.stderr).toEqual([]);
    const out = JSON.parse(run.stdout[0]!) as ApplyJson;
    expect(run.code).toBe(0);
    expect(out.merged).toMatchObject({ proposal: { id }, how: 'fast-forward', files: ['environments/karma-dev/network.json'] });
    expect(out.pipeline.status).toBe('SUCCEEDED');
    const head = await git.resolveRef({ fs, dir, ref: 'main' });
    expect(out.merged!.commit).toBe(head);
    expect(await git.listBranches({ fs, dir })).toEqual(['main']);
    // network's private_subnet_ids changed (one more AZ): cache and database consume it and follow; their outputs
    // derive from vpc_id only (unchanged), so api-service, worker and the rest stay as they are.
    expect(applied(out)).toEqual(['cache', 'database', 'network']);
    // The state records the merged commit.
    const state = await karma('graph', 'show', '--env', 'karma-dev', '-f', 'json', '-c', dir);
    expect(state.stdout.join('\n')).toContain(head);
    // A second apply has nothing left to do.
    const again = JSON.parse((await karma('apply', '--env', 'karma-dev', '-c', dir, '--terraform', terraform, '--json')).stdout[0]!) as ApplyJson;
    expect(applied(again)).toEqual([]);
  }, 600_000);
});
