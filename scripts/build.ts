/**
 * `npm run build` (also run by `prepare`, so `npm ci` and `npm pack` build it): bundles the `karma` CLI into dist/.
 *
 * - ESM for Node 22+, code splitting: every module a command imports lazily (`await import(...)`) becomes its own
 *   chunk, so `karma --version` loads a few kilobytes, not the AWS SDK.
 * - Runtime dependencies stay external: the installed package uses its node_modules. Except INLINED: the small
 *   pure-JavaScript packages every command loads at start-up (commander, the YAML parser, zod, ajv, graphology,
 *   picocolors). Loaded from node_modules they are ~250 files for Node to resolve and read one by one; bundled,
 *   a few chunks. Measured side by side: `graph validate` 8.1× → 6.5× a bare node, `--version` 2.7× → 1.8×
 *   (docs/decisions.md). Heavy or native packages (the AWS SDK, gremlin, isomorphic-git, aws-local-stepfunctions)
 *   stay external and load only in the commands that need them.
 * - Files read at run time relative to a source file (`new URL('../../../statemachines/pipeline.asl.json',
 *   import.meta.url)`) are rewritten to the same file relative to dist/, so the bundle finds them in the package.
 *   `bin/karma.ts` (the CLI re-running itself for a component apply) becomes dist/karma.js.
 *
 * Then the web UI into dist/web (scripts/build-web.ts), which `karma serve` serves.
 *
 * `--metafile` also writes dist/meta.json (what each chunk holds: esbuild's analyzer reads it).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { build, type Metafile, type Plugin } from 'esbuild';

export const ROOT = resolve(import.meta.dirname, '..');
export const DIST = join(ROOT, 'dist');
const ENTRY = join(ROOT, 'bin', 'karma.ts');

/** Dependencies bundled into dist/ (see above); every other dependency is imported from node_modules. */
export const INLINED: readonly string[] = ['commander', 'yaml', 'zod', 'ajv', 'ajv-formats', 'graphology', 'picocolors'];

function externalDependencies(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const names = Object.keys(pkg.dependencies);
  const unknown = INLINED.filter((n) => !names.includes(n));
  if (unknown.length) throw new Error(`scripts/build.ts: INLINED names packages that are not dependencies: ${unknown.join(', ')}`);
  // A package's subpaths (`isomorphic-git/http/node`) are external with it.
  return names.filter((n) => !INLINED.includes(n)).flatMap((n) => [n, `${n}/*`]);
}

/** `new URL('<relative path>', import.meta.url)` in a source file. */
const RUNTIME_URL = /new URL\((['"])(\.{1,2}\/[^'"]+)\1,\s*import\.meta\.url\)/g;

/** Rewrites run-time file URLs so that they resolve from `dist` (one flat folder of chunks). */
export function rewriteRuntimeUrls(source: string, file: string, dist = DIST): string {
  return source.replace(RUNTIME_URL, (whole, _quote: string, path: string) => {
    const target = resolve(dirname(file), path);
    if (target === ENTRY) return "new URL('./karma.js', import.meta.url)";
    if (target.startsWith(join(ROOT, 'lib')) || target.startsWith(join(ROOT, 'bin'))) {
      throw new Error(`${relative(ROOT, file)}: ${whole} points into the sources, which dist/ does not ship`);
    }
    return `new URL(${JSON.stringify(relative(dist, target).split('\\').join('/'))}, import.meta.url)`;
  });
}

function runtimeUrls(dist: string): Plugin {
  return {
    name: 'runtime-urls',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        return { contents: rewriteRuntimeUrls(source, args.path, dist), loader: 'ts' };
      });
    },
  };
}

/**
 * Builds the CLI into `outdir` (default dist/, emptied first); returns esbuild's metafile (what each chunk holds
 * and imports), also written to `<outdir>/meta.json` with `metafile: true`.
 */
export async function buildCli(options: { metafile?: boolean; outdir?: string } = {}): Promise<Metafile> {
  const outdir = options.outdir ?? DIST;
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { karma: ENTRY },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: externalDependencies(),
    // Inlined CommonJS packages call require() for Node's built-ins: give every ESM chunk a real one. Without an
    // import statement, so the entry still parses and runs its version check on an old Node.
    banner: { js: "const require = process.getBuiltinModule ? process.getBuiltinModule('node:module').createRequire(import.meta.url) : undefined;" },
    chunkNames: '[name]-[hash]',
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    plugins: [runtimeUrls(outdir)],
  });
  if (options.metafile) writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return result.metafile;
}

if (import.meta.main) {
  await buildCli({ metafile: process.argv.includes('--metafile') });
  // The web UI, into dist/web (buildCli empties dist/ first).
  const { buildWeb } = await import('./build-web.ts');
  await buildWeb();
}
