/**
 * The long-running service `karma serve` starts (docs/service.md): one object that owns
 *
 *   the live graph      lib/service/live-graph.ts   loaded once, updated per changed parameter, synced to the store
 *   the change queue    lib/service/queue.ts        durable, FIFO per environment, one apply per environment
 *   the rollouts        lib/service/rollouts.ts     one change per environment, in order, approvals
 *   the notifications   lib/service/notifications.ts  webhooks (signed, retried) and SNS, from the event bus
 *
 * and answers what the service routes need (ServiceEndpoints, lib/api/service.ts). Every apply runs the change
 * use cases of lib/app/changes.ts, as `karma apply` does.
 *
 * Start: the config loads (a broken one is exit 2 before anything listens), the stores open, the graph loads,
 * rollouts resume, the queue recovers what a crash left running. Stop (SIGTERM): not ready, no new work; the
 * running apply gets `stopTimeoutMs` to finish, then is interrupted and handed back to the queue (the next start
 * re-runs it); the graph is written once more.
 */
import { hostname } from 'node:os';
import type { Config } from '../core/model.ts';
import { EventBus } from '../app/events.ts';
import { openBackend, type Backend } from '../app/backend.ts';
import { requestChange } from '../app/changes.ts';
import { isGitUrl, openConfigSource } from '../app/open.ts';
import { openServiceStores } from '../app/service-stores.ts';
import type { LocalWorkspaceOptions } from '../app/local-workspace.ts';
import { executionOfRun, proposalRequest } from '../app/workspace.ts';
import type { ServiceEndpoints, ServiceHealth } from '../api/service.ts';
import type { FailedDelivery, ServiceStores } from '../ports.ts';
import { LiveGraph } from './live-graph.ts';
import { LocalApplyRunner } from './local-runner.ts';
import { errorLine, type Log } from './log.ts';
import { startNotifications } from './notifications.ts';
import { QueueWorker, type QueueLog } from './queue.ts';
import { RolloutEngine } from './rollouts.ts';
import { ServiceWorkspace } from './workspace.ts';

export interface ServiceOptions extends Omit<LocalWorkspaceOptions, 'cacheSeconds' | 'warn'> {
  readonly log: Log;
  /** How often the runtime change feed is read (default 250 ms). */
  readonly pollMs?: number;
  /** How often a changed graph is written to the graph store (default 30 s; 0: only at stop). */
  readonly syncSeconds?: number;
  /** A Git URL config: how often it is fetched (default 60 s). */
  readonly fetchSeconds?: number;
  /** How long a running apply may take to finish at stop before it is handed back (default 60 s). */
  readonly stopTimeoutMs?: number;
  /** The environment variables notifications read their secrets from. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The pino-style log the queue and rollouts take, over the service's. */
function fieldsFirst(log: Log): QueueLog {
  return { info: (fields, msg) => log.info(msg, fields), error: (fields, msg) => log.error(msg, fields) };
}

export class KarmaService implements ServiceEndpoints {
  readonly events: EventBus;
  readonly workspace: ServiceWorkspace;
  readonly rollouts: RolloutEngine;
  private readonly live: LiveGraph;
  private readonly worker: QueueWorker;
  private readonly stores: ServiceStores;
  private readonly backend: Backend;
  private readonly notifications: { stop(): Promise<void> };
  private readonly options: ServiceOptions;
  private stopping = false;

  private constructor(parts: {
    options: ServiceOptions;
    workspace: ServiceWorkspace;
    live: LiveGraph;
    worker: QueueWorker;
    rollouts: RolloutEngine;
    stores: ServiceStores;
    backend: Backend;
    notifications: { stop(): Promise<void> };
    events: EventBus;
  }) {
    this.options = parts.options;
    this.workspace = parts.workspace;
    this.live = parts.live;
    this.worker = parts.worker;
    this.rollouts = parts.rollouts;
    this.stores = parts.stores;
    this.backend = parts.backend;
    this.notifications = parts.notifications;
    this.events = parts.events;
  }

  static async start(options: ServiceOptions): Promise<KarmaService> {
    const log = options.log;
    const events = new EventBus();
    const owner = `${hostname()}:${process.pid}:${Date.now()}`;
    // Filled in below: the workspace's reads need the live graph, the live graph nothing of the workspace.
    let live: LiveGraph | undefined;
    let worker: QueueWorker | undefined;
    let stores: ServiceStores | undefined;
    const workspace = new ServiceWorkspace({
      ...options,
      warn: (m) => log.warn(m),
      live: () => live!,
      queue: () => stores!.queue,
      enqueue: (request) => worker!.enqueue(request),
    });
    const config: Config = await workspace.config();
    const backendOptions = {
      baseDir: workspace.baseDir,
      create: true,
      ...(options.backend ? { type: options.backend } : {}),
      ...(options.store ? { localPath: options.store } : {}),
      warn: (m: string) => log.warn(m),
    };
    const backend = await openBackend(config, backendOptions);
    try {
      const opened = await openServiceStores(config, backendOptions);
      stores = opened;
      live = new LiveGraph({
        source: () => openConfigSource(options.config, options.ref),
        runtime: backend.runtime,
        feed: opened.changes,
        bus: events,
        log,
        ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
        ...(isGitUrl(options.config) ? {} : { watchDir: workspace.baseDir }),
        ...(options.fetchSeconds !== undefined ? { fetchSeconds: options.fetchSeconds } : {}),
        sync: { graph: backend.graph, store: backend.description, ...(options.syncSeconds !== undefined ? { everySeconds: options.syncSeconds } : {}) },
      });
      await live.start();
      const runner = new LocalApplyRunner({
        context: (actor: string) => workspace.changeContext(actor),
        progress: (change, line) => log.debug('apply', { change, line }),
        // GET /executions/{id}: the dependents' pipeline runs this service made.
        onPipeline: (run, startedAt) => workspace.executions.set(run.executionId, executionOfRun(run, startedAt)),
      });
      let rollouts: RolloutEngine | undefined; // eslint-disable-line prefer-const -- assigned after the worker that calls it
      worker = new QueueWorker({
        queue: opened.queue,
        runner,
        bus: events,
        envs: () => [...live!.current().build.config.project.environments.keys()],
        owner,
        log: fieldsFirst(log),
        onFinished: async (item) => {
          // What the apply wrote is in the graph at once, not at the next poll.
          await live!.poll();
          await rollouts?.onFinished(item);
        },
      });
      rollouts = new RolloutEngine({
        store: opened.rollouts,
        queue: opened.queue,
        enqueue: (request) => worker!.enqueue(request),
        bus: events,
        config: () => workspace.config(),
        propose: async (env, request, actor) => requestChange(await workspace.changeContext(actor), proposalRequest({ component: request.component, env, input: request.input, ...(request.message !== undefined ? { message: request.message } : {}) })),
        log: fieldsFirst(log),
      });
      const resumed = await rollouts.resume();
      const { released } = await worker.start();
      if (released.length > 0) log.warn('applies a previous run left unfinished are queued again', { changes: released });
      if (resumed.resumed.length > 0) log.info('rollouts resumed', { rollouts: resumed.resumed });
      const notifications = startNotifications({ bus: events, config, deliveries: opened.deliveries, env: options.env ?? process.env, log });
      return new KarmaService({ options, workspace, live, worker, rollouts, stores: opened, backend, notifications, events });
    } catch (error) {
      await live?.stop().catch(() => undefined);
      await stores?.close().catch(() => undefined);
      await backend.close().catch(() => undefined);
      throw error;
    }
  }

  readiness(): { readonly ready: boolean; readonly reason?: string } {
    if (this.stopping) return { ready: false, reason: 'stopping: no new work is taken' };
    if (!this.live.ready) return { ready: false, reason: 'the graph is loading' };
    return { ready: true };
  }

  async health(): Promise<ServiceHealth> {
    const [queued, running] = await Promise.all([this.stores.queue.list({ states: ['queued'] }), this.stores.queue.list({ states: ['running'] })]);
    return { graph: this.live.info(), sync: this.live.syncReport(), queue: { queued: queued.length, running: running.length } };
  }

  async failedNotifications(options: { readonly limit?: number }): Promise<readonly FailedDelivery[]> {
    return this.stores.deliveries.listFailed(options);
  }

  /** A signed push or an operator: fetch the config now. */
  configChanged(why: string): void {
    this.live.configChanged(why);
  }

  /** Stop taking work, let the running apply finish (or hand it back), write the graph, close the stores. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const log = this.options.log;
    // No new rollout step first, then the queue: the running apply finishes or is handed back.
    await this.rollouts.close();
    const { handedBack } = await this.worker.stop({ handBack: true, timeoutMs: this.options.stopTimeoutMs ?? 60_000 });
    if (handedBack.length > 0) log.warn('applies interrupted at stop are back in the queue: the next start re-runs them', { changes: handedBack });
    await this.notifications.stop().catch((error: unknown) => log.warn('notifications did not stop cleanly', { error: errorLine(error) }));
    await this.live.stop();
    await this.workspace.close();
    await this.stores.close();
    await this.backend.close();
  }
}
