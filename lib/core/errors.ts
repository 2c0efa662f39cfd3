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

/**
 * A name the user gave (an environment, a component, a component in an environment) that the config does not
 * have, or a change id that names no change (lib/app/changes.ts): one line naming what exists instead. Exit 2.
 * `--json` carries `kind`, `value` and `known`; an HTTP API maps it to 404. Built by unknownEnvironment,
 * unknownComponent and notDeployed, so every entry point says it the same way.
 */
export class NotFoundError extends KarmaError {
  override readonly name: string = 'NotFoundError';
  override readonly exitCode = EXIT_INVALID;
  readonly kind: 'environment' | 'component' | 'deployment' | 'change' | 'execution' | 'output' | 'rollout';
  readonly value: string;
  /** The environment looked in (kind deployment). */
  readonly env?: string;
  readonly known: readonly string[];
  constructor(message: string, fields: { kind: NotFoundError['kind']; value: string; env?: string; known: readonly string[] }) {
    super(message);
    this.kind = fields.kind;
    this.value = fields.value;
    if (fields.env !== undefined) this.env = fields.env;
    this.known = fields.known;
  }
  override details(): Record<string, unknown> {
    return { kind: this.kind, value: this.value, ...(this.env !== undefined ? { env: this.env } : {}), known: this.known };
  }
}

const listed = (names: readonly string[]): string => names.join(', ') || 'none';

/** `unknown environment "qa"; karma.yaml declares dev, prod` (in declaration order). */
export function unknownEnvironment(env: string, declared: Iterable<string>): NotFoundError {
  const known = [...declared];
  return new NotFoundError(`unknown environment "${env}"; karma.yaml declares ${listed(known)}`, { kind: 'environment', value: env, known });
}

/** `unknown component "vpn"; the repo defines api, network` (sorted). */
export function unknownComponent(component: string, defined: Iterable<string>): NotFoundError {
  const known = [...defined].sort();
  return new NotFoundError(`unknown component "${component}"; the repo defines ${listed(known)}`, { kind: 'component', value: component, known });
}

/** `component "dns" is not deployed in dev; deployed there: app, network` (sorted). */
export function notDeployed(component: string, env: string, deployedThere: Iterable<string>): NotFoundError {
  const known = [...deployedThere].sort();
  return new NotFoundError(`component "${component}" is not deployed in ${env}; deployed there: ${listed(known)}`, { kind: 'deployment', value: component, env, known });
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
