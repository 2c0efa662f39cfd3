/**
 * The CLI's API client (lib/cli/api-client.ts) without a network: which URLs it accepts, how it chooses between a
 * bearer token and SigV4 and the region it signs for, and the SigV4 headers it adds, checked against an
 * independent implementation of the signing spec (test/support/sigv4.ts). And what `karma --api` refuses before
 * any request: commands without a route twin, options of a local run, `graph order` without --env.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiAuth, apiBase, regionOfHost, signedHeaders, type ApiAuth } from '../../../lib/cli/api-client.ts';
import { UsageError } from '../../../lib/core/errors.ts';
import { karma } from '../../support/cli.ts';
import { verifySigV4 } from '../../support/sigv4.ts';

const ENDPOINT = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const KEY = 'AKIDEXAMPLE0123456789';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const ENV_KEYS = ['KARMA_API_TOKEN', 'KARMA_API_URL', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;

let saved: Partial<Record<(typeof ENV_KEYS)[number], string>>;
beforeEach(() => {
  saved = {};
  for (const k of ENV_KEYS) {
    if (process.env[k] !== undefined) saved[k] = process.env[k];
    delete process.env[k];
  }
});
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe('apiBase: the URLs --api accepts', () => {
  it('takes https anywhere and plain http only to this machine', () => {
    expect(apiBase(`${ENDPOINT}/prod`).href).toBe(`${ENDPOINT}/prod`);
    expect(apiBase('http://127.0.0.1:7070').host).toBe('127.0.0.1:7070');
    expect(apiBase('http://localhost:7070/').hostname).toBe('localhost');
    expect(apiBase('http://[::1]:7070').hostname).toBe('[::1]');
  });

  it('refuses, in one line, plain http elsewhere, other schemes, credentials in the URL, a query, and what is not a URL', () => {
    expect(refusal(() => apiBase('http://karma.example.com'))).toMatch(/^--api: plain http:\/\/ is only for localhost or 127\.0\.0\.1 .*use https:\/\/karma\.example\.com$/);
    expect(refusal(() => apiBase('ftp://karma.example.com'))).toMatch(/^--api must be an https:\/\/ URL/);
    const withSecret = refusal(() => apiBase('https://user:s3cr3t-value@karma.example.com'));
    expect(withSecret).toMatch(/\$KARMA_API_TOKEN/);
    expect(withSecret).not.toContain('s3cr3t-value');
    expect(refusal(() => apiBase(`${ENDPOINT}?token=abc`))).not.toContain('abc');
    expect(refusal(() => apiBase('karma.example.com'))).toMatch(/^--api must be the API's URL/);
    for (const url of ['http://karma.example.com', 'ftp://x', 'nope']) expect(refusal(() => apiBase(url))).not.toContain('\n');
  });
});

describe('apiAuth: a token, else SigV4 for the region', () => {
  it('uses $KARMA_API_TOKEN as a bearer token when it is set', async () => {
    const auth = await apiAuth(apiBase(ENDPOINT), { env: { KARMA_API_TOKEN: 'tok' } });
    expect(auth).toEqual({ kind: 'bearer', token: 'tok' });
  });

  it('signs for --region, else $AWS_REGION, else $AWS_DEFAULT_REGION, else the execute-api host', async () => {
    const region = async (env: NodeJS.ProcessEnv, option?: string): Promise<string> => {
      const auth: ApiAuth = await apiAuth(apiBase(ENDPOINT), { env, ...(option ? { region: option } : {}) });
      return auth.kind === 'sigv4' ? auth.region : 'bearer';
    };
    expect(await region({ AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-west-2' }, 'ap-south-1')).toBe('ap-south-1');
    expect(await region({ AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-west-2' })).toBe('us-east-1');
    expect(await region({ AWS_DEFAULT_REGION: 'us-west-2' })).toBe('us-west-2');
    expect(await region({})).toBe('eu-west-1');
    expect(regionOfHost('abc.execute-api.cn-north-1.amazonaws.com.cn')).toBe('cn-north-1');
    expect(regionOfHost('karma.example.com')).toBeUndefined();
  });

  it('refuses when there is no region to sign for, and plain http without a token', async () => {
    await expect(apiAuth(apiBase('https://karma.example.com'), { env: {} })).rejects.toThrow(/no AWS region to sign the request for; pass --region, set \$AWS_REGION/);
    await expect(apiAuth(apiBase('http://127.0.0.1:7070'), { env: { AWS_REGION: 'eu-west-1' } })).rejects.toThrow(/set \$KARMA_API_TOKEN to a token of that karma serve/);
  });
});

describe('signedHeaders: SigV4 for execute-api with the credentials of the default chain', () => {
  const date = new Date('2026-12-02T15:04:05Z');

  async function signed(method: string, url: string, body?: string, at = date): Promise<Record<string, string>> {
    process.env['AWS_ACCESS_KEY_ID'] = KEY;
    process.env['AWS_SECRET_ACCESS_KEY'] = SECRET;
    const auth = await apiAuth(apiBase(ENDPOINT), { env: {} });
    if (auth.kind !== 'sigv4') throw new Error('expected SigV4');
    const headers = { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    return signedHeaders({ method, url: new URL(url), headers, ...(body !== undefined ? { body } : {}) }, { region: auth.region, credentials: auth.credentials, signingDate: at });
  }
  const verify = (method: string, url: string, headers: Record<string, string>, body = '', secret = SECRET) => {
    const u = new URL(url);
    return verifySigV4({ method, target: `${u.pathname}${u.search}`, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), body }, secret, 'execute-api');
  };

  it('adds Authorization, X-Amz-Date and x-amz-content-sha256, and the signature verifies', async () => {
    // Arrange
    const body = JSON.stringify({ component: 'queue', env: 'karma-dev', input: { visibility_timeout: 90 } });
    const url = `${ENDPOINT}/request-change`;

    // Act
    const headers = await signed('POST', url, body);

    // Assess
    expect(headers['authorization']).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEY}/20261202/eu-west-1/execute-api/aws4_request, SignedHeaders=\\S+, Signature=[0-9a-f]{64}$`));
    expect(headers['x-amz-date']).toBe('20261202T150405Z');
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(headers['host']).toBe('abc123.execute-api.eu-west-1.amazonaws.com');
    const verdict = verify('POST', url, headers, body);
    expect(verdict).toMatchObject({ ok: true, accessKeyId: KEY });
    expect(verdict.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-content-sha256', 'content-type']));
  });

  it('is deterministic for one date, and the signature fails for another secret, body or date', async () => {
    // Arrange
    const url = `${ENDPOINT}/plan?env=karma-dev&mode=all`;

    // Act
    const once = await signed('GET', url);
    const again = await signed('GET', url);
    const later = await signed('GET', url, undefined, new Date('2026-12-02T15:04:06Z'));

    // Assess
    expect(again).toEqual(once);
    expect(later['authorization']).not.toBe(once['authorization']);
    expect(verify('GET', url, once).ok).toBe(true);
    expect(verify('GET', url, once, '', 'another-secret')).toMatchObject({ ok: false, reason: 'signature mismatch' });
    expect(verify('GET', `${ENDPOINT}/plan?env=karma-prod&mode=all`, once).ok).toBe(false);
    expect(verify('GET', url, { ...once, 'x-amz-date': '20261202T150406Z' }).ok).toBe(false);
    expect(verify('POST', url, once, '{}').ok).toBe(false);
  });

  it('signs a path with an encoded execution ARN and a stage prefix, and session credentials carry their token', async () => {
    // Arrange
    process.env['AWS_SESSION_TOKEN'] = 'session-token-value';
    const url = `${ENDPOINT}/prod/executions/${encodeURIComponent('arn:aws:states:eu-west-1:123456789012:execution:Karma:run 1')}`;

    // Act
    const headers = await signed('GET', url);

    // Assess
    expect(headers['x-amz-security-token']).toBe('session-token-value');
    expect(verify('GET', url, headers).ok).toBe(true);
  });
});

describe('karma --api: what is refused before any request', () => {
  it('a command without a route twin: one line, exit 2', async () => {
    for (const argv of [
      ['graph', 'build'],
      ['runtime', 'list'],
      ['component', 'apply', 'network', 'karma-dev'],
      ['lock', 'list'],
    ]) {
      const run = await karma('--api', ENDPOINT, ...argv);
      expect(run).toEqual({ code: 2, stdout: [], stderr: [`karma: karma ${argv.slice(0, 2).join(' ')} has no API route; run it where the config is (without --api)`] });
    }
  });

  it('$KARMA_API_URL is --api for every command but those that never read a config', async () => {
    process.env['KARMA_API_URL'] = ENDPOINT;
    expect((await karma('graph', 'history')).stderr).toEqual(['karma: karma graph history has no API route; run it where the config is (without --api and $KARMA_API_URL)']);
    const completion = await karma('completion', 'bash');
    expect(completion.code).toBe(0);
    expect(completion.stdout.join('\n')).toContain('complete');
  });

  it("an option of a local run, a plain http URL elsewhere, and graph order without --env: one line each, exit 2, the token nowhere", async () => {
    process.env['KARMA_API_TOKEN'] = 'karma_unit-token-0123456789';
    const runs = [
      await karma('--api', ENDPOINT, 'graph', 'show', '--config', '.'),
      await karma('graph', 'show', '--api', 'http://karma.example.com'),
      await karma('--api', ENDPOINT, 'graph', 'order'),
      await karma('--api', ENDPOINT, 'apply', 'p-1', '--remote'),
    ];
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(runs.map((r) => r.stderr)).toEqual([
      ["karma: karma graph show --api: --config is for a run where the config is; the API's server uses its own config, stores and Terraform"],
      [expect.stringMatching(/^karma: --api: plain http:\/\/ is only for localhost/)],
      ['karma: karma graph order --api needs --env ENV: the API plans one environment a call (GET /plan?env=ENV)'],
      ["karma: karma apply --api: --remote is for a run where the config is; the API's server uses its own config, stores and Terraform"],
    ]);
    const json = await karma('--api', ENDPOINT, 'graph', 'order', '--json');
    expect(JSON.parse(json.stdout[0]!)).toEqual({ error: { name: 'UsageError', message: 'karma graph order --api needs --env ENV: the API plans one environment a call (GET /plan?env=ENV)', exitCode: 2 } });
    expect(JSON.stringify(runs)).not.toContain('karma_unit-token');
  });
});
