/**
 * Global setup of the `ui` project: Debian's Chromium (Playwright's own browser download is not reachable from
 * this machine; `apt-get install chromium` when it is missing, as root) and a fresh build of the web UI into
 * dist/web, which `karma serve` serves. No Chromium and no way to install it fails the run with what to do:
 * these tests are never skipped.
 */
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { buildWeb } from '../../scripts/build-web.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    chromium: string;
  }
}

const CANDIDATES = ['chromium', 'chromium-browser'];

function findChromium(): string | undefined {
  if (process.env['KARMA_CHROMIUM']) return process.env['KARMA_CHROMIUM'];
  for (const name of CANDIDATES) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return undefined;
}

export function ensureChromium(): string {
  const found = findChromium();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('the UI tests need Chromium: install it (apt-get install chromium) or set KARMA_CHROMIUM to a Chromium binary');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-liberation']]) {
    const run = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 15 * 60 * 1000 });
    if (run.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed: ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' ')}`);
  }
  const installed = findChromium();
  if (!installed) throw new Error('apt-get installed chromium, but no chromium binary is on PATH');
  return installed;
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('chromium', ensureChromium());
  await buildWeb();
}
