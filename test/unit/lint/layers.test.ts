/**
 * The layers are enforced by lint (lint/layers.js, wired in eslint.config.js): for every layer, an import it
 * may not make is reported and one it may make is not — through ESLint's Node API on the real config, so a
 * config that stops running the rule fails here too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAYERS, ROOT, layerOf } from '../../../lint/layers.js';

let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: join(ROOT, 'eslint.config.js') });
});

/** The `karma/layers` messages ESLint reports for `code` as if it were the file `file` (relative to the repo). */
async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  return result!.messages.filter((m) => m.ruleId === 'karma/layers').map((m) => m.message);
}

// [importing file, forbidden specifier, the layer it reaches, an allowed specifier]
const CASES: readonly (readonly [string, string, string, string])[] = [
  ['lib/core/x.ts', '../adapters/ssm/runtime-store.ts', 'lib/adapters/', './graph.ts'],
  ['lib/core/x.ts', '../ports.ts', 'lib/ports.ts', './pipeline-contract.ts'],
  ['lib/ports.ts', './app/build.ts', 'lib/app/', './core/model.ts'],
  ['lib/adapters/ssm/x.ts', '../../app/build.ts', 'lib/app/', '../../ports.ts'],
  ['lib/adapters/ssm/x.ts', '../../cli/io.ts', 'lib/cli/', '../neptune/graph-store.ts'],
  ['lib/adapters/ssm/x.ts', '../../infra/pipeline.ts', 'lib/infra/', '../../core/errors.ts'],
  ['lib/adapters/ssm/x.ts', '../../api/routes.ts', 'lib/api/', '../../core/errors.ts'],
  ['lib/adapters/ssm/x.ts', '../../service/queue.ts', 'lib/service/', '../../core/errors.ts'],
  ['lib/app/x.ts', '../cli/io.ts', 'lib/cli/', '../adapters/ssm/runtime-store.ts'],
  ['lib/app/pipeline/x.ts', '../../infra/event-patterns.ts', 'lib/infra/', '../../core/order.ts'],
  ['lib/app/x.ts', '../api/routes.ts', 'lib/api/', '../ports.ts'],
  ['lib/app/x.ts', '../service/queue.ts', 'lib/service/', './build.ts'],
  ['lib/cli/commands/x.ts', '../../adapters/ssm/runtime-store.ts', 'lib/adapters/', '../../app/build.ts'],
  ['lib/cli/x.ts', '../infra/app.ts', 'lib/infra/', '../core/errors.ts'],
  ['lib/api/x.ts', '../adapters/neptune/graph-store.ts', 'lib/adapters/', '../app/build.ts'],
  ['lib/api/x.ts', '../cli/io.ts', 'lib/cli/', '../core/model.ts'],
  ['lib/service/x.ts', '../adapters/local/database.ts', 'lib/adapters/', '../api/routes.ts'],
  ['lib/infra/x.ts', '../app/webhook.ts', 'lib/app/', '../core/pipeline-contract.ts'],
  ['lib/infra/x.ts', '../core/graph.ts', 'lib/core/', './settings.ts'],
  ['lib/infra/x.ts', '../adapters/stepfunctions/local-runner.ts', 'lib/adapters/', '../core/pipeline-contract.ts'],
  ['lambdas/x.ts', '../lib/adapters/ssm/runtime-store.ts', 'lib/adapters/', '../lib/app/pipeline/lambda.ts'],
  ['lambdas/x.ts', '../lib/cli/main.ts', 'lib/cli/', '../lib/app/webhook.ts'],
  ['bin/x.ts', '../lib/app/build.ts', 'lib/app/', '../lib/cli/main.ts'],
  ['bin/x.ts', '../lib/core/graph.ts', 'lib/core/', '../lib/infra/app.ts'],
  ['web/src/x.ts', '../../lib/app/build.ts', 'lib/app/', '../../lib/api/routes.ts'],
  ['lib/shared/x.ts', '../core/model.ts', 'lib/core/', './concurrency.ts'],
  ['lib/shared/x.ts', '../ports.ts', 'lib/ports.ts', './rate-limit.ts'],
  ['lib/infra/x.ts', '../core/model.ts', 'lib/core/', '../shared/zod-issues.ts'],
];

describe('karma/layers: arrows point inward', () => {
  it.each(CASES)('%s may not import %s', async (file, forbidden, reaches, allowed) => {
    // Act
    const bad = await layerErrors(file, `import { a } from '${forbidden}';\nexport const b = a;\n`);
    const good = await layerErrors(file, `import { a } from '${allowed}';\nexport const b = a;\n`);
    // Assess
    expect(bad).toHaveLength(1);
    expect(bad[0]).toContain(`${layerOf(file.startsWith('lib/ports') ? 'lib/ports.ts' : file)!.path} may not import ${reaches}`);
    expect(good).toEqual([]);
  });

  it('a dynamic import, a type-only import and a re-export are checked like a static import', async () => {
    // Act
    const dynamic = await layerErrors('lib/cli/x.ts', "export async function f() { return (await import('../adapters/git/repo.ts')).readHead; }\n");
    const typeOnly = await layerErrors('lib/core/x.ts', "import type { Backend } from '../app/backend.ts';\nexport type B = Backend;\n");
    const reexport = await layerErrors('lib/adapters/x.ts', "export { buildGraphFromSource } from '../app/build.ts';\n");
    const template = await layerErrors('lib/app/x.ts', 'export const m = import(`../cli/io.ts`);\n');
    // Assess
    expect(dynamic).toHaveLength(1);
    expect(typeOnly).toHaveLength(1);
    expect(reexport).toHaveLength(1);
    expect(template).toHaveLength(1);
  });

  it('the message names both layers and what the importing layer may import', async () => {
    // Act
    const [message] = await layerErrors('lib/app/x.ts', "import { main } from '../cli/main.ts';\nexport const m = main;\n");
    // Assess
    expect(message).toBe(
      'lib/app/ may not import lib/cli/ (lib/cli/main.ts): lib/app/ may import only its own files, lib/core/, lib/core/pipeline-contract.ts, lib/ports.ts, lib/adapters/, lib/shared/. Arrows point inward: entry points → lib/app → lib/ports.ts and lib/adapters → lib/core (docs/architecture.md).',
    );
  });

  it('no layer imports tests, scripts or benchmarks', async () => {
    // Act
    const [fromApp] = await layerErrors('lib/app/x.ts', "import { copyRepo } from '../../test/helpers/config-repo.ts';\nexport const c = copyRepo;\n");
    const fromLambda = await layerErrors('lambdas/x.ts', "export const s = import('../scripts/servers/servers.ts');\n");
    // Assess
    expect(fromApp).toBe('lib/app/ may not import test/helpers/config-repo.ts: tests, scripts and benchmarks are not part of Karma; move what is shared into lib/.');
    expect(fromLambda).toHaveLength(1);
  });

  it('files outside every layer (tests, scripts, benchmarks) may import anything', async () => {
    for (const file of ['test/unit/x.test.ts', 'scripts/x.ts', 'bench/x.ts']) {
      expect(await layerErrors(file, "import { a } from '../lib/adapters/ssm/runtime-store.ts';\nexport const b = a;\n")).toEqual([]);
    }
  });

  it('docs/architecture.md lists exactly what the rule enforces', () => {
    // Prepare
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- layers:'), doc.indexOf('<!-- /layers -->'));
    const rows = table.split('\n').filter((l) => /^\| [a-z]+ \| `/.test(l));
    const pathOf = (name: string): string => `\`${LAYERS.find((l) => l.name === name)!.path}\``;
    // Act
    const expected = LAYERS.map((l) => `| ${l.name} | \`${l.path}\` | ${l.may.map(pathOf).join(', ') || 'nothing'} |`);
    // Assess
    expect(rows).toEqual(expected);
  });

  it('every layer may import its own files, and every layer named in a "may" list exists', () => {
    const names = new Set(LAYERS.map((l) => l.name));
    for (const layer of LAYERS) {
      for (const other of layer.may) expect(names.has(other), `${layer.name} → ${other}`).toBe(true);
      expect(layer.may).not.toContain(layer.name);
    }
  });
});
