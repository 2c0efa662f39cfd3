/**
 * Environment locks on the local backend (SQLite): the holder recorded, a dead local holder taken over at once
 * (real child processes, killed with SIGKILL), KARMA_LOCK_TTL, `karma lock list|release`, and waiting for a
 * busy lock: one line, not one per poll, then LockTimeoutError after --lock-timeout.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { DEFAULT_LOCK_TTL_SECONDS, holderState } from '../../../lib/app/locks.ts';
import { localContext, lockTtlFromEnv } from '../../../lib/app/pipeline/context.ts';
import { runLocalPipeline } from '../../../lib/app/pipeline/local-run.ts';
import { acquireLockStep } from '../../../lib/app/pipeline/steps.ts';
import { localProcesses, processAlive } from '../../../lib/adapters/local/process.ts';
import { LocalLockStore } from '../../../lib/adapters/local/lock-store.ts';
import { UsageError } from '../../../lib/core/errors.ts';
import { PIPELINE_ERRORS } from '../../../lib/core/pipeline-contract.ts';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO, spinner } from '../../../lib/cli/io.ts';
import type { LockHolder } from '../../../lib/ports.ts';
import { makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';
import { deadPid, kill, liveProcess } from '../../helpers/processes.ts';

let tmp: string;
let repo: string;
const db = (): string => join(repo, '.karma', 'karma.db');
const HOST = hostname();
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(() => {
  tmp = makeTempDir('karma-locks-');
  repo = makeRepo(tmp);
});
afterAll(() => removeDir(tmp));

/** Puts a lock on karma-dev directly in the store, as another process would. */
async function hold(holder: LockHolder, ttlSeconds = 3600): Promise<void> {
  const b = openLocalBackend(db(), { create: true });
  try {
    expect((await b.locks.acquire(['env-karma-dev'], holder, ttlSeconds)).acquired).toBe(true);
  } finally {
    await b.close();
  }
}

async function locks() {
  const b = openLocalBackend(db(), { create: true });
  try {
    return await b.locks.list();
  } finally {
    await b.close();
  }
}

async function clear(): Promise<void> {
  const b = openLocalBackend(db(), { create: true });
  try {
    for (const l of await b.locks.list()) await b.locks.forceRelease(l.name);
  } finally {
    await b.close();
  }
}
afterEach(clear);

async function karma(...argv: string[]) {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const state = (executionId: string) => ({
  run: { executionId, trigger: 'manual', mode: 'apply', env: 'karma-dev' },
  build: { envs: ['karma-dev'], snapshot: 'x', vertices: 0, edges: 0 },
});

describe('processAlive (kill -0)', () => {
  it('a running child is alive; after kill -9 and reaping, its pid is not', async () => {
    const child = liveProcess();
    expect(processAlive(child.pid)).toBe(true);
    await kill(child);
    expect(processAlive(child.pid)).toBe(false);
    expect(processAlive(0)).toBe(false);
    expect(processAlive(process.pid)).toBe(true);
  });
});

describe('LocalLockStore', () => {
  it('records the holder: execution, host, pid, acquiredAt, expiresAt (the TTL)', async () => {
    // Act
    await hold({ owner: 'arn:x:execution:karma:run-1', host: 'h1', pid: 4242 }, 120);
    // Assess
    const [lock] = await locks();
    expect(lock).toMatchObject({ name: 'env-karma-dev', owner: 'arn:x:execution:karma:run-1', host: 'h1', pid: 4242 });
    expect(Date.parse(lock!.expiresAt) - Date.parse(lock!.acquiredAt)).toBe(120_000);
  });

  it('all or none: a busy lock leaves the free one untaken and names its holder', async () => {
    await hold({ owner: 'other', host: 'h1', pid: 1 });
    const b = openLocalBackend(db(), { create: true });
    try {
      const got = await b.locks.acquire(['env-karma-prod', 'env-karma-dev'], { owner: 'me' }, 60);
      expect(got).toMatchObject({ acquired: false, heldBy: { name: 'env-karma-dev', owner: 'other' }, tookOver: [] });
      expect((await b.locks.list()).map((l) => l.name)).toEqual(['env-karma-dev']);
      // forceRelease with an owner that does not hold it deletes nothing
      expect(await b.locks.forceRelease('env-karma-dev', 'me')).toBeUndefined();
      expect(await b.locks.forceRelease('env-karma-dev', 'other')).toMatchObject({ owner: 'other' });
    } finally {
      await b.close();
    }
  });

  it('a store made before the holder columns gains them; its old rows read with the holder unknown', async () => {
    // Prepare: the old table, one old row
    const dir = makeTempDir('karma-old-locks-');
    try {
      const old = new DatabaseSync(join(dir, 'karma.db'));
      old.exec('CREATE TABLE locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID');
      old.prepare('INSERT INTO locks VALUES (?, ?, ?)').run('env-karma-dev', 'old-run', Date.parse('2030-01-01T00:00:00Z'));
      // Act
      const store = new LocalLockStore(old);
      // Assess
      expect(await store.list()).toEqual([{ name: 'env-karma-dev', owner: 'old-run', acquiredAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T00:00:00.000Z' }]);
      expect(holderState((await store.list())[0]!, new Date(), localProcesses)).toBe('unknown');
      old.close();
    } finally {
      removeDir(dir);
    }
  });
});

describe('AcquireLock on the local backend', () => {
  it('takes over at once a lock whose holder (this host) was killed with kill -9, and says so', async () => {
    // Prepare: a real process, killed: its lock stays behind with 6 h to live
    const pid = await deadPid();
    await hold({ owner: 'arn:aws:states:local:1:execution:karma-pipeline:killed-run', host: HOST, pid }, DEFAULT_LOCK_TTL_SECONDS);
    const logged: string[] = [];
    const ctx = localContext({ configDir: repo, log: (m) => logged.push(m) });
    // Act
    const lock = await acquireLockStep(state('arn:new'), ctx);
    // Assess
    expect(lock).toMatchObject({ acquired: true, timedOut: false, tookOver: [{ owner: 'arn:aws:states:local:1:execution:karma-pipeline:killed-run', pid }] });
    expect(logged).toContain(`took over the lock on karma-dev: its holder killed-run (pid ${pid} on host ${HOST}) is no longer running`);
    expect((await locks())[0]).toMatchObject({ owner: 'arn:new', host: HOST, pid: process.pid });
  });

  it('waits for a live holder, and for one on another host (it cannot be seen), whatever their pid', async () => {
    const child = liveProcess();
    try {
      for (const holder of [{ owner: 'live-run', host: HOST, pid: child.pid }, { owner: 'remote-run', host: 'elsewhere', pid: await deadPid() }]) {
        await clear();
        await hold(holder);
        const lock = await acquireLockStep(state('arn:new'), localContext({ configDir: repo }));
        expect(lock).toMatchObject({ acquired: false, timedOut: false, heldBy: holder.owner, holder: { pid: holder.pid, host: holder.host } });
      }
    } finally {
      await kill(child);
    }
  });

  it('KARMA_LOCK_TTL sets how long the lock lives (seconds or a duration); a bad value is one usage error', async () => {
    await acquireLockStep(state('arn:ttl'), localContext({ configDir: repo, env: { KARMA_LOCK_TTL: '90s' } }));
    const [lock] = await locks();
    expect(Date.parse(lock!.expiresAt) - Date.parse(lock!.acquiredAt)).toBe(90_000);
    expect(lockTtlFromEnv({ KARMA_LOCK_TTL: '600' })).toBe(600);
    expect(lockTtlFromEnv({})).toBe(6 * 3600);
    expect(() => lockTtlFromEnv({ KARMA_LOCK_TTL: 'soon' })).toThrow(UsageError);
    expect(() => lockTtlFromEnv({ KARMA_LOCK_TTL: 'soon' })).toThrow('KARMA_LOCK_TTL must be a number of seconds or a duration like 90s, 30m or 6h, got "soon"');
  });
});

describe('waiting for a busy lock (karma pipeline run, local)', () => {
  it('prints one waiting line however many polls, then fails with LockTimeoutError after the lock timeout', async () => {
    // Prepare: a live holder that will not let go
    const child = liveProcess();
    await hold({ owner: 'arn:aws:states:local:1:execution:karma-pipeline:busy-run', host: HOST, pid: child.pid });
    const progress: string[] = [];
    const waiting: (string | undefined)[] = [];
    try {
      // Act: polls every 10 ms for 2 s
      const result = await runLocalPipeline({
        configDir: repo,
        input: { trigger: 'manual', env: 'karma-dev', lockTimeout: 2 },
        waitMillis: 10,
        progress: (l) => progress.push(l),
        waiting: (t) => waiting.push(t),
      });
      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe(PIPELINE_ERRORS.lockTimeout);
      expect(result.cause).toMatch(new RegExp(`^waited 2s for karma-dev: held by busy-run \\(pid ${child.pid} on host ${HOST}\\) since \\S+Z, until \\S+Z at the latest\\. .*karma lock release karma-dev --force`));
      const line = `waiting for karma-dev: held by busy-run (pid ${child.pid} on host ${HOST}) since`;
      expect(progress.filter((l) => l.startsWith(line))).toHaveLength(1);
      expect(progress.filter((l) => l === '→ AcquireLock')).toHaveLength(1);
      expect(progress.filter((l) => l.includes('WaitForLock'))).toEqual([]);
      expect(waiting).toEqual([expect.stringMatching(/^waiting for karma-dev: held by busy-run/), undefined]);
    } finally {
      await kill(child);
    }
  });

  it('on a terminal the wait is a spinner redrawn in place, cleared when it ends; without a terminal, nothing', async () => {
    const drawn: (string | undefined)[] = [];
    const spin = spinner({ ...memoryIO(), status: (t) => drawn.push(t) }, 10);
    spin.start('waiting for karma-dev: held by x');
    await new Promise((r) => setTimeout(r, 80));
    spin.stop();
    expect(drawn.length).toBeGreaterThan(3);
    expect(drawn.slice(0, -1).every((t) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for karma-dev: held by x \(\d+s\)$/.test(t ?? ''))).toBe(true);
    expect(drawn.at(-1)).toBeUndefined();
    const quiet = memoryIO();
    const none = spinner(quiet, 10);
    none.start('waiting');
    none.stop();
    expect([quiet.stdout, quiet.stderr]).toEqual([[], []]);
  });

  it('`karma pipeline run --lock-timeout` with a bad duration is a usage error (exit 2), nothing run', async () => {
    const r = await karma('pipeline', 'run', '-c', repo, '--env', 'karma-dev', '--lock-timeout', 'forever');
    expect(r).toEqual({ code: 2, stdout: [], stderr: ['karma: --lock-timeout must be a duration up to 24h, like 90s, 10m or 1h, got "forever"'] });
  });
});

describe('karma lock list | release (local backend)', () => {
  it('lists each lock with its holder and whether it still runs, as a table and as JSON', async () => {
    const child = liveProcess();
    try {
      await hold({ owner: 'arn:aws:states:local:1:execution:karma-pipeline:run-a', host: HOST, pid: child.pid });
      const table = await karma('lock', 'list', '-c', repo);
      expect(table.code).toBe(0);
      expect(table.stdout.join('\n')).toMatch(new RegExp(`^ENV +EXECUTION +PID +HOST +SINCE +EXPIRES +STATE\\nkarma-dev +run-a +${child.pid} +${HOST} +\\S+Z +\\S+Z +running$`, 'm'));
      const json = await karma('lock', 'list', '-c', repo, '--json');
      expect(json.stdout).toHaveLength(1);
      expect(JSON.parse(json.stdout[0]!)).toEqual({
        locks: [{ env: 'karma-dev', name: 'env-karma-dev', owner: 'arn:aws:states:local:1:execution:karma-pipeline:run-a', host: HOST, pid: child.pid, acquiredAt: expect.stringMatching(ISO_TIME), expiresAt: expect.stringMatching(ISO_TIME), state: 'alive' }],
      });
    } finally {
      await kill(child);
    }
  });

  it('refuses to release a live holder without --force (exit 2, what to do); --force releases it and says whose it was', async () => {
    const child = liveProcess();
    try {
      await hold({ owner: 'arn:x:execution:karma-pipeline:run-b', host: HOST, pid: child.pid });
      const refused = await karma('lock', 'release', 'karma-dev', '-c', repo);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toEqual([expect.stringMatching(new RegExp(`^karma: karma-dev is locked by run-b \\(pid ${child.pid} on host ${HOST}\\) since \\S+Z, until \\S+Z; its process is still running\\. Wait for it to finish, or pass --force if you are sure it is gone$`))]);
      expect(await locks()).toHaveLength(1);
      const forced = await karma('lock', 'release', 'karma-dev', '--force', '-c', repo);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toEqual([expect.stringMatching(new RegExp(`^released the lock on karma-dev: held by run-b \\(pid ${child.pid} on host ${HOST}\\) since \\S+Z \\(forced; it was running\\)$`))]);
      expect(await locks()).toEqual([]);
    } finally {
      await kill(child);
    }
  });

  it('releases a dead holder without --force; an unlocked env is fine; an undeclared one is a usage error', async () => {
    const pid = await deadPid();
    await hold({ owner: 'run-c', host: HOST, pid });
    const released = await karma('lock', 'release', 'karma-dev', '-c', repo, '--json');
    expect(released.code).toBe(0);
    expect(JSON.parse(released.stdout[0]!)).toMatchObject({ env: 'karma-dev', released: { owner: 'run-c', pid }, state: 'dead', forced: false });
    expect(await karma('lock', 'release', 'karma-dev', '-c', repo)).toEqual({ code: 0, stdout: ['karma-dev is not locked'], stderr: [] });
    const typo = await karma('lock', 'release', 'karma-dve', '-c', repo);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toEqual(['karma: no lock on "karma-dve", and karma.yaml declares no such environment; declared: karma-dev, karma-prod']);
  });
});
