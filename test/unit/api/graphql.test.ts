/**
 * GraphQL at /graphql (lib/api/graphql.ts) on a LocalWorkspace over a seeded copy of examples/acme-platform:
 * answers equal the views REST returns (componentView, planView, impactView), the limits refuse what they should
 * with 400 and one line, and no secret of the seed appears in any answer, in any encoding.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSchema, printSchema } from 'graphql';
import {
  buildGraphqlSchema,
  componentSlice,
  createGraphql,
  GRAPHQL_MAX_DEPTH,
  GRAPHQL_MAX_QUERY_BYTES,
  GRAPHQL_SDL,
  graphqlHandler,
  parseGraphqlHttp,
  type GraphqlAnswer,
  type GraphqlOptions,
} from '../../../lib/api/graphql.ts';
import { LocalWorkspace } from '../../../lib/app/local-workspace.ts';
import { componentView, impactView, planView } from '../../../lib/app/views.ts';
import type { Rollout } from '../../../lib/ports.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';
import { expectNoSecret, SEED_SECRETS } from '../../support/api-suite.ts';
import { karma } from '../../support/cli.ts';
import { seededExampleRepo } from '../../support/example-repo.ts';

let tmp: string;
let workspace: LocalWorkspace;
let graphql: ReturnType<typeof createGraphql>;

/** The rollouts a service would hold: the store's shape, in memory. The input carries a marker that must not show. */
const ROLLOUT_INPUT_MARKER = 'rollout-input-never-shown';
const rollout: Rollout = {
  id: 'r-0001',
  component: 'queue',
  input: { visibility_timeout: 45, note: ROLLOUT_INPUT_MARKER },
  message: 'queue: 45 s',
  approval: 'manual',
  actor: 'alice',
  createdAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:05:00.000Z',
  status: 'waiting-approval',
  steps: [
    { env: 'karma-dev', change: 'p-0123abcd', status: 'succeeded', startedAt: '2026-12-02T10:00:01.000Z', finishedAt: '2026-12-02T10:03:00.000Z' },
    { env: 'karma-prod', change: 'p-4567cdef', status: 'waiting-approval' },
  ],
  version: 3,
};
const rollouts: NonNullable<GraphqlOptions['rollouts']> = {
  get: async (id) => {
    if (id !== rollout.id) throw new Error(`no rollout ${id}`);
    return rollout;
  },
  list: async () => [rollout],
};

/**
 * An output written as a SecureString that component.yaml does not mark sensitive (as an apply stores one that
 * Terraform marks sensitive): hidden all the same.
 */
const SECURE_OUTPUT = { env: 'karma-prod', component: 'worker', output: 'service_name', value: 'worker-securestring-never-shown' };

/** No secret, in any encoding (raw, JSON-escaped, base64, URL-encoded). */
function expectNoSecrets(text: string): void {
  expectNoSecret(text);
  const secret = SECURE_OUTPUT.value;
  for (const form of [secret, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]) expect(text.includes(form)).toBe(false);
}

/** Asks, checks that no secret is in the answer's text, and returns it. */
async function ask(query: string, variables?: Record<string, unknown>, options: { graphql?: typeof graphql } = {}): Promise<GraphqlAnswer> {
  const answer = await (options.graphql ?? graphql)({ query, ...(variables ? { variables } : {}) });
  expectNoSecrets(JSON.stringify(answer.body));
  return answer;
}

/** The data of a successful answer. */
async function data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const answer = await ask(query, variables);
  expect(answer.body.errors, JSON.stringify(answer.body.errors)).toBeUndefined();
  expect(answer.status).toBe(200);
  return answer.body.data as T;
}

beforeAll(async () => {
  // Prepare: the example, its runtime seeded; every read builds (no cache between a change and a read).
  tmp = makeTempDir('karma-graphql-');
  const dir = await seededExampleRepo(tmp);
  const record = join(tmp, 'secure-output.yaml');
  const { env, component, output, value } = SECURE_OUTPUT;
  writeFileSync(record, `parameters:\n  - { name: /karma/${env}/${component}/outputs/${output}, type: SecureString, value: ${value} }\n`);
  expect((await karma('runtime', 'record', record, '--config', dir, '--json')).code).toBe(0);
  workspace = new LocalWorkspace({ config: dir, cacheSeconds: 60 });
  graphql = createGraphql({ workspace, rollouts });
}, 120_000);

afterAll(async () => {
  await workspace.close();
  removeDir(tmp);
});

describe('the schema', () => {
  it('is the SDL, every resolver naming a field of it', () => {
    expect(printSchema(buildGraphqlSchema())).toBe(printSchema(buildSchema(GRAPHQL_SDL)));
    expect(buildGraphqlSchema().getMutationType()).toBeUndefined();
    expect(buildGraphqlSchema().getSubscriptionType()).toBeUndefined();
  });

  it("componentView on a component's slice of the snapshot equals componentView on the whole, for every deployment", async () => {
    const { build, snapshot } = await workspace.current();
    expect(build.statuses.size).toBeGreaterThan(15);
    for (const s of build.statuses.values()) {
      expect(componentView(build, componentSlice(snapshot, s.env, s.component), s.env, s.component), `${s.env}/${s.component}`).toEqual(componentView(build, snapshot, s.env, s.component));
    }
  });
});

describe('queries', () => {
  it('environments, with region and account, and their components filtered by status and name', async () => {
    const d = await data<{ environments: { name: string; region: string; account: string; components: { name: string }[] }[]; dev: { components: { name: string; status: string }[] } }>(`{
      environments { name region account components { name } }
      dev: environment(name: "karma-dev") { components(status: [FAILED, BLOCKED], search: "") { name status } }
    }`);
    expect(d.environments.map((e) => e.name)).toEqual(['karma-dev', 'karma-prod', 'karma-shared']);
    const { build } = await workspace.current();
    for (const env of d.environments) {
      const def = build.config.project.environments.get(env.name)!;
      expect([env.region, env.account]).toEqual([def.region ?? null, def.account ?? null]);
      expect(env.components.map((c) => c.name)).toEqual([...build.statuses.values()].filter((s) => s.env === env.name).map((s) => s.component).sort());
    }
    // The seed: cache failed, api-service blocked behind it, serverless-site and monitoring behind that.
    expect(d.dev.components).toContainEqual({ name: 'cache', status: 'FAILED' });
    expect(d.dev.components).toContainEqual({ name: 'api-service', status: 'BLOCKED' });
    expect(d.dev.components.every((c) => c.status === 'FAILED' || c.status === 'BLOCKED')).toBe(true);
    const searched = await data<{ environment: { components: { name: string }[] } }>('{ environment(name: "karma-dev") { components(search: "SERV") { name } } }');
    expect(searched.environment.components.map((c) => c.name)).toEqual(['api-service', 'serverless-site']);
  });

  it("a component: status, own status and the why chain are componentView's", async () => {
    const d = await data<{ component: Record<string, unknown> & { why: { kind: string; depth: number; env: string; component: string; status: string | null; reason: string | null }[] } }>(`{
      component(env: "karma-dev", name: "serverless-site") {
        name env status reason own ownReason description module file configHash inputs references { at text }
        lastApply { appliedAt result error drift { drifted } }
        why { kind depth env component status reason advice }
        shallow: why(depth: 1) { depth component }
      }
    }`);
    const { build, snapshot } = await workspace.current();
    const view = componentView(build, snapshot, 'karma-dev', 'serverless-site');
    const status = build.statuses.get('karma-dev/serverless-site')!;
    expect(d.component).toMatchObject({
      name: 'serverless-site',
      env: 'karma-dev',
      status: 'BLOCKED',
      reason: view.reason,
      own: status.own.toUpperCase().replace(/-/g, '_'),
      ownReason: status.ownReason,
      description: view.description,
      module: view.module,
      file: view.file,
      configHash: view.configHash,
      inputs: view.inputs,
      references: view.references,
      lastApply: view.lastApply,
    });
    expect(d.component.why.map((w) => `${w.kind} ${w.depth} ${w.env}/${w.component} ${w.status ?? ''} ${w.reason ?? ''}`)).toEqual(
      view.why.chain.map((w) => `${w.kind} ${w.depth} ${w.env}/${w.component} ${'status' in w ? w.status.toUpperCase().replace(/-/g, '_') : ''} ${'reason' in w ? w.reason : ''}`),
    );
    // The chain reaches the failed cache through api-service; depth 1 stops at api-service.
    expect(d.component.why.some((w) => w.component === 'cache' && w.status === 'FAILED')).toBe(true);
    const shallow = d.component['shallow'] as { depth: number; component: string }[];
    expect(shallow.every((w) => w.depth <= 1)).toBe(true);
    expect(shallow.length).toBeLessThan(d.component.why.length);
  });

  it('dependencies at depth 2 are the dependsOn of the dependsOn; dependents likewise', async () => {
    const d = await data<{ component: { one: { env: string; name: string }[]; two: { env: string; name: string }[]; dependents: { env: string; name: string }[] } }>(`{
      component(env: "karma-prod", name: "serverless-site") { one: dependencies { env name } two: dependencies(depth: 2) { env name } dependents(depth: 2) { env name } }
    }`);
    const { build, snapshot } = await workspace.current();
    const view = (key: string) => componentView(build, snapshot, key.split('/')[0]!, key.split('/')[1]!);
    const first = view('karma-prod/serverless-site').dependsOn;
    const second = [...new Set(first.flatMap((k) => view(k).dependsOn))].filter((k) => k !== 'karma-prod/serverless-site' && !first.includes(k)).sort();
    expect(d.component.one.map((c) => `${c.env}/${c.name}`)).toEqual(first);
    expect(second.length).toBeGreaterThan(0);
    expect(d.component.two.map((c) => `${c.env}/${c.name}`)).toEqual([...first, ...second]);
    // Across environments: the site takes its zone from karma-shared.
    expect(first).toContain('karma-shared/dns-zone');
    const network = await data<{ component: { dependents: { name: string }[] } }>('{ component(env: "karma-dev", name: "network") { dependents(depth: 1) { name } } }');
    expect(network.component.dependents.map((c) => `karma-dev/${c.name}`)).toEqual(view('karma-dev/network').dependents);
    expect((await ask('{ component(env: "karma-dev", name: "network") { dependencies(depth: 11) { name } } }')).body.errors?.[0]?.message).toContain('from 0 to 10');
    // An explicit null is the default, for depth and for a plan's mode.
    const nulls = await data<{ component: { dependencies: unknown[]; why: unknown[]; all: unknown[]; allWhy: unknown[] }; plan: unknown; apply: unknown }>(`{
      component(env: "karma-prod", name: "serverless-site") { dependencies(depth: null) { name } all: dependencies { name } why(depth: null) { depth } allWhy: why { depth } }
      plan(env: "karma-dev", mode: null) { waves } apply: plan(env: "karma-dev") { waves }
    }`);
    expect(nulls.component.dependencies).toEqual(nulls.component.all);
    expect(nulls.component.why).toEqual(nulls.component.allWhy);
    expect(nulls.plan).toEqual(nulls.apply);
  });

  it("outputs with their consumers; a sensitive output's value is null", async () => {
    const d = await data<{ component: { outputs: { name: string; path: string; present: boolean; version: number | null; sensitive: boolean; value: string | null; consumers: { env: string; name: string; status: string }[] }[] } }>(`{
      component(env: "karma-dev", name: "database") { outputs { name path present version sensitive value consumers { env name status } } }
    }`);
    const { build, snapshot } = await workspace.current();
    const view = componentView(build, snapshot, 'karma-dev', 'database');
    expect(d.component.outputs.map((o) => ({ ...o, consumers: o.consumers.map((c) => ({ env: c.env, component: c.name })) }))).toEqual(view.outputs);
    expect(d.component.outputs.find((o) => o.name === 'master_password')).toMatchObject({ sensitive: true, value: null, present: true });
    const endpoint = d.component.outputs.find((o) => o.name === 'endpoint')!;
    // A value that is not secret is shown: the test below would see a secret the same way.
    expect(endpoint.value).toBe('db.dev.acme.internal');
    expect(endpoint.consumers.length).toBeGreaterThan(0);
  });

  it("plan is planView's, impact is impactView's", async () => {
    const { build } = await workspace.current();
    for (const mode of ['APPLY', 'ALL', 'DESTROY'] as const) {
      const d = await data<{ plan: unknown }>('query ($mode: PlanMode) { plan(env: "karma-dev", mode: $mode) { env waves skipped { component status reason } orphaned { component status reason } } }', { mode });
      const view = planView(build, 'karma-dev', mode.toLowerCase() as 'apply');
      expect(d.plan).toEqual({ skipped: null, ...view });
    }
    const impact = await data<{ a: unknown; b: unknown }>(`{
      a: impact(env: "karma-dev", component: "network") { env component output waves otherEnvironments { env waves } }
      b: impact(env: "karma-shared", component: "dns-zone", output: "zone_id") { env component output waves otherEnvironments { env waves } }
    }`);
    expect(impact.a).toEqual({ output: null, ...impactView(build, 'karma-dev', 'network') });
    expect(impact.b).toEqual(impactView(build, 'karma-shared', 'dns-zone', 'zone_id'));
    expect((impact.b as { otherEnvironments: unknown[] }).otherEnvironments.length).toBeGreaterThan(0);
  });

  it('changes through the workspace; rollouts from the service, without their inputs; graphInfo says the build', async () => {
    const proposed = await workspace.requestChange({ component: 'queue', env: 'karma-dev', input: { visibility_timeout: 45, max_receive_count: 5 }, message: 'queue: 45 s', plan: false }, 'tester');
    const d = await data<{ changes: { id: string; status: string; history: { action: string; diff: unknown }[] }[]; change: { id: string; component: string; env: string; open: boolean; plan: unknown } }>(
      'query ($id: String!) { changes(limit: 10) { id status history { action diff } } change(id: $id) { id component env open plan } }',
      { id: proposed.id },
    );
    expect(d.changes.map((c) => c.id)).toContain(proposed.id);
    const listed = d.changes.find((c) => c.id === proposed.id)!;
    expect(listed.status).toBe('proposed');
    expect(listed.history.map((h) => h.action)).toEqual(['change.requested']);
    expect(listed.history[0]!.diff).toEqual((await workspace.getChange(proposed.id!)).history[0]!.diff);
    expect(d.change).toEqual({ id: proposed.id, component: 'queue', env: 'karma-dev', open: true, plan: null });
    const missing = await ask('{ change(id: "p-deadbeef") { id } }');
    expect(missing.status).toBe(200);
    expect(missing.body.data).toEqual({ change: null });
    expect(missing.body.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');

    const r = await ask(`{
      rollouts(limit: 5) { id component approval actor status steps { env change status reason approvedBy startedAt finishedAt } }
      rollout(id: "r-0001") { id message createdAt updatedAt reason steps { env status } }
    }`);
    expect(r.body.errors).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toContain(ROLLOUT_INPUT_MARKER);
    const listedRollouts = (r.body.data as { rollouts: { steps: { change: string | null }[] }[] }).rollouts;
    expect(listedRollouts[0]).toMatchObject({ id: 'r-0001', approval: 'manual', status: 'waiting-approval' });
    expect(listedRollouts[0]!.steps.map((s) => s.change)).toEqual(['p-0123abcd', 'p-4567cdef']);
    // Without the service: no rollouts, and asking for one says why.
    const alone = createGraphql({ workspace });
    expect((await ask('{ rollouts { id } }', undefined, { graphql: alone })).body).toEqual({ data: { rollouts: [] } });
    const none = await ask('{ rollout(id: "r-0001") { id } }', undefined, { graphql: alone });
    expect(none.body.errors?.[0]?.message).toBe('rollouts need karma serve: this server keeps none');

    const info = await data<{ graphInfo: { builtAt: string; source: string; commit: string | null } }>('{ graphInfo { builtAt commit source buildId } }');
    expect(info.graphInfo.builtAt).toBe((await workspace.current()).snapshot.meta.builtAt);
  });

  it("docs/graphql.md's examples are answered, within the limits", async () => {
    const blocks = [...readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'graphql.md'), 'utf8').matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks).toHaveLength(3);
    for (const query of blocks) {
      const answer = await ask(query, query.includes('$env') ? { env: 'karma-dev' } : query.includes('$id') ? { id: rollout.id } : undefined);
      expect(answer.status, query).toBe(200);
      expect(answer.body.errors, query).toBeUndefined();
    }
  });

  it('introspection is answered', async () => {
    const d = await data<{ __schema: { queryType: { name: string }; types: { name: string }[] } }>('{ __schema { queryType { name } types { name fields { name args { name type { name kind ofType { name kind } } } } } } }');
    expect(d.__schema.queryType.name).toBe('Query');
    expect(d.__schema.types.map((t) => t.name)).toContain('Component');
  });
});

describe('errors and limits', () => {
  it('an unknown environment or component: NOT_FOUND with the known names, no stack', async () => {
    const answer = await ask('{ component(env: "karma-dev", name: "vpn") { name } env: environment(name: "karma-qa") { name } }');
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ component: null, env: null });
    const [component, env] = answer.body.errors!;
    expect(component!.extensions).toMatchObject({ code: 'NOT_FOUND' });
    expect(component!.extensions!['known']).toContain('database');
    expect(component!.message).toContain('vpn');
    expect(component!.path).toEqual(['component']);
    expect(env!.extensions).toEqual({ code: 'NOT_FOUND', known: ['karma-dev', 'karma-prod', 'karma-shared'] });
    expect(JSON.stringify(answer.body)).not.toMatch(/at .*\.ts:\d+|stack/);
  });

  it('an unexpected error says only its kind, and is told to onError', async () => {
    const told: unknown[] = [];
    const broken = createGraphql({
      workspace: { ...workspace, current: () => Promise.reject(new TypeError('secret detail at /srv/x.ts:12')), listChanges: workspace.listChanges.bind(workspace) } as unknown as LocalWorkspace,
      onError: (e) => told.push(e),
    });
    const answer = await broken({ query: '{ environments { name } }' });
    expect(answer.body.errors?.[0]).toMatchObject({ message: 'unexpected TypeError; the server log has the details', extensions: { code: 'INTERNAL' } });
    expect(JSON.stringify(answer.body)).not.toContain('secret detail');
    expect(told).toHaveLength(1);
    // Over HTTP: told with the request's context, as createApi's onError is.
    const paths: string[] = [];
    const app = new Hono();
    const failing = { ...workspace, current: () => Promise.reject(new TypeError('secret detail')) } as unknown as LocalWorkspace;
    app.post('/graphql', graphqlHandler({ workspace: failing, onError: (_e, c) => paths.push(c.req.path) }));
    const response = await app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "{ graphInfo { builtAt } }"}' });
    expect(response.status).toBe(200);
    expect(await response.text()).not.toContain('secret detail');
    expect(paths).toEqual(['/graphql']);
  });

  it(`too deep (over ${GRAPHQL_MAX_DEPTH} levels): refused whole, QUERY_TOO_DEEP, 400`, async () => {
    const nested = (levels: number): string => `{ component(env: "karma-dev", name: "network") { ${'dependents { '.repeat(levels)}name${' }'.repeat(levels)} } }`;
    const answer = await ask(nested(GRAPHQL_MAX_DEPTH));
    expect(answer.status).toBe(400);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_DEEP' });
    expect(answer.body.errors![0]!.message).toMatch(/^Query depth limit of 12 exceeded, found 14\./);
  });

  it('too costly: a fan-out ten lists deep is refused (QUERY_TOO_COSTLY), while every component with its whole view is not', async () => {
    const fanOut = `{ environments { components { ${'dependencies { '.repeat(8)}name status${' }'.repeat(8)} } } }`;
    const refused = await ask(fanOut);
    expect(refused.status).toBe(400);
    expect(refused.body.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_COSTLY' });
    expect(refused.body.errors![0]!.message).toMatch(/^Query Cost limit of 10000 exceeded, found \d+\./);
    const wide = await ask(`{
      environments { name components { name env status reason own ownReason module file configHash inputs
        why { kind depth env component status reason advice }
        dependencies { name env status } dependents { name env status }
        outputs { name present version sensitive value consumers { name env status } }
        lastApply { appliedAt result commit error drift { checkedAt drifted summary } } } }
    }`);
    expect(wide.status, JSON.stringify(wide.body.errors)).toBe(200);
    expect(wide.body.errors).toBeUndefined();
  });

  it('over the budget of objects per request: refused whole, QUERY_TOO_COSTLY, 400', async () => {
    const small = createGraphql({ workspace, maxObjects: 10 });
    const answer = await small({ query: '{ environments { components { name dependencies(depth: 10) { name } } } }' });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'QUERY_TOO_COSTLY' } })] });
    expect(answer.body.errors![0]!.message).toContain('more than 10 objects');
    expect((await small({ query: '{ component(env: "karma-dev", name: "cache") { name dependencies { name } } }' })).status).toBe(200);
    // Outputs and why links count too: one component is 1, with its two outputs 3, with its why chain more.
    const tiny = createGraphql({ workspace, maxObjects: 2 });
    expect((await tiny({ query: '{ component(env: "karma-dev", name: "database") { name } }' })).status).toBe(200);
    expect((await tiny({ query: '{ component(env: "karma-dev", name: "database") { outputs { name } } }' })).status).toBe(400);
    expect((await tiny({ query: '{ component(env: "karma-dev", name: "serverless-site") { why { component } } }' })).status).toBe(400);
  });

  it('too large: refused before parsing, QUERY_TOO_LARGE', async () => {
    const answer = await ask(`{ environments { name } } # ${'x'.repeat(GRAPHQL_MAX_QUERY_BYTES)}`);
    expect(answer.status).toBe(400);
    expect(answer.body.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_LARGE' });
  });

  it('a mutation or a subscription is refused: read-only', async () => {
    for (const [op, word] of [['mutation { applyChange(id: "p-1") }', 'mutations'], ['subscription { events }', 'subscriptions']] as const) {
      const answer = await ask(op);
      expect(answer.status).toBe(400);
      expect(answer.body.errors![0]!.extensions).toEqual({ code: 'OPERATION_NOT_SUPPORTED' });
      expect(answer.body.errors![0]!.message).toContain(`no ${word}`);
    }
  });

  it('invalid queries and variables: 400 with what is wrong', async () => {
    const unknown = await ask('{ environments { colour } }');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors![0]).toMatchObject({ message: 'Cannot query field "colour" on type "Environment".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    const syntax = await ask('{ environments { name }');
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors![0]!.extensions).toEqual({ code: 'GRAPHQL_PARSE_FAILED' });
    const variables = await ask('query ($env: String!) { environment(name: $env) { name } }', { env: 3 });
    expect(variables.status).toBe(400);
    expect(variables.body.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});

describe('secrets', () => {
  it('no seed secret appears in any field of any component of any environment, nor in changes', async () => {
    // Every field there is, all components: the one place a secret could be.
    const answer = await ask(`{
      environments { name components { name env status reason own ownReason description module file configHash inputs
        references { at text } why { kind depth env component status reason advice }
        outputs { name path present version sensitive value consumers { name env } }
        lastApply { appliedAt result commit configHash error drift { checkedAt drifted summary } } } }
      changes { id plan history { diff result } }
    }`);
    expect(answer.status).toBe(200);
    const text = JSON.stringify(answer.body);
    // Values flow (a secret would show the same way), the SecureString output is there, its value is not.
    expect(text).toContain('db.dev.acme.internal');
    expect(text).toContain('${ssm:/acme/external/datadog-api-key}');
    const secure = await data<{ component: { outputs: { name: string; present: boolean; sensitive: boolean; value: string | null; version: number }[] } }>(
      `{ component(env: "${SECURE_OUTPUT.env}", name: "${SECURE_OUTPUT.component}") { outputs { name present sensitive value version } } }`,
    );
    expect(secure.component.outputs.find((o) => o.name === SECURE_OUTPUT.output)).toMatchObject({ present: true, sensitive: true, value: null, version: 2 });
    for (const secret of [...SEED_SECRETS, SECURE_OUTPUT.value]) expect(text.includes(secret)).toBe(false);
    expectNoSecrets(text);
  });
});

describe('HTTP', () => {
  const app = (): Hono => {
    const a = new Hono();
    a.on(['GET', 'POST'], '/graphql', graphqlHandler({ workspace, rollouts }));
    return a;
  };

  it('GET and POST give the same answer', async () => {
    const query = 'query Site($env: String!) { component(env: $env, name: "serverless-site") { name status why { component status } } }';
    const variables = { env: 'karma-dev' };
    const get = await app().request(`/graphql?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}&operationName=Site`);
    const post = await app().request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables, operationName: 'Site' }) });
    expect(get.status).toBe(200);
    expect(post.status).toBe(200);
    const [g, p] = [await get.json(), await post.json()];
    expect(g).toEqual(p);
    expect((g as { data: { component: { status: string } } }).data.component.status).toBe('BLOCKED');
    expect(get.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('bad requests: one clear line each', async () => {
    const post = (body: string, type = 'application/json') => app().request('/graphql', { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [Response | Promise<Response>, number, string][] = [
      [post('{not json'), 400, 'the body is not JSON: send {"query": "...", "variables": {...}}'],
      [post('[{"query":"{ environments { name } }"}]'), 400, 'the body must be a JSON object: {"query": "...", "variables": {...}} (batches are not accepted)'],
      [post('{}'), 400, 'query is missing: the GraphQL document, as the query parameter (GET) or field (POST)'],
      [post('{"query": 3}'), 400, 'query must be a string: the GraphQL document'],
      [post('{"query": "{ environments { name } }", "variables": [1]}'), 400, 'variables must be a JSON object'],
      [post('{"query": "{ environments { name } }", "colour": 1}'), 400, 'unknown field colour: the body takes query, variables and operationName'],
      [post('query=x', 'application/x-www-form-urlencoded'), 415, 'POST /graphql takes application/json ({"query": "..."}), not application/x-www-form-urlencoded'],
      [app().request('/graphql?query=%7B%20environments%20%7B%20name%20%7D%20%7D&variables=%7Bx'), 400, 'the variables parameter is not JSON: it must be a JSON object, URL-encoded'],
      [app().request('/graphql?q=1'), 400, 'unknown query parameter q: GET /graphql takes query, variables and operationName'],
    ];
    for (const [response, status, message] of cases) {
      const r = await response;
      expect(r.status, message).toBe(status);
      expect(await r.json()).toEqual({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
    }
    expect(parseGraphqlHttp({ method: 'PUT', searchParams: new URLSearchParams() })).toMatchObject({ ok: false, answer: { status: 405 } });
  });
});
