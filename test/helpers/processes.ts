/**
 * Real processes for lock tests: a live one (a Node that idles until killed) and a dead one (started, killed
 * with SIGKILL, reaped), so "is the holder's pid alive?" is answered by the operating system, not by a stub.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export function liveProcess(): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child as ChildProcess & { pid: number };
}

/** Waits until the child has exited and been reaped (its pid no longer exists). */
export function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** The pid of a process that existed a moment ago and was killed with kill -9. */
export async function deadPid(): Promise<number> {
  const child = liveProcess();
  await kill(child, 'SIGKILL');
  return child.pid;
}
