/**
 * The GitHub webhook relay (lambdas/webhook.ts, a Lambda function URL with auth NONE: GitHub signs instead).
 *
 *   1. X-Hub-Signature-256 must be `sha256=` + HMAC-SHA256(secret, raw body), compared in constant time
 *      (crypto.timingSafeEqual); missing or wrong → 401, and nothing else is looked at.
 *   2. `ping` → 200; any event but `push` → 202 ignored; a push to another repository → 202 ignored.
 *   3. A push becomes ONE small event on the Karma bus (source karma.github, detail-type "GitHub Push",
 *      detail {repository, ref, commit, before, deleted, pusher, delivery}); a rule there matches the tracked
 *      branch and starts the state machine. The raw payload is not forwarded (it can be megabytes).
 *   4. Replays are refused (409) before relaying: a push is relayed at most once. The key is the SHA-256 of the
 *      signed body, not the X-GitHub-Delivery header, which the signature does not cover (a replayed body under a
 *      new delivery id is the same push); deps.claimDelivery stores it (in AWS: an S3 object created with
 *      If-None-Match, expiring after {@link DELIVERY_RETENTION_DAYS} days), and a push GitHub made more than
 *      {@link REPLAY_WINDOW_DAYS} days ago (repository.pushed_at) is refused outright, so a replay after the key
 *      expired is refused too. A relay that fails releases its claim: GitHub's "Redeliver" can try again.
 *
 * The secret and the bus are reached through injected functions, so the logic is tested without AWS.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DELIVERY_RETENTION_DAYS, GITHUB_PUSH, GITHUB_SOURCE, REPLAY_WINDOW_DAYS } from '../core/pipeline-contract.ts';

export interface WebhookRequest {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface RelayedPush {
  readonly repository: string;
  readonly ref: string;
  readonly commit: string;
  readonly before: string;
  readonly deleted: boolean;
  readonly pusher?: string;
  readonly delivery?: string;
}

export { DELIVERY_RETENTION_DAYS, REPLAY_WINDOW_DAYS };

export interface WebhookDeps {
  /** The shared webhook secret (Secrets Manager in Lambda). */
  getSecret(): Promise<string>;
  /** Puts one event onto the Karma bus; throws when EventBridge refuses it. */
  putEvent(entry: { source: string; detailType: string; detail: string }): Promise<void>;
  /** owner/repo of the config repo: pushes elsewhere are ignored. */
  readonly repository: string;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Records a delivery (by body digest) as relayed; false when it already was (a replay). */
  claimDelivery(key: string, delivery: string | undefined): Promise<boolean>;
  /** Forgets a claim whose relay failed, so GitHub's redelivery is accepted. */
  releaseDelivery(key: string): Promise<void>;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

const SIGNATURE_PREFIX = 'sha256=';

/** True when `header` is `sha256=<hex>` of HMAC-SHA256(secret, body). Constant time in the signature's content. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!secret || !header || !header.startsWith(SIGNATURE_PREFIX)) return false;
  const given = Buffer.from(header.slice(SIGNATURE_PREFIX.length), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  // Buffer.from(hex) drops invalid digits; a wrong length cannot be equal and reveals nothing about the secret.
  if (given.length !== expected.length) return false;
  return timingSafeEqual(given, expected);
}

export function sign(secret: string, body: string | Buffer): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}

function respond(statusCode: number, body: Record<string, unknown>): WebhookResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function header(req: WebhookRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(req.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

function payloadOf(req: WebhookRequest, raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if ((header(req, 'content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
    return JSON.parse(new URLSearchParams(text).get('payload') ?? '');
  }
  return JSON.parse(text);
}

export async function handleWebhook(req: WebhookRequest, deps: WebhookDeps): Promise<WebhookResponse> {
  const raw = Buffer.from(req.body ?? '', req.isBase64Encoded ? 'base64' : 'utf8');
  const signature = header(req, 'x-hub-signature-256');
  if (!signature) return respond(401, { error: 'missing X-Hub-Signature-256' });
  const secret = await deps.getSecret();
  if (!verifySignature(secret, raw, signature)) return respond(401, { error: 'signature does not match' });

  const event = header(req, 'x-github-event');
  const delivery = header(req, 'x-github-delivery');
  if (event === 'ping') return respond(200, { ok: true, pong: true });
  if (event !== 'push') return respond(202, { ignored: `event ${event ?? '(none)'}` });

  let payload: {
    ref?: unknown;
    after?: unknown;
    before?: unknown;
    deleted?: unknown;
    repository?: { full_name?: unknown; pushed_at?: unknown };
    pusher?: { name?: unknown };
  };
  try {
    payload = payloadOf(req, raw) as typeof payload;
  } catch {
    return respond(400, { error: 'body is not JSON' });
  }
  const repository = payload.repository?.full_name;
  if (typeof repository !== 'string' || typeof payload.ref !== 'string' || typeof payload.after !== 'string') {
    return respond(400, { error: 'not a push payload (repository.full_name, ref, after)' });
  }
  if (repository.toLowerCase() !== deps.repository.toLowerCase()) {
    return respond(202, { ignored: `repository ${repository} is not ${deps.repository}` });
  }
  const detail: RelayedPush = {
    repository: deps.repository,
    ref: payload.ref,
    commit: payload.after,
    before: typeof payload.before === 'string' ? payload.before : '',
    deleted: payload.deleted === true || /^0+$/.test(payload.after),
    ...(typeof payload.pusher?.name === 'string' ? { pusher: payload.pusher.name } : {}),
    ...(delivery ? { delivery } : {}),
  };
  const pushedAt = payload.repository?.pushed_at;
  const now = (deps.now ?? Date.now)();
  if (typeof pushedAt === 'number' && now - pushedAt * 1000 > REPLAY_WINDOW_DAYS * 86_400_000) {
    return respond(409, { error: `push made at ${new Date(pushedAt * 1000).toISOString()} is older than ${REPLAY_WINDOW_DAYS} days: a replay, not relayed (push again to trigger a run)` });
  }
  const key = createHash('sha256').update(raw).digest('hex');
  if (!(await deps.claimDelivery(key, delivery))) {
    deps.log?.('replayed delivery refused', { delivery, key });
    return respond(409, { error: `delivery ${delivery ?? '(no X-GitHub-Delivery)'} was already relayed (body sha256 ${key}): a replay, not relayed again` });
  }
  try {
    await deps.putEvent({ source: GITHUB_SOURCE, detailType: GITHUB_PUSH, detail: JSON.stringify(detail) });
  } catch (error) {
    await deps.releaseDelivery(key);
    throw error;
  }
  deps.log?.('relayed push', { ref: detail.ref, commit: detail.commit, delivery });
  return respond(202, { relayed: true, ref: detail.ref, commit: detail.commit });
}
