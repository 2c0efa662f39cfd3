/**
 * A real `karma serve` process for the service tests: bin/karma.ts on a free port of 127.0.0.1, in its own
 * process group (so a test can kill it with its children, as a container runtime or systemd does), its JSON log
 * lines collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../scripts/servers/servers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'karma.ts');
export const ADMIN = 'karma_test-admin-token-0123456789';

export interface ServeProcess {
  readonly base: string;
  readonly process: ChildProcess;
  /** Everything written on stderr so far. */
  stderr(): string;
  /** The JSON log lines so far (lines that are not JSON are left out). */
  logs(): Record<string, unknown>[];
  /** A request with the admin token. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL to the whole process group: the service and every Terraform it runs die at once. */
  kill9(): Promise<void>;
}

export async function startServe(dir: string, options: { env?: Record<string, string>; args?: string[]; port?: number } = {}): Promise<ServeProcess> {
  const port = options.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'serve', '--config', dir, '--port', String(port), ...(options.args ?? [])], {
    env: { ...process.env, KARMA_API_TOKEN: ADMIN, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`karma serve exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`karma serve was not ready in 60 s: ${stderr}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  };
  return {
    base,
    process: child,
    stderr: () => stderr,
    logs: () =>
      stderr.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    call,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

/** Polls `probe` until it returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
