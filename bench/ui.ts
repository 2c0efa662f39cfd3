/**
 * The web UI on large environments, in Debian's Chromium (what test/ui drives), against a real `karma serve`:
 *
 *   node bench/ui.ts [--sizes 50,100,500,2000,5000] [--seed 1]      (npm run bench:ui)
 *
 * For each size, one environment of that many components (the synthetic repo of the graph-build benchmark,
 * its runtime seeded): the time from opening the graph view to the list shown, to the graph laid out and drawn,
 * the dagre layout alone, the picture's size over the wire, and the page's JS heap after; then the neighbourhood
 * of one component (depth 2), which is how a dense environment is meant to be read. The numbers go to
 * docs/benchmarks.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { freePort } from '../scripts/servers/servers.ts';
import { buildWeb } from '../scripts/build-web.ts';
import { ensureChromium } from '../test/ui/setup.ts';
import { MAX_DRAWN } from '../web/limits.ts';
import { envName, generateRepo } from './generate.ts';
import { machine, writeBenchmarksSection } from './report.ts';
import { seedRuntime } from './seed.ts';

const KARMA = join(import.meta.dirname, '..', 'bin', 'karma.ts');
const TOKEN = 'karma_bench-ui-token-0123456789';

async function startServe(dir: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [KARMA, 'serve', '--config', dir, '--port', String(port), '--sync-interval', '0', '--log-level', 'warn'], {
    env: { ...process.env, KARMA_API_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`karma serve exited ${child.exitCode}`);
    if (Date.now() - started > 600_000) throw new Error('karma serve was not ready in 600 s');
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { child, base };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Measured {
  readonly listMs: number;
  /** Undefined when the view did not draw the whole graph (over MAX_DRAWN). */
  readonly drawnMs: number | undefined;
  readonly layoutMs: number | undefined;
  readonly nodes: number | undefined;
  readonly heapMiB: number;
}

/** Opens `hash` in a fresh page load and measures until the list is shown and the graph drawn (or refused). */
async function open(page: Page, base: string, hash: string, components: number): Promise<Measured> {
  await page.goto(`${base}/${hash}`);
  const started = Date.now();
  await page.reload();
  await page.getByText(new RegExp(`^\\d+ of ${components} components shown$`)).waitFor({ timeout: 600_000 });
  const listMs = Date.now() - started;
  const drawn = page.locator('.graph-canvas[data-nodes]');
  const refused = page.locator('.too-large');
  await drawn.or(refused).waitFor({ timeout: 600_000 });
  const drawnMs = (await drawn.count()) > 0 ? Date.now() - started : undefined;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
  return {
    listMs,
    drawnMs,
    layoutMs: drawnMs === undefined ? undefined : Number(await drawn.getAttribute('data-layout-ms')),
    nodes: drawnMs === undefined ? undefined : Number(await drawn.getAttribute('data-nodes')),
    heapMiB: heap / 1024 / 1024,
  };
}

const ms = (n: number | undefined): string => (n === undefined ? '—' : `${n.toLocaleString('en')} ms`);

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '50,100,500,2000,5000' }, seed: { type: 'string', default: '1' } } });
const sizes = values.sizes.split(',').map(Number);
const executablePath = ensureChromium();
await buildWeb();
const rows: string[] = [];
for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'karma-bench-ui-'));
  let serve: { child: ChildProcess; base: string } | undefined;
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    process.stderr.write(`${n} components: generating and seeding\n`);
    const repo = generateRepo({ components: n, envs: 1, seed: Number(values.seed), out: join(dir, 'repo') });
    await seedRuntime(repo, { seed: Number(values.seed) });
    serve = await startServe(repo.dir);
    const env = envName(0);
    const picture = await fetch(`${serve.base}/graph?env=${env}&format=picture`, { headers: { authorization: `Bearer ${TOKEN}`, 'accept-encoding': 'identity' } });
    const bytes = (await picture.arrayBuffer()).byteLength;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((token) => sessionStorage.setItem('karma.token', token), TOKEN);
    const page = await context.newPage();
    const whole = await open(page, serve.base, `#/graph?env=${env}`, n);
    const focus = repo.components[Math.floor(repo.components.length / 2)]!.name;
    const near = await open(page, serve.base, `#/graph?env=${env}&focus=${focus}&depth=1`, n);
    process.stderr.write(`${n}: list ${whole.listMs} ms, drawn ${ms(whole.drawnMs)} (layout ${ms(whole.layoutMs)}), neighbourhood ${near.nodes} nodes drawn ${ms(near.drawnMs)} (layout ${ms(near.layoutMs)})\n`);
    rows.push(
      `| ${n.toLocaleString('en')} | ${(bytes / 1024).toFixed(0)} KiB | ${ms(whole.listMs)} | ${whole.drawnMs === undefined ? `not drawn whole (over ${MAX_DRAWN} nodes)` : `${ms(whole.drawnMs)} (${whole.nodes} nodes, layout ${ms(whole.layoutMs)})`} | ${near.nodes ?? '—'} nodes: ${ms(near.drawnMs)} (layout ${ms(near.layoutMs)}) | ${Math.max(whole.heapMiB, near.heapMiB).toFixed(0)} MiB |`,
    );
    await context.close();
  } finally {
    await browser.close();
    serve?.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const section = [
  '## The web UI (bench/ui.ts)',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}, Chromium (Debian), 1280×800, one environment of the synthetic repo.`,
  `Each a fresh page load: to the list of every component shown; to the whole graph laid out (dagre) and drawn, which the view does up to ${MAX_DRAWN} nodes (components and parameters); and to the neighbourhood of one component (depth 1) drawn, which is how a larger environment is read.`,
  '',
  '| components | picture (JSON) | list shown | whole graph drawn | neighbourhood drawn | JS heap |',
  '|---:|---:|---:|---|---|---:|',
  ...rows,
].join('\n');
writeBenchmarksSection('The web UI (bench/ui.ts)', section);
console.log(section);
