/**
 * Removed deployments, end to end with a real Terraform and the local backend: a deployment whose env file is
 * deleted (and committed) is orphaned in graph show / why / order, every pipeline run warns about it, and
 * `karma destroy` (after a plan and a decision) destroys it and deletes its runtime record; `karma forget`
 * deletes the record only. Without a terminal and without --yes, nothing is destroyed.
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';

const AUTHOR = { name: 'test', email: 'test@example.com' };
const tmp = makeTempDir('karma-orphans-');
const dir = join(tmp, 'repo');
let terraform: string;
let initial: string;
let removal: string;

const module = (name: string, vars: string[], outputs: Record<string, string>): string =>
  [
    ...vars.map((v) => `variable "${v}" {\n  type = string\n}`),
    `resource "terraform_data" "${name}" {\n  input = "${name}"\n}`,
    ...Object.entries(outputs).map(([o, v]) => `output "${o}" {\n  value = "${v}"\n}`),
    '',
  ].join('\n');

const REPO: Record<string, string> = {
  'karma.yaml': 'project: orphans\nenvironments:\n  karma-dev:\n    region: eu-west-1\nbackend:\n  type: local\n  path: .karma\n',
  'components/network/component.yaml': 'description: network\nterraform: ../../modules/network\noutputs: [vpc_id]\n',
  'components/app/component.yaml': 'description: app\nterraform: ../../modules/app\noutputs: [url]\n',
  'components/worker/component.yaml': 'description: worker\nterraform: ../../modules/worker\n',
  'components/extra/component.yaml': 'description: extra\nterraform: ../../modules/extra\noutputs: [id]\n',
  'modules/network/main.tf': module('network', [], { vpc_id: 'vpc-1' }),
  'modules/app/main.tf': module('app', ['vpc'], { url: 'https://app' }),
  'modules/worker/main.tf': module('worker', ['vpc'], {}),
  'modules/extra/main.tf': module('extra', [], { id: 'x-1' }),
  'environments/karma-dev/network.json': '{}\n',
  'environments/karma-dev/app.json': '{\n  "vpc": "${network.vpc_id}"\n}\n',
  'environments/karma-dev/worker.json': '{\n  "vpc": "${network.vpc_id}"\n}\n',
  'environments/karma-dev/extra.json': '{}\n',
};

async function karma(...args: string[]) {
  const io = memoryIO();
  const code = await main([...args, '-c', dir], io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

/** Resources in the component's Terraform state (its local state in the work directory). */
function stateList(component: string, repo = dir): string[] {
  const r = spawnSync(terraform, ['state', 'list'], { cwd: join(repo, '.karma', 'work', 'karma-dev', component), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`terraform state list failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

async function record(component: string, repo = dir): Promise<string[]> {
  const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
  try {
    return (await backend.runtime.readPath(`/karma/karma-dev/${component}`)).map((p) => p.name);
  } finally {
    await backend.close();
  }
}

const warning = (c: string): string =>
  `karma: warning: karma-dev/${c} is orphaned: removed from the config, its resources still exist; karma destroy ${c} karma-dev or karma forget ${c} karma-dev`;

beforeAll(async () => {
  terraform = ensureTerraform();
  for (const [path, text] of Object.entries(REPO)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, '.gitignore'), '.karma/\n');
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  initial = await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
  const run = await karma('pipeline', 'run', '--env', 'karma-dev', '--terraform', terraform);
  if (run.code !== 0) throw new Error(`the first pipeline run failed: ${run.stdout}\n${run.stderr}`);
  // Remove app and extra from the config, in one commit.
  for (const c of ['app', 'extra']) {
    rmSync(join(dir, 'environments', 'karma-dev', `${c}.json`));
    await git.remove({ fs, dir, filepath: `environments/karma-dev/${c}.json` });
  }
  removal = await git.commit({ fs, dir, message: 'remove app and extra', author: AUTHOR });
}, 20 * 60 * 1000);

afterAll(() => removeDir(tmp));

describe('removed deployments (real terraform)', () => {
  it('a deployment removed from the config is orphaned in graph show, why and order, with the commit that removed it', async () => {
    // Act
    const show = await karma('graph', 'show', '--env', 'karma-dev', '--json');
    const why = await karma('graph', 'why', 'app', 'karma-dev');
    const whyJson = await karma('graph', 'why', 'app', 'karma-dev', '--json');
    const order = await karma('graph', 'order', '--env', 'karma-dev', '--json');
    const table = await karma('graph', 'show', '--env', 'karma-dev');

    // Assess
    // The pipeline ran on the working tree, so the apply recorded no commit.
    const reason = new RegExp(`^removed from the config in commit ${removal.slice(0, 7)} \\(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\); last applied at \\d{4}-[\\d:.TZ-]+$`);
    const vertex = (JSON.parse(show.stdout) as { vertices: { id: string; props: Record<string, unknown> }[] }).vertices.find((v) => v.id === 'component:karma-dev:app');
    expect(vertex?.props).toMatchObject({ status: 'orphaned', removedInCommit: removal, lastCommit: initial, file: 'environments/karma-dev/app.json' });
    expect(vertex?.props['reason']).toMatch(reason);
    expect(why.stdout.split('\n')[0]).toMatch(/^app is orphaned: removed from the config in commit /);
    expect(why.stdout.split('\n')[1]).toBe('  its resources still exist: karma destroy app karma-dev (destroy them) or karma forget app karma-dev (drop the record)');
    expect(JSON.parse(whyJson.stdout)).toMatchObject({ status: 'orphaned', removal: { lastCommit: initial, removedIn: { commit: removal } } });
    const orphaned = (JSON.parse(order.stdout) as { waves: string[][]; orphaned: { component: string; reason: string }[] });
    expect(orphaned.waves).toEqual([]);
    expect(orphaned.orphaned.map((o) => o.component)).toEqual(['app', 'extra']);
    expect(table.stdout).toMatch(/karma-dev\s+app\s+orphaned\s+-\s+removed from the config/);
  });

  it('every pipeline run warns on stderr, one line per orphan, and lists them as orphaned in the result table', async () => {
    const run = await karma('pipeline', 'run', '--env', 'karma-dev', '--terraform', terraform);

    expect(run.code).toBe(0);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('karma: warning:'))).toEqual([warning('app'), warning('extra')]);
    expect(run.stdout).toMatch(/karma-dev\s+app\s+orphaned\s+removed from the config in commit/);
    expect(run.stdout).not.toContain('nothing to do');
    const build = await karma('graph', 'build');
    expect(build.stderr).toContain(warning('app'));
  });

  it('without a terminal and without --yes, destroy and forget refuse with exit 2 and change nothing', async () => {
    const destroy = await karma('destroy', 'app', 'karma-dev');
    const forget = await karma('forget', 'extra', 'karma-dev');

    expect(destroy.code).toBe(2);
    expect(destroy.stderr).toBe('karma: refusing to destroy app in karma-dev without a decision: there is no terminal to ask on; review the plan with --dry-run, then run again with --yes');
    expect(forget.code).toBe(2);
    expect(stateList('app')).toEqual(['terraform_data.app']);
    expect(await record('app')).toContain('/karma/karma-dev/app/state');
  });

  it('at a terminal, anything but "yes" declines: exit 1, nothing destroyed', async () => {
    const questions: string[] = [];
    const io = { ...memoryIO(), interactive: true, ask: async (q: string) => (questions.push(q), 'y') };

    const code = await main(['destroy', 'app', 'karma-dev', '-c', dir], io);

    expect(code).toBe(1);
    expect(questions).toEqual(['Destroy 1 deployment in karma-dev (1 resource) and delete its runtime record? Only "yes" is accepted: ']);
    expect(io.stderr.at(-1)).toBe('karma: declined: nothing was destroyed');
    expect(stateList('app')).toEqual(['terraform_data.app']);
    expect(await record('app')).toContain('/karma/karma-dev/app/state');
    expect(await record('extra')).toContain('/karma/karma-dev/extra/state');
  });

  it('destroy --yes shows the plan, destroys with the module of the last commit that had it, and deletes the record', async () => {
    // Act
    const dry = await karma('destroy', 'app', 'karma-dev', '--dry-run');
    const destroy = await karma('destroy', 'app', 'karma-dev', '--yes');
    const show = await karma('graph', 'show', '--env', 'karma-dev', '--json');

    // Assess
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: nothing was destroyed');
    expect(destroy.code, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain(`destroy app in karma-dev (orphaned; module and inputs from commit ${initial.slice(0, 7)}), dependents first:`);
    expect(destroy.stdout).toContain('  app: Plan: 0 to add, 0 to change, 1 to destroy.\n    - terraform_data.app');
    expect(destroy.stdout).toContain('karma-dev/app: destroyed; runtime record deleted (2 parameters)');
    expect(stateList('app')).toEqual([]);
    expect(await record('app')).toEqual([]);
    const ids = (JSON.parse(show.stdout) as { vertices: { id: string }[] }).vertices.map((v) => v.id);
    expect(ids).not.toContain('component:karma-dev:app');
    expect(ids).toContain('component:karma-dev:extra');
  });

  it('forget drops the record and leaves the resources; a deployment still in the config is refused', async () => {
    const inConfig = await karma('forget', 'network', 'karma-dev', '--yes');
    const forget = await karma('forget', 'extra', 'karma-dev', '--yes');
    const order = await karma('graph', 'order', '--env', 'karma-dev', '--json');

    expect(inConfig.code).toBe(2);
    expect(inConfig.stderr).toBe(
      'karma: network is still in the config of karma-dev (environments/karma-dev/network.json): remove that file first (it then shows as orphaned), or destroy it with karma destroy network karma-dev',
    );
    expect(forget.code).toBe(0);
    expect(forget.stdout).toContain('forgot extra in karma-dev: 2 parameters deleted');
    expect(await record('extra')).toEqual([]);
    expect(stateList('extra')).toEqual(['terraform_data.extra']);
    expect(JSON.parse(order.stdout)).toMatchObject({ orphaned: [] });
  });

  it('destroying a deployment still in the config takes its dependents down first', async () => {
    const destroy = await karma('destroy', 'network', 'karma-dev', '--yes', '--json');

    expect(destroy.code, destroy.stderr).toBe(0);
    const out = JSON.parse(destroy.stdout) as { waves: string[][]; outcomes: { component: string; outcome: string }[] };
    expect(out.waves).toEqual([['worker'], ['network']]);
    expect(out.outcomes.map((o) => [o.component, o.outcome])).toEqual([
      ['worker', 'destroyed'],
      ['network', 'destroyed'],
    ]);
    expect(stateList('worker')).toEqual([]);
    expect(stateList('network')).toEqual([]);
    const why = await karma('graph', 'why', 'network', 'karma-dev', '--json');
    expect(JSON.parse(why.stdout)).toMatchObject({ status: 'never-applied' });
  });

  it('a config that is not a Git repository: the orphan says "no longer in the config" and destroy asks for --ref', async () => {
    // Prepare: the same repo without .git, with a record left for a deployment it does not have
    const plain = join(tmp, 'plain');
    cpSync(dir, plain, { recursive: true, filter: (p) => !p.includes(`${join('repo', '.git')}`) && !p.includes(`${join('repo', '.karma')}`) });
    const backend = openLocalBackend(join(plain, '.karma', 'karma.db'), { create: true });
    await backend.runtime.put('/karma/karma-dev/gone/state', JSON.stringify({ configHash: 'h', appliedAt: '2026-11-28T10:00:00Z', result: 'success' }));
    await backend.close();
    const run = async (...args: string[]) => {
      const io = memoryIO();
      return { code: await main([...args, '-c', plain], io), stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
    };

    const why = await run('graph', 'why', 'gone', 'karma-dev');
    const destroy = await run('destroy', 'gone', 'karma-dev', '--yes');

    expect(why.stdout.split('\n')[0]).toBe('gone is orphaned: no longer in the config; last applied at 2026-11-28T10:00:00Z');
    expect(destroy.code).toBe(2);
    expect(destroy.stderr).toBe(
      'karma: gone is no longer in the config and its last version was not found in Git history (no longer in the config; last applied at 2026-11-28T10:00:00Z); pass --ref with a commit where environments/karma-dev/gone.json exists, to destroy it with the module and inputs it had there',
    );
  });
});
