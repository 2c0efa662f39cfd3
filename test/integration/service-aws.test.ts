/**
 * `karma serve` in AWS (docs/service.md "In AWS"): the config repo's Git URL, backend aws, the stack's state machine.
 * Against the stand-ins: the config repo on a Git server on loopback (git http-backend), the runtime in SSM on moto,
 * the graph in Gremlin Server, the audit log and the service table in DynamoDB on moto, the state machine on moto.
 * Moto's Step Functions does not run state machines: an execution it starts stays RUNNING, so this test asserts the
 * start (StartExecution's input) and the change going queued → applying; the unit tests
 * (test/unit/service/aws-runner.test.ts) end executions and check the outcomes.
 *
 * No --backend: KARMA_BACKEND=aws chooses it, as the stack sets it. The Git server takes requests without
 * credentials: the live graph reads a Git URL config without any today (lib/app/open.ts LazyGitSource has no
 * onAuth), so a private remote is not served to it yet.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmRuntimeStore } from '../../lib/adapters/ssm/runtime-store.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { auditTableDefinition } from '../../lib/adapters/dynamodb/audit-log.ts';
import { serviceTableDefinition } from '../../lib/adapters/dynamodb/service-table.ts';
import { loadConfig } from '../../lib/app/build.ts';
import { recordApply } from '../../lib/app/record.ts';
import { problemOf } from '../../lib/api/problem.ts';
import { silentLog } from '../../lib/service/log.ts';
import { ApplyUnavailableError, KarmaService } from '../../lib/service/service.ts';
import { REPO_ROOT } from '../../scripts/servers/servers.ts';
import { privateGitServer } from '../helpers/git-server.ts';
import { MINIMAL_REPO, makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { motoClientConfig, standInEnv } from '../support/stand-ins.ts';

const TOKEN = `ghs_${randomUUID().replace(/-/g, '')}`;
const tmp = makeTempDir('karma-service-aws-');
const bare = join(tmp, 'served', 'config.git');
const prefix = `/karma-svc-${randomUUID().slice(0, 8)}`;
const bareGit = (...args: string[]): string => execFileSync('git', ['--git-dir', bare, ...args], { encoding: 'utf8' }).trim();
let server: Server;
let url: string;
let env: Record<string, string>;
let stateMachineArn: string;
let sfn: SFNClient;

beforeAll(async () => {
  const repo = makeRepo(tmp, { 'karma.yaml': `${MINIMAL_REPO['karma.yaml']}parameterPrefix: ${prefix}\n` });
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'config');
  execFileSync('git', ['clone', '-q', '--bare', repo, bare]);
  const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
  server = privateGitServer(join(tmp, 'served'), TOKEN, (req) => {
    req.headers.authorization = expected; // anonymous: see the header
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config.git`;

  const ddb = new DynamoDBClient(motoClientConfig());
  const audit = `karma-audit-${randomUUID().slice(0, 8)}`;
  await ddb.send(
    new CreateTableCommand(auditTableDefinition(audit)),
  );
  const serviceTable = `karma-service-${randomUUID().slice(0, 8)}`;
  await ddb.send(new CreateTableCommand(serviceTableDefinition(serviceTable)));
  ddb.destroy();
  sfn = new SFNClient(motoClientConfig());
  const definition = readFileSync(join(REPO_ROOT, 'statemachines', 'pipeline.asl.json'), 'utf8');
  stateMachineArn = (await sfn.send(new CreateStateMachineCommand({ name: `karma-svc-${randomUUID().slice(0, 8)}`, definition, roleArn: 'arn:aws:iam::123456789012:role/karma-sfn' }))).stateMachineArn!;
  const ssmClient = new SSMClient(motoClientConfig());
  await recordApply(await loadConfig(new DirectorySource(repo)), new SsmRuntimeStore({ client: ssmClient }), { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' }, commit: git('rev-parse', 'HEAD') });
  ssmClient.destroy();

  // The service's environment as the Fargate task has it (lib/infra/service.ts), at the stand-ins.
  env = standInEnv({
    HOME: join(tmp, 'home'),
    KARMA_CONFIG_BRANCH: 'main',
    KARMA_BACKEND: 'aws',
    KARMA_HISTORY_DIR: join(tmp, 'history'),
    KARMA_AUDIT_TABLE: audit,
    KARMA_SERVICE_TABLE: serviceTable,
    KARMA_STATE_MACHINE_ARN: stateMachineArn,
    KARMA_API_WORK_DIR: join(tmp, 'work'),
  });
});

afterAll(async () => {
  sfn?.destroy();
  await new Promise((r) => server.close(r));
  removeDir(tmp);
});

/** The service started in process with `vars` as its environment (the AWS SDK reads process.env too). */
async function serve(vars: Record<string, string | undefined>): Promise<{ service: KarmaService; restore: () => void }> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const restore = (): void => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  try {
    const service = await KarmaService.start({ config: url, log: silentLog, env: { ...process.env }, pollMs: 500, syncSeconds: 0, fetchSeconds: 0, followPollMs: 200, stopTimeoutMs: 500 });
    return { service, restore };
  } catch (error) {
    restore();
    throw error;
  }
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 100; i++) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

describe('karma serve in AWS: the queue starts the state machine and follows the execution', () => {
  it('propose pushes the proposal; apply checks, queues; the runner merges, pushes, starts the execution for the env: queued → applying', async () => {
    const { service, restore } = await serve(env);
    try {
      expect(service.mode).toEqual({ kind: 'aws' });
      const current = await service.workspace.current();
      expect(current.build.config.project.project).toBe('demo');

      const proposed = await service.workspace.requestChange({ component: 'app', env: 'karma-dev', input: { name: 'app', vpc: '${network.vpc_id}', size: 'large' }, message: 'bigger app' }, 'alice');
      const id = proposed.id!;
      expect(proposed.plan).toMatchObject({ status: 'skipped' });
      expect(bareGit('rev-parse', `refs/heads/karma/proposals/${id}`)).toBe(proposed.commit);

      const applied = await service.workspace.applyChange(id, {}, 'alice');
      expect(applied.execution).toBeNull();
      expect(['queued', 'applying']).toContain(applied.change.status);
      // Twice while in the queue: a conflict, as locally.
      await expect(service.workspace.applyChange(id, {}, 'alice')).rejects.toThrow(/already (in the queue|being applied)/);

      const history = await until(
        'the execution started',
        async () => (await service.workspace.getChange(id)).history,
        (h) => h.some((e) => e.execution !== undefined),
      );
      const started = history.find((e) => e.execution !== undefined)!;
      const main = bareGit('rev-parse', 'refs/heads/main');
      expect(main).toBe(proposed.commit); // fast-forward, pushed
      expect(bareGit('for-each-ref', '--format=%(refname)', 'refs/heads/karma')).toBe(''); // the proposal's branch deleted
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn: started.execution! }));
      expect(described.stateMachineArn).toBe(stateMachineArn);
      expect(JSON.parse(described.input!)).toEqual({ env: 'karma-dev', mode: 'apply', trigger: 'manual', commit: main, components: ['app'] });
      expect(history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-queued', 'change.apply-queued', 'change.apply-queued']);
      expect((await service.workspace.getChange(id)).status).toBe('applying');
      expect(await service.workspace.execution(started.execution!)).toMatchObject({ executionArn: started.execution, status: 'RUNNING' });
      expect((await service.health()).queue).toEqual({ queued: 0, running: 1 });
      // POST /rollouts: refused in AWS (a rollout step needs a plan; the pipeline plans in CodeBuild).
      await expect(service.rollouts.create({ component: 'app', input: { name: 'app' }, environments: ['karma-dev'] }, 'alice')).rejects.toBeInstanceOf(ApplyUnavailableError);
    } finally {
      await service.stop();
      restore();
    }
  });

  it('without KARMA_STATE_MACHINE_ARN: reads are served; apply and rollouts are a 503 problem saying what to set', async () => {
    const { service, restore } = await serve({ ...env, KARMA_STATE_MACHINE_ARN: undefined });
    try {
      expect(service.mode.kind).toBe('none');
      expect((await service.workspace.current()).build.config.project.project).toBe('demo');
      const apply = await service.workspace.applyChange('p-00000000', {}, 'alice').catch((e: unknown) => e);
      const rollout = await service.rollouts.create({ component: 'app', input: { name: 'app' }, environments: ['karma-dev'] }, 'alice').catch((e: unknown) => e);

      expect(apply).toBeInstanceOf(ApplyUnavailableError);
      expect(problemOf(apply)).toMatchObject({ status: 503, detail: expect.stringContaining('KARMA_STATE_MACHINE_ARN is not set') });
      expect(rollout).toBeInstanceOf(ApplyUnavailableError);
    } finally {
      await service.stop();
      restore();
    }
  });
});
