/**
 * The service's change queue worker (issue 13, docs/rollouts.md "The change queue"): `POST /changes/{id}/apply`
 * and each rollout step ENQUEUE an apply; this worker applies one change per environment at a time, oldest
 * first per environment, environments in parallel. The queue is durable (lib/ports.ts ChangeQueue: SQLite
 * locally, DynamoDB in AWS), so a service killed mid-apply loses nothing:
 *
 *   start()   recovery first: every entry still `running` is released back to `queued` (its place kept: first
 *             in line). The service is ONE instance per queue (one `karma serve` per config repo and store), so an
 *             entry running at start-up belongs to a process that is gone, whichever owner it names. The runner
 *             then sees attempt > 1 and decides what a re-run means (lib/service/local-runner.ts: a change that
 *             had finished is finished in the queue without applying again; an interrupted one is resumed).
 *   loop      for each environment, `claimNext` (atomic: nothing of that environment running → the oldest queued
 *             entry becomes running, attempts + 1); the runner applies it with an AbortSignal; `finish` records
 *             the outcome; change.started / change.finished are published and `onFinished` is called.
 *   stop()    no new work; running applies get `timeoutMs` to end; those still running after it are aborted
 *             (Terraform is interrupted cleanly) and, with `handBack`, released to the queue for the next start.
 */
import { KarmaError } from '../core/errors.ts';
import { systemClock, type ChangeQueue, type Clock, type EnqueueRequest, type QueuedApply } from '../ports.ts';
import type { EventBus } from '../app/events.ts';

/** What an apply ended with: the queue entry's outcome and its one-line result. */
export interface ApplyOutcome {
  readonly outcome: 'succeeded' | 'failed';
  readonly result: string;
}

/** Applies one queued change. `item.attempts > 1`: a restart found it running (see lib/service/local-runner.ts). */
export interface ApplyRunner {
  run(item: QueuedApply, signal: AbortSignal): Promise<ApplyOutcome>;
  /** Called once an entry is in the queue (the local runner records change.apply-queued in the audit log). */
  queued?(item: QueuedApply): Promise<void>;
}

/** The worker's logger: the service's structured one (pino), or anything with these two. */
export interface QueueLog {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface QueueWorkerOptions {
  readonly queue: ChangeQueue;
  readonly runner: ApplyRunner;
  readonly bus: EventBus;
  /** The environments to serve (karma.yaml's, read again on each pass: a new environment is picked up). */
  readonly envs: () => readonly string[];
  /** This instance, as the queue records it (host:pid:start). */
  readonly owner: string;
  readonly log: QueueLog;
  /** How often the queue is looked at without a kick (default 2 s): an entry another writer added is found. */
  readonly pollMs?: number;
  readonly clock?: Clock;
  /** After an apply finished and the queue recorded it (the rollout engine listens). Errors are logged. */
  readonly onFinished?: (item: QueuedApply) => void | Promise<void>;
}

export interface QueueWorkerStatus {
  readonly state: 'idle' | 'running' | 'stopping' | 'stopped';
  /** The change ids running now, by environment. */
  readonly running: Readonly<Record<string, string>>;
  readonly started: boolean;
}

export const DEFAULT_POLL_MS = 2000;

/** The worker is stopping: nothing more is queued by this process (the API answers 503; retry after the restart). */
export class QueueStoppingError extends KarmaError {
  override readonly name: string = 'QueueStoppingError';
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface Running {
  readonly item: QueuedApply;
  readonly controller: AbortController;
  done: Promise<void>;
  /** Set when stop() handed it back: its outcome is not recorded. */
  handedBack: boolean;
}

export class QueueWorker {
  private readonly options: QueueWorkerOptions;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly running = new Map<string, Running>();
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private timer: NodeJS.Timeout | undefined;
  /** A pass over the environments in progress, and whether another was asked for meanwhile. */
  private pass: Promise<void> | undefined;
  private again = false;
  private onFinishedHook: QueueWorkerOptions['onFinished'];

  constructor(options: QueueWorkerOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.onFinishedHook = options.onFinished;
  }

  /** Sets the hook called after each finished apply (the rollout engine, built after the worker, sets it). */
  set onFinished(hook: QueueWorkerOptions['onFinished']) {
    this.onFinishedHook = hook;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  /**
   * Recovery, then the loop. Every entry still running is released (one service instance: its owner is gone);
   * returns the ids released, which the runner will see with attempts > 1.
   */
  async start(): Promise<{ readonly released: readonly string[] }> {
    if (this.state !== 'new') throw new Error('QueueWorker.start: already started');
    const stale = await this.options.queue.list({ states: ['running'] });
    for (const item of stale) {
      await this.options.queue.release(item.id);
      this.options.log.info({ change: item.id, env: item.env, owner: item.owner, attempts: item.attempts }, 'released an apply interrupted by the last stop; it runs again');
    }
    this.state = 'started';
    this.schedule();
    this.kick();
    return { released: stale.map((i) => i.id) };
  }

  /** Adds an apply to the queue (ConflictError when that change is already queued or running) and wakes the loop. */
  async enqueue(request: EnqueueRequest): Promise<QueuedApply> {
    if (this.state === 'stopping' || this.stopped) throw new QueueStoppingError('karma serve is stopping: no new applies are queued; ask again once it has restarted');
    const item = await this.options.queue.enqueue(request, this.now());
    try {
      await this.options.runner.queued?.(item);
    } catch (error) {
      this.options.log.error({ change: item.id, error: messageOf(error) }, 'could not record the apply as queued');
    }
    this.options.bus.publish({
      type: 'change.queued',
      change: item.id,
      env: item.env,
      component: item.component,
      actor: item.actor,
      ...(item.rollout !== undefined ? { rollout: item.rollout } : {}),
    });
    this.kick();
    return item;
  }

  private get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Looks at the queue now (after an enqueue); a pass already under way runs once more after it. */
  kick(): void {
    if (this.state !== 'started') return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.claimAll()
      .catch((error: unknown) => this.options.log.error({ error: messageOf(error) }, 'the change queue could not be read'))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private schedule(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
  }

  private async claimAll(): Promise<void> {
    for (const env of this.options.envs()) {
      if (this.state !== 'started') return;
      if (this.running.has(env)) continue;
      const item = await this.options.queue.claimNext(env, this.options.owner, this.now());
      if (item) this.launch(item);
    }
  }

  private launch(item: QueuedApply): void {
    const controller = new AbortController();
    const entry: Running = { item, controller, handedBack: false, done: Promise.resolve() };
    this.running.set(item.env, entry);
    entry.done = this.apply(entry);
  }

  private async apply(entry: Running): Promise<void> {
    const { item, controller } = entry;
    const { bus, runner, queue, log } = this.options;
    const rollout = item.rollout !== undefined ? { rollout: item.rollout } : {};
    bus.publish({ type: 'change.started', change: item.id, env: item.env, component: item.component, attempt: item.attempts, ...rollout });
    log.info({ change: item.id, env: item.env, attempt: item.attempts }, 'apply started');
    let outcome: ApplyOutcome;
    try {
      outcome = await runner.run(item, controller.signal);
    } catch (error) {
      outcome = { outcome: 'failed', result: messageOf(error) };
    }
    try {
      if (entry.handedBack) {
        log.info({ change: item.id, env: item.env }, 'apply interrupted by the stop and handed back to the queue');
        return;
      }
      const done = await queue.finish(item.id, outcome.outcome, outcome.result, this.now());
      bus.publish({ type: 'change.finished', change: item.id, env: item.env, component: item.component, outcome: outcome.outcome, result: outcome.result, ...rollout });
      log.info({ change: item.id, env: item.env, outcome: outcome.outcome, result: outcome.result }, 'apply finished');
      try {
        await this.onFinishedHook?.(done);
      } catch (error) {
        log.error({ change: item.id, error: messageOf(error) }, 'after an apply finished, its listener failed');
      }
    } catch (error) {
      log.error({ change: item.id, error: messageOf(error) }, 'could not record the end of an apply');
    } finally {
      this.running.delete(item.env);
      this.kick();
    }
  }

  /**
   * Takes no new work; waits up to `timeoutMs` for the applies running; then aborts those still running (their
   * AbortSignal fires: Terraform is interrupted) and, with `handBack`, releases them to the queue so the next
   * start runs them again. Returns the ids handed back.
   */
  async stop(options: { readonly handBack: boolean; readonly timeoutMs: number }): Promise<{ readonly handedBack: readonly string[] }> {
    if (this.state === 'stopped') return { handedBack: [] };
    this.state = 'stopping';
    if (this.timer) clearInterval(this.timer);
    await this.pass;
    const all = (): Promise<unknown> => Promise.allSettled([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), options.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    const handedBack: string[] = [];
    if (timedOut) {
      for (const r of this.running.values()) {
        if (options.handBack) {
          r.handedBack = true;
          handedBack.push(r.item.id);
          await this.options.queue.release(r.item.id);
        }
        r.controller.abort(new Error('karma serve is stopping'));
      }
      await all();
    }
    this.state = 'stopped';
    return { handedBack };
  }

  /** How many applies wait and run, from the store (all environments): /healthz's `queue`. */
  async counts(): Promise<{ readonly queued: number; readonly running: number }> {
    const open = await this.options.queue.list({ states: ['queued', 'running'] });
    return { queued: open.filter((e) => e.state === 'queued').length, running: open.filter((e) => e.state === 'running').length };
  }

  status(): QueueWorkerStatus {
    const running = Object.fromEntries([...this.running.entries()].map(([env, r]) => [env, r.item.id]));
    const state = this.state === 'new' ? 'idle' : this.state === 'started' ? (this.running.size > 0 ? 'running' : 'idle') : this.state;
    return { state, running, started: this.state !== 'new' };
  }
}
