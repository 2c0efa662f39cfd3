/**
 * In-memory ChangeQueue and RolloutStore (lib/ports.ts, the service's durable state) for the unit tests of
 * lib/service: the ports' rules without a database. Faithful on what the queue worker and the rollout engine rely
 * on: enqueue refuses an id queued or running (ConflictError) and replaces a done one (attempts back to 0);
 * claimNext is atomic (synchronous between two awaits: nothing interleaves), takes the oldest queued entry of an
 * environment only when nothing of it runs, and counts the attempt; release hands a running entry back keeping
 * its seq (first in line again); finish needs a running entry. The rollout store refuses an existing id and an
 * update from a stale copy (ConflictError), and lists newest first.
 *
 * Entries are copied in and out, as a database would: a caller holding an old copy cannot change the store.
 */
import { ConflictError, NotFoundError } from '../../lib/core/errors.ts';
import type { ChangeQueue, EnqueueRequest, QueueState, QueuedApply, Rollout, RolloutStatus, RolloutStore } from '../../lib/ports.ts';

const copy = <T>(value: T): T => structuredClone(value);

export class InMemoryChangeQueue implements ChangeQueue {
  readonly description = 'in-memory change queue';
  private readonly entries = new Map<string, QueuedApply>();
  private seq = 0;

  async enqueue(request: EnqueueRequest, at: string): Promise<QueuedApply> {
    const existing = this.entries.get(request.id);
    if (existing && existing.state !== 'done') throw new ConflictError(`change ${request.id} is already ${existing.state} in ${existing.env}'s queue`);
    const entry: QueuedApply = {
      id: request.id,
      env: request.env,
      component: request.component,
      actor: request.actor,
      allowDestroy: request.allowDestroy,
      includePending: request.includePending,
      ...(request.rollout !== undefined ? { rollout: request.rollout } : {}),
      state: 'queued',
      seq: ++this.seq,
      enqueuedAt: at,
      attempts: 0,
    };
    this.entries.set(entry.id, entry);
    return copy(entry);
  }

  async claimNext(env: string, owner: string, at: string): Promise<QueuedApply | null> {
    const ofEnv = [...this.entries.values()].filter((e) => e.env === env);
    if (ofEnv.some((e) => e.state === 'running')) return null;
    const next = ofEnv.filter((e) => e.state === 'queued').sort((a, b) => a.seq - b.seq)[0];
    if (!next) return null;
    const { finishedAt: _f, outcome: _o, result: _r, ...rest } = next;
    const claimed: QueuedApply = { ...rest, state: 'running', owner, startedAt: at, attempts: next.attempts + 1 };
    this.entries.set(claimed.id, claimed);
    return copy(claimed);
  }

  async finish(id: string, outcome: 'succeeded' | 'failed', result: string, at: string): Promise<QueuedApply> {
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(`no queued apply "${id}"`, { kind: 'change', value: id, known: [...this.entries.keys()] });
    if (entry.state !== 'running') throw new ConflictError(`change ${id} is ${entry.state}, not running: it cannot be finished`);
    const done: QueuedApply = { ...entry, state: 'done', outcome, result, finishedAt: at };
    this.entries.set(id, done);
    return copy(done);
  }

  async release(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry || entry.state !== 'running') return;
    const { owner: _owner, startedAt: _started, ...rest } = entry;
    this.entries.set(id, { ...rest, state: 'queued' });
  }

  async get(id: string): Promise<QueuedApply | undefined> {
    const entry = this.entries.get(id);
    return entry ? copy(entry) : undefined;
  }

  async list(options: { readonly env?: string; readonly states?: readonly QueueState[]; readonly limit?: number } = {}): Promise<QueuedApply[]> {
    const all = [...this.entries.values()]
      .filter((e) => (options.env === undefined || e.env === options.env) && (options.states === undefined || options.states.includes(e.state)))
      .sort((a, b) => a.seq - b.seq);
    return copy(options.limit === undefined ? all : all.slice(Math.max(0, all.length - options.limit)));
  }
}

export class InMemoryRolloutStore implements RolloutStore {
  readonly description = 'in-memory rollouts';
  private readonly rollouts = new Map<string, Rollout>();
  /** Order of creation, for "newest first" when two share a createdAt. */
  private readonly order = new Map<string, number>();

  async create(rollout: Rollout): Promise<void> {
    if (this.rollouts.has(rollout.id)) throw new ConflictError(`rollout ${rollout.id} already exists`);
    this.rollouts.set(rollout.id, copy({ ...rollout, version: 1 }));
    this.order.set(rollout.id, this.order.size);
  }

  async get(id: string): Promise<Rollout | undefined> {
    const rollout = this.rollouts.get(id);
    return rollout ? copy(rollout) : undefined;
  }

  async list(options: { readonly limit?: number; readonly status?: readonly RolloutStatus[] } = {}): Promise<Rollout[]> {
    const all = [...this.rollouts.values()]
      .filter((r) => options.status === undefined || options.status.includes(r.status))
      .sort((a, b) => (a.createdAt === b.createdAt ? this.order.get(b.id)! - this.order.get(a.id)! : b.createdAt.localeCompare(a.createdAt)));
    return copy(options.limit === undefined ? all : all.slice(0, options.limit));
  }

  async update(next: Rollout): Promise<Rollout> {
    const stored = this.rollouts.get(next.id);
    if (!stored) throw new NotFoundError(`no rollout "${next.id}"`, { kind: 'change', value: next.id, known: [...this.rollouts.keys()] });
    if (stored.version !== next.version - 1) throw new ConflictError(`rollout ${next.id} changed meanwhile (version ${stored.version}, update from version ${next.version - 1})`);
    this.rollouts.set(next.id, copy(next));
    return copy(next);
  }
}
