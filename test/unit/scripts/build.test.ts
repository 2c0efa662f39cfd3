/** scripts/build.ts: files read at run time relative to a source file resolve from dist/ after bundling. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, ROOT, rewriteRuntimeUrls } from '../../../scripts/build.ts';

describe('rewriteRuntimeUrls', () => {
  it("rewrites the pipeline definition's URL to the same file relative to dist/", () => {
    // Arrange
    const file = join(ROOT, 'lib/adapters/stepfunctions/local-runner.ts');
    const source = "export const PIPELINE_DEFINITION = new URL('../../../statemachines/pipeline.asl.json', import.meta.url);";

    // Act
    const out = rewriteRuntimeUrls(source, file);

    // Assess
    expect(out).toBe('export const PIPELINE_DEFINITION = new URL("../statemachines/pipeline.asl.json", import.meta.url);');
  });

  it('points the CLI re-running itself (bin/karma.ts) at dist/karma.js', () => {
    // Arrange
    const file = join(ROOT, 'lib/app/pipeline/local-run.ts');
    const source = "const KARMA_BIN = fileURLToPath(new URL('../../../bin/karma.ts', import.meta.url));";

    // Act
    const out = rewriteRuntimeUrls(source, file);

    // Assess
    expect(out).toBe("const KARMA_BIN = fileURLToPath(new URL('./karma.js', import.meta.url));");
  });

  it('refuses a URL into the sources, which dist/ does not ship', () => {
    // Arrange
    const file = join(ROOT, 'lib/app/x.ts');

    // Act / Assess
    expect(() => rewriteRuntimeUrls("new URL('../core/model.ts', import.meta.url)", file)).toThrow(
      "lib/app/x.ts: new URL('../core/model.ts', import.meta.url) points into the sources, which dist/ does not ship",
    );
  });

  it('leaves code without such URLs alone', () => {
    const source = "const u = new URL('https://example.com/x');";
    expect(rewriteRuntimeUrls(source, join(ROOT, 'lib/app/x.ts'))).toBe(source);
  });
});

describe('the bundle (built into a temporary folder)', () => {
  let dir: string;
  let meta: Metafile;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'karma-dist-'));
    meta = await buildCli({ outdir: dir });
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The packages an output file loads before any of its code runs: its static imports, followed through chunks. */
  function staticPackages(output: string): string[] {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of meta.outputs[file]!.imports) {
        if (i.kind === 'dynamic-import') continue;
        if (i.external) packages.add(i.path);
        else visit(i.path);
      }
    };
    visit(output);
    return [...packages].filter((p) => !p.startsWith('node:')).sort();
  }
  const output = (prefix: string): string => {
    const found = Object.keys(meta.outputs).find((k) => k.startsWith(`${relative(ROOT, dir)}/${prefix}-`) && k.endsWith('.js'));
    if (!found) throw new Error(`no ${prefix} chunk in ${Object.keys(meta.outputs).join(', ')}`);
    return found;
  };

  it('the entry imports nothing before its version check', () => {
    expect(meta.outputs[`${relative(ROOT, dir)}/karma.js`]!.imports.filter((i) => i.kind !== 'dynamic-import')).toEqual([]);
  });

  it('--version, --help and graph validate load none of the heavy packages', () => {
    const heavy = /^(@aws-sdk|@smithy|gremlin|isomorphic-git|aws-local-stepfunctions)/;
    expect(staticPackages(output('main')).filter((p) => heavy.test(p))).toEqual([]);
    expect(staticPackages(output('graph')).filter((p) => heavy.test(p))).toEqual([]);
  });

  it("hides node:sqlite's ExperimentalWarning and no other warning", () => {
    // Arrange: a preload that emits both warnings once the entry has installed its filter
    const preload = join(dir, 'warn.mjs');
    writeFileSync(
      preload,
      "setImmediate(() => { process.emitWarning('SQLite is an experimental feature and might change at any time', 'ExperimentalWarning'); process.emitWarning('Widgets are an experimental feature', { type: 'ExperimentalWarning' }); });\n",
    );

    // Act
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, join(dir, 'karma.js'), '--version'], { encoding: 'utf8' });

    // Assess
    expect(run.status).toBe(0);
    expect(run.stderr).not.toContain('SQLite');
    expect(run.stderr).toContain('ExperimentalWarning: Widgets are an experimental feature');
  });

  it('the local pipeline run loads the Step Functions interpreter (so the check above can fail)', () => {
    expect(staticPackages(output('pipeline'))).toContain('aws-local-stepfunctions');
  });
});
