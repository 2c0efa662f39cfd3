import { describe, expect, it } from 'vitest';
import { EventBus, type ServiceEvent } from '../../../lib/app/events.ts';
import { ConflictError } from '../../../lib/core/errors.ts';
import type { EnqueueRequest, QueuedApply } from '../../../lib/ports.ts';
import { QueueWorker, type ApplyOutcome, type ApplyRunner } from '../../../lib/service/queue.ts';
import { InMemoryChangeQueue } from '../../support/memory-service-stores.ts';
import { tickingClock } from '../../support/memory-stores.ts';

/** A runner whose applies end when the test says so; it records every run with its attempt. */
class FakeRunner implements ApplyRunner {
  readonly runs: { id: string; attempt: number }[] = [];
  readonly queuedIds: string[] = [];
  private readonly pending = new Map<string, { resolve: (o: ApplyOutcome) => void; signal: AbortSignal }>();
  private readonly waiters: (() => void)[] = [];

  async queued(item: QueuedApply): Promise<void> {
    this.queuedIds.push(item.id);
  }

  run(item: QueuedApply, signal: AbortSignal): Promise<ApplyOutcome> {
    this.runs.push({ id: item.id, attempt: item.attempts });
    for (const w of this.waiters.splice(0)) w();
    return new Promise((resolve) => {
      this.pending.set(item.id, { resolve, signal });
      signal.addEventListener('abort', () => resolve({ outcome: 'failed', result: 'interrupted' }));
    });
  }

  running(): string[] {
    return [...this.pending.keys()];
  }

  signalOf(id: string): AbortSignal | undefined {
    return this.pending.get(id)?.signal;
  }

  end(id: string, outcome: ApplyOutcome = { outcome: 'succeeded', result: 'applied and merged' }): void {
    const p = this.pending.get(id);
    if (!p) throw new Error(`${id} is not running`);
    this.pending.delete(id);
    p.resolve(outcome);
  }

  /** Resolves once `count` runs have started in all. */
  async started(count: number): Promise<void> {
    while (this.runs.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

const silentLog = { info: () => undefined, error: () => undefined };
const request = (id: string, env: string, extra: Partial<EnqueueRequest> = {}): EnqueueRequest => ({ id, env, component: 'app', actor: 'ops', allowDestroy: false, includePending: false, ...extra });

async function settle(worker: QueueWorker, queue: InMemoryChangeQueue, until: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await until()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`queue did not settle: ${JSON.stringify(await queue.list())} (worker ${JSON.stringify(worker.status())})`);
}

function setup(options: { queue?: InMemoryChangeQueue; envs?: string[] } = {}) {
  const queue = options.queue ?? new InMemoryChangeQueue();
  const runner = new FakeRunner();
  const bus = new EventBus();
  const events: ServiceEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const finished: QueuedApply[] = [];
  const worker = new QueueWorker({
    queue,
    runner,
    bus,
    envs: () => options.envs ?? ['dev', 'prod'],
    owner: 'host:1:test',
    log: silentLog,
    pollMs: 20,
    clock: tickingClock(),
    onFinished: (item) => {
      finished.push(item);
    },
  });
  return { queue, runner, bus, events, finished, worker };
}

describe('QueueWorker', () => {
  it('applies one change per environment at a time, oldest first, while another environment runs in parallel', async () => {
    // Prepare
    const { queue, runner, worker, finished } = setup();
    await worker.start();
    // Act
    await worker.enqueue(request('p-1', 'dev'));
    await worker.enqueue(request('p-2', 'dev'));
    await worker.enqueue(request('p-3', 'prod'));
    await runner.started(2);
    // Assess: dev's first and prod's run together; dev's second waits
    expect(runner.running().sort()).toEqual(['p-1', 'p-3']);
    expect((await queue.get('p-2'))?.state).toBe('queued');
    expect(await worker.counts()).toEqual({ queued: 1, running: 2 });
    runner.end('p-3');
    runner.end('p-1');
    await runner.started(3);
    expect(runner.running()).toEqual(['p-2']);
    runner.end('p-2', { outcome: 'failed', result: 'the saved plan failed' });
    await settle(worker, queue, async () => finished.length === 3);
    expect(finished.map((f) => [f.id, f.outcome])).toEqual([
      ['p-3', 'succeeded'],
      ['p-1', 'succeeded'],
      ['p-2', 'failed'],
    ]);
    expect((await queue.get('p-2'))).toMatchObject({ state: 'done', outcome: 'failed', result: 'the saved plan failed', attempts: 1 });
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('claims atomically: of two workers on one queue, only one runs an environment at a time', async () => {
    // Prepare
    const one = setup();
    const two = setup({ queue: one.queue });
    await one.worker.start();
    await two.worker.start();
    // Act
    await one.worker.enqueue(request('p-1', 'dev'));
    await two.worker.enqueue(request('p-2', 'dev'));
    await new Promise((resolve) => setTimeout(resolve, 80)); // several polls of both
    // Assess
    const runs = [...one.runner.runs, ...two.runner.runs].map((r) => r.id);
    expect(runs).toEqual(['p-1']);
    expect((await one.queue.get('p-2'))?.state).toBe('queued');
    await one.worker.stop({ handBack: false, timeoutMs: 10 });
    await two.worker.stop({ handBack: false, timeoutMs: 10 });
  });

  it('publishes queued, started and finished, and tells the runner an entry is queued', async () => {
    // Prepare
    const { runner, worker, events, finished, queue } = setup();
    await worker.start();
    // Act
    await worker.enqueue(request('p-1', 'dev', { rollout: 'r-1' }));
    await runner.started(1);
    runner.end('p-1');
    await settle(worker, queue, async () => finished.length === 1);
    // Assess
    expect(runner.queuedIds).toEqual(['p-1']);
    expect(events.map((e) => e.type)).toEqual(['change.queued', 'change.started', 'change.finished']);
    expect(events[1]).toMatchObject({ change: 'p-1', env: 'dev', attempt: 1, rollout: 'r-1' });
    expect(events[2]).toMatchObject({ change: 'p-1', outcome: 'succeeded', result: 'applied and merged', rollout: 'r-1' });
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('refuses a change already queued (ConflictError) and accepts it again once done', async () => {
    // Prepare
    const { runner, worker, queue, finished } = setup();
    await worker.start();
    await worker.enqueue(request('p-1', 'dev'));
    // Act / Assess
    await expect(worker.enqueue(request('p-1', 'dev'))).rejects.toBeInstanceOf(ConflictError);
    await runner.started(1);
    runner.end('p-1', { outcome: 'failed', result: 'boom' });
    await settle(worker, queue, async () => finished.length === 1);
    await worker.enqueue(request('p-1', 'dev'));
    await runner.started(2);
    expect(runner.runs).toEqual([
      { id: 'p-1', attempt: 1 },
      { id: 'p-1', attempt: 1 },
    ]);
    runner.end('p-1');
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('after a crash, re-runs an apply left running as attempt 2, first in line', async () => {
    // Prepare: a previous instance claimed p-1 and died; p-2 arrived after it
    const queue = new InMemoryChangeQueue();
    await queue.enqueue(request('p-1', 'dev'), '2026-11-28T00:00:00.000Z');
    await queue.enqueue(request('p-2', 'dev'), '2026-11-28T00:00:01.000Z');
    await queue.claimNext('dev', 'host:999:dead', '2026-11-28T00:00:02.000Z');
    const { runner, worker, finished } = setup({ queue });
    // Act
    const { released } = await worker.start();
    await runner.started(1);
    // Assess
    expect(released).toEqual(['p-1']);
    expect(runner.runs).toEqual([{ id: 'p-1', attempt: 2 }]);
    expect((await queue.get('p-1'))?.owner).toBe('host:1:test');
    runner.end('p-1');
    await runner.started(2);
    expect(runner.runs[1]).toEqual({ id: 'p-2', attempt: 1 });
    runner.end('p-2');
    await settle(worker, queue, async () => finished.length === 2);
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('after a crash, never runs an entry that had finished again', async () => {
    // Prepare: p-1 finished before the crash; p-2 was queued
    const queue = new InMemoryChangeQueue();
    await queue.enqueue(request('p-1', 'dev'), '2026-11-28T00:00:00.000Z');
    await queue.claimNext('dev', 'host:999:dead', '2026-11-28T00:00:01.000Z');
    await queue.finish('p-1', 'succeeded', 'applied and merged', '2026-11-28T00:00:02.000Z');
    await queue.enqueue(request('p-2', 'dev'), '2026-11-28T00:00:03.000Z');
    const { runner, worker } = setup({ queue });
    // Act
    const { released } = await worker.start();
    await runner.started(1);
    // Assess
    expect(released).toEqual([]);
    expect(runner.runs).toEqual([{ id: 'p-2', attempt: 1 }]);
    expect(await queue.get('p-1')).toMatchObject({ state: 'done', outcome: 'succeeded', attempts: 1 });
    runner.end('p-2');
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('stop with handBack: waits, then aborts the apply still running and releases it to the queue', async () => {
    // Prepare
    const { runner, worker, queue, finished, events } = setup();
    await worker.start();
    await worker.enqueue(request('p-1', 'dev'));
    await runner.started(1);
    const signal = runner.signalOf('p-1')!;
    // Act
    const { handedBack } = await worker.stop({ handBack: true, timeoutMs: 30 });
    // Assess
    expect(handedBack).toEqual(['p-1']);
    expect(signal.aborted).toBe(true);
    expect(await queue.get('p-1')).toMatchObject({ state: 'queued', attempts: 1 });
    expect(finished).toEqual([]);
    expect(events.some((e) => e.type === 'change.finished')).toBe(false);
    expect(worker.status().state).toBe('stopped');
    await expect(worker.enqueue(request('p-2', 'dev'))).rejects.toThrow(/stopping/);
  });

  it('stop lets an apply that ends within the timeout finish and record its outcome', async () => {
    // Prepare
    const { runner, worker, queue } = setup();
    await worker.start();
    await worker.enqueue(request('p-1', 'dev'));
    await runner.started(1);
    // Act
    const stopping = worker.stop({ handBack: true, timeoutMs: 2000 });
    runner.end('p-1');
    const { handedBack } = await stopping;
    // Assess
    expect(handedBack).toEqual([]);
    expect(await queue.get('p-1')).toMatchObject({ state: 'done', outcome: 'succeeded' });
  });

  it('stop without handBack aborts and records the apply as failed', async () => {
    // Prepare
    const { runner, worker, queue } = setup();
    await worker.start();
    await worker.enqueue(request('p-1', 'dev'));
    await runner.started(1);
    // Act
    const { handedBack } = await worker.stop({ handBack: false, timeoutMs: 10 });
    // Assess
    expect(handedBack).toEqual([]);
    expect(await queue.get('p-1')).toMatchObject({ state: 'done', outcome: 'failed', result: 'interrupted' });
  });

  it('a runner that throws fails the apply with its message, and the queue goes on', async () => {
    // Prepare
    const queue = new InMemoryChangeQueue();
    const finished: QueuedApply[] = [];
    let calls = 0;
    const worker = new QueueWorker({
      queue,
      runner: {
        run: async () => {
          calls++;
          if (calls === 1) throw new Error('no open proposal "p-1"');
          return { outcome: 'succeeded', result: 'ok' };
        },
      },
      bus: new EventBus(),
      envs: () => ['dev'],
      owner: 'o',
      log: silentLog,
      onFinished: (i) => {
        finished.push(i);
      },
    });
    await worker.start();
    // Act
    await worker.enqueue(request('p-1', 'dev'));
    await worker.enqueue(request('p-2', 'dev'));
    await settle(worker, queue, async () => finished.length === 2);
    // Assess
    expect(finished.map((f) => [f.id, f.outcome, f.result])).toEqual([
      ['p-1', 'failed', 'no open proposal "p-1"'],
      ['p-2', 'succeeded', 'ok'],
    ]);
    await worker.stop({ handBack: true, timeoutMs: 10 });
  });

  it('finds an entry another writer queued by polling, without a kick', async () => {
    // Prepare
    const { runner, worker, queue } = setup();
    await worker.start();
    // Act
    await queue.enqueue(request('p-9', 'prod'), '2026-11-28T00:00:00.000Z');
    await runner.started(1);
    // Assess
    expect(runner.running()).toEqual(['p-9']);
    expect(worker.status()).toMatchObject({ state: 'running', running: { prod: 'p-9' } });
    runner.end('p-9');
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });
});
