/**
 * Who is calling, and may they. Three ways to know the caller, one rule for roles:
 *
 *   tokens  (karma serve) `Authorization: Bearer <token>`, checked against a tokens file that holds only
 *           sha256 hashes (`karma token create` makes one), and against $KARMA_API_TOKEN (one admin token for
 *           scripts and tests). Each presented token is hashed and compared with every entry in constant time.
 *   iam     (API Gateway, IAM auth) the gateway has verified the SigV4 signature and the caller's IAM policy
 *           allowed this route: the caller is the principal ARN, with the roles the route needs.
 *   jwt     (API Gateway, JWT authorizer) the gateway has verified the token; the roles are in a claim.
 *
 * Roles are ordered: apply ⊇ propose ⊇ read. A route without a role (/healthz, /openapi.json) is open.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { z } from 'zod';
import { API_ROLES, type ApiRole } from '../core/pipeline-contract.ts';
import { UsageError } from '../core/errors.ts';
import { formatIssues } from '../shared/zod-issues.ts';

export interface Principal {
  /** A token's name, an IAM principal ARN, a JWT subject. Recorded in the audit log. */
  readonly name: string;
  readonly roles: ReadonlySet<ApiRole>;
}

/** The caller of a request, or undefined (401). */
export type Authenticate = (c: Context) => Principal | undefined;

/** The roles a role implies (apply ⊇ propose ⊇ read). */
export function impliedRoles(roles: Iterable<ApiRole>): Set<ApiRole> {
  const rank = Math.max(-1, ...[...roles].map((r) => API_ROLES.indexOf(r)));
  return new Set(API_ROLES.slice(0, rank + 1));
}

export const ALL_ROLES: ReadonlySet<ApiRole> = new Set(API_ROLES);

const sha256 = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export const TokensFile = z
  .object({
    tokens: z.array(
      z
        .object({
          name: z.string().min(1).max(100),
          sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex sha256 of the token (karma token create writes it)'),
          roles: z.array(z.enum(API_ROLES)).min(1),
        })
        .strict(),
    ),
  })
  .strict();
export type TokensFile = z.infer<typeof TokensFile>;

interface TokenEntry {
  readonly name: string;
  readonly hash: Buffer;
  readonly roles: ReadonlySet<ApiRole>;
}

/** Reads and checks a tokens file: one line naming the file and the problem when it is not one. */
export function readTokensFile(path: string): TokensFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : error instanceof SyntaxError ? 'not JSON' : (error as Error).message;
    throw new UsageError(`--tokens ${path}: ${why}; make one with karma token create NAME --role ROLE --tokens ${path}`);
  }
  const parsed = TokensFile.safeParse(raw);
  if (!parsed.success) throw new UsageError(`--tokens ${path}: ${formatIssues(parsed.error)}`);
  const names = parsed.data.tokens.map((t) => t.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`--tokens ${path}: the name "${twice}" is used twice; each token needs its own name (it is what the audit log records)`);
  return parsed.data;
}

export interface TokenAuthOptions {
  readonly file?: TokensFile;
  /** $KARMA_API_TOKEN: one admin token (every role). */
  readonly adminToken?: string;
}

/** Bearer tokens (karma serve). */
export function tokenAuth(options: TokenAuthOptions): Authenticate {
  const entries: TokenEntry[] = (options.file?.tokens ?? []).map((t) => ({ name: t.name, hash: Buffer.from(t.sha256, 'hex'), roles: impliedRoles(t.roles) }));
  if (options.adminToken) entries.push({ name: 'admin (KARMA_API_TOKEN)', hash: sha256(options.adminToken), roles: ALL_ROLES });
  return (c) => {
    const header = c.req.header('authorization');
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const presented = sha256(match[1]!);
    let found: TokenEntry | undefined;
    // Every entry is compared, whatever matched: the time taken does not say which one did.
    for (const entry of entries) if (timingSafeEqual(entry.hash, presented) && !found) found = entry;
    return found ? { name: found.name, roles: found.roles } : undefined;
  };
}

/** A new token: 32 random bytes, base64url, with a prefix that secret scanners can recognise. */
export function newToken(): { token: string; sha256: string } {
  const token = `karma_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: sha256(token).toString('hex') };
}

/** The API Gateway (HTTP API, payload 2.0) request context the Lambda adapter passes as `c.env.event`. */
interface GatewayContext {
  readonly authorizer?: {
    readonly iam?: { readonly userArn?: string; readonly callerId?: string };
    readonly jwt?: { readonly claims?: Readonly<Record<string, unknown>> };
  };
}

function gatewayContext(c: Context): GatewayContext | undefined {
  const env = c.env as { event?: { requestContext?: GatewayContext } } | undefined;
  return env?.event?.requestContext;
}

/** IAM auth (the gateway checked the signature and the IAM policy allowed the route). */
export function iamAuth(): Authenticate {
  return (c) => {
    const iam = gatewayContext(c)?.authorizer?.iam;
    const name = iam?.userArn ?? iam?.callerId;
    return name ? { name, roles: ALL_ROLES } : undefined;
  };
}

/** The roles in a JWT claim: an array, or a string of names separated by spaces or commas; unknown ones ignored. */
export function rolesOfClaim(value: unknown): Set<ApiRole> {
  const names = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(/[\s,[\]]+/) : [];
  return impliedRoles(names.filter((n): n is ApiRole => (API_ROLES as readonly string[]).includes(n)));
}

/** JWT auth (the gateway verified the token): the subject, and the roles from `claim`. */
export function jwtAuth(claim: string): Authenticate {
  return (c) => {
    const claims = gatewayContext(c)?.authorizer?.jwt?.claims;
    if (!claims) return undefined;
    const subject = typeof claims['sub'] === 'string' ? claims['sub'] : undefined;
    return subject ? { name: subject, roles: rolesOfClaim(claims[claim]) } : undefined;
  };
}
