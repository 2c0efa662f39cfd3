/**
 * Coordinated rollouts (issue 13, docs/rollouts.md): `POST /rollouts {component, input, environments, approval}`
 * makes one change per environment and applies them in the order given, each only after the one before
 * succeeded. A step:
 *
 *   pending → proposing (its change is made and planned, with the rollout's inputs)
 *           → [manual approval, not the first step: waiting-approval → POST /rollouts/{id}/approve]
 *           → queued (its apply is in the change queue) → applying → succeeded | failed
 *
 * The first failure halts the rollout: it fails with `<env>: <reason>` and the steps after are skipped. A step
 * whose environment already holds these inputs succeeds with "no change". A plan that destroys or replaces
 * anything fails its step: a rollout never destroys (apply such a change with `karma apply ID --allow-destroy`).
 *
 * Everything is in the RolloutStore (optimistic versions: an update from a stale copy is a ConflictError), so a
 * restart loses nothing: resume() picks up the rollouts still running (a step proposing → proposed again; queued
 * or applying → the queue owns its apply, and one that finished while the service was down has its outcome
 * applied here). Within this process the updates of one rollout are serialised, so they never conflict with
 * each other; a ConflictError would mean a second service on the same store, which is not supported.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError, UsageError, notDeployed, unknownComponent, unknownEnvironment } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import { systemClock, type ChangeQueue, type Clock, type EnqueueRequest, type QueuedApply, type Rollout, type RolloutStep, type RolloutStore } from '../ports.ts';
import type { EventBus } from '../app/events.ts';
import type { RequestedChange } from '../app/changes.ts';
import type { RolloutRequest, ServiceEndpoints } from '../api/service.ts';
import { QueueStoppingError, type QueueLog } from './queue.ts';

export const MAX_ROLLOUT_ENVIRONMENTS = 10;
export const DEFAULT_ROLLOUTS_LIMIT = 50;
export const MAX_ROLLOUTS_LIMIT = 500;

/** What a step's change is made with: the service calls requestChange (with a plan) on its change context. */
export type ProposeStep = (env: string, request: RolloutRequest, actor: string) => Promise<RequestedChange>;

export interface RolloutEngineOptions {
  readonly store: RolloutStore;
  /** To look at a step's apply after a restart (queued, running, done with its outcome). */
  readonly queue: Pick<ChangeQueue, 'get'>;
  /** The worker's enqueue (lib/service/queue.ts QueueWorker.enqueue): publishes change.queued, wakes the loop. */
  readonly enqueue: (request: EnqueueRequest) => Promise<QueuedApply>;
  readonly bus: EventBus;
  /** The config at HEAD, to validate a request (the component, the environments, where it is deployed). */
  readonly config: () => Promise<Config>;
  readonly propose: ProposeStep;
  readonly log: QueueLog;
  readonly clock?: Clock;
  /** `r-` and 8 hex digits by default. */
  readonly newId?: () => string;
}

type Endpoints = ServiceEndpoints['rollouts'];

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 499)}…` : line;
};

const ACTIVE: readonly RolloutStep['status'][] = ['proposing', 'waiting-approval', 'queued', 'applying'];

export class RolloutEngine implements Endpoints {
  private readonly options: RolloutEngineOptions;
  private readonly clock: Clock;
  /** The work under way per rollout: its updates run one after the other. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Background work (proposing a step, applying a finished apply's outcome): idle() waits for it. */
  private readonly background = new Set<Promise<void>>();
  private readonly unsubscribe: () => void;
  /** close() was called: no step starts any more (resume() picks them up after the restart). */
  private closing = false;

  constructor(options: RolloutEngineOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    // A step's apply started: queued → applying (the queue publishes it).
    this.unsubscribe = options.bus.subscribe((event) => {
      if (event.type === 'change.started' && event.rollout !== undefined) {
        const { rollout, change } = event;
        this.spawn(() => this.stepStarted(rollout, change));
      }
    });
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private newId(): string {
    return this.options.newId?.() ?? `r-${randomBytes(4).toString('hex')}`;
  }

  // -------------------------------------------------------------------------------------------------------
  // The endpoints

  async create(request: RolloutRequest, actor: string): Promise<Rollout> {
    const config = await this.options.config();
    const envs = request.environments;
    if (envs.length < 1 || envs.length > MAX_ROLLOUT_ENVIRONMENTS) throw new UsageError(`a rollout names 1 to ${MAX_ROLLOUT_ENVIRONMENTS} environments, got ${envs.length}`);
    const twice = envs.filter((e, i) => envs.indexOf(e) !== i);
    if (twice.length > 0) throw new UsageError(`environment ${twice[0]} is named twice; a rollout applies to each environment once`);
    if (!config.components.has(request.component)) throw unknownComponent(request.component, config.components.keys());
    for (const env of envs) {
      if (!config.project.environments.has(env)) throw unknownEnvironment(env, config.project.environments.keys());
      const there = config.deployments.filter((d) => d.env === env).map((d) => d.component);
      if (!there.includes(request.component)) throw notDeployed(request.component, env, there);
    }
    const at = this.now();
    const rollout: Rollout = {
      id: this.newId(),
      component: request.component,
      input: request.input,
      ...(request.message?.trim() ? { message: request.message.trim().split('\n')[0]! } : {}),
      approval: request.approval ?? 'auto',
      actor,
      createdAt: at,
      updatedAt: at,
      status: 'running',
      // The first step starts at once: creating the rollout is its decision.
      steps: envs.map((env, i) => (i === 0 ? { env, change: null, status: 'proposing', startedAt: at } : { env, change: null, status: 'pending' })),
      version: 1,
    };
    await this.options.store.create(rollout);
    this.publishSteps(undefined, rollout);
    this.options.log.info({ rollout: rollout.id, component: rollout.component, environments: envs, approval: rollout.approval }, 'rollout created');
    this.spawn(() => this.proposeStep(rollout.id, 0));
    return rollout;
  }

  async get(id: string): Promise<Rollout> {
    const rollout = await this.options.store.get(id);
    if (rollout) return rollout;
    const known = (await this.options.store.list({ limit: 20 })).map((r) => r.id);
    throw new NotFoundError(`unknown rollout "${id}"; the latest: ${known.join(', ') || 'none'}`, { kind: 'rollout', value: id, known });
  }

  async list(options: { readonly limit?: number }): Promise<readonly Rollout[]> {
    const limit = options.limit ?? DEFAULT_ROLLOUTS_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ROLLOUTS_LIMIT) throw new UsageError(`limit must be an integer from 1 to ${MAX_ROLLOUTS_LIMIT}, got ${limit}`);
    return this.options.store.list({ limit });
  }

  /** Approves the step waiting for it: its apply is queued under the approver's name. */
  async approve(id: string, actor: string): Promise<Rollout> {
    await this.get(id); // unknown: NotFoundError
    const { rollout, item } = await this.serial(id, async () => {
      const current = await this.get(id);
      const index = current.steps.findIndex((s) => s.status === 'waiting-approval');
      if (current.status !== 'waiting-approval' || index < 0) {
        throw new ConflictError(`rollout ${id} is ${current.status}: no step waits for an approval`);
      }
      const step = current.steps[index]!;
      const next = await this.save(current, { status: 'running' }, { [index]: { ...step, status: 'queued', approvedBy: actor } });
      return { rollout: next, item: await this.enqueueStep(next, index) };
    });
    if (!item) return this.get(id);
    return rollout;
  }

  // -------------------------------------------------------------------------------------------------------
  // Restart, and the queue's news

  /**
   * After a restart: every rollout still running or waiting is picked up. A step proposing is proposed again (a
   * change made just before the stop, not yet recorded, stays an open proposal nobody applies); a step queued or
   * applying whose apply is not in the queue is enqueued; one whose apply finished meanwhile gets its outcome.
   */
  async resume(): Promise<{ readonly resumed: readonly string[] }> {
    const open = await this.options.store.list({ status: ['running', 'waiting-approval'] });
    for (const rollout of open) {
      const index = rollout.steps.findIndex((s) => ACTIVE.includes(s.status));
      if (index < 0) continue;
      const step = rollout.steps[index]!;
      if (step.status === 'proposing') this.spawn(() => this.proposeStep(rollout.id, index));
      else if ((step.status === 'queued' || step.status === 'applying') && step.change !== null) {
        const change = step.change;
        const item = await this.options.queue.get(change);
        if (item?.state === 'done' && item.rollout === rollout.id) this.spawn(() => this.finished(item));
        else if (!item || item.state === 'done') this.spawn(() => this.serial(rollout.id, async () => this.enqueueStep(await this.get(rollout.id), index)));
      }
      this.options.log.info({ rollout: rollout.id, step: step.env, status: step.status }, 'rollout resumed');
    }
    return { resumed: open.map((r) => r.id) };
  }

  /** The queue finished an apply (QueueWorker's onFinished): a rollout's step succeeded or failed. */
  onFinished(item: QueuedApply): Promise<void> {
    if (item.rollout === undefined) return Promise.resolve();
    return this.track(this.finished(item));
  }

  /** Resolves when no background work is under way (tests, and the service's stop). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Stops listening to the bus and waits for the work under way. */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    await this.idle();
  }

  // -------------------------------------------------------------------------------------------------------
  // The steps

  private async proposeStep(id: string, index: number): Promise<void> {
    const rollout = await this.get(id);
    const step = rollout.steps[index];
    if (!step || step.status !== 'proposing' || step.change !== null) return;
    const request: RolloutRequest = {
      component: rollout.component,
      input: rollout.input,
      environments: rollout.steps.map((s) => s.env),
      approval: rollout.approval,
      // The proposal's commit message names the rollout: `karma proposals` and the Git history say where it came from.
      message: `${rollout.message ?? `change ${rollout.component} in ${step.env}`} (rollout ${rollout.id})`,
    };
    let outcome: { ok: true; change: string } | { ok: true; noChange: true } | { ok: false; reason: string };
    try {
      const proposed = await this.options.propose(step.env, request, rollout.actor);
      outcome = judgeProposal(proposed);
    } catch (error) {
      // The environment already holds these inputs: nothing to apply there.
      outcome = error instanceof UsageError && error.message.startsWith('no change') ? { ok: true, noChange: true } : { ok: false, reason: oneLine(messageOf(error)) };
    }
    await this.serial(id, async () => {
      const current = await this.get(id);
      const now = current.steps[index]!;
      if (now.status !== 'proposing' || now.change !== null) return;
      if (!outcome.ok) return this.fail(current, index, { ...now, status: 'failed', reason: outcome.reason, finishedAt: this.now() });
      if ('noChange' in outcome) return this.succeed(current, index, { ...now, status: 'succeeded', reason: 'no change: the environment already has these inputs', finishedAt: this.now() });
      if (current.approval === 'manual' && index > 0) {
        await this.save(current, { status: 'waiting-approval' }, { [index]: { ...now, change: outcome.change, status: 'waiting-approval' } });
        return;
      }
      const next = await this.save(current, {}, { [index]: { ...now, change: outcome.change, status: 'queued' } });
      await this.enqueueStep(next, index);
    });
  }

  /** Puts a step's apply in the queue (its status is already queued); a refusal fails the step. */
  private async enqueueStep(rollout: Rollout, index: number): Promise<QueuedApply | undefined> {
    const step = rollout.steps[index]!;
    try {
      return await this.options.enqueue({
        id: step.change!,
        env: step.env,
        component: rollout.component,
        actor: step.approvedBy ?? rollout.actor,
        allowDestroy: false,
        includePending: false,
        rollout: rollout.id,
      });
    } catch (error) {
      if (error instanceof QueueStoppingError) {
        // The step stays queued without a queue entry: resume() queues it after the restart.
        this.options.log.info({ rollout: rollout.id, step: step.env }, 'the queue is stopping: the step is queued at the next start');
        return undefined;
      }
      await this.fail(rollout, index, { ...step, status: 'failed', reason: oneLine(`could not queue its apply: ${messageOf(error)}`), finishedAt: this.now() });
      return undefined;
    }
  }

  private async stepStarted(id: string, change: string): Promise<void> {
    await this.serial(id, async () => {
      const rollout = await this.options.store.get(id);
      const index = rollout?.steps.findIndex((s) => s.change === change && s.status === 'queued') ?? -1;
      if (!rollout || index < 0) return;
      await this.save(rollout, {}, { [index]: { ...rollout.steps[index]!, status: 'applying' } });
    });
  }

  private async finished(item: QueuedApply): Promise<void> {
    const id = item.rollout!;
    await this.serial(id, async () => {
      const rollout = await this.options.store.get(id);
      const index = rollout?.steps.findIndex((s) => s.change === item.id && (s.status === 'queued' || s.status === 'applying')) ?? -1;
      if (!rollout || index < 0) return;
      const step = rollout.steps[index]!;
      const result = oneLine(item.result ?? item.outcome ?? 'finished');
      if (item.outcome === 'succeeded') await this.succeed(rollout, index, { ...step, status: 'succeeded', reason: result, finishedAt: item.finishedAt ?? this.now() });
      else await this.fail(rollout, index, { ...step, status: 'failed', reason: result, finishedAt: item.finishedAt ?? this.now() });
    });
  }

  /** The step succeeded: the next one starts (proposing), or the rollout succeeded. One update. */
  private async succeed(rollout: Rollout, index: number, step: RolloutStep): Promise<void> {
    const nextStep = rollout.steps[index + 1];
    if (!nextStep) {
      await this.save(rollout, { status: 'succeeded' }, { [index]: step });
      return;
    }
    const next = await this.save(rollout, { status: 'running' }, { [index]: step, [index + 1]: { ...nextStep, status: 'proposing', startedAt: this.now() } });
    // While stopping, the next step stays proposing (no change yet): resume() proposes it after the restart.
    if (!this.closing) this.spawn(() => this.proposeStep(next.id, index + 1));
  }

  /** The step failed: so does the rollout (`<env>: <reason>`), and the steps after it are skipped. One update. */
  private async fail(rollout: Rollout, index: number, step: RolloutStep): Promise<void> {
    const skipped: Record<number, RolloutStep> = { [index]: step };
    for (let i = index + 1; i < rollout.steps.length; i++) skipped[i] = { ...rollout.steps[i]!, status: 'skipped', reason: `${step.env} failed` };
    await this.save(rollout, { status: 'failed', reason: oneLine(`${step.env}: ${step.reason ?? 'failed'}`) }, skipped);
  }

  // -------------------------------------------------------------------------------------------------------
  // Storing and telling

  /** Writes the next version (changed fields and steps by index) and publishes what moved. */
  private async save(rollout: Rollout, fields: Partial<Pick<Rollout, 'status' | 'reason'>>, steps: Record<number, RolloutStep>): Promise<Rollout> {
    const next: Rollout = {
      ...rollout,
      ...fields,
      steps: rollout.steps.map((s, i) => steps[i] ?? s),
      updatedAt: this.now(),
      version: rollout.version + 1,
    };
    const stored = await this.options.store.update(next);
    this.publishSteps(rollout, stored);
    return stored;
  }

  private publishSteps(before: Rollout | undefined, after: Rollout): void {
    const { bus } = this.options;
    after.steps.forEach((step, i) => {
      const was = before?.steps[i];
      if (was && was.status === step.status && was.change === step.change) return;
      if (!was && step.status === 'pending') return;
      bus.publish({ type: 'rollout.step', rollout: after.id, component: after.component, env: step.env, change: step.change, status: step.status, ...(step.reason !== undefined ? { reason: step.reason } : {}) });
    });
    if ((after.status === 'succeeded' || after.status === 'failed') && before?.status !== after.status) {
      bus.publish({ type: 'rollout.finished', rollout: after.id, component: after.component, status: after.status, ...(after.reason !== undefined ? { reason: after.reason } : {}) });
      this.options.log.info({ rollout: after.id, status: after.status, reason: after.reason }, 'rollout finished');
    }
  }

  /** Runs `work` after the work already queued for rollout `id`. */
  private serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.chains.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(id, settled);
    void settled.then(() => {
      if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return run;
  }

  private spawn(work: () => Promise<unknown>): void {
    void this.track(
      Promise.resolve()
        .then(work)
        .then(() => undefined),
    );
  }

  private track(work: Promise<void>): Promise<void> {
    const logged = work.catch((error: unknown) => this.options.log.error({ error: messageOf(error) }, 'rollout step could not be recorded'));
    this.background.add(logged);
    void logged.finally(() => this.background.delete(logged));
    return logged;
  }
}

/** A step's change as proposed: queued (its id), or why it cannot be applied by a rollout. */
function judgeProposal(proposed: RequestedChange): { ok: true; change: string } | { ok: false; reason: string } {
  if (!proposed.id) return { ok: false, reason: 'no change was recorded' };
  const plan = proposed.plan;
  if (plan === null) return { ok: false, reason: `${proposed.id}: no plan was made` };
  if (plan.status === 'failed') return { ok: false, reason: oneLine(`${proposed.id}: terraform plan failed: ${plan.error}`) };
  if (plan.status === 'skipped') return { ok: false, reason: oneLine(`${proposed.id}: ${plan.reason}`) };
  const gone = plan.resources.filter((r) => r.action === 'delete' || r.action === 'replace');
  if (gone.length > 0) {
    return { ok: false, reason: oneLine(`${proposed.id}: its plan destroys or replaces ${gone.map((r) => r.address).join(', ')}; a rollout never destroys: apply it with karma apply ${proposed.id} --allow-destroy`) };
  }
  return { ok: true, change: proposed.id };
}
