/**
 * Running Terraform (or OpenTofu) for one component. Commands are argument arrays, never shell strings built
 * from config values. Output goes to a log file in the work directory (and, when asked, to a progress sink).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { KarmaError, UsageError } from '../../core/errors.ts';

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

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  readonly log: string;
  /** Values never to show: replaced by (sensitive) in the log, the progress lines and the captured output. */
  readonly redact?: readonly string[];
  /** false: stdout is captured but neither logged nor shown (`terraform output -json` prints sensitive outputs in clear). */
  readonly logStdout?: boolean;
}

export interface TerraformRunner {
  run(args: readonly string[], options: RunOptions): Promise<RunResult>;
}

/**
 * Replaces every secret value in a text. Terraform prints variables a module did not mark `sensitive` (a plan
 * shows them), so a secret passed through ${ssm:...} would otherwise reach logs: in CodeBuild, CloudWatch.
 * Longest first, so a secret that contains another is replaced whole. Values shorter than 4 characters are
 * not redacted (they would shred ordinary output and protect nothing).
 */
export function redactor(secrets: readonly string[] = []): (text: string) => string {
  const values = [...new Set(secrets.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const v of values) if (out.includes(v)) out = out.split(v).join('(sensitive)');
    return out;
  };
}

/** The real runner: spawns the binary with an argument array. Output is handled line by line, redacted. */
export function terraformRunner(binary: string, options: { env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {}): TerraformRunner {
  return {
    run: (args, { cwd, log, redact, logStdout = true }) =>
      new Promise((resolvePromise, reject) => {
        const clean = redactor(redact);
        const out = createWriteStream(log, { flags: 'a', mode: 0o600 });
        out.write(`$ ${binary} ${args.join(' ')}\n`);
        const child = spawn(binary, [...args], {
          cwd,
          env: { ...process.env, ...options.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const captured = { stdout: [] as string[], stderr: [] as string[] };
        const pending = { stdout: '', stderr: '' };
        const emit = (stream: 'stdout' | 'stderr', line: string): void => {
          const safe = clean(line);
          captured[stream].push(safe);
          if (stream === 'stdout' && !logStdout) return;
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
          for (const stream of ['stdout', 'stderr'] as const) if (pending[stream]) emit(stream, pending[stream]);
          out.end();
          resolvePromise({ code, stdout: captured.stdout.join('\n'), stderr: captured.stderr.join('\n') });
        });
      }),
  };
}

/** The first "Error: ..." line Terraform printed, for a one-line failure message. */
export function terraformErrorLine(result: RunResult): string {
  // eslint-disable-next-line no-control-regex
  const text = `${result.stderr}\n${result.stdout}`.replace(/\u001b\[[0-9;]*m/g, '');
  // We run with -no-color, so boxed lines (`├────`, `│ var.x is "y"`) are values shown for context.
  const lines = text.split('\n').map((l) => (/^\s*[│├]/.test(l) ? '' : l.trim()));
  const i = lines.findIndex((l) => l.startsWith('Error: '));
  if (i < 0) return lines.filter(Boolean).slice(-1)[0] ?? `exit code ${result.code}`;
  // Skip the source excerpt Terraform shows (`on file line N:`, `N: code`, `with ...`) to reach the explanation.
  const detail = lines.slice(i + 1).find((l) => l && !/^(on |with |\d+:)/.test(l));
  return detail ? `${lines[i]}: ${detail}` : lines[i]!;
}
