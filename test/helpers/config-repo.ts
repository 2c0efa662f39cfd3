/**
 * A tiny builder of config repos for tests: a minimal VALID repo (two environments, two components, one
 * output reference) written to a directory, with changes applied on top. A change is file text, raw bytes,
 * `null` to delete the file, or `{ symlink: target }` to create a symbolic link.
 *
 *   karma.yaml                                  project demo, environments karma-dev + karma-prod
 *   components/network/component.yaml           outputs [vpc_id]
 *   components/app/component.yaml               inputs schema {name: string (required), vpc: string, size: enum}
 *   modules/{network,app}/main.tf
 *   environments/karma-dev/{network,app}.json   app.json line 3: "vpc": "${network.vpc_id}"
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';

export type FileChange = string | Uint8Array | null | { readonly symlink: string };

export const MINIMAL_REPO: Readonly<Record<string, string>> = {
  'karma.yaml': ['project: demo', 'environments:', '  karma-dev:', '    region: eu-west-1', '    account: "222222222222"', '  karma-prod:', '    region: eu-west-1', ''].join('\n'),
  'components/network/component.yaml': ['description: the network', 'terraform: ../../modules/network', 'outputs: [vpc_id]', ''].join('\n'),
  'components/app/component.yaml': [
    'description: the app',
    'terraform: ../../modules/app',
    'inputs:',
    '  type: object',
    '  additionalProperties: false',
    '  required: [name]',
    '  properties:',
    '    name: { type: string }',
    '    vpc: { type: string }',
    '    size: { type: string, enum: [small, large] }',
    'outputs: [url]',
    '',
  ].join('\n'),
  'modules/network/main.tf': 'output "vpc_id" { value = "vpc-1" }\n',
  'modules/app/main.tf': 'variable "name" {}\nvariable "vpc" {}\noutput "url" { value = "https://app" }\n',
  'environments/karma-dev/network.json': '{\n  "cidr": "10.0.0.0/16"\n}\n',
  'environments/karma-dev/app.json': '{\n  "name": "app",\n  "vpc": "${network.vpc_id}"\n}\n',
};

/** A fresh temporary directory (remove it with `removeDir`). */
export function makeTempDir(prefix = 'karma-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Applies changes to `dir` (creating parent folders). */
export function applyChanges(dir: string, changes: Readonly<Record<string, FileChange>>): void {
  for (const [path, change] of Object.entries(changes)) {
    const full = join(dir, path);
    if (change === null) {
      rmSync(full, { force: true });
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    if (typeof change === 'object' && 'symlink' in change) {
      rmSync(full, { force: true });
      symlinkSync(change.symlink, full);
    }
    else writeFileSync(full, change);
  }
}

/** Writes the minimal valid repo with `changes` applied into `<tmp>/repo` and returns that path. */
export function makeRepo(tmp: string, changes: Readonly<Record<string, FileChange>> = {}): string {
  const dir = join(tmp, 'repo');
  mkdirSync(dir, { recursive: true });
  applyChanges(dir, MINIMAL_REPO);
  applyChanges(dir, changes);
  return dir;
}

/** Copies a directory (e.g. examples/acme-platform) to `<tmp>/<name>`, leaving out any `.karma` store. */
export function copyRepo(from: string, tmp: string, name = 'repo'): string {
  const dir = join(tmp, name);
  cpSync(from, dir, { recursive: true, filter: (src) => !relative(from, src).split(sep).includes('.karma') });
  return dir;
}

/**
 * Every entry below `dir` (files, folders, links, dot-folders included) → a fingerprint of its content, so a
 * test can assert that a command wrote nothing.
 */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      const rel = relative(dir, full).split(sep).join('/');
      if (entry.isSymbolicLink()) out[rel] = `link:${readlinkSync(full)}`;
      else if (entry.isDirectory()) {
        out[rel] = 'dir';
        walk(full);
      } else if (!entry.isFile()) out[rel] = `special:${lstatSync(full).mode}`; // a FIFO: reading it would wait for a writer
      else out[rel] = `file:${createHash('sha256').update(readFileSync(full)).digest('hex')}:${lstatSync(full).mode}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}
