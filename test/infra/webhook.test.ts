/**
 * The GitHub webhook relay's checks. The secret comes through the injected getSecret and the bus through the
 * injected putEvent: in-process stand-ins for Secrets Manager and EventBridge (no AWS, no network).
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_RETENTION_DAYS, handleWebhook, REPLAY_WINDOW_DAYS, sign, verifySignature, type WebhookDeps, type WebhookRequest } from '../../lib/app/webhook.ts';

const SECRET = 'It5-a-Secret-shared-with-GitHub';
const PUSH = JSON.stringify({
  ref: 'refs/heads/main',
  before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
  after: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
  deleted: false,
  repository: { full_name: 'acme/infra-config' },
  pusher: { name: 'octocat' },
});

const NOW = Date.parse('2026-12-02T06:00:00Z');

function deps(options: { failPut?: boolean } = {}): WebhookDeps & { sent: { source: string; detailType: string; detail: string }[]; claims: Map<string, string | undefined> } {
  const sent: { source: string; detailType: string; detail: string }[] = [];
  const claims = new Map<string, string | undefined>(); // in-process stand-in for the S3 conditional put
  return {
    sent,
    claims,
    repository: 'acme/infra-config',
    now: () => NOW,
    getSecret: async () => SECRET, // in-process mock of the Secrets Manager read
    putEvent: async (entry) => {
      if (options.failPut) throw new Error('PutEvents refused the event: InternalFailure');
      sent.push(entry);
    },
    claimDelivery: async (key, delivery) => {
      if (claims.has(key)) return false;
      claims.set(key, delivery);
      return true;
    },
    releaseDelivery: async (key) => {
      claims.delete(key);
    },
  };
}

function request(body: string, headers: Record<string, string | undefined>): WebhookRequest {
  return { body, isBase64Encoded: false, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'd-1', ...headers } };
}

describe('GitHub webhook (secret via injected mock getSecret, bus via injected putEvent)', () => {
  it('accepts a valid signature and relays one compact push event', async () => {
    // Prepare
    const d = deps();
    // Act
    const res = await handleWebhook(request(PUSH, { 'x-hub-signature-256': sign(SECRET, PUSH) }), d);
    // Assess
    expect(res.statusCode).toBe(202);
    expect(d.sent).toHaveLength(1);
    expect(d.sent[0]).toMatchObject({ source: 'karma.github', detailType: 'GitHub Push' });
    expect(JSON.parse(d.sent[0]!.detail)).toEqual({
      repository: 'acme/infra-config',
      ref: 'refs/heads/main',
      commit: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
      before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      deleted: false,
      pusher: 'octocat',
      delivery: 'd-1',
    });
  });

  it('accepts a base64-encoded body (function URL) signed over the raw bytes', async () => {
    const d = deps();
    const res = await handleWebhook({ ...request(Buffer.from(PUSH).toString('base64'), { 'x-hub-signature-256': sign(SECRET, PUSH) }), isBase64Encoded: true }, d);
    expect(res.statusCode).toBe(202);
    expect(d.sent).toHaveLength(1);
  });

  it('missing signature: 401, nothing relayed', async () => {
    const d = deps();
    const res = await handleWebhook(request(PUSH, {}), d);
    expect(res.statusCode).toBe(401);
    expect(d.sent).toHaveLength(0);
  });

  it.each([
    ['signed with another secret', sign('not-the-secret', PUSH)],
    ['sha1 style header', `sha1=${'0'.repeat(40)}`],
    ['truncated digest', sign(SECRET, PUSH).slice(0, 30)],
    ['not hex', 'sha256=zz'],
    ['empty', ''],
  ])('wrong signature (%s): 401', async (_name, signature) => {
    const d = deps();
    const res = await handleWebhook(request(PUSH, { 'x-hub-signature-256': signature }), d);
    expect(res.statusCode).toBe(401);
    expect(d.sent).toHaveLength(0);
  });

  it('a body replayed with the signature of another delivery: 401', async () => {
    const d = deps();
    const other = PUSH.replace('0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c', 'ffffffe67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c');
    const res = await handleWebhook(request(other, { 'x-hub-signature-256': sign(SECRET, PUSH) }), d);
    expect(res.statusCode).toBe(401);
    expect(d.sent).toHaveLength(0);
  });

  it('ping answers 200; other events and other repositories are ignored (202), not relayed', async () => {
    const d = deps();
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.' });
    expect((await handleWebhook(request(ping, { 'x-github-event': 'ping', 'x-hub-signature-256': sign(SECRET, ping) }), d)).statusCode).toBe(200);
    expect((await handleWebhook(request(PUSH, { 'x-github-event': 'issues', 'x-hub-signature-256': sign(SECRET, PUSH) }), d)).statusCode).toBe(202);
    const elsewhere = PUSH.replace('acme/infra-config', 'acme/other');
    const res = await handleWebhook(request(elsewhere, { 'x-hub-signature-256': sign(SECRET, elsewhere) }), d);
    expect(res.statusCode).toBe(202);
    expect(res.body).toContain('is not acme/infra-config');
    expect(d.sent).toHaveLength(0);
  });

  it('a deleted branch is relayed with deleted: true (the bus rule drops it)', async () => {
    const d = deps();
    const gone = JSON.stringify({ ...JSON.parse(PUSH), after: '0'.repeat(40), deleted: true });
    await handleWebhook(request(gone, { 'x-hub-signature-256': sign(SECRET, gone) }), d);
    expect(JSON.parse(d.sent[0]!.detail).deleted).toBe(true);
  });

  it('a replayed delivery is refused (409), under its own or any other X-GitHub-Delivery: relayed once', async () => {
    // Prepare
    const d = deps();
    const signed = { 'x-hub-signature-256': sign(SECRET, PUSH) };
    // Act
    const first = await handleWebhook(request(PUSH, signed), d);
    const again = await handleWebhook(request(PUSH, signed), d);
    const renamed = await handleWebhook(request(PUSH, { ...signed, 'x-github-delivery': 'd-2' }), d);
    // Assess
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(409);
    expect(JSON.parse(again.body).error).toMatch(/^delivery d-1 was already relayed \(body sha256 [0-9a-f]{64}\): a replay, not relayed again$/);
    expect(renamed.statusCode).toBe(409);
    expect(d.sent).toHaveLength(1);
    expect([...d.claims.values()]).toEqual(['d-1']);
  });

  it('a relay that fails releases its claim, so GitHub\'s redelivery of the same delivery is relayed', async () => {
    const failing = deps({ failPut: true });
    const signed = { 'x-hub-signature-256': sign(SECRET, PUSH) };
    await expect(handleWebhook(request(PUSH, signed), failing)).rejects.toThrow('PutEvents refused the event');
    expect(failing.claims.size).toBe(0);
    // the redelivery, against the same claim store, once EventBridge accepts
    const d = { ...deps(), claims: failing.claims };
    const res = await handleWebhook(request(PUSH, signed), { ...d, claimDelivery: failing.claimDelivery, releaseDelivery: failing.releaseDelivery });
    expect(res.statusCode).toBe(202);
    expect(d.sent).toHaveLength(1);
  });

  it('a push older than the replay window (repository.pushed_at) is refused even when its claim has expired', async () => {
    const d = deps();
    const old = JSON.stringify({ ...JSON.parse(PUSH), repository: { full_name: 'acme/infra-config', pushed_at: (NOW - (REPLAY_WINDOW_DAYS * 86_400_000 + 1000)) / 1000 } });
    const recent = JSON.stringify({ ...JSON.parse(PUSH), repository: { full_name: 'acme/infra-config', pushed_at: (NOW - 3600_000) / 1000 } });
    const refused = await handleWebhook(request(old, { 'x-hub-signature-256': sign(SECRET, old) }), d);
    expect(refused.statusCode).toBe(409);
    expect(JSON.parse(refused.body).error).toBe(`push made at ${new Date(NOW - (REPLAY_WINDOW_DAYS * 86_400_000 + 1000)).toISOString()} is older than 7 days: a replay, not relayed (push again to trigger a run)`);
    expect((await handleWebhook(request(recent, { 'x-hub-signature-256': sign(SECRET, recent) }), d)).statusCode).toBe(202);
    expect(d.sent).toHaveLength(1);
    expect(DELIVERY_RETENTION_DAYS).toBeGreaterThan(REPLAY_WINDOW_DAYS);
  });

  it('verifySignature compares in constant time and rejects an empty secret', () => {
    const body = Buffer.from(PUSH);
    expect(verifySignature(SECRET, body, sign(SECRET, body))).toBe(true);
    expect(verifySignature('', body, sign('', body))).toBe(false);
  });
});
