/**
 * The route table behind API Gateway (HTTP API, payload format 2.0): one Lambda function per group of routes
 * (lib/core/pipeline-contract.ts API_ROUTES / API_FUNCTION_ENTRIES), each serving only its group, so each bundle
 * holds only what its routes import (lambdas/api-*.ts).
 *
 * Per container, once: the route table, the auth strategy and the logger. The workspace (Git, SSM, Neptune, ...)
 * is opened on the first request that calls it, never for /healthz or /openapi.json, and kept for the
 * container's life; an open that fails is tried again on the next request.
 *
 * Environment (set by lib/infra/api.ts):
 *   KARMA_API_AUTH         iam (default: API Gateway checked the SigV4 signature; the caller gets every role its
 *                          IAM policy lets it call) | jwt (a JWT authorizer verified the token; roles from a claim)
 *   KARMA_API_ROLES_CLAIM  with jwt: the claim holding the roles (default karma:roles)
 *
 * Logs: one structured line (Powertools) per unexpected error (a 500): its name, message and stack, the method
 * and path. Never a request body, a header or a query string.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { handle } from 'hono/aws-lambda';
import packageJson from '../../package.json' with { type: 'json' };
import type { ApiGroup } from '../core/pipeline-contract.ts';
import { UsageError } from '../core/errors.ts';
import type { GraphSnapshot } from '../core/snapshot.ts';
import type { Workspace } from '../app/workspace.ts';
import { problem } from './problem.ts';
import { createApi } from './app.ts';
import { iamAuth, jwtAuth, type Authenticate } from './auth.ts';

export const DEFAULT_ROLES_CLAIM = 'karma:roles';

/** The auth strategy KARMA_API_AUTH names; a usage error naming the variable for anything else. */
export function authFromEnv(env: NodeJS.ProcessEnv): Authenticate {
  const mode = env['KARMA_API_AUTH'] || 'iam';
  if (mode === 'iam') return iamAuth();
  if (mode === 'jwt') return jwtAuth(env['KARMA_API_ROLES_CLAIM'] || DEFAULT_ROLES_CLAIM);
  throw new UsageError(`KARMA_API_AUTH must be iam or jwt, got "${mode}"`);
}

/**
 * A workspace opened on first use: every call waits for `open()` (once per container; a failed open is retried
 * on the next call), then goes to the real one.
 */
/** The stored graph without a build, where a workspace offers it (docs/api-serverless.md proposes it for Workspace). */
type StoredGraphRead = (options?: { readonly env?: string }) => Promise<{ readonly snapshot: GraphSnapshot; readonly buildId: string | null } | undefined>;

export function lazyWorkspace(open: () => Promise<Workspace>): Workspace & { readonly opened: boolean; readonly storedGraph: StoredGraphRead } {
  let opening: Promise<Workspace> | undefined;
  let ready: Workspace | undefined;
  const get = async (): Promise<Workspace> => {
    if (ready) return ready;
    opening ??= open().then(
      (ws) => (ready = ws),
      (error: unknown) => {
        opening = undefined;
        throw error;
      },
    );
    return opening;
  };
  return {
    get description() {
      return ready?.description ?? 'not opened yet';
    },
    get opened() {
      return ready !== undefined;
    },
    current: async (options) => (await get()).current(options),
    // undefined when the real workspace has no stored graph: the caller builds instead.
    storedGraph: async (options) => {
      const ws = (await get()) as Workspace & { storedGraph?: StoredGraphRead };
      return ws.storedGraph ? ws.storedGraph(options) : undefined;
    },
    requestChange: async (request, actor) => (await get()).requestChange(request, actor),
    listChanges: async (options) => (await get()).listChanges(options),
    getChange: async (id) => (await get()).getChange(id),
    applyChange: async (id, request, actor) => (await get()).applyChange(id, request, actor),
    execution: async (id) => (await get()).execution(id),
    audit: async (page) => (await get()).audit(page),
    close: async () => {
      const ws = ready;
      ready = undefined;
      opening = undefined;
      await ws?.close();
    },
  };
}

/** For the meta group (/healthz, /openapi.json), whose routes call no workspace: nothing to open. */
export const noWorkspace = async (): Promise<Workspace> => {
  throw new Error('the meta routes (/healthz, /openapi.json) use no workspace; a route of another group was served by the meta function');
};

export type ApiLambdaHandler = ReturnType<typeof handle>;

export interface ApiHandlerOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
}

/** The Lambda handler of one group of routes. */
export function apiHandler(group: ApiGroup, open: () => Promise<Workspace>, options: ApiHandlerOptions = {}): ApiLambdaHandler {
  const env = options.env ?? process.env;
  const logger = options.logger ?? new Logger({ serviceName: 'karma-api' });
  logger.appendKeys({ group });
  const app = createApi({
    workspace: lazyWorkspace(open),
    authenticate: authFromEnv(env),
    groups: [group],
    version: packageJson.version,
    compressAbove: COMPRESS_ABOVE_BYTES,
    onError: (error, c) => {
      const e = error instanceof Error ? error : new Error(String(error));
      logger.error('unexpected error', { method: c.req.method, path: c.req.path, errorName: e.name, error: e });
    },
  });
  const serve = handle(app);
  return (async (event: Parameters<typeof serve>[0], context?: Parameters<typeof serve>[1]) => {
    if (context) logger.addContext(context as never);
    const result = await serve(withoutStage(event), context);
    const size = typeof result.body === 'string' ? Buffer.byteLength(result.body) : 0;
    if (size <= MAX_RESPONSE_BYTES) return result;
    // Lambda would drop it and API Gateway answer a bare 500: say what happened and what to ask for instead.
    logger.warn('response over the Lambda payload limit', { bytes: size });
    const detail = `the answer is ${(size / 2 ** 20).toFixed(1)} MiB, more than a Lambda function may return (6 MB): ask with Accept-Encoding: gzip, for one environment (?env=) or a neighbourhood (?env=&component=&depth=), or use karma serve`;
    return { statusCode: 503, headers: { 'content-type': 'application/problem+json' }, body: JSON.stringify(problem(503, detail)), isBase64Encoded: false } as typeof result;
  }) as ApiLambdaHandler;
}

/** Responses from 1 MiB on are gzipped for clients that accept it (a graph's JSON shrinks about tenfold). */
export const COMPRESS_ABOVE_BYTES = 1024 * 1024;
/** What a synchronous Lambda invocation may return (6 MB), less room for the envelope. */
export const MAX_RESPONSE_BYTES = 6 * 1000 * 1000 - 16 * 1024;

/**
 * The path the routes know: API Gateway's rawPath starts with the stage's name on a named stage (`/prod/graph`),
 * not on `$default`.
 */
export function withoutStage<E>(event: E): E {
  const e = event as { rawPath?: unknown; requestContext?: { stage?: unknown } };
  const stage = e.requestContext?.stage;
  if (typeof e.rawPath !== 'string' || typeof stage !== 'string' || stage === '$default') return event;
  if (e.rawPath !== `/${stage}` && !e.rawPath.startsWith(`/${stage}/`)) return event;
  return { ...event, rawPath: e.rawPath.slice(stage.length + 1) || '/' };
}
