/**
 * The service's outgoing webhooks against a real HTTP receiver on 127.0.0.1 (node:http): signing, retries,
 * Retry-After, final answers, the failed-delivery record, the event filter, order, the bounded queue, stop().
 * SNS is tested against moto in test/integration/service-sns.test.ts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import packageJson from '../../../package.json' with { type: 'json' };
import { EventBus, type ServiceEventBody } from '../../../lib/app/events.ts';
import { UsageError } from '../../../lib/core/errors.ts';
import type { Config, NotificationsConfig, WebhookDef } from '../../../lib/core/model.ts';
import { printableForms } from '../../../lib/core/secrets.ts';
import {
  describeEvent,
  retryAfterMs,
  retryDelay,
  startNotifications,
  type NotificationLog,
  type NotificationOptions,
  type Notifications,
} from '../../../lib/service/notifications.ts';
import { MemoryDeliveryLog } from '../../support/memory-deliveries.ts';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  readonly path: string;
}

type Answer = (res: ServerResponse) => void;

/** A receiver: records every request, answers with the next queued answer (200 when none is left). */
class Receiver {
  readonly received: Received[] = [];
  readonly answers: Answer[] = [];
  private readonly server: Server;
  private waiters: { count: number; resolve: () => void }[] = [];
  private readonly open = new Set<ServerResponse>();
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now(), path: req.url ?? '' });
        this.waiters = this.waiters.filter((w) => (this.received.length >= w.count ? (w.resolve(), false) : true));
        this.open.add(res);
        res.on('close', () => this.open.delete(res));
        const answer = this.answers.shift() ?? ((r: ServerResponse) => r.writeHead(200).end('ok'));
        answer(res);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/karma`;
    return this;
  }

  waitFor(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const status = (code: number, headers: Record<string, string> = {}): Answer => (res) => res.writeHead(code, headers).end(`answer ${code}`);
/** Never answers (until the receiver closes). */
const hang: Answer = () => undefined;

class MemoryLog implements NotificationLog {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
  text(): string {
    return JSON.stringify(this.lines);
  }
}

function configWith(notifications: NotificationsConfig): Pick<Config, 'project'> {
  return {
    project: {
      project: 'test',
      parameterPrefix: '/karma',
      environments: new Map(),
      backend: { type: 'local', path: '.karma' },
      terraform: {},
      drift: { onTrigger: 'report' },
      notifications,
    },
  };
}

const SECRET = 'whsec-9f2c7e1a-the-shared-key';
const FINISHED: ServiceEventBody = {
  type: 'change.finished',
  change: 'p-abc',
  env: 'karma-dev',
  component: 'serverless-site',
  outcome: 'succeeded',
  result: 'applied in 41 s, 3 outputs changed',
};
const QUEUED: ServiceEventBody = { type: 'change.queued', change: 'p-abc', env: 'karma-dev', component: 'serverless-site', actor: 'alice' };

function hmacOk(secret: string, body: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('startNotifications: webhooks', () => {
  let receiver: Receiver;
  let bus: EventBus;
  let deliveries: MemoryDeliveryLog;
  let log: MemoryLog;
  let running: Notifications[];

  beforeEach(async () => {
    receiver = await new Receiver().start();
    bus = new EventBus();
    deliveries = new MemoryDeliveryLog();
    log = new MemoryLog();
    running = [];
  });
  afterEach(async () => {
    await Promise.all(running.map((n) => n.stop()));
    await receiver.close();
  });

  function start(webhooks: readonly Partial<WebhookDef>[], extra: Partial<NotificationOptions> = {}): Notifications {
    const defs = webhooks.map((w, i) => ({ name: `hook-${i}`, url: receiver.url, format: 'slack' as const, ...w }));
    const n = startNotifications({
      bus,
      config: configWith({ webhooks: defs }),
      deliveries,
      env: { KARMA_HOOK_SECRET: SECRET },
      log,
      retry: { attempts: 3, baseMs: 5, maxMs: 20 },
      sns: undefined,
      ...extra,
    });
    running.push(n);
    return n;
  }

  it('delivers a signed Slack payload: the signature verifies, the headers name the event and the delivery', async () => {
    // Prepare
    const notifications = start([{ secret: { env: 'KARMA_HOOK_SECRET' } }]);

    // Act
    const event = bus.publish(FINISHED);
    await receiver.waitFor(1);

    // Assess
    const [got] = receiver.received;
    expect(hmacOk(SECRET, got!.body, got!.headers['x-karma-signature-256'])).toBe(true);
    expect(hmacOk('another-key', got!.body, got!.headers['x-karma-signature-256'])).toBe(false);
    expect(got!.headers['x-karma-event']).toBe('change.finished');
    expect(got!.headers['x-karma-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(got!.headers['user-agent']).toBe(`karma/${packageJson.version}`);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.path).toBe('/hooks/karma');
    const payload = JSON.parse(got!.body) as { text: string; blocks: unknown[]; karma: { event: unknown } };
    expect(payload.text).toBe('karma: change p-abc (serverless-site in karma-dev) succeeded — applied in 41 s, 3 outputs changed');
    expect(payload.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: payload.text } }]);
    expect(payload.karma.event).toEqual(event);
    await expect.poll(() => notifications.stats().webhooks[0]).toMatchObject({ name: 'hook-0', delivered: 1, failed: 0, retries: 0, signed: true, pending: 0 });
    expect(deliveries.failed).toEqual([]);
  });

  it('the payload and the log carry the secret in no form (raw, escaped, hex, base64)', async () => {
    start([{ secret: { env: 'KARMA_HOOK_SECRET' } }, { name: 'plain', format: 'karma', secret: { env: 'KARMA_HOOK_SECRET' } }]);

    bus.publish(FINISHED);
    await receiver.waitFor(2);

    const forms = [...printableForms([SECRET]), Buffer.from(SECRET).toString('hex'), Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('base64url')];
    for (const got of receiver.received) {
      for (const form of forms) expect(got.body).not.toContain(form);
      for (const [name, value] of Object.entries(got.headers)) if (name !== 'x-karma-signature-256') for (const form of forms) expect(String(value)).not.toContain(form);
    }
    for (const form of forms) expect(log.text()).not.toContain(form);
  });

  it('format karma sends the event itself; no secret: unsigned', async () => {
    start([{ format: 'karma' }]);

    const event = bus.publish(QUEUED);
    await receiver.waitFor(1);

    expect(JSON.parse(receiver.received[0]!.body)).toEqual(event);
    expect(receiver.received[0]!.headers['x-karma-signature-256']).toBeUndefined();
  });

  it('500 then 200: delivered on the second attempt with the same delivery id, nothing recorded', async () => {
    receiver.answers.push(status(500));
    const notifications = start([{}]);

    bus.publish(FINISHED);
    await receiver.waitFor(2);

    const [first, second] = receiver.received;
    expect(second!.headers['x-karma-delivery']).toBe(first!.headers['x-karma-delivery']);
    expect(second!.body).toBe(first!.body);
    await expect.poll(() => notifications.stats().webhooks[0]).toMatchObject({ delivered: 1, failed: 0, retries: 1 });
    expect(deliveries.failed).toEqual([]);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.fields?.['status'])).toEqual([500]);
  });

  it('always 500: recorded as failed after the last attempt, with the target stripped of its query string', async () => {
    for (let i = 0; i < 3; i++) receiver.answers.push(status(500));
    const url = `${receiver.url}?token=tok-123456789`;
    const notifications = start([{ name: 'ops', url }]);

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.headers['x-karma-delivery'])).size).toBe(1);
    expect(receiver.received[0]!.path).toBe('/hooks/karma?token=tok-123456789');
    const [failed] = deliveries.failed;
    expect(failed).toMatchObject({
      webhook: 'ops',
      event: 'change.finished',
      target: receiver.url,
      attempts: 3,
      lastStatus: 500,
      lastError: 'HTTP 500 Internal Server Error',
      payload: receiver.received[0]!.body,
    });
    expect(Date.parse(failed!.firstAttemptAt)).toBeLessThanOrEqual(Date.parse(failed!.failedAt));
    expect(notifications.stats().webhooks[0]).toMatchObject({ delivered: 0, failed: 1, retries: 2, target: receiver.url });
    expect(log.text()).not.toContain('tok-123456789');
    expect(log.lines.at(-1)).toMatchObject({ level: 'error', message: 'webhook delivery failed' });
  });

  it('400 is final: one attempt, recorded', async () => {
    receiver.answers.push(status(400));
    start([{}]);

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    expect(receiver.received).toHaveLength(1);
    expect(deliveries.failed[0]).toMatchObject({ attempts: 1, lastStatus: 400, lastError: 'HTTP 400 Bad Request' });
  });

  it('a redirect is not followed: final, recorded', async () => {
    receiver.answers.push(status(302, { location: 'http://127.0.0.1:1/elsewhere' }));
    start([{}]);

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    expect(receiver.received).toHaveLength(1);
    expect(deliveries.failed[0]).toMatchObject({ attempts: 1, lastStatus: 302 });
    expect(deliveries.failed[0]!.lastError).toMatch(/^HTTP 302 Found: a redirect, not followed/);
  });

  it('429 with Retry-After: 1 waits a second (not the 5 ms backoff), then delivers', async () => {
    receiver.answers.push(status(429, { 'retry-after': '1' }));
    const notifications = start([{}]);

    bus.publish(FINISHED);
    await receiver.waitFor(2);

    const waited = receiver.received[1]!.at - receiver.received[0]!.at;
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(3000);
    await expect.poll(() => notifications.stats().webhooks[0]!.delivered).toBe(1);
  });

  it('a refused connection is retried, then recorded with no status and the reason', async () => {
    await receiver.close();
    const closedUrl = receiver.url;
    receiver = await new Receiver().start();
    start([{ url: closedUrl }]);

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    expect(deliveries.failed[0]).toMatchObject({ attempts: 3, lastStatus: null });
    expect(deliveries.failed[0]!.lastError).toMatch(/ECONNREFUSED/);
  });

  it('a receiver that does not answer in time: each request is cut at the timeout and retried', async () => {
    for (let i = 0; i < 3; i++) receiver.answers.push(hang);
    start([{}], { timeoutMs: 100 });

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    expect(receiver.received).toHaveLength(3);
    expect(deliveries.failed[0]).toMatchObject({ attempts: 3, lastStatus: null, lastError: 'no answer in time (request timeout)' });
  });

  it('the event filter: a webhook gets only the types it lists; another gets all', async () => {
    start([{ name: 'finished-only', url: `${receiver.url}/finished`, events: ['change.finished'] }, { name: 'all', url: `${receiver.url}/all` }]);

    bus.publish(QUEUED);
    bus.publish(FINISHED);
    await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 50));

    const byPath = (p: string): (string | string[] | undefined)[] => receiver.received.filter((r) => r.path === p).map((r) => r.headers['x-karma-event']);
    expect(byPath('/hooks/karma/finished')).toEqual(['change.finished']);
    expect(byPath('/hooks/karma/all')).toEqual(['change.queued', 'change.finished']);
  });

  it('publishing never waits for a delivery, and one webhook receives its events in order', async () => {
    const slow: Answer = (res) => setTimeout(() => res.writeHead(200).end(), 100);
    for (let i = 0; i < 5; i++) receiver.answers.push(slow);
    receiver.answers.splice(2, 0, status(503));
    start([{ format: 'karma' }]);

    const began = performance.now();
    const ids = [1, 2, 3, 4, 5].map((n) => bus.publish({ ...FINISHED, change: `p-${n}` }).id);
    const publishMs = performance.now() - began;
    await receiver.waitFor(6);

    expect(publishMs).toBeLessThan(200); // five deliveries one after another take over 500 ms
    const sent = receiver.received.map((r) => (JSON.parse(r.body) as { id: number }).id);
    expect(sent).toEqual([ids[0], ids[1], ids[2], ids[2], ids[3], ids[4]]);
  });

  it('a full queue drops the oldest waiting event and records it as "queue full"', async () => {
    receiver.answers.push((res) => setTimeout(() => res.writeHead(200).end(), 150));
    const notifications = start([{ format: 'karma' }], { queueLimit: 2 });

    const events = [1, 2, 3, 4, 5].map((n) => bus.publish({ ...FINISHED, change: `p-${n}` }));
    await receiver.waitFor(3);
    await expect.poll(() => notifications.stats().webhooks[0]!.delivered).toBe(3);

    const sent = receiver.received.map((r) => (JSON.parse(r.body) as { id: number }).id);
    expect(sent).toEqual([events[0]!.id, events[3]!.id, events[4]!.id]);
    expect(deliveries.failed.map((f) => (JSON.parse(f.payload) as { id: number }).id)).toEqual([events[1]!.id, events[2]!.id]);
    expect(deliveries.failed[0]).toMatchObject({ attempts: 0, lastStatus: null });
    expect(deliveries.failed[0]!.lastError).toMatch(/^queue full: more than 2 events waiting/);
    expect(notifications.stats().webhooks[0]).toMatchObject({ dropped: 2, failed: 2, delivered: 3 });
  });

  it('stop() waits for a delivery in flight up to its bound, then cancels it and records it and the queued ones', async () => {
    receiver.answers.push(hang);
    const notifications = start([{}], { stopTimeoutMs: 150 });
    bus.publish(FINISHED);
    bus.publish(QUEUED);
    await receiver.waitFor(1);

    const began = performance.now();
    await notifications.stop();
    const took = performance.now() - began;

    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1000);
    expect(deliveries.failed.map((f) => [f.event, f.attempts, f.lastError])).toEqual([
      ['change.finished', 1, 'cancelled: the service stopped'],
      ['change.queued', 0, 'not sent: the service stopped first'],
    ]);
    bus.publish(FINISHED);
    expect(bus.subscribers).toBe(0);
  });

  it('stop() with nothing in flight returns at once; a webhook waiting to retry is recorded, not retried', async () => {
    receiver.answers.push(status(500));
    const notifications = start([{}], { retry: { attempts: 5, baseMs: 10_000, maxMs: 30_000 } });
    bus.publish(FINISHED);
    await expect.poll(() => log.lines.some((l) => l.level === 'warn')).toBe(true);

    const began = performance.now();
    await notifications.stop();

    expect(performance.now() - began).toBeLessThan(500);
    expect(receiver.received).toHaveLength(1);
    expect(deliveries.failed[0]).toMatchObject({ attempts: 1, lastStatus: 500, lastError: 'HTTP 500 Internal Server Error; not retried: the service stopped' });
  });

  it('a URL from the environment: used, and neither logged nor recorded beyond its origin', async () => {
    for (let i = 0; i < 3; i++) receiver.answers.push(status(500));
    const notifications = start([{ url: { env: 'KARMA_SLACK_URL' } }], { env: { KARMA_SLACK_URL: `${receiver.url}/T0/B0/xoxsecretpath` } });

    bus.publish(FINISHED);
    await deliveries.waitFor(1);

    const origin = new URL(receiver.url).origin;
    expect(receiver.received[0]!.path).toBe('/hooks/karma/T0/B0/xoxsecretpath');
    expect(deliveries.failed[0]!.target).toBe(`${origin}/… ($KARMA_SLACK_URL)`);
    expect(notifications.stats().webhooks[0]!.target).toBe(`${origin}/… ($KARMA_SLACK_URL)`);
    expect(log.text()).not.toContain('xoxsecretpath');
    expect(JSON.stringify(deliveries.failed)).not.toContain('xoxsecretpath');
  });
});

describe('startNotifications: start-up', () => {
  const base = (webhooks: WebhookDef[]): NotificationOptions => ({
    bus: new EventBus(),
    config: configWith({ webhooks }),
    deliveries: new MemoryDeliveryLog(),
    env: {},
    log: new MemoryLog(),
  });

  it('a secret or URL variable that is not set: one UsageError, one line per webhook, naming the variable', () => {
    const error = (() => {
      try {
        startNotifications(
          base([
            { name: 'ops', url: 'https://hooks.example.com/karma', secret: { env: 'KARMA_OPS_SECRET' }, format: 'slack' },
            { name: 'slack', url: { env: 'KARMA_SLACK_URL' }, format: 'slack' },
          ]),
        );
        return undefined;
      } catch (e) {
        return e;
      }
    })() as Error;

    expect(error).toBeInstanceOf(UsageError);
    expect(error.message.split('\n')).toEqual([
      'karma.yaml notifications.webhooks "ops": secret: $KARMA_OPS_SECRET is not set (or empty); set it where karma serve runs, or remove secret: to send unsigned',
      'karma.yaml notifications.webhooks "slack": url: $KARMA_SLACK_URL is not set; set it where karma serve runs',
    ]);
  });

  it('a URL variable holding no acceptable URL is refused without repeating it', () => {
    const options = { ...base([{ name: 'slack', url: { env: 'KARMA_SLACK_URL' }, format: 'slack' }]), env: { KARMA_SLACK_URL: 'http://hooks.example.com/T0/xoxsecretpath' } };

    expect(() => startNotifications(options)).toThrow(
      'karma.yaml notifications.webhooks "slack": url: $KARMA_SLACK_URL http is accepted only to 127.0.0.1, [::1] or localhost (host here: hooks.example.com); use https',
    );
  });

  it('no webhook and no topic: nothing subscribes, stop() returns', async () => {
    const options = base([]);

    const n = startNotifications(options);

    expect(options.bus.subscribers).toBe(0);
    expect(n.stats()).toEqual({ webhooks: [], sns: null });
    await n.stop();
  });
});

describe('the one-line texts, the waits', () => {
  const at = { id: 7, at: '2026-12-02T10:00:00.000Z' };

  it('one line per event type', () => {
    expect(describeEvent({ ...at, ...FINISHED })).toBe('karma: change p-abc (serverless-site in karma-dev) succeeded — applied in 41 s, 3 outputs changed');
    expect(describeEvent({ ...at, ...QUEUED, rollout: 'r-1' })).toBe('karma: change p-abc (serverless-site in karma-dev) queued by alice (rollout r-1)');
    expect(describeEvent({ ...at, type: 'change.started', change: 'p-abc', env: 'karma-dev', component: 'site', attempt: 2 })).toBe('karma: change p-abc (site in karma-dev) started (attempt 2)');
    expect(describeEvent({ ...at, type: 'graph.changed', version: 12, cause: 'runtime', statusChanges: [] })).toBe('karma: graph v12 updated (runtime), no status changed');
    expect(
      describeEvent({
        ...at,
        type: 'graph.changed',
        version: 13,
        cause: 'config',
        statusChanges: [
          { env: 'karma-dev', component: 'network', from: 'in-sync', to: 'pending', reason: 'config changed' },
          { env: 'karma-dev', component: 'database', from: 'in-sync', to: 'stale-inputs', reason: 'x' },
          { env: 'karma-dev', component: 'site', from: null, to: 'never-applied', reason: 'x' },
          { env: 'karma-dev', component: 'dns', from: 'in-sync', to: 'pending', reason: 'x' },
        ],
      }),
    ).toBe('karma: graph v13 (config): 4 status changes — network in karma-dev in-sync → pending; database in karma-dev in-sync → stale-inputs; site in karma-dev new → never-applied; and 1 more');
    expect(describeEvent({ ...at, type: 'rollout.step', rollout: 'r-1', component: 'site', env: 'karma-prod', change: 'p-9', status: 'waiting-approval' })).toBe(
      'karma: rollout r-1 of site: karma-prod waiting-approval (change p-9)',
    );
    expect(describeEvent({ ...at, type: 'rollout.finished', rollout: 'r-1', component: 'site', status: 'failed', reason: 'karma-prod failed' })).toBe('karma: rollout r-1 of site failed — karma-prod failed');
    expect(describeEvent({ ...at, type: 'drift.found', env: 'karma-prod', component: 'dns', reason: '1 to change' })).toBe('karma: drift found in dns in karma-prod — 1 to change');
    expect(describeEvent({ ...at, type: 'deployment.orphaned', env: 'karma-prod', component: 'old', reason: 'removed from Git at abc123' })).toBe('karma: old in karma-prod is orphaned — removed from Git at abc123');
  });

  it('Slack markup in a reason is escaped in the payload, not in the line', async () => {
    const { webhookPayload } = await import('../../../lib/service/notifications.ts');
    const body = JSON.parse(webhookPayload('slack', { ...at, type: 'drift.found', env: 'e', component: 'c', reason: '<!channel> a & b' })) as { text: string };
    expect(body.text).toBe('karma: drift found in c in e — &lt;!channel&gt; a &amp; b');
  });

  it('backoff: 1 s, 2 s, 4 s, 8 s ±20 %, capped at 30 s; Retry-After in seconds or as a date, capped', () => {
    const policy = { attempts: 5, baseMs: 1000, maxMs: 30_000 };
    expect([1, 2, 3, 4].map((n) => retryDelay(policy, n, () => 0.5))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelay(policy, 1, () => 0)).toBe(800);
    expect(retryDelay(policy, 1, () => 0.999999)).toBe(1200);
    expect(retryDelay(policy, 10, () => 0.999999)).toBe(30_000);
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(Date.parse('2026-12-02T10:00:05Z')).toUTCString(), Date.parse('2026-12-02T10:00:00Z'))).toBe(5000);
    expect(retryAfterMs('86400')).toBe(300_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
