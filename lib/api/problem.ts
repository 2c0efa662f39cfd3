/**
 * Every error the API answers is an RFC 9457 problem (`application/problem+json`): a type, a title, the status,
 * one line of detail, and for an invalid request each problem with its path, for an unknown name the valid
 * ones. Karma's errors map to statuses here, in one place: unknown names 404, bad requests 400, a refused change
 * (conflict) 409, a failing store 503; anything else is a bug: 500 with no detail beyond its name.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ConfigError, ConflictError, KarmaError, NotFoundError, UsageError } from '../core/errors.ts';

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly problems?: readonly { readonly path: string; readonly message: string }[];
  readonly known?: readonly string[];
}

const TITLES: Readonly<Record<number, [string, string]>> = {
  400: ['bad-request', 'Bad request'],
  401: ['unauthorized', 'Unauthorized'],
  403: ['forbidden', 'Forbidden'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  409: ['conflict', 'Conflict'],
  413: ['too-large', 'Request body too large'],
  415: ['unsupported-media-type', 'Unsupported media type'],
  422: ['invalid-change', 'Invalid change'],
  500: ['internal', 'Internal error'],
  503: ['unavailable', 'Service unavailable'],
};

export function problem(status: number, detail: string, extra: Partial<Pick<ProblemBody, 'problems' | 'known' | 'instance'>> = {}): ProblemBody {
  const [slug, title] = TITLES[status] ?? ['error', 'Error'];
  return { type: `urn:karma:problem:${slug}`, title, status, detail, ...extra };
}

export function problemResponse(c: Context, body: ProblemBody, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(body), body.status as 400, { 'content-type': 'application/problem+json', ...headers });
}

/** A thrown error → its problem. Unexpected errors say only their name: a message may hold anything. */
export function problemOf(error: unknown): ProblemBody {
  if (error instanceof NotFoundError) return problem(404, error.message, { known: error.known });
  if (error instanceof ConfigError) {
    return problem(422, `the change does not validate: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}`, {
      problems: error.problems.map((p) => ({ path: p.line === undefined ? p.file : `${p.file}:${p.line}`, message: p.message })),
    });
  }
  if (error instanceof ConflictError) return problem(409, error.message);
  if (error instanceof UsageError) return problem(400, error.message);
  if (error instanceof KarmaError) return problem(503, error.message);
  // Hono's own refusals: a body that is not JSON, a wrong content type.
  if (error instanceof HTTPException && error.status < 500) return problem(error.status, error.message || problem(error.status, '').title);
  const name = error instanceof Error ? error.name : 'error';
  return problem(500, `unexpected ${name}; the server log has the details`);
}
