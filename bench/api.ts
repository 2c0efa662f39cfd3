/**
 * `npm run bench:api`: GET /graph?env=E under load (issue 12), against a real `karma serve` process.
 *
 *   node bench/api.ts [--components 5000] [--envs 3] [--seed 1] [--connections 50] [--duration 30]
 *                     [--no-lambda] [--dir DIR [--reuse]] [--write-docs] [--json]
 *
 * 1. Generates the synthetic config repo of the graph-build benchmark (bench/generate.ts: 5,000 components × 3
 *    environments by default) and seeds its local runtime with the same history of applies (bench/seed.ts).
 *    With --dir DIR --reuse, a repo already generated and seeded there is kept.
 * 2. Starts `karma serve --config DIR --port P` (bin/karma.ts, KARMA_API_TOKEN
 *    as the bearer token), times its start (spawn to "listening": the config is loaded before it listens), the
 *    first GET /graph?env=E (the first build: config + runtime + graph, then the view) and three more one after
 *    the other (warm-up; the fastest is "alone"), then drives GET /graph?env=E with autocannon (a separate
 *    process, --connections concurrent keep-alive clients for --duration seconds) and reads its latency
 *    percentiles, throughput, non-2xx answers and errors. E is the first environment. autocannon counts only the
 *    requests answered within the duration. The server's peak RSS (VmHWM, Linux) is read before it is stopped.
 *    Since issue 13, karma serve answers from its live graph (loaded before it listens, updated per change): the
 *    --cache rows of issue 12 are gone; bench/service.ts measures the service itself.
 * 3. The Lambda handler of the read routes (lib/api/lambda.ts apiHandler('read', ...)), in-process, over a
 *    LocalWorkspace of the same repo (the local backend, not Git + SSM + Neptune): in 3 fresh `node` processes,
 *    the import, a cold GET /graph?env=E (API Gateway 2.0 event, IAM caller), then 20 warm ones one at a time.
 *    --no-lambda skips it.
 * 4. Prints a table; --write-docs replaces the "HTTP API (issue 12)" section of docs/benchmarks.md.
 *
 * A script, never a timed test: timings depend on the machine and its load (the load average is printed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE } from '../lib/adapters/local/database.ts';
import { freePort } from '../scripts/servers/servers.ts';
import { envName, generateRepo } from './generate.ts';
import { seedRuntime } from './seed.ts';
import { autocannon, machine, writeBenchmarksSection } from './report.ts';

const REPO_ROOT = join(import.meta.dirname, '..');
const KARMA = join(REPO_ROOT, 'bin', 'karma.ts');
const TOKEN = 'karma_bench-api-token-0123456789';
const HEADING = '## HTTP API (issue 12)';

interface ServeRow {
  readonly cache: number;
  readonly startMs: number;
  readonly firstMs: number;
  /** One request alone, after the warm-up (the fastest of three in a row). */
  readonly aloneMs: number;
  readonly bytes: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly rps: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly peakRssMiB: number | null;
  readonly loadAfter: number;
}

interface Report {
  readonly date: string;
  readonly machine: string;
  readonly args: { components: number; envs: number; seed: number; connections: number; duration: number; env: string };
  readonly repo: { files: number; bytes: number; vertices: number; edges: number };
  readonly serve: readonly ServeRow[];
  readonly lambda: LambdaRow | null;
}


/** The server's peak resident set (VmHWM), in MiB; null where /proc is not there. */
function peakRss(pid: number | undefined): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function startServe(dir: string): Promise<{ child: ChildProcess; base: string; startMs: number; log: () => string }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [KARMA, 'serve', '--config', dir, '--port', String(port), '--log-level', 'warn'], {
    env: { ...process.env, KARMA_API_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  // Keep the head (the start line, any error) and drop the access log's bulk.
  child.stderr!.on('data', (d: Buffer) => (stderr.length < 100_000 ? (stderr += d.toString()) : undefined));
  while (!stderr.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`karma serve exited ${child.exitCode}:\n${stderr}`);
    if (performance.now() - started > 300_000) throw new Error(`karma serve did not listen within 300 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, base: `http://127.0.0.1:${port}`, startMs: performance.now() - started, log: () => stderr };
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  // It drains the requests in flight first: abandoned ones (autocannon's, at the end of a run) may build for long.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function measureServe(dir: string, env: string, cache: number, connections: number, duration: number): Promise<ServeRow> {
  process.stderr.write('karma serve: starting\n');
  const { child, base, startMs, log } = await startServe(dir);
  try {
    const url = `${base}/graph?env=${encodeURIComponent(env)}`;
    const t0 = performance.now();
    const first = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await first.text();
    const firstMs = performance.now() - t0;
    if (first.status !== 200) throw new Error(`GET /graph?env=${env} answered ${first.status}: ${body.slice(0, 300)}\n${log()}`);
    // Warm-up: three requests one after the other (JIT, the cached build), so no backlog is left in the server.
    const warm: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer();
      warm.push(performance.now() - t);
    }
    const aloneMs = Math.min(...warm);
    process.stderr.write(`  first GET /graph: ${Math.round(firstMs)} ms, ${(body.length / 1024 / 1024).toFixed(1)} MiB; alone ${Math.round(aloneMs)} ms; then ${duration} s × ${connections} clients\n`);
    const r = await autocannon(url, { connections, seconds: duration, token: TOKEN });
    return {
      cache,
      startMs,
      firstMs,
      aloneMs,
      bytes: body.length,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      mean: r.latency.mean,
      rps: r.requests.average,
      requests: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      peakRssMiB: peakRss(child.pid),
      loadAfter: loadavg()[0]!,
    };
  } finally {
    await stopServe(child);
  }
}

const ms = (x: number): string => Math.round(x).toLocaleString('en-US');

function serveRows(r: Report): string[][] {
  return r.serve.map((s) => [
    'karma serve (the live graph, issue 13)',
    ms(s.aloneMs),
    // No answer within the run: no latency to show (not 0).
    ...[s.p50, s.p90, s.p99, s.max].map((x) => (s.requests === 0 ? '—' : ms(x))),
    s.rps.toFixed(1),
    `${s.requests.toLocaleString('en-US')} / ${s.non2xx + s.errors + s.timeouts}`,
    ms(s.firstMs),
    s.peakRssMiB === null ? '—' : ms(s.peakRssMiB),
    s.loadAfter.toFixed(1),
  ]);
}

const HEADER = ['server', 'alone ms', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'req/s', 'requests / failed', 'first GET ms', 'peak RSS MiB', 'load after'];

function tableText(r: Report): string {
  const rows = [HEADER, ...serveRows(r)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  return [
    `GET /graph?env=${r.args.env}: ${r.args.components.toLocaleString('en-US')} components × ${r.args.envs} environments, ${r.args.connections} clients, ${r.args.duration} s each`,
    `${r.machine}; ${r.date}`,
    ...lines,
    `Lambda handler (in-process, local backend): ${lambdaText(r.lambda)}`,
  ].join('\n');
}

function markdown(r: Report): string {
  const s0 = r.serve[0];
  return [
    HEADING,
    '',
    `\`npm run bench:api\` (bench/api.ts), ${r.date}, ${r.machine}. The repo of the graph-build benchmark ` +
      `(bench/generate.ts, seed ${r.args.seed}): ${r.args.components.toLocaleString('en-US')} components × ${r.args.envs} environments, ` +
      `${r.repo.files.toLocaleString('en-US')} files, its runtime seeded by bench/seed.ts. ` +
      `\`GET /graph?env=${r.args.env}\` returns ${s0 ? `${(s0.bytes / 1024 / 1024).toFixed(1)} MiB of JSON` : 'the environment\'s graph'} ` +
      `(${r.repo.vertices.toLocaleString('en-US')} vertices, ${r.repo.edges.toLocaleString('en-US')} edges). autocannon (its own process) ` +
      `drives it with ${r.args.connections} concurrent keep-alive clients for ${r.args.duration} s (after three requests in a row: the warm-up), against a ` +
      '`karma serve` process on the same machine (so client and server share the cores).',
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...serveRows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
    '- **What is measured**: the latency each client sees, request sent to last byte received, over HTTP on 127.0.0.1, ' +
      'for the requests answered within the run (autocannon does not count one still waiting at the end). ' +
      '"alone": one request with no other load, the build cached (the view of one environment and its JSON). ' +
      'karma serve answers from its live graph (issue 13: no cache age; bench/service.ts measures it further). "first GET": the first request after the server listens (the ' +
      `view and its JSON); start to "listening" (the config loaded): ${r.serve.map((s) => `${ms(s.startMs)} ms`).join(', ')}.`,
    `- **Lambda handler**, in-process (lib/api/lambda.ts \`apiHandler('read', ...)\` with API Gateway 2.0 events, an IAM caller, over a ` +
      `LocalWorkspace of the same repo; one fresh \`node\` process per run: its import, the first GET /graph (cold: the first build and the view), then ` +
      `warm requests one at a time as one container serves them; 50 clients would be 50 containers): ${lambdaText(r.lambda)}. ` +
      'Not Lambda\'s own figures: no Lambda init, and the deployed read function builds from Git + SSM or reads the graph Neptune stores ' +
      '(bench/api-bundles.ts measures those bundles cold against the stand-ins at the example\'s scale).',
    '- Re-run: `npm run bench:api -- --write-docs` (options: --components, --envs, --connections, --duration, --dir DIR --reuse).',
    '',
  ].join('\n');
}


/** Lambda's limit on a synchronous invocation's response (the function's returned JSON), in bytes. */
const LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024;

interface LambdaRun {
  readonly importMs: number;
  readonly coldMs: number;
  readonly warmMs: readonly number[];
  readonly status: number;
  readonly responseBytes: number;
}

interface LambdaRow {
  readonly runs: number;
  readonly importMs: number;
  readonly coldMs: number;
  readonly warmP50: number;
  readonly warmP99: number;
  readonly warmMax: number;
  readonly warmCount: number;
  readonly responseBytes: number;
}

/** An API Gateway HTTP API (payload 2.0) event for GET /graph?env=E, signed by an IAM caller, accepting gzip. */
function graphEvent(env: string): Record<string, unknown> {
  return {
    version: '2.0',
    routeKey: 'GET /graph',
    rawPath: '/graph',
    rawQueryString: `env=${encodeURIComponent(env)}`,
    queryStringParameters: { env },
    headers: { host: 'api.example.com', 'user-agent': 'bench', 'accept-encoding': 'gzip' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'bench',
      domainName: 'api.example.com',
      http: { method: 'GET', path: '/graph', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: 'bench',
      routeKey: 'GET /graph',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      authorizer: { iam: { accountId: '123456789012', callerId: 'AIDABENCH', userArn: 'arn:aws:iam::123456789012:user/bench', userId: 'AIDABENCH' } },
    },
  };
}

/**
 * In a fresh process (`--lambda-child`): import the read function's handler (lib/api/lambda.ts apiHandler('read'))
 * over a LocalWorkspace of the generated repo, answer one GET /graph?env=E (cold: the workspace opened, the
 * first build, the view), then `warm` more one after the other (as one container serves them).
 */
async function lambdaChild(dir: string, env: string, warm: number): Promise<LambdaRun> {
  const t0 = performance.now();
  const { apiHandler } = await import('../lib/api/lambda.ts');
  const { LocalWorkspace } = await import('../lib/app/local-workspace.ts');
  const handler = apiHandler('read', async () => new LocalWorkspace({ config: dir }), { env: { KARMA_API_AUTH: 'iam' } }) as unknown as (event: unknown) => Promise<{ statusCode: number; body: string }>;
  const importMs = performance.now() - t0;
  const t1 = performance.now();
  const first = await handler(graphEvent(env));
  const coldMs = performance.now() - t1;
  const warmMs: number[] = [];
  for (let i = 0; i < warm; i++) {
    const t = performance.now();
    await handler(graphEvent(env));
    warmMs.push(performance.now() - t);
  }
  return { importMs, coldMs, warmMs, status: first.statusCode, responseBytes: Buffer.byteLength(JSON.stringify(first)) };
}

function runLambdaChild(dir: string, env: string, warm: number): Promise<LambdaRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'api.ts'), '--lambda-child', dir, '--env', env, '--warm', String(warm)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`the Lambda handler run exited ${code}:\n${err}`));
      const run = JSON.parse(out.trim().split('\n').pop()!) as LambdaRun;
      if (run.status !== 200) return reject(new Error(`the Lambda handler answered ${run.status}`));
      resolve(run);
    });
  });
}

async function measureLambda(dir: string, env: string, runs: number, warm: number): Promise<LambdaRow> {
  const all: LambdaRun[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`Lambda handler in a fresh process (${i + 1}/${runs}): import, a cold GET /graph, ${warm} warm\n`);
    all.push(await runLambdaChild(dir, env, warm));
  }
  const warmAll = all.flatMap((r) => r.warmMs).sort((a, b) => a - b);
  const at = (q: number): number => warmAll[Math.min(warmAll.length - 1, Math.ceil(q * warmAll.length) - 1)]!;
  return {
    runs,
    importMs: median(all.map((r) => r.importMs)),
    coldMs: median(all.map((r) => r.coldMs)),
    warmP50: at(0.5),
    warmP99: at(0.99),
    warmMax: warmAll.at(-1)!,
    warmCount: warmAll.length,
    responseBytes: all[0]!.responseBytes,
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function lambdaText(l: LambdaRow | null): string {
  if (!l) return 'not measured (--no-lambda)';
  const mib = (l.responseBytes / 1024 / 1024).toFixed(1);
  return (
    `import ${ms(l.importMs)} ms, cold GET ${ms(l.coldMs)} ms (medians of ${l.runs} fresh processes); warm p50 ${ms(l.warmP50)} ms, ` +
    `p99 ${ms(l.warmP99)} ms, max ${ms(l.warmMax)} ms (${l.warmCount} requests, one at a time); response ${mib} MiB (gzipped, base64: the client accepts gzip)` +
    (l.responseBytes > LAMBDA_RESPONSE_LIMIT ? ', OVER Lambda\'s 6 MB response limit' : '')
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '30' },
      dir: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'no-lambda': { type: 'boolean', default: false },
      'lambda-child': { type: 'string' },
      env: { type: 'string' },
      warm: { type: 'string', default: '20' },
    },
  });
  if (values['lambda-child']) {
    process.stdout.write(`${JSON.stringify(await lambdaChild(values['lambda-child'], values.env ?? envName(0), Number(values.warm)))}\n`);
    return;
  }
  const args = { components: Number(values.components), envs: Number(values.envs), seed: Number(values.seed), connections: Number(values.connections), duration: Number(values.duration), env: envName(0) };
  for (const [name, v] of Object.entries({ ...args, env: 1 })) if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  const startMachine = machine();
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'karma-bench-api-'));
  const info = join(dir, '.karma', 'bench-api-repo.json');
  try {
    let files: number;
    let bytes: number;
    if (values.reuse && existsSync(info) && existsSync(join(dir, '.karma', DATABASE_FILE))) {
      process.stderr.write(`reusing the repo in ${dir}\n`);
      ({ files, bytes } = JSON.parse(readFileSync(info, 'utf8')) as { files: number; bytes: number });
    } else {
      process.stderr.write(`generating ${args.components} × ${args.envs} into ${dir}\n`);
      const repo = generateRepo({ components: args.components, envs: args.envs, seed: args.seed, out: dir });
      process.stderr.write('seeding the runtime (recordApply)\n');
      await seedRuntime(repo, { seed: args.seed });
      ({ files, bytes } = repo);
      writeFileSync(info, JSON.stringify({ files, bytes }));
    }
    const serve: ServeRow[] = [];
    serve.push(await measureServe(dir, args.env, 0, args.connections, args.duration));
    // The size of what was served, once, from a fresh server (not timed).
    const { child, base } = await startServe(dir);
    let vertices = 0;
    let edges = 0;
    try {
      const graph = (await (await fetch(`${base}/graph?env=${args.env}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { vertices: unknown[]; edges: unknown[] };
      vertices = graph.vertices.length;
      edges = graph.edges.length;
    } finally {
      await stopServe(child);
    }
    const lambda = values['no-lambda'] ? null : await measureLambda(dir, args.env, 3, 20);
    const report: Report = { date: new Date().toISOString().slice(0, 10), machine: startMachine, args, repo: { files, bytes, vertices, edges }, serve, lambda };
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${tableText(report)}\n`);
    if (values['write-docs']) process.stderr.write(`wrote ${writeBenchmarksSection(HEADING, markdown(report))}\n`);
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
