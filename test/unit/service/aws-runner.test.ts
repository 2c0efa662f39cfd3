/**
 * The AWS runner of the service's queue (lib/service/aws-runner.ts). In-memory Step Functions: no local server runs
 * executions (moto's does not either), so a test sets each execution's end itself. Real: the audit log (the SQLite
 * one, the same AuditLog contract as DynamoDB's), the queue (SQLite) and worker, lib/app/pipeline/remote.ts (the
 * execution's name, idempotent starts). The Git half of the start (merge, push) is stood in for by startApply below
 * (the change's component in its env at a fixed commit): test/integration/service-aws.test.ts runs the real one.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../lib/adapters/local/database.ts';
import { LocalAuditLog } from '../../../lib/adapters/local/audit-log.ts';
import { LocalChangeQueue } from '../../../lib/adapters/local/queue.ts';
import { EventBus } from '../../../lib/app/events.ts';
import { describeRemote, startRemotePipeline } from '../../../lib/app/pipeline/remote.ts';
import type { AuditEntry, ExecutionDescription, PipelineExecutions, QueuedApply } from '../../../lib/ports.ts';
import { AwsApplyRunner, FollowStoppedError } from '../../../lib/service/aws-runner.ts';
import { QueueWorker } from '../../../lib/service/queue.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:karma';
const COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

/** Step Functions in memory: executions by ARN; the test ends them. Counts every call. */
class MemoryExecutions implements PipelineExecutions {
  readonly runs = new Map<string, ExecutionDescription>();
  readonly starts: { name: string; input: unknown }[] = [];
  describes = 0;

  async start(stateMachineArn: string, name: string, input: string): Promise<{ executionArn: string; started: boolean }> {
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    this.starts.push({ name, input: JSON.parse(input) });
    if (this.runs.has(executionArn)) return { executionArn, started: false };
    this.runs.set(executionArn, { executionArn, status: 'RUNNING', startDate: new Date(), input });
    return { executionArn, started: true };
  }

  async describe(executionArn: string): Promise<ExecutionDescription | undefined> {
    this.describes += 1;
    return this.runs.get(executionArn);
  }

  end(executionArn: string, status: 'SUCCEEDED' | 'FAILED' | 'ABORTED', failure: { error?: string; cause?: string } = {}): void {
    const run = this.runs.get(executionArn);
    if (!run) throw new Error(`no execution ${executionArn}`);
    this.runs.set(executionArn, { ...run, status, stopDate: new Date(), ...failure });
  }
}

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function setUp() {
  const dir = makeTempDir('karma-aws-runner-');
  dirs.push(dir);
  const db = openDatabase(join(dir, '.karma', 'karma.db'), { create: true });
  const audit = new LocalAuditLog(db);
  const queue = new LocalChangeQueue(db);
  const executions = new MemoryExecutions();
  const entries = async (change: string): Promise<AuditEntry[]> => (await audit.list({ limit: 100, change })).entries.reverse();
  const record = async (entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> => {
    await audit.append({ at: new Date().toISOString(), ...entry });
  };
  const runner = (pollMs = 5) =>
    new AwsApplyRunner({
      changes: {
        // The start half as lib/app/aws-workspace/changes.ts startAwsPipeline records it, Git left out.
        startApply: async (id, request, actor) => {
          const item = (await queue.get(id))!;
          const started = await startRemotePipeline({ env: item.env, mode: 'apply', trigger: 'manual', commit: COMMIT, ...(request.includePending ? {} : { components: [item.component] }) }, { stateMachineArn: STATE_MACHINE, executions });
          await record({ actor, action: 'change.apply-queued', change: id, component: item.component, env: item.env, commit: COMMIT, execution: started.executionArn, result: 'pipeline started' });
          return { change: id, env: item.env, commit: COMMIT, executionArn: started.executionArn, started: started.started };
        },
        history: entries,
        record,
      },
      describe: (arn) => describeRemote(arn, { executions }),
      pollMs,
    });
  return { db, audit, queue, executions, entries, runner, close: () => db.close() };
}

const enqueue = (queue: LocalChangeQueue, id: string, env = 'karma-dev'): Promise<QueuedApply> =>
  queue.enqueue({ id, env, component: 'app', actor: 'alice', allowDestroy: false, includePending: false }, new Date().toISOString());

/** Claims the entry as the worker would (attempts + 1). */
const claim = async (queue: LocalChangeQueue, env = 'karma-dev'): Promise<QueuedApply> => (await queue.claimNext(env, 'test:1', new Date().toISOString()))!;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('AwsApplyRunner (in-memory Step Functions: no local server runs executions)', () => {
  it('queued records change.apply-queued; run starts the state machine for the env, follows it: SUCCEEDED → succeeded, change.applied with the execution', async () => {
    const t = setUp();
    const item = await enqueue(t.queue, 'p-0000000a');
    const runner = t.runner();
    await runner.queued(item);
    const running = runner.run(await claim(t.queue), new AbortController().signal);
    await until('the execution started', () => t.executions.runs.size === 1);
    const [arn] = [...t.executions.runs.keys()];
    await until('a few polls', () => t.executions.describes >= 2);
    t.executions.end(arn!, 'SUCCEEDED');
    const outcome = await running;

    expect(t.executions.starts).toEqual([{ name: expect.stringMatching(/^karma-dev-apply-c0ffee00/), input: { env: 'karma-dev', mode: 'apply', trigger: 'manual', commit: COMMIT, components: ['app'] } }]);
    expect(outcome).toEqual({ outcome: 'succeeded', result: expect.stringContaining('succeeded') });
    const history = await t.entries('p-0000000a');
    expect(history.map((e) => e.action)).toEqual(['change.apply-queued', 'change.apply-queued', 'change.applied']);
    expect(history.at(-1)).toMatchObject({ execution: arn, actor: 'alice', env: 'karma-dev', component: 'app' });
    t.close();
  });

  it('FAILED → failed with the execution\'s error and cause on one line, recorded as change.apply-failed', async () => {
    const t = setUp();
    await enqueue(t.queue, 'p-0000000b');
    const running = t.runner().run(await claim(t.queue), new AbortController().signal);
    await until('the execution started', () => t.executions.runs.size === 1);
    const [arn] = [...t.executions.runs.keys()];
    t.executions.end(arn!, 'FAILED', { error: 'ComponentFailed', cause: 'app failed:\n  Error: creating bucket' });
    const outcome = await running;

    expect(outcome.outcome).toBe('failed');
    expect(outcome.result).toMatch(/the pipeline run .* failed: ComponentFailed: app failed: Error: creating bucket$/);
    expect(outcome.result).not.toContain('\n');
    expect((await t.entries('p-0000000b')).at(-1)).toMatchObject({ action: 'change.apply-failed', execution: arn, result: outcome.result });
    t.close();
  });

  it('a restart with an execution already started follows THAT execution and starts none', async () => {
    const t = setUp();
    await enqueue(t.queue, 'p-0000000c');
    // The first run started the execution, then the service died: the entry is released and claimed again.
    const first = new AbortController();
    const cut = t.runner().run(await claim(t.queue), first.signal);
    await until('the execution started', () => t.executions.runs.size === 1);
    first.abort();
    await expect(cut).rejects.toBeInstanceOf(FollowStoppedError);
    await t.queue.release('p-0000000c');
    const again = await claim(t.queue);
    expect(again.attempts).toBe(2);

    const running = t.runner().run(again, new AbortController().signal);
    await until('followed again', () => t.executions.describes >= 3);
    const [arn] = [...t.executions.runs.keys()];
    t.executions.end(arn!, 'SUCCEEDED');

    expect(await running).toMatchObject({ outcome: 'succeeded' });
    expect(t.executions.starts).toHaveLength(1);
    expect((await t.entries('p-0000000c')).map((e) => e.action)).toEqual(['change.apply-queued', 'change.applied']);
    t.close();
  });

  it('a restart after the change finished is that outcome, and nothing is started or applied again', async () => {
    const t = setUp();
    await enqueue(t.queue, 'p-0000000d');
    const running = t.runner().run(await claim(t.queue), new AbortController().signal);
    await until('the execution started', () => t.executions.runs.size === 1);
    t.executions.end([...t.executions.runs.keys()][0]!, 'FAILED', { error: 'States.Timeout' });
    await running;
    // Died before the queue recorded the end: the entry is running still, and claimed again after the restart.
    await t.queue.release('p-0000000d');
    const describes = t.executions.describes;
    const outcome = await t.runner().run(await claim(t.queue), new AbortController().signal);

    expect(outcome).toEqual({ outcome: 'failed', result: expect.stringMatching(/^finished before the restart: merged and pushed; the pipeline run .* failed: States.Timeout$/) });
    expect(t.executions.starts).toHaveLength(1);
    expect(t.executions.describes).toBe(describes);
    expect((await t.entries('p-0000000d')).filter((e) => e.action === 'change.apply-failed')).toHaveLength(1);
    t.close();
  });

  it('stop aborts the following: the entry is handed back unrecorded, the execution keeps running, DescribeExecution stops', async () => {
    const t = setUp();
    const worker = new QueueWorker({ queue: t.queue, runner: t.runner(), bus: new EventBus(), envs: () => ['karma-dev'], owner: 'test:1', log: { info: () => undefined, error: () => undefined }, pollMs: 10_000 });
    await worker.start();
    await worker.enqueue({ id: 'p-0000000e', env: 'karma-dev', component: 'app', actor: 'alice', allowDestroy: false, includePending: false });
    await until('followed', () => t.executions.describes >= 2);
    const { handedBack } = await worker.stop({ handBack: true, timeoutMs: 20 });
    const describes = t.executions.describes;
    await new Promise((r) => setTimeout(r, 50));

    expect(handedBack).toEqual(['p-0000000e']);
    expect(await t.queue.get('p-0000000e')).toMatchObject({ state: 'queued', attempts: 1 });
    expect([...t.executions.runs.values()][0]).toMatchObject({ status: 'RUNNING' });
    expect(t.executions.describes).toBe(describes);
    expect((await t.entries('p-0000000e')).map((e) => e.action)).toEqual(['change.apply-queued', 'change.apply-queued']);
    t.close();
  });

  it('an execution that cannot be found fails the entry (no endless polling)', async () => {
    const t = setUp();
    await enqueue(t.queue, 'p-0000000f');
    const start = await claim(t.queue);
    await t.audit.append({ at: new Date().toISOString(), actor: 'alice', action: 'change.apply-queued', change: 'p-0000000f', component: 'app', env: 'karma-dev', execution: `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:gone` });
    await t.queue.release('p-0000000f');
    const again = await claim(t.queue);
    const outcome = await t.runner().run(again, new AbortController().signal);

    expect(start.attempts).toBe(1);
    expect(outcome).toEqual({ outcome: 'failed', result: expect.stringContaining('cannot be followed: no execution') });
    t.close();
  });
});
