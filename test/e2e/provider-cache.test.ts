/**
 * One provider plugin cache for every component: the local pipeline (same ASL, `karma component apply` per
 * component as child processes) with a real Terraform and a real provider (test/fixtures/provider, served
 * from a packed filesystem mirror: test/helpers/provider.ts). Six components that all require the provider
 * apply in ONE wave, in parallel:
 *
 *   alpha, bravo, charlie   module `plain`: no committed lock file
 *   delta, echo             module `locked`: the .terraform.lock.hcl Terraform wrote, committed
 *   foxtrot                 module `foreign`: a lock made elsewhere (a zh: hash, no h1: for this platform)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { runLocalPipeline, type LocalPipelineResult } from '../../lib/app/pipeline/local-run.ts';
import { packageHashV1, parseLockFile, terraformPlatform } from '../../lib/adapters/terraform/plugin-cache.ts';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { listTree, makeProviderMirror, PROVIDER_SOURCE, PROVIDER_VERSION, providerModule, type ProviderMirror } from '../helpers/provider.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const ENVS = ['karma-off', 'karma-dev', 'karma-prod'];
const COMPONENTS: Record<string, string> = { alpha: 'plain', bravo: 'plain', charlie: 'plain', delta: 'locked', echo: 'locked', foxtrot: 'foreign' };
const SHARED = Object.keys(COMPONENTS).filter((c) => COMPONENTS[c] !== 'foreign');
const BINARY = `terraform-provider-karmatest_v${PROVIDER_VERSION}`;
const PLATFORM = terraformPlatform();

let root: string;
let dir: string;
let terraform: string;
let mirror: ProviderMirror;
let committedLock: string;
const saved: Record<string, string | undefined> = {};

const work = (...p: string[]): string => join(dir, '.karma', 'work', ...p);
const cacheDir = (): string => work('.plugin-cache');
const cachedPackage = (): string => join(cacheDir(), ...PROVIDER_SOURCE.split('/'), PROVIDER_VERSION, PLATFORM);
const installed = (env: string, component: string): string => work(env, component, '.terraform', 'providers', ...PROVIDER_SOURCE.split('/'), PROVIDER_VERSION, PLATFORM);

async function run(env: string, extraEnv: Record<string, string> = {}): Promise<LocalPipelineResult> {
  Object.assign(process.env, extraEnv);
  try {
    return await runLocalPipeline({ configDir: dir, input: { trigger: 'manual', env }, terraform, maxParallel: 6, waitMillis: 10 });
  } finally {
    for (const k of Object.keys(extraEnv)) delete process.env[k];
  }
}

/** Every file in the cache with what would change if Terraform wrote it again. */
function cacheFingerprint(): string[] {
  return listTree(cacheDir())
    .filter((f) => !f.path.includes(`${join(cacheDir(), '.karma')}`))
    .map((f) => {
      const s = statSync(f.path);
      return `${f.path} ino=${s.ino} size=${s.size} mtime=${s.mtimeMs}`;
    })
    .sort();
}

async function output(env: string, component: string): Promise<string | undefined> {
  const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
  try {
    return (await backend.runtime.readNames([`/karma/${env}/${component}/outputs/name`]))[0]?.value;
  } finally {
    await backend.close();
  }
}

beforeAll(() => {
  terraform = ensureTerraform();
  root = makeTempDir('karma-provider-cache-');
  mirror = makeProviderMirror(root);
  for (const k of ['TF_CLI_CONFIG_FILE', 'TF_PLUGIN_CACHE_DIR', 'TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE', 'KARMA_PLUGIN_CACHE', 'KARMA_WORK_DIR']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  process.env['TF_CLI_CONFIG_FILE'] = mirror.cliConfig;

  // The lock file a user would commit: the one `terraform init` writes (no cache involved).
  const scratch = join(root, 'scratch');
  mkdirSync(scratch);
  writeFileSync(join(scratch, 'main.tf'), providerModule());
  execFileSync(terraform, ['init', '-input=false', '-no-color'], { cwd: scratch, env: { ...process.env, TF_IN_AUTOMATION: '1' }, stdio: 'pipe' });
  committedLock = readFileSync(join(scratch, '.terraform.lock.hcl'), 'utf8');
  const zh = createHash('sha256').update(readFileSync(join(mirror.dir, ...PROVIDER_SOURCE.split('/'), `terraform-provider-karmatest_${PROVIDER_VERSION}_${PLATFORM}.zip`))).digest('hex');
  const foreignLock = committedLock.replace(/"h1:[^"]+"/, `"h1:${Buffer.alloc(32, 7).toString('base64')}",\n    "zh:${zh}"`);

  dir = join(root, 'repo');
  const files: Record<string, string> = {
    'karma.yaml': ['project: provider-cache', 'environments:', ...ENVS.flatMap((e) => [`  ${e}:`, '    region: eu-west-1', '    account: "222222222222"']), ''].join('\n'),
    'modules/plain/main.tf': providerModule(),
    'modules/locked/main.tf': providerModule(),
    'modules/locked/.terraform.lock.hcl': committedLock,
    'modules/foreign/main.tf': providerModule(),
    'modules/foreign/.terraform.lock.hcl': foreignLock,
  };
  for (const [c, m] of Object.entries(COMPONENTS)) {
    files[`components/${c}/component.yaml`] = [`description: ${c}`, `terraform: ../../modules/${m}`, 'outputs: [name]', ''].join('\n');
    for (const env of ENVS) files[`environments/${env}/${c}.json`] = JSON.stringify({ name: `${c} in ${env}` });
  }
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(resolve(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  cpSync(join(dir, 'modules'), join(root, 'modules-as-committed'), { recursive: true });
}, 20 * 60 * 1000);

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (root) removeDir(root);
});

describe('provider plugin cache (real terraform, real provider from a packed mirror)', () => {
  it('without the cache, every working directory unpacks its own copy of the provider', async () => {
    // Act
    const result = await run('karma-off', { KARMA_PLUGIN_CACHE: 'off' });
    // Assess
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.waves.map((w) => w.components.length)).toEqual([6]);
    for (const c of Object.keys(COMPONENTS)) {
      const binary = statSync(join(installed('karma-off', c), BINARY));
      expect(statSync(installed('karma-off', c), { throwIfNoEntry: true }).isDirectory()).toBe(true);
      expect(readlinkSafe(installed('karma-off', c)), c).toBeUndefined();
      expect(binary.size).toBeGreaterThan(mirror.zipBytes);
    }
    expect(existsSync(cacheDir())).toBe(false);
  });

  it('with the cache, six parallel applies in one wave share ONE unpacked copy, intact', async () => {
    // Act
    const result = await run('karma-dev');
    // Assess: everyone applied, in one wave, and the provider really ran (the data source echoed the input)
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.waves.map((w) => [...w.components].sort())).toEqual([Object.keys(COMPONENTS).sort()]);
    for (const c of Object.keys(COMPONENTS)) expect(await output('karma-dev', c)).toBe(`${c} in karma-dev`);
    // one unpacked copy in the cache, identical to what the mirror serves (the committed lock's h1 checksum)
    const binaries = listTree(cacheDir()).filter((f) => f.path.endsWith(BINARY));
    expect(binaries.map((f) => f.path)).toEqual([join(cachedPackage(), BINARY)]);
    expect(parseLockFile(committedLock)[0]!.hashes).toContain(packageHashV1(cachedPackage()));
    // every component whose lock file allows the cached copy links to it
    for (const c of SHARED) expect(realpathSync(installed('karma-dev', c)), c).toBe(realpathSync(cachedPackage()));
    // the summary says how long each init took
    for (const row of result.summary?.rows ?? []) expect(row.initMillis, row.component).toBeGreaterThan(0);
    expect(result.summary?.text.split('\n')[0]).toMatch(/ENV\s+COMPONENT\s+RESULT\s+DETAIL\s+INIT/);
  });

  it('a second run in fresh working directories installs nothing new: the cache is untouched, every init links', async () => {
    // Prepare
    const before = cacheFingerprint();
    // Act
    const result = await run('karma-prod');
    // Assess
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.waves.map((w) => w.components.length)).toEqual([6]);
    expect(cacheFingerprint()).toEqual(before);
    for (const c of SHARED) {
      expect(realpathSync(installed('karma-prod', c)), c).toBe(realpathSync(cachedPackage()));
      expect(readFileSync(work('karma-prod', c, 'apply.log'), 'utf8'), c).toMatch(/Using karma\.test\/karma\/karmatest v0\.1\.0 from the shared cache directory/);
    }
    // foxtrot's lock lists only a zh: hash and another platform's h1:, so Terraform would not trust the
    // cached copy and would rewrite it: it gets a private copy instead (the fingerprint above is unchanged)
    expect(readlinkSafe(installed('karma-prod', 'foxtrot'))).toBeUndefined();
    expect(statSync(join(installed('karma-prod', 'foxtrot'), BINARY)).isFile()).toBe(true);
    expect(await output('karma-prod', 'foxtrot')).toBe('foxtrot in karma-prod');
  });

  it("the user's lock files are never rewritten", () => {
    for (const m of ['locked', 'foreign']) {
      expect(readFileSync(join(dir, 'modules', m, '.terraform.lock.hcl'), 'utf8'), m).toBe(readFileSync(join(root, 'modules-as-committed', m, '.terraform.lock.hcl'), 'utf8'));
    }
    expect(existsSync(join(dir, 'modules', 'plain', '.terraform.lock.hcl'))).toBe(false);
  });
});

function readlinkSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
