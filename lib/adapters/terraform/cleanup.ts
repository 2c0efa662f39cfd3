/**
 * What must not outlive a Terraform run, kept in one process-level registry: the resolved var file (it holds
 * secrets) and the running Terraform processes.
 *
 * - A secret file is removed by the caller as soon as the command that reads it is done, success or failure.
 * - On SIGINT, SIGTERM or SIGHUP, every registered file is removed at once (synchronously), and the signal is
 *   forwarded to each running Terraform's process group (spawned on its own, so a terminal's Ctrl-C reaches it
 *   once, through us): Terraform stops gracefully and saves its state. The process then exits with 128 + the
 *   signal number as soon as no Terraform is running. A second signal forwards again (Terraform then stops
 *   at once) and exits without waiting.
 * - A run killed with SIGKILL cannot clean up: the next run in the same work directory removes the old file
 *   before anything else (lib/app/component.ts).
 * - The handlers are installed only while there is something to clean up (a file, a running Terraform), and
 *   removed when there is nothing left: a long-running process (`karma serve`) keeps its own graceful shutdown
 *   between applies.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const files = new Set<string>();
const children = new Set<ChildProcess>();
let installed = false;
let interrupted: NodeJS.Signals | undefined;

function exitBy(signal: NodeJS.Signals): never {
  process.exit(128 + (constants.signals[signal] ?? 0));
}

function onSignal(signal: NodeJS.Signals): void {
  for (const file of files) rmSync(file, { force: true });
  files.clear();
  const again = interrupted !== undefined;
  interrupted = signal;
  for (const child of children) stop(child, signal);
  if (again || children.size === 0) exitBy(signal);
}

function stop(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

/** Nothing left to clean up and no signal being handled: the process's own handlers decide again. */
function uninstallIfIdle(): void {
  if (!installed || files.size > 0 || children.size > 0 || interrupted !== undefined) return;
  installed = false;
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/** Writes a file only its owner may read, registered for removal on interrupt; returns its remover. */
export function writeSecretFile(path: string, text: string): () => void {
  install();
  files.add(path);
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
  return () => {
    files.delete(path);
    rmSync(path, { force: true });
    uninstallIfIdle();
  };
}

/** Registers a running Terraform (spawned `detached`, so it leads its own process group). */
export function trackChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('close', () => {
    children.delete(child);
    if (interrupted && children.size === 0) exitBy(interrupted);
    uninstallIfIdle();
  });
}
