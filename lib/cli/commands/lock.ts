/**
 * `karma lock list` and `karma lock release ENV [--force]`: the environment locks of the pipeline, on either
 * backend (a row in the local store; a parameter under `<prefix>-locks` in SSM).
 *
 * Exit codes: 0 listed / released / not locked; 2 the holder is alive (or Karma cannot tell) and --force was not
 * given: nothing was released; 1 the store failed.
 */
import { existsSync } from 'node:fs';
import { localProcesses } from '../../app/open.ts';
import { localDatabasePath } from '../../app/backend.ts';
import { describeHolder, executionName, listLocks, notLocked, releaseLock, shortTime, type HolderState, type LockRow } from '../../app/locks.ts';
import { table } from '../../core/table.ts';
import { baseDir, withBackend, withConfig, type CommonOptions } from '../context.ts';
import { palette, type IO } from '../io.ts';
import type { Config } from '../../core/model.ts';

const STATE_TEXT: Readonly<Record<HolderState, string>> = {
  alive: 'running',
  dead: 'dead (process gone)',
  expired: 'expired',
  unknown: 'held (cannot see the holder)',
};

/** Whether there is a store to read locks from: a local store that does not exist yet holds none (nothing is created). */
function hasStore(config: Config, options: CommonOptions): boolean {
  const type = options.backend ?? config.project.backend.type;
  return type !== 'local' || existsSync(localDatabasePath(config, { baseDir: baseDir(options), ...(options.store ? { localPath: options.store } : {}) }));
}

function rowJson(r: LockRow): Record<string, unknown> {
  return { env: r.env, name: r.name, owner: r.owner, host: r.host ?? null, pid: r.pid ?? null, acquiredAt: r.acquiredAt, expiresAt: r.expiresAt, state: r.state };
}

export async function lockList(options: CommonOptions, io: IO): Promise<number> {
  const config = await withConfig(options);
  const rows: LockRow[] = hasStore(config, options) ? await withBackend(config, options, { create: false }, (backend) => listLocks(backend.locks, new Date(), localProcesses)) : [];
  if (options.json) {
    io.out(JSON.stringify({ locks: rows.map(rowJson) }));
    return 0;
  }
  if (rows.length === 0) {
    io.out('no environment is locked');
    return 0;
  }
  const p = palette(io);
  const paint = (s: HolderState): string => (s === 'alive' || s === 'unknown' ? p.yellow(STATE_TEXT[s]) : p.dim(STATE_TEXT[s]));
  io.out(
    table(
      ['ENV', 'EXECUTION', 'PID', 'HOST', 'SINCE', 'EXPIRES', 'STATE'],
      rows.map((r) => [r.env, executionName(r.owner), r.pid === undefined ? '-' : String(r.pid), r.host ?? '-', shortTime(r.acquiredAt), shortTime(r.expiresAt), paint(r.state)]),
    ),
  );
  return 0;
}

export interface LockReleaseOptions extends CommonOptions {
  readonly env: string;
  readonly force?: boolean;
}

export async function lockRelease(options: LockReleaseOptions, io: IO): Promise<number> {
  const config = await withConfig(options);
  const result = hasStore(config, options)
    ? await withBackend(config, options, { create: false }, (backend) =>
        releaseLock(backend.locks, config, options.env, { force: options.force === true, now: new Date(), probe: localProcesses }),
      )
    : notLocked(config, options.env, options.force === true);
  if (options.json) {
    io.out(JSON.stringify({ env: result.env, released: result.released ?? null, state: result.state ?? null, forced: result.forced }));
    return 0;
  }
  if (!result.released) {
    io.out(`${options.env} is not locked`);
    return 0;
  }
  const why = result.state === 'dead' ? 'its process was gone' : result.state === 'expired' ? 'it had expired' : `forced; it was ${STATE_TEXT[result.state!]}`;
  io.out(`released the lock on ${options.env}: held by ${describeHolder(result.released)} since ${shortTime(result.released.acquiredAt)} (${why})`);
  return 0;
}
