/**
 * What sends the service's events out (issue 13; the user's side is docs/notifications.md): the webhooks of
 * karma.yaml `notifications.webhooks` and an SNS topic.
 *
 *   - The bus listener only enqueues: a delivery never blocks the publisher, and a throwing listener would be
 *     dropped by the bus, so nothing in it throws.
 *   - One queue per webhook, delivered one at a time: a receiver sees a webhook's events in the order they
 *     were published. The queue is bounded: past `queueLimit` pending events the oldest is dropped and recorded
 *     as failed ("queue full"), so a receiver that is down for hours costs bounded memory.
 *   - A delivery is a POST of the payload, signed like GitHub's (X-Karma-Signature-256: sha256=HMAC-SHA256(secret,
 *     body)) when the webhook has a secret, with one X-Karma-Delivery id for all its attempts. Network errors,
 *     timeouts, 5xx and 429 are retried with exponential backoff and jitter (429's Retry-After is honoured); other
 *     answers are final. What fails in the end goes to the DeliveryLog (GET /notifications/failed).
 *   - SNS: every event is published once (the SDK retries what it retries); a failure is logged.
 *
 * Nothing here logs or records a URL's query string, a URL read from the environment (a Slack URL is a
 * credential) or a secret: targets are scheme, host and path, and error texts go through the redactor.
 */
import { randomUUID } from 'node:crypto';
import packageJson from '../../package.json' with { type: 'json' };
import type { EventBus, ServiceEvent } from '../app/events.ts';
import { openSnsTarget, type SnsTarget } from '../app/notify.ts';
import { sign } from '../app/webhook.ts';
import { webhookUrlProblem } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';
import type { Config, WebhookDef } from '../core/model.ts';
import { redactor } from '../core/secrets.ts';
import type { DeliveryLog } from '../ports.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** The wait after the first failed attempt; doubled after each further one. */
  readonly baseMs: number;
  /** No wait is longer (Retry-After aside). */
  readonly maxMs: number;
}

/** 5 attempts: waits of about 1 s, 2 s, 4 s, 8 s in between (±20 % jitter), none above 30 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 1000, maxMs: 30_000 };
/** Each request's bound (AbortSignal.timeout). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Pending events per webhook before the oldest is dropped. */
export const QUEUE_LIMIT = 1000;
/** How long stop() lets deliveries finish before aborting them. */
export const STOP_TIMEOUT_MS = 10_000;
/** The longest 429 Retry-After honoured: a longer one waits this long. */
export const RETRY_AFTER_MAX_MS = 300_000;

export const SIGNATURE_HEADER = 'X-Karma-Signature-256';
export const EVENT_HEADER = 'X-Karma-Event';
export const DELIVERY_HEADER = 'X-Karma-Delivery';
export const USER_AGENT = `karma/${packageJson.version}`;

/** The logger the service hands in (pino, wrapped by the caller: message first). */
export interface NotificationLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface NotificationOptions {
  readonly bus: EventBus;
  readonly config: Pick<Config, 'project'>;
  readonly deliveries: DeliveryLog;
  /** Where `secret: {env}`, `url: {env}` and KARMA_NOTIFY_TOPIC_ARN (with the AWS variables) are read. */
  readonly env: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
  readonly log: NotificationLog;
  readonly retry?: Partial<RetryPolicy>;
  /** @default REQUEST_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** @default QUEUE_LIMIT */
  readonly queueLimit?: number;
  /** @default STOP_TIMEOUT_MS */
  readonly stopTimeoutMs?: number;
  /** The SNS publisher; by default the one lib/app/notify.ts opens from `env` and karma.yaml (none without a topic). */
  readonly sns?: SnsTarget;
  /** In [0, 1): the jitter. @default Math.random */
  readonly random?: () => number;
}

export interface WebhookStats {
  readonly name: string;
  /** Scheme, host and path (a URL from the environment: scheme and host only). */
  readonly target: string;
  readonly format: WebhookDef['format'];
  readonly signed: boolean;
  /** Waiting in the queue (the one being sent not counted). */
  readonly pending: number;
  readonly inFlight: boolean;
  readonly delivered: number;
  /** Recorded as failed: retries exhausted, a final answer, dropped, or the service stopped first. */
  readonly failed: number;
  /** Of `failed`: dropped because the queue was full. */
  readonly dropped: number;
  /** Attempts after a first one, over all deliveries. */
  readonly retries: number;
}

export interface NotificationStats {
  readonly webhooks: readonly WebhookStats[];
  readonly sns: { readonly topicArn: string; readonly published: number; readonly failed: number } | null;
}

export interface Notifications {
  /** Stops listening, lets deliveries finish for up to `stopTimeoutMs`, then aborts and records what is left as failed. */
  stop(): Promise<void>;
  stats(): NotificationStats;
}

interface Job {
  readonly event: ServiceEvent;
  readonly body: string;
  readonly delivery: string;
}

interface Outcome {
  readonly ok: boolean;
  readonly status: number | null;
  readonly error: string;
  readonly retry: boolean;
  readonly retryAfterMs?: number;
}

interface Hook {
  readonly def: WebhookDef;
  readonly url: string;
  readonly target: string;
  readonly secret: string | undefined;
  readonly events: ReadonlySet<string> | undefined;
  readonly pending: Job[];
  inFlight: boolean;
  draining: Promise<void> | undefined;
  delivered: number;
  failed: number;
  dropped: number;
  retries: number;
}

/** Scheme, host and path: what may be logged and recorded of a URL. */
export function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** The one line a human reads: Slack's `text`, the SNS subject, the log. */
export function describeEvent(event: ServiceEvent): string {
  const where = (component: string, env: string): string => `${component} in ${env}`;
  const because = (reason: string | undefined): string => (reason ? ` — ${reason}` : '');
  const ofRollout = (rollout: string | undefined): string => (rollout ? ` (rollout ${rollout})` : '');
  switch (event.type) {
    case 'graph.changed': {
      const n = event.statusChanges.length;
      if (n === 0) return `karma: graph v${event.version} updated (${event.cause}), no status changed`;
      const shown = event.statusChanges.slice(0, 3).map((c) => `${where(c.component, c.env)} ${c.from ?? 'new'} → ${c.to}`);
      const more = n > shown.length ? `; and ${n - shown.length} more` : '';
      return `karma: graph v${event.version} (${event.cause}): ${n} status ${n === 1 ? 'change' : 'changes'} — ${shown.join('; ')}${more}`;
    }
    case 'change.queued':
      return `karma: change ${event.change} (${where(event.component, event.env)}) queued by ${event.actor}${ofRollout(event.rollout)}`;
    case 'change.started':
      return `karma: change ${event.change} (${where(event.component, event.env)}) started${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}${ofRollout(event.rollout)}`;
    case 'change.finished':
      return `karma: change ${event.change} (${where(event.component, event.env)}) ${event.outcome}${because(event.result)}${ofRollout(event.rollout)}`;
    case 'rollout.step':
      return `karma: rollout ${event.rollout} of ${event.component}: ${event.env} ${event.status}${event.change ? ` (change ${event.change})` : ''}${because(event.reason)}`;
    case 'rollout.finished':
      return `karma: rollout ${event.rollout} of ${event.component} ${event.status}${because(event.reason)}`;
    case 'drift.found':
      return `karma: drift found in ${where(event.component, event.env)}${because(event.reason)}`;
    case 'deployment.orphaned':
      return `karma: ${where(event.component, event.env)} is orphaned${because(event.reason)}`;
  }
}

/** The line in ASCII, as SNS subjects must be (the adapter would turn the rest into `?`). */
export function asciiLine(line: string): string {
  return line.replace(/ — /g, ' - ').replace(/→/g, '->').replace(/…/g, '...');
}

/** Slack reads `&`, `<` and `>` as markup in `text` and mrkdwn blocks. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The request body of a webhook of `format` for `event`. */
export function webhookPayload(format: WebhookDef['format'], event: ServiceEvent): string {
  if (format === 'karma') return JSON.stringify(event);
  const text = slackEscape(describeEvent(event));
  return JSON.stringify({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }], karma: { event } });
}

/** Retry-After as milliseconds (seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS);
}

/** The wait after failed attempt `attempt` (1-based): base·2^(attempt-1) ±20 %, at most maxMs. */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const nominal = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.min(policy.maxMs, Math.round(nominal * (0.8 + 0.4 * random())));
}

function errorText(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time (request timeout)';
  const cause = e?.cause?.message ?? e?.cause?.code;
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}${cause ? ` (${cause})` : ''}`;
}

/** A promise that resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Reads the webhooks' secrets and environment URLs: every one missing or invalid is one line of a UsageError. */
function resolveHooks(defs: readonly WebhookDef[], env: NodeJS.ProcessEnv): { hooks: Hook[]; secrets: string[] } {
  const problems: string[] = [];
  const hooks: Hook[] = [];
  const secrets: string[] = [];
  for (const def of defs) {
    const at = `karma.yaml notifications.webhooks "${def.name}"`;
    let url: string | undefined;
    let target = '';
    if (typeof def.url === 'string') {
      url = def.url;
      target = targetOf(url);
      const u = new URL(url);
      if (u.search) secrets.push(u.search.slice(1));
    } else {
      const value = env[def.url.env];
      const problem = value ? webhookUrlProblem(value) : undefined;
      if (!value) problems.push(`${at}: url: $${def.url.env} is not set; set it where karma serve runs`);
      else if (problem) problems.push(`${at}: url: $${def.url.env} ${problem}`);
      else {
        url = value;
        target = `${new URL(value).origin}/… ($${def.url.env})`;
        secrets.push(value, new URL(value).pathname, new URL(value).search.slice(1));
      }
    }
    let secret: string | undefined;
    if (def.secret) {
      secret = env[def.secret.env];
      if (!secret) problems.push(`${at}: secret: $${def.secret.env} is not set (or empty); set it where karma serve runs, or remove secret: to send unsigned`);
      else secrets.push(secret);
    }
    if (url === undefined) continue;
    hooks.push({
      def,
      url,
      target,
      secret,
      events: def.events ? new Set(def.events) : undefined,
      pending: [],
      inFlight: false,
      draining: undefined,
      delivered: 0,
      failed: 0,
      dropped: 0,
      retries: 0,
    });
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return { hooks, secrets };
}

/**
 * Starts sending the bus's events to the webhooks and the SNS topic of `config`. Throws a UsageError (one line
 * per problem) when a webhook's secret or URL variable is missing; with no webhook and no topic it listens to
 * nothing and stop() returns at once.
 */
export function startNotifications(options: NotificationOptions): Notifications {
  const notifications = options.config.project.notifications;
  const { hooks, secrets } = resolveHooks(notifications?.webhooks ?? [], options.env);
  const sns = options.sns ?? openSnsTarget(notifications, options.env);
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const queueLimit = options.queueLimit ?? QUEUE_LIMIT;
  const stopTimeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  const fetchFn = options.fetch ?? globalThis.fetch;
  const random = options.random ?? Math.random;
  const { log, deliveries } = options;
  const redact = redactor(secrets);
  /** Aborted by stop(): no more retries (their waits end now). */
  const closing = new AbortController();
  /** Aborted when stop()'s bound is reached: requests in flight are cancelled, nothing more is sent. */
  const halt = new AbortController();
  /** SNS publishes and records of dropped events: stop() waits for them too. */
  const background = new Set<Promise<void>>();
  const track = (work: Promise<void>): void => {
    const tracked = work.finally(() => background.delete(tracked));
    background.add(tracked);
  };
  const snsCounts = { published: 0, failed: 0 };

  const record = async (hook: Hook, job: Job, failure: { attempts: number; lastStatus: number | null; lastError: string; firstAttemptAt: string }): Promise<void> => {
    hook.failed++;
    const fields = { webhook: hook.def.name, target: hook.target, event: job.event.type, eventId: job.event.id, delivery: job.delivery, attempts: failure.attempts, lastStatus: failure.lastStatus, lastError: failure.lastError };
    log.error('webhook delivery failed', fields);
    try {
      await deliveries.recordFailed({
        webhook: hook.def.name,
        event: job.event.type,
        target: hook.target,
        attempts: failure.attempts,
        lastStatus: failure.lastStatus,
        lastError: failure.lastError,
        firstAttemptAt: failure.firstAttemptAt,
        failedAt: new Date().toISOString(),
        payload: job.body,
      });
    } catch (error) {
      log.error('could not record a failed webhook delivery', { ...fields, recordError: redact(errorText(error)) });
    }
  };

  const attempt = async (hook: Hook, job: Job): Promise<Outcome> => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      [EVENT_HEADER]: job.event.type,
      [DELIVERY_HEADER]: job.delivery,
    };
    if (hook.secret) headers[SIGNATURE_HEADER] = sign(hook.secret, job.body);
    try {
      const response = await fetchFn(hook.url, {
        method: 'POST',
        headers,
        body: job.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), halt.signal]),
      });
      await response.body?.cancel().catch(() => undefined);
      const status = response.status;
      if (status >= 200 && status < 300) return { ok: true, status, error: '', retry: false };
      const error = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}`;
      if (status === 429) {
        const after = retryAfterMs(response.headers.get('retry-after'));
        return { ok: false, status, error, retry: true, ...(after === undefined ? {} : { retryAfterMs: after }) };
      }
      if (status >= 500) return { ok: false, status, error, retry: true };
      if (status >= 300 && status < 400) return { ok: false, status, error: `${error}: a redirect, not followed; point url at the final address`, retry: false };
      return { ok: false, status, error, retry: false };
    } catch (error) {
      if (halt.signal.aborted) return { ok: false, status: null, error: 'cancelled: the service stopped', retry: false };
      return { ok: false, status: null, error: redact(errorText(error)), retry: true };
    }
  };

  const deliver = async (hook: Hook, job: Job): Promise<void> => {
    const firstAttemptAt = new Date().toISOString();
    let lastStatus: number | null = null;
    let lastError = '';
    let made = 0;
    for (;;) {
      if (halt.signal.aborted) {
        lastError = made === 0 ? 'not sent: the service stopped first' : `${lastError}; then the service stopped`;
        break;
      }
      made++;
      if (made > 1) hook.retries++;
      const outcome = await attempt(hook, job);
      if (outcome.ok) {
        hook.delivered++;
        log.info('webhook delivered', { webhook: hook.def.name, target: hook.target, event: job.event.type, eventId: job.event.id, delivery: job.delivery, attempts: made, status: outcome.status });
        return;
      }
      lastStatus = outcome.status;
      lastError = outcome.error;
      if (!outcome.retry || made >= policy.attempts) break;
      if (closing.signal.aborted) {
        lastError = `${lastError}; not retried: the service stopped`;
        break;
      }
      const wait = outcome.retryAfterMs ?? retryDelay(policy, made, random);
      log.warn('webhook delivery failed, will retry', { webhook: hook.def.name, target: hook.target, event: job.event.type, delivery: job.delivery, attempt: made, status: lastStatus, error: lastError, retryInMs: wait });
      await pause(wait, closing.signal);
      if (closing.signal.aborted) {
        lastError = `${lastError}; not retried: the service stopped`;
        break;
      }
    }
    await record(hook, job, { attempts: made, lastStatus, lastError, firstAttemptAt });
  };

  const drain = async (hook: Hook): Promise<void> => {
    for (let job = hook.pending.shift(); job; job = hook.pending.shift()) {
      hook.inFlight = true;
      try {
        await deliver(hook, job);
      } catch (error) {
        // deliver() catches what it expects; anything else must not stop the queue.
        log.error('webhook delivery crashed', { webhook: hook.def.name, event: job.event.type, error: redact(errorText(error)) });
      } finally {
        hook.inFlight = false;
      }
    }
    hook.draining = undefined;
  };

  const enqueue = (hook: Hook, event: ServiceEvent, bodies: Map<string, string>): void => {
    let body = bodies.get(hook.def.format);
    if (body === undefined) bodies.set(hook.def.format, (body = webhookPayload(hook.def.format, event)));
    hook.pending.push({ event, body, delivery: randomUUID() });
    while (hook.pending.length > queueLimit) {
      const dropped = hook.pending.shift()!;
      hook.dropped++;
      const at = new Date().toISOString();
      track(record(hook, dropped, { attempts: 0, lastStatus: null, lastError: `queue full: more than ${queueLimit} events waiting for this webhook; the oldest was dropped`, firstAttemptAt: at }));
    }
    hook.draining ??= drain(hook);
  };

  const publishSns = (target: SnsTarget, event: ServiceEvent): void => {
    track(
      target.publish(asciiLine(describeEvent(event)), JSON.stringify(event, null, 2)).then(
        () => {
          snsCounts.published++;
        },
        (error: unknown) => {
          snsCounts.failed++;
          log.error('SNS publish failed', { topicArn: target.topicArn, event: event.type, eventId: event.id, error: redact(errorText(error)) });
        },
      ),
    );
  };

  const listener = (event: ServiceEvent): void => {
    try {
      const bodies = new Map<string, string>();
      for (const hook of hooks) if (!hook.events || hook.events.has(event.type)) enqueue(hook, event, bodies);
      if (sns && (!sns.events || sns.events.includes(event.type))) publishSns(sns, event);
    } catch (error) {
      log.error('could not queue an event for notification', { event: event.type, eventId: event.id, error: redact(errorText(error)) });
    }
  };
  const unsubscribe = hooks.length > 0 || sns ? options.bus.subscribe(listener) : () => undefined;
  if (hooks.length > 0 || sns) {
    log.info('notifications started', { webhooks: hooks.map((h) => ({ name: h.def.name, target: h.target, format: h.def.format, signed: h.secret !== undefined })), sns: sns?.topicArn ?? null });
  }

  let stopped: Promise<void> | undefined;
  const idle = (): Promise<unknown> => Promise.all([...hooks.map((h) => h.draining), ...background]);
  return {
    stop() {
      stopped ??= (async () => {
        unsubscribe();
        closing.abort();
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, stopTimeoutMs)));
        await Promise.race([idle(), bound]);
        clearTimeout(timer);
        halt.abort();
        await idle();
      })();
      return stopped;
    },
    stats() {
      return {
        webhooks: hooks.map((h) => ({
          name: h.def.name,
          target: h.target,
          format: h.def.format,
          signed: h.secret !== undefined,
          pending: h.pending.length,
          inFlight: h.inFlight,
          delivered: h.delivered,
          failed: h.failed,
          dropped: h.dropped,
          retries: h.retries,
        })),
        sns: sns ? { topicArn: sns.topicArn, ...snsCounts } : null,
      };
    },
  };
}
