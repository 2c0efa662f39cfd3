import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { impliedRoles, iamAuth, jwtAuth, newToken, readTokensFile, rolesOfClaim, tokenAuth, type Authenticate } from '../../../lib/api/auth.ts';
import { UsageError } from '../../../lib/core/errors.ts';

const hash = (t: string): string => createHash('sha256').update(t).digest('hex');

/** Runs `authenticate` on a request with these headers and this Lambda event, the way the route table does. */
async function who(authenticate: Authenticate, headers: Record<string, string> = {}, event?: unknown): Promise<{ name: string; roles: string[] } | null> {
  const app = new Hono();
  app.get('/', (c) => {
    const p = authenticate(c);
    return c.json(p ? { name: p.name, roles: [...p.roles] } : null);
  });
  const r = await app.request('/', { headers }, event === undefined ? undefined : { event });
  return (await r.json()) as { name: string; roles: string[] } | null;
}

describe('roles', () => {
  it('apply includes propose includes read', () => {
    expect([...impliedRoles(['apply'])]).toEqual(['read', 'propose', 'apply']);
    expect([...impliedRoles(['propose'])]).toEqual(['read', 'propose']);
    expect([...impliedRoles(['read'])]).toEqual(['read']);
    expect([...impliedRoles([])]).toEqual([]);
  });

  it('reads a JWT claim as an array, a space- or comma-separated string, or API Gateway\'s flattened "[a b]"', () => {
    expect([...rolesOfClaim(['propose'])]).toEqual(['read', 'propose']);
    expect([...rolesOfClaim('read apply')]).toEqual(['read', 'propose', 'apply']);
    expect([...rolesOfClaim('[read propose]')]).toEqual(['read', 'propose']);
    expect([...rolesOfClaim('admin,owner')]).toEqual([]);
    expect([...rolesOfClaim(undefined)]).toEqual([]);
  });
});

describe('bearer tokens', () => {
  const reader = 'karma_reader-token';
  const auth = tokenAuth({ adminToken: 'karma_admin', file: { tokens: [{ name: 'bot', sha256: hash(reader), roles: ['read'] }] } });

  it('knows a token by its hash, and the admin token from the environment', async () => {
    expect(await who(auth, { authorization: `Bearer ${reader}` })).toEqual({ name: 'bot', roles: ['read'] });
    expect(await who(auth, { authorization: 'bearer karma_admin' })).toEqual({ name: 'admin (KARMA_API_TOKEN)', roles: ['read', 'propose', 'apply'] });
  });

  it('refuses a missing, malformed or unknown token', async () => {
    expect(await who(auth)).toBeNull();
    expect(await who(auth, { authorization: `Basic ${reader}` })).toBeNull();
    expect(await who(auth, { authorization: `Bearer ${reader}x` })).toBeNull();
    expect(await who(auth, { authorization: 'Bearer ' })).toBeNull();
    expect(await who(tokenAuth({}), { authorization: 'Bearer anything' })).toBeNull();
  });

  it('makes tokens of 32 random bytes whose file entry holds only the hash', () => {
    const a = newToken();
    const b = newToken();
    expect(a.token).toMatch(/^karma_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.sha256).toBe(hash(a.token));
  });

  it('reads a tokens file, refusing one that is not (one line, the file named)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-tokens-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'bot', sha256: hash('x'), roles: ['apply'] }] }));
    expect(readTokensFile(file).tokens[0]!.roles).toEqual(['apply']);
    const bad = (content: string): string => {
      writeFileSync(file, content);
      try {
        readTokensFile(file);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad('{')).toContain('not JSON');
    expect(bad(JSON.stringify({ tokens: [{ name: 'bot', sha256: 'plain-token', roles: ['read'] }] }))).toMatch(/sha256.*hex sha256/);
    expect(bad(JSON.stringify({ tokens: [{ name: 'bot', sha256: hash('x'), roles: ['root'] }] }))).toContain('roles');
    expect(bad(JSON.stringify({ tokens: [{ name: 'a', sha256: hash('x'), roles: ['read'] }, { name: 'a', sha256: hash('y'), roles: ['read'] }] }))).toContain('used twice');
    expect(() => readTokensFile(join(dir, 'missing.json'))).toThrow(/no such file; make one with karma token create/);
  });
});

describe('API Gateway callers', () => {
  it('IAM: the principal ARN the gateway verified, every role (the IAM policy chose the routes)', async () => {
    const event = { requestContext: { authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/ana' } } } };
    expect(await who(iamAuth(), {}, event)).toEqual({ name: 'arn:aws:iam::123456789012:user/ana', roles: ['read', 'propose', 'apply'] });
    expect(await who(iamAuth(), {}, { requestContext: {} })).toBeNull();
  });

  it('JWT: the subject, with the roles of the configured claim', async () => {
    const event = { requestContext: { authorizer: { jwt: { claims: { sub: 'user-1', 'karma:roles': '[propose]' } } } } };
    expect(await who(jwtAuth('karma:roles'), {}, event)).toEqual({ name: 'user-1', roles: ['read', 'propose'] });
    expect(await who(jwtAuth('other'), {}, event)).toEqual({ name: 'user-1', roles: [] });
    expect(await who(jwtAuth('karma:roles'), {}, { requestContext: { authorizer: { jwt: { claims: { 'karma:roles': 'read' } } } } })).toBeNull();
  });
});
