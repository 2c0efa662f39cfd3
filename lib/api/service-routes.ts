/**
 * The routes only `karma serve` has (issue 13; SERVICE_ROUTES in lib/core/pipeline-contract.ts): readiness, the
 * live feed (Server-Sent Events), rollouts, the failed notifications, GraphQL and the Git webhook. They call the
 * service through ServiceEndpoints (lib/api/service.ts), which lib/service implements.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { SERVICE_EVENT_TYPES, type ServiceEvent, type ServiceEventType } from '../app/events.ts';
import { verifySignature } from '../app/webhook.ts';
import type { Principal } from './auth.ts';
import { define, json, problems } from './define.ts';
import { problem, problemResponse } from './problem.ts';
import * as S from './schemas.ts';
import { rolloutView, type ServiceEndpoints } from './service.ts';

type Env = { Variables: { principal: Principal } };

/** GraphQL over the same query functions (lib/api/graphql.ts), as a request → answer function. */
export type GraphqlHandler = (c: Context) => Promise<Response>;

export interface ServiceRouteOptions {
  readonly service: ServiceEndpoints;
  readonly graphql?: GraphqlHandler;
  /** The Git webhook's HMAC key (X-Hub-Signature-256); absent: POST /webhooks/git answers 404. */
  readonly gitWebhookSecret?: string;
  /** A signed push arrived: fetch the config now. */
  readonly onGitPush?: () => void;
  /** SSE keep-alive comment interval (default 15 s: under the idle timeouts of load balancers). */
  readonly heartbeatMs?: number;
}

export const serviceRoutes = {
  readyz: define({
    method: 'get',
    path: '/readyz',
    request: { query: S.EmptyQuery },
    responses: { 200: json(S.Ready, 'the live graph is loaded and the service takes work'), ...problems(400, 503) },
  }),
  events: define({
    method: 'get',
    path: '/events',
    request: { query: S.EventsQuery },
    responses: {
      200: { description: 'Server-Sent Events: each `event:` is a type (graph.changed, change.queued, …), its `data:` the event as JSON, its `id:` for Last-Event-ID', content: { 'text/event-stream': { schema: { type: 'string' } } } },
      ...problems(400),
    },
  }),
  rollouts: define({ method: 'get', path: '/rollouts', request: { query: S.RolloutsQuery }, responses: { 200: json(S.Rollouts, 'rollouts, newest first'), ...problems(400) } }),
  createRollout: define({
    method: 'post',
    path: '/rollouts',
    request: { query: S.EmptyQuery, body: { required: true, content: { 'application/json': { schema: S.RolloutBody } } } },
    responses: { 201: json(S.Rollout, 'the rollout, started (follow GET /rollouts/{id} or /events)'), ...problems(400, 404, 409, 413, 415, 422, 503) },
  }),
  rollout: define({ method: 'get', path: '/rollouts/{id}', request: { params: S.RolloutParams, query: S.EmptyQuery }, responses: { 200: json(S.Rollout, 'one rollout'), ...problems(400, 404) } }),
  approveRollout: define({
    method: 'post',
    path: '/rollouts/{id}/approve',
    request: { params: S.RolloutParams, query: S.EmptyQuery },
    responses: { 200: json(S.Rollout, 'approved: the waiting step is queued'), ...problems(400, 404, 409) },
  }),
  failedNotifications: define({
    method: 'get',
    path: '/notifications/failed',
    request: { query: S.LimitQuery },
    responses: { 200: json(S.FailedDeliveries, 'webhook deliveries that failed after every retry, newest first'), ...problems(400) },
  }),
  graphqlGet: define({
    method: 'get',
    path: '/graphql',
    request: { query: S.GraphqlQuery },
    responses: {
      200: { description: 'a GraphQL answer (docs/graphql.md, docs/schema.graphql)', content: { 'application/json': { schema: S.GraphqlAnswer } } },
      400: { description: 'a refused query (syntax, unknown field, a limit): GraphQL errors with a code', content: { 'application/json': { schema: S.GraphqlAnswer }, 'application/problem+json': { schema: S.Problem } } },
    },
  }),
  graphqlPost: define({
    method: 'post',
    path: '/graphql',
    request: { body: { required: true, content: { 'application/json': { schema: S.GraphqlBody } } } },
    responses: {
      200: { description: 'a GraphQL answer; read-only: queries only', content: { 'application/json': { schema: S.GraphqlAnswer } } },
      400: { description: 'a refused query (syntax, unknown field, a limit, a mutation): GraphQL errors with a code', content: { 'application/json': { schema: S.GraphqlAnswer }, 'application/problem+json': { schema: S.Problem } } },
      413: { description: 'a body over 1 MiB', content: { 'application/problem+json': { schema: S.Problem } } },
      415: { description: 'a body that is not application/json', content: { 'application/json': { schema: S.GraphqlAnswer } } },
    },
  }),
  gitWebhook: define({
    method: 'post',
    path: '/webhooks/git',
    request: {},
    responses: { 202: { description: 'a signed push: the config is fetched now' }, ...problems(401, 404) },
  }),
} as const;

function send(c: Context, value: unknown, status: 200 | 201 | 202 = 200, headers: Record<string, string> = {}): never {
  return c.json(value, status, headers) as never;
}

const sseMessage = (e: ServiceEvent) => ({ event: e.type, id: String(e.id), data: JSON.stringify(e) });

export function mountServiceRoutes(app: OpenAPIHono<Env>, options: ServiceRouteOptions): void {
  const { service } = options;
  app.openapi(serviceRoutes.readyz, (c) => {
    const r = service.readiness();
    if (!r.ready) return problemResponse(c, problem(503, r.reason ?? 'not ready')) as never;
    return send(c, { ready: true });
  });

  app.openapi(serviceRoutes.events, (c) => {
    const q = c.req.valid('query');
    const wanted = q.types ? q.types.split(',').map((t) => t.trim()).filter(Boolean) : [];
    const unknown = wanted.filter((t) => !(SERVICE_EVENT_TYPES as readonly string[]).includes(t));
    if (unknown.length > 0) return problemResponse(c, problem(400, `unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${SERVICE_EVENT_TYPES.join(', ')}`)) as never;
    const types = new Set<ServiceEventType>(wanted as ServiceEventType[]);
    const keep = (e: ServiceEvent): boolean => types.size === 0 || types.has(e.type);
    const lastId = Number(c.req.header('last-event-id') ?? '');
    return streamSSE(c, async (stream) => {
      const pending: ServiceEvent[] = Number.isSafeInteger(lastId) && lastId > 0 ? service.events.since(lastId).filter(keep) : [];
      let wake: (() => void) | undefined;
      const unsubscribe = service.events.subscribe((e) => {
        if (!keep(e)) return;
        pending.push(e);
        wake?.();
      });
      let open = true;
      stream.onAbort(() => {
        open = false;
        wake?.();
      });
      const heartbeat = setInterval(() => {
        if (open) void stream.write(': keep-alive\n\n');
      }, options.heartbeatMs ?? 15_000);
      try {
        // The first line says the feed is open (a client can tell a connected feed from a hanging one).
        await stream.write(': connected\n\n');
        while (open) {
          while (pending.length > 0 && open) await stream.writeSSE(sseMessage(pending.shift()!));
          if (!open) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        clearInterval(heartbeat);
        unsubscribe();
      }
    }) as never;
  });

  app.openapi(serviceRoutes.rollouts, async (c) => {
    const q = c.req.valid('query');
    const list = await service.rollouts.list(q.limit ? { limit: q.limit } : {});
    return send(c, { rollouts: list.map(rolloutView) });
  });
  app.openapi(serviceRoutes.createRollout, async (c) => {
    const body = c.req.valid('json');
    const rollout = await service.rollouts.create(
      { component: body.component, input: body.input, environments: body.environments, ...(body.approval ? { approval: body.approval } : {}), ...(body.message !== undefined ? { message: body.message } : {}) },
      c.get('principal').name,
    );
    return send(c, rolloutView(rollout), 201, { location: `/rollouts/${rollout.id}` });
  });
  app.openapi(serviceRoutes.rollout, async (c) => send(c, rolloutView(await service.rollouts.get(c.req.valid('param').id))));
  app.openapi(serviceRoutes.approveRollout, async (c) => send(c, rolloutView(await service.rollouts.approve(c.req.valid('param').id, c.get('principal').name))));
  app.openapi(serviceRoutes.failedNotifications, async (c) => {
    const q = c.req.valid('query');
    return send(c, { deliveries: await service.failedNotifications(q.limit ? { limit: q.limit } : {}) });
  });

  const graphql = options.graphql;
  const noGraphql = (c: Context): Response => problemResponse(c, problem(404, 'GraphQL is not served here'));
  // GET is checked against its documented limits first (a problem when over); the GraphQL handler parses both
  // (its own errors are GraphQL's, not problems).
  app.openapi(serviceRoutes.graphqlGet, async (c) => (graphql ? graphql(c) : noGraphql(c)) as never);
  app.on('POST', '/graphql', async (c) => (graphql ? graphql(c) : noGraphql(c)));

  app.openapi(serviceRoutes.gitWebhook, async (c) => {
    const secret = options.gitWebhookSecret;
    if (!secret) return problemResponse(c, problem(404, 'no Git webhook is configured: set KARMA_GIT_WEBHOOK_SECRET and start karma serve with a Git URL')) as never;
    const body = Buffer.from(await c.req.arrayBuffer());
    if (!verifySignature(secret, body, c.req.header('x-hub-signature-256'))) {
      return problemResponse(c, problem(401, 'X-Hub-Signature-256 is missing or does not match the body')) as never;
    }
    options.onGitPush?.();
    return c.body(null, 202) as never;
  });
}
