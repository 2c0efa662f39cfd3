/**
 * The route table: one Hono app built from zod schemas (lib/api/schemas.ts), served by `karma serve` over HTTP
 * and by the API Lambda functions through API Gateway. A Lambda function builds it with only its group's
 * routes (so its bundle holds only what they import); `karma serve` builds it with every group.
 *
 * Every route calls the workspace (lib/app/workspace.ts) and the view functions the CLI prints (lib/app/views.ts);
 * every error is a problem (lib/api/problem.ts); every response says which build and commit it reflects
 * (headers Karma-Built-At, Karma-Commit, Karma-Build).
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { API_MAX_BODY_BYTES, API_ROUTES, SERVICE_ROUTES, type ApiGroup } from '../core/pipeline-contract.ts';
import { componentView, environmentsView, graphPicture, graphText, graphView, impactView, planView, reflects } from '../app/views.ts';
import { picture, toDot, toMermaid } from '../core/graph-text.ts';
import type { Current, Workspace } from '../app/workspace.ts';
import type { Authenticate, Principal } from './auth.ts';
import { problem, problemOf, problemResponse } from './problem.ts';
import * as S from './schemas.ts';
import { define, honoPath, json, problems } from './define.ts';
import { mountServiceRoutes, serviceRoutes, type ServiceRouteOptions } from './service-routes.ts';

export interface ApiOptions {
  readonly workspace: Workspace;
  readonly authenticate: Authenticate;
  /** Which groups of routes to serve (default: all). */
  readonly groups?: readonly ApiGroup[];
  readonly version: string;
  /** Told about every unexpected error (a 500), with the error: the response says only its name. */
  readonly onError?: (error: unknown, c: Context) => void;
  /** Compress responses of at least this many bytes for clients that accept it (the Lambda functions: 6 MB cap). */
  readonly compressAbove?: number;
  /** karma serve's service (issue 13): its routes (SERVICE_ROUTES) are served, and /healthz reports on it. */
  readonly service?: ServiceRouteOptions;
}

type Env = { Variables: { principal: Principal } };

const reads = problems(400, 404, 503);

export const routes = {
  healthz: define({ method: 'get', path: '/healthz', request: { query: S.EmptyQuery }, responses: { 200: json(S.Health, 'the server is up'), ...problems(400) } }),
  openapi: define({ method: 'get', path: '/openapi.json', request: { query: S.EmptyQuery }, responses: { 200: { description: 'this document (OpenAPI 3.1)' }, ...problems(400) } }),
  environments: define({
    method: 'get',
    path: '/environments',
    request: { query: S.RefreshQuery },
    responses: { 200: json(S.Environments, 'the environments, each with its deployments counted by status'), ...reads },
  }),
  graph: define({
    method: 'get',
    path: '/graph',
    request: { query: S.GraphQuery },
    responses: {
      200: {
        description: 'the graph (karma graph show --format json), or its picture (text, or JSON with format=picture)',
        content: { 'application/json': { schema: z.union([S.Graph, S.Picture]) }, 'text/plain': { schema: { type: 'string' } } },
      },
      ...reads,
    },
  }),
  plan: define({ method: 'get', path: '/plan', request: { query: S.PlanQuery }, responses: { 200: json(S.EnvironmentOrder, 'the waves (karma graph order --env E --json)'), ...reads } }),
  impact: define({ method: 'get', path: '/impact', request: { query: S.ImpactQuery }, responses: { 200: json(S.Impact, 'what follows (karma graph impact C E --json)'), ...reads } }),
  component: define({
    method: 'get',
    path: '/components/{env}/{name}',
    request: { params: S.ComponentParams, query: S.RefreshQuery },
    responses: { 200: json(S.Component, 'one deployment (karma component show C E --json)'), ...reads },
  }),
  requestChange: define({
    method: 'post',
    path: '/request-change',
    request: { query: S.EmptyQuery, body: { required: true, content: { 'application/json': { schema: S.RequestChangeBody } } } },
    responses: { 202: json(S.Proposed, 'proposed (karma propose-change --json); a dry run records nothing'), ...problems(400, 404, 409, 413, 415, 422, 503) },
  }),
  changes: define({ method: 'get', path: '/changes', request: { query: S.ChangesQuery }, responses: { 200: json(S.Changes, 'changes, newest first'), ...reads } }),
  change: define({ method: 'get', path: '/changes/{id}', request: { params: S.ChangeParams, query: S.EmptyQuery }, responses: { 200: json(S.Change, 'one change'), ...reads } }),
  applyChange: define({
    method: 'post',
    path: '/changes/{id}/apply',
    request: { params: S.ChangeParams, query: S.EmptyQuery, body: { required: false, content: { 'application/json': { schema: S.ApplyChangeBody } } } },
    responses: { 202: json(S.ApplyStarted, 'the apply started (follow GET /changes/{id})'), ...problems(400, 404, 409, 413, 415, 503) },
  }),
  execution: define({ method: 'get', path: '/executions/{id}', request: { params: S.ExecutionParams, query: S.EmptyQuery }, responses: { 200: json(S.Execution, 'a pipeline run'), ...reads } }),
  audit: define({ method: 'get', path: '/audit', request: { query: S.AuditQuery }, responses: { 200: json(S.AuditPage, 'audit entries, newest first'), ...reads } }),
} as const;

/**
 * The JSON text of a graph view, made once per build and query: a large graph (14 MiB at 5,000 components × 3
 * environments) is served to many clients from one serialisation, not one per request.
 */
const serialised = new WeakMap<object, Map<string, string>>();
function graphJson(build: object, key: string, view: () => unknown): string {
  let texts = serialised.get(build);
  if (!texts) serialised.set(build, (texts = new Map()));
  let text = texts.get(key);
  if (text === undefined) texts.set(key, (text = JSON.stringify(view())));
  return text;
}

/** JSON already serialised, with its length (compression skips what is small). */
function jsonText(c: Context, text: string, headers: Record<string, string>): never {
  return c.body(text, 200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }) as never;
}

/** The headers that say what a response reflects. */
function reflectsHeaders(current: Pick<Current, 'snapshot' | 'buildId'>): Record<string, string> {
  const r = reflects(current.snapshot);
  return { 'karma-built-at': r.builtAt, 'karma-commit': r.commit ?? 'none', ...(current.buildId ? { 'karma-build': current.buildId } : {}) };
}

/**
 * A value lib/app returned, as JSON. Its type is lib/app's (readonly, documented there), not the one zod infers
 * from the schema: the route tests check every response against its schema instead. Typed `never` so a handler may
 * return it where Hono expects the schema's inferred type.
 */
function send(c: Context, value: unknown, status: 200 | 202 = 200, headers: Record<string, string> = {}): never {
  return c.json(value, status, headers) as never;
}

export function createApi(options: ApiOptions): OpenAPIHono<Env> {
  const groups = new Set(options.groups ?? (['meta', 'read', 'changes', 'ops'] as const));
  const ws = options.workspace;
  const app = new OpenAPIHono<Env>({
    // An invalid request: 400, each problem with its path (`query.depth`, `body.input`).
    defaultHook: (result, c) => {
      if (result.success) return undefined;
      const where = (path: readonly PropertyKey[]): string => path.map(String).join('.') || '(root)';
      const issues = result.error.issues.map((i) => ({
        path: i.code === 'unrecognized_keys' ? i.keys.map((k) => `${result.target}.${k}`).join(', ') : `${result.target}.${where(i.path)}`,
        message: i.code === 'unrecognized_keys' ? `unknown ${result.target === 'query' ? 'query parameter' : 'field'}${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : i.message,
      }));
      return problemResponse(c, problem(400, `invalid ${result.target}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { problems: issues }));
    },
  });

  if (options.compressAbove !== undefined) app.use('*', compress({ threshold: options.compressAbove }));
  app.onError((error, c) => {
    const body = problemOf(error);
    if (body.status >= 500 && options.onError) options.onError(error, c);
    return problemResponse(c, body);
  });
  // A path of the table with a method it does not have: 405 and the methods it has (HEAD is GET without the body).
  const table = [...API_ROUTES.filter((r) => groups.has(r.group)), ...(options.service ? SERVICE_ROUTES : [])];
  const served = table.map((r) => ({ ...r, pattern: new RegExp(`^${r.path.replace(/\./g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`) }));
  app.notFound((c) => {
    const allowed = served.filter((r) => r.pattern.test(c.req.path)).flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method]));
    if (allowed.length > 0) return problemResponse(c, problem(405, `${c.req.path} answers ${allowed.join(', ')}, not ${c.req.method}`), { allow: allowed.join(', ') });
    return problemResponse(c, problem(404, `no route ${c.req.method} ${c.req.path}; GET /openapi.json lists them`));
  });

  // Auth, route by route, from the contract: 401 without a valid caller, 403 without the role.
  for (const route of table) {
    if (!route.role) continue;
    const role = route.role;
    const guard: MiddlewareHandler<Env> = async (c, next) => {
      if (c.req.method !== route.method) return next();
      const principal = options.authenticate(c);
      if (!principal) return problemResponse(c, problem(401, 'a valid bearer token is needed (Authorization: Bearer <token>)'), { 'www-authenticate': 'Bearer' });
      if (!principal.roles.has(role)) return problemResponse(c, problem(403, `${principal.name} lacks the role "${role}" that ${route.method} ${route.path} needs`));
      c.set('principal', principal);
      return next();
    };
    app.use(honoPath(route.path), guard);
  }
  // Bodies: at most 1 MiB (413), JSON only.
  app.use(
    '*',
    bodyLimit({
      maxSize: API_MAX_BODY_BYTES,
      // The rest of the body is not read: the connection closes after the answer.
      onError: (c) => problemResponse(c, problem(413, `the request body is larger than ${API_MAX_BODY_BYTES} bytes`), { connection: 'close' }),
    }),
  );

  if (groups.has('meta')) {
    const service = options.service?.service;
    app.openapi(routes.healthz, async (c) => send(c, { status: 'ok', version: options.version, ...(service ? { service: await service.health() } : {}) }));
    app.openapi(routes.openapi, (c) => send(c, openApiDocument(options.version, { service: options.service !== undefined })));
  }

  if (groups.has('read')) {
    app.openapi(routes.graph, async (c) => {
      const q = c.req.valid('query');
      // The whole graph or one environment's, without refresh: as the store holds it, when it holds it (Neptune).
      if (q.refresh !== 'true' && q.component === undefined && q.depth === undefined && ws.storedGraph) {
        // A picture keeps its edges to and from other environments (as `karma graph show` draws it): it is drawn
        // from the whole stored graph; the JSON of one environment is only that environment's part.
        const drawn = q.format === 'picture' || q.format === 'dot' || q.format === 'mermaid';
        const stored = await ws.storedGraph(q.env !== undefined && !drawn ? { env: q.env } : {});
        // An environment the stored graph does not have: the live build below answers (404 with the known names).
        const known = !drawn || q.env === undefined || stored?.snapshot.vertices.some((v) => v.id === `env:${q.env}`);
        if (stored && known) {
          if (q.format === 'picture') return send(c, picture(stored.snapshot, q.env), 200, reflectsHeaders(stored));
          if (q.format === 'dot' || q.format === 'mermaid') {
            const text = q.format === 'dot' ? toDot(stored.snapshot, q.env) : toMermaid(stored.snapshot, q.env);
            return c.body(text, 200, { 'content-type': 'text/plain; charset=utf-8', ...reflectsHeaders(stored) }) as never;
          }
          return jsonText(c, graphJson(stored.snapshot, q.env ?? '', () => stored.snapshot), reflectsHeaders(stored));
        }
      }
      const current = await ws.current({ refresh: q.refresh === 'true' });
      const query = { ...(q.env !== undefined ? { env: q.env } : {}), ...(q.component !== undefined ? { component: q.component } : {}), ...(q.depth !== undefined ? { depth: q.depth } : {}) };
      if (q.format === 'picture') return send(c, graphPicture(current.build, current.snapshot, query), 200, reflectsHeaders(current));
      if (q.format === 'dot' || q.format === 'mermaid') {
        return c.body(graphText(current.build, current.snapshot, query, q.format), 200, { 'content-type': 'text/plain; charset=utf-8', ...reflectsHeaders(current) }) as never;
      }
      return jsonText(c, graphJson(current.build, JSON.stringify(query), () => graphView(current.build, current.snapshot, query)), reflectsHeaders(current));
    });
    app.openapi(routes.environments, async (c) => {
      const current = await ws.current({ refresh: c.req.valid('query').refresh === 'true' });
      return send(c, environmentsView(current.build), 200, reflectsHeaders(current));
    });
    app.openapi(routes.plan, async (c) => {
      const q = c.req.valid('query');
      const current = await ws.current({ refresh: q.refresh === 'true' });
      return send(c, planView(current.build, q.env, q.mode ?? 'apply'), 200, reflectsHeaders(current));
    });
    app.openapi(routes.impact, async (c) => {
      const q = c.req.valid('query');
      const current = await ws.current({ refresh: q.refresh === 'true' });
      return send(c, impactView(current.build, q.env, q.component, q.output), 200, reflectsHeaders(current));
    });
    app.openapi(routes.component, async (c) => {
      const { env, name } = c.req.valid('param');
      const current = await ws.current({ refresh: c.req.valid('query').refresh === 'true' });
      return send(c, componentView(current.build, current.snapshot, env, name), 200, reflectsHeaders(current));
    });
  }

  if (groups.has('changes')) {
    app.openapi(routes.requestChange, async (c) => {
      const body = c.req.valid('json');
      return send(c, await ws.requestChange(body, c.get('principal').name), 202);
    });
    app.openapi(routes.changes, async (c) => send(c, await ws.listChanges({ ...(c.req.valid('query').limit ? { limit: c.req.valid('query').limit } : {}) })));
    app.openapi(routes.change, async (c) => send(c, await ws.getChange(c.req.valid('param').id)));
    app.openapi(routes.applyChange, async (c) => {
      const hasBody = (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
      const body = hasBody ? c.req.valid('json') : {};
      return send(c, await ws.applyChange(c.req.valid('param').id, body, c.get('principal').name), 202);
    });
  }

  if (groups.has('ops')) {
    app.openapi(routes.execution, async (c) => send(c, await ws.execution(c.req.valid('param').id)));
    app.openapi(routes.audit, async (c) => {
      const q = c.req.valid('query');
      return send(c, await ws.audit({ ...(q.limit ? { limit: q.limit } : {}), ...(q.after ? { after: q.after } : {}), ...(q.change ? { change: q.change } : {}) }));
    });
  }
  if (options.service) mountServiceRoutes(app, options.service);
  return app;
}

/**
 * The OpenAPI 3.1 document of every route, whichever groups an app serves; with `service` (karma serve, and
 * docs/openapi.json, which is this, committed) also the routes only karma serve has, tagged "karma serve".
 */
export function openApiDocument(version: string, options: { readonly service?: boolean } = { service: true }): unknown {
  const all = new OpenAPIHono();
  for (const route of Object.values(routes)) all.openAPIRegistry.registerPath(route);
  if (options.service) for (const route of Object.values(serviceRoutes)) all.openAPIRegistry.registerPath({ ...route, tags: ['karma serve'] });
  all.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'karma serve: a token from the tokens file (karma token create) or $KARMA_API_TOKEN. The serverless API uses IAM (SigV4) or a JWT instead.',
  });
  return all.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Karma API',
      version,
      description:
        'The live dependency graph of Terraform components across environments, the changes proposed to it, and their applies. Every route returns what the matching CLI command prints with --json. Errors are RFC 9457 problems (application/problem+json).',
    },
  });
}
