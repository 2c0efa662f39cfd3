/**
 * Running Terraform (or OpenTofu) for one component. Commands are argument arrays, never shell strings built
 * from config values. Output goes to a log file in the work directory (and, when asked, to a progress sink).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { KarmaError, UsageError } from '../../core/errors.ts';
import { redactor } from '../../core/secrets.ts';
import type { RunOptions, RunResult, TerraformRunner } from '../../ports.ts';
import { trackChild } from './cleanup.ts';

export class TerraformError extends KarmaError {
  override readonly name: string = 'TerraformError';
  readonly command: string;
  readonly exitCode_: number | null;
  constructor(message: string, command: string, code: number | null) {
    super(message);
    this.command = command;
    this.exitCode_ = code;
  }
  override details(): Record<string, unknown> {
    return { command: this.command, terraformExitCode: this.exitCode_ };
  }
}

/** Finds the binary: an explicit name or path, else `terraform`, then `tofu`, on PATH. */
export function findTerraform(preferred?: string, pathEnv: string = process.env['PATH'] ?? ''): string {
  const candidates = preferred ? [preferred] : ['terraform', 'tofu'];
  for (const c of candidates) {
    if (isAbsolute(c) || c.includes('/')) {
      if (existsSync(c)) return c;
      continue;
    }
    for (const dir of pathEnv.split(delimiter)) {
      if (dir && existsSync(join(dir, c))) return join(dir, c);
    }
  }
  throw new UsageError(
    preferred
      ? `terraform binary "${preferred}" not found (karma.yaml terraform.binary or $KARMA_TERRAFORM); install it or fix the setting`
      : 'neither terraform nor tofu is on PATH; install one of them, or set terraform.binary in karma.yaml or $KARMA_TERRAFORM',
  );
}

export type { RunOptions, RunResult, TerraformRunner };

/**
 * Replaces every printable form of the secret values in a text (lib/core/secrets.ts: leaves of structured
 * values, lines of multi-line ones, raw and escaped). Terraform prints variables a module did not mark
 * `sensitive` (a plan shows them), so a secret passed through ${ssm:...} would otherwise reach logs: in
 * CodeBuild, CloudWatch.
 */
export { redactor };

/**
 * While Terraform runs, its pid (its process group: it runs detached) is in this file of its working directory.
 * If the `karma component` process that started it dies (kill -9, out of memory), whoever ran that process can
 * still stop the Terraform it left behind (stopOrphanedTerraform) before it lets anything else touch the state.
 */
export const TERRAFORM_PID_FILE = '.karma-terraform.pid';

/** The real runner: spawns the binary with an argument array. Output is handled line by line, redacted. */
export function terraformRunner(binary: string, options: { env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {}): TerraformRunner {
  return {
    run: (args, { cwd, log, redact, logStdout = true, env }) =>
      new Promise((resolvePromise, reject) => {
        const clean = redactor(redact);
        const out = createWriteStream(log, { flags: 'a', mode: 0o600 });
        out.write(`$ ${binary} ${args.join(' ')}\n`);
        const child = spawn(binary, [...args], {
          cwd,
          env: { ...process.env, ...options.env, ...env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
          // Its own process group: on Ctrl-C, Terraform hears the interrupt once, forwarded (cleanup.ts).
          detached: true,
        });
        const pidFile = join(cwd, TERRAFORM_PID_FILE);
        if (child.pid !== undefined) writeFileSync(pidFile, String(child.pid), { mode: 0o600 });
        const captured = { stdout: [] as string[], stderr: [] as string[] };
        const pending = { stdout: '', stderr: '' };
        const emit = (stream: 'stdout' | 'stderr', line: string): void => {
          if (stream === 'stdout' && !logStdout) {
            // Kept as printed: the caller parses it (redacting would corrupt the values) and never shows it.
            captured.stdout.push(line);
            return;
          }
          const safe = clean(line);
          captured[stream].push(safe);
          out.write(`${safe}\n`);
          if (options.onLine && safe.trim()) options.onLine(safe);
        };
        const feed = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
          const lines = (pending[stream] + chunk.toString('utf8')).split('\n');
          pending[stream] = lines.pop()!;
          for (const line of lines) emit(stream, line);
        };
        child.stdout.on('data', feed('stdout'));
        child.stderr.on('data', feed('stderr'));
        child.on('error', (error) => {
          out.end();
          reject(new TerraformError(`cannot run ${binary}: ${error.message}`, `${binary} ${args[0] ?? ''}`, null));
        });
        child.on('close', (code) => {
          rmSync(pidFile, { force: true });
          for (const stream of ['stdout', 'stderr'] as const) if (pending[stream]) emit(stream, pending[stream]);
          out.end();
          resolvePromise({ code, stdout: captured.stdout.join('\n'), stderr: captured.stderr.join('\n') });
        });
        trackChild(child);
      }),
  };
}

/** How long a failure reason may get: the whole first error, but a table cell and a state parameter stay readable. */
const MAX_ERROR = 1500;

/**
 * Terraform's first error as one line: its title and its whole explanation (every paragraph, wrapped lines
 * joined), without the source excerpt it shows for context. The caller's output is already redacted.
 */
export function terraformErrorLine(result: RunResult): string {
  // We run with -no-color, so boxed lines (`├────`, `│ var.x is "y"`, a warning's `╷ … ╵`) are context, not the error.
  // eslint-disable-next-line no-control-regex
  const linesOf = (text: string): string[] => text.replace(/\u001b\[[0-9;]*m/g, '').split('\n').map((l) => (/^\s*[│├╷╵]/.test(l) ? '' : l.trim()));
  // Errors go to stderr; stdout ends with a summary ("Planning failed. ...") that is not part of one.
  const streams = [linesOf(result.stderr), linesOf(result.stdout)];
  const lines = streams.find((l) => l.some((x) => x.startsWith('Error: '))) ?? streams.flat();
  const i = lines.findIndex((l) => l.startsWith('Error: '));
  if (i < 0) return cap(lines.filter(Boolean).slice(-1)[0] ?? `exit code ${result.code}`);
  const paragraphs: string[] = [];
  let paragraph: string[] = [];
  const close = (): void => {
    if (paragraph.length > 0) paragraphs.push(paragraph.join(' '));
    paragraph = [];
  };
  for (const line of lines.slice(i + 1)) {
    if (/^(Error|Warning): /.test(line)) break;
    // The source excerpt Terraform shows (`on file line N:`, `N: code`, `with resource.x,`) is context.
    if (!line || /^(on .* line \d+|with |\d+:)/.test(line)) close();
    else paragraph.push(line);
  }
  close();
  return cap(paragraphs.length > 0 ? `${lines[i]}: ${paragraphs.join(' ')}` : lines[i]!);
}

function cap(line: string): string {
  return line.length > MAX_ERROR ? `${line.slice(0, MAX_ERROR - 1)}…` : line;
}

const alive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Stops a Terraform whose `karma component` process died without stopping it: SIGINT to its process group (it
 * saves its state and releases its state lock), SIGKILL after `graceMs`, and resolves once the group is gone.
 * Returns the pid it stopped, or undefined when none was running there.
 */
export async function stopOrphanedTerraform(workDir: string, graceMs: number): Promise<number | undefined> {
  const pidFile = join(workDir, TERRAFORM_PID_FILE);
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return undefined;
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pid, s);
    } catch {
      // gone already
    }
  };
  signal('SIGINT');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) signal('SIGKILL');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  return pid;
}
