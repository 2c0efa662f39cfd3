/**
 * `karma --api URL …` against the real route table over HTTP: createApi on a LocalWorkspace over a seeded Git
 * clone of examples/acme-platform, served by @hono/node-server on 127.0.0.1 (as `karma serve` serves it). Each
 * read command prints over the API exactly what it prints locally with `-c DIR` (with --json and without);
 * propose-change records a proposal the API then lists; apply takes no decision without --yes or a terminal, and
 * with --yes the server applies it; refusals are one line with the CLI's exit code, and the token is never printed.
 * SigV4 over the wire: a server that checks the signature independently (test/support/sigv4.ts).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../lib/api/app.ts';
import { tokenAuth } from '../../lib/api/auth.ts';
import { LocalWorkspace } from '../../lib/app/local-workspace.ts';
import { ApiClient } from '../../lib/cli/api-client.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { main } from '../../lib/cli/main.ts';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { seededExampleRepo } from '../support/example-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { karma, onlyJson, type Run } from '../support/cli.ts';
import { verifySigV4 } from '../support/sigv4.ts';

const ADMIN = 'karma_test-client-admin-token-0123456789';
const READER = 'karma_test-client-reader-token-0123456789';

const listening = (server: Server | ServerType): Promise<number> =>
  new Promise((resolve) => {
    const port = (): number => (server.address() as AddressInfo).port;
    if (server.listening) resolve(port());
    else server.once('listening', () => resolve(port()));
  });

let tmp: string;
let dir: string;
let url: string;
let workspace: LocalWorkspace;
let server: ServerType;
const runs: Run[] = [];
const savedToken = process.env['KARMA_API_TOKEN'];

/** `karma --api URL ARGS` in process, kept to check that no output carries the token. */
async function remote(...argv: string[]): Promise<Run> {
  const run = await karma('--api', url, ...argv);
  runs.push(run);
  return run;
}
const local = (...argv: string[]): Promise<Run> => karma(...argv, '-c', dir);

beforeAll(async () => {
  delete process.env['KARMA_API_URL'];
  tmp = makeTempDir('karma-api-client-');
  dir = await seededExampleRepo(tmp);
  workspace = new LocalWorkspace({ config: dir, cacheSeconds: 0, terraform: ensureTerraform() });
  const reader = { name: 'reader', sha256: createHash('sha256').update(READER).digest('hex'), roles: ['read' as const] };
  const app = createApi({ workspace, authenticate: tokenAuth({ adminToken: ADMIN, file: { tokens: [reader] } }), version: 'test' });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  url = `http://127.0.0.1:${await listening(server)}`;
  process.env['KARMA_API_TOKEN'] = ADMIN;
}, 120_000);

afterAll(async () => {
  if (savedToken === undefined) delete process.env['KARMA_API_TOKEN'];
  else process.env['KARMA_API_TOKEN'] = savedToken;
  await new Promise((r) => server.close(r));
  await workspace.close();
  removeDir(tmp);
});

describe('karma --api URL: the reads print what they print locally', () => {
  it('graph order --env E (--json and text, --all)', async () => {
    for (const extra of [['--json'], [], ['--all', '--json'], ['--destroy']]) {
      const [r, l] = [await remote('graph', 'order', '--env', 'karma-dev', ...extra), await local('graph', 'order', '--env', 'karma-dev', ...extra)];
      expect(r.code).toBe(0);
      expect(r.stderr).toEqual([]);
      expect(r.stdout).toEqual(l.stdout);
    }
    expect((onlyJson(await remote('graph', 'order', '--env', 'karma-dev', '--json')) as { waves: string[][] }).waves.length).toBeGreaterThan(1);
  });

  it('graph show: the graph as JSON (its meta.builtAt aside), the table, a neighbourhood, the dot picture', async () => {
    const withoutBuiltAt = (run: Run): unknown => {
      const graph = onlyJson(run) as { meta: Record<string, unknown> };
      delete graph.meta['builtAt'];
      return graph;
    };
    expect(withoutBuiltAt(await remote('graph', 'show', '--json'))).toEqual(withoutBuiltAt(await local('graph', 'show', '--json')));
    const neighbourhood = ['--env', 'karma-dev', '--component', 'database', '--depth', '1'];
    expect(withoutBuiltAt(await remote('graph', 'show', ...neighbourhood, '--json'))).toEqual(withoutBuiltAt(await local('graph', 'show', ...neighbourhood, '--json')));
    for (const args of [[], ['--env', 'karma-prod'], neighbourhood, ['--env', 'karma-dev', '--format', 'dot'], ['--format', 'mermaid']]) {
      const [r, l] = [await remote('graph', 'show', ...args), await local('graph', 'show', ...args)];
      expect(r).toEqual({ code: 0, stdout: l.stdout, stderr: [] });
    }
    expect((await remote('graph', 'show')).stdout[0]).toMatch(/^ENV\s+COMPONENT\s+STATUS\s+DEPENDS ON\s+REASON\n/);
  });

  it('graph impact, graph why and component show (--json and text)', async () => {
    for (const argv of [
      ['graph', 'impact', 'network', 'karma-dev'],
      ['graph', 'impact', 'network', 'karma-dev', '--output', 'vpc_id'],
      ['graph', 'why', 'monitoring', 'karma-dev'],
      ['graph', 'why', 'network', 'karma-prod'],
      ['component', 'show', 'cache', 'karma-dev'],
      ['component', 'show', 'dns-zone', 'karma-shared'],
    ]) {
      for (const json of [true, false]) {
        const args = json ? [...argv, '--json'] : argv;
        const [r, l] = [await remote(...args), await local(...args)];
        expect(l.code).toBe(0);
        expect(r, args.join(' ')).toEqual({ code: 0, stdout: l.stdout, stderr: [] });
      }
    }
  });

  it('an unknown environment: one line naming the valid ones, exit 2 (and the problem as JSON with --json)', async () => {
    const run = await remote('graph', 'order', '--env', 'karma-qa');
    expect(run).toEqual({ code: 2, stdout: [], stderr: ['karma: unknown environment "karma-qa"; karma.yaml declares karma-dev, karma-prod, karma-shared'] });
    expect(run).toEqual(await local('graph', 'order', '--env', 'karma-qa'));
    const json = onlyJson(await remote('component', 'show', 'cache', 'karma-qa', '--json')) as { error: Record<string, unknown> };
    expect(json.error).toMatchObject({ name: 'ApiError', exitCode: 2, status: 404, known: ['karma-dev', 'karma-prod', 'karma-shared'] });
  });

  it('a token the server does not accept: one line with the hint, exit 2, the token not printed', async () => {
    process.env['KARMA_API_TOKEN'] = 'karma_wrong-token-9876543210';
    try {
      const run = await remote('graph', 'show', '--env', 'karma-dev');
      expect(run.code).toBe(2);
      expect(run.stdout).toEqual([]);
      expect(run.stderr).toEqual([expect.stringMatching(/^karma: a valid bearer token is needed .*; the server did not accept \$KARMA_API_TOKEN: check it is a token of this server/)]);
      expect(JSON.stringify(run)).not.toContain('karma_wrong-token');
    } finally {
      process.env['KARMA_API_TOKEN'] = ADMIN;
    }
  });

  it('a token without the role: a 403, one line with the hint, exit 2', async () => {
    process.env['KARMA_API_TOKEN'] = READER;
    try {
      const input = join(tmp, 'reader-input.json');
      fs.writeFileSync(input, JSON.stringify({ visibility_timeout: 60 }));
      expect((await remote('graph', 'order', '--env', 'karma-dev')).code).toBe(0);
      const run = await remote('propose-change', 'queue', 'karma-dev', '--input', input, '--dry-run');
      expect(run).toEqual({
        code: 2,
        stdout: [],
        stderr: ['karma: reader lacks the role "propose" that POST /request-change needs; the token in $KARMA_API_TOKEN lacks the role this needs: make one with karma token create NAME --role read|propose|apply'],
      });
    } finally {
      process.env['KARMA_API_TOKEN'] = ADMIN;
    }
  });

  it('no server at the URL: one line, exit 1', async () => {
    const dead = createServer();
    dead.listen(0, '127.0.0.1');
    const port = await listening(dead);
    await new Promise((r) => dead.close(r));
    const run = await karma('--api', `http://127.0.0.1:${port}`, 'audit');
    expect(run).toEqual({ code: 1, stdout: [], stderr: [`karma: could not reach the Karma API at http://127.0.0.1:${port}: ECONNREFUSED`] });
  });
});

describe('karma --api URL: the change workflow', () => {
  let id: string;
  let input: string;
  beforeAll(() => {
    input = join(tmp, 'queue-90.json');
    fs.writeFileSync(input, JSON.stringify({ visibility_timeout: 90, max_receive_count: 5 }));
  });

  it('propose-change --dry-run shows the diff and impact and records nothing', async () => {
    const run = await remote('propose-change', 'queue', 'karma-dev', '--input', input, '--dry-run');
    expect(run.code).toBe(0);
    expect(run.stdout.join('\n')).toMatch(/queue in karma-dev: inputs .*\n.*visibility_timeout[\s\S]*impact: what karma apply will apply in karma-dev[\s\S]*dry run: nothing recorded/);
    expect((onlyJson(await remote('proposals', '--json')) as { changes: unknown[] }).changes).toEqual([]);
  });

  it('inputs that do not validate: one line per problem with its file:line, as locally, exit 2, nothing recorded', async () => {
    const bad = join(tmp, 'queue-bad.json');
    fs.writeFileSync(bad, JSON.stringify({ visibility_timeout: 'ninety', max_receive_count: 0 }));
    const [r, l] = [await remote('propose-change', 'queue', 'karma-dev', '--input', bad), await local('propose-change', 'queue', 'karma-dev', '--input', bad)];
    expect(l.code).toBe(2);
    expect(l.stderr.join('\n').split('\n').length).toBeGreaterThan(1);
    expect(r).toEqual({ code: 2, stdout: [], stderr: l.stderr });
    expect((onlyJson(await remote('proposals', '--json')) as { changes: unknown[] }).changes).toEqual([]);
  });

  it('propose-change records a proposal with its plan; GET /changes and karma proposals list it', async () => {
    // Act
    const proposed = onlyJson(await remote('propose-change', 'queue', 'karma-dev', '--input', input, '-m', 'queue: 90 s', '--json')) as { id: string; plan: { status: string }; diff: unknown[] };

    // Assess
    expect(proposed.plan.status).toBe('planned');
    expect(proposed.diff).toContainEqual(expect.objectContaining({ path: 'visibility_timeout', kind: 'changed', after: 90 }));
    id = proposed.id;
    const listed = (await (await fetch(`${url}/changes`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { changes: { id: string; status: string }[] };
    expect(listed.changes).toContainEqual(expect.objectContaining({ id, status: 'proposed' }));
    expect((onlyJson(await remote('proposals', '--json')) as { changes: { id: string }[] }).changes.map((c) => c.id)).toEqual([id]);
    expect((onlyJson(await local('proposals', '--json')) as { proposals: { id: string }[] }).proposals.map((p) => p.id)).toEqual([id]);
    const table = await remote('proposals');
    expect(table.stdout.join('\n')).toMatch(new RegExp(`^ID\\s+COMPONENT\\s+ENV\\s+STATUS\\s+BASE\\s+CREATED\\s+MESSAGE\\n${id}\\s+queue\\s+karma-dev\\s+proposed\\s+`));
    // The audit log over the API is the local one.
    expect(onlyJson(await remote('audit', '--json'))).toEqual(onlyJson(await local('audit', '--json')));
  });

  it('apply without --yes and without a terminal: the plan shown, refused with exit 2, nothing applied', async () => {
    // Act
    const run = await remote('apply', id);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout[0]).toMatch(new RegExp(`^plan for queue in karma-dev \\(commit [0-9a-f]{8}, planned .*\\): Plan: `));
    expect(run.stderr).toEqual([`karma: refusing to apply the plan for queue in karma-dev (${id}) without a decision: there is no terminal to ask on; review the plan above, then run again with --yes`]);
    const change = (await (await fetch(`${url}/changes/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { status: string; history: { action: string }[] };
    expect(change.status).toBe('proposed');
    expect(change.history.map((e) => e.action)).toEqual(['change.requested']);
  });

  it('apply at a terminal: anything but "yes" declines, exit 1, nothing applied', async () => {
    // Arrange
    const questions: string[] = [];
    const io = { ...memoryIO(), interactive: true, ask: async (q: string) => (questions.push(q), 'y') };

    // Act
    const code = await main(['--api', url, 'apply', id], io);

    // Assess
    expect(code).toBe(1);
    expect(questions).toEqual([`apply the plan for queue in karma-dev (${id})? Only "yes" is accepted: `]);
    expect(io.stderr).toEqual(['karma: not applied (only "yes" is accepted); the plan stays saved until it expires']);
    const change = (await (await fetch(`${url}/changes/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { status: string; history: unknown[] };
    expect(change).toMatchObject({ status: 'proposed', history: [expect.objectContaining({ action: 'change.requested' })] });
    expect(change.history).toHaveLength(1);
  });

  it('apply --yes: the server applies the saved plan; audit --change and pipeline status follow it', async () => {
    // Act
    const started = onlyJson(await remote('apply', id, '--yes', '--json')) as { change: { id: string; status: string } };

    // Assess
    expect(started.change.id).toBe(id);
    expect(['queued', 'applying']).toContain(started.change.status);
    let entries: { action: string; execution?: string }[] = [];
    const deadline = Date.now() + 150_000;
    while (!entries.some((e) => e.action === 'change.applied' || e.action === 'change.apply-failed') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      entries = (onlyJson(await remote('audit', '--change', id, '--json')) as { entries: typeof entries }).entries;
    }
    expect(entries.map((e) => e.action)).toContain('change.applied');
    const execution = entries.find((e) => e.action === 'change.applied')!.execution!;
    const status = await remote('pipeline', 'status', execution, '--json');
    expect(status.code).toBe(0);
    expect(onlyJson(status)).toMatchObject({ executionArn: execution, status: 'SUCCEEDED' });
    const text = await remote('pipeline', 'status', execution);
    expect(text.stdout[0]).toMatch(new RegExp(`^${execution.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: SUCCEEDED \\(`));
    // Applied and merged: nothing open to apply any more.
    const again = await remote('apply', id, '--yes');
    expect(again).toEqual({ code: 2, stdout: [], stderr: [expect.stringMatching(new RegExp(`^karma: change ${id} is succeeded.*: its proposal is closed, there is nothing to apply$`))] });
  }, 200_000);

  it('no output carried the token', () => {
    expect(runs.length).toBeGreaterThan(20);
    expect(JSON.stringify(runs)).not.toContain(ADMIN);
  });
});

describe('SigV4 over the wire', () => {
  const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  let checker: Server;
  let base: string;
  const seen: { method: string; target: string; ok: boolean; reason: string; host: string | undefined }[] = [];
  beforeAll(async () => {
    // Checks every request's signature as API Gateway would, then answers what it checked.
    checker = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
        const verdict = verifySigV4({ method: req.method!, target: req.url!, headers, body: Buffer.concat(chunks).toString('utf8') }, SECRET, 'execute-api');
        seen.push({ method: req.method!, target: req.url!, ok: verdict.ok, reason: verdict.reason, host: req.headers.host });
        res.writeHead(verdict.ok ? 200 : 403, { 'content-type': 'application/json' });
        res.end(JSON.stringify(verdict.ok ? { verified: true } : { message: verdict.reason }));
      });
    });
    checker.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${await listening(checker)}`;
  });
  afterAll(() => new Promise((r) => checker.close(r)));

  it('a GET with a query, a POST with a body and a path with an encoded ARN all verify; another secret is a 403 with the IAM hint', async () => {
    // Arrange
    const client = new ApiClient(new URL(`${base}/prod`), { kind: 'sigv4', region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET } });
    const wrong = new ApiClient(new URL(base), { kind: 'sigv4', region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-the-secret' } });

    // Act
    await client.get('/plan', { env: 'karma-dev', mode: 'all' });
    await client.post('/request-change', { component: 'queue', env: 'karma-dev', input: { visibility_timeout: 90 } });
    await client.get(`/executions/${encodeURIComponent('arn:aws:states:eu-west-1:123456789012:execution:Karma:x')}`);
    const refused = await wrong.get('/graph').then(
      () => ({ exitCode: 0, message: 'answered' }),
      (e: unknown) => e as Error & { exitCode: number },
    );

    // Assess
    expect(seen.slice(0, 3)).toEqual([
      { method: 'GET', target: '/prod/plan?env=karma-dev&mode=all', ok: true, reason: 'valid', host: base.slice('http://'.length) },
      { method: 'POST', target: '/prod/request-change', ok: true, reason: 'valid', host: base.slice('http://'.length) },
      { method: 'GET', target: '/prod/executions/arn%3Aaws%3Astates%3Aeu-west-1%3A123456789012%3Aexecution%3AKarma%3Ax', ok: true, reason: 'valid', host: base.slice('http://'.length) },
    ]);
    expect(seen[3]).toMatchObject({ ok: false, reason: 'signature mismatch' });
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toMatch(/^signature mismatch \(HTTP 403 for GET \/graph\); the request was signed \(SigV4, eu-west-1\) with your AWS credentials: .*Karma API policy/);
    expect(refused.message).not.toContain('not-the-secret');
  });
});

describe('a server that misbehaves', () => {
  let odd: Server;
  let base: string;
  const hanging: IncomingMessage[] = [];
  beforeAll(async () => {
    odd = createServer((req, res) => {
      if (req.url === '/slow') return void hanging.push(req); // never answers
      if (req.url === '/down') {
        res.writeHead(503, { 'content-type': 'application/problem+json' });
        return void res.end(JSON.stringify({ type: 'urn:karma:problem:unavailable', title: 'Service unavailable', status: 503, detail: 'the runtime store failed: SSM throttled' }));
      }
      if (req.url === '/page') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html>a proxy login page</html>');
      }
      if (req.url === '/moved') {
        res.writeHead(302, { location: 'https://elsewhere.example.com/' });
        return void res.end();
      }
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    });
    odd.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${await listening(odd)}`;
  });
  afterAll(async () => {
    odd.closeAllConnections();
    await new Promise((r) => odd.close(r));
  });

  const failure = (p: Promise<unknown>): Promise<{ message: string; exitCode: number }> =>
    p.then(
      () => ({ message: 'answered', exitCode: 0 }),
      (e: unknown) => e as { message: string; exitCode: number },
    );

  it('no answer within the timeout, a 5xx, a body that is not JSON: one line each, exit 1; a redirect, not followed: exit 2; the token nowhere', async () => {
    // Arrange
    const token = 'karma_misbehave-token-0123456789';
    const client = new ApiClient(new URL(base), { kind: 'bearer', token }, { timeoutMs: 300 });

    // Act
    const errors = [
      await failure(client.get('/slow')),
      await failure(client.get('/down')),
      await failure(client.getJson('/page')),
      await failure(client.get('/moved')),
      await failure(client.get('/gateway')),
    ];

    // Assess
    expect(errors.map((e) => [e.exitCode, e.message])).toEqual([
      [1, `the Karma API at ${base} did not answer within 300 ms`],
      [1, 'the runtime store failed: SSM throttled'],
      [1, `the Karma API at ${base} answered /page with something that is not JSON (text/html)`],
      [2, `the Karma API at ${base} redirects GET /moved to https://elsewhere.example.com/ (HTTP 302); redirects are not followed, so the token or signature goes nowhere else: give --api the API's own URL`],
      [1, 'Internal Server Error (HTTP 502 for GET /gateway)'],
    ]);
    expect(JSON.stringify(errors)).not.toContain(token);
  });
});
