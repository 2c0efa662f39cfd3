/**
 * Credentials for cloning the config repo over https with isomorphic-git (its `onAuth` callback, called when
 * the server answers 401).
 *
 * CodeCommit (`https://git-codecommit.<region>.amazonaws.com/v1/repos/<name>`): no static Git credentials.
 * The username and password are computed from AWS credentials exactly as the AWS CLI credential helper
 * (awscli/customizations/codecommit.py) and git-remote-codecommit compute them:
 *
 *   timestamp  = UTC now as YYYYMMDDTHHMMSS (no trailing Z)
 *   canonical  = "GIT\n<path>\n\nhost:<hostname>\n\nhost\n"        (method GIT, no query, the host header only,
 *                                                                    and an EMPTY payload line, not a hash)
 *   toSign     = "AWS4-HMAC-SHA256\n<timestamp>\n<YYYYMMDD>/<region>/codecommit/aws4_request\n<hex sha256(canonical)>"
 *   key        = HMAC chain of "AWS4"+secret over YYYYMMDD, region, "codecommit", "aws4_request"
 *   password   = <timestamp> + "Z" + hex HMAC-SHA256(key, toSign)
 *   username   = accessKeyId, plus "%" + sessionToken when there is one
 *
 * The region is taken from the host (`(vpce-…\.)?git-codecommit(-fips)?.<region>.(vpce.)?amazonaws.com`), the
 * port is never signed. Credentials come from the default provider chain (in Lambda: the function's role).
 *
 * GitHub and other hosts: a token read from Secrets Manager (KARMA_GIT_TOKEN_SECRET, a secret name or ARN whose
 * SecretString is the token, or JSON with a `token` field), sent as `x-access-token:<token>` (what GitHub
 * accepts for installation and fine-grained tokens). It is read on the first 401 and kept for 5 minutes.
 * Neither the token nor the signature is ever logged or put in an error message.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AuthCallback, GitAuth } from 'isomorphic-git';
import type { Clock } from '../../ports.ts';
import { systemClock } from '../../ports.ts';
import { GitAccessError } from '../errors.ts';

export const CODECOMMIT_SERVICE = 'codecommit';
const CODECOMMIT_HOST = /^(vpce-.+\.)?git-codecommit(-fips)?\.([^.]+)\.(vpce\.)?amazonaws\.com$/;

/** The CodeCommit host, region and path of an https URL, or undefined when it is not a CodeCommit Git URL. */
export function codeCommitTarget(url: string): { hostname: string; region: string; path: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:') return undefined;
  const m = CODECOMMIT_HOST.exec(parsed.hostname);
  if (!m) return undefined;
  return { hostname: parsed.hostname, region: m[3]!, path: parsed.pathname };
}

const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** `YYYYMMDDTHHMMSS` in UTC. */
export function codeCommitTimestamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').slice(0, 15);
}

/** The SigV4 "password" for a CodeCommit Git request: `<YYYYMMDDTHHMMSS>Z<hex signature>` (see the file header). */
export function codeCommitPassword(target: { hostname: string; region: string; path: string }, secretAccessKey: string, at: Date): string {
  const timestamp = codeCommitTimestamp(at);
  const date = timestamp.slice(0, 8);
  const canonical = `GIT\n${target.path}\n\nhost:${target.hostname}\n\nhost\n`;
  const toSign = ['AWS4-HMAC-SHA256', timestamp, `${date}/${target.region}/${CODECOMMIT_SERVICE}/aws4_request`, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), target.region), CODECOMMIT_SERVICE), 'aws4_request');
  return `${timestamp}Z${createHmac('sha256', key).update(toSign, 'utf8').digest('hex')}`;
}

/** Username and password for a CodeCommit https URL, from AWS credentials, at a time. */
export function codeCommitCredentials(url: string, credentials: AwsCredentialIdentity, at: Date): { username: string; password: string } {
  const target = codeCommitTarget(url);
  if (!target) throw new GitAccessError(`${url} is not a CodeCommit https URL (https://git-codecommit.REGION.amazonaws.com/v1/repos/NAME)`);
  return {
    username: credentials.accessKeyId + (credentials.sessionToken ? `%${credentials.sessionToken}` : ''),
    password: codeCommitPassword(target, credentials.secretAccessKey, at),
  };
}

export interface GitAuthOptions {
  /** AWS credentials for CodeCommit. @default the default provider chain (fromNodeProviderChain) */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Reads the Git token (GitHub and other hosts). @default - no token: such hosts get no credentials */
  readonly token?: () => Promise<string>;
  readonly clock?: Clock;
}

/**
 * isomorphic-git `onAuth`: SigV4 credentials for a CodeCommit URL, the token for any other host (when one is
 * configured). Returns nothing when it has nothing to offer, so isomorphic-git reports the 401 itself.
 */
export function gitOnAuth(options: GitAuthOptions = {}): AuthCallback {
  const clock = options.clock ?? systemClock;
  let chain: AwsCredentialIdentityProvider | undefined = options.credentials;
  return async (url: string): Promise<GitAuth | void> => {
    if (codeCommitTarget(url)) {
      if (!chain) {
        const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
        chain = fromNodeProviderChain();
      }
      let credentials: AwsCredentialIdentity;
      try {
        credentials = await chain();
      } catch (error) {
        throw new GitAccessError(`cannot sign the CodeCommit request for ${url}: no AWS credentials (${(error as Error).message})`, { cause: error });
      }
      return codeCommitCredentials(url, credentials, clock.now());
    }
    if (options.token) return { username: 'x-access-token', password: await options.token() };
    return undefined;
  };
}

/** The token inside a secret's value: the whole string, or the `token` field of a JSON object. */
export function tokenFromSecretString(value: string): string {
  const text = value.trim();
  if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as { token?: unknown };
      if (typeof json.token === 'string' && json.token.trim() !== '') return json.token.trim();
    } catch {
      // not JSON: the whole value is the token
    }
  }
  return text;
}

/**
 * Reads the Git token from Secrets Manager (name or ARN), cached for `ttlMs`. Errors name the secret and the
 * AWS error, never the value.
 */
export function secretsManagerToken(secretId: string, options: { region?: string; endpoint?: string; ttlMs?: number; clock?: Clock } = {}): () => Promise<string> {
  const clock = options.clock ?? systemClock;
  const ttl = options.ttlMs ?? 5 * 60_000;
  let cached: { token: string; at: number } | undefined;
  return async () => {
    const now = clock.now().getTime();
    if (cached && now - cached.at < ttl) return cached.token;
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const client = new SecretsManagerClient({ ...(options.region ? { region: options.region } : {}), ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
    let value: string | undefined;
    try {
      value = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    } catch (error) {
      const e = error as { name?: string; message?: string };
      throw new GitAccessError(`cannot read the Git token secret ${secretId}: ${e.name ?? 'Error'}${e.message && e.message !== e.name ? `: ${e.message}` : ''}`, { cause: error });
    } finally {
      client.destroy();
    }
    const token = value === undefined ? '' : tokenFromSecretString(value);
    if (token === '') throw new GitAccessError(`the Git token secret ${secretId} has no string value: put the token (or {"token":"..."}) in it`);
    cached = { token, at: now };
    return token;
  };
}

/**
 * `onAuth` from the environment (Lambda): CodeCommit always signs with the function's credentials; other hosts
 * get the token in KARMA_GIT_TOKEN_SECRET when it is set.
 */
export function gitOnAuthFromEnv(env: NodeJS.ProcessEnv): AuthCallback {
  const secretId = env['KARMA_GIT_TOKEN_SECRET'];
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const endpoint = env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] ?? env['AWS_ENDPOINT_URL'];
  return gitOnAuth(secretId ? { token: secretsManagerToken(secretId, { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) }) } : {});
}
