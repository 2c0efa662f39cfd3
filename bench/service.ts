/**
 * `npm run bench:service`: the long-running service (issue 13) at scale, against a real `karma serve` process.
 *
 *   node bench/service.ts [--components 5000] [--envs 3] [--seed 1] [--connections 50] [--duration 20]
 *                         [--updates 30] [--dir DIR [--reuse]] [--write-docs] [--json]
 *
 * 1. Generates and seeds the synthetic repo of the graph-build benchmark (bench/generate.ts, bench/seed.ts).
 * 2. Starts `karma serve` on it: time to ready (GET /readyz 200: the config loaded, the runtime read, the graph
 *    built), the full load's own time from the service's log ("graph loaded", ms), and its RSS once loaded.
 * 3. Incremental updates: `--updates` times, another connection writes a new version of one output parameter of
 *    a mid-graph component (the SQLite store, as the pipeline would) and the bench waits until /healthz shows the
 *    graph's next version. Two figures: the update itself as the service logs it ("graph updated", ms: read the
 *    changed parameter, recompute the affected deployments, publish), and the end-to-end time from the write to
 *    the new version visible over HTTP (which includes the poll interval, 250 ms by default). Beside them: a full
 *    rebuild of the same graph (the "graph loaded" ms of a reload), the alternative the incremental path avoids.
 * 4. Load: GET /graph?env=E and one GraphQL query (the environment's components with their status, and each
 *    one's dependencies) with autocannon (a separate process), --connections clients for --duration seconds:
 *    p50 / p99 / max and requests per second. RSS (VmHWM, peak) read after.
 * 5. Prints a table; --write-docs replaces the "Service (issue 13)" section of docs/benchmarks.md.
 *
 * A script, never a timed test: timings depend on the machine and its load (the load average is printed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE, openDatabase } from '../lib/adapters/local/database.ts';
import { LocalRuntimeStore } from '../lib/adapters/local/runtime-store.ts';
import { DirectorySource } from '../lib/adapters/fs/directory-source.ts';
import { loadConfig } from '../lib/app/build.ts';
import { outputParamPath } from '../lib/core/model.ts';
import { freePort } from '../scripts/servers/servers.ts';
import { envName, generateRepo } from './generate.ts';
import { seedRuntime } from './seed.ts';
import { autocannon, machine, writeBenchmarksSection } from './report.ts';

const REPO_ROOT = join(import.meta.dirname, '..');
const KARMA = join(REPO_ROOT, 'bin', 'karma.ts');
const TOKEN = 'karma_bench-service-token-0123456789';
const HEADING = '## Service (issue 13)';

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const mib = (kb: number | null): string => (kb === null ? 'n/a' : `${(kb / 1024).toFixed(0)} MiB`);


/** VmRSS or VmHWM of a process, in kB; null without /proc. */
function memory(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

interface Serve {
  readonly child: ChildProcess;
  readonly base: string;
  readonly readyMs: number;
  logs(): Record<string, unknown>[];
}

async function startServe(dir: string): Promise<Serve> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, [KARMA, 'serve', '--config', dir, '--port', String(port), '--sync-interval', '0', '--log-level', 'info'], {
    env: { ...process.env, KARMA_API_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const kept: Record<string, unknown>[] = [];
  // The request lines are the bulk: keep the others.
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    const lines = stderr.split('\n');
    stderr = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{') || line.includes('"msg":"request"')) continue;
      try {
        kept.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`karma serve exited ${child.exitCode}: ${stderr}`);
    if (performance.now() - started > 600_000) throw new Error('karma serve was not ready in 600 s');
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, base, readyMs: performance.now() - started, logs: () => kept };
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}

async function graphVersion(base: string): Promise<number> {
  const health = (await (await fetch(`${base}/healthz`)).json()) as { service: { graph: { version: number } } };
  return health.service.graph.version;
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}
const quantiles = (xs: readonly number[]): Latency => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { p50: at(0.5), p99: at(0.99), max: s.at(-1)! };
};

interface LoadRow {
  readonly what: string;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly rps: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
}

async function load(label: string, url: string, connections: number, seconds: number, post?: string): Promise<LoadRow> {
  const r = await autocannon(url, { connections, seconds, token: TOKEN, ...(post !== undefined ? { post } : {}) });
  return { what: label, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, rps: r.requests.average, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors };
}

interface Report {
  readonly date: string;
  readonly machine: string;
  readonly args: { components: number; envs: number; connections: number; duration: number; updates: number };
  readonly readyMs: number;
  readonly loadMs: number;
  readonly rssLoadedKb: number | null;
  readonly update: Latency & { readonly recomputed: number };
  readonly visible: Latency;
  readonly fullRebuildMs: number;
  readonly load: readonly LoadRow[];
  readonly peakRssKb: number | null;
  readonly rssEndKb: number | null;
}

function tableText(r: Report): string {
  return [
    `karma serve at ${r.args.components} components × ${r.args.envs} environments (${r.machine})`,
    `  ready in ${ms(r.readyMs)} ms (the full load: ${ms(r.loadMs)} ms); RSS once loaded ${mib(r.rssLoadedKb)}`,
    `  one changed parameter, the update in the service: p50 ${ms(r.update.p50)} ms, p99 ${ms(r.update.p99)} ms, max ${ms(r.update.max)} ms (${r.update.recomputed} deployments recomputed at p50)`,
    `  written by another process → visible in /healthz: p50 ${ms(r.visible.p50)} ms, p99 ${ms(r.visible.p99)} ms, max ${ms(r.visible.max)} ms (includes the 250 ms poll)`,
    `  a full rebuild instead: ${ms(r.fullRebuildMs)} ms`,
    ...r.load.map((l) => `  ${l.what}: p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms, ${l.rps.toFixed(1)} req/s (${l.requests} requests, ${l.non2xx} non-2xx, ${l.errors} errors)`),
    `  peak RSS ${mib(r.peakRssKb)}, RSS at the end ${mib(r.rssEndKb)}`,
  ].join('\n');
}

function markdown(r: Report): string {
  return [
    HEADING,
    '',
    `Measured ${r.date} on ${r.machine}: \`npm run bench:service\` (bench/service.ts), a real \`karma serve\` over the ` +
      `synthetic repo of the graph-build benchmark, ${r.args.components.toLocaleString('en')} components × ${r.args.envs} environments, its runtime seeded.`,
    '',
    '| measure | figure |',
    '|---|---:|',
    `| start to ready (\`/readyz\` 200: config, runtime, graph) | ${ms(r.readyMs)} ms |`,
    `| the full load inside it | ${ms(r.loadMs)} ms |`,
    `| **one changed parameter: the incremental update** (p50 / p99 / max of ${r.args.updates}) | **${ms(r.update.p50)} / ${ms(r.update.p99)} / ${ms(r.update.max)} ms** |`,
    `| a full rebuild of the same graph (a reload) | ${ms(r.fullRebuildMs)} ms |`,
    `| written by another process → visible over HTTP (p50 / p99; includes the 250 ms poll) | ${ms(r.visible.p50)} / ${ms(r.visible.p99)} ms |`,
    ...r.load.map((l) => `| ${l.what}, ${r.args.connections} clients × ${r.args.duration} s: p50 / p99 / max, req/s | ${l.p50} / ${l.p99} / ${l.max} ms, ${l.rps.toFixed(1)} req/s (${l.non2xx} non-2xx, ${l.errors} errors) |`),
    `| RSS once loaded / peak / at the end | ${mib(r.rssLoadedKb)} / ${mib(r.peakRssKb)} / ${mib(r.rssEndKb)} |`,
    '',
    '- **The incremental update** is the service\'s own figure (its log line "graph updated", `ms`): read the changed ' +
      'parameter, recompute the deployments it affects and their dependents while their status changes, replace the ' +
      'changed elements of the snapshot. The parameter is an output of a component in the middle of the graph; its ' +
      'consumers turn stale-inputs. "Visible over HTTP" adds the poll interval (250 ms) and the request.',
    '- **Load**: autocannon in its own process on the same machine (client and server share the 2 cores). GET ' +
      '/graph?env=E is the environment\'s whole graph as JSON (serialised once per graph version); the GraphQL ' +
      'query asks every component of E with status, reason and its dependencies.',
    '- Re-run: `npm run bench:service -- --write-docs` (options: --components, --envs, --connections, --duration, --updates, --dir DIR --reuse).',
    '',
  ].join('\n');
}


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '20' },
      updates: { type: 'string', default: '30' },
      dir: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const args = { components: Number(values.components), envs: Number(values.envs), connections: Number(values.connections), duration: Number(values.duration), updates: Number(values.updates) };
  for (const [name, v] of Object.entries(args)) if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  const seed = Number(values.seed);
  const startMachine = machine();
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'karma-bench-service-'));
  const env = envName(0);
  const marker = join(dir, '.karma', 'bench-service-repo.json');
  try {
    if (!(values.reuse && existsSync(marker) && existsSync(join(dir, '.karma', DATABASE_FILE)))) {
      process.stderr.write(`generating ${args.components} × ${args.envs} into ${dir}\n`);
      const repo = generateRepo({ components: args.components, envs: args.envs, seed, out: dir });
      process.stderr.write('seeding the runtime\n');
      await seedRuntime(repo, { seed });
      writeFileSync(marker, JSON.stringify({ components: repo.components.map((c) => ({ name: c.name, layer: c.layer, outputs: c.outputs })) }));
    }
    const generated = (JSON.parse(readFileSync(marker, 'utf8')) as { components: { name: string; layer: number; outputs: string[] }[] }).components;
    const config = await loadConfig(new DirectorySource(dir));
    const layers = Math.max(...generated.map((c) => c.layer));
    const middle = generated.filter((c) => c.layer === Math.floor(layers / 2) && c.outputs.length > 0);

    process.stderr.write('starting karma serve\n');
    const serve = await startServe(dir);
    try {
      const loaded = serve.logs().find((l) => l['msg'] === 'graph loaded');
      const loadMs = Number(loaded?.['ms'] ?? NaN);
      const rssLoadedKb = memory(serve.child.pid, 'VmRSS');

      process.stderr.write(`${args.updates} incremental updates\n`);
      const db = openDatabase(join(dir, '.karma', DATABASE_FILE), { create: false });
      const store = new LocalRuntimeStore(db);
      const visible: number[] = [];
      for (let i = 0; i < args.updates; i++) {
        const c = middle[i % middle.length]!;
        const name = outputParamPath(config.project.parameterPrefix, env, c.name, c.outputs[0]!);
        const before = await graphVersion(serve.base);
        const t = performance.now();
        await store.put(name, `bench-${i}-${Date.now()}`);
        while ((await graphVersion(serve.base)) === before) await new Promise((r) => setTimeout(r, 5));
        visible.push(performance.now() - t);
      }
      db.close();
      const updates = serve.logs().filter((l) => l['msg'] === 'graph updated' && l['cause'] === 'runtime');
      const updateMs = quantiles(updates.map((l) => Number(l['ms'])));
      const recomputed = quantiles(updates.map((l) => Number(l['recomputed']))).p50;

      process.stderr.write('a full rebuild: one module file changed (its deployments\' config hash moves: a config change reloads)\n');
      const reloadsBefore = serve.logs().filter((l) => l['msg'] === 'graph loaded').length;
      const moduleFile = join(dir, 'modules', generated[0]!.name, 'main.tf');
      writeFileSync(moduleFile, `${readFileSync(moduleFile, 'utf8').trimEnd()}\n# bench: a module change ${Date.now()}\n`);
      const deadline = Date.now() + 600_000;
      while (serve.logs().filter((l) => l['msg'] === 'graph loaded').length === reloadsBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const fullRebuildMs = Number(serve.logs().filter((l) => l['msg'] === 'graph loaded').at(-1)?.['ms'] ?? NaN);

      process.stderr.write(`GET /graph?env=${env}: ${args.connections} clients × ${args.duration} s\n`);
      const rows: LoadRow[] = [];
      rows.push(await load(`GET /graph?env=${env}`, `${serve.base}/graph?env=${env}`, args.connections, args.duration));
      const query = JSON.stringify({ query: `{ environment(name: "${env}") { components { name status reason dependencies(depth: 1) { name status } } } }` });
      const probe = await fetch(`${serve.base}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: query });
      if (probe.status !== 200) throw new Error(`the GraphQL query answered ${probe.status}: ${(await probe.text()).slice(0, 500)}`);
      process.stderr.write(`POST /graphql: ${args.connections} clients × ${args.duration} s\n`);
      rows.push(await load('POST /graphql (components of E with status and dependencies)', `${serve.base}/graphql`, args.connections, args.duration, query));
      const report: Report = {
        date: new Date().toISOString().slice(0, 10),
        machine: startMachine,
        args,
        readyMs: serve.readyMs,
        loadMs,
        rssLoadedKb,
        update: { ...updateMs, recomputed },
        visible: quantiles(visible),
        fullRebuildMs,
        load: rows,
        peakRssKb: memory(serve.child.pid, 'VmHWM'),
        rssEndKb: memory(serve.child.pid, 'VmRSS'),
      };
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${tableText(report)}\n`);
      if (values['write-docs']) process.stderr.write(`wrote ${writeBenchmarksSection(HEADING, markdown(report))}\n`);
    } finally {
      await stopServe(serve.child);
    }
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
