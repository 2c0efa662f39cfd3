/**
 * Is a process on this host still running? `kill(pid, 0)` sends nothing: it only checks. ESRCH means no such
 * process; EPERM means it exists but belongs to someone else (alive).
 */
import { hostname } from 'node:os';

export function processAlive(pid: number): boolean {
  // 0 and negative pids address process groups, not a process: never "alive" as a lock holder.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This host and its process table, for deciding whether a local lock holder is gone. */
export const localProcesses = { host: hostname(), isAlive: processAlive };
