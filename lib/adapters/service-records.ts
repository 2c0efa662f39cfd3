/**
 * What the service's stores share, whichever holds them (the SQLite tables of local/, the DynamoDB table of
 * dynamodb/service-table.ts): the checks of what they are given, the errors they refuse with, the ids of
 * failed deliveries, and how a stored record becomes the value the port returns, with its fields in the port's
 * order, so the two adapters return exactly the same values (test/support/service-stores-contract.ts).
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError, UsageError } from '../core/errors.ts';
import type { EnqueueRequest, FailedDelivery, QueueState, QueuedApply, Rollout, RolloutStatus } from '../ports.ts';

/** `at` as Date.toISOString writes it (so keys made of times sort as the times do); anything else is refused. */
export function isoTime(at: string, what: string): string {
  const ms = typeof at === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(at) ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${what} must be an ISO 8601 time with a zone, got ${JSON.stringify(at)}`);
  return new Date(ms).toISOString();
}

function nonEmpty(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${what} must be a non-empty string`);
  return value;
}

/** A limit of a list: a positive integer, or undefined for all. */
export function checkListLimit(limit: number | undefined, what: string): number | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`${what}: limit must be a positive integer, got ${String(limit)}`);
  return limit;
}

export function checkEnqueue(request: EnqueueRequest, at: string): { request: EnqueueRequest; at: string } {
  nonEmpty(request.id, 'queue entry: id');
  nonEmpty(request.env, 'queue entry: env');
  nonEmpty(request.component, 'queue entry: component');
  nonEmpty(request.actor, 'queue entry: actor');
  if (request.rollout !== undefined) nonEmpty(request.rollout, 'queue entry: rollout');
  return { request, at: isoTime(at, 'queue entry: enqueuedAt') };
}

export function checkOwner(owner: string): string {
  return nonEmpty(owner, 'queue: owner');
}

/** enqueue of an id that is queued or running. */
export function alreadyQueued(entry: Pick<QueuedApply, 'id' | 'state' | 'env'>): ConflictError {
  return new ConflictError(`change ${entry.id} is already ${entry.state} in the apply queue of ${entry.env}: one apply of a change at a time`);
}

/** finish or release of an id the queue does not hold. */
export function notInQueue(id: string): NotFoundError {
  return new NotFoundError(`change ${id} is not in the apply queue`, { kind: 'change', value: id, known: [] });
}

/** finish or release of an entry that is not running. */
export function notRunning(entry: Pick<QueuedApply, 'id' | 'state'>, what: 'finish' | 'release'): ConflictError {
  return new ConflictError(`cannot ${what} the apply of change ${entry.id}: it is ${entry.state}, not running`);
}

/** The entry as the port declares it, optional fields only when set, in the port's order. */
export function queuedApply(fields: {
  id: string;
  env: string;
  component: string;
  actor: string;
  allowDestroy: boolean;
  includePending: boolean;
  rollout?: string | null | undefined;
  state: QueueState;
  seq: number;
  enqueuedAt: string;
  startedAt?: string | null | undefined;
  finishedAt?: string | null | undefined;
  attempts: number;
  owner?: string | null | undefined;
  outcome?: string | null | undefined;
  result?: string | null | undefined;
}): QueuedApply {
  const opt = <K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } => (value === null || value === undefined ? {} : ({ [key]: value } as { [P in K]: V }));
  return {
    id: fields.id,
    env: fields.env,
    component: fields.component,
    actor: fields.actor,
    allowDestroy: fields.allowDestroy,
    includePending: fields.includePending,
    ...opt('rollout', fields.rollout),
    state: fields.state,
    seq: fields.seq,
    enqueuedAt: fields.enqueuedAt,
    ...opt('startedAt', fields.startedAt),
    ...opt('finishedAt', fields.finishedAt),
    attempts: fields.attempts,
    ...opt('owner', fields.owner),
    ...opt('outcome', fields.outcome as QueuedApply['outcome'] | null | undefined),
    ...opt('result', fields.result),
  };
}

/** A new queued entry. */
export function newEntry(request: EnqueueRequest, seq: number, at: string): QueuedApply {
  return queuedApply({ ...request, state: 'queued', seq, enqueuedAt: at, attempts: 0 });
}

/** The entry claimed by `owner`. */
export function claimed(entry: QueuedApply, owner: string, at: string): QueuedApply {
  return queuedApply({ ...entry, state: 'running', startedAt: at, attempts: entry.attempts + 1, owner, outcome: undefined, result: undefined, finishedAt: undefined });
}

/** The entry done. */
export function finished(entry: QueuedApply, outcome: 'succeeded' | 'failed', result: string, at: string): QueuedApply {
  if (outcome !== 'succeeded' && outcome !== 'failed') throw new UsageError(`queue: outcome must be succeeded or failed, got ${JSON.stringify(outcome)}`);
  return queuedApply({ ...entry, state: 'done', finishedAt: at, outcome, result });
}

/** The entry handed back: queued again, its seq (its place) and attempts kept, no owner. */
export function released(entry: QueuedApply): QueuedApply {
  return queuedApply({ ...entry, state: 'queued', startedAt: undefined, owner: undefined });
}

export const ROLLOUT_STATUSES: readonly RolloutStatus[] = ['running', 'waiting-approval', 'succeeded', 'failed'];

export function checkRollout(rollout: Rollout): Rollout {
  nonEmpty(rollout.id, 'rollout: id');
  nonEmpty(rollout.component, 'rollout: component');
  if (!ROLLOUT_STATUSES.includes(rollout.status)) throw new UsageError(`rollout: status must be one of ${ROLLOUT_STATUSES.join(', ')}, got ${JSON.stringify(rollout.status)}`);
  if (!Number.isInteger(rollout.version) || rollout.version < 1) throw new UsageError(`rollout: version must be a positive integer, got ${String(rollout.version)}`);
  isoTime(rollout.createdAt, 'rollout: createdAt');
  return rollout;
}

/** create of a rollout whose version is not 1. */
export function notVersionOne(rollout: Rollout): UsageError {
  return new UsageError(`a new rollout has version 1: rollout ${rollout.id} has version ${rollout.version}`);
}

export function rolloutExists(id: string): ConflictError {
  return new ConflictError(`rollout ${id} exists already`);
}

/** update from a stale copy (`stored` its version now), or of a rollout that is not there (`stored` undefined). */
export function staleRollout(next: Rollout, stored: number | undefined): ConflictError {
  return stored === undefined
    ? new ConflictError(`cannot update rollout ${next.id}: there is no such rollout`)
    : new ConflictError(`cannot update rollout ${next.id} to version ${next.version}: it is at version ${stored} (updated meanwhile); read it again`);
}

/** `<failedAt>#<16 hex>`: sorts as the time does, unique. */
export function newDeliveryId(failedAt: string): string {
  return `${isoTime(failedAt, 'failed delivery: failedAt')}#${randomBytes(8).toString('hex')}`;
}

export function checkDelivery(delivery: Omit<FailedDelivery, 'id'>): Omit<FailedDelivery, 'id'> {
  nonEmpty(delivery.webhook, 'failed delivery: webhook');
  nonEmpty(delivery.event, 'failed delivery: event');
  nonEmpty(delivery.target, 'failed delivery: target');
  isoTime(delivery.failedAt, 'failed delivery: failedAt');
  return delivery;
}

/** The delivery as the port declares it, in the port's order. */
export function failedDelivery(id: string, d: Omit<FailedDelivery, 'id'>): FailedDelivery {
  return {
    id,
    webhook: d.webhook,
    event: d.event,
    target: d.target,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    firstAttemptAt: d.firstAttemptAt,
    failedAt: d.failedAt,
    payload: d.payload,
  };
}
