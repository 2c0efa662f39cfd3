/**
 * The routes only karma serve has (lib/api/service-routes.ts), in-process over a service made of plain objects:
 * readiness, the SSE feed (filter, replay with Last-Event-ID, auth), rollouts' errors as problems, the failed
 * notifications, and the signed Git webhook.
 */
import { describe, expect, it } from 'vitest';
import { createApi } from '../../../lib/api/app.ts';
import { tokenAuth } from '../../../lib/api/auth.ts';
import type { RolloutRequest, ServiceEndpoints, ServiceHealth } from '../../../lib/api/service.ts';
import { EventBus } from '../../../lib/app/events.ts';
import { sign } from '../../../lib/app/webhook.ts';
import type { Workspace } from '../../../lib/app/workspace.ts';
import { ConflictError, NotFoundError } from '../../../lib/core/errors.ts';
import type { FailedDelivery, Rollout } from '../../../lib/ports.ts';

const TOKEN = 'karma_unit-admin-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const ROLLOUT: Rollout = {
  id: 'r-00000001',
  component: 'queue',
  input: { visibility_timeout: 45, secret_looking: 'input-never-shown' },
  approval: 'manual',
  actor: 'alice',
  createdAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:00:00.000Z',
  status: 'running',
  steps: [
    { env: 'karma-dev', change: null, status: 'proposing' },
    { env: 'karma-prod', change: null, status: 'pending' },
  ],
  version: 1,
};

type TestService = ServiceEndpoints & { created: RolloutRequest[]; ready: boolean };

function service(overrides: Partial<ServiceEndpoints> = {}): TestService {
  const created: RolloutRequest[] = [];
  const s: TestService = {
    created,
    ready: true,
    readiness: (): { ready: boolean; reason?: string } => (s.ready ? { ready: true } : { ready: false, reason: 'the graph is loading' }),
    health: async (): Promise<ServiceHealth> => ({
      graph: { version: 3, loadedAt: '2026-12-02T10:00:00.000Z', updatedAt: '2026-12-02T10:01:00.000Z', commit: null },
      sync: { at: null, buildId: null, written: null, error: null },
      queue: { queued: 1, running: 0 },
    }),
    rollouts: {
      create: async (request: RolloutRequest) => {
        created.push(request);
        return ROLLOUT;
      },
      get: async (id: string) => {
        if (id !== ROLLOUT.id) throw new NotFoundError(`no rollout "${id}"`, { kind: 'rollout', value: id, known: [ROLLOUT.id] });
        return ROLLOUT;
      },
      list: async () => [ROLLOUT],
      approve: async () => {
        throw new ConflictError(`rollout ${ROLLOUT.id} is running, not waiting for an approval`);
      },
    },
    events: new EventBus(),
    failedNotifications: async (): Promise<FailedDelivery[]> => [],
    ...overrides,
  };
  return s;
}

function app(s: ServiceEndpoints, options: { secret?: string; onGitPush?: () => void } = {}) {
  return createApi({
    workspace: {} as Workspace,
    authenticate: tokenAuth({ adminToken: TOKEN }),
    version: 'test',
    service: { service: s, heartbeatMs: 60_000, ...(options.secret ? { gitWebhookSecret: options.secret } : {}), ...(options.onGitPush ? { onGitPush: options.onGitPush } : {}) },
  });
}

/** Reads the SSE stream until `count` events arrived; returns their `event:` and parsed `data:`. */
async function readEvents(response: Response, count: number): Promise<{ type: string; id: string; data: Record<string, unknown> }[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: { type: string; id: string; data: Record<string, unknown> }[] = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    const blocks = text.split('\n\n');
    text = blocks.pop()!;
    for (const block of blocks) {
      const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
      if (fields['event']) events.push({ type: fields['event'], id: fields['id']!, data: JSON.parse(fields['data']!) as Record<string, unknown> });
    }
  }
  await reader.cancel();
  return events;
}

describe("karma serve's own routes", () => {
  it('/readyz: 200 when ready, a 503 problem with the reason when not; no token needed', async () => {
    const s = service();
    const api = app(s);
    expect((await api.request('/readyz')).status).toBe(200);
    s.ready = false;
    const r = await api.request('/readyz');
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(((await r.json()) as { detail: string }).detail).toBe('the graph is loading');
  });

  it('/healthz carries the live graph, the last sync and the queue', async () => {
    const body = (await (await app(service()).request('/healthz')).json()) as { service: ServiceHealth };
    expect(body.service.graph.version).toBe(3);
    expect(body.service.queue).toEqual({ queued: 1, running: 0 });
  });

  it('/events needs a token; an unknown type is a 400 naming the known ones', async () => {
    const api = app(service());
    expect((await api.request('/events')).status).toBe(401);
    const r = await api.request('/events?types=change.finished,change.done', { headers: auth });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/unknown event type change\.done; known: graph\.changed, /);
  });

  it('/events streams the events of the wanted types, and replays what a client missed (Last-Event-ID)', async () => {
    const s = service();
    const bus = s.events as EventBus;
    const first = bus.publish({ type: 'change.queued', change: 'p-1', env: 'karma-dev', component: 'queue', actor: 'alice' });
    bus.publish({ type: 'graph.changed', version: 2, cause: 'runtime', statusChanges: [] });
    const missed = bus.publish({ type: 'change.started', change: 'p-1', env: 'karma-dev', component: 'queue', attempt: 1 });
    const response = await app(s).request('/events?types=change.queued,change.started,change.finished', { headers: { ...auth, 'last-event-id': String(first.id) } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reading = readEvents(response, 2);
    // Published after the client connected: delivered live; the graph event is filtered out.
    setTimeout(() => {
      bus.publish({ type: 'graph.changed', version: 3, cause: 'runtime', statusChanges: [] });
      bus.publish({ type: 'change.finished', change: 'p-1', env: 'karma-dev', component: 'queue', outcome: 'succeeded', result: 'applied' });
    }, 20);
    const events = await reading;
    expect(events.map((e) => e.type)).toEqual(['change.started', 'change.finished']);
    expect(events[0]!.id).toBe(String(missed.id));
    expect(events[1]!.data).toMatchObject({ change: 'p-1', outcome: 'succeeded' });
  });

  it('rollouts: 201 with Location, the inputs never in an answer; a bad body is 400; unknown 404; approve when not waiting 409', async () => {
    const s = service();
    const api = app(s);
    const created = await api.request('/rollouts', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ component: 'queue', input: { visibility_timeout: 45 }, environments: ['karma-dev', 'karma-prod'], approval: 'manual' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/rollouts/${ROLLOUT.id}`);
    const text = await created.text();
    expect(text).not.toContain('input-never-shown');
    expect(JSON.parse(text)).not.toHaveProperty('input');
    expect(s.created).toEqual([{ component: 'queue', input: { visibility_timeout: 45 }, environments: ['karma-dev', 'karma-prod'], approval: 'manual' }]);
    const duplicate = await api.request('/rollouts', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ component: 'queue', input: {}, environments: ['karma-dev', 'karma-dev'] }),
    });
    expect(duplicate.status).toBe(400);
    expect(((await duplicate.json()) as { detail: string }).detail).toContain('an environment may appear once');
    const unknown = await api.request('/rollouts/r-nope', { headers: auth });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { known: string[] }).known).toEqual([ROLLOUT.id]);
    expect((await api.request(`/rollouts/${ROLLOUT.id}/approve`, { method: 'POST', headers: auth })).status).toBe(409);
    expect((await (await api.request('/rollouts', { headers: auth })).json()) as unknown).toEqual({ rollouts: [expect.not.objectContaining({ input: expect.anything() })] });
  });

  it('/webhooks/git: 404 unless configured; a wrong signature 401; a signed push 202 and the config is fetched', async () => {
    expect((await app(service()).request('/webhooks/git', { method: 'POST', body: '{}' })).status).toBe(404);
    let pushes = 0;
    const api = app(service(), { secret: 'hook-secret', onGitPush: () => pushes++ });
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    expect((await api.request('/webhooks/git', { method: 'POST', body, headers: { 'x-hub-signature-256': sign('another-secret', body) } })).status).toBe(401);
    expect(pushes).toBe(0);
    expect((await api.request('/webhooks/git', { method: 'POST', body, headers: { 'x-hub-signature-256': sign('hook-secret', body) } })).status).toBe(202);
    expect(pushes).toBe(1);
  });

  it('without a service, none of these routes exist', async () => {
    const api = createApi({ workspace: {} as Workspace, authenticate: tokenAuth({ adminToken: TOKEN }), version: 'test' });
    for (const path of ['/readyz', '/events', '/rollouts', '/graphql']) expect((await api.request(path, { headers: auth })).status).toBe(404);
  });
});
