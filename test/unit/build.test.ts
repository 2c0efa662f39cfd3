/** scripts/build.ts: files read at run time relative to a source file resolve from dist/ after bundling. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, rewriteRuntimeUrls } from '../../scripts/build.ts';

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
