/**
 * The parts of the Neptune adapter that need no server: SigV4 handshake headers, error classification,
 * backend settings.
 */
import { describe, expect, it } from 'vitest';
import { signedHandshakeHeaders } from '../../../lib/adapters/neptune/iam-auth.ts';
import { isConcurrentModification, isConnectionError, isReadOnlyViolation } from '../../../lib/adapters/neptune/graph-store.ts';
import { awsBackendSettings } from '../../../lib/app/aws-backend.ts';
import { UsageError } from '../../../lib/core/errors.ts';
import type { Config } from '../../../lib/core/model.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };

describe('SigV4-signed WebSocket handshake', () => {
  it('signs GET /gremlin for neptune-db with host (port included), date and session token', async () => {
    // Act
    const headers = await signedHandshakeHeaders('wss://db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182/gremlin', {
      region: 'eu-west-1',
      credentials,
      signingDate: new Date('2026-11-28T10:00:00Z'),
    });
    // Assess
    expect(headers['host']).toBe('db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182');
    expect(headers['x-amz-date']).toBe('20261128T100000Z');
    expect(headers['x-amz-security-token']).toBe('session-token');
    expect(headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261128\/eu-west-1\/neptune-db\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
  });

  it('is deterministic for the same inputs and changes with the credentials (fresh ones on reconnect)', async () => {
    const at = { region: 'us-east-1', signingDate: new Date('2026-01-01T00:00:00Z') };
    const a = await signedHandshakeHeaders('ws://127.0.0.1:8182/gremlin', { ...at, credentials });
    const b = await signedHandshakeHeaders('ws://127.0.0.1:8182/gremlin', { ...at, credentials: async () => credentials });
    const c = await signedHandshakeHeaders('ws://127.0.0.1:8182/gremlin', { ...at, credentials: { ...credentials, secretAccessKey: 'rotated' } });
    expect(a['authorization']).toBe(b['authorization']);
    expect(c['authorization']).not.toBe(a['authorization']);
    expect(a['host']).toBe('127.0.0.1:8182');
  });
});

describe('Neptune error classification', () => {
  const serverError = (message: string, exceptions: string[] = []) =>
    Object.assign(new Error(`Server error: ${message} (500)`), { statusCode: 500, statusMessage: message, statusAttributes: new Map([['exceptions', exceptions]]) });

  it('retries Neptune ConcurrentModificationException and TinkerGraph transaction conflicts', () => {
    expect(isConcurrentModification(serverError('{"code":"ConcurrentModificationException","detailedMessage":"Failed to complete operation due to conflicting concurrent operations."}'))).toBe(true);
    expect(isConcurrentModification(serverError('Conflict: element modified in another transaction', ['org.apache.tinkerpop.gremlin.structure.util.TransactionException']))).toBe(true);
    expect(isConcurrentModification(serverError('Vertex does not exist'))).toBe(false);
  });

  it('reconnects on ReadOnlyViolationException and lost connections, not on server-side failures', () => {
    expect(isReadOnlyViolation(serverError('{"code":"ReadOnlyViolationException","detailedMessage":"The request is rejected because it violates some read-only constraint"}'))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8182'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isConnectionError(new Error('Connection has been closed.'))).toBe(true);
    expect(isConnectionError(serverError('Connection has been closed.'))).toBe(false);
  });
});

describe('aws backend settings', () => {
  const config = (backend: Config['project']['backend']): Config => ({ project: { backend } }) as unknown as Config;

  it('says what to set when no Neptune endpoint is configured', () => {
    expect(() => awsBackendSettings(config({ type: 'aws' }), { baseDir: '/repo' }, {})).toThrow(UsageError);
    expect(() => awsBackendSettings(undefined, { baseDir: '/repo' }, {})).toThrow(/KARMA_NEPTUNE_ENDPOINT/);
  });

  it('builds wss://HOST:8182/gremlin from a cluster host, env overrides karma.yaml', () => {
    const c = config({ type: 'aws', region: 'eu-west-1', endpoint: 'http://localhost:5000', neptune: { endpoint: 'db.cluster-x.neptune.amazonaws.com', iamAuth: true } });
    expect(awsBackendSettings(c, { baseDir: '/repo' }, {})).toEqual({
      region: 'eu-west-1',
      ssmEndpoint: 'http://localhost:5000',
      neptuneUrl: 'wss://db.cluster-x.neptune.amazonaws.com:8182/gremlin',
      iamAuth: true,
      historyDir: '/repo/.karma/history',
    });
    const env = { KARMA_NEPTUNE_ENDPOINT: 'ws://127.0.0.1:9999/gremlin', KARMA_NEPTUNE_IAM_AUTH: 'false', AWS_ENDPOINT_URL: 'http://127.0.0.1:5555', AWS_REGION: 'us-east-1', KARMA_HISTORY_DIR: '/h' };
    expect(awsBackendSettings(c, { baseDir: '/repo' }, env)).toEqual({ region: 'us-east-1', ssmEndpoint: 'http://127.0.0.1:5555', neptuneUrl: 'ws://127.0.0.1:9999/gremlin', iamAuth: false, historyDir: '/h' });
    expect(awsBackendSettings(config({ type: 'aws', neptune: { endpoint: 'localhost', port: 8183, tls: false } }), { baseDir: '/r' }, {}).neptuneUrl).toBe('ws://localhost:8183/gremlin');
  });

  it('refuses a non-WebSocket endpoint and a bad IAM flag', () => {
    expect(() => awsBackendSettings(undefined, { baseDir: '/' }, { KARMA_NEPTUNE_ENDPOINT: 'http://x:8182' })).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => awsBackendSettings(undefined, { baseDir: '/' }, { KARMA_NEPTUNE_ENDPOINT: 'ws://x:8182/gremlin', KARMA_NEPTUNE_IAM_AUTH: 'yes' })).toThrow(/true or false/);
  });
});
