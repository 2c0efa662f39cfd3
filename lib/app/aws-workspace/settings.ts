/**
 * What every part of the serverless workspace (lib/app/aws-workspace.ts) reads from the Lambda environment, and
 * how the parts make one Workspace. Imports no AWS client, no Git and no gremlin: each part brings its own, so
 * each API function's bundle holds only what its routes use.
 *
 * Environment (lib/infra/api.ts sets it; the config and Neptune variables are the pipeline's, see
 * lib/app/pipeline/context.ts and lib/app/aws-backend.ts):
 *   KARMA_CONFIG              the config repo: an https Git URL (CodeCommit signed with the role, GitHub with
 *                             KARMA_GIT_TOKEN_SECRET), or a directory (tests)
 *   KARMA_CONFIG_BRANCH       the tracked branch proposals are based on and merged into (default: the remote's
 *                             default branch)
 *   KARMA_STATE_MACHINE_ARN   the pipeline (applies start it; GET /executions/{id} describes its runs)
 *   KARMA_AUDIT_TABLE         the DynamoDB audit log
 *   KARMA_API_CACHE_SECONDS   how long a container reuses a build for GET /plan, /impact, /components (default 5)
 *   KARMA_API_WORK_DIR        where the changes function keeps its clone (default /tmp/karma-api)
 *   AWS_REGION, AWS_ENDPOINT_URL[_SFN|_DYNAMODB|_SSM]   the SDK's region and endpoint overrides (tests: moto)
 */
import { KarmaError, UsageError } from '../../core/errors.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import type { Workspace } from '../workspace.ts';

/** The stack left out a setting a route needs: the route answers 503 saying which. */
export class ApiSetupError extends KarmaError {
  override readonly name: string = 'ApiSetupError';
}

export interface AwsWorkspaceSettings {
  readonly config: string;
  readonly branch?: string;
  readonly stateMachineArn?: string;
  readonly auditTable?: string;
  readonly cacheMs: number;
  readonly workDir: string;
  readonly region?: string;
  readonly endpoints: { readonly sfn?: string; readonly dynamodb?: string };
  readonly env: NodeJS.ProcessEnv;
}

export function awsWorkspaceSettings(env: NodeJS.ProcessEnv): AwsWorkspaceSettings {
  const config = env['KARMA_CONFIG'];
  if (!config) throw new ApiSetupError('KARMA_CONFIG is not set: the config repo (an https Git URL or a directory)');
  const cache = env['KARMA_API_CACHE_SECONDS'];
  const cacheSeconds = cache === undefined || cache === '' ? 5 : Number(cache);
  if (!Number.isFinite(cacheSeconds) || cacheSeconds < 0) throw new UsageError(`KARMA_API_CACHE_SECONDS must be a number of seconds (0: no cache), got "${cache}"`);
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const sfn = env['AWS_ENDPOINT_URL_SFN'] ?? env['AWS_ENDPOINT_URL'];
  const dynamodb = env['AWS_ENDPOINT_URL_DYNAMODB'] ?? env['AWS_ENDPOINT_URL'];
  return {
    config,
    ...(env['KARMA_CONFIG_BRANCH'] ? { branch: env['KARMA_CONFIG_BRANCH'] } : {}),
    ...(env['KARMA_STATE_MACHINE_ARN'] ? { stateMachineArn: env['KARMA_STATE_MACHINE_ARN'] } : {}),
    ...(env['KARMA_AUDIT_TABLE'] ? { auditTable: env['KARMA_AUDIT_TABLE'] } : {}),
    cacheMs: cacheSeconds * 1000,
    workDir: env['KARMA_API_WORK_DIR'] ?? '/tmp/karma-api',
    ...(region ? { region } : {}),
    endpoints: { ...(sfn ? { sfn } : {}), ...(dynamodb ? { dynamodb } : {}) },
    env,
  };
}

/** The state machine, or a 503 saying that the stack must set it. */
export function requireStateMachine(s: AwsWorkspaceSettings): string {
  if (!s.stateMachineArn) throw new ApiSetupError('KARMA_STATE_MACHINE_ARN is not set: this function cannot reach the pipeline');
  return s.stateMachineArn;
}

/** The routes of each group: a part implements its group's; together they make a whole Workspace. */
export type ReadPart = Pick<Workspace, 'current'>;
export type ChangesPart = Pick<Workspace, 'requestChange' | 'listChanges' | 'getChange' | 'applyChange'>;
export type OpsPart = Pick<Workspace, 'execution' | 'audit'>;

/** The stored graph without a build (proposed as an optional Workspace method: docs/api-serverless.md). */
export type StoredGraphRead = (options?: { readonly env?: string }) => Promise<{ readonly snapshot: GraphSnapshot; readonly buildId: string | null } | undefined>;

export interface Parts {
  readonly read?: ReadPart & { storedGraph?: StoredGraphRead; close(): Promise<void> };
  readonly changes?: ChangesPart & { close(): Promise<void> };
  readonly ops?: OpsPart & { close(): Promise<void> };
}

/** One Workspace from the parts given: a method of a part not given says so (a route served by the wrong function). */
export function composeWorkspace(description: string, parts: Parts): Workspace & { readonly storedGraph?: StoredGraphRead } {
  const missing = (group: string) => (): never => {
    throw new Error(`this function serves no ${group} routes (lib/core/pipeline-contract.ts API_ROUTES)`);
  };
  const stored = parts.read?.storedGraph;
  return {
    description,
    ...(stored ? { storedGraph: (o?: { readonly env?: string }) => stored(o) } : {}),
    current: parts.read ? (o) => parts.read!.current(o) : missing('read'),
    requestChange: parts.changes ? (r, a) => parts.changes!.requestChange(r, a) : missing('changes'),
    listChanges: parts.changes ? (o) => parts.changes!.listChanges(o) : missing('changes'),
    getChange: parts.changes ? (id) => parts.changes!.getChange(id) : missing('changes'),
    applyChange: parts.changes ? (id, r, a) => parts.changes!.applyChange(id, r, a) : missing('changes'),
    execution: parts.ops ? (id) => parts.ops!.execution(id) : missing('ops'),
    audit: parts.ops ? (p) => parts.ops!.audit(p) : missing('ops'),
    close: async () => {
      await Promise.all([parts.read?.close(), parts.changes?.close(), parts.ops?.close()]);
    },
  };
}
