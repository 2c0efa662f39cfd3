/**
 * The contract of the service's durable stores (ChangeQueue, RolloutStore, DeliveryLog in lib/ports.ts;
 * docs/service-stores.md), as cases every implementation runs: the SQLite tables in
 * test/unit/adapters/local-service-stores.test.ts, the DynamoDB table on moto in
 * test/integration/dynamodb-service-stores.test.ts. Exact values, so the two cannot drift apart.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, UsageError } from '../../lib/core/errors.ts';
import type { ChangeQueue, DeliveryLog, EnqueueRequest, FailedDelivery, Rollout, RolloutStore } from '../../lib/ports.ts';

/** One store under test; `second()` opens the same store again, as a second service instance would. */
export interface ServiceStoresUnderTest {
  readonly queue: ChangeQueue;
  readonly rollouts: RolloutStore;
  readonly deliveries: DeliveryLog;
  second(): Promise<{ readonly queue: ChangeQueue; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Second `s` of 2026-12-02T10:00. */
export const at = (s: number): string => `2026-12-02T10:00:${String(s).padStart(2, '0')}.000Z`;

export function request(id: string, env = 'karma-dev', extra: Partial<EnqueueRequest> = {}): EnqueueRequest {
  return { id, env, component: 'app', actor: 'alice@laptop', allowDestroy: false, includePending: true, ...extra };
}

export function rollout(id: string, s: number, extra: Partial<Rollout> = {}): Rollout {
  return {
    id,
    component: 'app',
    input: { size: 'large', tags: { team: 'core' } },
    approval: 'manual',
    actor: 'alice@laptop',
    createdAt: at(s),
    updatedAt: at(s),
    status: 'running',
    steps: [
      { env: 'karma-dev', change: null, status: 'pending' },
      { env: 'karma-prod', change: null, status: 'pending' },
    ],
    version: 1,
    ...extra,
  };
}

export function delivery(s: number, extra: Partial<Omit<FailedDelivery, 'id'>> = {}): Omit<FailedDelivery, 'id'> {
  return {
    webhook: 'chat',
    event: 'change.finished',
    target: 'https://hooks.example.com/services/T1',
    attempts: 5,
    lastStatus: 503,
    lastError: 'HTTP 503 Service Unavailable',
    firstAttemptAt: at(s - 1),
    failedAt: at(s),
    payload: `{"type":"change.finished","n":${s}}`,
    ...extra,
  };
}

export function serviceStoresContract(name: string, open: () => Promise<ServiceStoresUnderTest>): void {
  describe(`${name}: the service stores contract`, () => {
    const withStore = async (fn: (store: ServiceStoresUnderTest) => Promise<void>): Promise<void> => {
      const store = await open();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    };

    it('queues FIFO per environment: the oldest queued of the env is claimed, one at a time, across envs independently', () =>
      withStore(async ({ queue }) => {
        // Prepare
        const a = await queue.enqueue(request('p-a'), at(1));
        const b = await queue.enqueue(request('p-b', 'karma-prod', { rollout: 'r-1', allowDestroy: true }), at(2));
        const c = await queue.enqueue(request('p-c'), at(3));

        // Act
        const first = await queue.claimNext('karma-dev', 'host:1:t0', at(4));
        const whileRunning = await queue.claimNext('karma-dev', 'host:1:t0', at(5));
        const prod = await queue.claimNext('karma-prod', 'host:1:t0', at(5));
        const done = await queue.finish('p-a', 'succeeded', 'applied: 2 components', at(6));
        const second = await queue.claimNext('karma-dev', 'host:1:t0', at(7));
        const empty = await queue.claimNext('karma-dev', 'host:1:t0', at(8));

        // Assess
        expect(a).toEqual({ ...request('p-a'), state: 'queued', seq: a.seq, enqueuedAt: at(1), attempts: 0 });
        expect(Object.keys(b)).toEqual(['id', 'env', 'component', 'actor', 'allowDestroy', 'includePending', 'rollout', 'state', 'seq', 'enqueuedAt', 'attempts']);
        expect(a.seq < b.seq && b.seq < c.seq).toBe(true);
        expect(first).toEqual({ ...a, state: 'running', startedAt: at(4), attempts: 1, owner: 'host:1:t0' });
        expect(whileRunning).toBeNull();
        expect(prod).toEqual({ ...b, state: 'running', startedAt: at(5), attempts: 1, owner: 'host:1:t0' });
        expect(done).toEqual({ ...first, state: 'done', finishedAt: at(6), outcome: 'succeeded', result: 'applied: 2 components' });
        expect(await queue.get('p-a')).toEqual(done);
        expect(second?.id).toBe('p-c');
        expect(empty).toBeNull(); // p-c runs
        expect(await queue.claimNext('karma-qa', 'host:1:t0', at(8))).toBeNull(); // nothing there at all
      }));

    it('runs one apply per environment: of concurrent claims, from two instances, exactly one wins', () =>
      withStore(async (store) => {
        // Prepare
        const other = await store.second();
        try {
          await store.queue.enqueue(request('p-1'), at(1));
          await store.queue.enqueue(request('p-2'), at(2));

          // Act
          const claims = await Promise.all([
            store.queue.claimNext('karma-dev', 'one', at(3)),
            other.queue.claimNext('karma-dev', 'two', at(3)),
            store.queue.claimNext('karma-dev', 'one', at(3)),
            other.queue.claimNext('karma-dev', 'two', at(3)),
          ]);

          // Assess
          const won = claims.filter((c) => c !== null);
          expect(won).toHaveLength(1);
          expect(won[0]).toMatchObject({ id: 'p-1', state: 'running', attempts: 1 });
          expect((await store.queue.list({ env: 'karma-dev', states: ['running'] })).map((e) => [e.id, e.owner])).toEqual([['p-1', won[0]!.owner]]);
          expect(await other.queue.get('p-2')).toMatchObject({ state: 'queued', attempts: 0 });
        } finally {
          await other.close();
        }
      }));

    it('release hands a running entry back first in line, its seq and attempts kept, no owner; a second release is a no-op', () =>
      withStore(async ({ queue }) => {
        // Prepare
        const a = await queue.enqueue(request('p-a'), at(1));
        await queue.enqueue(request('p-b'), at(2));
        await queue.claimNext('karma-dev', 'host:1:t0', at(3));

        // Act
        await queue.release('p-a');
        await queue.release('p-a');
        const again = await queue.claimNext('karma-dev', 'host:2:t9', at(9));

        // Assess
        expect(again).toEqual({ ...a, state: 'running', startedAt: at(9), attempts: 2, owner: 'host:2:t9' });
        expect((await queue.list({ env: 'karma-dev' })).map((e) => [e.id, e.state])).toEqual([
          ['p-a', 'running'],
          ['p-b', 'queued'],
        ]);
      }));

    it('finish and release refuse what is not running (ConflictError) or not there (NotFoundError)', () =>
      withStore(async ({ queue }) => {
        await queue.enqueue(request('p-q'), at(1));
        await queue.enqueue(request('p-d', 'karma-prod'), at(2));
        await queue.claimNext('karma-prod', 'o', at(3));
        await queue.finish('p-d', 'failed', 'terraform apply failed: exit 1', at(4));

        const finishQueued = await queue.finish('p-q', 'succeeded', 'x', at(5)).catch((e: unknown) => e);
        const finishDone = await queue.finish('p-d', 'succeeded', 'x', at(5)).catch((e: unknown) => e);
        const releaseDone = await queue.release('p-d').catch((e: unknown) => e);
        const missing = await queue.finish('p-none', 'succeeded', 'x', at(5)).catch((e: unknown) => e);
        const releaseMissing = await queue.release('p-none').catch((e: unknown) => e);

        expect(finishQueued).toBeInstanceOf(ConflictError);
        expect((finishQueued as Error).message).toBe('cannot finish the apply of change p-q: it is queued, not running');
        expect(finishDone).toBeInstanceOf(ConflictError);
        expect((releaseDone as Error).message).toBe('cannot release the apply of change p-d: it is done, not running');
        expect(missing).toBeInstanceOf(NotFoundError);
        expect((missing as Error).message).toBe('change p-none is not in the apply queue');
        expect(releaseMissing).toBeInstanceOf(NotFoundError);
        expect(await queue.get('p-d')).toMatchObject({ state: 'done', outcome: 'failed', result: 'terraform apply failed: exit 1', attempts: 1 });
        expect(await queue.get('p-none')).toBeUndefined();
      }));

    it('an id queued or running is refused (ConflictError); a done one is queued again: a new seq, attempts 0, the outcome gone', () =>
      withStore(async ({ queue }) => {
        // Prepare
        const first = await queue.enqueue(request('p-1'), at(1));
        const twice = await queue.enqueue(request('p-1'), at(2)).catch((e: unknown) => e);
        await queue.claimNext('karma-dev', 'o', at(3));
        const whileRunning = await queue.enqueue(request('p-1'), at(4)).catch((e: unknown) => e);
        const other = await queue.enqueue(request('p-2'), at(4));
        await queue.finish('p-1', 'failed', 'exit 1', at(5));

        // Act
        const again = await queue.enqueue(request('p-1', 'karma-dev', { actor: 'bob@ci' }), at(6));

        // Assess
        expect(twice).toBeInstanceOf(ConflictError);
        expect((twice as Error).message).toBe('change p-1 is already queued in the apply queue of karma-dev: one apply of a change at a time');
        expect((whileRunning as Error).message).toBe('change p-1 is already running in the apply queue of karma-dev: one apply of a change at a time');
        expect(again).toEqual({ ...request('p-1', 'karma-dev', { actor: 'bob@ci' }), state: 'queued', seq: again.seq, enqueuedAt: at(6), attempts: 0 });
        expect(again.seq).toBeGreaterThan(other.seq);
        expect(again.seq).toBeGreaterThan(first.seq);
        expect(await queue.get('p-1')).toEqual(again);
        expect((await queue.list()).map((e) => [e.id, e.state])).toEqual([
          ['p-2', 'queued'],
          ['p-1', 'queued'],
        ]);
        // FIFO still: p-2 arrived before the re-queued p-1.
        expect((await queue.claimNext('karma-dev', 'o', at(7)))?.id).toBe('p-2');
      }));

    it('lists by seq, oldest first, filtered by env and states; limit keeps the newest', () =>
      withStore(async ({ queue }) => {
        for (const [i, env] of ['karma-dev', 'karma-prod', 'karma-dev', 'karma-dev', 'karma-prod'].entries()) await queue.enqueue(request(`p-${i}`, env), at(i + 1));
        await queue.claimNext('karma-dev', 'o', at(9));
        await queue.finish('p-0', 'succeeded', 'ok', at(10));
        await queue.claimNext('karma-dev', 'o', at(11));

        const ids = async (options?: Parameters<ChangeQueue['list']>[0]): Promise<string[]> => (await queue.list(options)).map((e) => e.id);
        expect(await ids()).toEqual(['p-0', 'p-1', 'p-2', 'p-3', 'p-4']);
        expect(await ids({ env: 'karma-dev' })).toEqual(['p-0', 'p-2', 'p-3']);
        expect(await ids({ states: ['queued'] })).toEqual(['p-1', 'p-3', 'p-4']);
        expect(await ids({ env: 'karma-dev', states: ['running', 'done'] })).toEqual(['p-0', 'p-2']);
        expect(await ids({ limit: 2 })).toEqual(['p-3', 'p-4']);
        expect(await ids({ env: 'karma-dev', limit: 1 })).toEqual(['p-3']);
        expect(await ids({ states: [] })).toEqual([]);
        await expect(queue.list({ limit: 0 })).rejects.toBeInstanceOf(UsageError);
      }));

    it('refuses malformed input with a UsageError naming it, and writes nothing', () =>
      withStore(async ({ queue, rollouts, deliveries }) => {
        await expect(queue.enqueue(request('p-1'), 'yesterday')).rejects.toThrow('queue entry: enqueuedAt must be an ISO 8601 time with a zone, got "yesterday"');
        await expect(queue.enqueue(request(''), at(1))).rejects.toThrow('queue entry: id must be a non-empty string');
        await expect(queue.claimNext('karma-dev', ' ', at(1))).rejects.toBeInstanceOf(UsageError);
        await expect(rollouts.create(rollout('r-1', 1, { version: 2 }))).rejects.toThrow('a new rollout has version 1: rollout r-1 has version 2');
        await expect(deliveries.recordFailed(delivery(1, { failedAt: '2026-12-02 10:00' }))).rejects.toBeInstanceOf(UsageError);
        expect(await queue.list()).toEqual([]);
        expect(await rollouts.list()).toEqual([]);
        expect(await deliveries.listFailed()).toEqual([]);
      }));

    it('rollouts: create, read back exactly, update by version; a stale copy, a missing or a taken id is a ConflictError', () =>
      withStore(async ({ rollouts }) => {
        // Prepare
        const r1 = rollout('r-1', 1, { message: 'bigger' });
        await rollouts.create(r1);
        const v2: Rollout = { ...r1, version: 2, updatedAt: at(5), steps: [{ env: 'karma-dev', change: 'p-9', status: 'queued', startedAt: at(5) }, r1.steps[1]!] };

        // Act
        const updated = await rollouts.update(v2);
        const stale = await rollouts.update({ ...r1, version: 2, status: 'failed' }).catch((e: unknown) => e);
        const ahead = await rollouts.update({ ...v2, version: 4 }).catch((e: unknown) => e);
        const missing = await rollouts.update(rollout('r-none', 1, { version: 2 })).catch((e: unknown) => e);
        const taken = await rollouts.create(rollout('r-1', 9)).catch((e: unknown) => e);

        // Assess
        expect(updated).toEqual(v2);
        expect(await rollouts.get('r-1')).toEqual(v2);
        expect(stale).toBeInstanceOf(ConflictError);
        expect((stale as Error).message).toBe('cannot update rollout r-1 to version 2: it is at version 2 (updated meanwhile); read it again');
        expect((ahead as Error).message).toBe('cannot update rollout r-1 to version 4: it is at version 2 (updated meanwhile); read it again');
        expect(missing).toBeInstanceOf(ConflictError);
        expect((missing as Error).message).toBe('cannot update rollout r-none: there is no such rollout');
        expect(taken).toBeInstanceOf(ConflictError);
        expect((taken as Error).message).toBe('rollout r-1 exists already');
        expect(await rollouts.get('r-none')).toBeUndefined();
      }));

    it('rollouts list newest first (by createdAt), filtered by status, limited', () =>
      withStore(async ({ rollouts }) => {
        await rollouts.create(rollout('r-b', 2));
        await rollouts.create(rollout('r-a', 3, { status: 'waiting-approval' }));
        await rollouts.create(rollout('r-c', 1, { status: 'succeeded' }));
        await rollouts.update({ ...rollout('r-c', 1, { status: 'failed', reason: 'karma-dev failed' }), version: 2 });

        const ids = async (options?: Parameters<RolloutStore['list']>[0]): Promise<string[]> => (await rollouts.list(options)).map((r) => r.id);
        expect(await ids()).toEqual(['r-a', 'r-b', 'r-c']);
        expect(await ids({ limit: 2 })).toEqual(['r-a', 'r-b']);
        expect(await ids({ status: ['running', 'failed'] })).toEqual(['r-b', 'r-c']);
        expect(await ids({ status: ['failed'], limit: 1 })).toEqual(['r-c']);
        expect(await ids({ status: [] })).toEqual([]);
        expect((await rollouts.list({ status: ['failed'] }))[0]).toEqual({ ...rollout('r-c', 1, { status: 'failed', reason: 'karma-dev failed' }), version: 2 });
      }));

    it('failed deliveries: ids sort as failedAt does, listed newest first, every field back exactly', () =>
      withStore(async ({ deliveries }) => {
        // Prepare: recorded out of time order.
        const d3 = await deliveries.recordFailed(delivery(3));
        const d1 = await deliveries.recordFailed(delivery(1, { lastStatus: null, lastError: 'connect ECONNREFUSED' }));
        const d2 = await deliveries.recordFailed(delivery(2));

        // Act
        const all = await deliveries.listFailed();
        const two = await deliveries.listFailed({ limit: 2 });

        // Assess
        expect(d1).toEqual({ id: d1.id, ...delivery(1, { lastStatus: null, lastError: 'connect ECONNREFUSED' }) });
        expect(d1.id).toMatch(/^2026-12-02T10:00:01\.000Z#[0-9a-f]{16}$/);
        expect(Object.keys(d1)).toEqual(['id', 'webhook', 'event', 'target', 'attempts', 'lastStatus', 'lastError', 'firstAttemptAt', 'failedAt', 'payload']);
        expect(all).toEqual([d3, d2, d1]);
        expect(two).toEqual([d3, d2]);
      }));
  });
}
