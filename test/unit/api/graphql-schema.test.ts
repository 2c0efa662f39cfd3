import { readFileSync } from 'node:fs';
import { buildSchema, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { GRAPHQL_SDL } from '../../../lib/api/graphql.ts';
import { GRAPHQL_SCHEMA_FILE, renderGraphqlSchema } from '../../../scripts/graphql-schema.ts';

describe('docs/schema.graphql', () => {
  it('is what GRAPHQL_SDL prints (npm run graphql-schema rewrites it)', () => {
    expect(readFileSync(GRAPHQL_SCHEMA_FILE, 'utf8')).toBe(renderGraphqlSchema());
  });

  it('is a valid schema with a Query type only: read-only', () => {
    const schema = buildSchema(readFileSync(GRAPHQL_SCHEMA_FILE, 'utf8'));
    expect(printSchema(schema)).toBe(printSchema(buildSchema(GRAPHQL_SDL)));
    expect(schema.getQueryType()?.name).toBe('Query');
    expect(schema.getMutationType()).toBeUndefined();
    expect(schema.getSubscriptionType()).toBeUndefined();
  });
});
