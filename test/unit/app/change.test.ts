/**
 * The change workflow (docs/workflow.md) on temporary Git copies of examples/acme-platform: propose-change
 * records a commit on karma/proposals/<id> without touching the working tree, the index or the branch;
 * invalid input records nothing at all; `karma proposals` lists; merging fast-forwards, replays, or refuses.
 * (`karma apply` running the pipeline is in test/e2e/change-workflow.test.ts: it needs terraform.)
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karma } from '../../support/cli.ts';
import { mergeProposal } from '../../../lib/app/change.ts';
import { changedFiles } from '../../../lib/adapters/git/repo.ts';
import { LocalGitRepository } from '../../../lib/adapters/git/repository.ts';
import { diffInputs, formatInputChanges } from '../../../lib/core/inputs-diff.ts';
import { copyRepo, makeTempDir, removeDir, snapshotTree } from '../../helpers/config-repo.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'acme-platform');
const AUTHOR = { name: 'Test', email: 'test@example.com', timestamp: 1_764_000_000, timezoneOffset: 0 };


let tmp: string;
let counter = 0;
beforeAll(() => {
  tmp = makeTempDir('karma-proposals-');
});
afterAll(() => removeDir(tmp));

/** A fresh Git copy of the example: everything committed on main. */
async function gitExample(): Promise<string> {
  const dir = copyRepo(EXAMPLE, tmp, `repo-${++counter}`);
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.setConfig({ fs, dir, path: 'user.name', value: 'Test' });
  await git.setConfig({ fs, dir, path: 'user.email', value: 'test@example.com' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
  return dir;
}

/** Writes an input file outside the repo and returns its path. */
function inputFile(name: string, content: unknown): string {
  const path = join(tmp, `${++counter}-${name}`);
  fs.writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/**
 * The repository, without Karma's store: a request or a refused apply writes its audit entry there (docs/audit.md),
 * and nothing else.
 */
function repoTree(dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshotTree(dir)).filter(([p]) => p !== '.karma' && !p.startsWith('.karma/')));
}

/** The working tree (everything but .git and the store) with the index and HEAD's ref: what "unchanged" means for the user. */
function userState(dir: string): Record<string, string> {
  const tree = Object.fromEntries(Object.entries(repoTree(dir)).filter(([p]) => !p.startsWith('.git')));
  const read = (p: string): string => (fs.existsSync(join(dir, p)) ? fs.readFileSync(join(dir, p)).toString('hex') : 'absent');
  return { ...tree, '.git/index': read('.git/index'), '.git/HEAD': read('.git/HEAD'), '.git/refs/heads/main': read('.git/refs/heads/main') };
}

async function readAt(dir: string, oid: string, filepath: string): Promise<string> {
  return new TextDecoder().decode((await git.readBlob({ fs, dir, oid, filepath })).blob);
}

const NETWORK = 'environments/karma-dev/network.json';

describe('inputs diff', () => {
  it('reports added, removed and changed paths, nested objects key by key, lists as whole values', () => {
    const changes = diffInputs({ a: 1, b: { c: 'x', d: [1, 2] }, gone: true }, { a: 2, b: { c: 'x', d: [1, 3], e: null }, fresh: '${net.id}' });
    expect(changes).toEqual([
      { path: 'a', kind: 'changed', before: 1, after: 2 },
      { path: 'b.d', kind: 'changed', before: [1, 2], after: [1, 3] },
      { path: 'b.e', kind: 'added', after: null },
      { path: 'fresh', kind: 'added', after: '${net.id}' },
      { path: 'gone', kind: 'removed', before: true },
    ]);
    expect(formatInputChanges(changes)).toEqual(['~ a: 1 → 2', '~ b.d: [1,2] → [1,3]', '+ b.e: null', '+ fresh: "${net.id}"', '- gone: true']);
    expect(diffInputs({ a: { b: 1 } }, { a: { b: 1 } })).toEqual([]);
  });
});

describe('karma propose-change', () => {
  it('records a valid change on a new branch, prints the diff and the impact, and leaves the working tree, index and HEAD alone', async () => {
    // Prepare
    const dir = await gitExample();
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    const before = userState(dir);
    const input = inputFile('network.json', { cidr: '10.10.0.0/16', az_count: 3 });
    // Act
    const run = await karma('propose-change', '--no-plan', 'network', 'karma-dev', '--input', input, '-c', dir, '-m', 'three AZs');
    // Assess
    expect(run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    const id = /proposal (p-[0-9a-f]{8}) recorded/.exec(run.stdout.join('\n'))?.[1];
    expect(id).toMatch(/^p-[0-9a-f]{8}$/);
    expect(run.stdout).toEqual([
      `network in karma-dev: inputs (${NETWORK}, against ${head.slice(0, 8)})`,
      '  ~ az_count: 2 → 3',
      'impact: what karma apply will apply in karma-dev',
      '  wave 1: network\n  wave 2: cache, database\n  wave 3: api-service, worker\n  wave 4: monitoring, serverless-site',
      `no plan made (--no-plan); karma plan ${id} makes one`,
      expect.stringMatching(new RegExp(`^proposal ${id} recorded on branch karma/proposals/${id} \\(commit ${id!.slice(2)}\\)$`)),
      `apply it with: karma apply ${id}`,
    ]);
    expect(userState(dir)).toEqual(before);
    expect(await git.resolveRef({ fs, dir, ref: 'HEAD' })).toBe(head);
    expect(await git.listBranches({ fs, dir })).toEqual([`karma/proposals/${id}`, 'main']);
    const commit = await git.resolveRef({ fs, dir, ref: `karma/proposals/${id}` });
    expect(commit.startsWith(id!.slice(2))).toBe(true);
    const { commit: c } = await git.readCommit({ fs, dir, oid: commit });
    expect(c.parent).toEqual([head]);
    expect(c.message).toBe('three AZs\n\nKarma-Component: network\nKarma-Env: karma-dev\nKarma-File: environments/karma-dev/network.json\n');
    expect(c.author.name).toBe('Test');
    expect(await changedFiles(dir, head, commit)).toEqual([NETWORK]);
    expect(await readAt(dir, commit, NETWORK)).toBe('{\n  "cidr": "10.10.0.0/16",\n  "az_count": 3\n}\n');
    // The working tree still holds the old inputs.
    expect(JSON.parse(fs.readFileSync(join(dir, NETWORK), 'utf8'))).toEqual({ cidr: '10.10.0.0/16', az_count: 2 });
  });

  it('--json prints one document: id, branch, commit, base, diff, impact, warnings', async () => {
    const dir = await gitExample();
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    const run = await karma('propose-change', '--no-plan', 'dns-zone', 'karma-shared', '--input', inputFile('dns.yaml', 'domain: acme.example.org\n'), '-c', dir, '--json');
    expect(run.stderr).toEqual([]);
    expect(run.stdout).toHaveLength(1);
    const out = JSON.parse(run.stdout[0]!) as Record<string, unknown>;
    expect(out).toEqual({
      id: expect.stringMatching(/^p-[0-9a-f]{8}$/),
      branch: `karma/proposals/${out['id'] as string}`,
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      base: head,
      component: 'dns-zone',
      env: 'karma-shared',
      file: 'environments/karma-shared/dns-zone.yaml',
      newDeployment: false,
      message: 'change dns-zone in karma-shared',
      diff: [{ path: 'domain', kind: 'changed', before: 'acme.example.com', after: 'acme.example.org' }],
      impact: {
        env: 'karma-shared',
        component: 'dns-zone',
        waves: [['dns-zone']],
        otherEnvironments: [
          { env: 'karma-dev', waves: [['serverless-site']] },
          { env: 'karma-prod', waves: [['serverless-site']] },
        ],
      },
      warnings: [],
      plan: null,
    });
    // The env file keeps its format (YAML here).
    expect(await readAt(dir, out['commit'] as string, 'environments/karma-shared/dns-zone.yaml')).toBe('domain: acme.example.org\n');
  });

  it('a component newly deployed to an environment gets a .json file; --dry-run records nothing', async () => {
    const dir = await gitExample();
    const input = inputFile('dns.json', { domain: 'dev.acme.example.com' });
    const before = snapshotTree(dir);
    const dry = await karma('propose-change', '--no-plan', 'dns-zone', 'karma-dev', '--input', input, '-c', dir, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout.at(-1)).toBe('dry run: nothing recorded, no plan made');
    expect(snapshotTree(dir)).toEqual(before);

    const run = await karma('propose-change', '--no-plan', 'dns-zone', 'karma-dev', '--input', input, '-c', dir, '--json');
    const out = JSON.parse(run.stdout[0]!) as { commit: string; file: string; newDeployment: boolean; diff: unknown; impact: { waves: string[][] } };
    expect(out.file).toBe('environments/karma-dev/dns-zone.json');
    expect(out.newDeployment).toBe(true);
    expect(out.diff).toEqual([{ path: 'domain', kind: 'added', after: 'dev.acme.example.com' }]);
    expect(out.impact.waves).toEqual([['dns-zone']]);
    expect(await readAt(dir, out.commit, out.file)).toBe('{\n  "domain": "dev.acme.example.com"\n}\n');
  });

  const invalid: [string, string, string, unknown, RegExp][] = [
    ['a schema violation', 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 9 }, /^karma: environments\/karma-dev\/network\.json:3: az_count: must be <= 6 \(schema in components\/network\/component\.yaml\)$/],
    ['an unknown input', 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 2, zones: 3 }, /^karma: environments\/karma-dev\/network\.json:4: unknown input "zones"/],
    ['a bad reference', 'network', 'karma-dev', { cidr: '${nope.cidr}', az_count: 2 }, /^karma: environments\/karma-dev\/network\.json:2: cidr: \$\{nope\.cidr\} refers to unknown component "nope"$/],
    ['a cycle', 'network', 'karma-dev', { cidr: '${database.endpoint}', az_count: 2 }, /^karma: .*dependency cycle in karma-dev: .*network.*database/],
    ['a list, not an object', 'network', 'karma-dev', [1, 2], /^karma: --input .*: the inputs must be an object of input names to values \(the component's full inputs\), got a list$/],
    ['invalid JSON', 'network', 'karma-dev', '{"cidr": ', /^karma: .*-in\.json: invalid JSON: Unexpected end of JSON input$/],
    ['no change', 'network', 'karma-dev', { az_count: 2, cidr: '10.10.0.0/16' }, /^karma: no change: .* holds the same inputs as environments\/karma-dev\/network\.json at [0-9a-f]{8}; nothing to propose$/],
    ['an unknown environment', 'network', 'karma-qa', { cidr: '10.0.0.0/16', az_count: 2 }, /^karma: unknown environment "karma-qa"; karma\.yaml declares karma-dev, karma-prod, karma-shared$/],
    ['an unknown component', 'vpn', 'karma-dev', {}, /^karma: unknown component "vpn"; the repo defines api-service, /],
  ];
  it.each(invalid)('%s → exit 2, one line, nothing recorded (not even an object)', async (_what, component, env, content, message) => {
    // Prepare
    const dir = await gitExample();
    const before = snapshotTree(dir); // .git included: no object, no ref, no index change
    const branches = await git.listBranches({ fs, dir });
    // Act
    const run = await karma('propose-change', '--no-plan', component, env, '--input', inputFile('in.json', content), '-c', dir);
    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toHaveLength(1);
    expect(run.stderr[0]).not.toContain('\n');
    expect(run.stderr[0]).toMatch(message);
    expect(await git.listBranches({ fs, dir })).toEqual(branches);
    expect(snapshotTree(dir)).toEqual(before);
  });

  it('an unreadable input file, a non-Git config dir and --json errors are one clear line', async () => {
    const dir = await gitExample();
    const missing = await karma('propose-change', '--no-plan', 'network', 'karma-dev', '--input', join(tmp, 'nope.json'), '-c', dir);
    expect(missing).toEqual({ code: 2, stdout: [], stderr: [`karma: --input ${join(tmp, 'nope.json')}: cannot read it (no such file); pass a JSON or YAML file with the component's full inputs`] });
    const plain = copyRepo(EXAMPLE, tmp, `plain-${++counter}`);
    const notGit = await karma('propose-change', '--no-plan', 'network', 'karma-dev', '--input', inputFile('n.json', { cidr: '10.0.0.0/16', az_count: 1 }), '-c', plain);
    expect(notGit.code).toBe(2);
    expect(notGit.stderr).toEqual([expect.stringMatching(/^karma: --config .*: not a Git repository; the change workflow records proposals as Git commits/)]);
    const json = await karma('propose-change', '--no-plan', 'network', 'karma-dev', '--input', join(tmp, 'nope.json'), '-c', dir, '--json');
    expect(json.code).toBe(2);
    expect(json.stderr).toEqual([]);
    expect(JSON.parse(json.stdout[0]!)).toEqual({ error: { name: 'UsageError', message: expect.stringContaining('cannot read it (no such file)'), exitCode: 2 } });
  });

  it('warns when the env file has uncommitted changes (the proposal is based on HEAD)', async () => {
    const dir = await gitExample();
    fs.writeFileSync(join(dir, NETWORK), '{"cidr": "10.10.0.0/16", "az_count": 4}\n');
    const run = await karma('propose-change', '--no-plan', 'network', 'karma-dev', '--input', inputFile('n.json', { cidr: '10.10.0.0/16', az_count: 3 }), '-c', dir);
    expect(run.code).toBe(0);
    expect(run.stdout[1]).toBe('  ~ az_count: 2 → 3');
    expect(run.stderr).toEqual([expect.stringMatching(/^karma: warning: environments\/karma-dev\/network\.json has uncommitted changes in the working tree; the proposal is based on HEAD/)]);
  });
});

describe('karma proposals', () => {
  it('lists open proposals: id, component, env, base, message', async () => {
    const dir = await gitExample();
    expect((await karma('proposals', '-c', dir)).stdout).toEqual(['no open proposals']);
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    const a = JSON.parse((await karma('propose-change', '--no-plan', 'queue', 'karma-dev', '--input', inputFile('q.yaml', 'visibility_timeout: 90\n'), '-c', dir, '--json', '-m', 'slower queue')).stdout[0]!) as { id: string; commit: string };
    const run = await karma('proposals', '-c', dir, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout[0]!)).toEqual({
      head,
      proposals: [
        {
          id: a.id,
          branch: `karma/proposals/${a.id}`,
          commit: a.commit,
          base: head,
          component: 'queue',
          env: 'karma-dev',
          file: 'environments/karma-dev/queue.yaml',
          message: 'slower queue',
          createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          baseIsHead: true,
        },
      ],
    });
    const text = await karma('proposals', '-c', dir);
    expect(text.stdout[0]!.split('\n')[0]).toMatch(/^ID +COMPONENT +ENV +BASE +CREATED +MESSAGE$/);
    expect(text.stdout[0]!.split('\n')[1]).toMatch(new RegExp(`^${a.id} +queue +karma-dev +${head.slice(0, 8)} +\\S+ +slower queue$`));
  });
});

describe('merging a proposal (karma apply PROPOSAL, before the pipeline runs)', () => {
  async function propose(dir: string, component: string, env: string, content: unknown, name = 'in.json'): Promise<{ id: string; commit: string; file: string }> {
    const run = await karma('propose-change', '--no-plan', component, env, '--input', inputFile(name, content), '-c', dir, '--json');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout[0]!) as { id: string; commit: string; file: string };
  }

  it('fast-forwards the branch, checks the file out, deletes the proposal branch; the working tree is clean', async () => {
    const dir = await gitExample();
    const p = await propose(dir, 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 3 });
    const merged = await mergeProposal(new LocalGitRepository(dir), p.id);
    expect(merged).toMatchObject({ into: 'main', commit: p.commit, how: 'fast-forward', files: [NETWORK] });
    expect(await git.resolveRef({ fs, dir, ref: 'main' })).toBe(p.commit);
    expect(await git.listBranches({ fs, dir })).toEqual(['main']);
    expect(JSON.parse(fs.readFileSync(join(dir, NETWORK), 'utf8'))).toEqual({ cidr: '10.10.0.0/16', az_count: 3 });
    const dirty = (await git.statusMatrix({ fs, dir })).filter(([, h, w, s]) => !(h === 1 && w === 1 && s === 1));
    expect(dirty).toEqual([]);
  });

  it('replays a proposal on top of a HEAD that moved without touching its file', async () => {
    const dir = await gitExample();
    const base = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    const queue = await propose(dir, 'queue', 'karma-dev', 'visibility_timeout: 90\nmax_receive_count: 5\n', 'q.yaml');
    const network = await propose(dir, 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 3 });
    await mergeProposal(new LocalGitRepository(dir), queue.id);
    const merged = await mergeProposal(new LocalGitRepository(dir), `karma/proposals/${network.id}`);
    expect(merged.how).toBe('replayed');
    expect(merged.commit).not.toBe(network.commit);
    const { commit: c } = await git.readCommit({ fs, dir, oid: merged.commit });
    expect(c.parent).toEqual([queue.commit]);
    expect(await changedFiles(dir, base, merged.commit)).toEqual([NETWORK, 'environments/karma-dev/queue.yaml']);
    expect(await git.resolveRef({ fs, dir, ref: 'main' })).toBe(merged.commit);
    expect(await git.listBranches({ fs, dir })).toEqual(['main']);
    expect(fs.readFileSync(join(dir, 'environments/karma-dev/queue.yaml'), 'utf8')).toBe('visibility_timeout: 90\nmax_receive_count: 5\n');
  });

  it('refuses (exit 2, one line, nothing changed) when HEAD changed the same file since the proposal', async () => {
    const dir = await gitExample();
    const first = await propose(dir, 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 3 });
    const second = await propose(dir, 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 4 });
    const base = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    await mergeProposal(new LocalGitRepository(dir), first.id);
    const before = repoTree(dir);
    const run = await karma('apply', second.id, '-c', dir);
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: [`karma: HEAD moved since proposal ${second.id} (base ${base.slice(0, 8)}, now ${first.commit.slice(0, 8)}) and changed ${NETWORK}; re-run propose-change`],
    });
    expect(repoTree(dir)).toEqual(before);
    expect(await git.listBranches({ fs, dir })).toEqual([`karma/proposals/${second.id}`, 'main']);
  });

  it('refuses when the file has uncommitted changes in the working tree, and for an unknown proposal', async () => {
    const dir = await gitExample();
    const p = await propose(dir, 'network', 'karma-dev', { cidr: '10.10.0.0/16', az_count: 3 });
    fs.writeFileSync(join(dir, NETWORK), '{"cidr": "10.10.0.0/16", "az_count": 5}\n');
    const before = repoTree(dir);
    const run = await karma('apply', p.id, '-c', dir, '--json');
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout[0]!)).toEqual({
      error: { name: 'ConflictError', message: `${NETWORK} has uncommitted changes in the working tree; commit or discard them, then re-run karma apply ${p.id}`, exitCode: 2 },
    });
    expect(repoTree(dir)).toEqual(before);
    const unknown = await karma('apply', 'p-00000000', '-c', dir);
    expect(unknown).toEqual({ code: 2, stdout: [], stderr: [`karma: no open proposal "p-00000000"; open proposals: ${p.id} (karma proposals lists them)`] });
    const neither = await karma('apply', '-c', dir);
    expect(neither).toEqual({ code: 2, stdout: [], stderr: [`karma: ${NETWORK} has uncommitted changes in the working tree; commit or discard them, then re-run karma apply ${p.id}`] });
  });

  it('refuses a proposal that no longer validates on top of the moved HEAD', async () => {
    const dir = await gitExample();
    // The proposal makes serverless-site consume the shared zone's zone_name...
    const site = JSON.parse(fs.readFileSync(join(dir, 'environments/karma-dev/serverless-site.json'), 'utf8')) as Record<string, unknown>;
    const p = await propose(dir, 'serverless-site', 'karma-dev', { ...site, hostname: 'www.acme.example.com' });
    // ...while HEAD moves on: dns-zone stops declaring that output the site already uses (zone_id).
    const yamlPath = join(dir, 'components/dns-zone/component.yaml');
    fs.writeFileSync(yamlPath, fs.readFileSync(yamlPath, 'utf8').replace('outputs: [zone_id, zone_name]', 'outputs: [zone_name]'));
    await git.add({ fs, dir, filepath: 'components/dns-zone/component.yaml' });
    await git.commit({ fs, dir, message: 'drop zone_id', author: AUTHOR });
    const run = await karma('apply', p.id, '-c', dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toEqual([expect.stringMatching(new RegExp(`^karma: proposal ${p.id} no longer validates on top of main \\(HEAD [0-9a-f]{8}\\): .*unknown output "zone_id".*; re-run propose-change$`))]);
  });
});
