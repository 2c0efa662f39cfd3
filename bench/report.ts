/** What the benchmark scripts share: the machine line, and replacing their section of docs/benchmarks.md. */
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
