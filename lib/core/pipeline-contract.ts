/**
 * The contract between statemachines/pipeline.asl.json and the code around it: the step handlers and the
 * placeholders that name their functions, the states code refers to, and the error names the ASL matches.
 * The local runner (lib/adapters/stepfunctions), the step code (lib/app/pipeline), the CDK construct
 * (lib/infra/pipeline.ts) and the tests all import this one module; nothing else spells these strings.
 *
 * Error names: Step Functions matches `ErrorEquals` against the `errorType` the Lambda runtime reports, which is
 * the thrown error's `name`. The Lambda bundles are minified, so a class name is NOT an error name there: every
 * error class listed here sets its `name` as a literal (lib/core/errors.ts), and test/infra/synth.test.ts
 * loads the synthesized bundles and checks it.
 */

/** The step handlers, one Lambda function each in AWS. */
export const HANDLER_NAMES = ['normalize', 'build', 'acquireLock', 'plan', 'record', 'summarize', 'releaseLock'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];
/** One step: the state's input in, its result out (a Lambda function in AWS, a function call locally). */
export type StepHandler = (event: unknown) => Promise<unknown>;

/** definitionSubstitutions key → the handler that function runs (CDK creates one function per handler). */
export const FUNCTION_SUBSTITUTIONS: Readonly<Record<string, HandlerName>> = {
  NormalizeFunctionArn: 'normalize',
  BuildFunctionArn: 'build',
  AcquireLockFunctionArn: 'acquireLock',
  PlanFunctionArn: 'plan',
  RecordFunctionArn: 'record',
  SummarizeFunctionArn: 'summarize',
  ReleaseLockFunctionArn: 'releaseLock',
};

/**
 * The prefix of the per-environment CodeBuild projects that run `karma component <mode> <component> <env>`.
 * ApplyComponent starts `States.Format('{}-{}', '${CodeBuildProjectPrefix}', $.env)`: the project of the item's
 * environment ({@link applyProjectName}), whose role can reach that environment's deploy role only.
 */
export const CODEBUILD_SUBSTITUTION = 'CodeBuildProjectPrefix';

/** The CodeBuild project (and its role) for one environment: what ApplyComponent's States.Format builds. */
export function applyProjectName(prefix: string, env: string): string {
  return `${prefix}-${env}`;
}
/** The Map's task that applies one component. */
export const APPLY_STATE = 'ApplyComponent';

/** States the local runner follows to report progress. */
export const STATES = {
  acquireLock: 'AcquireLock',
  waitForLock: 'WaitForLock',
  lockAcquired: 'LockAcquired?',
  planWave: 'PlanWave',
  done: 'Done?',
  applyWave: 'ApplyWave',
  summarize: 'Summarize',
  outcome: 'Outcome?',
} as const;

/**
 * TimeoutSeconds of the task that applies one component (ApplyWave's ApplyComponent) in a parsed definition:
 * CodeBuild's build timeout is derived from it (CDK), and so is the local runner's.
 */
export function applyTaskTimeoutSeconds(definition: Record<string, unknown>): number {
  const states = definition['States'] as Record<string, { ItemProcessor?: { States: Record<string, { TimeoutSeconds?: number }> } }> | undefined;
  const seconds = states?.[STATES.applyWave]?.ItemProcessor?.States[APPLY_STATE]?.TimeoutSeconds;
  if (typeof seconds !== 'number') throw new Error(`statemachines/pipeline.asl.json: ${STATES.applyWave}.${APPLY_STATE} has no TimeoutSeconds`);
  return seconds;
}

/** Error names of the pipeline: raised by Karma's code or by a Fail state, compared by callers. */
export const PIPELINE_ERRORS = {
  /** Thrown by Normalize and Build; the ASL's Catch sends it to the InvalidInput Fail state (exit 2 locally). */
  invalidInput: 'InvalidInputError',
  /** Thrown by every store adapter; the ASL's Retry on every Lambda Task retries it. */
  store: 'StoreError',
  /** The LockTimeout Fail state: the lock was not free within the lock timeout. */
  lockTimeout: 'LockTimeoutError',
  /** The ComponentsFailed Fail state: the execution ran, some component failed. */
  componentsFailed: 'ComponentsFailedError',
} as const;

/** The Karma errors some Retry or Catch of the ASL names in `ErrorEquals`. Each sets a literal `name`. */
export const MATCHED_ERRORS: readonly string[] = [PIPELINE_ERRORS.store, PIPELINE_ERRORS.invalidInput];

/** Names Step Functions and AWS services define (States.ALL, Lambda.ServiceException, CodeBuild....). */
const SERVICE_ERROR = /^(States|Lambda|CodeBuild)\./;

type Json = Record<string, unknown>;

/** Every name in an `ErrorEquals` of the definition (Map item processors and Parallel branches included). */
export function errorEqualsNames(definition: Json): string[] {
  const names = new Set<string>();
  const walk = (states: Record<string, Json>): void => {
    for (const state of Object.values(states)) {
      for (const rule of [...((state['Retry'] as Json[] | undefined) ?? []), ...((state['Catch'] as Json[] | undefined) ?? [])]) {
        for (const n of (rule['ErrorEquals'] as string[] | undefined) ?? []) names.add(n);
      }
      const processor = (state['ItemProcessor'] ?? state['Iterator']) as { States?: Record<string, Json> } | undefined;
      if (processor?.States) walk(processor.States);
      for (const branch of (state['Branches'] as { States: Record<string, Json> }[] | undefined) ?? []) walk(branch.States);
    }
  };
  walk((definition['States'] ?? {}) as Record<string, Json>);
  return [...names].sort();
}

/**
 * The Karma error names the definition matches that this contract does not list (so no class is known to set
 * that literal name): empty for a definition that keeps the contract.
 */
export function unknownMatchedErrors(definition: Json): string[] {
  return errorEqualsNames(definition).filter((n) => !SERVICE_ERROR.test(n) && !MATCHED_ERRORS.includes(n));
}

// ---- What starts the pipeline: the EventBridge event patterns and the webhook relay's retention ----

/**
 * The EventBridge event patterns that start the pipeline, as plain JSON (the constructs use them, and the
 * tests check them against sample events, in-process and through EventBridge's TestEventPattern on moto).
 *
 * Loop safety (SSM), in two layers (docs/pipeline.md):
 *  1. The rule matches output parameters only (`<prefix>/<env>/<component>/outputs/<name>`, a wildcard), so the
 *     state record every apply writes never starts anything, nor do the locks (under `<prefix>-locks/`).
 *  2. An output Karma itself wrote is recognised by the Build step: its version is the one Karma recorded in
 *     the component's state right after writing it. That execution ends at once with nothing to do and never
 *     waits for a lock. A change made outside Karma has a newer version and is planned.
 * A description marker was rejected: SSM keeps a parameter's description when it is overwritten, and the
 * console pre-fills it, so a manual edit of a Karma-written output would carry the marker and be ignored.
 *
 * External parameters consumed through `${ssm:/path}` live outside the prefix; `externalPaths` adds them.
 */
/** Source and detail-type the GitHub webhook relay puts onto the Karma bus. */
export const GITHUB_SOURCE = 'karma.github';
export const GITHUB_PUSH = 'GitHub Push';

export type EventPatternJson = Record<string, unknown>;

export function ssmChangePattern(parameterPrefix: string, externalPaths: readonly string[] = []): EventPatternJson {
  return {
    source: ['aws.ssm'],
    'detail-type': ['Parameter Store Change'],
    detail: {
      operation: ['Create', 'Update', 'Delete', 'LabelParameterVersion'],
      name: [{ wildcard: `${parameterPrefix}/*/*/outputs/*` }, ...externalPaths.map((p) => ({ prefix: p }))],
    },
  };
}

export function codeCommitPushPattern(repositoryArn: string, repositoryName: string, branch: string): EventPatternJson {
  return {
    source: ['aws.codecommit'],
    'detail-type': ['CodeCommit Repository State Change'],
    resources: [repositoryArn],
    detail: {
      event: ['referenceCreated', 'referenceUpdated'],
      repositoryName: [repositoryName],
      referenceType: ['branch'],
      referenceName: [branch],
    },
  };
}

export function gitHubPushPattern(owner: string, repo: string, branch: string): EventPatternJson {
  return {
    source: [GITHUB_SOURCE],
    'detail-type': [GITHUB_PUSH],
    detail: {
      repository: [`${owner}/${repo}`],
      ref: [`refs/heads/${branch}`],
      deleted: [false],
    },
  };
}

/** A push older than this (repository.pushed_at) is never relayed by the GitHub webhook. */
export const REPLAY_WINDOW_DAYS = 7;
/** How long a claimed webhook delivery is remembered: longer than the window, so no replay falls between the two. */
export const DELIVERY_RETENTION_DAYS = REPLAY_WINDOW_DAYS + 1;

/**
 * The HTTP API's routes (lib/api builds one Hono route table from its zod schemas; lib/infra/api.ts gives each
 * group its own Lambda function and API Gateway routes). Paths are OpenAPI templates (`{id}`). `role` is what a
 * bearer token (karma serve) or a JWT's roles claim must grant; `null`: open (no auth). Roles are ordered:
 * apply ⊇ propose ⊇ read. test/unit/api checks that lib/api serves exactly these routes.
 */
export const API_GROUPS = ['meta', 'read', 'changes', 'ops'] as const;
export type ApiGroup = (typeof API_GROUPS)[number];
export const API_ROLES = ['read', 'propose', 'apply'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly group: ApiGroup;
  readonly role: ApiRole | null;
}

export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/healthz', group: 'meta', role: null },
  { method: 'GET', path: '/openapi.json', group: 'meta', role: null },
  { method: 'GET', path: '/environments', group: 'read', role: 'read' },
  { method: 'GET', path: '/graph', group: 'read', role: 'read' },
  { method: 'GET', path: '/plan', group: 'read', role: 'read' },
  { method: 'GET', path: '/impact', group: 'read', role: 'read' },
  { method: 'GET', path: '/components/{env}/{name}', group: 'read', role: 'read' },
  { method: 'POST', path: '/request-change', group: 'changes', role: 'propose' },
  { method: 'GET', path: '/changes', group: 'changes', role: 'read' },
  { method: 'GET', path: '/changes/{id}', group: 'changes', role: 'read' },
  { method: 'POST', path: '/changes/{id}/apply', group: 'changes', role: 'apply' },
  { method: 'GET', path: '/executions/{id}', group: 'ops', role: 'read' },
  { method: 'GET', path: '/audit', group: 'ops', role: 'read' },
];

/**
 * Routes only `karma serve` serves (the long-running service, issue 13: lib/service): the live feed, GraphQL,
 * rollouts, failed notifications, readiness and the Git webhook. They need a process that stays up, so no Lambda
 * function serves them. A rollout proposes and applies, so creating and approving one needs `apply`.
 */
export const SERVICE_ROUTES: readonly Omit<ApiRoute, 'group'>[] = [
  { method: 'GET', path: '/readyz', role: null },
  { method: 'GET', path: '/events', role: 'read' },
  { method: 'GET', path: '/graphql', role: 'read' },
  { method: 'POST', path: '/graphql', role: 'read' },
  { method: 'GET', path: '/rollouts', role: 'read' },
  { method: 'POST', path: '/rollouts', role: 'apply' },
  { method: 'GET', path: '/rollouts/{id}', role: 'read' },
  { method: 'POST', path: '/rollouts/{id}/approve', role: 'apply' },
  { method: 'GET', path: '/notifications/failed', role: 'read' },
  // Signed by the Git host (X-Hub-Signature-256), not a bearer token: it makes the service fetch now.
  { method: 'POST', path: '/webhooks/git', role: null },
];

/** The Lambda entry file of each group (relative to the repo root). */
export const API_FUNCTION_ENTRIES: Readonly<Record<ApiGroup, string>> = {
  meta: 'lambdas/api-meta.ts',
  read: 'lambdas/api-read.ts',
  changes: 'lambdas/api-changes.ts',
  ops: 'lambdas/api-ops.ts',
};

/** The largest request body any route accepts (413 above it). */
export const API_MAX_BODY_BYTES = 1024 * 1024;
