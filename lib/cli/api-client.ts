/**
 * The CLI's client for a Karma API (`karma --api URL …`, docs/cli.md "Calling a Karma API (--api)"): `karma serve`
 * or the serverless API behind API Gateway.
 *
 * - Auth: `$KARMA_API_TOKEN` → `Authorization: Bearer`; otherwise the request is signed with SigV4 (service
 *   `execute-api`) with the default AWS credential chain, for the region of `--region`, `$AWS_REGION`,
 *   `$AWS_DEFAULT_REGION`, or the `execute-api.<region>.amazonaws.com` host.
 * - The URL: https, or plain http to localhost / 127.0.0.1 / [::1] only (a token or a signature would cross the
 *   network in clear); no user name or password in it.
 * - Every request times out after 30 s. An error answer is one KarmaError: the problem's detail, exit 2 for a
 *   4xx (with a hint about the token or the IAM policy for 401 and 403), 1 for a 5xx or a network failure.
 *   No message ever carries the token or the signature.
 */
import { EXIT_INVALID, EXIT_OPERATIONAL, KarmaError, UsageError } from '../core/errors.ts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export const API_TIMEOUT_MS = 30_000;
export const API_SERVICE = 'execute-api';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const EXAMPLE_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com';

/** A refusal or failure from the API, or on the way to it. `status` is the HTTP status (0: no answer). */
export class ApiError extends KarmaError {
  override readonly name: string = 'ApiError';
  override readonly exitCode: number;
  readonly status: number;
  readonly fields: Readonly<Record<string, unknown>>;
  constructor(message: string, exitCode: number, status: number, fields: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.exitCode = exitCode;
    this.status = status;
    this.fields = fields;
  }
  override details(): Record<string, unknown> {
    return { status: this.status, ...this.fields };
  }
}

/** The API's base URL, checked: https (http only to this machine), no credentials, no query or fragment. */
export function apiBase(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--api must be the API's URL, like ${EXAMPLE_URL}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError(`--api must be an https:// URL (plain http:// only to localhost or 127.0.0.1), like ${EXAMPLE_URL}`);
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) {
    throw new UsageError(`--api: plain http:// is only for localhost or 127.0.0.1 (a token or a signature would cross the network in clear); use https://${u.host}${u.pathname === '/' ? '' : u.pathname}`);
  }
  if (u.username || u.password) throw new UsageError('--api: the URL carries a user name or password; give the token in $KARMA_API_TOKEN instead');
  if (u.search || u.hash) throw new UsageError("--api: give the API's base URL, without a query or fragment");
  return u;
}

/** The region of an `execute-api.<region>.amazonaws.com` host (the default API endpoint), if it is one. */
export function regionOfHost(hostname: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(hostname)?.[1];
}

export type ApiAuth =
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'sigv4'; readonly region: string; readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider };

/**
 * How requests to `base` are authenticated: the token when `$KARMA_API_TOKEN` is set, else SigV4. `region` is the
 * command's --region. Plain http (a local `karma serve`) takes a token only.
 */
export async function apiAuth(base: URL, options: { readonly region?: string; readonly env?: NodeJS.ProcessEnv } = {}): Promise<ApiAuth> {
  const env = options.env ?? process.env;
  const token = env['KARMA_API_TOKEN'];
  if (token) return { kind: 'bearer', token };
  if (base.protocol === 'http:') {
    throw new UsageError(`--api ${base.origin}: set $KARMA_API_TOKEN to a token of that karma serve (SigV4 signing is for the deployed API over https)`);
  }
  const region = options.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? regionOfHost(base.hostname);
  if (!region) {
    throw new UsageError(
      `--api ${base.origin}: no AWS region to sign the request for; pass --region, set $AWS_REGION, or use the execute-api URL (https://ID.execute-api.REGION.amazonaws.com); or set $KARMA_API_TOKEN for a karma serve`,
    );
  }
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  return { kind: 'sigv4', region, credentials: fromNodeProviderChain() };
}

/** One request, as SigV4 signs it. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * The request's headers with the SigV4 ones added (`authorization`, `x-amz-date`, `x-amz-content-sha256`, and
 * `x-amz-security-token` for session credentials) for the service `execute-api`. `host` is signed and returned.
 */
export async function signedHeaders(
  request: SignableRequest,
  options: { readonly region: string; readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider; readonly signingDate?: Date },
): Promise<Record<string, string>> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Hash } = await import('@smithy/hash-node');
  const { url } = request;
  const signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: API_SERVICE, sha256: Hash.bind(null, 'sha256') });
  const query: Record<string, string | string[]> = {};
  url.searchParams.forEach((v, k) => {
    const had = query[k];
    query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      // Already percent-encoded once (URL does that); SigV4 for execute-api encodes each segment a second time.
      path: url.pathname,
      query,
      headers: { ...request.headers, host: url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  return { ...(signed.headers as Record<string, string>) };
}

/** A successful answer: the body exactly as sent (what `--json` prints), and its JSON reading. */
export interface ApiAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** One line for a problem answer: its detail (or title, or API Gateway's message), and a hint for 401/403. */
function refusal(status: number, text: string, contentType: string, auth: ApiAuth, where: string): ApiError {
  let body: Record<string, unknown> = {};
  if (/json/.test(contentType)) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      // not JSON after all: the status says it
    }
  }
  // eslint-disable-next-line no-control-regex
  const oneLine = (s: string): string => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  const fields: Record<string, unknown> = {};
  for (const key of ['type', 'known', 'problems'] as const) if (body[key] !== undefined) fields[key] = body[key];
  const problems = Array.isArray(body['problems']) ? (body['problems'] as unknown[]).filter((p): p is { path: string; message: string } => typeof (p as { path?: unknown })?.path === 'string' && typeof (p as { message?: unknown })?.message === 'string') : [];
  // A change that does not validate: one line per problem with its file:line, as a local run prints them.
  if (status === 422 && problems.length > 0) return new ApiError(problems.map((p) => oneLine(`${p.path}: ${p.message}`)).join('\n'), EXIT_INVALID, status, fields);
  // A Karma problem says what happened in its detail; anything else (API Gateway's {"message"}) gets the status and the route.
  const said = typeof body['detail'] === 'string' && body['detail'].trim() !== '' ? body['detail'] : undefined;
  const other = [body['message'], body['Message'], body['title']].find((v): v is string => typeof v === 'string' && v.trim() !== '');
  const detail = oneLine(said ?? (other !== undefined ? `${other} (HTTP ${status} for ${where})` : `HTTP ${status} for ${where}`));
  if (status === 401 || status === 403) {
    const hint =
      auth.kind === 'bearer'
        ? status === 401
          ? 'the server did not accept $KARMA_API_TOKEN: check it is a token of this server (karma token create, or its KARMA_API_TOKEN)'
          : 'the token in $KARMA_API_TOKEN lacks the role this needs: make one with karma token create NAME --role read|propose|apply'
        : `the request was signed (SigV4, ${auth.region}) with your AWS credentials: check they are current and the region is the API's, and that your IAM user or role has the Karma API policy for this role (docs/api.md, "Auth"); for a karma serve, set $KARMA_API_TOKEN`;
    return new ApiError(`${detail}; ${hint}`, EXIT_INVALID, status, fields);
  }
  return new ApiError(detail, status >= 400 && status < 500 ? EXIT_INVALID : EXIT_OPERATIONAL, status, fields);
}

/** The failure of a request that got no answer: a timeout, a refused connection, a name that does not resolve. */
function unreachable(error: unknown, origin: string, timeoutMs: number): ApiError {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const within = timeoutMs >= 1000 && timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new ApiError(`the Karma API at ${origin} did not answer within ${within}`, EXIT_OPERATIONAL, 0);
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
  return new ApiError(`could not reach the Karma API at ${origin}: ${why}`, EXIT_OPERATIONAL, 0);
}

export interface ApiClientOptions {
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** Requests to one Karma API. Paths are the route table's (`/plan`, `/components/karma-dev/network`). */
export class ApiClient {
  readonly base: URL;
  private readonly auth: ApiAuth;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(base: URL, auth: ApiAuth, options: ApiClientOptions = {}) {
    this.base = base;
    this.auth = auth;
    this.timeoutMs = options.timeoutMs ?? API_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** The base URL as given (for the commands a user can run again). */
  get origin(): string {
    return `${this.base.origin}${this.base.pathname.replace(/\/$/, '')}`;
  }

  /** The URL of a route: the base's path (an API Gateway stage, a proxy prefix) and the route's path. */
  url(path: string, query: Query = {}): URL {
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${path}`, this.base.origin);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  get(path: string, query: Query = {}): Promise<ApiAnswer> {
    return this.request('GET', this.url(path, query));
  }

  post(path: string, body: unknown): Promise<ApiAnswer> {
    return this.request('POST', this.url(path), JSON.stringify(body));
  }

  /** GET, and the answer's JSON (a route that answers JSON). */
  async getJson<T>(path: string, query: Query = {}): Promise<{ answer: ApiAnswer; body: T }> {
    const answer = await this.get(path, query);
    return { answer, body: this.parse<T>(answer, path) };
  }

  parse<T>(answer: ApiAnswer, path: string): T {
    try {
      return JSON.parse(answer.text) as T;
    } catch {
      throw new ApiError(`the Karma API at ${this.origin} answered ${path} with something that is not JSON (${answer.contentType || 'no content type'})`, EXIT_OPERATIONAL, answer.status);
    }
  }

  private async request(method: 'GET' | 'POST', url: URL, body?: string): Promise<ApiAnswer> {
    let headers: Record<string, string> = { accept: 'application/json, application/problem+json, text/plain', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    if (this.auth.kind === 'bearer') headers['authorization'] = `Bearer ${this.auth.token}`;
    else {
      try {
        headers = await signedHeaders({ method, url, headers, ...(body !== undefined ? { body } : {}) }, { region: this.auth.region, credentials: this.auth.credentials });
      } catch (error) {
        const message = (error as Error)?.message ?? String(error);
        throw new ApiError(
          `no AWS credentials to sign the request to ${this.origin} with (${message.split('\n')[0]}); set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or $KARMA_API_TOKEN for a karma serve`,
          EXIT_INVALID,
          0,
        );
      }
      // fetch sends the Host of the URL itself (the value signed).
      delete headers['host'];
    }
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(url, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
      text = await response.text();
    } catch (error) {
      throw unreachable(error, this.origin, this.timeoutMs);
    }
    const contentType = response.headers.get('content-type') ?? '';
    if (response.status >= 300 && response.status < 400) {
      // Not followed: the token or the signature would go wherever it points.
      const location = response.headers.get('location');
      const to = location ? (URL.canParse(location, url.href) ? new URL(location, url) : undefined) : undefined;
      throw new ApiError(
        `the Karma API at ${this.origin} redirects ${method} ${url.pathname}${to ? ` to ${to.origin}${to.pathname}` : ''} (HTTP ${response.status}); redirects are not followed, so the token or signature goes nowhere else: give --api the API's own URL`,
        EXIT_INVALID,
        response.status,
      );
    }
    if (response.status < 200 || response.status >= 300) throw refusal(response.status, text, contentType, this.auth, `${method} ${url.pathname}`);
    return { status: response.status, contentType, text };
  }
}

/** A client for `--api URL` (or `$KARMA_API_URL`), authenticated as above; `region` is the command's --region. */
export async function openApiClient(url: string, options: { readonly region?: string } = {}): Promise<ApiClient> {
  const base = apiBase(url);
  return new ApiClient(base, await apiAuth(base, options));
}
