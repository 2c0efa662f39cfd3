/**
 * Environment locks on the AWS backend: SsmLockStore against a real moto server, a dead local holder (a real
 * child process killed with kill -9) taken over, KARMA_LOCK_TTL read by the Lambda context, and `karma lock
 * list|release --backend aws`.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmLockStore } from '../../lib/adapters/ssm/lock-store.ts';
import { localProcesses } from '../../lib/adapters/local/process.ts';
import { holderState } from '../../lib/app/locks.ts';
import { contextFromEnv } from '../../lib/app/pipeline/context.ts';
import { acquireLockStep } from '../../lib/app/pipeline/steps.ts';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { deadPid, kill, liveProcess } from '../helpers/processes.ts';
import { motoClientConfig, setEnv, standInEnv } from '../support/stand-ins.ts';

const HOST = hostname();
let client: SSMClient;
let restoreEnv: () => void;

beforeAll(() => {
  client = new SSMClient(motoClientConfig());
  restoreEnv = setEnv(standInEnv());
});
afterAll(() => {
  client.destroy();
  restoreEnv();
});

/** Each test its own lock prefix: moto's state lives as long as the server. */
const freshPrefix = (): string => `/karma-locktest-${randomUUID().slice(0, 8)}-locks`;

describe('SsmLockStore on moto', () => {
  it('records the holder in the parameter, lists it, and refuses a second holder (all or none)', async () => {
    // Prepare
    const prefix = freshPrefix();
    const store = new SsmLockStore(client, prefix);
    // Act
    const first = await store.acquire(['env-dev'], { owner: 'arn:run-1', host: 'h1', pid: 4242 }, 300);
    const second = await store.acquire(['env-prod', 'env-dev'], { owner: 'arn:run-2' }, 300);
    // Assess
    expect(first).toEqual({ acquired: true, tookOver: [] });
    expect(second).toMatchObject({ acquired: false, heldBy: { name: 'env-dev', owner: 'arn:run-1', host: 'h1', pid: 4242 }, tookOver: [] });
    const listed = await store.list();
    expect(listed.map((l) => l.name)).toEqual(['env-dev']); // env-prod was given back
    expect(Date.parse(listed[0]!.expiresAt) - Date.parse(listed[0]!.acquiredAt)).toBe(300_000);
    const raw = JSON.parse((await client.send(new GetParameterCommand({ Name: `${prefix}/env-dev` }))).Parameter!.Value!) as Record<string, unknown>;
    expect(raw).toMatchObject({ owner: 'arn:run-1', host: 'h1', pid: 4242, acquiredAt: Date.parse(listed[0]!.acquiredAt), expiresAt: Date.parse(listed[0]!.expiresAt) });
  });

  it('takes over a lock whose local holder was killed with kill -9; not one whose holder runs', async () => {
    const prefix = freshPrefix();
    const store = new SsmLockStore(client, prefix);
    const child = liveProcess();
    try {
      const dead = await deadPid();
      await store.acquire(['env-dev'], { owner: 'arn:dead-run', host: HOST, pid: dead }, 21_600);
      await store.acquire(['env-prod'], { owner: 'arn:live-run', host: HOST, pid: child.pid }, 21_600);
      const canTakeOver = (l: Parameters<typeof holderState>[0]) => holderState(l, new Date(), localProcesses) === 'dead';
      // Act
      const dev = await store.acquire(['env-dev'], { owner: 'arn:new', host: HOST, pid: process.pid }, 60, { canTakeOver });
      const prod = await store.acquire(['env-prod'], { owner: 'arn:new', host: HOST, pid: process.pid }, 60, { canTakeOver });
      // Assess
      expect(dev).toMatchObject({ acquired: true, tookOver: [{ owner: 'arn:dead-run', pid: dead }] });
      expect(prod).toMatchObject({ acquired: false, heldBy: { owner: 'arn:live-run', pid: child.pid } });
      expect((await store.list()).map((l) => [l.name, l.owner])).toEqual([['env-dev', 'arn:new'], ['env-prod', 'arn:live-run']]);
    } finally {
      await kill(child);
    }
  });

  it('an old lock value ({owner, expiresAt}) still reads; an unreadable one is a StoreError that --force can delete', async () => {
    const prefix = freshPrefix();
    const store = new SsmLockStore(client, prefix);
    await client.send(new PutParameterCommand({ Name: `${prefix}/env-dev`, Type: 'String', Value: JSON.stringify({ owner: 'arn:old', expiresAt: Date.parse('2031-01-01T00:00:00Z') }) }));
    expect((await store.list())[0]).toMatchObject({ name: 'env-dev', owner: 'arn:old', expiresAt: '2031-01-01T00:00:00.000Z' });
    await client.send(new PutParameterCommand({ Name: `${prefix}/env-qa`, Type: 'String', Value: 'garbage' }));
    await expect(store.list()).rejects.toThrow(`lock ${prefix}/env-qa holds "garbage", not {owner, expiresAt}; delete it with \`karma lock release ENV --force\``);
    expect(await store.forceRelease('env-qa')).toMatchObject({ name: 'env-qa', owner: '(unreadable)' });
    expect(await store.forceRelease('env-dev', 'arn:someone-else')).toBeUndefined();
    expect((await store.list()).map((l) => l.name)).toEqual(['env-dev']);
  });
});

describe('the AWS backend end to end: Lambda context TTL, karma lock list|release --backend aws', () => {
  let tmp: string;
  let repo: string;
  let prefix: string;
  let restoreHistoryDir: () => void;
  beforeAll(() => {
    tmp = makeTempDir('karma-ssm-locks-');
    repo = makeRepo(tmp);
    prefix = `/karma-lockcli-${randomUUID().slice(0, 8)}`;
    const yaml = join(repo, 'karma.yaml');
    writeFileSync(yaml, `${readFileSync(yaml, 'utf8')}parameterPrefix: ${prefix}\n`);
    restoreHistoryDir = setEnv({ KARMA_HISTORY_DIR: join(tmp, 'history') });
  });
  afterAll(() => {
    restoreHistoryDir();
    removeDir(tmp);
  });

  async function karma(...argv: string[]) {
    const io = memoryIO();
    const code = await main([...argv, '-c', repo, '--backend', 'aws'], io);
    return { code, stdout: io.stdout, stderr: io.stderr };
  }

  it('AcquireLock in Lambda takes KARMA_LOCK_TTL; the lock has no pid (a deployed execution), so no one takes it over', async () => {
    // Act
    const ctx = contextFromEnv({ ...process.env, KARMA_CONFIG: repo, KARMA_BACKEND: 'aws', KARMA_LOCK_TTL: '45m' }, () => undefined);
    const lock = await acquireLockStep({ run: { executionId: 'arn:aws:states:us-east-1:1:execution:karma:deployed-1', trigger: 'manual', mode: 'apply' }, build: { envs: ['karma-dev'], snapshot: 'x', vertices: 0, edges: 0 } }, ctx);
    // Assess
    expect(lock).toMatchObject({ acquired: true, timedOut: false });
    const listed = await karma('lock', 'list', '--json');
    expect(listed.code).toBe(0);
    const [row] = (JSON.parse(listed.stdout[0]!) as { locks: Record<string, unknown>[] }).locks;
    expect(row).toMatchObject({ env: 'karma-dev', owner: 'arn:aws:states:us-east-1:1:execution:karma:deployed-1', host: null, pid: null, state: 'unknown' });
    expect(Date.parse(row!['expiresAt'] as string) - Date.parse(row!['acquiredAt'] as string)).toBe(45 * 60_000);
  });

  it('release refuses a holder it cannot see without --force (exit 2), releases it with --force', async () => {
    const refused = await karma('lock', 'release', 'karma-dev');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toEqual([expect.stringMatching(/^karma: karma-dev is locked by deployed-1 since \S+Z, until \S+Z; Karma cannot tell whether it still runs \(a deployed execution, or another host\)\. Wait for it to finish, or pass --force if you are sure it is gone$/)]);
    const forced = await karma('lock', 'release', 'karma-dev', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toEqual([expect.stringMatching(/^released the lock on karma-dev: held by deployed-1 since \S+Z \(forced; it was held \(cannot see the holder\)\)$/)]);
    expect(await karma('lock', 'list')).toEqual({ code: 0, stdout: ['no environment is locked'], stderr: [] });
  });
});
