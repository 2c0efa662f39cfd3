/**
 * Karma's error family. Every error a user can trigger is a KarmaError: it carries the exit code the CLI
 * returns (a documented contract, see docs/cli.md) and, where it is about a file, the file and line.
 *
 *   0 success · 1 operational failure (a store, a server, a command failed) · 2 invalid input or usage
 */
export const EXIT_OK = 0;
export const EXIT_OPERATIONAL = 1;
export const EXIT_INVALID = 2;

export class KarmaError extends Error {
  /**
   * A literal in every subclass, never `constructor.name`: the Lambda bundles are minified, and the state
   * machine matches errors by this name (lib/core/pipeline-contract.ts; test/unit/error-names.test.ts).
   */
  override readonly name: string = 'KarmaError';
  readonly exitCode: number = EXIT_OPERATIONAL;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
  /** Extra fields for `--json` error output. */
  details(): Record<string, unknown> {
    return {};
  }
}

/** One problem found in the config repo: `file:line: message`. */
export interface Problem {
  readonly file: string;
  readonly line?: number;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return p.line === undefined ? `${p.file}: ${p.message}` : `${p.file}:${p.line}: ${p.message}`;
}

/** The config repo is invalid. Carries every problem found, one line each. */
export class ConfigError extends KarmaError {
  override readonly name: string = 'ConfigError';
  override readonly exitCode = EXIT_INVALID;
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
  override details(): Record<string, unknown> {
    return { problems: this.problems };
  }
}

/** The user asked for something that does not exist or is malformed (unknown env, bad flag value...). */
export class UsageError extends KarmaError {
  override readonly name: string = 'UsageError';
  override readonly exitCode = EXIT_INVALID;
}

/** A dependency cycle: `a -> b -> c -> a`, each edge with the file that declares it. */
export class CycleError extends KarmaError {
  override readonly name: string = 'CycleError';
  override readonly exitCode = EXIT_INVALID;
  readonly cycle: readonly string[];
  readonly edges: readonly { from: string; to: string; file: string }[];
  constructor(env: string, cycle: readonly string[], edges: readonly { from: string; to: string; file: string }[]) {
    const where = edges.map((e) => `${e.from} -> ${e.to} (${e.file})`).join(', ');
    super(`dependency cycle in ${env}: ${cycle.join(' -> ')}; declared by ${where}. Remove one of these references.`);
    this.cycle = cycle;
    this.edges = edges;
  }
  override details(): Record<string, unknown> {
    return { cycle: this.cycle, edges: this.edges };
  }
}

/** A store (SQLite, SSM, Neptune) failed. Exit 1. */
export class StoreError extends KarmaError {
  override readonly name: string = 'StoreError';
}

/**
 * The repository is not in a state where the request can be honoured as asked (a proposal whose files changed
 * on the branch since it was made, uncommitted edits in the way). Nothing was changed. Exit 2.
 */
export class ConflictError extends KarmaError {
  override readonly name: string = 'ConflictError';
  override readonly exitCode = EXIT_INVALID;
}
