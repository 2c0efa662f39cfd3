/**
 * The API's Lambda functions (lambdas/api-*.ts) called as API Gateway calls them: HTTP API payload 2.0 events with
 * the IAM authorizer's context (and a JWT variant), against the stand-ins: the config repo on a private Git server
 * on loopback (git http-backend behind a token, as GitHub answers; the token in Secrets Manager on moto), the
 * runtime in SSM on moto, the graph in Gremlin Server, the audit log in DynamoDB on moto, the state machine on moto.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { auditTableDefinition } from '../../lib/adapters/dynamodb/audit-log.ts';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { privateGitServer } from '../helpers/git-server.ts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NeptuneGraphStore } from '../../lib/adapters/neptune/graph-store.ts';
import { SsmRuntimeStore } from '../../lib/adapters/ssm/runtime-store.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { loadConfig } from '../../lib/app/build.ts';
import { recordApply } from '../../lib/app/record.ts';
import { openAwsReadWorkspace } from '../../lib/app/aws-workspace/reads.ts';
import { openAwsChangesWorkspace } from '../../lib/app/aws-workspace/changes.ts';
import { openAwsOpsWorkspace } from '../../lib/app/aws-workspace/ops.ts';
import { API_ROUTES, type ApiGroup } from '../../lib/core/pipeline-contract.ts';
import { apiRouteSuite, type ApiClient, type SuiteContext } from '../support/api-suite.ts';
import { karma } from '../support/cli.ts';
import { apiHandler, authFromEnv, noWorkspace } from '../../lib/api/lambda.ts';
import * as S from '../../lib/api/schemas.ts';
import { bundleApi } from '../../bench/api-bundles.ts';
import { UsageError } from '../../lib/core/errors.ts';
import { REPO_ROOT } from '../../scripts/servers/servers.ts';
import { MINIMAL_REPO, copyRepo, makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { gremlinEndpoint, motoClientConfig, setEnv, standInEnv } from '../support/stand-ins.ts';

const TOKEN = `ghs_${randomUUID().replace(/-/g, '')}`;
const CALLER = 'arn:aws:iam::123456789012:user/alice';
const tmp = makeTempDir('karma-api-lambda-');
const EXAMPLE = join(REPO_ROOT, 'examples', 'acme-platform');
const bare = join(tmp, 'served', 'config.git');
const prefix = `/karma-api-${randomUUID().slice(0, 8)}`;
let server: Server;
let restoreEnv: () => void;
let commit: string;
let stateMachineArn: string;

type Handler = (event: unknown, context?: unknown) => Promise<{ statusCode: number; headers?: Record<string, string>; body: string }>;
const handlers: Record<'meta' | 'read' | 'changes' | 'ops', Handler> = {} as never;

const bareGit = (...args: string[]): string => execFileSync('git', ['--git-dir', bare, ...args], { encoding: 'utf8' }).trim();

interface EventOptions {
  readonly query?: Record<string, string>;
  readonly body?: unknown;
  /** The IAM authorizer's caller (default CALLER); null: no authorizer context at all. */
  readonly iam?: string | null;
  readonly jwt?: Record<string, unknown>;
}

/** An API Gateway HTTP API (payload format 2.0) event, as the gateway sends it to the function. */
function gatewayEvent(method: 'GET' | 'POST', path: string, options: EventOptions = {}): unknown {
  const query = options.query ?? {};
  const body = options.body === undefined ? null : JSON.stringify(options.body);
  const authorizer = options.jwt
    ? { jwt: { claims: options.jwt, scopes: null } }
    : options.iam === null
      ? undefined
      : {
          iam: {
            accessKey: 'AKIAEXAMPLE',
            accountId: '123456789012',
            callerId: 'AIDAEXAMPLE',
            cognitoIdentity: null,
            principalOrgId: null,
            userArn: options.iam ?? CALLER,
            userId: 'AIDAEXAMPLE',
          },
        };
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: {
      host: 'abc123.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'vitest',
      ...(body !== null ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
    },
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(authorizer ? { authorizer } : {}),
    },
    body,
    isBase64Encoded: false,
  };
}

const lambdaContext = { awsRequestId: 'req-1', functionName: 'karma-api', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:karma-api', memoryLimitInMB: '1024', getRemainingTimeInMillis: () => 30_000 };

async function call(group: keyof typeof handlers, method: 'GET' | 'POST', path: string, options: EventOptions = {}): Promise<{ status: number; type: string; headers: Record<string, string>; json: () => Record<string, unknown>; text: string }> {
  const out = await handlers[group](gatewayEvent(method, path, options), lambdaContext);
  const headers = Object.fromEntries(Object.entries(out.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return { status: out.statusCode, type: headers['content-type'] ?? '', headers, text: out.body, json: () => JSON.parse(out.body) as Record<string, unknown> };
}

beforeAll(async () => {
  // Prepare: the config repo, committed and served (bare) by a private Git server.
  const repo = makeRepo(tmp, { 'karma.yaml': `${MINIMAL_REPO['karma.yaml']}parameterPrefix: ${prefix}\n` });
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'config');
  commit = git('rev-parse', 'HEAD');
  execFileSync('git', ['clone', '-q', '--bare', repo, bare]);
  server = privateGitServer(join(tmp, 'served'), TOKEN);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config.git`;

  // The token in Secrets Manager, the audit table, the state machine (moto); the runtime (SSM on moto): network applied.
  const sm = new SecretsManagerClient(motoClientConfig());
  const secret = (await sm.send(new CreateSecretCommand({ Name: `karma/api-token-${randomUUID().slice(0, 8)}`, SecretString: TOKEN }))).ARN!;
  sm.destroy();
  const table = `karma-audit-${randomUUID().slice(0, 8)}`;
  const ddb = new DynamoDBClient(motoClientConfig());
  await ddb.send(
    new CreateTableCommand(auditTableDefinition(table)),
  );
  ddb.destroy();
  const sfn = new SFNClient(motoClientConfig());
  const definition = readFileSync(join(REPO_ROOT, 'statemachines', 'pipeline.asl.json'), 'utf8');
  stateMachineArn = (await sfn.send(new CreateStateMachineCommand({ name: `karma-api-${randomUUID().slice(0, 8)}`, definition, roleArn: 'arn:aws:iam::123456789012:role/karma-sfn' }))).stateMachineArn!;
  sfn.destroy();
  const ssmClient = new SSMClient(motoClientConfig());
  const ssm = new SsmRuntimeStore({ client: ssmClient });
  await recordApply(await loadConfig(new DirectorySource(repo)), ssm, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' }, commit });
  ssmClient.destroy();
  const neptune = new NeptuneGraphStore({ endpoint: gremlinEndpoint(), history: { latestMeta: async () => undefined } as never });
  await neptune.clear();
  await neptune.close();

  // The functions' environment, as lib/infra/api.ts sets it (Neptune without IAM auth: Gremlin Server).
  restoreEnv = setEnv(
    standInEnv({
      HOME: join(tmp, 'home'),
      KARMA_CONFIG: url,
      KARMA_CONFIG_BRANCH: 'main',
      KARMA_BACKEND: 'aws',
      KARMA_GIT_TOKEN_SECRET: secret,
      KARMA_HISTORY_DIR: join(tmp, 'history'),
      KARMA_AUDIT_TABLE: table,
      KARMA_STATE_MACHINE_ARN: stateMachineArn,
      KARMA_API_WORK_DIR: join(tmp, 'work'),
      KARMA_API_AUTH: 'iam',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    }),
  );
  vi.resetModules();
  for (const group of ['meta', 'read', 'changes', 'ops'] as const) handlers[group] = ((await import(`../../lambdas/api-${group}.ts`)) as { handler: Handler }).handler;
});

afterAll(async () => {
  restoreEnv?.();
  await new Promise((r) => server.close(r));
  removeDir(tmp);
});

describe('the API functions behind API Gateway (IAM auth)', () => {
  it('GET /healthz answers without an authorizer context and opens nothing (api-meta)', async () => {
    const res = await call('meta', 'GET', '/healthz', { iam: null });

    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', version: JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version });
  });

  it('401 problem+json without the authorizer context; a route of another group is 404', async () => {
    const none = await call('read', 'GET', '/graph', { iam: null });
    const elsewhere = await call('meta', 'GET', '/plan', { query: { env: 'karma-dev' } });

    expect(none.status).toBe(401);
    expect(none.type).toBe('application/problem+json');
    expect(none.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.type).toBe('application/problem+json');
  });

  it('GET /graph, /plan and /components from Git + SSM, saying which commit they reflect (api-read)', async () => {
    const graph = await call('read', 'GET', '/graph', { query: { env: 'karma-dev' } });
    const plan = await call('read', 'GET', '/plan', { query: { env: 'karma-dev' } });
    const app = await call('read', 'GET', '/components/karma-dev/app');

    expect(graph.status, graph.text).toBe(200);
    expect(graph.headers['karma-commit']).toBe(commit);
    S.Graph.parse(graph.json());
    S.EnvironmentOrder.parse(plan.json());
    S.Component.parse(app.json());
    const ids = (graph.json()['vertices'] as { id: string }[]).map((v) => v.id);
    expect(ids).toEqual(expect.arrayContaining(['env:karma-dev', 'component:karma-dev:network', 'component:karma-dev:app', 'output:karma-dev:network:vpc_id']));
    expect(plan.status, plan.text).toBe(200);
    expect(plan.json()).toMatchObject({ env: 'karma-dev' });
    expect(JSON.stringify(plan.json()['waves'])).toContain('app');
    expect(app.status, app.text).toBe(200);
    expect(app.json()).toMatchObject({ env: 'karma-dev', component: 'app', status: 'never-applied' });
  });

  it('an unknown environment is a 404 problem listing the declared ones', async () => {
    const res = await call('read', 'GET', '/plan', { query: { env: 'karma-qa' } });

    expect(res.status).toBe(404);
    expect(res.type).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, known: ['karma-dev', 'karma-prod'] });
  });

  it('GET /graph?refresh=true writes the build to Neptune; the stored graph is then read from Neptune alone', async () => {
    const res = await call('read', 'GET', '/graph', { query: { refresh: 'true' } });
    const ws = await openAwsReadWorkspace(process.env);
    const stored = await ws.reads.storedGraph({ env: 'karma-dev' });
    await ws.close();

    expect(res.status, res.text).toBe(200);
    expect(res.headers['karma-build']).toBeTruthy();
    expect(stored?.snapshot.vertices.map((v) => v.id)).toEqual(expect.arrayContaining(['component:karma-dev:app', 'component:karma-dev:network']));
    expect(stored?.snapshot.vertices.every((v) => !v.id.includes('karma-prod'))).toBe(true);
  });
});

describe('JWT auth (KARMA_API_AUTH=jwt, roles from karma:roles)', () => {
  let jwtRead: Handler;
  let restore: () => void;
  beforeAll(async () => {
    restore = setEnv({ KARMA_API_AUTH: 'jwt' });
    vi.resetModules();
    jwtRead = ((await import('../../lambdas/api-read.ts')) as { handler: Handler }).handler;
  });
  afterAll(() => restore());

  it('403 problem+json for a token without the role, 200 with it', async () => {
    const event = (roles: string) => gatewayEvent('GET', '/plan', { query: { env: 'karma-dev' }, jwt: { sub: 'bob', 'karma:roles': roles } });
    const without = await jwtRead(event('viewer'), lambdaContext);
    const withRole = await jwtRead(event('read'), lambdaContext);

    expect(without.statusCode).toBe(403);
    expect(without.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(without.body)).toMatchObject({ status: 403, detail: expect.stringContaining('bob lacks the role "read"') });
    expect(withRole.statusCode, withRole.body).toBe(200);
  });
});

describe('changes: propose on the Git remote, audit in DynamoDB, apply = merge + push + start', () => {
  let id: string;

  it('an invalid input is a 422 problem naming the file and the problem; nothing pushed', async () => {
    const res = await call('changes', 'POST', '/request-change', { body: { component: 'app', env: 'karma-dev', input: { name: 'app', size: 'huge' } } });

    expect(res.status, res.text).toBe(422);
    expect(res.type).toBe('application/problem+json');
    expect(JSON.stringify(res.json()['problems'])).toContain('environments/karma-dev/app.json');
    expect(bareGit('for-each-ref', '--format=%(refname)', 'refs/heads/karma')).toBe('');
  });

  it('POST /request-change pushes karma/proposals/<id> to the remote and answers 202 with plan skipped (api-changes)', async () => {
    const res = await call('changes', 'POST', '/request-change', { body: { component: 'app', env: 'karma-dev', input: { name: 'app', vpc: '${network.vpc_id}', size: 'large' }, message: 'bigger app' } });

    expect(res.status, res.text).toBe(202);
    const body = res.json();
    id = body['id'] as string;
    S.Proposed.parse(body);
    expect(body).toMatchObject({ branch: `karma/proposals/${id}`, base: commit, component: 'app', env: 'karma-dev', plan: { status: 'skipped' } });
    expect(bareGit('rev-parse', `refs/heads/karma/proposals/${id}`)).toBe(body['commit']);
    expect(bareGit('show', `${body['commit'] as string}:environments/karma-dev/app.json`)).toContain('"size": "large"');
  });

  it('GET /audit lists the request with its caller (api-ops); GET /changes/{id} says proposed', async () => {
    const audit = await call('ops', 'GET', '/audit', { query: { change: id } });
    const change = await call('changes', 'GET', `/changes/${id}`);

    expect(audit.status, audit.text).toBe(200);
    S.AuditPage.parse(audit.json());
    S.Change.parse(change.json());
    expect(audit.json()['entries']).toEqual([expect.objectContaining({ action: 'change.requested', change: id, actor: CALLER, component: 'app', env: 'karma-dev', result: expect.stringContaining('CodeBuild'), diff: [{ path: 'size', kind: 'added', after: 'large' }] })]);
    expect(change.status, change.text).toBe(200);
    expect(change.json()).toMatchObject({ id, status: 'proposed', open: true, component: 'app', env: 'karma-dev', message: 'bigger app' });
  });

  it('POST /changes/{id}/apply merges and pushes main, deletes the proposal branch, starts the pipeline: 202 queued', async () => {
    const res = await call('changes', 'POST', `/changes/${id}/apply`);

    expect(res.status, res.text).toBe(202);
    const body = res.json() as { change: Record<string, unknown>; execution: string };
    S.ApplyStarted.parse(body);
    expect(body.change).toMatchObject({ id, status: 'queued' });
    expect(body.execution.startsWith(stateMachineArn.replace(':stateMachine:', ':execution:'))).toBe(true);
    const main = bareGit('rev-parse', 'refs/heads/main');
    expect(main).not.toBe(commit);
    expect(bareGit('show', 'main:environments/karma-dev/app.json')).toContain('"size": "large"');
    expect(bareGit('for-each-ref', '--format=%(refname)', 'refs/heads/karma')).toBe('');

    const run = await call('ops', 'GET', `/executions/${encodeURIComponent(body.execution)}`);
    expect(run.status, run.text).toBe(200);
    S.Execution.parse(run.json());
    const byName = await call('ops', 'GET', `/executions/${body.execution.split(':').pop()!}`);
    expect(byName.json()).toMatchObject({ executionArn: body.execution });
    expect(run.json()).toMatchObject({ executionArn: body.execution, status: 'RUNNING', stopDate: null });
    const audit = await call('ops', 'GET', '/audit', { query: { change: id } });
    // Entries of one millisecond have no defined order among themselves.
    expect((audit.json()['entries'] as { action: string }[]).map((e) => e.action).sort()).toEqual(['change.apply-queued', 'change.apply-queued', 'change.requested']);
    const list = await call('changes', 'GET', '/changes');
    expect(list.status, list.text).toBe(200);
    expect(S.Changes.parse(list.json()).changes).toEqual([expect.objectContaining({ id, status: 'applying', commit: main })]);
    // The read function sees the pushed commit (its clone fetched again; no cache on refresh).
    const app = await call('read', 'GET', '/components/karma-dev/app', { query: { refresh: 'true' } });
    expect(app.headers['karma-commit']).toBe(main);
  });

  it('an execution of another state machine is a 404 problem; applying twice is a 409', async () => {
    const other = await call('ops', 'GET', `/executions/${encodeURIComponent('arn:aws:states:us-east-1:123456789012:execution:someone-else:run-1')}`);
    const again = await call('changes', 'POST', `/changes/${id}/apply`);

    expect(other.status).toBe(404);
    expect(other.type).toBe('application/problem+json');
    expect(again.status, again.text).toBe(409);
  });
});

describe('an apply whose pipeline cannot be started', () => {
  it('is a 503 once merged and pushed; the change stays queued (the git-push trigger runs the pushed commit) and a second apply is a 409', async () => {
    // Prepare: a function whose state machine does not exist, and a proposal.
    const broken = apiHandler('changes', () =>
      openAwsChangesWorkspace({ ...process.env, KARMA_API_WORK_DIR: join(tmp, 'work-broken'), KARMA_STATE_MACHINE_ARN: stateMachineArn.replace(/:stateMachine:.*$/, ':stateMachine:missing') }),
    ) as unknown as Handler;
    const proposed = await call('changes', 'POST', '/request-change', { body: { component: 'network', env: 'karma-dev', input: { cidr: '10.1.0.0/16' } } });
    expect(proposed.status, proposed.text).toBe(202);
    const id = proposed.json()['id'] as string;

    // Act
    const failed = await broken(gatewayEvent('POST', `/changes/${id}/apply`), lambdaContext);
    const change = await call('changes', 'GET', `/changes/${id}`);
    const again = await call('changes', 'POST', `/changes/${id}/apply`);

    // Assess
    expect(failed.statusCode, failed.body).toBe(503);
    expect(JSON.parse(failed.body)).toMatchObject({ detail: expect.stringContaining('StartExecution') });
    expect(bareGit('show', 'main:environments/karma-dev/network.json')).toContain('10.1.0.0/16');
    expect(change.json()).toMatchObject({ id, status: 'queued', open: false });
    expect((change.json()['history'] as { action: string; result?: string }[]).at(-1)).toMatchObject({ action: 'change.apply-queued', result: expect.stringContaining('and pushed') });
    expect(again.status, again.text).toBe(409);
  });
});

describe('the bundles, built as the CDK app builds them', () => {
  it('each imports in a fresh node process far from the repo and exports a handler; api-meta holds neither gremlin nor isomorphic-git', async () => {
    // Prepare: a Lambda bundle has no file beside it (a module that reads one at import breaks the function).
    const dir = join(tmp, 'bundles');
    mkdirSync(dir, { recursive: true });

    // Act
    const rows = await bundleApi(dir);
    const imported = rows.map((row) => {
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(row.file)}); if (typeof m.handler !== 'function') process.exit(3);`], {
        cwd: dir,
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
        encoding: 'utf8',
      });
      return { group: row.group, status: run.status, stderr: run.stderr.split('\n').find((l) => /Error/.test(l)) ?? '' };
    });

    // Assess
    expect(imported).toEqual(rows.map((r) => ({ group: r.group, status: 0, stderr: '' })));
    const packages = (group: ApiGroup) => rows.find((r) => r.group === group)!.packages.map(([name]) => name);
    expect(packages('meta')).not.toContain('gremlin');
    expect(packages('meta')).not.toContain('isomorphic-git');
    expect(packages('ops')).not.toContain('gremlin');
    expect(packages('read')).toEqual(expect.arrayContaining(['gremlin', 'isomorphic-git']));
  });
});

describe('apiHandler and the lazy workspace (no network)', () => {
  it('/healthz and /openapi.json never open the workspace; the first route that needs it opens it once', async () => {
    // Prepare
    let opened = 0;
    const open = async () => {
      opened++;
      return openAwsReadWorkspace(process.env);
    };
    const handler = apiHandler('meta', open) as unknown as Handler;
    const read = apiHandler('read', open) as unknown as Handler;

    // Act
    const health = await handler(gatewayEvent('GET', '/healthz', { iam: null }), lambdaContext);
    const spec = await handler(gatewayEvent('GET', '/openapi.json', { iam: null }), lambdaContext);
    const openedAfterMeta = opened;
    await read(gatewayEvent('GET', '/plan', { query: { env: 'karma-dev' } }), lambdaContext);
    await read(gatewayEvent('GET', '/plan', { query: { env: 'karma-prod' } }), lambdaContext);

    // Assess
    expect(health.statusCode).toBe(200);
    expect(spec.statusCode).toBe(200);
    expect(JSON.parse(spec.body)).toMatchObject({ openapi: '3.1.0' });
    expect(openedAfterMeta).toBe(0);
    expect(opened).toBe(1);
  });

  it('a failed open is a 500 problem, tried again on the next request; the log line names the error, never the body', async () => {
    let attempts = 0;
    const lines: string[] = [];
    const logger = { appendKeys: () => undefined, addContext: () => undefined, error: (m: string, f: unknown) => void lines.push(JSON.stringify({ m, f }, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : v))) };
    const handler = apiHandler(
      'changes',
      async () => {
        attempts++;
        throw new Error('Neptune unreachable');
      },
      { logger: logger as never },
    ) as unknown as Handler;

    const first = await handler(gatewayEvent('POST', '/request-change', { body: { component: 'app', env: 'karma-dev', input: { name: 'secret-value-xyz' } } }), lambdaContext);
    const second = await handler(gatewayEvent('GET', '/changes'), lambdaContext);

    expect(first.statusCode).toBe(500);
    expect(first.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(first.body)).toMatchObject({ status: 500, detail: 'unexpected Error; the server log has the details' });
    expect(second.statusCode).toBe(500);
    expect(attempts).toBe(2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('Neptune unreachable');
    expect(lines[0]).toContain('/request-change');
    expect(lines.join('')).not.toContain('secret-value-xyz');
  });

  it('a named stage in the path (/prod/healthz) is not part of the route', async () => {
    const event = gatewayEvent('GET', '/prod/healthz', { iam: null }) as { requestContext: Record<string, unknown> };
    event.requestContext['stage'] = 'prod';

    const res = await handlers.meta(event, lambdaContext);

    expect(res.statusCode, res.body).toBe(200);
  });

  it('KARMA_API_AUTH other than iam or jwt is one clear line', () => {
    expect(() => authFromEnv({ KARMA_API_AUTH: 'cognito' })).toThrow(new UsageError('KARMA_API_AUTH must be iam or jwt, got "cognito"'));
  });
});

/**
 * The route suite every way of serving the API runs (test/support/api-suite.ts), here through the Lambda handlers:
 * each request goes to its group's function as an API Gateway event, with a JWT authorizer's context (the suite's
 * tokens become verified claims: `admin` every role, `reader` only read; no token, no authorizer context). The
 * config is examples/acme-platform served by the Git server, its runtime seeded in SSM (moto).
 */
describe('the route suite through the Lambda handlers (JWT authorizer)', () => {
  let ctx: SuiteContext;
  beforeAll(async () => {
    const dir = copyRepo(EXAMPLE, tmp, 'example');
    const examplePrefix = `/karma-api-ex-${randomUUID().slice(0, 8)}`;
    writeFileSync(join(dir, 'karma.yaml'), readFileSync(join(dir, 'karma.yaml'), 'utf8').replace(/^parameterPrefix: .*$/m, `parameterPrefix: ${examplePrefix}`));
    // The external parameter too: moto is shared by every test file, and another one records the same seed.
    for (const file of ['runtime-seed.yaml', 'environments/karma-dev/api-service.json', 'environments/karma-prod/api-service.json']) {
      writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8').replaceAll('/acme/external/', `${examplePrefix}-external/`));
    }
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'example');
    execFileSync('git', ['clone', '-q', '--bare', dir, join(tmp, 'served', 'example.git')]);
    expect((await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '--config', dir, '--backend', 'aws')).code).toBe(0);
    const env = { ...process.env, KARMA_CONFIG: process.env['KARMA_CONFIG']!.replace(/config\.git$/, 'example.git'), KARMA_API_WORK_DIR: join(tmp, 'work-suite'), KARMA_API_CACHE_SECONDS: '0', KARMA_API_AUTH: 'jwt' };
    const suiteHandlers: Record<ApiGroup, Handler> = {
      meta: apiHandler('meta', noWorkspace, { env }) as unknown as Handler,
      read: apiHandler('read', () => openAwsReadWorkspace(env), { env }) as unknown as Handler,
      changes: apiHandler('changes', () => openAwsChangesWorkspace(env), { env }) as unknown as Handler,
      ops: apiHandler('ops', () => openAwsOpsWorkspace(env), { env }) as unknown as Handler,
    };
    const claims: Record<string, Record<string, unknown>> = { admin: { sub: 'admin', 'karma:roles': ['apply'] }, reader: { sub: 'reader', 'karma:roles': 'read' } };
    const groupOf = (path: string): ApiGroup => {
      const bare = path.split('?')[0]!;
      const route = API_ROUTES.find((r) => new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare));
      return route?.group ?? 'meta';
    };
    const client: ApiClient = {
      async request(method, path, options = {}) {
        const [rawPath, query = ''] = path.split('?');
        const body = options.raw ?? (options.body === undefined ? null : JSON.stringify(options.body));
        const event = gatewayEvent(method, rawPath!, { query: Object.fromEntries(new URLSearchParams(query)), ...(options.token && claims[options.token] ? { jwt: claims[options.token] } : { iam: null }) }) as Record<string, unknown>;
        event['body'] = body;
        if (body !== null) event['headers'] = { ...(event['headers'] as object), 'content-type': options.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(body)) };
        const out = await suiteHandlers[groupOf(path)](event, lambdaContext);
        const headers = new Map(Object.entries(out.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
        return { status: out.statusCode, contentType: headers.get('content-type') ?? '', headers: (n) => headers.get(n.toLowerCase()) ?? null, text: out.body };
      },
    };
    ctx = { client, admin: 'admin', reader: 'reader', proposals: true };
    // Neptune holds what the pipeline last wrote: here, this example's graph (GET /graph reads it from there).
    expect((await client.request('GET', '/graph?refresh=true', { token: 'admin' })).status).toBe(200);
  }, 120_000);

  apiRouteSuite(() => ctx);
});
