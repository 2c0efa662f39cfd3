import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ROUTES, SERVICE_ROUTES } from '../../../lib/core/pipeline-contract.ts';
import { OPENAPI_FILE, renderOpenApi } from '../../../scripts/openapi.ts';

describe('docs/openapi.json', () => {
  it('is what the route table generates (npm run openapi rewrites it)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi());
  });

  it('lists exactly the routes of the contract (the API and karma serve\'s own), each guarded route with the bearer scheme and 401/403 problems', () => {
    const doc = JSON.parse(renderOpenApi()) as { paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>> };
    const listed = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    const all = [...API_ROUTES, ...SERVICE_ROUTES];
    expect(listed.sort()).toEqual(all.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of all) {
      const op = doc.paths[route.path]![route.method.toLowerCase()]!;
      if (route.role) {
        expect(op.security, `${route.method} ${route.path}`).toEqual([{ bearer: [] }]);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      } else expect(op.security).toBeUndefined();
    }
  });
});
