/**
 * The workspace the service's routes read: the local workspace's change use cases, with two differences.
 *   reads    answer from the live graph (always current: no cache age), and `refresh` polls the runtime and
 *            writes the graph store now;
 *   apply    enqueues: the decision is recorded (change.apply-queued) and the change waits its turn in the
 *            durable queue (one apply per environment at a time, first in first out).
 */
import { ConflictError } from '../core/errors.ts';
import { checkApply, getChange, requireDestroyAccepted, type Change } from '../app/changes.ts';
import { LocalWorkspace, type LocalWorkspaceOptions } from '../app/local-workspace.ts';
import type { ApplyRequest, Current } from '../app/workspace.ts';
import type { ChangeQueue, EnqueueRequest, QueuedApply } from '../ports.ts';
import type { LiveGraph } from './live-graph.ts';

export interface ServiceWorkspaceOptions extends LocalWorkspaceOptions {
  readonly live: () => LiveGraph;
  readonly queue: () => ChangeQueue;
  /** Records the decision (change.apply-queued), puts the apply in the queue and wakes the worker. */
  readonly enqueue: (request: EnqueueRequest) => Promise<QueuedApply>;
}

export class ServiceWorkspace extends LocalWorkspace {
  private readonly service: ServiceWorkspaceOptions;

  constructor(options: ServiceWorkspaceOptions) {
    super(options);
    this.service = options;
  }

  override async current(options: { readonly refresh?: boolean } = {}): Promise<Current> {
    const live = this.service.live();
    if (options.refresh) {
      await live.poll();
      await live.sync();
    }
    return live.current();
  }

  override async applyChange(id: string, request: ApplyRequest, actor: string): Promise<{ readonly change: Change; readonly execution: string | null }> {
    const ctx = await this.changeContext(actor);
    await getChange(ctx, id); // an unknown change is a 404
    const waiting = await this.service.queue().get(id);
    if (waiting && waiting.state !== 'done') throw new ConflictError(`change ${id} is already ${waiting.state === 'queued' ? 'in the queue' : 'being applied'}; follow GET /changes/${id}`);
    const checked = await checkApply(ctx, id);
    await requireDestroyAccepted(ctx, checked, request.allowDestroy);
    const { proposal } = checked;
    await this.service.enqueue({
      id: proposal.id,
      env: proposal.env,
      component: proposal.component,
      actor,
      allowDestroy: request.allowDestroy === true,
      includePending: request.includePending === true,
    });
    return { change: await getChange(ctx, proposal.id), execution: null };
  }
}
