/**
 * A real Terraform for the end-to-end tests: `terraform` or `tofu` on PATH; else one built from source with
 * the Go toolchain (the last MPL release, 1.5.7: ~2 minutes, cached in .servers/bin). No binary and no Go is
 * a clear failure, never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findTerraform } from '../../lib/adapters/terraform/runner.ts';

const REPO = join(import.meta.dirname, '..', '..');
const BIN = join(REPO, '.servers', 'bin');

export function ensureTerraform(): string {
  try {
    return findTerraform(process.env['KARMA_TERRAFORM']);
  } catch {
    // not on PATH: build it below
  }
  const built = join(BIN, 'terraform');
  if (existsSync(built)) return built;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    throw new Error('the end-to-end tests need terraform or tofu on PATH, or a Go toolchain to build terraform 1.5.7; install one of them');
  }
  mkdirSync(BIN, { recursive: true });
  const result = spawnSync('go', ['install', 'github.com/hashicorp/terraform@v1.5.7'], {
    env: { ...process.env, GOBIN: BIN, GOFLAGS: '-mod=mod' },
    encoding: 'utf8',
    timeout: 15 * 60 * 1000,
  });
  if (result.status !== 0 || !existsSync(built)) {
    throw new Error(`building terraform 1.5.7 with go install failed: ${(result.stderr || result.stdout || '').trim().split('\n').slice(-3).join(' ')}`);
  }
  return built;
}
