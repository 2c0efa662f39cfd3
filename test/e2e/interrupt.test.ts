/**
 * Interrupting `karma pipeline run` mid-wave (the real CLI as a child process, a real Terraform whose apply
 * sleeps in a local-exec provisioner), then running it again at once:
 *   - SIGINT (Ctrl-C): the run stops its applies, waits for Terraform to exit, releases the lock, exits 130;
 *     the re-run proceeds without waiting.
 *   - kill -9: nothing can be cleaned up; the re-run finds the lock of a dead process on this host, takes it
 *     over at once (one line), and proceeds instead of waiting out the 6 h TTL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { DEFAULT_LOCK_TTL_SECONDS } from '../../lib/app/locks.ts';
import { makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const KARMA = join(import.meta.dirname, '..', '..', 'bin', 'karma.ts');
let terraform: string;

const SLOW_NETWORK = [
  'resource "terraform_data" "slow" {',
  '  provisioner "local-exec" {',
  '    command = "sleep $${KARMA_TEST_SLEEP:-0}"',
  '  }',
  '}',
  'output "vpc_id" { value = "vpc-1" }',
  '',
].join('\n');

const repos: string[] = [];
beforeAll(() => {
  terraform = ensureTerraform();
}, 20 * 60 * 1000);
afterAll(() => repos.forEach((r) => removeDir(join(r, '..'))));

interface Run {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function pipelineRun(repo: string, sleepSeconds: number): Run {
  const child = spawn(process.execPath, [KARMA, 'pipeline', 'run', '-c', repo, '--env', 'karma-dev', '--terraform', terraform], {
    env: { ...process.env, KARMA_TEST_SLEEP: String(sleepSeconds), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, exited };
}

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes (other than this one) whose command line mentions the repo: the runner's children, Terraform, sleep. */
function processesUsing(repo: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(repo) && !l.includes(' ps -eo'));
}

async function locks(repo: string) {
  const b = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
  try {
    return await b.locks.list();
  } finally {
    await b.close();
  }
}

describe('interrupting karma pipeline run mid-wave', () => {
  it('SIGINT: applies stopped, Terraform gone, lock released, exit 130; the re-run proceeds at once', async () => {
    // Prepare
    const repo = makeRepo(makeTempDir('karma-interrupt-'), { 'modules/network/main.tf': SLOW_NETWORK });
    repos.push(repo);
    const first = pipelineRun(repo, 120);
    await until('the network apply to start', () => first.stderr().includes('karma-dev/network: apply started'));
    await new Promise((r) => setTimeout(r, 2000)); // terraform init + apply under way
    // Act
    const sent = Date.now();
    first.child.kill('SIGINT');
    const exit = await first.exited;
    // Assess: stopped well before the 120 s sleep, cleanly
    expect(exit, first.stderr()).toEqual({ code: 130, signal: null });
    expect(Date.now() - sent).toBeLessThan(60_000);
    expect(first.stderr()).toContain('karma: interrupted: stopped karma-dev/network; released the lock on karma-dev. Run it again to go on.');
    expect(processesUsing(repo)).toEqual([]);
    expect(await locks(repo)).toEqual([]);

    // Act: at once, again (the sleep now short)
    const again = pipelineRun(repo, 0);
    const exit2 = await again.exited;
    // Assess
    expect(exit2, again.stderr()).toEqual({ code: 0, signal: null });
    expect(again.stderr()).not.toContain('waiting for');
    expect(again.stderr()).toContain('karma-dev/network: applied');
    expect(again.stderr()).toContain('karma-dev/app: applied');
  }, 300_000);

  it('kill -9: the re-run takes over the dead process\'s lock at once and says so, instead of waiting out the TTL', async () => {
    // Prepare
    const repo = makeRepo(makeTempDir('karma-interrupt-'), { 'modules/network/main.tf': SLOW_NETWORK });
    repos.push(repo);
    const first = pipelineRun(repo, 3);
    await until('the network apply to start', () => first.stderr().includes('karma-dev/network: apply started'));
    // Act: no chance to clean up
    first.child.kill('SIGKILL');
    await first.exited;
    const [held] = await locks(repo);
    expect(held).toMatchObject({ name: 'env-karma-dev', pid: first.child.pid, host: hostname() });
    // The default TTL (6 h): nothing here sets KARMA_LOCK_TTL.
    expect(Date.parse(held!.expiresAt) - Date.parse(held!.acquiredAt)).toBe(DEFAULT_LOCK_TTL_SECONDS * 1000);
    // Its `karma component apply` child was not killed with it: let it finish (it records network's apply), as
    // it would on a real machine, so the re-run's Terraform does not meet its state lock.
    await until('the orphaned apply to finish', () => processesUsing(repo).length === 0, 120_000);
    const again = pipelineRun(repo, 0);
    const exit = await again.exited;
    // Assess
    expect(exit, again.stderr()).toEqual({ code: 0, signal: null });
    const name = held!.owner.split(':').pop();
    expect(again.stderr()).toContain(`took over the lock on karma-dev: its holder ${name} (pid ${first.child.pid} on host ${hostname()}) is no longer running`);
    expect(again.stderr()).not.toContain('waiting for');
    expect(await locks(repo)).toEqual([]);
  }, 300_000);
});
