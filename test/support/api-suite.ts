/**
 * The route tests, written once and run against every way the API is served: the Hono app in-process, `karma
 * serve` over HTTP, and the Lambda handlers with API Gateway events. Each caller supplies a client and the
 * example repo (examples/acme-platform, its runtime seeded) behind it; the suite checks statuses, problem
 * bodies, every response against its schema, the auth answers, and that no secret of the seed ever appears.
 */
import { expect, it } from 'vitest';
import type { z } from 'zod';
import { API_ROUTES, SERVICE_ROUTES } from '../../lib/core/pipeline-contract.ts';
import * as S from '../../lib/api/schemas.ts';

export interface ApiResponse {
  readonly status: number;
  readonly contentType: string;
  readonly headers: (name: string) => string | null;
  readonly text: string;
}

export interface ApiClient {
  request(method: 'GET' | 'POST', path: string, options?: { token?: string | null; body?: unknown; raw?: string; contentType?: string }): Promise<ApiResponse>;
}

export interface SuiteContext {
  readonly client: ApiClient;
  /** A token with every role (KARMA_API_TOKEN); null where the caller's identity is the transport's (IAM). */
  readonly admin: string | null;
  /** A token with only `read`, where the transport has bearer tokens. */
  readonly reader?: string;
  /** The expected JSON of a CLI command on the same config (in-process and serve: the CLI itself). */
  readonly cli?: (...argv: string[]) => Promise<unknown>;
  /** Whether POST /request-change can record a proposal here (a Git repository behind it). */
  readonly proposals: boolean;
  /** karma serve: the service's own routes are served (and in its /openapi.json) too. */
  readonly service?: boolean;
}

/** Secrets in examples/acme-platform/runtime-seed.yaml: never in a response, in any encoding. */
export const SEED_SECRETS = ['dd-example-not-a-real-key', 'prod-secret-never-shown', 'dev-secret-never-shown'];

export function expectNoSecret(text: string): void {
  for (const secret of SEED_SECRETS) {
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]) {
      expect(text.includes(form), `a response holds the secret ${secret.slice(0, 3)}… (as ${form === secret ? 'raw' : 'an encoding'})`).toBe(false);
    }
  }
}

function parsed<T extends z.ZodType>(schema: T, response: ApiResponse, status = 200): z.infer<T> {
  expect(response.status, response.text.slice(0, 500)).toBe(status);
  expectNoSecret(response.text);
  const body: unknown = JSON.parse(response.text);
  const result = schema.safeParse(body);
  expect(result.success, result.success ? '' : JSON.stringify(result.error.issues.slice(0, 3))).toBe(true);
  return body as z.infer<T>;
}

function expectProblem(response: ApiResponse, status: number): z.infer<typeof S.Problem> {
  expect(response.status, response.text.slice(0, 500)).toBe(status);
  expect(response.contentType).toMatch(/^application\/problem\+json/);
  expectNoSecret(response.text);
  const body = S.Problem.parse(JSON.parse(response.text));
  expect(body.status).toBe(status);
  return body;
}

/** Registers the suite's tests (call inside a describe whose beforeAll sets up `context()`). */
export function apiRouteSuite(context: () => SuiteContext): void {
  const auth = (): { token?: string | null } => ({ token: context().admin });

  it('GET /healthz and /openapi.json answer without auth; the document lists exactly the routes of the contract', async () => {
    const { client } = context();
    parsed(S.Health, await client.request('GET', '/healthz', { token: null }));
    const doc = JSON.parse((await client.request('GET', '/openapi.json', { token: null })).text) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const listed = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    const served = [...API_ROUTES, ...(context().service ? SERVICE_ROUTES : [])];
    expect(listed.sort()).toEqual(served.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('answers 401 (problem+json) without a valid caller, on every route that needs a role', async () => {
    const { client } = context();
    for (const route of API_ROUTES.filter((r) => r.role)) {
      const path = route.path.replace('{env}', 'karma-dev').replace('{name}', 'network').replace('{id}', 'p-00000000');
      const response = await client.request(route.method, path, { token: null, ...(route.method === 'POST' ? { body: {} } : {}) });
      expectProblem(response, 401);
    }
    if (context().admin !== null) expectProblem(await client.request('GET', '/plan?env=karma-dev', { token: 'karma_not-a-token' }), 401);
  });

  it('answers 403 for a role the caller lacks', async () => {
    const { client, reader } = context();
    if (!reader) return;
    parsed(S.EnvironmentOrder, await client.request('GET', '/plan?env=karma-dev', { token: reader }));
    const p = expectProblem(await client.request('POST', '/request-change', { token: reader, body: { component: 'queue', env: 'karma-dev', input: {} } }), 403);
    expect(p.detail).toContain('propose');
  });

  it('GET /plan is `karma graph order --env E --json`; unknown env 404 with the valid names; unknown or missing keys 400', async () => {
    const { client, cli } = context();
    const response = await client.request('GET', '/plan?env=karma-dev', auth());
    const plan = parsed(S.EnvironmentOrder, response);
    expect(plan.env).toBe('karma-dev');
    expect(response.headers('karma-built-at')).toMatch(/^\d{4}-/);
    if (cli) expect(plan).toEqual(await cli('graph', 'order', '--env', 'karma-dev', '--json'));
    const missing = expectProblem(await client.request('GET', '/plan?env=karma-qa', auth()), 404);
    expect([...(missing.known ?? [])].sort()).toEqual(['karma-dev', 'karma-prod', 'karma-shared']);
    expect(missing.detail).toContain('karma-qa');
    const unknown = expectProblem(await client.request('GET', '/plan?env=karma-dev&evn=x', auth()), 400);
    expect(unknown.problems?.[0]?.path).toBe('query.evn');
    expectProblem(await client.request('GET', '/plan', auth()), 400);
  });

  it('GET /graph: the environment, a neighbourhood bounded by depth, DOT text', async () => {
    const { client, cli } = context();
    const env = parsed(S.Graph, await client.request('GET', '/graph?env=karma-dev', auth()));
    if (cli) {
      // Two builds of the same config and runtime: the same graph, built at different moments.
      const shown = (await cli('graph', 'show', '--env', 'karma-dev', '--format', 'json')) as typeof env;
      expect({ ...env, meta: { ...env.meta, builtAt: '' } }).toEqual({ ...shown, meta: { ...shown.meta, builtAt: '' } });
    }
    const near = parsed(S.Graph, await client.request('GET', '/graph?env=karma-dev&component=network&depth=1', auth()));
    const components = (g: typeof env): string[] => g.vertices.filter((v) => v.label === 'Component').map((v) => v.id);
    expect(components(near)).toContain('component:karma-dev:network');
    expect(components(near).length).toBeLessThan(components(env).length);
    expect(components(near).length).toBeGreaterThan(1);
    expect(parsed(S.Graph, await client.request('GET', '/graph?env=karma-dev&component=network&depth=0', auth())).vertices.filter((v) => v.label === 'Component')).toHaveLength(1);
    expectProblem(await client.request('GET', '/graph?env=karma-dev&component=network&depth=99', auth()), 400);
    expectProblem(await client.request('GET', '/graph?env=karma-dev&component=nope', auth()), 404);
    const dot = await client.request('GET', '/graph?env=karma-dev&format=dot', auth());
    expect(dot.status).toBe(200);
    expect(dot.contentType).toMatch(/^text\/plain/);
    expect(dot.text.startsWith('digraph karma {')).toBe(true);
  });

  it('GET /environments: every environment of karma.yaml, its deployments counted by status', async () => {
    const { client } = context();
    const envs = parsed(S.Environments, await client.request('GET', '/environments', auth()));
    expect(envs.project).toBe('acme-platform');
    expect(envs.environments.map((e) => e.name).sort()).toEqual(['karma-dev', 'karma-prod', 'karma-shared']);
    const dev = envs.environments.find((e) => e.name === 'karma-dev')!;
    expect(dev.deployments).toBe(9);
    expect(Object.values(dev.statuses).reduce((a, b) => a + b, 0)).toBe(9);
    expect(dev.statuses.failed).toBe(1); // cache
    expectProblem(await client.request('GET', '/environments?x=1', auth()), 400);
  });

  it('GET /graph?format=picture: the drawing as JSON, the same picture with or without a neighbourhood', async () => {
    const { client, cli } = context();
    const picture = parsed(S.Picture, await client.request('GET', '/graph?env=karma-dev&format=picture', auth()));
    const dev = picture.envs.find((g) => g.env === 'karma-dev')!;
    expect(dev.nodes).toHaveLength(9);
    expect(dev.nodes.find((n) => n.name === 'cache')).toMatchObject({ status: 'failed', otherEnv: false });
    // The shared DNS zone of another environment is drawn, marked as such.
    expect(picture.envs.find((g) => g.env === 'karma-shared')?.nodes[0]).toMatchObject({ name: 'dns-zone', otherEnv: true });
    const edge = picture.edges.find((e) => e.from === 'component:karma-dev:network' && e.to === 'component:karma-dev:database');
    expect(edge?.outputs).toEqual(['private_subnet_ids', 'vpc_id']);
    expect(picture.edges.some((e) => e.orderingOnly)).toBe(true);
    if (cli) expect(picture).toEqual(await cli('graph', 'show', '--env', 'karma-dev', '--format', 'picture'));
    const near = parsed(S.Picture, await client.request('GET', '/graph?env=karma-dev&component=network&depth=1&format=picture', auth()));
    const nearDev = near.envs.find((g) => g.env === 'karma-dev')!.nodes.map((n) => n.name);
    expect(nearDev).toContain('network');
    expect(nearDev.length).toBeLessThan(9);
  });

  it('GET /impact and GET /components/{env}/{name}: sensitive outputs hidden, secrets as references', async () => {
    const { client, cli } = context();
    const im = parsed(S.Impact, await client.request('GET', '/impact?env=karma-dev&component=network', auth()));
    expect(im.waves.flat().length).toBeGreaterThan(0);
    if (cli) expect(im).toEqual(await cli('graph', 'impact', 'network', 'karma-dev', '--json'));
    expect(expectProblem(await client.request('GET', '/impact?env=karma-dev&component=network&output=nope', auth()), 404).known).toContain('vpc_id');
    const db = parsed(S.Component, await client.request('GET', '/components/karma-dev/database', auth()));
    const password = db.outputs.find((o) => o.name === 'master_password');
    expect(password).toMatchObject({ sensitive: true, value: null, present: true });
    expect(db.lastApply?.result).toBe('success');
    // The inputs schema of component.yaml, for a form that edits them.
    expect(db.inputsSchema).toMatchObject({ type: 'object', required: ['vpc_id', 'subnet_ids', 'kms_key_arn', 'instance_class'] });
    if (cli) expect(db).toEqual(await cli('component', 'show', 'database', 'karma-dev', '--json'));
    const missing = expectProblem(await client.request('GET', '/components/karma-dev/vpn', auth()), 404);
    expect(missing.known).toContain('database');
  });

  it('POST /request-change: malformed bodies are 400, over 1 MiB 413, invalid inputs name the field', async () => {
    const { client } = context();
    expectProblem(await client.request('POST', '/request-change', { ...auth(), raw: '{not json', contentType: 'application/json' }), 400);
    expectProblem(await client.request('POST', '/request-change', { ...auth(), body: { component: 'queue', env: 'karma-dev', input: {}, colour: 'red' } }), 400);
    expectProblem(await client.request('POST', '/request-change', { ...auth(), raw: `{"component":"queue","env":"karma-dev","input":{"x":"${'a'.repeat(1024 * 1024)}"}}`, contentType: 'application/json' }), 413);
    const unknownEnv = expectProblem(await client.request('POST', '/request-change', { ...auth(), body: { component: 'queue', env: 'karma-qa', input: { visibility_timeout: 60 } } }), 404);
    expect(unknownEnv.known).toContain('karma-dev');
    const badKey = expectProblem(await client.request('POST', '/request-change', { ...auth(), body: { component: 'queue', env: 'karma-dev', input: { 'not a name': 1 } } }), 400);
    expect(badKey.detail).toContain('input');
  });

  it('POST /request-change records a proposal (202); GET /changes and /changes/{id} show it proposed; GET /audit has the entry', async () => {
    const { client, proposals } = context();
    if (!proposals) return;
    const body = { component: 'queue', env: 'karma-dev', input: { visibility_timeout: 45, max_receive_count: 5 }, message: 'queue: 45 s', plan: false };
    const proposed = parsed(S.Proposed, await client.request('POST', '/request-change', { ...auth(), body }), 202);
    expect(proposed.id).toMatch(/^p-[0-9a-f]{8,}$/);
    expect(proposed.diff.length).toBeGreaterThan(0);
    const changes = parsed(S.Changes, await client.request('GET', '/changes', auth()));
    expect(changes.changes.find((c) => c.id === proposed.id)?.status).toBe('proposed');
    const change = parsed(S.Change, await client.request('GET', `/changes/${proposed.id}`, auth()));
    expect(change).toMatchObject({ id: proposed.id, status: 'proposed', component: 'queue', env: 'karma-dev' });
    expectProblem(await client.request('GET', '/changes/p-deadbeef', auth()), 404);
    const audit = parsed(S.AuditPage, await client.request('GET', `/audit?change=${proposed.id}`, auth()));
    expect(audit.entries.map((e) => e.action)).toContain('change.requested');
    expect(audit.entries[0]?.actor).toBeTruthy();
    expectProblem(await client.request('GET', '/audit?limit=100000', auth()), 400);
  });

  it('GET /executions/{id} of an unknown run is 404', async () => {
    const { client } = context();
    expectProblem(await client.request('GET', '/executions/no-such-run', auth()), 404);
  });
}
