/** What the benchmark scripts share: the machine line, replacing their section of docs/benchmarks.md, autocannon. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export const BENCHMARKS_FILE = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');

/** Cores, CPU, memory, Node and the load average now (a loaded machine explains slow figures). */
export function machine(): string {
  const c = cpus();
  return `${c.length} cores (${c[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(2)} at start`;
}

/** Replaces the section that starts with `heading` (up to the next `## `) with `section`, or appends it. */
export function writeBenchmarksSection(heading: string, section: string): string {
  let text = existsSync(BENCHMARKS_FILE) ? readFileSync(BENCHMARKS_FILE, 'utf8') : '# Benchmarks\n\nFigures from the scripts in bench/. Re-run them and update this page when the code they measure changes.\n\n';
  const start = text.indexOf(heading);
  if (start < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', start + heading.length);
    text = `${text.slice(0, start)}${section}${next < 0 ? '' : `\n${text.slice(next + 1)}`}`;
  }
  writeFileSync(BENCHMARKS_FILE, `${text.trimEnd()}\n`);
  return BENCHMARKS_FILE;
}

/** What autocannon's `-j` prints, the parts the benchmarks read. */
export interface AutocannonResult {
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

const AUTOCANNON = join(import.meta.dirname, '..', 'node_modules', 'autocannon', 'autocannon.js');

/**
 * autocannon in its own process (so the load generator does not share this process's event loop), JSON out:
 * `connections` keep-alive clients for `seconds`, a bearer `token`; `post`: a JSON body sent with POST.
 */
export function autocannon(url: string, options: { connections: number; seconds: number; token: string; post?: string }): Promise<AutocannonResult> {
  const args = [AUTOCANNON, '-c', String(options.connections), '-d', String(options.seconds), '-t', '120', '-j', '-H', `authorization=Bearer ${options.token}`];
  if (options.post !== undefined) args.push('-m', 'POST', '-H', 'content-type=application/json', '-b', options.post);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      resolve(JSON.parse(out) as AutocannonResult);
    });
  });
}
