/**
 * The web UI's built assets (web/, bundled into dist/web by scripts/build-web.ts when `npm ci` runs `prepare`),
 * served by `karma serve` at `/` beside the API.
 *
 * - Only the files the build wrote are served: they are read once, at start, into memory (about 1 MB), each with
 *   its gzip form. A path that is not one of them falls through to the API's 404, so nothing else on disk can be
 *   reached.
 * - The page itself (`/`) is never cached (it names the assets of this build); the assets have content hashes in
 *   their names and are cached for a year.
 * - A strict Content-Security-Policy: scripts, styles, fonts and requests only from this origin. The UI loads
 *   nothing from elsewhere (fonts are bundled), so a request that would leave the host is refused by the browser.
 *   The page is never framed and sends no referrer.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Hono } from 'hono';

/** Where the build writes the UI (dist/web); the bundled CLI finds it beside itself. */
export const WEB_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "font-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.json': 'application/json',
};

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
  readonly cache: string;
}

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

function load(file: string, cache: string): Asset {
  const body = readFileSync(file);
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  // Fonts are compressed already.
  const gzip = type.startsWith('font/') ? undefined : gzipSync(body, { level: 9 });
  return { body, gzip: gzip && gzip.length < body.length ? gzip : undefined, type, cache };
}

/** The built UI in `dir`: the page and every file under assets/, by URL path; undefined when it is not built. */
export function loadWebAssets(dir = WEB_DIR): ReadonlyMap<string, Asset> | undefined {
  const page = join(dir, 'index.html');
  if (!existsSync(page)) return undefined;
  const assets = new Map<string, Asset>([['/', load(page, 'no-cache')]]);
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) assets.set(`/assets/${name}`, load(join(assetDir, name), 'public, max-age=31536000, immutable'));
  }
  return assets;
}

/**
 * Serves the UI on `app`: GET and HEAD of `/` and `/assets/*`. Without a build (a source checkout where `npm run
 * build` never ran), `/` says how to build it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any app: only its routing is used
export function mountWeb(app: Hono<any>, dir = WEB_DIR): { readonly built: boolean } {
  const assets = loadWebAssets(dir);
  app.on(['GET', 'HEAD'], ['/', '/assets/:name'], async (c, next) => {
    if (!assets) {
      if (c.req.path !== '/') return next();
      return c.text('The Karma web UI is not built in this checkout: run `npm run build` (npm ci does it), then restart karma serve.\n', 503, SECURITY_HEADERS);
    }
    const asset = assets.get(c.req.path);
    if (!asset) return next();
    const gzip = asset.gzip !== undefined && /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
    const body = gzip ? asset.gzip! : asset.body;
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'cache-control': asset.cache,
      'content-length': String(body.length),
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    };
    return c.req.method === 'HEAD' ? c.body(null, 200, headers) : c.body(new Uint8Array(body), 200, headers);
  });
  return { built: assets !== undefined };
}
