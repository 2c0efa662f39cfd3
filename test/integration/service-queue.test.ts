/**
 * The service's change queue with the real LocalApplyRunner and real Terraform on a Git clone of
 * examples/acme-platform: an apply from queue to succeeded, and the three things a restart after kill -9 can find
 * (docs/rollouts.md "Stopping and crashing"): the change had finished (never applied again), it was merged but
 * its dependents' pipeline was cut short (the pipeline runs again, the saved plan is not applied twice), it was
 * cut short before the merge with the environment lock still held by the dead process (taken over; re-planned and
 * applied). The state a kill leaves is made with the real use cases, stopped where the kill would stop them.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../lib/app/events.ts';
import { loadConfig } from '../../lib/app/build.ts';
import { openBackend } from '../../lib/app/backend.ts';
import { applyChange, checkApply, getChange, requestChange, type ChangeContext } from '../../lib/app/changes.ts';
import { openGitRepository } from '../../lib/app/open.ts';
import type { QueuedApply } from '../../lib/ports.ts';
import { LocalApplyRunner } from '../../lib/service/local-runner.ts';
import { QueueWorker } from '../../lib/service/queue.ts';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { seededExampleRepo } from '../support/example-repo.ts';
import { InMemoryChangeQueue } from '../support/memory-service-stores.ts';

const ENV = 'karma-dev';
const log = { info: () => undefined, error: () => undefined };

let tmp: string;
let dir: string;
let terraform: string;

/** The change context karma serve gives the runner (as LocalWorkspace's changes() builds it). */
async function context(actor: string): Promise<ChangeContext> {
  const repo = await openGitRepository(dir);
  return {
    repo,
    withBackend: async (config, work) => {
      const backend = await openBackend(config, { baseDir: dir, create: true });
      try {
        return await work(backend);
      } finally {
        await backend.close();
      }
    },
    audit: (backend) => backend.audit,
    places: { baseDir: dir },
    terraform,
    actor,
  };
}

/** A worker over `queue` with the real runner; resolves each finished entry. */
function worker(queue: InMemoryChangeQueue, owner: string): { worker: QueueWorker; finished: Promise<QueuedApply>[]; next: () => Promise<QueuedApply> } {
  const waiting: ((item: QueuedApply) => void)[] = [];
  const done: QueuedApply[] = [];
  const w = new QueueWorker({
    queue,
    runner: new LocalApplyRunner({ context }),
    bus: new EventBus(),
    envs: () => [ENV],
    owner,
    log,
    pollMs: 100,
    onFinished: (item) => {
      const waiter = waiting.shift();
      if (waiter) waiter(item);
      else done.push(item);
    },
  });
  return { worker: w, finished: [], next: () => (done.length > 0 ? Promise.resolve(done.shift()!) : new Promise((resolve) => waiting.push(resolve))) };
}

async function propose(visibility: number): Promise<string> {
  const ctx = await context('alice');
  const proposed = await requestChange(ctx, { component: 'queue', env: ENV, inputs: { visibility_timeout: visibility, max_receive_count: 5 }, message: `queue: ${visibility} s` });
  expect(proposed.plan).toMatchObject({ status: 'planned' });
  return proposed.id!;
}

const actions = async (id: string): Promise<string[]> => (await getChange(await context('reader'), id)).history.map((e) => e.action);
const request = (id: string) => ({ id, env: ENV, component: 'queue', actor: 'alice', allowDestroy: false, includePending: false });

/** The entry as a killed service leaves it: claimed (running) by an owner that is gone. */
async function claimedByTheDead(queue: InMemoryChangeQueue, id: string): Promise<void> {
  await queue.enqueue(request(id), new Date().toISOString());
  const claimed = await queue.claimNext(ENV, 'host:1:dead', new Date().toISOString());
  expect(claimed?.id).toBe(id);
}

/** A pid that no process has any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('the change queue with real Terraform: apply and crash recovery', () => {
  beforeAll(async () => {
    terraform = ensureTerraform();
    tmp = makeTempDir('karma-service-queue-');
    dir = await seededExampleRepo(tmp);
  }, 120_000);
  afterAll(() => removeDir(tmp));

  it('applies a queued change: queued, started, applied; the queue entry succeeded', async () => {
    // Prepare
    const id = await propose(70);
    const queue = new InMemoryChangeQueue();
    const w = worker(queue, 'host:2:live');
    await w.worker.start();
    // Act
    await w.worker.enqueue(request(id));
    const done = await w.next();
    await w.worker.stop({ handBack: true, timeoutMs: 1000 });
    // Assess
    expect(done, done.result).toMatchObject({ id, outcome: 'succeeded', attempts: 1 });
    expect(done.result).toMatch(/^applied and merged; pipeline succeeded/);
    expect(await actions(id)).toEqual(['change.requested', 'change.apply-queued', 'change.apply-started', 'change.applied']);
  }, 180_000);

  it('a change that had finished before the crash is finished in the queue, never applied again', async () => {
    // Prepare: the killed service had applied it (audit: applied) but not recorded the end in the queue
    const id = await propose(75);
    const queue = new InMemoryChangeQueue();
    await claimedByTheDead(queue, id);
    const ctx = await context('alice');
    await applyChange(ctx, id, { checked: await checkApply(ctx, id) });
    const before = await actions(id);
    expect(before.at(-1)).toBe('change.applied');
    // Act: the restart
    const w = worker(queue, 'host:2:live');
    await w.worker.start();
    const done = await w.next();
    await w.worker.stop({ handBack: true, timeoutMs: 1000 });
    // Assess
    expect(done).toMatchObject({ id, outcome: 'succeeded', attempts: 2 });
    expect(done.result).toMatch(/^finished before the restart: succeeded: applied and merged/);
    expect(await actions(id)).toEqual(before);
  }, 180_000);

  it('merged but the pipeline for the dependents cut short: the pipeline runs again, the saved plan is not applied twice', async () => {
    // Prepare: the apply got as far as the merge (onApplied), then the process died
    const id = await propose(80);
    const queue = new InMemoryChangeQueue();
    await claimedByTheDead(queue, id);
    const ctx = await context('alice');
    const killed = new Error('killed after the merge');
    await expect(
      applyChange(ctx, id, {
        checked: await checkApply(ctx, id),
        onApplied: () => {
          throw killed;
        },
      }),
    ).rejects.toBe(killed);
    expect(await actions(id)).toEqual(['change.requested', 'change.apply-started']);
    // Act
    const w = worker(queue, 'host:2:live');
    await w.worker.start();
    const done = await w.next();
    await w.worker.stop({ handBack: true, timeoutMs: 1000 });
    // Assess
    expect(done, done.result).toMatchObject({ id, outcome: 'succeeded', attempts: 2 });
    const change = await getChange(await context('reader'), id);
    expect(change.status).toBe('succeeded');
    expect(change.open).toBe(false);
    expect(change.history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-started', 'change.apply-started', 'change.applied']);
    expect(change.history[2]!.result).toMatch(/^resumed after a stop: applied and merged before it/);
    // The dependents of the queue were applied by that pipeline: worker and api-service consume its outputs.
    expect(change.history[3]!.result).toMatch(/^applied and merged; pipeline succeeded/);
  }, 180_000);

  it('cut short before the merge, the lock still held by the dead process: taken over, re-planned and applied', async () => {
    // Prepare: apply started (audit), the environment lock held by a process of this host that is gone
    const id = await propose(85);
    const queue = new InMemoryChangeQueue();
    await claimedByTheDead(queue, id);
    const ctx = await context('alice');
    const check = await checkApply(ctx, id);
    const config = await loadConfig(ctx.repo.sourceAt(check.proposal.commit));
    const pid = deadPid();
    await ctx.withBackend(config, async (backend) => {
      await backend.audit.append({ at: new Date().toISOString(), actor: 'alice', action: 'change.apply-started', change: id, component: 'queue', env: ENV, commit: check.proposal.commit });
      const got = await backend.locks.acquire([`env-${ENV}`], { owner: `karma-apply:${pid}:1`, host: hostname(), pid }, 3600);
      expect(got.acquired).toBe(true);
    });
    // Act
    const w = worker(queue, 'host:2:live');
    await w.worker.start();
    const done = await w.next();
    await w.worker.stop({ handBack: true, timeoutMs: 1000 });
    // Assess
    expect(done, done.result).toMatchObject({ id, outcome: 'succeeded', attempts: 2 });
    const change = await getChange(await context('reader'), id);
    expect(change.status).toBe('succeeded');
    expect(change.history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-started', 'change.apply-started', 'change.applied']);
    const locks = await ctx.withBackend(config, (backend) => backend.locks.list());
    expect(locks.filter((l) => l.name === `env-${ENV}` && Date.parse(l.expiresAt) > Date.now())).toEqual([]);
  }, 180_000);
});
