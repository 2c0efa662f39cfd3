/**
 * `npm run graphql-schema`: writes docs/schema.graphql, the GraphQL schema of /graphql as graphql-js prints it
 * from GRAPHQL_SDL (lib/api/graphql-schema.ts, the single source). test/unit/api/graphql-schema.test.ts fails
 * when the committed copy differs from what the code generates.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchema } from 'graphql';
import { buildGraphqlSchema } from '../lib/api/graphql.ts';

export const GRAPHQL_SCHEMA_FILE = join(import.meta.dirname, '..', 'docs', 'schema.graphql');
export const renderGraphqlSchema = (): string => `${printSchema(buildGraphqlSchema())}\n`;

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(GRAPHQL_SCHEMA_FILE, renderGraphqlSchema());
  console.log(`wrote ${GRAPHQL_SCHEMA_FILE}`);
}
