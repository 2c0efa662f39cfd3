import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  installInProgress,
  packageHashV1,
  parseLockFile,
  planCacheUse,
  PluginCacheLockTimeoutError,
  pluginCacheDir,
  recordInit,
  terraformPlatform,
  withInstallLock,
} from '../../../lib/adapters/terraform/plugin-cache.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const ADDRESS = 'karma.test/karma/tiny';
const PLATFORM = 'linux_amd64';
// Checksum of the package below, as Terraform 1.11 computed it (`terraform providers lock -fs-mirror=...` on an
// unpacked mirror holding exactly these two files).
const TINY_H1 = 'h1:Lftoh2H7vQMvMJWy9EiP8ExqnofGBSKP9Z0iaRulPbE=';

function writeTinyPackage(dir: string): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'terraform-provider-tiny_v1.0.0'), 'hello\n');
  writeFileSync(join(dir, 'sub', 'README'), 'second file');
}

const lockText = (hashes: string[]): string =>
  ['# This file is maintained automatically by "terraform init".', '', `provider "${ADDRESS}" {`, '  version     = "1.0.0"', '  constraints = "~> 1.0"', '  hashes = [', ...hashes.map((h) => `    "${h}",`), '  ]', '}', ''].join('\n');

let tmp: string;
let cacheDir: string;
let workDir: string;
const cachedPackage = (): string => join(cacheDir, ...ADDRESS.split('/'), '1.0.0', PLATFORM);
const plan = (committedLock: boolean, env: NodeJS.ProcessEnv = {}) => planCacheUse({ cacheDir, workDir, committedLock, platform: PLATFORM, env });

beforeEach(() => {
  tmp = makeTempDir('karma-plugin-cache-');
  cacheDir = join(tmp, 'cache');
  workDir = join(tmp, 'work');
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, 'main.tf'), `terraform {\n  required_providers {\n    tiny = { source = "${ADDRESS}" }\n  }\n}\n`);
});
afterEach(() => removeDir(tmp));

describe('where the cache is', () => {
  it("uses the user's TF_PLUGIN_CACHE_DIR, else one under the work root; KARMA_PLUGIN_CACHE=off turns it off", () => {
    expect(pluginCacheDir('/w', { TF_PLUGIN_CACHE_DIR: '/home/me/.terraform.d/plugin-cache' })).toBe('/home/me/.terraform.d/plugin-cache');
    expect(pluginCacheDir('/w', {})).toBe(join('/w', '.plugin-cache'));
    expect(pluginCacheDir('/w', { KARMA_PLUGIN_CACHE: 'off', TF_PLUGIN_CACHE_DIR: '/x' })).toBeUndefined();
  });

  it("names platforms as Terraform does", () => {
    expect(terraformPlatform('linux', 'x64')).toBe('linux_amd64');
    expect(terraformPlatform('linux', 'arm64')).toBe('linux_arm64');
    expect(terraformPlatform('darwin', 'arm64')).toBe('darwin_arm64');
    expect(terraformPlatform('win32', 'x64')).toBe('windows_amd64');
  });
});

describe('lock files and checksums', () => {
  it('reads every provider block of a lock file Terraform wrote', () => {
    const text = `${lockText(['h1:a=', 'zh:00ff'])}\nprovider "registry.example/hashicorp/null" {\n  version = "3.2.4"\n  hashes = [\n    "h1:b=",\n  ]\n}\n`;
    expect(parseLockFile(text)).toEqual([
      { address: ADDRESS, version: '1.0.0', hashes: ['h1:a=', 'zh:00ff'] },
      { address: 'registry.example/hashicorp/null', version: '3.2.4', hashes: ['h1:b='] },
    ]);
  });

  it("computes Terraform's h1: checksum of an unpacked package", () => {
    writeTinyPackage(join(tmp, 'pkg'));
    expect(packageHashV1(join(tmp, 'pkg'))).toBe(TINY_H1);
  });
});

describe('how an init will use the cache', () => {
  it('a committed lock whose h1: matches the cached package: link, with the cache and without the lock-file override', () => {
    writeTinyPackage(cachedPackage());
    writeFileSync(join(workDir, '.terraform.lock.hcl'), lockText([TINY_H1]));
    expect(plan(true)).toEqual({ use: 'link', env: { TF_PLUGIN_CACHE_DIR: cacheDir } });
  });

  it('a committed lock naming a provider not cached yet: install', () => {
    writeFileSync(join(workDir, '.terraform.lock.hcl'), lockText([TINY_H1]));
    expect(plan(true).use).toBe('install');
  });

  it("a committed lock without this platform's h1: private, and the earlier link into the cache is removed first", () => {
    // Prepare: Terraform would install THROUGH this link and rewrite the shared copy
    writeTinyPackage(cachedPackage());
    writeFileSync(join(workDir, '.terraform.lock.hcl'), lockText(['h1:AAAAh2H7vQMvMJWy9EiP8ExqnofGBSKP9Z0iaRulPbE=', 'zh:00ff']));
    const link = join(workDir, '.terraform', 'providers', ...ADDRESS.split('/'), '1.0.0', PLATFORM);
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(cachedPackage(), link);
    // Act
    const result = plan(true);
    // Assess
    expect(result.use).toBe('private');
    expect(result.env).toEqual({});
    expect(result.note).toContain(`terraform providers lock -platform=${PLATFORM}`);
    expect(existsSync(link)).toBe(false);
    expect(existsSync(join(cachedPackage(), 'terraform-provider-tiny_v1.0.0'))).toBe(true);
  });

  it('no committed lock: install until an init of the same files left a lock naming cached providers, then link', () => {
    writeTinyPackage(cachedPackage());
    // a fresh working directory: we cannot know what init installs
    expect(plan(false)).toEqual({ use: 'install', env: { TF_PLUGIN_CACHE_DIR: cacheDir, TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE: 'true' } });
    // after a successful init (Terraform wrote the lock in the working copy)
    mkdirSync(join(workDir, '.terraform'));
    writeFileSync(join(workDir, '.terraform.lock.hcl'), lockText([TINY_H1]));
    recordInit(workDir);
    expect(plan(false).use).toBe('link');
    // the module changed: it may need another provider now
    writeFileSync(join(workDir, 'extra.tf'), 'terraform {}\n');
    expect(plan(false).use).toBe('install');
  });

  it('a module that needs no provider links (waits for nobody) once an init of the same files has shown it', () => {
    writeFileSync(join(workDir, 'main.tf'), 'output "x" { value = 1 }\n');
    expect(plan(false).use).toBe('install');
    mkdirSync(join(workDir, '.terraform'));
    recordInit(workDir);
    expect(plan(false).use).toBe('link');
  });

  it("a private copy left from before the cache is removed so init links instead", () => {
    writeTinyPackage(cachedPackage());
    writeFileSync(join(workDir, '.terraform.lock.hcl'), lockText([TINY_H1]));
    const installed = join(workDir, '.terraform', 'providers', ...ADDRESS.split('/'), '1.0.0', PLATFORM);
    writeTinyPackage(installed);
    expect(plan(true).use).toBe('link');
    expect(existsSync(installed)).toBe(false);
  });

  it("the user's own TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE is left alone", () => {
    expect(plan(false, { TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE: '' }).env).toEqual({ TF_PLUGIN_CACHE_DIR: cacheDir });
  });
});

describe('the install lock', () => {
  it('lets one holder in at a time, across concurrent callers', async () => {
    // Prepare
    const spans: [number, number][] = [];
    const hold = async (): Promise<void> => {
      const start = performance.now();
      await new Promise((r) => setTimeout(r, 30));
      spans.push([start, performance.now()]);
    };
    // Act
    await Promise.all([1, 2, 3, 4].map(() => withInstallLock(cacheDir, hold, { pollMillis: 5 })));
    // Assess: no two spans overlap, and the lock is gone
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(existsSync(join(cacheDir, '.karma', 'install.lock'))).toBe(false);
  });

  it('is visible while held, so a plan made meanwhile is made again under the lock', async () => {
    expect(installInProgress(cacheDir)).toBe(false);
    expect(await withInstallLock(cacheDir, () => Promise.resolve(installInProgress(cacheDir)))).toBe(true);
    expect(installInProgress(cacheDir)).toBe(false);
  });

  it('is released when the work fails', async () => {
    await expect(withInstallLock(cacheDir, () => Promise.reject(new Error('init failed')))).rejects.toThrow('init failed');
    expect(existsSync(join(cacheDir, '.karma', 'install.lock'))).toBe(false);
  });

  it('takes over a lock left by a dead process, and times out on a live one naming its holder', async () => {
    const lock = join(cacheDir, '.karma', 'install.lock');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: dead, host: hostname() }));
    expect(await withInstallLock(cacheDir, () => Promise.resolve('ran'), { pollMillis: 5, timeoutMillis: 1000 })).toBe('ran');

    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname() }));
    const waits: string[] = [];
    await expect(withInstallLock(cacheDir, () => Promise.resolve('never'), { pollMillis: 5, timeoutMillis: 50, onWait: (h) => waits.push(h) })).rejects.toThrow(PluginCacheLockTimeoutError);
    expect(waits).toHaveLength(1);
    expect(lstatSync(lock).isDirectory()).toBe(true);
  });
});
