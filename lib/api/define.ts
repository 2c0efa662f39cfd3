/**
 * Route definitions from the contract: each route's role (and so its security and its 401/403 answers) comes
 * from lib/core/pipeline-contract.ts (API_ROUTES, and SERVICE_ROUTES for what only karma serve serves), never
 * from the handler.
 */
import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import { API_ROUTES, SERVICE_ROUTES, type ApiRole } from '../core/pipeline-contract.ts';
import { problem } from './problem.ts';
import * as S from './schemas.ts';

const PROBLEM = { 'application/problem+json': { schema: S.Problem } } as const;
export const problems = (...statuses: number[]): Record<number, { description: string; content: typeof PROBLEM }> =>
  Object.fromEntries(statuses.map((s) => [s, { description: problem(s, '').title, content: PROBLEM }]));
export const json = <T,>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** `/components/{env}/{name}` → `/components/:env/:name` (Hono's form). */
export const honoPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');

export function roleOf(path: string, method: 'GET' | 'POST'): ApiRole | null {
  const route = [...API_ROUTES, ...SERVICE_ROUTES].find((r) => r.path === path && r.method === method);
  if (!route) throw new Error(`${method} ${path} is not in API_ROUTES or SERVICE_ROUTES (lib/core/pipeline-contract.ts)`);
  return route.role;
}

export function define<R extends RouteConfig>(config: R): R {
  const role = roleOf(config.path, config.method.toUpperCase() as 'GET' | 'POST');
  return createRoute({
    ...config,
    ...(role ? { security: [{ bearer: [] }] } : {}),
    responses: { ...config.responses, ...(role ? problems(401, 403) : {}) },
  });
}
