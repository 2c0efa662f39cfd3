/**
 * The bad-input corpus, structure and reference grammar: deep nesting and malformed references, run through the
 * real CLI. Each bad case must exit 2, print exactly one line naming the file and line, write nothing (no .karma
 * store), and never show a stack trace. A deep but legal repo (10,000 components in a line) must simply work.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { applyChanges, makeRepo, makeTempDir, removeDir, snapshotTree, type FileChange } from '../../helpers/config-repo.ts';
import { chainRepo, nestedArrayJson, nestedObject } from '../../helpers/deep-repos.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const APP = (lines: readonly string[]): string => `{\n${lines.join(',\n')}\n}\n`;
const OK_APP_NAME = '  "name": "app"';
const FORMS = 'use ${component.output}, ${env:<env>/<component>.<output>} or ${ssm:/path} (write $${...} for a literal)';
const TOO_DEEP = 'arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)';

interface Case {
  readonly name: string;
  readonly changes: Readonly<Record<string, FileChange>>;
  /** The one line after `karma: `. */
  readonly expected: string;
}

const CASES: readonly Case[] = [
  // --- depth (issue 9, item 7) ----------------------------------------------------------------------------
  {
    name: '2,000-deep nested JSON array in an env file',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, `  "vpc": "\${network.vpc_id}",\n  "deep": ${nestedArrayJson(2000)}`]) },
    expected: `environments/karma-dev/app.json:4: deep: ${TOO_DEEP}`,
  },
  {
    name: '2,000-deep nested JSON object in an env file',
    changes: { 'environments/karma-dev/network.json': `{\n  "cidr":\n  ${JSON.stringify(nestedObject(2000, 1))}\n}\n` },
    expected: `environments/karma-dev/network.json:3: cidr: ${TOO_DEEP}`,
  },
  {
    name: '101 levels, just over the limit',
    changes: { 'environments/karma-dev/network.json': `{\n  "cidr": ${nestedArrayJson(100)}\n}\n` },
    expected: `environments/karma-dev/network.json:2: cidr: ${TOO_DEEP}`,
  },
  {
    name: '5,000-deep YAML flow sequence in an env file (the yaml library runs out of stack)',
    changes: { 'environments/karma-dev/network.json': null, 'environments/karma-dev/network.yaml': `cidr: 10.0.0.0/16\ndeep: ${nestedArrayJson(5000)}\n` },
    expected: `environments/karma-dev/network.yaml:2: ${TOO_DEEP}`,
  },
  {
    name: 'deep YAML block mappings in an env file',
    changes: {
      'environments/karma-dev/network.json': null,
      'environments/karma-dev/network.yaml': `${Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`,
    },
    expected: `environments/karma-dev/network.yaml:100: k0: ${TOO_DEEP}`,
  },
  {
    name: 'deep input schema in component.yaml',
    changes: {
      'components/app/component.yaml': `terraform: ../../modules/app\ninputs:\n  type: object\n  properties: ${JSON.stringify({ name: nestedObject(200, {}) })}\noutputs: [url]\n`,
    },
    expected: `components/app/component.yaml:4: inputs: ${TOO_DEEP}`,
  },
  {
    name: 'deep value in karma.yaml',
    changes: { 'karma.yaml': `project: demo\nenvironments:\n  karma-dev: {}\n  karma-prod: {}\nterraform: ${JSON.stringify(nestedObject(3000, 1))}\n` },
    expected: `karma.yaml:5: ${TOO_DEEP}`,
  },
  // --- the reference grammar (issue 9, item 9) -----------------------------------------------------------
  {
    name: 'unterminated reference "${network.vpc_id"',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${network.vpc_id"']) },
    expected: `environments/karma-dev/app.json:3: vpc: "\${network.vpc_id" is not closed: a reference ends with "}"; ${FORMS}`,
  },
  {
    name: 'unterminated reference at the end of text "abc${"',
    changes: { 'environments/karma-dev/app.json': APP(['  "name": "abc${"', '  "vpc": "${network.vpc_id}"']) },
    expected: `environments/karma-dev/app.json:2: name: "\${" is not closed: a reference ends with "}"; ${FORMS}`,
  },
  {
    name: 'unterminated reference after a valid one, in YAML',
    changes: { 'environments/karma-dev/app.json': null, 'environments/karma-dev/app.yaml': 'name: app\nvpc: "${network.vpc_id}-${network.vpc_id"\n' },
    expected: `environments/karma-dev/app.yaml:2: vpc: "\${network.vpc_id" is not closed: a reference ends with "}"; ${FORMS}`,
  },
  {
    name: 'reference with an extra dot ${network.vpc_id.arn}',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${network.vpc_id.arn}"']) },
    expected: `environments/karma-dev/app.json:3: vpc: "\${network.vpc_id.arn}" is not a reference Karma understands: ${FORMS}`,
  },
  {
    name: 'cross-environment reference with an invalid environment name',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${env:Karma_Prod/network.vpc_id}"']) },
    expected:
      'environments/karma-dev/app.json:3: vpc: "${env:Karma_Prod/network.vpc_id}" names an invalid environment "Karma_Prod": write ${env:<env>/<component>.<output>} with a name from karma.yaml',
  },
  {
    name: 'reference in an object key',
    changes: { 'environments/karma-dev/network.json': '{\n  "cidr": "10.0.0.0/16",\n  "tags": {\n    "${app.url}": "x"\n  }\n}\n' },
    expected:
      'environments/karma-dev/network.json:4: tags.${app.url}: the key "${app.url}" holds a reference, but keys are passed to Terraform as written; move the reference into a value',
  },
];

describe('bad-input corpus, structure and references: `karma graph build` on a broken config repo', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => removeDir(tmp));

  it.each(CASES.map((c) => [c.name, c] as const))('%s → exit 2, one line, nothing written', async (_name, c) => {
    // Prepare
    const dir = makeRepo(tmp, c.changes);
    const before = snapshotTree(dir);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'build', '--config', dir], io);

    // Assess
    const lines = io.stderr.flatMap((s) => s.split('\n'));
    expect(lines).toEqual([`… reading config from ${dir}`, `karma: ${c.expected}`]);
    expect(io.stdout).toEqual([]);
    expect(code).toBe(2);
    expect(snapshotTree(dir)).toEqual(before);
    expect(existsSync(join(dir, '.karma'))).toBe(false);
  });

  it('an escaped $${ stays valid, closed or not (the literal for Terraform)', async () => {
    // Prepare
    const dir = makeRepo(tmp, { 'environments/karma-dev/network.json': '{\n  "cidr": "10.0.0.0/16",\n  "a": "$${not.a.ref}",\n  "b": "cost: $${"\n}\n' });
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'validate', '--config', dir], io);

    // Assess
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toEqual(['valid: 2 environments, 2 components, 2 deployments']);
    expect(code).toBe(0);
  });
});

describe('a deep but legal repo: 10,000 components in a line', { timeout: 120_000 }, () => {
  const N = 10_000;
  let tmp: string;
  let dir: string;
  beforeAll(() => {
    tmp = makeTempDir();
    dir = join(tmp, 'chain');
    applyChanges(dir, chainRepo(N));
  }, 120_000);
  afterAll(() => removeDir(tmp), 120_000);

  /** The real binary, so the stack is the one a user's process has. */
  const karma = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'karma.ts'), ...args, '-c', dir], {
        cwd: ROOT,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1' },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  it('graph why c5000 dev: the chain down to c0, exit 0, nothing written', async () => {
    // Act
    const run = await karma('graph', 'why', 'c5000', 'dev');

    // Assess
    expect(run.stderr).not.toMatch(/RangeError|\n\s+at /);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(10_001);
    expect(lines[0]).toBe('c5000 is blocked: c4999 is blocked');
    expect(lines[5000]).toBe(`${' '.repeat(64)}c0 is never-applied: never applied in dev`);
    expect(lines.at(-1)).toBe('  once unblocked, c5000 is never-applied: never applied in dev');
    expect(existsSync(join(dir, '.karma'))).toBe(false);
  });

  it('graph order, impact and show --json work on it', async () => {
    // Act
    const order = await karma('graph', 'order', '--env', 'dev', '--json');
    const impact = await karma('graph', 'impact', 'c9000', 'dev', '--json');
    const show = await karma('graph', 'show', '--env', 'dev', '--json');

    // Assess
    expect([order.code, impact.code, show.code]).toEqual([0, 0, 0]);
    expect(JSON.parse(order.stdout)).toEqual({ env: 'dev', waves: Array.from({ length: N }, (_, i) => [`c${i}`]), skipped: [], orphaned: [] });
    expect(JSON.parse(impact.stdout).waves).toEqual(Array.from({ length: N - 9000 }, (_, i) => [`c${9000 + i}`]));
    const snapshot = JSON.parse(show.stdout) as { vertices: { id: string; props: { status?: string } }[]; edges: { label: string }[] };
    expect(snapshot.vertices.filter((v) => v.props.status === 'blocked')).toHaveLength(N - 1);
    expect(snapshot.edges.filter((e) => e.label === 'DEPENDS_ON')).toHaveLength(N - 1);
    expect(existsSync(join(dir, '.karma'))).toBe(false);
  });
});
