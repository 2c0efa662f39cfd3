/**
 * The service (issue 13) as a user meets it: a real `karma serve` process over HTTP, on a Git clone of the
 * example with its runtime seeded, applying with a real Terraform. Each scenario has its own repo and server.
 *
 * The example's queue module gets a creation-time hook for these tests (a local-exec provisioner, built into
 * Terraform): visibility_timeout 13 makes its apply fail, 77 makes it take 10 s (time to kill the service).
 */
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { karma } from '../support/cli.ts';
import { seededExampleRepo } from '../support/example-repo.ts';
import { ADMIN, eventually, startServe, type ServeProcess } from '../support/serve-process.ts';

const HOOK = `
resource "terraform_data" "hook" {
  input = var.visibility_timeout
  provisioner "local-exec" {
    command = var.visibility_timeout == 13 ? "echo 'visibility_timeout 13 is refused by the hook' >&2; exit 1" : (var.visibility_timeout == 77 ? "sleep 10" : "true")
  }
}
`;

async function serviceRepo(tmp: string, extraYaml = ''): Promise<string> {
  const dir = await seededExampleRepo(tmp);
  fs.appendFileSync(join(dir, 'modules', 'queue', 'main.tf'), HOOK);
  if (extraYaml) fs.appendFileSync(join(dir, 'karma.yaml'), extraYaml);
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'queue: a hook for the service tests', author: { name: 'Test', email: 'test@example.com' } });
  return dir;
}

type Rollout = { id: string; status: string; reason?: string; steps: { env: string; change: string | null; status: string; reason?: string; startedAt?: string; finishedAt?: string }[] };
type Change = { id: string; status: string; history: { action: string; at: string }[] };

async function rolloutEnded(serve: ServeProcess, id: string, until: (r: Rollout) => boolean, ms = 240_000): Promise<Rollout> {
  return eventually(
    async () => {
      const r = (await serve.call('GET', `/rollouts/${id}`)).json as Rollout;
      return until(r) ? r : undefined;
    },
    ms,
    `rollout ${id}`,
  );
}

/** Events from GET /events, as a client of the SSE feed sees them. */
function listen(serve: ServeProcess): { events: { type: string; data: Record<string, unknown> }[]; close: () => void; open: Promise<void> } {
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const source = new EventSource(`${serve.base}/events`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${ADMIN}` } }),
  });
  const open = new Promise<void>((resolve, reject) => {
    source.onopen = () => resolve();
    source.onerror = (e) => reject(new Error(`SSE: ${String((e as { message?: string }).message)}`));
  });
  for (const type of ['graph.changed', 'change.queued', 'change.started', 'change.finished', 'rollout.step', 'rollout.finished']) {
    source.addEventListener(type, (e) => events.push({ type, data: JSON.parse((e as { data: string }).data) as Record<string, unknown> }));
  }
  return { events, close: () => source.close(), open };
}

const terraform = ensureTerraform();

describe('karma serve keeps a live graph', () => {
  let tmp: string;
  let dir: string;
  let serve: ServeProcess;
  beforeAll(async () => {
    tmp = makeTempDir('karma-service-live-');
    dir = await serviceRepo(tmp);
    serve = await startServe(dir, { env: { KARMA_TERRAFORM: terraform }, args: ['--sync-interval', '1'] });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    removeDir(tmp);
  });

  it('is ready once the graph is loaded, and says so in /healthz', async () => {
    expect((await fetch(`${serve.base}/readyz`)).status).toBe(200);
    const health = (await serve.call('GET', '/healthz')).json as { service: { graph: { version: number; loadedAt: string } } };
    expect(health.service.graph.version).toBeGreaterThanOrEqual(1);
    expect(health.service.graph.loadedAt).toMatch(/^\d{4}-/);
  });

  it('an outside change to an output is in GET /plan within 2 s, and on the SSE feed', async () => {
    const feed = listen(serve);
    await feed.open;
    const before = (await serve.call('GET', '/components/karma-prod/database')).json as { status: string };
    expect(before.status).toBe('in-sync');
    // Another process (the CLI) writes a new version of the network's vpc_id in prod: the database consumes it.
    const put = await karma('runtime', 'put', '/karma/karma-prod/network/outputs/vpc_id', 'vpc-0prod2', '--config', dir);
    expect(put.code, put.stderr.join('\n')).toBe(0);
    const started = Date.now();
    const plan = await eventually(
      async () => {
        const p = (await serve.call('GET', '/plan?env=karma-prod')).json as { waves: string[][] };
        return p.waves.flat().includes('database') ? p : undefined;
      },
      2_000,
      'the plan with the stale database',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(plan.waves.flat()).toContain('database');
    const changed = await eventually(async () => feed.events.find((e) => e.type === 'graph.changed' && JSON.stringify(e.data).includes('"component":"database"')), 2_000, 'graph.changed');
    expect(changed.data['statusChanges']).toContainEqual(expect.objectContaining({ env: 'karma-prod', component: 'database', from: 'in-sync', to: 'stale-inputs' }));
    expect(changed.data['cause']).toBe('runtime');
    feed.close();
    // The log says how long the update took, as one JSON line.
    expect(serve.logs().some((l) => l['msg'] === 'graph updated' && typeof l['ms'] === 'number')).toBe(true);
  });

  it('a changed config file reloads the graph: the edited deployment turns pending', async () => {
    const file = join(dir, 'environments', 'karma-prod', 'cache.json');
    const inputs = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, `${JSON.stringify({ ...inputs, node_type: 'cache.r6g.xlarge' }, null, 2)}\n`);
    const cache = await eventually(
      async () => {
        const c = (await serve.call('GET', '/components/karma-prod/cache')).json as { status: string; reason: string };
        return c.status === 'pending' ? c : undefined;
      },
      10_000,
      'the edited cache pending',
    );
    expect(cache.reason).toContain('config changed');
    expect(serve.logs().some((l) => l['msg'] === 'graph loaded' && l['cause'] === 'config')).toBe(true);
  });

  it('writes the changed graph to the store and reports the sync in /healthz', async () => {
    const health = await eventually(
      async () => {
        const h = (await serve.call('GET', '/healthz')).json as { service: { sync: { at: string | null; buildId: string | null; written: number | null } } };
        return h.service.sync.buildId ? h : undefined;
      },
      10_000,
      'a sync',
    );
    expect(health.service.sync.at).toMatch(/^\d{4}-/);
  });

  it('answers GraphQL over the same graph', async () => {
    const r = await serve.call('POST', '/graphql', { query: '{ component(env: "karma-prod", name: "database") { name status reason } }' });
    expect(r.status, r.text).toBe(200);
    expect((r.json as { data: { component: { status: string } } }).data.component.status).toBe('STALE_INPUTS');
  });
});

describe('karma serve rolls a change out across environments', () => {
  let tmp: string;
  let serve: ServeProcess;
  let receiver: Server;
  const deliveries: { body: string; signature: string | undefined; delivery: string | undefined; status: number }[] = [];
  beforeAll(async () => {
    tmp = makeTempDir('karma-service-rollout-');
    // A webhook receiver that fails the first delivery (500) and takes the rest.
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = deliveries.length === 0 ? 500 : 200;
        deliveries.push({ body: Buffer.concat(chunks).toString('utf8'), signature: req.headers['x-karma-signature-256'] as string | undefined, delivery: req.headers['x-karma-delivery'] as string | undefined, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;
    const dir = await serviceRepo(
      tmp,
      `notifications:\n  webhooks:\n    - name: test-hook\n      url: http://127.0.0.1:${port}/hook\n      secret: { env: TEST_HOOK_SECRET }\n      events: [rollout.finished]\n`,
    );
    serve = await startServe(dir, { env: { KARMA_TERRAFORM: terraform, TEST_HOOK_SECRET: 'hook-secret-for-tests' } });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    receiver?.close();
    removeDir(tmp);
  });

  it('applies dev, then prod, and tells the feed and the webhook (retried after a 500)', async () => {
    const feed = listen(serve);
    await feed.open;
    const created = await serve.call('POST', '/rollouts', { component: 'queue', input: { visibility_timeout: 45, max_receive_count: 5 }, environments: ['karma-dev', 'karma-prod'] });
    expect(created.status, created.text).toBe(201);
    const id = (created.json as Rollout).id;
    const done = await rolloutEnded(serve, id, (r) => r.status === 'succeeded' || r.status === 'failed');
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    expect(done.steps.map((s) => [s.env, s.status])).toEqual([
      ['karma-dev', 'succeeded'],
      ['karma-prod', 'succeeded'],
    ]);
    // dev finished before prod started: in the rollout and on the feed.
    expect(Date.parse(done.steps[0]!.finishedAt!)).toBeLessThanOrEqual(Date.parse(done.steps[1]!.startedAt!));
    const order = feed.events.filter((e) => e.type === 'change.started' || e.type === 'change.finished').map((e) => `${e.type} ${String(e.data['env'])}`);
    expect(order).toEqual(['change.started karma-dev', 'change.finished karma-dev', 'change.started karma-prod', 'change.finished karma-prod']);
    feed.close();
    // Each step's change is a change like any other: succeeded, with its audit trail.
    for (const step of done.steps) {
      const change = (await serve.call('GET', `/changes/${step.change}`)).json as Change;
      expect(change.status).toBe('succeeded');
      expect(change.history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-queued', 'change.apply-started', 'change.applied']);
    }
    // The webhook: the first delivery answered 500, the retry carried the same delivery id and a valid signature.
    const delivered = await eventually(async () => (deliveries.length >= 2 ? deliveries : undefined), 10_000, 'the retried delivery');
    expect(delivered[0]!.status).toBe(500);
    expect(delivered[1]!.delivery).toBe(delivered[0]!.delivery);
    const expected = `sha256=${createHmac('sha256', 'hook-secret-for-tests').update(delivered[1]!.body).digest('hex')}`;
    expect(delivered[1]!.signature).toBe(expected);
    expect(JSON.parse(delivered[1]!.body)).toMatchObject({ text: expect.stringContaining(id) });
    expect(delivered[1]!.body).not.toContain('hook-secret-for-tests');
    const failed = (await serve.call('GET', '/notifications/failed')).json as { deliveries: unknown[] };
    expect(failed.deliveries).toEqual([]);
  }, 300_000);
});

describe('a failing step halts the rollout', () => {
  let tmp: string;
  let serve: ServeProcess;
  beforeAll(async () => {
    tmp = makeTempDir('karma-service-halt-');
    serve = await startServe(await serviceRepo(tmp), { env: { KARMA_TERRAFORM: terraform } });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    removeDir(tmp);
  });

  it('dev fails: prod never starts, the rollout says why', async () => {
    const created = await serve.call('POST', '/rollouts', { component: 'queue', input: { visibility_timeout: 13, max_receive_count: 5 }, environments: ['karma-dev', 'karma-prod'] });
    expect(created.status, created.text).toBe(201);
    const done = await rolloutEnded(serve, (created.json as Rollout).id, (r) => r.status === 'succeeded' || r.status === 'failed');
    expect(done.status).toBe('failed');
    expect(done.reason).toContain('karma-dev');
    expect(done.steps.map((s) => s.status)).toEqual(['failed', 'skipped']);
    expect(done.steps[1]!.change).toBeNull();
  }, 300_000);
});

describe('a manual rollout waits for an approval', () => {
  let tmp: string;
  let serve: ServeProcess;
  beforeAll(async () => {
    tmp = makeTempDir('karma-service-manual-');
    serve = await startServe(await serviceRepo(tmp), { env: { KARMA_TERRAFORM: terraform } });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    removeDir(tmp);
  });

  it('applies dev, plans prod, waits; approve applies prod', async () => {
    const created = await serve.call('POST', '/rollouts', { component: 'queue', input: { visibility_timeout: 50, max_receive_count: 5 }, environments: ['karma-dev', 'karma-prod'], approval: 'manual' });
    expect(created.status, created.text).toBe(201);
    const id = (created.json as Rollout).id;
    const waiting = await rolloutEnded(serve, id, (r) => r.status !== 'running');
    expect(waiting.status).toBe('waiting-approval');
    expect(waiting.steps.map((s) => s.status)).toEqual(['succeeded', 'waiting-approval']);
    // The approver sees prod's plan: its change is proposed and planned.
    const prod = (await serve.call('GET', `/changes/${waiting.steps[1]!.change}`)).json as Change & { plan: { status: string } };
    expect(prod.status).toBe('proposed');
    expect(prod.plan.status).toBe('planned');
    const approved = await serve.call('POST', `/rollouts/${id}/approve`);
    expect(approved.status, approved.text).toBe(200);
    expect((await serve.call('POST', `/rollouts/${id}/approve`)).status).toBe(409);
    const done = await rolloutEnded(serve, id, (r) => r.status === 'succeeded' || r.status === 'failed');
    expect(done.status).toBe('succeeded');
    expect(done.steps[1]!.status).toBe('succeeded');
  }, 300_000);
});

describe('the queue survives kill -9', () => {
  let tmp: string;
  let dir: string;
  let serve: ServeProcess;
  beforeAll(async () => {
    tmp = makeTempDir('karma-service-kill-');
    dir = await serviceRepo(tmp);
    serve = await startServe(dir, { env: { KARMA_TERRAFORM: terraform } });
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    removeDir(tmp);
  });

  it('an apply cut by kill -9 is re-run after a restart and ends succeeded; a finished one is not applied again', async () => {
    // One change applied to the end first: the restart must leave it alone.
    const first = (await serve.call('POST', '/request-change', { component: 'queue', env: 'karma-prod', input: { visibility_timeout: 40, max_receive_count: 5 } })).json as { id: string };
    expect((await serve.call('POST', `/changes/${first.id}/apply`)).status).toBe(202);
    await eventually(async () => (((await serve.call('GET', `/changes/${first.id}`)).json as Change).status === 'succeeded' ? true : undefined), 120_000, 'the first change');

    const slow = (await serve.call('POST', '/request-change', { component: 'queue', env: 'karma-dev', input: { visibility_timeout: 77, max_receive_count: 5 } })).json as { id: string };
    expect((await serve.call('POST', `/changes/${slow.id}/apply`, { allowDestroy: true })).status).toBe(202);
    await eventually(async () => (((await serve.call('GET', `/changes/${slow.id}`)).json as Change).status === 'applying' ? true : undefined), 60_000, 'the slow apply started');
    await new Promise((r) => setTimeout(r, 3_000)); // inside the 10 s hook
    await serve.kill9();

    serve = await startServe(dir, { env: { KARMA_TERRAFORM: terraform }, port: Number(new URL(serve.base).port) });
    const change = await eventually(
      async () => {
        const c = (await serve.call('GET', `/changes/${slow.id}`)).json as Change;
        return c.status === 'succeeded' || c.status === 'failed' ? c : undefined;
      },
      180_000,
      'the interrupted change',
    );
    expect(change.status, JSON.stringify(change.history)).toBe('succeeded');
    expect(change.history.filter((e) => e.action === 'change.apply-started').length).toBe(2);
    expect(change.history.filter((e) => e.action === 'change.applied').length).toBe(1);
    const finished = (await serve.call('GET', `/changes/${first.id}`)).json as Change;
    expect(finished.history.filter((e) => e.action === 'change.apply-started').length).toBe(1);
    // No lock left behind.
    const locks = await karma('lock', 'list', '--config', dir, '--json');
    expect(locks.code, locks.stderr.join('\n')).toBe(0);
    expect(JSON.parse(locks.stdout.join('\n'))).toMatchObject({ locks: [] });
  }, 400_000);
});
