import { describe, expect, it } from 'vitest';
import { EventBus, type ServiceEvent } from '../../../lib/app/events.ts';
import type { RequestedChange } from '../../../lib/app/changes.ts';
import { ConflictError, NotFoundError, UsageError } from '../../../lib/core/errors.ts';
import type { QueuedApply, Rollout } from '../../../lib/ports.ts';
import type { RolloutRequest } from '../../../lib/api/service.ts';
import { QueueWorker, type ApplyOutcome, type ApplyRunner } from '../../../lib/service/queue.ts';
import { RolloutEngine } from '../../../lib/service/rollouts.ts';
import { InMemoryChangeQueue, InMemoryRolloutStore } from '../../support/memory-service-stores.ts';
import { tickingClock } from '../../support/memory-stores.ts';
import { config } from '../../support/config.ts';

const silentLog = { info: () => undefined, error: () => undefined };
const CONFIG = config(['dev', 'staging', 'prod', 'sandbox'], {
  app: { in: { dev: { size: 1 }, staging: { size: 1 }, prod: { size: 1 } } },
  db: { in: { dev: {}, sandbox: {} } },
});

type ProposeMode = 'ok' | 'plan-failed' | 'no-change' | 'destroy' | 'invalid';

/** Proposals as requestChange returns them, by environment; each call is logged in order. */
class FakeProposals {
  readonly calls: string[] = [];
  readonly messages: (string | undefined)[] = [];
  readonly mode = new Map<string, ProposeMode>();
  private n = 0;

  propose = async (env: string, request: RolloutRequest, _actor: string): Promise<RequestedChange> => {
    this.calls.push(env);
    this.messages.push(request.message);
    const mode = this.mode.get(env) ?? 'ok';
    if (mode === 'no-change') throw new UsageError(`no change: input holds the same inputs as environments/${env}/app.json at abcdef12; nothing to propose`);
    if (mode === 'invalid') throw new UsageError('input: size must be a number');
    const id = `p-${env}-${++this.n}`;
    const planned = { status: 'planned' as const, add: 0, change: 1, destroy: 0, resources: [{ address: 'terraform_data.app', action: 'update' as const }], line: 'Plan: 0 to add, 1 to change, 0 to destroy.', commit: 'c', plannedAt: 't', expiresAt: 't' };
    const plan =
      mode === 'plan-failed'
        ? { status: 'failed' as const, error: 'Error: Unsupported argument', log: '/tmp/plan.log' }
        : mode === 'destroy'
          ? { ...planned, add: 1, destroy: 1, resources: [{ address: 'terraform_data.app', action: 'replace' as const }] }
          : planned;
    return {
      id,
      branch: `karma/proposals/${id}`,
      commit: 'c0ffee',
      base: 'base',
      component: request.component,
      env,
      file: `environments/${env}/app.json`,
      newDeployment: false,
      message: `change app in ${env}`,
      diff: [],
      impact: { env, component: request.component, waves: [[request.component]], otherEnvironments: [] },
      warnings: [],
      plan,
    };
  };
}

/** Applies by environment: an outcome given, or held until released. */
class FakeRunner implements ApplyRunner {
  readonly runs: QueuedApply[] = [];
  readonly outcomes = new Map<string, ApplyOutcome>();
  readonly hold = new Set<string>();
  private readonly held = new Map<string, (o: ApplyOutcome) => void>();

  async run(item: QueuedApply, signal: AbortSignal): Promise<ApplyOutcome> {
    this.runs.push(item);
    if (this.hold.has(item.env)) {
      return new Promise((resolve) => {
        this.held.set(item.env, resolve);
        signal.addEventListener('abort', () => resolve({ outcome: 'failed', result: 'interrupted' }));
      });
    }
    return this.outcomes.get(item.env) ?? { outcome: 'succeeded', result: 'applied and merged; pipeline succeeded (1 applied, 0 skipped)' };
  }

  release(env: string, outcome: ApplyOutcome): void {
    this.held.get(env)!(outcome);
    this.held.delete(env);
  }
}

function service(shared: { store?: InMemoryRolloutStore; queue?: InMemoryChangeQueue } = {}) {
  const store = shared.store ?? new InMemoryRolloutStore();
  const queue = shared.queue ?? new InMemoryChangeQueue();
  const bus = new EventBus();
  const events: ServiceEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const runner = new FakeRunner();
  const proposals = new FakeProposals();
  const clock = tickingClock();
  // `kill()` stands for kill -9: the worker takes no more work and its running entry stays running in the queue.
  let alive = true;
  const kill = (): void => {
    alive = false;
  };
  const worker = new QueueWorker({ queue, runner, bus, envs: () => (alive ? [...CONFIG.project.environments.keys()] : []), owner: 'host:1:test', log: silentLog, pollMs: 20, clock });
  let n = 0;
  const engine = new RolloutEngine({
    store,
    queue,
    enqueue: (r) => worker.enqueue(r),
    bus,
    config: async () => CONFIG,
    propose: proposals.propose,
    log: silentLog,
    clock,
    newId: () => `r-${++n}`,
  });
  worker.onFinished = (item) => engine.onFinished(item);
  return { store, queue, bus, events, runner, proposals, worker, engine, kill };
}

const request = (environments: string[], extra: Partial<RolloutRequest> = {}): RolloutRequest => ({ component: 'app', input: { size: 2 }, environments, ...extra });

/** Waits until the rollout satisfies `done` (the engine and the worker work in the background). */
async function until(engine: RolloutEngine, id: string, done: (r: Rollout) => boolean): Promise<Rollout> {
  for (let i = 0; i < 300; i++) {
    const r = await engine.get(id);
    if (done(r)) return r;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`rollout did not get there: ${JSON.stringify(await engine.get(id))}`);
}
const ended = (r: Rollout): boolean => r.status === 'succeeded' || r.status === 'failed';
const statuses = (r: Rollout): string[] => r.steps.map((s) => `${s.env}:${s.status}`);

describe('RolloutEngine', () => {
  it('applies dev, then prod: each step is proposed only after the one before succeeded', async () => {
    // Prepare
    const { engine, worker, runner, proposals, events } = service();
    await worker.start();
    runner.hold.add('dev');
    // Act
    const created = await engine.create(request(['dev', 'prod'], { message: 'bigger' }), 'alice');
    // Assess
    expect(created).toMatchObject({ id: 'r-1', status: 'running', approval: 'auto', actor: 'alice', message: 'bigger' });
    expect(statuses(created)).toEqual(['dev:proposing', 'prod:pending']);
    await until(engine, 'r-1', (r) => r.steps[0]!.status === 'applying');
    expect(proposals.calls).toEqual(['dev']); // prod waits for dev's apply
    runner.hold.delete('dev');
    runner.release('dev', { outcome: 'succeeded', result: 'applied and merged' });
    const done = await until(engine, 'r-1', ended);
    expect(done.status).toBe('succeeded');
    expect(statuses(done)).toEqual(['dev:succeeded', 'prod:succeeded']);
    expect(proposals.calls).toEqual(['dev', 'prod']);
    expect(proposals.messages).toEqual(['bigger (rollout r-1)', 'bigger (rollout r-1)']);
    expect(runner.runs.map((r) => [r.id, r.env, r.rollout, r.actor, r.allowDestroy])).toEqual([
      ['p-dev-1', 'dev', 'r-1', 'alice', false],
      ['p-prod-2', 'prod', 'r-1', 'alice', false],
    ]);
    const steps = events.filter((e) => e.type === 'rollout.step').map((e) => (e.type === 'rollout.step' ? `${e.env}:${e.status}` : ''));
    expect(steps).toEqual(['dev:proposing', 'dev:queued', 'dev:applying', 'dev:succeeded', 'prod:proposing', 'prod:queued', 'prod:applying', 'prod:succeeded']);
    expect(events.filter((e) => e.type === 'rollout.finished')).toMatchObject([{ rollout: 'r-1', status: 'succeeded' }]);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('a failing dev halts the rollout: failed with "dev: <reason>", prod skipped and never proposed', async () => {
    // Prepare
    const { engine, worker, runner, proposals, events } = service();
    await worker.start();
    runner.outcomes.set('dev', { outcome: 'failed', result: "the saved plan's apply failed: Error: boom" });
    // Act
    await engine.create(request(['dev', 'staging', 'prod']), 'alice');
    const done = await until(engine, 'r-1', ended);
    // Assess
    expect(done).toMatchObject({ status: 'failed', reason: "dev: the saved plan's apply failed: Error: boom" });
    expect(statuses(done)).toEqual(['dev:failed', 'staging:skipped', 'prod:skipped']);
    expect(done.steps[1]!.reason).toBe('dev failed');
    expect(proposals.calls).toEqual(['dev']);
    expect(events.filter((e) => e.type === 'rollout.finished')).toMatchObject([{ status: 'failed', reason: "dev: the saved plan's apply failed: Error: boom" }]);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('a plan that fails, a destroying plan, or invalid inputs fail the step before anything is queued', async () => {
    for (const [mode, reason] of [
      ['plan-failed', /^prod: p-prod-2: terraform plan failed: Error: Unsupported argument$/],
      ['destroy', /^prod: p-prod-2: its plan destroys or replaces terraform_data\.app; a rollout never destroys/],
      ['invalid', /^prod: input: size must be a number$/],
    ] as const) {
      // Prepare
      const { engine, worker, runner, proposals } = service();
      await worker.start();
      proposals.mode.set('prod', mode);
      // Act
      await engine.create(request(['dev', 'prod']), 'alice');
      const done = await until(engine, 'r-1', ended);
      // Assess
      expect(done.status, mode).toBe('failed');
      expect(done.reason).toMatch(reason);
      expect(runner.runs.map((r) => r.env)).toEqual(['dev']);
      await engine.close();
      await worker.stop({ handBack: true, timeoutMs: 100 });
    }
  });

  it('an environment that already has the inputs succeeds with "no change" and the next goes on', async () => {
    // Prepare
    const { engine, worker, runner, proposals } = service();
    await worker.start();
    proposals.mode.set('dev', 'no-change');
    // Act
    await engine.create(request(['dev', 'prod']), 'alice');
    const done = await until(engine, 'r-1', ended);
    // Assess
    expect(done.status).toBe('succeeded');
    expect(done.steps[0]).toMatchObject({ status: 'succeeded', change: null, reason: 'no change: the environment already has these inputs' });
    expect(runner.runs.map((r) => r.env)).toEqual(['prod']);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('manual: the first step applies at once; prod waits with its plan made, then applies once approved', async () => {
    // Prepare
    const { engine, worker, runner, queue } = service();
    await worker.start();
    // Act
    await engine.create(request(['dev', 'prod'], { approval: 'manual' }), 'alice');
    const waiting = await until(engine, 'r-1', (r) => r.status === 'waiting-approval');
    // Assess
    expect(statuses(waiting)).toEqual(['dev:succeeded', 'prod:waiting-approval']);
    expect(waiting.steps[1]!.change).toBe('p-prod-2');
    expect(await queue.get('p-prod-2')).toBeUndefined();
    const approved = await engine.approve('r-1', 'bob');
    expect(approved.status).toBe('running');
    expect(approved.steps[1]).toMatchObject({ approvedBy: 'bob' });
    const done = await until(engine, 'r-1', ended);
    expect(done.status).toBe('succeeded');
    expect(runner.runs.map((r) => [r.env, r.actor])).toEqual([
      ['dev', 'alice'],
      ['prod', 'bob'],
    ]);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('approve when nothing waits is a ConflictError naming the status; an unknown rollout is a NotFoundError', async () => {
    // Prepare
    const { engine, worker } = service();
    await worker.start();
    await engine.create(request(['dev', 'prod']), 'alice');
    await until(engine, 'r-1', ended);
    // Act / Assess
    await expect(engine.approve('r-1', 'bob')).rejects.toThrow(ConflictError);
    await expect(engine.approve('r-1', 'bob')).rejects.toThrow('rollout r-1 is succeeded: no step waits for an approval');
    await expect(engine.approve('r-9', 'bob')).rejects.toBeInstanceOf(NotFoundError);
    await expect(engine.get('r-9')).rejects.toMatchObject({ kind: 'rollout', value: 'r-9', known: ['r-1'] });
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('refuses a bad request before storing anything', async () => {
    // Prepare
    const { engine, store, proposals } = service();
    // Act / Assess
    await expect(engine.create(request(['dev'], { component: 'vpn' }), 'a')).rejects.toThrow('unknown component "vpn"; the repo defines app, db');
    await expect(engine.create(request(['dev', 'qa']), 'a')).rejects.toThrow('unknown environment "qa"');
    await expect(engine.create(request(['dev', 'sandbox']), 'a')).rejects.toThrow('component "app" is not deployed in sandbox; deployed there: db');
    await expect(engine.create(request(['dev', 'prod', 'dev']), 'a')).rejects.toThrow('environment dev is named twice');
    await expect(engine.create(request([]), 'a')).rejects.toThrow('a rollout names 1 to 10 environments, got 0');
    await expect(engine.create(request(Array.from({ length: 11 }, () => 'dev')), 'a')).rejects.toBeInstanceOf(UsageError);
    await expect(engine.create(request(['dev', 'sandbox']), 'a')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.list()).toEqual([]);
    expect(proposals.calls).toEqual([]);
    await expect(engine.list({ limit: 0 })).rejects.toBeInstanceOf(UsageError);
  });

  it('resumes after a restart: the interrupted apply re-runs and the rollout goes on to prod', async () => {
    // Prepare: the first service applies dev and is killed (its queue entry stays running)
    const store = new InMemoryRolloutStore();
    const queue = new InMemoryChangeQueue();
    const first = service({ store, queue });
    await first.worker.start();
    first.runner.hold.add('dev');
    await first.engine.create(request(['dev', 'prod']), 'alice');
    await until(first.engine, 'r-1', (r) => r.steps[0]!.status === 'applying');
    expect((await queue.get('p-dev-1'))?.state).toBe('running');
    // (kill -9: nothing of the first service runs any more; its entry is left running)
    first.kill();
    // Act: a second service on the same stores
    const second = service({ store, queue });
    await second.engine.resume();
    await second.worker.start();
    const done = await until(second.engine, 'r-1', ended);
    // Assess
    expect(done.status).toBe('succeeded');
    expect(second.runner.runs.map((r) => [r.id, r.attempts])).toEqual([
      ['p-dev-1', 2],
      ['p-prod-1', 1],
    ]);
    expect(second.proposals.calls).toEqual(['prod']);
    await second.engine.close();
    await second.worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('resumes a step whose apply finished while the service was down, and a step left proposing', async () => {
    // Prepare: r-1's dev apply finished in the queue but the rollout did not hear of it; r-2 was proposing
    const store = new InMemoryRolloutStore();
    const queue = new InMemoryChangeQueue();
    const at = '2026-11-28T00:00:00.000Z';
    const base = { component: 'app', input: { size: 2 }, approval: 'auto' as const, actor: 'alice', createdAt: at, updatedAt: at, status: 'running' as const, version: 1 };
    await store.create({ ...base, id: 'r-1', steps: [{ env: 'dev', change: 'p-dev-0', status: 'applying' }, { env: 'prod', change: null, status: 'pending' }] });
    await store.create({ ...base, id: 'r-2', steps: [{ env: 'staging', change: null, status: 'proposing' }] });
    await queue.enqueue({ id: 'p-dev-0', env: 'dev', component: 'app', actor: 'alice', allowDestroy: false, includePending: false, rollout: 'r-1' }, at);
    await queue.claimNext('dev', 'dead', at);
    await queue.finish('p-dev-0', 'failed', 'applied and merged; the pipeline for the dependents failed: States.TaskFailed', at);
    const { engine, worker, runner, proposals } = service({ store, queue });
    // Act
    const { resumed } = await engine.resume();
    await worker.start();
    const one = await until(engine, 'r-1', ended);
    const two = await until(engine, 'r-2', ended);
    // Assess
    expect(resumed).toEqual(expect.arrayContaining(['r-1', 'r-2']));
    expect(one).toMatchObject({ status: 'failed', reason: 'dev: applied and merged; the pipeline for the dependents failed: States.TaskFailed' });
    expect(statuses(one)).toEqual(['dev:failed', 'prod:skipped']);
    expect(two.status).toBe('succeeded');
    expect(proposals.calls).toEqual(['staging']);
    expect(runner.runs.map((r) => r.id)).toEqual(['p-staging-1']);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('a step queued whose apply never reached the queue is enqueued on resume', async () => {
    // Prepare
    const store = new InMemoryRolloutStore();
    const at = '2026-11-28T00:00:00.000Z';
    await store.create({ id: 'r-1', component: 'app', input: {}, approval: 'auto', actor: 'alice', createdAt: at, updatedAt: at, status: 'running', version: 1, steps: [{ env: 'dev', change: 'p-dev-0', status: 'queued' }] });
    const { engine, worker, runner } = service({ store });
    // Act
    await engine.resume();
    await worker.start();
    const done = await until(engine, 'r-1', ended);
    // Assess
    expect(done.status).toBe('succeeded');
    expect(runner.runs.map((r) => [r.id, r.rollout])).toEqual([['p-dev-0', 'r-1']]);
    await engine.close();
    await worker.stop({ handBack: true, timeoutMs: 100 });
  });
  it('while the service stops, no step starts: the next one stays proposing and the restart proposes it', async () => {
    // Prepare
    const store = new InMemoryRolloutStore();
    const queue = new InMemoryChangeQueue();
    const first = service({ store, queue });
    await first.worker.start();
    first.runner.hold.add('dev');
    await first.engine.create(request(['dev', 'prod']), 'alice');
    await until(first.engine, 'r-1', (r) => r.steps[0]!.status === 'applying');
    // Act: the engine closes, then dev's apply ends (the worker lets it finish within its grace period)
    await first.engine.close();
    const stopping = first.worker.stop({ handBack: true, timeoutMs: 2000 });
    first.runner.release('dev', { outcome: 'succeeded', result: 'applied and merged' });
    await stopping;
    await first.engine.idle();
    const stopped = await first.engine.get('r-1');
    const second = service({ store, queue });
    await second.engine.resume();
    await second.worker.start();
    const done = await until(second.engine, 'r-1', ended);
    // Assess
    expect(statuses(stopped)).toEqual(['dev:succeeded', 'prod:proposing']);
    expect(stopped.steps[1]!.change).toBeNull();
    expect(first.proposals.calls).toEqual(['dev']);
    expect(done.status).toBe('succeeded');
    expect(second.proposals.calls).toEqual(['prod']);
    await second.engine.close();
    await second.worker.stop({ handBack: true, timeoutMs: 100 });
  });

  it('an approval while the queue is stopping leaves the step queued; the restart queues it', async () => {
    // Prepare
    const store = new InMemoryRolloutStore();
    const queue = new InMemoryChangeQueue();
    const first = service({ store, queue });
    await first.worker.start();
    await first.engine.create(request(['dev', 'prod'], { approval: 'manual' }), 'alice');
    await until(first.engine, 'r-1', (r) => r.status === 'waiting-approval');
    await first.worker.stop({ handBack: true, timeoutMs: 100 });
    // Act
    const approved = await first.engine.approve('r-1', 'bob');
    const second = service({ store, queue });
    await second.engine.resume();
    await second.worker.start();
    const done = await until(second.engine, 'r-1', ended);
    // Assess
    expect(approved.status).toBe('running');
    expect(approved.steps[1]).toMatchObject({ status: 'queued', approvedBy: 'bob' });
    expect(done.status).toBe('succeeded');
    expect(second.runner.runs.map((r) => [r.env, r.actor])).toEqual([['prod', 'bob']]);
    await second.engine.close();
    await second.worker.stop({ handBack: true, timeoutMs: 100 });
  });
});
