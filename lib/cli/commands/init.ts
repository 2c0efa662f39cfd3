/**
 * `karma init [DIR]`: scaffold a config repo that `karma graph validate` accepts and `karma pipeline run` applies
 * with a real Terraform, offline: one environment, one component whose module uses only Terraform's built-in
 * `terraform_data` (no provider to download), the local backend, and a .gitignore for Karma's store.
 *
 * It never overwrites: when any file it would write exists, it writes nothing and exits 2.
 * Exit codes: 0 created · 2 a file exists, or a bad --project / --env name.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import { NAME_PATTERN } from '../../core/references.ts';
import type { IO } from '../io.ts';

export interface InitOptions {
  /** Where to create the repo (created if missing). */
  readonly dir: string;
  /** The project name (default: the directory's name, made a valid name). */
  readonly project?: string;
  /** The one environment (default: dev). */
  readonly env?: string;
}

/** The first component's name and its module folder. */
const COMPONENT = 'hello';

/** The files of a new config repo, by path relative to it. */
export function scaffold(project: string, env: string): ReadonlyMap<string, string> {
  return new Map([
    [
      'karma.yaml',
      `# A Karma config repo: every field is described in Karma's docs/config.md.
project: ${project}
parameterPrefix: /karma          # outputs and apply records live under /karma/<env>/<component>/
environments:
  ${env}: {}                     # add region: and account: for AWS; one key per environment
backend:
  type: local                    # the runtime store: one SQLite file under .karma/ (aws: SSM + Neptune)
  path: .karma
terraform:
  binary: terraform              # terraform, tofu or a path
`,
    ],
    [
      `components/${COMPONENT}/component.yaml`,
      `description: A first component; point terraform at your own module
terraform: ../../modules/${COMPONENT}     # the module directory, relative to this file
inputs:                                   # JSON Schema of the inputs each environment gives it
  type: object
  additionalProperties: false
  required: [greeting]
  properties:
    greeting: { type: string, minLength: 1 }
outputs: [message]                        # the Terraform outputs Karma records (others may reference them)
`,
    ],
    [
      `modules/${COMPONENT}/main.tf`,
      `# Uses only Terraform's built-in terraform_data resource: it applies offline, with no provider to download.
variable "greeting" {
  type = string
}

resource "terraform_data" "greeting" {
  input = var.greeting
}

output "message" {
  value = "\${terraform_data.greeting.output}, from Karma"
}
`,
    ],
    [`environments/${env}/${COMPONENT}.json`, `${JSON.stringify({ greeting: `hello ${env}` }, null, 2)}\n`],
    ['.gitignore', '# Karma\'s local store, Terraform state and working copies\n.karma/\n.terraform/\n'],
  ]);
}

/** `My Project` → `my-project`: a valid Karma name from a directory name, else `karma-project`. */
export function projectName(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 63);
  return NAME_PATTERN.test(name) ? name : 'karma-project';
}

function checkName(flag: string, value: string): string {
  if (!NAME_PATTERN.test(value)) {
    throw new UsageError(`${flag} "${value}": must be lowercase letters, digits, - or _ (at most 63, starting with a letter or digit)`);
  }
  return value;
}

export async function initCommand(options: InitOptions, io: IO): Promise<number> {
  const root = resolve(options.dir);
  const project = checkName('--project', options.project ?? projectName(root));
  const env = checkName('--env', options.env ?? 'dev');
  const files = scaffold(project, env);
  const existing = [...files.keys()].filter((path) => existsSync(join(root, path)));
  if (existing.length > 0) {
    throw new UsageError(`${join(root, existing[0]!)} already exists: karma init writes only into a repo without these files (nothing was written)`);
  }
  for (const [path, content] of files) {
    const file = join(root, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, content, { flag: 'wx' });
  }
  const where = relative(process.cwd(), root) || '.';
  io.out(`created a Karma config repo in ${where}: ${[...files.keys()].join(', ')}`);
  io.out('next:');
  if (where !== '.') io.out(`  cd ${where.includes(' ') ? JSON.stringify(where) : where}`);
  io.out('  karma graph validate             # check the config');
  io.out(`  karma pipeline run --env ${env}${' '.repeat(Math.max(1, 8 - env.length))}# terraform apply, wave by wave (terraform or tofu on PATH)`);
  io.out('  karma graph build                # the graph and every status');
  io.out('then add components (components/<name>/component.yaml) and their inputs per environment (environments/<env>/<name>.json)');
  return 0;
}
