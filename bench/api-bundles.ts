/**
 * The API's Lambda bundles (lambdas/api-*.ts) as the CDK app builds them (lib/infra/pipeline.ts karmaFunction:
 * esbuild, ESM, node24, minified, the createRequire banner), their sizes and what is in them, then their cold
 * start in fresh `node` processes against the stand-ins:
 *
 *   node bench/api-bundles.ts [--runs 5] [--no-cold]
 *
 *   sizes   bytes of each bundle (the source map, which the functions also ship, apart), gzip -9 bytes (about
 *           what the deployment zip holds), the largest packages in it (esbuild metafile), and whether gremlin or
 *           isomorphic-git is in it. Exits 1 when the meta bundle holds either (it must open nothing).
 *   cold    per run, one fresh `node` process per case: the time to import the bundle, then to answer its first
 *           request, then a second one (warm): /healthz on api-meta; GET /plan?env=karma-dev and GET /graph on
 *           api-read; GET /audit on api-ops; GET /changes on api-changes (a clone of the remote, the audit log),
 *           with the config repo served over Git HTTP on loopback (git http-backend: a clone, as in Lambda), the
 *           runtime in SSM (moto, seeded from examples/acme-platform/runtime-seed.yaml), the audit table in
 *           DynamoDB and the state machine (moto), the graph in Gremlin Server. Medians of --runs. Moto and Gremlin Server are started here
 *           (scripts/servers/servers.ts).
 *
 * A script, never a timed test: timings depend on the machine and its load. Not Lambda's own figures: no
 * Lambda init (runtime start, bundle download), no VPC, no network latency to SSM or Neptune.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { build, type Metafile } from 'esbuild';
import { API_FUNCTION_ENTRIES, API_GROUPS, type ApiGroup } from '../lib/core/pipeline-contract.ts';
import { main } from '../lib/cli/main.ts';
import { openAwsReadWorkspace } from '../lib/app/aws-workspace/reads.ts';
import { startGremlinServer, startMotoServer } from '../scripts/servers/servers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'acme-platform');
/** lib/infra/pipeline.ts karmaFunction's banner: CommonJS dependencies (gremlin, ws) call require(). */
const BANNER = "import{createRequire as __karmaRequire}from'node:module';const require=__karmaRequire(import.meta.url);";
const FORBIDDEN_IN_META = ['gremlin', 'isomorphic-git'];

export interface BundleRow {
  readonly group: ApiGroup;
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  /** Bytes in the bundle per package (node_modules/<name>) or `karma` for this repo's code, largest first. */
  readonly packages: readonly (readonly [string, number])[];
}

function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return m ? m[1]! : 'karma';
}

function byPackage(metafile: Metafile, out: string): [string, number][] {
  const sums = new Map<string, number>();
  const output = Object.entries(metafile.outputs).find(([name]) => name.endsWith(out))?.[1];
  for (const [path, input] of Object.entries(output?.inputs ?? {})) sums.set(packageOf(path), (sums.get(packageOf(path)) ?? 0) + input.bytesInOutput);
  return [...sums].sort((a, b) => b[1] - a[1]);
}

/** Bundles every API function into `dir` as karmaFunction does. */
export async function bundleApi(dir: string): Promise<BundleRow[]> {
  const rows: BundleRow[] = [];
  for (const group of API_GROUPS) {
    const file = join(dir, `api-${group}.mjs`);
    const result = await build({
      entryPoints: [join(ROOT, API_FUNCTION_ENTRIES[group])],
      outfile: file,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      banner: { js: BANNER },
      metafile: true,
      logLevel: 'error',
    });
    const bytes = readFileSync(file);
    rows.push({ group, file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length, mapBytes: statSync(`${file}.map`).size, packages: byPackage(result.metafile, `api-${group}.mjs`) });
  }
  return rows;
}

const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;

/** git http-backend on loopback, no auth: a clone over HTTP as the functions make one. */
function gitServer(root: string): Server {
  return createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    const cgi = spawn('git', ['http-backend'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: path, QUERY_STRING: query, REQUEST_METHOD: req.method ?? 'GET', CONTENT_TYPE: req.headers['content-type'] ?? '', ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}) },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const crlf = out.indexOf('\r\n\r\n');
      const split = crlf >= 0 ? crlf : out.indexOf('\n\n');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of out.subarray(0, split).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (line.slice(0, i).trim().toLowerCase() === 'status') status = Number(line.slice(i + 1).trim().split(' ')[0]);
        else if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      res.writeHead(status, headers).end(out.subarray(split + (crlf >= 0 ? 4 : 2)));
    });
  });
}

/** An API Gateway HTTP API 2.0 event with the IAM authorizer's context. */
function event(path: string, query: Record<string, string> = {}): unknown {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: { host: 'api.example' },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: { http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' }, requestId: 'bench', routeKey: '$default', stage: '$default', authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/bench' } } },
    body: null,
    isBase64Encoded: false,
  };
}

/** Runs in the fresh process: import, first request, second request; prints the three times. */
const CHILD = `
const [file, events] = [process.env.BENCH_BUNDLE, JSON.parse(process.env.BENCH_EVENTS)];
const t0 = performance.now();
const { handler } = await import(file);
const t1 = performance.now();
const out = [];
for (const e of events) { const s = performance.now(); const r = await handler(e); out.push({ ms: performance.now() - s, status: r.statusCode, ...(r.statusCode === 200 ? {} : { body: r.body }) }); }
console.log(JSON.stringify({ importMs: t1 - t0, requests: out }));
process.exit(0);
`;

function runChild(env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

interface ColdCase {
  readonly name: string;
  readonly group: ApiGroup;
  readonly events: readonly unknown[];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function cold(rows: readonly BundleRow[], runs: number, work: string): Promise<void> {
  const [gremlin, moto] = await Promise.all([startGremlinServer(), startMotoServer()]);
  let server: Server | undefined;
  try {
    // The example as a Git remote, its applies recorded in SSM on moto under a prefix of its own.
    const repo = join(work, 'repo');
    cpSync(EXAMPLE, repo, { recursive: true, filter: (src) => !src.includes(`${EXAMPLE}/.karma`) });
    const prefix = `/karma-bench-${Date.now().toString(36)}`;
    writeFileSync(join(repo, 'karma.yaml'), readFileSync(join(repo, 'karma.yaml'), 'utf8').replace(/^parameterPrefix: .*$/m, `parameterPrefix: ${prefix}`));
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=b', '-c', 'user.email=b@example.com', ...args], { stdio: 'ignore' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'config');
    execFileSync('git', ['clone', '-q', '--bare', repo, join(work, 'served', 'config.git')]);
    server = gitServer(join(work, 'served'));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config.git`;
    const aws = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: moto.endpoint };
    Object.assign(process.env, aws);
    // The audit table and the state machine the changes and ops functions use (moto).
    const table = `karma-audit-bench-${Date.now().toString(36)}`;
    const ddb = new DynamoDBClient({});
    const key = (name: string, type: 'HASH' | 'RANGE') => ({ AttributeName: name, KeyType: type });
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['log', 'id', 'change'].map((n) => ({ AttributeName: n, AttributeType: 'S' as const })),
        KeySchema: [key('log', 'HASH'), key('id', 'RANGE')],
        GlobalSecondaryIndexes: [{ IndexName: 'byChange', KeySchema: [key('change', 'HASH'), key('id', 'RANGE')], Projection: { ProjectionType: 'ALL' } }],
      }),
    );
    ddb.destroy();
    const sfn = new SFNClient({});
    const definition = readFileSync(join(ROOT, 'statemachines', 'pipeline.asl.json'), 'utf8');
    const stateMachineArn = (await sfn.send(new CreateStateMachineCommand({ name: `karma-bench-${Date.now().toString(36)}`, definition, roleArn: 'arn:aws:iam::123456789012:role/karma-sfn' }))).stateMachineArn!;
    sfn.destroy();
    const env = { ...aws, KARMA_NEPTUNE_ENDPOINT: gremlin.endpoint, KARMA_AUDIT_TABLE: table, KARMA_STATE_MACHINE_ARN: stateMachineArn };
    Object.assign(process.env, env);
    const quiet = { out: () => undefined, err: () => undefined, color: false };
    if ((await main(['runtime', 'record', join(repo, 'runtime-seed.yaml'), '--config', repo, '--backend', 'aws'], quiet)) !== 0) throw new Error('seeding SSM failed');
    // Neptune holds the graph the pipeline wrote (GET /graph reads it).
    if ((await main(['graph', 'build', '--config', repo, '--backend', 'aws'], quiet)) !== 0) throw new Error('writing the graph failed');

    const cases: ColdCase[] = [
      { name: 'api-meta: GET /healthz', group: 'meta', events: [event('/healthz'), event('/healthz')] },
      { name: 'api-read: GET /plan?env=karma-dev', group: 'read', events: [event('/plan', { env: 'karma-dev' }), event('/plan', { env: 'karma-dev' })] },
      { name: 'api-read: GET /graph', group: 'read', events: [event('/graph'), event('/graph')] },
      { name: 'api-ops: GET /audit', group: 'ops', events: [event('/audit'), event('/audit')] },
      { name: 'api-changes: GET /changes', group: 'changes', events: [event('/changes'), event('/changes')] },
    ];
    const results = new Map<string, { importMs: number[]; first: number[]; second: number[]; wall: number[] }>();
    for (let run = 0; run < runs; run++) {
      for (const c of cases) {
        const home = mkdtempSync(join(work, 'home-'));
        const started = performance.now();
        // Not spawnSync: the Git server runs in this process and must answer the child.
        const child = await runChild({
          ...process.env,
          ...env,
          HOME: home,
          KARMA_CONFIG: url,
          KARMA_HISTORY_DIR: join(home, 'history'),
          POWERTOOLS_LOG_LEVEL: 'CRITICAL',
          BENCH_BUNDLE: rows.find((r) => r.group === c.group)!.file,
          BENCH_EVENTS: JSON.stringify(c.events),
        });
        const wall = performance.now() - started;
        if (child.status !== 0) throw new Error(`${c.name}: exited ${child.status}: ${child.stderr.trim()}`);
        const out = JSON.parse(child.stdout.trim().split('\n').pop()!) as { importMs: number; requests: { ms: number; status: number; body?: string }[] };
        const bad = out.requests.find((r) => r.status !== 200);
        if (bad) throw new Error(`${c.name}: answered ${bad.status}: ${bad.body ?? ''}`);
        const r = results.get(c.name) ?? { importMs: [], first: [], second: [], wall: [] };
        r.importMs.push(out.importMs);
        if (out.requests[0]) r.first.push(out.requests[0].ms);
        if (out.requests[1]) r.second.push(out.requests[1].ms);
        r.wall.push(wall);
        results.set(c.name, r);
      }
    }
    // What GET /graph would cost from Neptune alone (reads.storedGraph(), behind the Workspace change proposed in
    // docs/api-serverless.md) against the build from Git + SSM it makes today; fresh workspaces, in this process.
    const sources = { current: [] as number[], snapshot: [] as number[] };
    for (let i = 0; i < runs; i++) {
      const home = mkdtempSync(join(work, 'home-'));
      const ws = await openAwsReadWorkspace({ ...process.env, ...env, HOME: home, KARMA_CONFIG: url, KARMA_HISTORY_DIR: join(home, 'history') });
      let t = performance.now();
      await ws.current();
      sources.current.push(performance.now() - t);
      t = performance.now();
      if (!(await ws.reads.storedGraph())) throw new Error('Neptune holds no graph');
      sources.snapshot.push(performance.now() - t);
      await ws.close();
    }
    console.log(`\nthe whole graph, first read of a fresh workspace (in this process, medians of ${runs}): built from Git + SSM ${median(sources.current).toFixed(0)} ms; read from Neptune ${median(sources.snapshot).toFixed(0)} ms`);

    console.log(`\ncold start (fresh node ${process.version} process; medians of ${runs}; examples/acme-platform over Git HTTP, SSM on moto, Gremlin Server)`);
    console.log('| case | import | first request | second request (warm) | process wall |');
    console.log('|---|---:|---:|---:|---:|');
    const ms = (v: number[]) => (v.length ? `${median(v).toFixed(0)} ms` : '–');
    for (const c of cases) {
      const r = results.get(c.name)!;
      console.log(`| ${c.name} | ${ms(r.importMs)} | ${ms(r.first)} | ${ms(r.second)} | ${ms(r.wall)} |`);
    }
  } finally {
    if (server) await new Promise((r) => server!.close(r));
    await Promise.all([gremlin.stop(), moto.stop()]);
  }
}

async function run(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-cold': { type: 'boolean', default: false } } });
  const work = mkdtempSync(join(tmpdir(), 'karma-api-bundles-'));
  try {
    const rows = await bundleApi(work);
    console.log('| function | bundle | gzip -9 | source map | largest parts | gremlin | isomorphic-git |');
    console.log('|---|---:|---:|---:|---|---|---|');
    for (const r of rows) {
      const has = (p: string) => (r.packages.some(([name]) => name === p) ? 'yes' : 'no');
      const parts = r.packages.slice(0, 5).map(([name, n]) => `${name} ${kib(n)}`).join(', ');
      console.log(`| api-${r.group} | ${kib(r.bytes)} | ${kib(r.gzipBytes)} | ${kib(r.mapBytes)} | ${parts} | ${has('gremlin')} | ${has('isomorphic-git')} |`);
    }
    const meta = rows.find((r) => r.group === 'meta')!;
    const leaked = FORBIDDEN_IN_META.filter((p) => meta.packages.some(([name]) => name === p));
    if (leaked.length > 0) {
      console.error(`api-meta bundles ${leaked.join(' and ')}: /healthz must open nothing`);
      return 1;
    }
    if (!values['no-cold']) await cold(rows, Number(values.runs), work);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exitCode = await run();
