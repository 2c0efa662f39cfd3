/**
 * One provider plugin cache for every component (Terraform's `TF_PLUGIN_CACHE_DIR`), so a provider is
 * downloaded and unpacked once and each working directory gets a link into the cache.
 *
 * Terraform's cache is not safe for concurrent writes, and an `init` that does not trust the cached copy
 * rewrites it IN PLACE (same file, truncated and written again), even while another component's apply is
 * running that binary. So Karma decides, before each `terraform init`, how that init will use the cache
 * (checked with Terraform 1.11; see docs/providers.md):
 *
 * - The module commits a `.terraform.lock.hcl`: Terraform uses a cached package only when the lock lists
 *   its `h1:` checksum. Listed → `link` (init only links; no lock needed). Not cached yet → `install` under
 *   the cache's install lock (one install at a time). Cached but the lock lacks this platform's `h1:` (a
 *   lock made on another platform with only `zh:` hashes for this one) → `private`: this init runs without the
 *   cache, as before, because Terraform would otherwise download again and rewrite the shared copy on every
 *   run. The user's lock file is never changed (Terraform works on Karma's copy of the module).
 * - No committed lock file: Karma sets `TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=true`, without which
 *   Terraform ≥ 1.4 re-installs into the cache on every init of a new working directory. The only lock file
 *   this can "break" is the one Terraform writes into Karma's working copy (the repo has none). → `link`
 *   when an earlier init of the same module files left a lock naming only cached providers (or none: a
 *   module without providers), else `install`.
 *
 * Only a `link` planned while no install is in progress runs at once (it never writes the cache). Anything
 * else runs under the cache's install lock and is planned again once it holds it: the provider may have
 * arrived meanwhile, and a plan made during someone's install may have seen a half-written package.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { KarmaError } from '../../core/errors.ts';

export class PluginCacheLockTimeoutError extends KarmaError {
  override readonly name = 'PluginCacheLockTimeoutError';
}

export const LOCK_FILE = '.terraform.lock.hcl';
/** Karma's own files in the cache directory (install lock, checksum memo); not a provider host name. */
const KARMA_DIR = '.karma';

/** Terraform's name for the platform this process runs on (`linux_amd64`, `darwin_arm64`...). */
export function terraformPlatform(platform: string = process.platform, arch: string = process.arch): string {
  const os = platform === 'win32' ? 'windows' : platform;
  const cpu = ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[arch] ?? arch;
  return `${os}_${cpu}`;
}

/**
 * The cache directory: the user's `TF_PLUGIN_CACHE_DIR` when set, else `<workRoot>/.plugin-cache`; undefined
 * when `KARMA_PLUGIN_CACHE=off` (every working directory installs its own copy, as Terraform does by default).
 */
export function pluginCacheDir(workRoot: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env['KARMA_PLUGIN_CACHE'] === 'off') return undefined;
  return env['TF_PLUGIN_CACHE_DIR'] || join(workRoot, '.plugin-cache');
}

export interface LockedProvider {
  /** `host/namespace/type` as written in the lock file. */
  readonly address: string;
  readonly version: string;
  readonly hashes: readonly string[];
}

/** The provider blocks of a `.terraform.lock.hcl` (the file Terraform writes; only what Karma needs). */
export function parseLockFile(text: string): LockedProvider[] {
  const out: LockedProvider[] = [];
  const block = /provider\s+"([^"]+)"\s*\{([\s\S]*?)\n\}/g;
  for (let m = block.exec(text); m; m = block.exec(text)) {
    const body = m[2]!;
    const version = /\bversion\s*=\s*"([^"]+)"/.exec(body)?.[1];
    if (!version) continue;
    const list = /\bhashes\s*=\s*\[([\s\S]*?)\]/.exec(body)?.[1] ?? '';
    out.push({ address: m[1]!, version, hashes: [...list.matchAll(/"([^"]+)"/g)].map((h) => h[1]!) });
  }
  return out;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return out.sort();
}

/**
 * Terraform's `h1:` checksum of an unpacked provider package (Go's dirhash Hash1): sha256 over the lines
 * `<hex sha256 of file>  <relative path>\n`, files sorted by path.
 */
export function packageHashV1(dir: string): string {
  const summary = createHash('sha256');
  for (const file of filesUnder(dir)) {
    summary.update(`${createHash('sha256').update(readFileSync(join(dir, ...file.split('/')))).digest('hex')}  ${file}\n`);
  }
  return `h1:${summary.digest('base64')}`;
}

/**
 * packageHashV1 of a cached package, remembered in the cache (keyed by each file's size, mtime and inode) so
 * a provider of hundreds of MB is hashed once, not before every init.
 */
function cachedPackageHash(cacheDir: string, address: string, version: string, platform: string): string {
  const dir = join(cacheDir, ...address.split('/'), version, platform);
  const stamp = filesUnder(dir)
    .map((f) => {
      const s = statSync(join(dir, ...f.split('/')));
      return `${f}:${s.size}:${s.mtimeMs}:${s.ino}`;
    })
    .join('|');
  const memo = join(cacheDir, KARMA_DIR, 'checksums', `${createHash('sha256').update(`${address}/${version}/${platform}`).digest('hex').slice(0, 32)}.json`);
  try {
    const saved = JSON.parse(readFileSync(memo, 'utf8')) as { stamp?: string; h1?: string };
    if (saved.stamp === stamp && saved.h1) return saved.h1;
  } catch {
    // no memo yet, or unreadable: hash below
  }
  const h1 = packageHashV1(dir);
  mkdirSync(join(cacheDir, KARMA_DIR, 'checksums'), { recursive: true });
  const tmp = `${memo}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ stamp, h1 }));
  // rename is atomic: a concurrent reader sees the old memo or the new one, never half of it
  renameSync(tmp, memo);
  return h1;
}

/** The module's Terraform files as Karma copied them (paths and bytes), to recognise an unchanged module. */
function moduleDigest(workDir: string): string {
  const h = createHash('sha256');
  for (const f of filesUnder(workDir)) {
    if (f.startsWith('.terraform/') || !/\.tf(\.json)?$/.test(f)) continue;
    h.update(`${f}\n`).update(readFileSync(join(workDir, ...f.split('/')))).update('\n');
  }
  return h.digest('hex');
}

const LAST_INIT = join('.terraform', 'karma-last-init');

/**
 * After a successful init: remember which module files it saw. Without a committed lock file, the lock file
 * Terraform wrote (or its absence: a module that needs no provider) tells what the next init installs only
 * while the module's files are unchanged.
 */
export function recordInit(workDir: string): void {
  if (existsSync(join(workDir, '.terraform'))) writeFileSync(join(workDir, LAST_INIT), moduleDigest(workDir));
}

export type CacheUse = 'link' | 'install' | 'private';

export interface CachePlan {
  readonly use: CacheUse;
  /** Environment for this `terraform init` (and the commands after it). */
  readonly env: Readonly<Record<string, string>>;
  /** Why `private`: one line for the progress stream. */
  readonly note?: string;
}

/**
 * How the next `terraform init` in `workDir` will use the cache (see the top of this file). `committedLock`:
 * the module in the config repo has its own `.terraform.lock.hcl` (already copied into `workDir`).
 */
export function planCacheUse(options: { cacheDir: string; workDir: string; committedLock: boolean; platform?: string; env?: NodeJS.ProcessEnv }): CachePlan {
  const { cacheDir, workDir, committedLock } = options;
  const platform = options.platform ?? terraformPlatform();
  const inherited = options.env ?? process.env;
  const lockPath = join(workDir, LOCK_FILE);
  const locked = existsSync(lockPath) ? parseLockFile(readFileSync(lockPath, 'utf8')) : [];
  const base: Record<string, string> = { TF_PLUGIN_CACHE_DIR: cacheDir };
  if (!committedLock && inherited['TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE'] === undefined) {
    base['TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE'] = 'true';
  }
  if (!committedLock) {
    // Only Terraform's own lock file from an earlier init of the same files says what this init will install.
    const marker = join(workDir, LAST_INIT);
    const unchanged = existsSync(marker) && readFileSync(marker, 'utf8') === moduleDigest(workDir);
    if (!unchanged) return { use: 'install', env: base };
  }
  // No lock file after an init of the same files: the module needs no provider.
  if (locked.length === 0) return { use: existsSync(lockPath) || !committedLock ? 'link' : 'install', env: base };
  const cached = (p: LockedProvider): boolean => existsSync(join(cacheDir, ...p.address.split('/'), p.version, platform));
  const unverified = committedLock ? locked.filter((p) => cached(p) && !p.hashes.includes(cachedPackageHash(cacheDir, p.address, p.version, platform))) : [];
  if (unverified.length === 0) {
    // A private copy from before the cache (or from a `private` init) would stay: let init link instead.
    for (const p of locked) {
      const installed = join(workDir, '.terraform', 'providers', ...p.address.split('/'), p.version, platform);
      if (existsSync(installed) && !lstatSync(installed).isSymbolicLink()) rmSync(installed, { recursive: true, force: true });
    }
    return { use: locked.every(cached) ? 'link' : 'install', env: base };
  }
  const names = unverified.map((p) => `${p.address} ${p.version}`).join(', ');
  detachFromCache(workDir);
  return {
    use: 'private',
    // Without TF_PLUGIN_CACHE_DIR: Terraform installs into the working directory only, the shared copy is untouched.
    env: {},
    note: `${LOCK_FILE} has no ${platform} checksum matching the cached ${names}: installing a private copy (add it with \`terraform providers lock -platform=${platform}\` to use the shared cache)`,
  };
}

/**
 * Removes the links an earlier init left from `.terraform/providers` into the cache: without the cache,
 * Terraform would install THROUGH such a link and rewrite the shared copy (checked with Terraform 1.11).
 */
function detachFromCache(workDir: string): void {
  const providers = join(workDir, '.terraform', 'providers');
  if (!existsSync(providers)) return;
  for (const entry of readdirSync(providers, { withFileTypes: true, recursive: true })) {
    if (entry.isSymbolicLink()) rmSync(join(entry.parentPath, entry.name), { force: true });
  }
}

/**
 * Someone holds the install lock: a package in the cache may be half written, so a plan made now may be
 * wrong (a half-written package does not match its checksum). Plan again under the lock instead.
 */
export function installInProgress(cacheDir: string): boolean {
  return existsSync(join(cacheDir, KARMA_DIR, 'install.lock'));
}

export interface InstallLockOptions {
  /** Give up after this long (default 30 minutes: a slow first download of a big provider). */
  readonly timeoutMillis?: number;
  readonly pollMillis?: number;
  /** Called once when the lock is busy (whose it is), so a waiting component says why it waits. */
  readonly onWait?: (holder: string) => void;
}

function holderAlive(owner: string): boolean {
  try {
    const { pid, host } = JSON.parse(owner) as { pid?: number; host?: string };
    if (host !== hostname() || typeof pid !== 'number') return true;
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding the cache's install lock: a directory created with mkdir (atomic), so it works across the
 * processes of a local pipeline wave. A lock left by a dead process on this host is taken over; one whose
 * owner cannot be read is taken over after `timeoutMillis`.
 */
export async function withInstallLock<T>(cacheDir: string, fn: () => Promise<T>, options: InstallLockOptions = {}): Promise<T> {
  const timeout = options.timeoutMillis ?? 30 * 60 * 1000;
  const poll = options.pollMillis ?? 200;
  mkdirSync(join(cacheDir, KARMA_DIR), { recursive: true });
  const lock = join(cacheDir, KARMA_DIR, 'install.lock');
  const owner = join(lock, 'owner.json');
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(owner, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let text = '';
    try {
      text = readFileSync(owner, 'utf8');
    } catch {
      // created but owner not written yet (or just released): try again
    }
    if (text && !holderAlive(text)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > timeout) {
      if (!text) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      throw new PluginCacheLockTimeoutError(`the provider cache ${cacheDir} is locked by ${text} for more than ${Math.round(timeout / 1000)} s; if no karma runs, remove ${lock}`);
    }
    if (!told && options.onWait) {
      told = true;
      options.onWait(text || 'another karma process');
    }
    await new Promise((r) => setTimeout(r, poll));
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
