/**
 * Installing Karma as a user would (README "Install"): `npm pack` the checkout, `npm install -g` the tarball into a
 * temporary prefix, then — outside the checkout, with Node 24 first on PATH — `karma init`, `karma graph validate`
 * and `karma pipeline run` with the real terraform; and the installed `karma` on an old Node prints one line.
 *
 * The tarball ships dist/ as built (`npm run build`, also run by `npm ci`'s prepare); the test builds it only when
 * it is missing, so it never rewrites dist/ under other tests. The install uses npm's cache first
 * (--prefer-offline: warm after `npm ci`).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTerraform } from '../helpers/terraform.ts';
import { buildCli, DIST, ROOT } from '../../scripts/build.ts';

const NPM_TIMEOUT = 10 * 60 * 1000;

/** terraform or tofu as the other end-to-end tests find it (on PATH, else built with Go); undefined: neither. */
function terraformOnPath(): string | undefined {
  try {
    return ensureTerraform();
  } catch {
    return undefined;
  }
}

/** A `node` on PATH older than 22 (the machine's system Node), if there is one. */
function oldNode(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    if (!dir || !existsSync(candidate)) continue;
    const run = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    const major = Number(run.stdout.trim().split('.')[0]);
    if (run.status === 0 && major > 0 && major < 22) return candidate;
  }
  return undefined;
}

const TERRAFORM = terraformOnPath();
const OLD_NODE = oldNode();

let tmp: string;
let prefix: string;
/** PATH with Node 24 (the one running the tests) first, then the installed bin folder, then terraform's folder. */
let userPath: string;
let tarball: string;

function run(command: string, args: readonly string[], options: { cwd: string; path?: string; timeout?: number }): SpawnSyncReturns<string> {
  // The user's environment: no KARMA_* settings of the test run (a config, a store, a terraform) leak in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KARMA_')));
  return spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeout ?? 180_000,
    env: { ...env, PATH: options.path ?? userPath, NO_COLOR: '1', npm_config_update_notifier: 'false' },
  });
}

function karma(args: readonly string[], cwd: string, path = userPath): SpawnSyncReturns<string> {
  return run(join(prefix, 'bin', 'karma'), args, { cwd, path });
}

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'karma-install-')));
  prefix = join(tmp, 'prefix');
  if (!existsSync(join(DIST, 'karma.js'))) await buildCli();
  const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, '--json'], { cwd: ROOT, path: process.env['PATH']!, timeout: NPM_TIMEOUT });
  expect(pack.status, pack.stderr).toBe(0);
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, packed!.filename);
  const install = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: tmp,
    path: process.env['PATH']!,
    timeout: NPM_TIMEOUT,
  });
  expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
  userPath = [dirname(process.execPath), join(prefix, 'bin'), ...(TERRAFORM ? [dirname(TERRAFORM)] : []), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
}, NPM_TIMEOUT * 2);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the bundle, the pipeline definition and the docs, and no sources or tests', () => {
    // Act
    const list = run('tar', ['-tzf', tarball], { cwd: tmp, path: process.env['PATH']! });

    // Assess
    const files = list.stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/karma.js', 'statemachines/pipeline.asl.json', 'docs/cli.md']));
    expect(files.filter((f) => /^(lib|bin|test|bench|scripts)\//.test(f) || f.endsWith('.ts'))).toEqual([]);
    expect(files).not.toContain('dist/meta.json');
  });
});

describe('the installed karma, outside the checkout', () => {
  it('is Karma (both bin names), not the test runner', () => {
    // Act
    const karmaVersion = karma(['--version'], tmp);
    const alias = run(join(prefix, 'bin', 'karma-infra'), ['--version'], { cwd: tmp });

    // Assess
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(karmaVersion.stdout.trim()).toBe(version);
    expect(alias.stdout.trim()).toBe(version);
    expect(karmaVersion.stderr).toBe('');
  });

  it.skipIf(!TERRAFORM)('init → graph validate → pipeline run applies with the real terraform → graph build shows it in sync (skipped only without terraform, tofu or Go)', () => {
    // Arrange
    const repo = join(tmp, 'my-infra');

    // Act
    const init = karma(['init', repo], tmp);
    const validate = karma(['graph', 'validate'], repo);
    const pipeline = karma(['pipeline', 'run', '--env', 'dev'], repo);
    const build = karma(['graph', 'build', '--json'], repo);

    // Assess
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain('karma pipeline run --env dev');
    expect(validate.stdout.trim()).toBe('valid: 1 environment, 1 component, 1 deployment');
    expect(validate.status).toBe(0);
    expect(pipeline.status, pipeline.stderr).toBe(0);
    expect(pipeline.stdout).toMatch(/^dev\s+hello\s+applied\s/m);
    expect(pipeline.stdout).toMatch(/^succeeded in \d+ ms/m);
    expect(pipeline.stderr).not.toMatch(/ExperimentalWarning|Error:|\n\s+at /);
    expect(build.status, build.stderr).toBe(0);
    const statuses = (JSON.parse(build.stdout) as { statuses: { env: string; component: string; status: string }[] }).statuses;
    expect(statuses.map((s) => [s.env, s.component, s.status])).toEqual([['dev', 'hello', 'in-sync']]);
    expect(readdirSync(join(repo, '.karma'))).toContain('karma.db');
  });

  it.skipIf(!OLD_NODE)('on Node older than 22.16 prints one line and exits 1 (skipped when no Node < 22 is on PATH)', () => {
    // Arrange: the old Node first on PATH, as on a machine that never upgraded (#!/usr/bin/env node)
    const path = [dirname(OLD_NODE!), join(prefix, 'bin'), '/usr/bin', '/bin'].join(delimiter);
    const version = spawnSync(OLD_NODE!, ['--version'], { encoding: 'utf8' }).stdout.trim();

    // Act
    const old = karma(['graph', 'validate'], tmp, path);

    // Assess
    expect(old.status).toBe(1);
    expect(old.stdout).toBe('');
    expect(old.stderr).toBe(`karma: Node.js 22.16+ or 24+ (an LTS) is required; this is ${version}. Install a current LTS from https://nodejs.org and run karma again.\n`);
  });
});
