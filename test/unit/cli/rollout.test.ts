/**
 * `karma rollout` against a server that answers the rollout routes with the real RolloutEngine and QueueWorker
 * (in-memory stores, a fake proposer and runner): the commands, their output and exit codes.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../../lib/app/events.ts';
import type { RequestedChange } from '../../../lib/app/changes.ts';
import { rolloutView, type RolloutRequest } from '../../../lib/api/service.ts';
import { KarmaError, NotFoundError, ConflictError } from '../../../lib/core/errors.ts';
import type { QueuedApply } from '../../../lib/ports.ts';
import { openApiClient } from '../../../lib/cli/api-client.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { rolloutCreate } from '../../../lib/cli/commands/rollout.ts';
import { QueueWorker, type ApplyOutcome } from '../../../lib/service/queue.ts';
import { RolloutEngine } from '../../../lib/service/rollouts.ts';
import { InMemoryChangeQueue, InMemoryRolloutStore } from '../../support/memory-service-stores.ts';
import { config } from '../../support/config.ts';
import { karma } from '../../support/cli.ts';

const CONFIG = config(['dev', 'prod'], { app: { in: { dev: { size: 1 }, prod: { size: 1 } } } });
const log = { info: () => undefined, error: () => undefined };
const outcomes = new Map<string, ApplyOutcome>();

let server: Server;
let url: string;
let engine: RolloutEngine;
let worker: QueueWorker;
let n = 0;

function propose(env: string, request: RolloutRequest): Promise<RequestedChange> {
  const id = `p-${env}-${++n}`;
  return Promise.resolve({
    id,
    branch: `karma/proposals/${id}`,
    commit: 'c',
    base: 'b',
    component: request.component,
    env,
    file: `environments/${env}/app.json`,
    newDeployment: false,
    message: 'm',
    diff: [],
    impact: { env, component: request.component, waves: [[request.component]], otherEnvironments: [] },
    warnings: [],
    plan: { status: 'planned', add: 0, change: 1, destroy: 0, resources: [{ address: 'terraform_data.app', action: 'update' }], line: 'Plan: 0 to add, 1 to change, 0 to destroy.', commit: 'c', plannedAt: 't', expiresAt: 't' },
  });
}

beforeAll(async () => {
  const queue = new InMemoryChangeQueue();
  const bus = new EventBus();
  worker = new QueueWorker({
    queue,
    bus,
    envs: () => ['dev', 'prod'],
    owner: 'test',
    log,
    pollMs: 20,
    runner: { run: async (item: QueuedApply) => outcomes.get(item.env) ?? { outcome: 'succeeded', result: 'applied and merged; pipeline succeeded (1 applied, 0 skipped)' } },
  });
  engine = new RolloutEngine({ store: new InMemoryRolloutStore(), queue, enqueue: (r) => worker.enqueue(r), bus, config: async () => CONFIG, propose, log });
  worker.onFinished = (item) => engine.onFinished(item);
  await worker.start();
  // The rollout routes as the service answers them: the view (no inputs), problems for refusals.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      void (async () => {
        try {
          const path = req.url ?? '/';
          let answer: unknown;
          let status = 200;
          const approve = /^\/rollouts\/([^/]+)\/approve$/.exec(path);
          const one = /^\/rollouts\/([^/]+)$/.exec(path);
          if (req.method === 'POST' && path === '/rollouts') {
            answer = rolloutView(await engine.create(JSON.parse(body) as RolloutRequest, 'alice'));
            status = 201;
          } else if (req.method === 'POST' && approve) answer = rolloutView(await engine.approve(decodeURIComponent(approve[1]!), 'bob'));
          else if (req.method === 'GET' && one) answer = rolloutView(await engine.get(decodeURIComponent(one[1]!)));
          else throw new NotFoundError('no route', { kind: 'rollout', value: path, known: [] });
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        } catch (error) {
          const status = error instanceof NotFoundError ? 404 : error instanceof ConflictError ? 409 : error instanceof KarmaError ? 400 : 500;
          res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ title: 'refused', status, detail: (error as Error).message }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await engine.close();
  await worker.stop({ handBack: false, timeoutMs: 100 });
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  outcomes.clear();
  vi.unstubAllEnvs();
});

const inputFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'karma-rollout-'));
  const file = join(dir, 'app.json');
  writeFileSync(file, JSON.stringify({ size: 2 }));
  return file;
};

describe('karma rollout', () => {
  it('--wait follows dev then prod, prints each transition, exits 0 when it succeeded', async () => {
    // Prepare
    vi.stubEnv('KARMA_API_TOKEN', 't');
    const api = await openApiClient(url);
    const io = memoryIO();
    // Act
    const code = await rolloutCreate(api, { component: 'app', input: inputFile(), envs: ['dev', 'prod'], wait: true, pollMs: 10 }, io);
    // Assess
    expect(code).toBe(0);
    expect(io.stderr[0]).toMatch(/^rollout r-[0-9a-f]{8}: app to dev → prod$/);
    expect(io.stderr).toContain('prod: succeeded, change p-prod-2 (applied and merged; pipeline succeeded (1 applied, 0 skipped))');
    expect(io.stdout).toContain('status: succeeded');
  });

  it('--wait exits 1 when a step failed, naming the environment and why', async () => {
    // Prepare
    vi.stubEnv('KARMA_API_TOKEN', 't');
    outcomes.set('dev', { outcome: 'failed', result: "the saved plan's apply failed: Error: boom" });
    const io = memoryIO();
    // Act
    const code = await rolloutCreate(await openApiClient(url), { component: 'app', input: inputFile(), envs: ['dev', 'prod'], wait: true, pollMs: 10, json: true }, io);
    // Assess
    expect(code).toBe(1);
    expect(io.stderr).toEqual([]);
    const last = JSON.parse(io.stdout.at(-1)!) as { status: string; reason: string; steps: { status: string }[]; input?: unknown };
    expect(last).toMatchObject({ status: 'failed', reason: "dev: the saved plan's apply failed: Error: boom" });
    expect(last.steps.map((s) => s.status)).toEqual(['failed', 'skipped']);
    expect(last.input).toBeUndefined();
  });

  it('manual: create, show waiting-approval, approve, show succeeded; approve again is refused (exit 2)', async () => {
    // Prepare
    vi.stubEnv('KARMA_API_TOKEN', 't');
    // Act
    const created = await karma('rollout', 'app', '--input', inputFile(), '--env', 'dev', '--env', 'prod', '--approval', 'manual', '--api', url, '--json');
    const id = (JSON.parse(created.stdout[0]!) as { id: string }).id;
    let shown = await karma('rollout', 'show', id, '--api', url);
    for (let i = 0; i < 100 && !shown.stdout.includes('status: waiting-approval'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      shown = await karma('rollout', 'show', id, '--api', url);
    }
    const approved = await karma('rollout', 'approve', id, '--api', url);
    await engine.idle();
    let done = await karma('rollout', 'show', id, '--api', url, '--json');
    for (let i = 0; i < 100 && (JSON.parse(done.stdout[0]!) as { status: string }).status !== 'succeeded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      done = await karma('rollout', 'show', id, '--api', url, '--json');
    }
    const again = await karma('rollout', 'approve', id, '--api', url);
    // Assess
    expect(created.code).toBe(0);
    expect(shown.stdout).toContain('status: waiting-approval');
    expect(shown.stdout.at(-1)).toMatch(new RegExp(`^prod waits for an approval: review its plan \\(GET /changes/p-prod-\\d+\\), then karma --api http://127.0.0.1:\\d+ rollout approve ${id}$`));
    expect(approved.code).toBe(0);
    expect(approved.stdout.join('\n')).toMatch(/prod: (queued|applying|succeeded), change p-prod-\d+, approved by bob/);
    expect(done.code).toBe(0);
    expect(again.code).toBe(2);
    expect(again.stderr).toEqual([`karma: rollout ${id} is succeeded: no step waits for an approval`]);
  });

  it('refuses without --api, without --env, without --input, and an unknown rollout, with one line and exit 2', async () => {
    // Prepare
    vi.stubEnv('KARMA_API_TOKEN', 't');
    vi.stubEnv('KARMA_API_URL', '');
    // Act
    const local = await karma('rollout', 'show', 'r-1');
    const noEnv = await karma('rollout', 'app', '--input', inputFile(), '--api', url);
    const noInput = await karma('rollout', 'app', '--env', 'dev', '--api', url);
    const unknown = await karma('rollout', 'show', 'r-nope', '--api', url);
    const unknownEnv = await karma('rollout', 'app', '--input', inputFile(), '--env', 'qa', '--api', url);
    // Assess
    expect(local).toEqual({ code: 2, stdout: [], stderr: ['karma: karma rollout talks to a running karma serve: pass --api URL (or set $KARMA_API_URL); rollouts live in the service (docs/rollouts.md)'] });
    expect(noEnv).toMatchObject({ code: 2, stderr: ['karma: karma rollout needs at least one --env ENV (in the order to apply)'] });
    expect(noInput).toMatchObject({ code: 2, stderr: ["karma: required option '-i, --input <file>' not specified"] });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr[0]).toMatch(/^karma: unknown rollout "r-nope"/);
    expect(unknownEnv).toMatchObject({ code: 2, stderr: ['karma: unknown environment "qa"; karma.yaml declares dev, prod'] });
  });
});
