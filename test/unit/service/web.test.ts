import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, mountWeb } from '../../../lib/service/web.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const tmp = makeTempDir('karma-web-');
afterAll(() => removeDir(tmp));

function built(): string {
  const dir = join(tmp, 'web');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/app-ABC.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-ABC.js'), `console.log(${JSON.stringify('x'.repeat(2000))});`);
  writeFileSync(join(dir, 'assets', 'inter-XYZ.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  writeFileSync(join(tmp, 'secret.txt'), 'not served');
  return dir;
}

function app(dir: string): Hono {
  const a = new Hono();
  mountWeb(a, dir);
  a.notFound((c) => c.json({ detail: 'no route' }, 404));
  return a;
}

describe('karma serve serves the built web UI', () => {
  const served = app(built());

  it('the page at /, never cached, with a strict Content-Security-Policy', async () => {
    const r = await served.request('/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      expect(CONTENT_SECURITY_POLICY).toContain(directive);
    }
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toContain('/assets/app-ABC.js');
  });

  it('the hashed assets, cached for a year, gzipped for clients that take it (fonts as they are)', async () => {
    const plain = await served.request('/assets/app-ABC.js');
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-encoding')).toBeNull();
    const text = await plain.text();
    const zipped = await served.request('/assets/app-ABC.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(Number(zipped.headers.get('content-length'))).toBeLessThan(text.length);
    expect(gunzipSync(Buffer.from(await zipped.arrayBuffer())).toString()).toBe(text);
    const font = await served.request('/assets/inter-XYZ.woff2', { headers: { 'accept-encoding': 'gzip' } });
    expect(font.headers.get('content-type')).toBe('font/woff2');
    expect(font.headers.get('content-encoding')).toBeNull();
    const head = await served.request('/assets/app-ABC.js', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('nothing but what the build wrote: other paths fall through to the API (404)', async () => {
    for (const path of ['/assets/missing.js', '/assets/../secret.txt', '/assets/%2e%2e%2fsecret.txt', '/index.html', '/secret.txt']) {
      expect((await served.request(path)).status, path).toBe(404);
    }
  });

  it('without a build, / says how to make one (503) and the rest falls through', async () => {
    const bare = app(join(tmp, 'nowhere'));
    const r = await bare.request('/');
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('npm run build');
    expect((await bare.request('/assets/app-ABC.js')).status).toBe(404);
  });
});
