/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI 3.1 document of the route table (lib/api/app.ts).
 * test/unit/api/openapi.test.ts fails when the committed copy differs from what the code generates.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../lib/api/app.ts';
import packageJson from '../package.json' with { type: 'json' };

export const OPENAPI_FILE = join(import.meta.dirname, '..', 'docs', 'openapi.json');
export const renderOpenApi = (): string => `${JSON.stringify(openApiDocument(packageJson.version), null, 2)}\n`;

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(OPENAPI_FILE, renderOpenApi());
  console.log(`wrote ${OPENAPI_FILE}`);
}
