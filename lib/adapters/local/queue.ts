/**
 * ChangeQueue on the embedded SQLite database (the `apply_queue` table of database.ts).
 *
 * - seq: the table's AUTOINCREMENT key, so it only ever increases (a replaced done entry gets a new one).
 * - claimNext: one BEGIN IMMEDIATE transaction (the database's write lock, so two service processes on one file
 *   take turns): nothing of `env` running → the queued entry of `env` with the lowest seq becomes running. The
 *   partial unique index apply_queue_one_running refuses a second running entry of an environment, whoever writes.
 * - release keeps the seq: the entry is first in line again, before everything queued after it.
 * - enqueue of a done id deletes the old row and inserts a new one (new seq, attempts 0): the history keeps the
 *   latest apply of a change.
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';
import type { ChangeQueue, EnqueueRequest, QueueState, QueuedApply } from '../../ports.ts';
import { alreadyQueued, checkEnqueue, checkListLimit, checkOwner, claimed, finished, isoTime, newEntry, notInQueue, notRunning, queuedApply, released } from '../service-records.ts';
import { transaction } from './database.ts';

interface Row {
  seq: number;
  id: string;
  env: string;
  state: string;
  component: string;
  actor: string;
  allow_destroy: number;
  include_pending: number;
  rollout: string | null;
  enqueued_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  owner: string | null;
  outcome: string | null;
  result: string | null;
}

const COLUMNS = 'seq, id, env, state, component, actor, allow_destroy, include_pending, rollout, enqueued_at, started_at, finished_at, attempts, owner, outcome, result';

const toEntry = (r: Row): QueuedApply =>
  queuedApply({
    id: r.id,
    env: r.env,
    component: r.component,
    actor: r.actor,
    allowDestroy: Number(r.allow_destroy) === 1,
    includePending: Number(r.include_pending) === 1,
    rollout: r.rollout,
    state: r.state as QueueState,
    seq: Number(r.seq),
    enqueuedAt: r.enqueued_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    attempts: Number(r.attempts),
    owner: r.owner,
    outcome: r.outcome,
    result: r.result,
  });

export class LocalChangeQueue implements ChangeQueue {
  readonly description: string;
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, options: { readonly description?: string } = {}) {
    this.db = db;
    this.description = options.description ?? 'the apply_queue table of the local store';
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if ((error as { exitCode?: number }).exitCode !== undefined) throw error; // a KarmaError: ours, said already
      throw new StoreError(`cannot ${what} in the local apply queue: ${(error as Error).message}`, { cause: error });
    }
  }

  private row(id: string): Row | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM apply_queue WHERE id = ?`).get(id) as unknown as Row | undefined;
  }

  /** Writes every column of `entry` to its row (found by id). */
  private write(entry: QueuedApply): void {
    this.db
      .prepare('UPDATE apply_queue SET state = ?, started_at = ?, finished_at = ?, attempts = ?, owner = ?, outcome = ?, result = ? WHERE id = ?')
      .run(entry.state, entry.startedAt ?? null, entry.finishedAt ?? null, entry.attempts, entry.owner ?? null, entry.outcome ?? null, entry.result ?? null, entry.id);
  }

  async enqueue(input: EnqueueRequest, when: string): Promise<QueuedApply> {
    const { request, at } = checkEnqueue(input, when);
    return this.run('enqueue', () =>
      transaction(this.db, () => {
        const there = this.row(request.id);
        if (there && there.state !== 'done') throw alreadyQueued(toEntry(there));
        if (there) this.db.prepare('DELETE FROM apply_queue WHERE id = ?').run(request.id);
        const inserted = this.db
          .prepare('INSERT INTO apply_queue (id, env, state, component, actor, allow_destroy, include_pending, rollout, enqueued_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)')
          .run(request.id, request.env, 'queued', request.component, request.actor, request.allowDestroy ? 1 : 0, request.includePending ? 1 : 0, request.rollout ?? null, at);
        return newEntry(request, Number(inserted.lastInsertRowid), at);
      }),
    );
  }

  async claimNext(env: string, owner: string, when: string): Promise<QueuedApply | null> {
    checkOwner(owner);
    const at = isoTime(when, 'queue: startedAt');
    return this.run('claim the next apply', () =>
      transaction(this.db, () => {
        const running = this.db.prepare("SELECT 1 AS one FROM apply_queue WHERE env = ? AND state = 'running' LIMIT 1").get(env);
        if (running) return null;
        const next = this.db.prepare(`SELECT ${COLUMNS} FROM apply_queue WHERE env = ? AND state = 'queued' ORDER BY seq LIMIT 1`).get(env) as unknown as Row | undefined;
        if (!next) return null;
        const entry = claimed(toEntry(next), owner, at);
        this.write(entry);
        return entry;
      }),
    );
  }

  async finish(id: string, outcome: 'succeeded' | 'failed', result: string, when: string): Promise<QueuedApply> {
    const at = isoTime(when, 'queue: finishedAt');
    return this.run('finish an apply', () =>
      transaction(this.db, () => {
        const there = this.row(id);
        if (!there) throw notInQueue(id);
        if (there.state !== 'running') throw notRunning(toEntry(there), 'finish');
        const entry = finished(toEntry(there), outcome, result, at);
        this.write(entry);
        return entry;
      }),
    );
  }

  async release(id: string): Promise<void> {
    this.run('release an apply', () =>
      transaction(this.db, () => {
        const there = this.row(id);
        if (!there) throw notInQueue(id);
        if (there.state === 'queued') return; // released already: a second recovery of the same entry
        if (there.state !== 'running') throw notRunning(toEntry(there), 'release');
        this.write(released(toEntry(there)));
      }),
    );
  }

  async get(id: string): Promise<QueuedApply | undefined> {
    const row = this.run('read an apply', () => this.row(id));
    return row ? toEntry(row) : undefined;
  }

  async list(options: { readonly env?: string; readonly states?: readonly QueueState[]; readonly limit?: number } = {}): Promise<QueuedApply[]> {
    const limit = checkListLimit(options.limit, 'queue list');
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (options.env !== undefined) {
      where.push('env = ?');
      params.push(options.env);
    }
    if (options.states !== undefined) {
      if (options.states.length === 0) return [];
      where.push(`state IN (${options.states.map(() => '?').join(', ')})`);
      params.push(...options.states);
    }
    const rows = this.run('list', () =>
      this.db
        .prepare(`SELECT ${COLUMNS} FROM apply_queue ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC${limit !== undefined ? ' LIMIT ?' : ''}`)
        .all(...params, ...(limit !== undefined ? [limit] : [])) as unknown as Row[],
    );
    return rows.reverse().map(toEntry);
  }
}
