/**
 * A Lambda function may return 6 MB. The API's functions gzip large answers for clients that accept it, and
 * answer a problem (not API Gateway's bare 500) when even that is too large. The workspace here is a stand-in
 * whose stored graph is as large as the test needs; the handler and the route table are the real ones.
 */
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { apiHandler } from '../../../lib/api/lambda.ts';
import type { Workspace } from '../../../lib/app/workspace.ts';
import type { GraphSnapshot } from '../../../lib/core/snapshot.ts';

function graphOf(filler: string): GraphSnapshot {
  return {
    meta: { project: 'big', builtAt: '2026-12-02T00:00:00.000Z', source: 'test', configFingerprint: 'f' },
    vertices: [{ id: 'env:dev', label: 'Environment', props: { name: 'dev', filler }, hash: 'h' }],
    edges: [],
  };
}

function workspaceWith(snapshot: GraphSnapshot): Workspace {
  const unused = async (): Promise<never> => {
    throw new Error('not used by this test');
  };
  return {
    description: 'stand-in',
    current: unused,
    storedGraph: async () => ({ snapshot, buildId: '7' }),
    requestChange: unused,
    listChanges: unused,
    getChange: unused,
    applyChange: unused,
    execution: unused,
    audit: unused,
    close: async () => undefined,
  };
}

function event(headers: Record<string, string> = {}): unknown {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/graph',
    rawQueryString: '',
    headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      http: { method: 'GET', path: '/graph', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
      authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/ana' } },
    },
    body: null,
    isBase64Encoded: false,
  };
}

const quiet = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
type Out = { statusCode: number; headers?: Record<string, string>; body: string; isBase64Encoded: boolean };
const call = async (snapshot: GraphSnapshot, headers?: Record<string, string>): Promise<Out> =>
  (await apiHandler('read', async () => workspaceWith(snapshot), { env: { KARMA_API_AUTH: 'iam' }, logger: quiet })(event(headers) as never, {} as never)) as unknown as Out;

describe('the size of an API Lambda answer', () => {
  it('gzips a large graph for a client that accepts it, within the 6 MB a function may return', async () => {
    const big = graphOf('component '.repeat(800_000)); // 8 MB of JSON that compresses well
    const plain = await call(big);
    expect(plain.statusCode).toBe(503);
    expect(plain.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(plain.body).detail).toMatch(/MiB, more than a Lambda function may return \(6 MB\): ask with Accept-Encoding: gzip/);
    const zipped = await call(big, { 'accept-encoding': 'gzip' });
    expect(zipped.statusCode).toBe(200);
    expect(zipped.isBase64Encoded).toBe(true);
    expect(zipped.headers?.['content-encoding']).toBe('gzip');
    expect(Buffer.byteLength(zipped.body)).toBeLessThan(6_000_000);
    expect(JSON.parse(gunzipSync(Buffer.from(zipped.body, 'base64')).toString('utf8'))).toEqual(big);
  });

  it('answers a problem when even gzipped it is too large; small answers stay plain', async () => {
    const noise = await call(graphOf(randomBytes(5_000_000).toString('hex')), { 'accept-encoding': 'gzip' });
    expect(noise.statusCode).toBe(503);
    const small = await call(graphOf('x'), { 'accept-encoding': 'gzip' });
    expect(small.statusCode).toBe(200);
    expect(small.isBase64Encoded).toBe(false);
    expect(JSON.parse(small.body).meta.project).toBe('big');
  });
});
