/**
 * The web UI's bundle (web/ → dist/web), with esbuild like the CLI: `npm run build` (and so `npm ci`, through
 * `prepare`) writes it, and `karma serve` serves it (lib/service/web.ts). No dev server, no CDN: one script, one
 * stylesheet and the bundled Inter font files, each named by its content hash, and the page that names them.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
export const WEB_SRC = join(ROOT, 'web');
export const WEB_DIST = join(ROOT, 'dist', 'web');

/** Builds web/ into `outdir` (default dist/web, emptied first); returns the size of each file written, by name. */
export async function buildWeb(options: { outdir?: string } = {}): Promise<Record<string, number>> {
  const outdir = options.outdir ?? WEB_DIST;
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: join(WEB_SRC, 'main.tsx') },
    outdir: join(outdir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox121', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.woff2': 'file', '.woff': 'file' },
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((o) => relative(join(outdir, 'assets'), join(ROOT, o)));
  const script = outputs.find((o) => o.endsWith('.js'));
  const style = outputs.find((o) => o.endsWith('.css'));
  if (!script || !style) throw new Error(`scripts/build-web.ts: esbuild wrote no script or stylesheet (${outputs.join(', ')})`);
  const page = readFileSync(join(WEB_SRC, 'index.html'), 'utf8').replace('%SCRIPT%', `/assets/${script}`).replace('%STYLE%', `/assets/${style}`);
  writeFileSync(join(outdir, 'index.html'), page);
  const sizes: Record<string, number> = { 'index.html': Buffer.byteLength(page) };
  for (const [file, meta] of Object.entries(result.metafile.outputs)) sizes[basename(file)] = meta.bytes;
  return sizes;
}

if (import.meta.main) {
  const sizes = await buildWeb();
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  const main = Object.entries(sizes).filter(([name]) => /\.(js|css|html)$/.test(name));
  console.log(`dist/web: ${main.map(([name, bytes]) => `${name} ${kb(bytes)}`).join(', ')}`);
}
