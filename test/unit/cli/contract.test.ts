/**
 * The CLI contract (docs/cli.md): exit codes (0 ok · 1 operational · 2 invalid input or usage), `--json` prints
 * only JSON, one line per usage error, secrets never printed, NO_COLOR respected. Runs `main(argv, io)` on a
 * copy of examples/acme-platform seeded with its runtime-seed.yaml (never on the example itself), plus a
 * few runs of the real `karma` binary.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { karma, onlyJson, type Run } from '../../support/cli.ts';
import { copyRepo, makeTempDir, removeDir, snapshotTree } from '../../helpers/config-repo.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = join(ROOT, 'examples', 'acme-platform');
const SECRETS = ['dd-example-not-a-real-key', 'dev-secret-never-shown', 'prod-secret-never-shown'];
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;


/** A fresh copy of the example with the seeded runtime (no graph build yet). */
async function seededExample(tmp: string, name: string): Promise<string> {
  const dir = copyRepo(EXAMPLE, tmp, name);
  const seeded = await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '-c', dir);
  expect(seeded).toEqual({ code: 0, stdout: ['recorded 17 applies and 1 parameter'], stderr: [] });
  return dir;
}


let tmp: string;
/** Seeded, never built, never written to by the tests that use it (they only read). */
let example: string;

beforeAll(async () => {
  tmp = makeTempDir();
  example = await seededExample(tmp, 'example');
});
afterAll(() => removeDir(tmp));

describe('usage errors: exit 2, one line', () => {
  it.each([
    ['an unknown command', ['frobnicate'], "karma: unknown command 'frobnicate'"],
    ['a mistyped subcommand (with its suggestion on the same line)', ['graph', 'buidl'], "karma: unknown command 'buidl' (did you mean build?)"],
    ['an unknown flag', ['graph', 'build', '--frob'], "karma: unknown option '--frob'"],
    ['graph why without arguments', ['graph', 'why'], "karma: missing required argument 'component'"],
    ['a format that does not exist', ['graph', 'show', '--format', 'png'], "karma: option '-f, --format <format>' argument 'png' is invalid. Allowed choices are table, json, dot, mermaid, picture."],
  ])('%s', async (_name, argv, line) => {
    // Act
    const run = await karma(...argv);

    // Assess
    expect(run).toEqual({ code: 2, stdout: [], stderr: [line] });
  });

  it('`karma graph` without a subcommand prints the help on stderr and exits 2', async () => {
    // Act
    const run = await karma('graph');

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toEqual([]);
    expect(run.stderr.join('\n')).toMatch(/^Usage: karma graph \[options\] \[command\]/);
  });

  it('--help and --version are successes on stdout', async () => {
    // Act
    const help = await karma('graph', 'order', '--help');
    const version = await karma('--version');

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout.join('\n')).toMatch(/^Usage: karma graph order \[options\]/);
    expect(version).toEqual({ code: 0, stdout: ['0.1.0'], stderr: [] });
  });

  it('with --json, a usage error is one JSON object on stdout', async () => {
    // Act
    const run = await karma('graph', 'why', '--json', '-c', example);

    // Assess
    expect(run.code).toBe(2);
    expect(onlyJson(run)).toEqual({ error: { name: 'UsageError', message: "missing required argument 'component'", exitCode: 2 } });
  });

  it('a --config that is not a directory is exit 2', async () => {
    // Act
    const run = await karma('graph', 'validate', '-c', join(tmp, 'nowhere'));

    // Assess
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: [`karma: --config ${join(tmp, 'nowhere')}: not a directory or a Git URL; point it at a config repo (the folder with karma.yaml)`],
    });
  });
});

describe('unknown names: exit 2 with what exists', () => {
  const ENVS = 'karma.yaml declares karma-dev, karma-prod, karma-shared';

  it.each([
    ['graph order', ['graph', 'order', '--env', 'karma-stage']],
    ['graph impact', ['graph', 'impact', 'network', 'karma-stage']],
    ['graph show', ['graph', 'show', '--env', 'karma-stage']],
  ])('%s of an unknown environment lists the environments', async (_name, argv) => {
    // Act
    const run = await karma(...argv, '-c', example);

    // Assess
    expect(run).toEqual({ code: 2, stdout: [], stderr: [`karma: unknown environment "karma-stage"; ${ENVS}`] });
  });

  it('graph why of a component not deployed in the env lists what is', async () => {
    // Act
    const run = await karma('graph', 'why', 'dns-zone', 'karma-dev', '-c', example);

    // Assess
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: ['karma: component "dns-zone" is not deployed in karma-dev; deployed there: api-service, cache, database, monitoring, network, queue, security-baseline, serverless-site, worker'],
    });
  });

  it('graph why with --json reports the error as JSON', async () => {
    // Act
    const run = await karma('graph', 'why', 'dns-zone', 'karma-dev', '--json', '-c', example);

    // Assess
    expect(run.code).toBe(2);
    expect(onlyJson(run)).toMatchObject({
      error: { name: 'NotFoundError', exitCode: 2, message: expect.stringMatching(/^component "dns-zone" is not deployed in karma-dev; /), kind: 'deployment', value: 'dns-zone', env: 'karma-dev' },
    });
    expect((onlyJson(run) as { error: { known: string[] } }).error.known).toEqual(['api-service', 'cache', 'database', 'monitoring', 'network', 'queue', 'security-baseline', 'serverless-site', 'worker']);
  });
});

describe('--json prints only JSON', () => {
  it('graph order --env karma-dev: the waves of what needs an apply, per the planning rules', async () => {
    // Act
    const run = await karma('graph', 'order', '--env', 'karma-dev', '--json', '-c', example);

    // Assess
    // network and security-baseline are in-sync: not applied. cache (failed), database (stale-inputs) and
    // queue (pending) need only in-sync upstreams: wave 1. api-service (cache, database, queue) and worker
    // (queue, database; drifted): wave 2. monitoring (dependsOn api-service, worker) and serverless-site
    // (api-service; dns-zone in karma-shared is in-sync): wave 3. Ties by name.
    expect(run.code).toBe(0);
    expect(onlyJson(run)).toEqual({
      env: 'karma-dev',
      waves: [['cache', 'database', 'queue'], ['api-service', 'worker'], ['monitoring', 'serverless-site']],
      skipped: [],
      orphaned: [],
    });
  });

  it('graph order --all and --destroy', async () => {
    // Act
    const all = await karma('graph', 'order', '--env', 'karma-dev', '--all', '--json', '-c', example);
    const destroy = await karma('graph', 'order', '--env', 'karma-dev', '--destroy', '--json', '-c', example);

    // Assess
    const everything = [['network', 'security-baseline'], ['cache', 'database', 'queue'], ['api-service', 'worker'], ['monitoring', 'serverless-site']];
    expect(onlyJson(all)).toEqual({ env: 'karma-dev', waves: everything, orphaned: [] });
    expect(onlyJson(destroy)).toEqual({ env: 'karma-dev', waves: [...everything].reverse(), orphaned: [] });
  });

  it('graph impact, why, show, validate parse as JSON', async () => {
    // Act
    const impact = await karma('graph', 'impact', 'network', 'karma-dev', '--json', '-c', example);
    const why = await karma('graph', 'why', 'monitoring', 'karma-dev', '--json', '-c', example);
    const show = await karma('graph', 'show', '--json', '-c', example);
    const validate = await karma('graph', 'validate', '--json', '-c', example);

    // Assess
    expect(onlyJson(impact)).toEqual({
      env: 'karma-dev',
      component: 'network',
      waves: [['network'], ['cache', 'database'], ['api-service', 'worker'], ['monitoring', 'serverless-site']],
      otherEnvironments: [],
    });
    expect(onlyJson(why)).toEqual({
      env: 'karma-dev',
      component: 'monitoring',
      status: 'blocked',
      reason: 'api-service is blocked',
      chain: [
        { kind: 'status', depth: 0, env: 'karma-dev', component: 'monitoring', status: 'blocked', reason: 'api-service is blocked' },
        { kind: 'status', depth: 1, env: 'karma-dev', component: 'api-service', status: 'blocked', reason: 'cache is failed' },
        {
          kind: 'status',
          depth: 2,
          env: 'karma-dev',
          component: 'cache',
          status: 'failed',
          reason: 'apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity',
        },
        { kind: 'once-unblocked', depth: 2, env: 'karma-dev', component: 'api-service', status: 'never-applied', reason: 'never applied in karma-dev' },
        { kind: 'once-unblocked', depth: 1, env: 'karma-dev', component: 'monitoring', status: 'never-applied', reason: 'never applied in karma-dev' },
      ],
    });
    const graph = onlyJson(show) as { vertices: { id: string }[]; edges: unknown[] };
    expect(graph.vertices).toHaveLength(53);
    expect(graph.edges).toHaveLength(101);
    expect(graph.vertices.map((v) => v.id)).toContain('component:karma-dev:network');
    expect(onlyJson(validate)).toEqual({ valid: true, environments: 3, components: 10, deployments: 19 });
    for (const run of [impact, why, show, validate]) expect(run.code).toBe(0);
  });

  it('reading commands write nothing into the repo', async () => {
    // Prepare
    const before = snapshotTree(example);

    // Act
    await karma('graph', 'order', '--env', 'karma-prod', '-c', example);
    await karma('graph', 'show', '-c', example);
    await karma('graph', 'validate', '-c', example);

    // Assess
    expect(snapshotTree(example)).toEqual(before);
  });
});

describe('graph build, history and diff', () => {
  it('a second build of the same repo writes nothing: 0 added, 0 updated, 0 deleted', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'twice');

    // Act
    const first = onlyJson(await karma('graph', 'build', '--json', '-c', dir)) as { build: { id: string }; store: Record<string, number>; counts: unknown };
    const second = onlyJson(await karma('graph', 'build', '--json', '-c', dir)) as { build: { id: string }; store: Record<string, number> };
    const history = onlyJson(await karma('graph', 'history', '--json', '-c', dir)) as { builds: { id: string }[] };

    // Assess
    expect(first.counts).toEqual({
      environments: 3,
      components: 10,
      deployments: 19,
      vertices: 53,
      edges: 101,
      statuses: { 'never-applied': 0, 'in-sync': 11, pending: 2, 'stale-inputs': 1, blocked: 3, failed: 1, drifted: 1, orphaned: 0 },
    });
    expect(first.store).toMatchObject({ added: 154, updated: 0, deleted: 0, unchanged: 0 });
    expect(second.store).toMatchObject({ added: 0, updated: 0, deleted: 0, unchanged: 154 });
    expect(history.builds.map((b) => b.id)).toEqual([second.build.id, first.build.id]);
  });

  it('graph diff after `runtime put` of the external parameter changes exactly the parameter and its one applied consumer', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'diff');
    expect((await karma('graph', 'build', '-c', dir)).code).toBe(0);
    const put = await karma('runtime', 'put', '/acme/external/datadog-api-key', 'dd-rotated-not-a-real-key', '--type', 'SecureString', '-c', dir);
    expect(put).toEqual({ code: 0, stdout: ['/acme/external/datadog-api-key is now at version 2'], stderr: [] });
    expect((await karma('graph', 'build', '-c', dir)).code).toBe(0);

    // Act
    const diff = onlyJson(await karma('graph', 'diff', '--json', '-c', dir)) as {
      added: string[];
      removed: string[];
      changed: { id: string; changed: Record<string, { before: unknown; after: unknown }> }[];
    };

    // Assess
    // Both api-services consume the parameter; only karma-prod's was applied (with version 1): it turns
    // stale-inputs. karma-dev's was never applied and stays blocked behind the failed cache.
    expect(diff.added).toEqual([]);
    expect(diff.removed).toEqual([]);
    expect(diff.changed.map((c) => c.id)).toEqual(['component:karma-prod:api-service', 'param:/acme/external/datadog-api-key']);
    expect(diff.changed[0]!.changed).toEqual({
      status: { before: 'in-sync', after: 'stale-inputs' },
      reason: { before: 'applied at 2026-11-03T10:40:00Z; config and inputs unchanged', after: '/acme/external/datadog-api-key is at version 2, applied with version 1' },
    });
    expect(Object.keys(diff.changed[1]!.changed).sort()).toEqual(['version']) // a SecureString: version only, no value hash;
    expect(diff.changed[1]!.changed['version']).toEqual({ before: 1, after: 2 });
  });

  it('graph diff with fewer than two builds is a usage error', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'one-build');
    expect((await karma('graph', 'build', '-c', dir)).code).toBe(0);

    // Act
    const run = await karma('graph', 'diff', '-c', dir);

    // Assess
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: ['karma: graph diff needs two builds: run `karma graph build` twice, or name them (`karma graph diff 3 5`; see `karma graph history`)'],
    });
  });
});

describe('secrets and colour', () => {
  it('secret values never appear in any output, and no ANSI escapes when color is off', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'secrets');
    const commands: string[][] = [
      ['graph', 'build', '--json'],
      ['graph', 'build'],
      ['runtime', 'put', '/acme/external/datadog-api-key', 'dd-rotated-not-a-real-key', '--type', 'SecureString'],
      ['graph', 'build'],
      ['graph', 'show', '--format', 'json'],
      ['graph', 'show', '--format', 'table'],
      ['graph', 'show', '--format', 'dot'],
      ['graph', 'show', '--format', 'mermaid'],
      ['graph', 'diff'],
      ['graph', 'diff', '--json'],
      ['graph', 'history'],
      ['graph', 'order', '--env', 'karma-prod'],
      ['graph', 'impact', 'database', 'karma-prod', '--output', 'master_password'],
      ['graph', 'why', 'api-service', 'karma-prod'],
      ['runtime', 'list'],
      ['runtime', 'list', '--json'],
      ['runtime', 'list', '--env', 'karma-dev'],
    ];

    // Act
    const outputs: string[] = [];
    for (const argv of commands) {
      const run = await karma(...argv, '-c', dir);
      expect(run.code, argv.join(' ')).toBe(0);
      outputs.push(...run.stdout, ...run.stderr);
    }

    // Assess
    const all = outputs.join('\n');
    for (const secret of [...SECRETS, 'dd-rotated-not-a-real-key']) expect(all).not.toContain(secret);
    expect(all).toContain('/karma/karma-dev/database/outputs/master_password'); // the parameter is listed, its value is not
    expect(all).toContain('(secure)');
    expect(all).not.toMatch(ANSI);
  });
});

describe('runtime put NAME - (the value on standard input)', () => {
  it('stores what standard input holds (one trailing newline dropped) and never prints it', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'put-stdin');
    const io = memoryIO('s3cr3t-from-stdin\n');

    // Act
    const code = await main(['runtime', 'put', '/karma/external/api-key', '-', '--type', 'SecureString', '-c', dir], io);

    // Assess
    expect({ code, stdout: io.stdout, stderr: io.stderr }).toEqual({ code: 0, stdout: ['/karma/external/api-key is now at version 1'], stderr: [] });
    const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
    const [stored] = await backend.runtime.readNames(['/karma/external/api-key']);
    await backend.close();
    expect(stored).toMatchObject({ value: 's3cr3t-from-stdin', type: 'SecureString', version: 1 });
  });

  it('refuses an empty standard input (exit 2) and writes nothing', async () => {
    // Prepare
    const dir = await seededExample(tmp, 'put-stdin-empty');
    const before = snapshotTree(dir);

    // Act
    const io = memoryIO('');
    const code = await main(['runtime', 'put', '/karma/external/api-key', '-', '-c', dir], io);

    // Assess
    expect({ code, stdout: io.stdout, stderr: io.stderr }).toEqual({
      code: 2,
      stdout: [],
      stderr: ['karma: runtime put NAME -: standard input is empty; pipe the value (e.g. karma runtime put NAME - < value.txt)'],
    });
    expect(snapshotTree(dir)).toEqual(before);
  });
});

describe('the real binary', () => {
  const exec = promisify(execFile);
  const runBin = async (args: string[], env: Record<string, string | undefined>): Promise<Run> => {
    const { FORCE_COLOR: _force, NO_COLOR: _no, ...base } = process.env;
    try {
      const { stdout, stderr } = await exec('npx', ['karma', ...args], { cwd: ROOT, env: { ...base, ...env } as NodeJS.ProcessEnv });
      return { code: 0, stdout: [stdout], stderr: [stderr] };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: [e.stdout ?? ''], stderr: [e.stderr ?? ''] };
    }
  };

  it('`npx karma graph validate` exits 2 with one line on a broken repo, 0 on a good one', async () => {
    // Prepare
    const broken = copyRepo(EXAMPLE, tmp, 'broken-bin');
    writeFileSync(join(broken, 'environments', 'karma-dev', 'network.json'), '{\n  "cidr": "10.10.0.0/16",\n  "az_count": "two"\n}\n');

    // Act
    const bad = await runBin(['graph', 'validate', '-c', broken], { NO_COLOR: '1' });
    const good = await runBin(['graph', 'validate', '-c', example], { NO_COLOR: '1' });

    // Assess
    expect(bad).toEqual({
      code: 2,
      stdout: [''],
      stderr: ['karma: environments/karma-dev/network.json:3: az_count: must be integer (schema in components/network/component.yaml)\n'],
    });
    expect(good).toEqual({ code: 0, stdout: ['valid: 3 environments, 10 components, 19 deployments\n'], stderr: [''] });
    expect(existsSync(join(broken, '.karma'))).toBe(false);
  }, 60_000);

  it('NO_COLOR=1 turns colour off; FORCE_COLOR=1 alone turns it on (so the check can fail)', async () => {
    // Act
    const plain = await runBin(['graph', 'show', '-c', example], { NO_COLOR: '1' });
    const coloured = await runBin(['graph', 'show', '-c', example], { FORCE_COLOR: '1' });

    // Assess
    expect(plain.code).toBe(0);
    expect(plain.stdout[0]).toContain('karma-dev     network            in-sync');
    expect(plain.stdout.join('') + plain.stderr.join('')).not.toMatch(ANSI);
    expect(coloured.code).toBe(0);
    expect(coloured.stdout[0]).toMatch(ANSI);
  }, 60_000);
});
