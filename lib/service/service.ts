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
import { KarmaError, UsageError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import { EventBus } from '../app/events.ts';
import { openBackend, type Backend, type BackendType } from '../app/backend.ts';
import { loadConfig } from '../app/build.ts';
import type { Change, RequestedChange } from '../app/changes.ts';
import { isGitUrl, openConfigSource } from '../app/open.ts';
import { openServiceStores } from '../app/service-stores.ts';
import type { LocalWorkspaceOptions } from '../app/local-workspace.ts';
import { executionOfRun, type Workspace } from '../app/workspace.ts';
import type { RolloutRequest, ServiceEndpoints, ServiceHealth } from '../api/service.ts';
import type { EnqueueRequest, FailedDelivery, PipelineExecutions, QueuedApply, Rollout, ServiceStores } from '../ports.ts';
import { AwsApplyRunner } from './aws-runner.ts';
import { AwsServiceWorkspace } from './aws-workspace.ts';
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
  /** The environment: notifications' secrets; in AWS the stack's settings (docs/service.md "In AWS"). */
  readonly env?: NodeJS.ProcessEnv;
  /** In AWS: the executions port (tests; default Step Functions) and how often an execution is described (5 s). */
  readonly executions?: PipelineExecutions;
  readonly followPollMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Where the queue applies (docs/service.md "In AWS"): the mode is chosen once, at start, from the config location,
// the backend and the environment.

/** The queue cannot apply in this set-up: POST /changes/{id}/apply and POST /rollouts answer 503 saying what to set. */
export class ApplyUnavailableError extends KarmaError {
  override readonly name: string = 'ApplyUnavailableError';
}

/**
 *   local   a config directory (a Git clone): the change use cases run here, Terraform included (LocalApplyRunner)
 *   aws     a Git URL + backend aws + KARMA_STATE_MACHINE_ARN: proposals pushed to the remote, the applies run by
 *           the deployed state machine, started and followed by the queue (AwsApplyRunner)
 *   none    a Git URL otherwise: reads only; `why` is the one line the apply routes answer
 */
export type ApplyMode = { readonly kind: 'local' } | { readonly kind: 'aws' } | { readonly kind: 'none'; readonly why: string };

export function applyMode(config: string, backend: BackendType, env: NodeJS.ProcessEnv): ApplyMode {
  if (!isGitUrl(config)) return { kind: 'local' };
  if (backend !== 'aws') {
    return { kind: 'none', why: `karma serve cannot apply changes here: the config is a Git URL with backend ${backend}; start it with --config DIR (a local clone) to apply here, or with backend aws and KARMA_STATE_MACHINE_ARN to apply through the deployed pipeline` };
  }
  if (!env['KARMA_STATE_MACHINE_ARN']) {
    return { kind: 'none', why: 'karma serve cannot apply changes here: KARMA_STATE_MACHINE_ARN is not set (the StateMachineArn output of the deployed stack); with a Git URL config and backend aws the applies run in the deployed pipeline' };
  }
  return { kind: 'aws' };
}

/**
 * The backend: --backend, else KARMA_BACKEND (the stack sets it for the Fargate task, as for the pipeline), else
 * karma.yaml's.
 */
export function serviceBackend(option: BackendType | undefined, env: NodeJS.ProcessEnv, config: Config): BackendType {
  if (option) return option;
  const named = env['KARMA_BACKEND'];
  if (named === undefined || named === '') return config.project.backend.type;
  if (named !== 'aws' && named !== 'local') throw new UsageError(`KARMA_BACKEND must be aws or local, got "${named}"`);
  return named;
}

/** The local workspace, when its queue cannot apply (a Git URL config): proposing and applying say why. */
class ReadOnlyServiceWorkspace extends ServiceWorkspace {
  private readonly why: string;

  constructor(options: ConstructorParameters<typeof ServiceWorkspace>[0], why: string) {
    super(options);
    this.why = why;
  }

  override requestChange(): Promise<RequestedChange> {
    return Promise.reject(new ApplyUnavailableError(this.why));
  }

  override applyChange(): Promise<{ readonly change: Change; readonly execution: string | null }> {
    return Promise.reject(new ApplyUnavailableError(this.why));
  }
}

/** The pino-style log the queue and rollouts take, over the service's. */
function fieldsFirst(log: Log): QueueLog {
  return { info: (fields, msg) => log.info(msg, fields), error: (fields, msg) => log.error(msg, fields) };
}

export class KarmaService implements ServiceEndpoints {
  readonly events: EventBus;
  readonly workspace: Workspace;
  readonly mode: ApplyMode;
  /** The routes' rollouts: the engine's, or refusals when this mode cannot run them. */
  readonly rollouts: ServiceEndpoints['rollouts'];
  private readonly engine: RolloutEngine;
  private readonly live: LiveGraph;
  private readonly worker: QueueWorker;
  private readonly stores: ServiceStores;
  private readonly backend: Backend;
  private readonly notifications: { stop(): Promise<void> };
  private readonly options: ServiceOptions;
  private stopping = false;

  private constructor(parts: {
    options: ServiceOptions;
    workspace: Workspace;
    mode: ApplyMode;
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
    this.engine = parts.rollouts;
    this.mode = parts.mode;
    this.rollouts = rolloutsIn(parts.mode, parts.rollouts);
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
    const env = options.env ?? process.env;
    // A Git URL is read at the tracked branch the stack names (KARMA_CONFIG_BRANCH) unless --ref says otherwise: the
    // live graph reads the branch the AWS apply merges into.
    const ref = options.ref ?? (isGitUrl(options.config) ? env['KARMA_CONFIG_BRANCH'] || undefined : undefined);
    const config: Config = await loadConfig(openConfigSource(options.config, ref));
    const backendType = serviceBackend(options.backend, env, config);
    const mode = applyMode(options.config, backendType, env);
    const serviceParts = {
      live: () => live!,
      queue: () => stores!.queue,
      enqueue: (request: EnqueueRequest): Promise<QueuedApply> => worker!.enqueue(request),
    };
    const local = { ...options, ...(ref ? { ref } : {}), backend: backendType, warn: (m: string) => log.warn(m), ...serviceParts };
    const workspace =
      mode.kind === 'aws'
        ? new AwsServiceWorkspace({ config: options.config, ...(ref ? { ref } : {}), env, ...(options.executions ? { executions: options.executions } : {}), ...serviceParts })
        : mode.kind === 'none'
          ? new ReadOnlyServiceWorkspace(local, mode.why)
          : new ServiceWorkspace(local);
    if (mode.kind === 'none') log.warn(mode.why);
    const baseDir = workspace instanceof ServiceWorkspace ? workspace.baseDir : process.cwd();
    const backendOptions = {
      baseDir,
      create: true,
      type: backendType,
      ...(options.store ? { localPath: options.store } : {}),
      warn: (m: string) => log.warn(m),
    };
    const backend = await openBackend(config, backendOptions);
    try {
      const opened = await openServiceStores(config, backendOptions);
      stores = opened;
      live = new LiveGraph({
        source: () => openConfigSource(options.config, ref),
        runtime: backend.runtime,
        feed: opened.changes,
        bus: events,
        log,
        ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
        ...(isGitUrl(options.config) ? {} : { watchDir: baseDir }),
        ...(options.fetchSeconds !== undefined ? { fetchSeconds: options.fetchSeconds } : {}),
        sync: { graph: backend.graph, store: backend.description, ...(options.syncSeconds !== undefined ? { everySeconds: options.syncSeconds } : {}) },
      });
      await live.start();
      const runner =
        workspace instanceof AwsServiceWorkspace
          ? new AwsApplyRunner({
              changes: workspace.changes,
              describe: (arn) => workspace.describe(arn),
              ...(options.followPollMs !== undefined ? { pollMs: options.followPollMs } : {}),
              progress: (change, line) => log.debug('apply', { change, line }),
            })
          : new LocalApplyRunner({
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
        config: () => loadConfig(openConfigSource(options.config, ref)),
        // Through the workspace: a local proposal (planned here), or one pushed to the remote in AWS.
        propose: (env, request, actor) => workspace.requestChange({ component: request.component, env, input: request.input, ...(request.message !== undefined ? { message: request.message } : {}) }, actor),
        log: fieldsFirst(log),
      });
      const resumed = await rollouts.resume();
      const { released } = await worker.start();
      if (released.length > 0) log.warn('applies a previous run left unfinished are queued again', { changes: released });
      if (resumed.resumed.length > 0) log.info('rollouts resumed', { rollouts: resumed.resumed });
      const notifications = startNotifications({ bus: events, config, deliveries: opened.deliveries, env, log });
      return new KarmaService({ options, workspace, mode, live, worker, rollouts, stores: opened, backend, notifications, events });
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
    await this.engine.close();
    const { handedBack } = await this.worker.stop({ handBack: true, timeoutMs: this.options.stopTimeoutMs ?? 60_000 });
    if (handedBack.length > 0) log.warn('applies interrupted at stop are back in the queue: the next start re-runs them', { changes: handedBack });
    await this.notifications.stop().catch((error: unknown) => log.warn('notifications did not stop cleanly', { error: errorLine(error) }));
    await this.live.stop();
    await this.workspace.close();
    await this.stores.close();
    await this.backend.close();
  }
}

/**
 * POST /rollouts per mode. Locally: the engine. In AWS: refused (503) — a rollout step must have a plan that
 * destroys nothing (lib/service/rollouts.ts), and in AWS the deployed pipeline plans in CodeBuild, after the
 * decision; apply each environment's change with POST /changes/{id}/apply. Without a way to apply: refused, saying
 * what to set. Reading rollouts is always served.
 */
function rolloutsIn(mode: ApplyMode, engine: RolloutEngine): ServiceEndpoints['rollouts'] {
  if (mode.kind === 'local') return engine;
  const why =
    mode.kind === 'none'
      ? mode.why
      : 'rollouts are not run by karma serve in AWS: each step needs a terraform plan that destroys nothing, and there the deployed pipeline plans in CodeBuild only once applied; propose and apply each environment\'s change (POST /request-change, POST /changes/{id}/apply)';
  return {
    create: (_request: RolloutRequest, _actor: string): Promise<Rollout> => Promise.reject(new ApplyUnavailableError(why)),
    get: (id) => engine.get(id),
    list: (options) => engine.list(options),
    approve: (id, actor) => engine.approve(id, actor),
  };
}
