/**
 * Environment locks (docs/pipeline.md "One execution per environment: locks"): what state a holder is in, the
 * one-line descriptions every entry point prints, and the two operator commands, list and release.
 *
 * A holder is
 *   expired  past its expiresAt: anyone may take the lock;
 *   dead     a local run (it recorded host and pid) on THIS host whose process is gone: taken over at once;
 *   alive    a local run on this host whose process still runs;
 *   unknown  a deployed execution, or a run on another host: Karma cannot tell, so it counts as alive until
 *            its lock expires (KARMA_LOCK_TTL).
 */
import { KarmaError, unknownEnvironment } from '../core/errors.ts';
import { formatDuration } from '../core/duration.ts';
import type { Config } from '../core/model.ts';
import type { LockInfo, LockStore } from '../ports.ts';

export type HolderState = 'expired' | 'dead' | 'alive' | 'unknown';

/** How to tell whether a process on this host still runs (lib/adapters/local/process.ts). */
export interface ProcessProbe {
  readonly host: string;
  isAlive(pid: number): boolean;
}

/** The default lock TTL: how long a lock outlives a holder Karma cannot see die (KARMA_LOCK_TTL). */
export const DEFAULT_LOCK_TTL_SECONDS = 6 * 3600;
/** How long an execution waits for a busy lock before failing with LockTimeoutError (--lock-timeout). */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 3600;

export const lockName = (env: string): string => `env-${env}`;
export const envOfLock = (name: string): string => (name.startsWith('env-') ? name.slice('env-'.length) : name);

export function holderState(lock: LockInfo, now: Date, probe?: ProcessProbe): HolderState {
  if (Date.parse(lock.expiresAt) <= now.getTime()) return 'expired';
  if (probe && lock.pid !== undefined && lock.host === probe.host) return probe.isAlive(lock.pid) ? 'alive' : 'dead';
  return 'unknown';
}

/** An execution id's last segment: what people recognise (the full id is in --json). */
export function executionName(owner: string): string {
  return owner.split(':').pop() || owner;
}

/** `2026-01-02T03:04:05Z`: second precision, UTC. */
export function shortTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

/** `<execution> (pid N on host H)`, or just the execution for a deployed one. */
export function describeHolder(lock: LockInfo): string {
  const where = lock.pid !== undefined ? ` (pid ${lock.pid}${lock.host ? ` on host ${lock.host}` : ''})` : '';
  return `${executionName(lock.owner)}${where}`;
}

/** The one line printed while waiting: `waiting for karma-dev: held by X (pid N on host H) since T`. */
export function waitingLine(lock: LockInfo): string {
  return `waiting for ${envOfLock(lock.name)}: held by ${describeHolder(lock)} since ${shortTime(lock.acquiredAt)}`;
}

export function tookOverLine(lock: LockInfo): string {
  return `took over the lock on ${envOfLock(lock.name)}: its holder ${describeHolder(lock)} is no longer running`;
}

export function lockTimeoutMessage(lock: LockInfo, waitedSeconds: number): string {
  return (
    `waited ${formatDuration(waitedSeconds)} for ${envOfLock(lock.name)}: held by ${describeHolder(lock)} since ${shortTime(lock.acquiredAt)}, ` +
    `until ${shortTime(lock.expiresAt)} at the latest. It is still applying, or it died where Karma cannot see it: ` +
    `check with \`karma lock list\`, then \`karma lock release ${envOfLock(lock.name)} --force\`; or wait longer with --lock-timeout`
  );
}

/** A lock that is held by a live (or unknowable) holder and was not forced. Exit 2: nothing was changed. */
export class LockHeldError extends KarmaError {
  override readonly name: string = 'LockHeldError';
  override readonly exitCode = 2;
  readonly lock: LockInfo;
  readonly state: HolderState;
  constructor(lock: LockInfo, state: HolderState) {
    const why = state === 'alive' ? 'its process is still running' : 'Karma cannot tell whether it still runs (a deployed execution, or another host)';
    super(
      `${envOfLock(lock.name)} is locked by ${describeHolder(lock)} since ${shortTime(lock.acquiredAt)}, until ${shortTime(lock.expiresAt)}; ${why}. ` +
        `Wait for it to finish, or pass --force if you are sure it is gone`,
    );
    this.lock = lock;
    this.state = state;
  }
  override details(): Record<string, unknown> {
    return { lock: this.lock, state: this.state };
  }
}

export interface LockRow extends LockInfo {
  readonly env: string;
  readonly state: HolderState;
}

export async function listLocks(store: LockStore, now: Date, probe?: ProcessProbe): Promise<LockRow[]> {
  return (await store.list()).map((l) => ({ env: envOfLock(l.name), ...l, state: holderState(l, now, probe) }));
}

export interface ReleaseResult {
  readonly env: string;
  /** The lock deleted; absent when the environment was not locked. */
  readonly released?: LockInfo;
  /** Its holder's state when it was released. */
  readonly state?: HolderState;
  readonly forced: boolean;
}

/** The answer for an environment without a lock: nothing to do, unless the name is a typo. */
export function notLocked(config: Config | undefined, env: string, force: boolean): ReleaseResult {
  if (config && !config.project.environments.has(env)) throw unknownEnvironment(env, config.project.environments.keys());
  return { env, forced: force };
}

/**
 * Releases an environment's lock. Without `force`, only a lock whose holder is expired or dead; an alive or
 * unknowable holder is a LockHeldError. An environment not locked is fine (nothing to do), unless it is not
 * declared either (a typo).
 */
export async function releaseLock(store: LockStore, config: Config | undefined, env: string, options: { force: boolean; now: Date; probe?: ProcessProbe }): Promise<ReleaseResult> {
  const name = lockName(env);
  const lock = (await store.list()).find((l) => l.name === name);
  if (!lock) return notLocked(config, env, options.force);
  const state = holderState(lock, options.now, options.probe);
  if (!options.force && (state === 'alive' || state === 'unknown')) throw new LockHeldError(lock, state);
  // Delete only the lock we judged: if another execution took it meanwhile, leave that one alone.
  const released = await store.forceRelease(name, lock.owner);
  return { env, forced: options.force, ...(released ? { released, state } : {}) };
}
