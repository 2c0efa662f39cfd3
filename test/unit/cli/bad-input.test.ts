/**
 * The bad-input corpus: each case is a small config repo with ONE thing wrong, run through the real CLI
 * (`karma graph build`, because build would write). Each must exit 2, print exactly one clear line naming the
 * file and line, and write nothing: no .karma store, no file of the repo touched.
 *
 * Then bad command lines and bad user files (`--input /dev/zero`, a FIFO, a value starting with -, `-n abc`,
 * an unreachable Git URL...), run as the real binary in a child process: one line on stderr, the documented
 * exit code, nothing written, no stack trace, no secret echoed, and a peak RSS under 300 MiB (measured in the
 * child by test/helpers/rss-probe.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';
import { makeRepo, makeTempDir, removeDir, snapshotTree, type FileChange } from '../../helpers/config-repo.ts';

interface Case {
  readonly name: string;
  readonly changes: Readonly<Record<string, FileChange>> | ((tmp: string) => Readonly<Record<string, FileChange>>);
  /** The one line after `karma: `; a function when it names the temp dir. */
  readonly expected: string | ((ctx: { tmp: string; dir: string }) => string);
}

const APP = (lines: readonly string[]): string => `{\n${lines.join(',\n')}\n}\n`;
const OK_APP_NAME = '  "name": "app"';
const OK_APP_VPC = '  "vpc": "${network.vpc_id}"';
/** A component with one output `out`, reusing the network module. */
const componentYaml = (extra = ''): string => `terraform: ../../modules/network\n${extra}outputs: [out]\n`;
/** A valid app.json just over the 1 MiB limit for config files. */
const HUGE_APP = APP([`  "name": "${'x'.repeat(1024 * 1024)}"`, OK_APP_VPC]);

const CASES: readonly Case[] = [
  // --- syntax --------------------------------------------------------------------------------------------
  {
    name: 'YAML syntax error (component.yaml)',
    changes: { 'components/network/component.yaml': 'description: the network\nterraform: ../../modules/network\noutputs: [vpc_id\n' },
    expected: 'components/network/component.yaml:4: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  },
  {
    name: 'YAML duplicate key (karma.yaml)',
    changes: { 'karma.yaml': 'project: demo\nproject: again\nenvironments:\n  karma-dev: {}\n' },
    expected: 'karma.yaml:2: invalid YAML: Map keys must be unique',
  },
  {
    name: 'YAML with several documents',
    changes: { 'environments/karma-dev/network.json': null, 'environments/karma-dev/network.yaml': 'cidr: 10.0.0.0/16\n---\ncidr: 10.1.0.0/16\n' },
    expected: 'environments/karma-dev/network.yaml:2: invalid YAML: a config file holds one document; remove the "---" separator and what follows it, or split it into files',
  },
  {
    name: 'YAML alias bomb ("billion laughs")',
    changes: {
      'environments/karma-dev/network.json': null,
      'environments/karma-dev/network.yaml': [
        'a: &a [x, x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
        '',
      ].join('\n'),
    },
    expected: 'environments/karma-dev/network.yaml:1: invalid YAML: too many alias expansions (over 100); write the values out',
  },
  {
    name: 'JSON syntax error (trailing comma), with its line',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, `${OK_APP_VPC},`]) },
    expected: 'environments/karma-dev/app.json:4: invalid JSON: Expected double-quoted property name',
  },
  // --- karma.yaml ----------------------------------------------------------------------------------------
  {
    name: 'karma.yaml missing',
    changes: { 'karma.yaml': null },
    expected: ({ dir }) => `karma.yaml: not found in ${dir}: a config repo has karma.yaml at its root (see docs/config.md)`,
  },
  {
    name: 'karma.yaml unknown field',
    changes: { 'karma.yaml': 'project: demo\nprefix: /acme\nenvironments:\n  karma-dev: {}\n  karma-prod: {}\n' },
    expected: 'karma.yaml:2: unknown field "prefix"; remove it (see docs/config.md)',
  },
  {
    name: 'karma.yaml bad parameterPrefix',
    changes: { 'karma.yaml': 'project: demo\nparameterPrefix: karma/\nenvironments:\n  karma-dev: {}\n  karma-prod: {}\n' },
    expected: 'karma.yaml:2: parameterPrefix: must be an SSM path like /karma (leading /, no trailing /)',
  },
  {
    name: 'karma.yaml account id too short',
    changes: { 'karma.yaml': 'project: demo\nenvironments:\n  karma-dev:\n    account: "1234"\n  karma-prod: {}\n' },
    expected: 'karma.yaml:4: environments.karma-dev.account: must be a 12-digit AWS account id, quoted (e.g. "123456789012")',
  },
  {
    name: 'karma.yaml account id unquoted (a YAML number)',
    changes: { 'karma.yaml': 'project: demo\nenvironments:\n  karma-dev:\n    account: 222222222222\n  karma-prod: {}\n' },
    expected: 'karma.yaml:4: environments.karma-dev.account: must be a 12-digit AWS account id, quoted (e.g. "123456789012")',
  },
  {
    name: 'karma.yaml invalid environment name',
    changes: { 'karma.yaml': 'project: demo\nenvironments:\n  Karma_Dev: {}\n  karma-dev: {}\n  karma-prod: {}\n' },
    expected: 'karma.yaml:3: environments.Karma_Dev: invalid name "Karma_Dev": must be lowercase letters, digits, - or _ (at most 63, starting with a letter or digit)',
  },
  // --- component.yaml ------------------------------------------------------------------------------------
  {
    name: 'component.yaml outputs of the wrong type',
    changes: { 'components/network/component.yaml': 'description: the network\nterraform: ../../modules/network\noutputs: vpc_id\n' },
    expected: 'components/network/component.yaml:3: outputs: Invalid input: expected array, received string',
  },
  {
    name: 'component.yaml unknown field',
    changes: { 'components/network/component.yaml': 'description: the network\nterraform: ../../modules/network\noutput: [vpc_id]\noutputs: [vpc_id]\n' },
    expected: 'components/network/component.yaml:3: unknown field "output"; remove it (see docs/config.md)',
  },
  {
    name: 'component.yaml inputs is not a valid JSON Schema',
    changes: { 'components/app/component.yaml': 'terraform: ../../modules/app\ninputs:\n  type: objekt\noutputs: [url]\n' },
    expected:
      'components/app/component.yaml:3: inputs.type: not a valid JSON Schema: must be equal to one of the allowed values: "array", "boolean", "integer", "null", "number", "object", "string"',
  },
  {
    name: 'duplicate component.yaml + component.yml',
    changes: { 'components/network/component.yml': 'terraform: ../../modules/network\noutputs: [vpc_id]\n' },
    expected: 'components/network/component.yml: duplicate component "network": also defined by components/network/component.yaml; keep one of them',
  },
  {
    name: 'invalid component folder name',
    changes: { 'components/My_App/component.yaml': 'terraform: ../../modules/app\n' },
    expected: 'components/My_App/component.yaml: component name "My_App" is invalid: use lowercase letters, digits, - or _ (rename the folder)',
  },
  {
    name: 'terraform: path traversal out of the repo',
    changes: { 'components/network/component.yaml': 'terraform: ../../../etc\noutputs: [vpc_id]\n' },
    expected: 'components/network/component.yaml:1: terraform: "../../../etc" leaves the config repository; module directories must be inside it (e.g. ../../modules/network)',
  },
  {
    name: 'terraform: absolute path',
    changes: { 'components/network/component.yaml': 'terraform: /etc\noutputs: [vpc_id]\n' },
    expected: 'components/network/component.yaml:1: terraform: "/etc" leaves the config repository; module directories must be inside it (e.g. ../../modules/network)',
  },
  {
    name: 'terraform: module directory without .tf files',
    changes: { 'modules/network/main.tf': null, 'modules/network/README.md': '# network\n' },
    expected: 'components/network/component.yaml:2: terraform: module directory "modules/network" has no .tf files; point terraform at the component\'s module',
  },
  {
    name: 'sensitiveOutputs names an undeclared output',
    changes: { 'components/network/component.yaml': 'terraform: ../../modules/network\noutputs: [vpc_id]\nsensitiveOutputs: [password]\n' },
    expected: 'components/network/component.yaml:3: sensitiveOutputs: "password" is not one of the outputs (vpc_id)',
  },
  // --- inputs against the component's schema -------------------------------------------------------------
  {
    name: 'input: missing required',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_VPC]) },
    expected: 'environments/karma-dev/app.json:1: missing required input "name" (schema in components/app/component.yaml)',
  },
  {
    name: 'input: wrong type',
    changes: { 'environments/karma-dev/app.json': APP(['  "name": 42', OK_APP_VPC]) },
    expected: 'environments/karma-dev/app.json:2: name: must be string (schema in components/app/component.yaml)',
  },
  {
    name: 'input: not allowed by additionalProperties (line of the key)',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, OK_APP_VPC, '  "colour": "blue"']) },
    expected: 'environments/karma-dev/app.json:4: unknown input "colour" (schema in components/app/component.yaml)',
  },
  {
    name: 'input: not one of the enum',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, OK_APP_VPC, '  "size": "huge"']) },
    expected: 'environments/karma-dev/app.json:4: size: must be equal to one of the allowed values: "small", "large" (schema in components/app/component.yaml)',
  },
  {
    name: 'inputs not an object (an array)',
    changes: { 'environments/karma-dev/network.json': '[\n  "10.0.0.0/16"\n]\n' },
    expected: 'environments/karma-dev/network.json:1: inputs must be an object of input names to values',
  },
  // --- environments/ -------------------------------------------------------------------------------------
  {
    name: 'env file for an environment karma.yaml does not declare',
    changes: { 'environments/karma-stage/network.json': '{}\n' },
    expected: 'environments/karma-stage/network.json: environment "karma-stage" is not declared in karma.yaml; add it under environments: or move the file',
  },
  {
    name: 'env file for an unknown component',
    changes: { 'environments/karma-dev/dns.json': '{}\n' },
    expected: 'environments/karma-dev/dns.json: unknown component "dns": there is no components/dns/component.yaml',
  },
  {
    name: 'duplicate env inputs (network.json + network.yaml)',
    changes: { 'environments/karma-dev/network.yaml': 'cidr: 10.0.0.0/16\n' },
    expected: 'environments/karma-dev/network.yaml: duplicate inputs for network in karma-dev: also in environments/karma-dev/network.json; keep one of them',
  },
  {
    name: 'dependsOn a component absent from the env',
    changes: {
      'components/app/component.yaml': 'terraform: ../../modules/app\ndependsOn: [network]\noutputs: [url]\n',
      'environments/karma-prod/app.json': '{}\n',
    },
    expected:
      'environments/karma-prod/app.json: app depends on network (components/app/component.yaml:2), which is not deployed in karma-prod; add environments/karma-prod/network.json or remove the dependency',
  },
  // --- references ----------------------------------------------------------------------------------------
  {
    name: 'reference to an unknown component',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${netwrk.vpc_id}"']) },
    expected: 'environments/karma-dev/app.json:3: vpc: ${netwrk.vpc_id} refers to unknown component "netwrk"',
  },
  {
    name: 'reference to an unknown output',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${network.vpcid}"']) },
    expected: 'environments/karma-dev/app.json:3: vpc: ${network.vpcid} refers to unknown output "vpcid" of network; it declares vpc_id',
  },
  {
    name: 'cross-env reference to an undeclared environment',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${env:karma-stage/network.vpc_id}"']) },
    expected: 'environments/karma-dev/app.json:3: vpc: ${env:karma-stage/network.vpc_id} names environment "karma-stage", which karma.yaml does not declare',
  },
  {
    name: 'cross-env reference to a component not deployed there',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${env:karma-prod/network.vpc_id}"']) },
    expected: 'environments/karma-dev/app.json:3: vpc: ${env:karma-prod/network.vpc_id} refers to network, which is not deployed in karma-prod (no environments/karma-prod/network.json)',
  },
  {
    name: 'self reference',
    changes: { 'environments/karma-dev/network.json': '{\n  "cidr": "${network.vpc_id}"\n}\n' },
    expected: 'environments/karma-dev/network.json:2: cidr: ${network.vpc_id} refers to network itself; a component cannot consume its own outputs',
  },
  {
    name: 'self dependsOn',
    changes: { 'components/network/component.yaml': 'terraform: ../../modules/network\ndependsOn: [network]\noutputs: [vpc_id]\n' },
    expected: 'components/network/component.yaml:2: dependsOn: "network" depends on itself; remove it',
  },
  {
    name: 'invalid reference syntax ${foo}',
    changes: { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${foo}"']) },
    expected:
      'environments/karma-dev/app.json:3: vpc: "${foo}" is not a reference Karma understands: use ${component.output}, ${env:<env>/<component>.<output>} or ${ssm:/path} (write $${...} for a literal)',
  },
  {
    name: 'bad ssm reference ${ssm:no-slash}',
    changes: { 'environments/karma-dev/app.json': APP(['  "name": "${ssm:no-slash}"', OK_APP_VPC]) },
    expected: 'environments/karma-dev/app.json:2: name: "${ssm:no-slash}" is not a valid SSM reference: the path must start with / and use letters, digits, _ . - /',
  },
  // --- cycles --------------------------------------------------------------------------------------------
  {
    name: 'cycle a -> b -> c -> a (outputs and dependsOn, JSON and YAML)',
    changes: {
      'components/a/component.yaml': componentYaml(),
      'components/b/component.yaml': componentYaml(),
      'components/c/component.yaml': componentYaml('dependsOn: [a]\n'),
      'environments/karma-dev/a.json': '{\n  "x": "${b.out}"\n}\n',
      'environments/karma-dev/b.yaml': 'x: ${c.out}\n',
      'environments/karma-dev/c.json': '{}\n',
    },
    expected:
      'environments/karma-dev/a.json:2: dependency cycle in karma-dev: a -> b -> c -> a; declared by a -> b (environments/karma-dev/a.json:2), b -> c (environments/karma-dev/b.yaml:1), c -> a (components/c/component.yaml:2). Remove one of these dependencies',
  },
  {
    name: 'cross-environment cycle',
    changes: {
      'components/a/component.yaml': componentYaml(),
      'components/b/component.yaml': componentYaml(),
      'environments/karma-dev/a.json': '{\n  "x": "${env:karma-prod/b.out}"\n}\n',
      'environments/karma-prod/b.json': '{\n  "y": 1,\n  "x": "${env:karma-dev/a.out}"\n}\n',
    },
    expected:
      'environments/karma-dev/a.json:2: dependency cycle: karma-dev/a -> karma-prod/b -> karma-dev/a; declared by karma-dev/a -> karma-prod/b (environments/karma-dev/a.json:2), karma-prod/b -> karma-dev/a (environments/karma-prod/b.json:3). Remove one of these dependencies',
  },
  // --- bytes and the file system ---------------------------------------------------------------------------
  {
    name: 'non-UTF-8 file',
    changes: { 'environments/karma-dev/network.json': new Uint8Array([0x7b, 0x22, 0x63, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, 0x0a]) },
    expected: 'environments/karma-dev/network.json: file is not valid UTF-8; save it as UTF-8',
  },
  {
    name: 'oversized config file (> 1 MiB)',
    changes: { 'environments/karma-dev/app.json': HUGE_APP },
    expected: `environments/karma-dev/app.json: file is ${Buffer.byteLength(HUGE_APP)} bytes, over the 1048576-byte limit for config files; split it or move data out of the config repo`,
  },
  {
    name: 'symlink leaving the repo',
    changes: (tmp) => {
      writeFileSync(join(tmp, 'outside.json'), '{"cidr": "10.0.0.0/16"}\n');
      return { 'environments/karma-dev/network.json': { symlink: join(tmp, 'outside.json') } };
    },
    expected: ({ tmp }) =>
      `environments/karma-dev/network.json: symlink to ${join(realpathSync(tmp), 'outside.json')} leaves the repository; copy the file into the repository instead`,
  },
  {
    name: 'symlink to a FIFO inside the repo (was: the build waited forever for a writer)',
    changes: (tmp) => {
      mkdirSync(join(tmp, 'repo', 'modules'), { recursive: true });
      execFileSync('mkfifo', [join(tmp, 'repo', 'modules', 'pipe')]);
      return { 'environments/karma-dev/network.json': { symlink: '../../modules/pipe' } };
    },
    expected: 'environments/karma-dev/network.json: symlink to something that is not a regular file (a FIFO, a device or a socket); point it at a file',
  },
  {
    name: 'broken symlink',
    changes: (tmp) => ({ 'environments/karma-dev/network.json': { symlink: join(tmp, 'does-not-exist.json') } }),
    expected: 'environments/karma-dev/network.json: broken symlink; remove it or point it at a file inside the repository',
  },
];

describe('bad-input corpus: `karma graph build` on a broken config repo', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => removeDir(tmp));

  it('has a valid starting point (the minimal repo builds, so every failure below is the change)', async () => {
    // Prepare
    const dir = makeRepo(tmp);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'validate', '--config', dir], io);

    // Assess
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toEqual(['valid: 2 environments, 2 components, 2 deployments']);
    expect(code).toBe(0);
  });

  it('holds its 44 cases (adding or removing one updates this count)', () => {
    expect(CASES).toHaveLength(44);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s → exit 2, one line, nothing written', async (_name, c) => {
    // Prepare
    const changes = typeof c.changes === 'function' ? c.changes(tmp) : c.changes;
    const dir = makeRepo(tmp, changes);
    const before = snapshotTree(dir);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'build', '--config', dir], io);

    // Assess
    const expected = typeof c.expected === 'function' ? c.expected({ tmp, dir }) : c.expected;
    const lines = io.stderr.flatMap((s) => s.split('\n'));
    expect(lines).toEqual([`… reading config from ${dir}`, `karma: ${expected}`]);
    expect(io.stdout).toEqual([]);
    expect(code).toBe(2);
    expect(snapshotTree(dir)).toEqual(before);
    expect(Object.keys(before).some((p) => p === '.karma' || p.startsWith('.karma/'))).toBe(false);
  });

  it('reports several problems at once, one line each, and exits 2', async () => {
    // Prepare
    const dir = makeRepo(tmp, {
      'environments/karma-dev/app.json': APP(['  "name": 42', '  "vpc": "${network.vpcid}"']),
      'environments/karma-prod/dns.json': '{}\n',
      'components/network/component.yaml': 'terraform: ../../modules/network\noutputs: [vpc_id]\nsensitiveOutputs: [password]\n',
    });
    const before = snapshotTree(dir);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'build', '--config', dir], io);

    // Assess
    expect(io.stderr.flatMap((s) => s.split('\n'))).toEqual([
      `… reading config from ${dir}`,
      'karma: components/network/component.yaml:3: sensitiveOutputs: "password" is not one of the outputs (vpc_id)',
      'karma: environments/karma-prod/dns.json: unknown component "dns": there is no components/dns/component.yaml',
      'karma: environments/karma-dev/app.json:2: name: must be string (schema in components/app/component.yaml)',
      'karma: environments/karma-dev/app.json:3: vpc: ${network.vpcid} refers to unknown output "vpcid" of network; it declares vpc_id',
    ]);
    expect(io.stdout).toEqual([]);
    expect(code).toBe(2);
    expect(snapshotTree(dir)).toEqual(before);
  });

  it('with --json prints exactly one JSON object on stdout, the ConfigError with its problems, and nothing on stderr', async () => {
    // Prepare
    const dir = makeRepo(tmp, { 'environments/karma-dev/app.json': APP([OK_APP_NAME, '  "vpc": "${network.vpcid}"']) });
    const before = snapshotTree(dir);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'build', '--config', dir, '--json'], io);

    // Assess
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toHaveLength(1);
    const message = 'vpc: ${network.vpcid} refers to unknown output "vpcid" of network; it declares vpc_id';
    expect(JSON.parse(io.stdout[0]!)).toEqual({
      error: {
        name: 'ConfigError',
        message: `environments/karma-dev/app.json:3: ${message}`,
        exitCode: 2,
        problems: [{ file: 'environments/karma-dev/app.json', line: 3, message }],
      },
    });
    expect(code).toBe(2);
    expect(snapshotTree(dir)).toEqual(before);
  });

  it('leaves a store that already exists untouched when the config breaks afterwards', async () => {
    // Prepare
    const dir = makeRepo(tmp);
    expect(await main(['graph', 'build', '--config', dir], memoryIO())).toBe(0);
    mkdirSync(join(dir, 'environments', 'karma-stage'));
    writeFileSync(join(dir, 'environments', 'karma-stage', 'network.json'), '{}\n');
    const before = snapshotTree(dir);
    const io = memoryIO();

    // Act
    const code = await main(['graph', 'build', '--config', dir], io);

    // Assess
    expect(code).toBe(2);
    expect(io.stderr.at(-1)).toBe(
      'karma: environments/karma-stage/network.json: environment "karma-stage" is not declared in karma.yaml; add it under environments: or move the file',
    );
    expect(snapshotTree(dir)).toEqual(before);
  });
});

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAX_RSS_KIB = 300 * 1024;

interface ChildRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set size of the child, KiB. */
  readonly rssKiB: number;
}

/** The real `karma` binary in a child process (HOME in the temp dir), with its peak RSS; killed after 30 s. */
async function runKarma(argv: readonly string[], options: { cwd: string; home: string; stdin?: string | Buffer }): Promise<ChildRun> {
  const rssFile = join(options.home, `rss-${process.hrtime.bigint()}`);
  const child = spawn(process.execPath, ['--import', join(ROOT, 'test/helpers/rss-probe.ts'), join(ROOT, 'bin/karma.ts'), ...argv], {
    cwd: options.cwd,
    env: { ...process.env, HOME: options.home, NO_COLOR: '1', KARMA_RSS_FILE: rssFile, KARMA_DEBUG: '', KARMA_CONFIG: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined); // the child may exit before reading all of it
  child.stdin.end(options.stdin ?? '');
  // A runaway child (the unbounded reads this corpus guards against reached 5.5 GB) is killed at 1 GiB where
  // /proc shows it (Linux), else after 30 s; either way the run then fails on its RSS.
  let peakSeen = 0;
  const watchdog = setInterval(() => {
    try {
      const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
      peakSeen = Math.max(peakSeen, kib);
      if (kib > 1024 * 1024) child.kill('SIGKILL');
    } catch {
      // no /proc, or the child is gone
    }
  }, 100);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
  clearTimeout(timer);
  clearInterval(watchdog);
  const rssKiB = fs.existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : Math.max(peakSeen, Number.MAX_SAFE_INTEGER);
  return { code, stdout, stderr, rssKiB };
}

interface CliCase {
  readonly name: string;
  readonly argv: (ctx: CliContext) => string[];
  readonly stdin?: string | Buffer;
  readonly code: 1 | 2;
  /** The one line after `karma: ` (a RegExp for a line that names a port or a system message). */
  readonly expected: string | RegExp | ((ctx: CliContext) => string);
  /** Text that must appear nowhere in the output (a value, a file's content). */
  readonly secret?: string;
}

interface CliContext {
  readonly tmp: string;
  readonly dir: string;
  readonly files: string;
}

const SECRET = 'hunter2-do-not-echo';
const INPUT_HINT = "pass a JSON or YAML file with the component's full inputs";
const RECORD_HINT = 'pass a JSON or YAML file of applies and parameters (see docs/cli.md)';

const CLI_CASES: readonly CliCase[] = [
  // --- user files: bounded, regular, never echoed ----------------------------------------------------------
  {
    name: 'propose-change --input /dev/zero',
    argv: ({ dir }) => ['propose-change', 'network', 'karma-dev', '--input', '/dev/zero', '--dry-run', '-c', dir],
    code: 2,
    expected: `--input /dev/zero: a character device, not a regular file; ${INPUT_HINT}`,
  },
  {
    name: 'runtime record /dev/zero',
    argv: ({ dir }) => ['runtime', 'record', '/dev/zero', '-c', dir],
    code: 2,
    expected: `record file /dev/zero: a character device, not a regular file; ${RECORD_HINT}`,
  },
  {
    name: 'runtime record on a FIFO nobody writes to (refused at once, not waited on)',
    argv: ({ files }) => ['runtime', 'record', join(files, 'fifo'), '-c', join(files, '..', 'repo')],
    code: 2,
    expected: ({ files }) => `record file ${join(files, 'fifo')}: a FIFO (named pipe), not a regular file; ${RECORD_HINT}`,
  },
  {
    name: 'propose-change --input over 1 MiB',
    argv: ({ dir, files }) => ['propose-change', 'network', 'karma-dev', '--input', join(files, 'huge.json'), '--dry-run', '-c', dir],
    code: 2,
    expected: ({ files }) => `--input ${join(files, 'huge.json')}: file is 2097152 bytes, over the 1048576-byte (1 MiB) limit for input files; ${INPUT_HINT}`,
  },
  {
    name: 'propose-change --input of a file that is not JSON (its content never echoed)',
    argv: ({ dir, files }) => ['propose-change', 'network', 'karma-dev', '--input', join(files, 'shadow.json'), '--dry-run', '-c', dir],
    code: 2,
    expected: ({ files }) => `${join(files, 'shadow.json')}: invalid JSON: Unexpected character`,
    secret: SECRET,
  },
  {
    name: 'propose-change --input /etc/shadow-like (YAML reads it as a map; never shown in a diff, keys never echoed)',
    argv: ({ dir, files }) => ['propose-change', 'network', 'karma-dev', '--input', join(files, 'shadow'), '--dry-run', '-c', dir],
    code: 2,
    expected: ({ files }) =>
      `--input ${join(files, 'shadow')}:1: not the component's inputs: 2 top-level keys are not a valid input name (a Terraform variable name: a letter or _, then letters, digits, _ or -); the content is not shown`,
    secret: SECRET,
  },
  {
    name: 'propose-change --input of a text file (a string, not inputs)',
    argv: ({ dir }) => ['propose-change', 'network', 'karma-dev', '--input', '/etc/passwd', '--dry-run', '-c', dir],
    code: 2,
    expected: `--input /etc/passwd: the inputs must be an object of input names to values (the component's full inputs), got a string`,
  },
  {
    name: 'propose-change --input through a symlink in the repo that leads out of it',
    argv: ({ dir }) => ['propose-change', 'network', 'karma-dev', '--input', join(dir, '.inputs', 'leak.json'), '--dry-run', '-c', dir],
    code: 2,
    expected: ({ dir, files }) =>
      `--input ${join(dir, '.inputs', 'leak.json')}: a symlink in the config repo that leads out of it (to ${join(realpathSync(files), 'shadow.json')}); name the file outside the repo directly; ${INPUT_HINT}`,
    secret: SECRET,
  },
  // --- runtime put: the value is never echoed -------------------------------------------------------------
  {
    name: 'runtime put with a value that starts with - (commander would quote it as an unknown option)',
    argv: ({ dir }) => ['runtime', 'put', '/karma/external/key', `-${SECRET}`, '-c', dir],
    code: 2,
    expected:
      'unknown option (not shown: it may be the value); a VALUE that starts with - goes after --: karma runtime put [options] NAME -- VALUE, or pass - and pipe the value on standard input',
    secret: SECRET,
  },
  {
    name: 'runtime put with the value where --type expects a type',
    argv: ({ dir }) => ['runtime', 'put', '/karma/external/key', '--type', SECRET, '-c', dir],
    code: 2,
    expected: "option '-t, --type <type>' argument (not shown) is invalid. Allowed choices are String, StringList, SecureString.",
    secret: SECRET,
  },
  {
    name: 'runtime put - with over 1 MiB on standard input',
    argv: ({ dir }) => ['runtime', 'put', '/karma/external/key', '-', '-c', dir],
    stdin: Buffer.alloc(2 * 1024 * 1024, 0x61),
    code: 2,
    expected: 'runtime put NAME -: standard input is over the 1048576-byte (1 MiB) limit; pipe a smaller value',
  },
  // --- numbers, names and URLs: one line, the right code -------------------------------------------------
  {
    name: 'graph history -n abc (was: unexpected Error: datatype mismatch, exit 1)',
    argv: ({ dir }) => ['graph', 'history', '-n', 'abc', '-c', dir],
    code: 2,
    expected: "option '-n, --limit <n>' argument 'abc' is invalid. It must be a positive integer (1, 2, 3...).",
  },
  {
    name: 'graph history -n -3 (was: every build)',
    argv: ({ dir }) => ['graph', 'history', '-n', '-3', '-c', dir],
    code: 2,
    expected: "option '-n, --limit <n>' argument '-3' is invalid. It must be a positive integer (1, 2, 3...).",
  },
  {
    name: 'pipeline run --max-parallel abc (was: got NaN)',
    argv: ({ dir }) => ['pipeline', 'run', '--env', 'karma-dev', '--max-parallel', 'abc', '-c', dir],
    code: 2,
    expected: "option '--max-parallel <n>' argument 'abc' is invalid. It must be a positive integer (1, 2, 3...).",
  },
  {
    name: 'apply --max-parallel 1.5',
    argv: ({ dir }) => ['apply', '--env', 'karma-dev', '--max-parallel', '1.5', '-c', dir],
    code: 2,
    expected: "option '--max-parallel <n>' argument '1.5' is invalid. It must be a positive integer (1, 2, 3...).",
  },
  {
    name: 'runtime list --env nope (was: exit 0, an empty table)',
    argv: ({ dir }) => ['runtime', 'list', '--env', 'nope', '-c', dir],
    code: 2,
    expected: 'unknown environment "nope"; karma.yaml declares karma-dev, karma-prod',
  },
  {
    name: '--config https:// to a port nobody listens on (was: unexpected Error: connect ECONNREFUSED)',
    argv: () => ['graph', 'validate', '--config', 'https://127.0.0.1:1/x.git'],
    code: 1,
    expected:
      'cannot fetch https://127.0.0.1:1/x.git: connection refused (ECONNREFUSED); check the URL and that the Git server is reachable from here, or clone the repository yourself and pass the directory',
  },
  {
    name: '--config http:// to another host (plain http refused)',
    argv: () => ['graph', 'validate', '--config', 'http://example.com/config.git'],
    code: 2,
    expected: '--config http://example.com/config.git: plain http is refused (the config would travel unencrypted); use https:// (http is accepted only for 127.0.0.1 or localhost)',
  },
];

describe('bad-input corpus: bad command lines and user files, through the real binary', () => {
  let tmp: string;
  let ctx: CliContext;
  let home: string;
  beforeAll(async () => {
    tmp = makeTempDir();
    const dir = makeRepo(tmp, { '.gitignore': '.karma/\n' });
    await git.init({ fs, dir, defaultBranch: 'main' });
    await git.add({ fs, dir, filepath: '.' });
    await git.commit({ fs, dir, message: 'initial', author: { name: 'Test', email: 'test@example.com', timestamp: 0, timezoneOffset: 0 } });
    expect(await main(['graph', 'build', '--config', dir], memoryIO())).toBe(0);
    const files = join(tmp, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'huge.json'), Buffer.alloc(2 * 1024 * 1024, 0x20));
    writeFileSync(join(files, 'shadow.json'), `root:${SECRET}:19000:0:99999:7:::\n`);
    writeFileSync(join(files, 'shadow'), `root:${SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`);
    // In a dot-folder, which the config loader skips: the repo itself stays valid.
    mkdirSync(join(dir, '.inputs'));
    symlinkSync(join(files, 'shadow.json'), join(dir, '.inputs', 'leak.json'));
    execFileSync('mkfifo', [join(files, 'fifo')]);
    home = join(tmp, 'home');
    mkdirSync(home);
    ctx = { tmp, dir, files };
  });
  afterAll(() => removeDir(tmp));

  it.each(CLI_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    // Prepare
    const before = snapshotTree(ctx.dir);
    // Files only: a Git URL may leave its (empty) cache folders under ~/.cache/karma, never a file.
    const homeFiles = (): string[] => Object.entries(snapshotTree(home)).filter(([p, v]) => v !== 'dir' && !p.startsWith('rss-')).map(([p]) => p);
    const homeBefore = homeFiles();

    // Act
    const run = await runKarma(c.argv(ctx), { cwd: ctx.tmp, home, ...(c.stdin !== undefined ? { stdin: c.stdin } : {}) });

    // Assess
    const expected = typeof c.expected === 'function' ? c.expected(ctx) : c.expected;
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    if (expected instanceof RegExp) expect(lines[0]).toMatch(expected);
    else expect(lines[0]).toBe(`karma: ${expected}`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(c.code);
    if (c.secret) expect(run.stdout + run.stderr).not.toContain(c.secret);
    expect(snapshotTree(ctx.dir)).toEqual(before);
    expect(homeFiles()).toEqual(homeBefore);
    expect(run.rssKiB).toBeLessThan(MAX_RSS_KIB);
  }, 40_000);
});
