/**
 * A real Terraform provider for the provider-cache tests and bench, served without any registry:
 * test/fixtures/provider (terraform-plugin-framework) built with `go build` (~1 min the first time, cached in
 * .servers/provider keyed by the source's digest), zipped, and laid out as a PACKED filesystem mirror
 * (`<host>/<ns>/<type>/terraform-provider-<type>_<version>_<os>_<arch>.zip`). Terraform unpacks a packed
 * mirror's zip into each working directory (or into the plugin cache); an unpacked mirror would be linked
 * directly and hide the cost this measures.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { terraformPlatform } from '../../lib/adapters/terraform/plugin-cache.ts';

const REPO = join(import.meta.dirname, '..', '..');
const SOURCE = join(REPO, 'test', 'fixtures', 'provider');
const CACHE = join(REPO, '.servers', 'provider');

/** The provider's address, as modules write it in required_providers. */
export const PROVIDER_SOURCE = 'karma.test/karma/karmatest';
export const PROVIDER_VERSION = '0.1.0';

export interface ProviderMirror {
  /** The mirror's root (give it to Terraform with `cliConfig`). */
  readonly dir: string;
  /** A CLI config file that installs every provider from the mirror only (for TF_CLI_CONFIG_FILE). */
  readonly cliConfig: string;
  /** Bytes of the packed zip. */
  readonly zipBytes: number;
}

function sourceDigest(): string {
  const h = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) h.update(f).update(readFileSync(join(SOURCE, f)));
  return h.digest('hex').slice(0, 16);
}

/** Builds (or reuses) the provider zip for this platform; fails with the build's last lines, never skips. */
export function ensureProviderZip(): string {
  const platform = terraformPlatform();
  const dir = join(CACHE, sourceDigest());
  const zip = join(dir, `terraform-provider-karmatest_${PROVIDER_VERSION}_${platform}.zip`);
  if (existsSync(zip)) return zip;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) throw new Error('the provider-cache tests build a test provider with Go; install a Go toolchain (1.24+)');
  const work = join(dir, `build-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const binary = `terraform-provider-karmatest_v${PROVIDER_VERSION}`;
  const built = spawnSync('go', ['build', '-trimpath', '-o', join(work, binary), '.'], {
    cwd: SOURCE,
    env: { ...process.env, CGO_ENABLED: '0' },
    encoding: 'utf8',
    timeout: 15 * 60 * 1000,
  });
  if (built.status !== 0) throw new Error(`go build of test/fixtures/provider failed: ${(built.stderr || built.stdout || '').trim().split('\n').slice(-3).join(' ')}`);
  // zip (Info-ZIP) is on these machines; Python's zipfile is the fallback.
  const zipped =
    spawnSync('zip', ['-q', '-j', join(work, 'p.zip'), join(work, binary)]).status === 0 ||
    spawnSync('python3', ['-c', 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1],"w",zipfile.ZIP_DEFLATED); z.write(sys.argv[2], sys.argv[3]); z.close()', join(work, 'p.zip'), join(work, binary), binary]).status === 0;
  if (!zipped) throw new Error('cannot zip the test provider: install zip or python3');
  renameSync(join(work, 'p.zip'), zip);
  rmSync(work, { recursive: true, force: true });
  return zip;
}

/** A packed filesystem mirror holding the test provider, and a CLI config that uses only it. */
export function makeProviderMirror(root: string): ProviderMirror {
  const zip = ensureProviderZip();
  const dir = join(root, 'mirror');
  const target = join(dir, ...PROVIDER_SOURCE.split('/'));
  mkdirSync(target, { recursive: true });
  const bytes = readFileSync(zip);
  writeFileSync(join(target, zip.slice(zip.lastIndexOf('/') + 1)), bytes);
  const cliConfig = join(root, 'terraform.tfrc');
  writeFileSync(cliConfig, `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(dir)}\n  }\n}\n`);
  return { dir, cliConfig, zipBytes: bytes.length };
}

/** A module that requires the provider and uses it (a data source read during apply). */
export function providerModule(output = 'name'): string {
  return [
    'terraform {',
    '  required_providers {',
    `    karmatest = { source = "${PROVIDER_SOURCE}", version = "~> ${PROVIDER_VERSION.split('.').slice(0, 2).join('.')}" }`,
    '  }',
    '}',
    'variable "name" { type = string }',
    'data "karmatest_echo" "this" { input = var.name }',
    `output "${output}" { value = data.karmatest_echo.this.output }`,
    '',
  ].join('\n');
}

/** Every file under `dir` (recursively, not following links), with its inode and whether it is a link. */
export function listTree(dir: string): { path: string; link: boolean }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => !e.isDirectory())
    .map((e) => ({ path: join(e.parentPath, e.name), link: e.isSymbolicLink() }));
}
