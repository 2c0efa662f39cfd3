/**
 * Provider installs with and without the shared plugin cache (`npm run bench:providers`):
 *
 *   node bench/providers.ts [--components 8] [--parallel 1] [--keep]
 *
 * A config repo of N components that all require one real provider (test/fixtures/provider, built with Go
 * and served from a packed filesystem mirror: no registry), half with a committed .terraform.lock.hcl,
 * half without. The local pipeline (`karma pipeline run`: one `karma component apply` process per
 * component, a real terraform on PATH) applies them three times, each time in a new environment (fresh
 * working directories, as in CodeBuild or a new environment locally):
 *
 *   no cache      KARMA_PLUGIN_CACHE=off: Terraform's default, every working directory unpacks its own copy
 *   cache, cold   the shared cache starts empty: the first init installs, the others link
 *   cache, warm   the cache already holds the provider: every init links
 *
 * Prints each component's `terraform init` time (from the pipeline's result rows) and the disk used by the
 * working directories and the cache (du, links not followed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLocalPipeline } from '../lib/app/pipeline/local-run.ts';
import { makeTempDir, removeDir } from '../test/helpers/config-repo.ts';
import { makeProviderMirror, providerModule } from '../test/helpers/provider.ts';
import { ensureTerraform } from '../test/helpers/terraform.ts';

const { values } = parseArgs({ options: { components: { type: 'string', default: '8' }, parallel: { type: 'string', default: '1' }, keep: { type: 'boolean', default: false } } });
const count = Number(values.components);
const parallel = Number(values.parallel);
const SCENARIOS = [
  { env: 'no-cache', label: 'no cache', extra: { KARMA_PLUGIN_CACHE: 'off' } },
  { env: 'cache-cold', label: 'cache, cold', extra: {} },
  { env: 'cache-warm', label: 'cache, warm', extra: {} },
] as const;

const terraform = ensureTerraform();
const root = makeTempDir('karma-bench-providers-');
const mirror = makeProviderMirror(root);
for (const k of ['TF_PLUGIN_CACHE_DIR', 'TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE', 'KARMA_PLUGIN_CACHE', 'KARMA_WORK_DIR']) delete process.env[k];
process.env['TF_CLI_CONFIG_FILE'] = mirror.cliConfig;

const kib = (path: string): number => Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]);
const mib = (k: number): string => `${(k / 1024).toFixed(1)} MiB`;

try {
  // The lock file a user commits: what `terraform init` writes.
  const scratch = join(root, 'scratch');
  mkdirSync(scratch);
  writeFileSync(join(scratch, 'main.tf'), providerModule());
  execFileSync(terraform, ['init', '-input=false', '-no-color'], { cwd: scratch, stdio: 'pipe' });
  const lock = readFileSync(join(scratch, '.terraform.lock.hcl'), 'utf8');

  const dir = join(root, 'repo');
  const components = Array.from({ length: count }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const locked = (c: string): boolean => Number(c.slice(1)) % 2 === 1;
  const files: Record<string, string> = {
    'karma.yaml': ['project: bench-providers', 'environments:', ...SCENARIOS.flatMap((s) => [`  ${s.env}:`, '    region: eu-west-1', '    account: "222222222222"']), ''].join('\n'),
    'modules/plain/main.tf': providerModule(),
    'modules/locked/main.tf': providerModule(),
    'modules/locked/.terraform.lock.hcl': lock,
  };
  for (const c of components) {
    files[`components/${c}/component.yaml`] = [`description: ${c}`, `terraform: ../../modules/${locked(c) ? 'locked' : 'plain'}`, 'outputs: [name]', ''].join('\n');
    for (const s of SCENARIOS) files[`environments/${s.env}/${c}.json`] = JSON.stringify({ name: `${c} in ${s.env}` });
  }
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }

  const init: Record<string, Record<string, number>> = {};
  const disk: Record<string, { work: number; cache: number; wall: number }> = {};
  for (const s of SCENARIOS) {
    Object.assign(process.env, s.extra);
    const t0 = performance.now();
    const result = await runLocalPipeline({ configDir: dir, input: { trigger: 'manual', env: s.env }, terraform, maxParallel: parallel, waitMillis: 10 });
    const wall = performance.now() - t0;
    for (const k of Object.keys(s.extra)) delete process.env[k];
    if (result.status !== 'SUCCEEDED') throw new Error(`${s.label}: ${result.error}: ${result.cause}`);
    init[s.env] = Object.fromEntries((result.summary?.rows ?? []).map((r) => [r.component, r.initMillis ?? NaN]));
    const work = join(dir, '.karma', 'work');
    disk[s.env] = { work: kib(join(work, s.env)), cache: s.env === 'no-cache' ? 0 : kib(join(work, '.plugin-cache')), wall };
  }

  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(`\n${count} components (odd ones with a committed lock file), --parallel ${parallel}, provider zip ${mib(mirror.zipBytes / 1024)}, ${terraformVersion()}, load ${load}\n`);
  console.log(`| component | lock file | ${SCENARIOS.map((s) => `init, ${s.label}`).join(' | ')} |`);
  console.log(`| --- | --- | ${SCENARIOS.map(() => '---:').join(' | ')} |`);
  for (const c of components) console.log(`| ${c} | ${locked(c) ? 'committed' : 'none'} | ${SCENARIOS.map((s) => `${init[s.env]![c]} ms`).join(' | ')} |`);
  const sum = (env: string): number => Object.values(init[env]!).reduce((a, b) => a + b, 0);
  console.log(`| **all inits** | | ${SCENARIOS.map((s) => `**${(sum(s.env) / 1000).toFixed(2)} s**`).join(' | ')} |`);
  console.log(`| whole pipeline run (wall) | | ${SCENARIOS.map((s) => `${(disk[s.env]!.wall / 1000).toFixed(1)} s`).join(' | ')} |`);
  console.log(`| disk: working directories | | ${SCENARIOS.map((s) => mib(disk[s.env]!.work)).join(' | ')} |`);
  console.log(`| disk: shared cache (after the run) | | ${SCENARIOS.map((s) => (s.env === 'no-cache' ? '—' : mib(disk[s.env]!.cache))).join(' | ')} |`);
} finally {
  if (values.keep) console.log(`kept ${root}`);
  else removeDir(root);
}

function terraformVersion(): string {
  return execFileSync(terraform, ['version'], { encoding: 'utf8' }).split('\n')[0]!;
}
