/**
 * An independent SigV4 check (AWS's "Create a signed AWS API request", written from the spec with node:crypto, not
 * with @smithy/signature-v4), for the tests of the CLI's API client: what API Gateway does with an IAM-authorized
 * request, as far as the signature goes.
 */
import { createHash, createHmac } from 'node:crypto';

/** RFC 3986 percent-encoding, as SigV4 wants it (`encodeURIComponent` leaves !'()* alone). */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string): Buffer => createHmac('sha256', key).update(s, 'utf8').digest();

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as sent: path and query, percent-encoded (node:http's `req.url`). */
  readonly target: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}

export interface Verdict {
  readonly ok: boolean;
  readonly reason: string;
  readonly accessKeyId?: string;
  readonly signedHeaders?: readonly string[];
}

/** Whether `request` carries a valid SigV4 signature by `secret` for `service` (any region the scope names). */
export function verifySigV4(request: ReceivedRequest, secret: string, service: string): Verdict {
  const auth = request.headers['authorization'];
  const m = auth && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, reason: 'no SigV4 Authorization header' };
  const [, accessKeyId, day, region, scopeService, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (scopeService !== service) return { ok: false, reason: `signed for ${scopeService}, not ${service}` };
  const amzDate = request.headers['x-amz-date'];
  if (!amzDate || !amzDate.startsWith(day)) return { ok: false, reason: 'x-amz-date missing or not the scope date' };
  const payloadHash = sha256(request.body);
  const claimed = request.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash) return { ok: false, reason: 'x-amz-content-sha256 is not the body' };
  const signed = signedList.split(';');
  if (!signed.includes('host')) return { ok: false, reason: 'host is not signed' };
  const [rawPath, rawQuery = ''] = request.target.split('?', 2) as [string, string?];
  // Each path segment encoded twice (every service but S3): the path as sent is encoded once.
  const canonicalUri = rawPath
    .split('/')
    .map((segment) => rfc3986(segment))
    .join('/');
  const canonicalQuery = rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const [k, v = ''] = pair.split('=', 2) as [string, string?];
      const decode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
      return [rfc3986(decode(k)), rfc3986(decode(v))] as const;
    })
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signed.map((h) => `${h}:${(request.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [request.method, canonicalUri, canonicalQuery, canonicalHeaders, signedList, payloadHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return expected === signature
    ? { ok: true, reason: 'valid', accessKeyId, signedHeaders: signed }
    : { ok: false, reason: 'signature mismatch', accessKeyId, signedHeaders: signed };
}
