/**
 * The route suite (test/support/api-suite.ts) against the Hono app in-process, and against a real `karma serve`
 * process over HTTP (bin/karma.ts, a free port on 127.0.0.1, KARMA_API_TOKEN and a tokens file). Both serve a
 * Git clone of examples/acme-platform with its runtime seeded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../lib/api/app.ts';
import { tokenAuth } from '../../lib/api/auth.ts';
import { LocalWorkspace } from '../../lib/app/local-workspace.ts';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { EXAMPLE, seededExampleRepo } from '../support/example-repo.ts';
import { karma, onlyJson } from '../support/cli.ts';
import { apiRouteSuite, type ApiClient, type ApiResponse, type SuiteContext } from '../support/api-suite.ts';
import { freePort } from '../../scripts/servers/servers.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import * as S from '../../lib/api/schemas.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'karma.ts');
const ADMIN = 'karma_test-admin-token-0123456789';

function fromResponse(r: Response, text: string): ApiResponse {
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', headers: (n) => r.headers.get(n), text };
}

function requestInit(method: string, options: { token?: string | null; body?: unknown; raw?: string; contentType?: string } = {}): RequestInit {
  const headers: Record<string, string> = {};
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  return { method, headers, ...(body !== undefined ? { body } : {}) };
}

/**
 * One request over HTTP with node:http rather than fetch: a server may answer (413) before the body is sent
 * and close the connection, which curl and node:http report as the answer, and fetch as a failure.
 */
function overHttp(url: string, init: RequestInit): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers as Record<string, string> }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const header = (n: string): string | null => {
          const v = res.headers[n.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        };
        resolve({ status: res.statusCode ?? 0, contentType: header('content-type') ?? '', headers: header, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    let answered = false;
    req.on('response', () => (answered = true));
    // A write cut off by an early answer is not a failure of the request.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    req.end(init.body as string | undefined);
  });
}

const cliJson =
  (dir: string) =>
  async (...argv: string[]): Promise<unknown> =>
    onlyJson(await karma(...argv, '--config', dir));

describe('the API in-process (app.request)', () => {
  let tmp: string;
  let ctx: SuiteContext;
  let workspace: LocalWorkspace;
  beforeAll(async () => {
    tmp = makeTempDir('karma-api-inproc-');
    const dir = await seededExampleRepo(tmp);
    workspace = new LocalWorkspace({ config: dir, cacheSeconds: 0 });
    const reader = 'karma_test-reader-token-0123456789';
    const { createHash } = await import('node:crypto');
    const app = createApi({
      workspace,
      authenticate: tokenAuth({ adminToken: ADMIN, file: { tokens: [{ name: 'reader', sha256: createHash('sha256').update(reader).digest('hex'), roles: ['read'] }] } }),
      version: 'test',
    });
    const client: ApiClient = {
      async request(method, path, options) {
        const r = await app.request(path, requestInit(method, options));
        return fromResponse(r, await r.text());
      },
    };
    ctx = { client, admin: ADMIN, reader, cli: cliJson(dir), proposals: true };
  }, 120_000);
  afterAll(async () => {
    await workspace.close();
    removeDir(tmp);
  });
  apiRouteSuite(() => ctx);
});

describe('the API over HTTP: a karma serve process', () => {
  let tmp: string;
  let ctx: SuiteContext;
  let server: ChildProcess;
  let stderr = '';
  let base: string;
  beforeAll(async () => {
    tmp = makeTempDir('karma-api-serve-');
    const dir = await seededExampleRepo(tmp);
    const tokens = join(tmp, 'tokens.json');
    const created = onlyJson(await karma('token', 'create', 'reader', '--role', 'read', '--tokens', tokens, '--json')) as { token: string };
    expect((fs.statSync(tokens).mode & 0o777).toString(8)).toBe('600');
    expect(fs.readFileSync(tokens, 'utf8')).not.toContain(created.token);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [BIN, 'serve', '--config', dir, '--port', String(port), '--tokens', tokens], {
      env: { ...process.env, KARMA_API_TOKEN: ADMIN, KARMA_TERRAFORM: ensureTerraform() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('listening on')) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`karma serve did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const client: ApiClient = {
      request: (method, path, options) => overHttp(`${base}${path}`, requestInit(method, options)),
    };
    ctx = { client, admin: ADMIN, reader: created.token, cli: cliJson(dir), proposals: true, service: true };
  }, 120_000);
  afterAll(async () => {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    removeDir(tmp);
  });
  apiRouteSuite(() => ctx);

  it('a change from request to result: planned on request, applied on POST /changes/{id}/apply (202), followed to succeeded', async () => {
    const { client } = ctx;
    const auth = { token: ADMIN };
    const body = { component: 'queue', env: 'karma-dev', input: { visibility_timeout: 90, max_receive_count: 5 }, message: 'queue: 90 s' };
    const proposed = S.Proposed.parse(JSON.parse((await client.request('POST', '/request-change', { ...auth, body })).text));
    expect(proposed.plan).toMatchObject({ status: 'planned' });
    const id = proposed.id!;
    expect((await client.request('POST', `/changes/${id}/apply`, { token: ctx.reader! })).status).toBe(403);
    const started = await client.request('POST', `/changes/${id}/apply`, auth);
    expect(started.status, started.text).toBe(202);
    expect(['queued', 'applying']).toContain(S.ApplyStarted.parse(JSON.parse(started.text)).change.status);
    let change = S.Change.parse(JSON.parse((await client.request('GET', `/changes/${id}`, auth)).text));
    const deadline = Date.now() + 150_000;
    while (['queued', 'applying'].includes(change.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      change = S.Change.parse(JSON.parse((await client.request('GET', `/changes/${id}`, auth)).text));
    }
    expect(change.status, JSON.stringify(change.history.at(-1))).toBe('succeeded');
    expect(change.history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-queued', 'change.apply-started', 'change.applied']);
    expect(new Set(change.history.map((e) => e.actor))).toEqual(new Set(['admin (KARMA_API_TOKEN)']));
    const execution = change.history.at(-1)!.execution!;
    const run = S.Execution.parse(JSON.parse((await client.request('GET', `/executions/${encodeURIComponent(execution)}`, auth)).text));
    expect(run.status).toBe('SUCCEEDED');
    // Applied: the queue is in sync with the merged config now.
    const queue = S.Component.parse(JSON.parse((await client.request('GET', '/components/karma-dev/queue?refresh=true', auth)).text));
    expect(queue.status).toBe('in-sync');
    expect(queue.inputs).toMatchObject({ visibility_timeout: 90 });
    // A second apply of the same change: it is no longer open.
    expect([404, 400, 409]).toContain((await client.request('POST', `/changes/${id}/apply`, auth)).status);
  }, 200_000);

  it('logs one JSON access line per request, without tokens or query values', async () => {
    const before = stderr.length;
    await (await fetch(`${base}/plan?env=karma-dev`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    // The line is written once the answer is sent: wait for it.
    const deadline = Date.now() + 5_000;
    const fresh = (): string | undefined => stderr.slice(before).split('\n').find((l) => l.includes('"msg":"request"') && l.includes('"path":"/plan"'));
    while (!fresh() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const line = fresh();
    expect(JSON.parse(line!)).toMatchObject({ level: 'info', msg: 'request', method: 'GET', path: '/plan', status: 200, ms: expect.any(Number) });
    expect(stderr).not.toContain(ADMIN);
    expect(stderr).not.toContain('env=karma-dev');
  });

  it('stops on SIGTERM with exit 0', async () => {
    server.kill('SIGTERM');
    const code = await new Promise((r) => server.once('exit', r));
    expect(code).toBe(0);
  });
});

describe('karma serve refuses to listen beyond this machine without tokens', () => {
  it('exits 2 with one line for --host 0.0.0.0 and no tokens', async () => {
    const saved = process.env['KARMA_API_TOKEN'];
    delete process.env['KARMA_API_TOKEN'];
    try {
      const run = await karma('serve', '--host', '0.0.0.0', '--config', EXAMPLE);
      expect(run.code).toBe(2);
      expect(run.stderr).toEqual([expect.stringMatching(/^karma: --host 0\.0\.0\.0 reaches beyond this machine: configure tokens first/)]);
    } finally {
      if (saved !== undefined) process.env['KARMA_API_TOKEN'] = saved;
    }
  });
});
