/**
 * Running Terraform (or OpenTofu) for one component. Commands are argument arrays, never shell strings built
 * from config values. Output goes to a log file in the work directory (and, when asked, to a progress sink).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { KarmaError, UsageError } from '../../core/errors.ts';

export class TerraformError extends KarmaError {
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

export interface TerraformRunner {
  run(args: readonly string[], options: { cwd: string; log: string }): Promise<RunResult>;
}

/** The real runner: spawns the binary with an argument array. */
export function terraformRunner(binary: string, options: { env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {}): TerraformRunner {
  return {
    run: (args, { cwd, log }) =>
      new Promise((resolvePromise, reject) => {
        const out = createWriteStream(log, { flags: 'a', mode: 0o600 });
        out.write(`$ ${binary} ${args.join(' ')}\n`);
        const child = spawn(binary, [...args], {
          cwd,
          env: { ...process.env, ...options.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const forward = (chunk: Buffer): void => {
          if (!options.onLine) return;
          for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) options.onLine(line);
        };
        child.stdout.on('data', (c: Buffer) => (stdout.push(c), out.write(c), forward(c)));
        child.stderr.on('data', (c: Buffer) => (stderr.push(c), out.write(c), forward(c)));
        child.on('error', (error) => {
          out.end();
          reject(new TerraformError(`cannot run ${binary}: ${error.message}`, `${binary} ${args[0] ?? ''}`, null));
        });
        child.on('close', (code) => {
          out.end();
          resolvePromise({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
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
