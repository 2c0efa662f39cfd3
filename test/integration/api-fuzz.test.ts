/**
 * schemathesis (PyPI, pinned in scripts/servers/servers.ts) fuzzes the OpenAPI document a real `karma serve`
 * process serves, with an admin token, over a Git clone of examples/acme-platform with its runtime seeded (as
 * test/integration/api-serve.test.ts sets it up). It fails with schemathesis's own report when any check fails:
 *
 * - not_a_server_error: no 5xx, whatever the request;
 * - status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance:
 *   every answer is one the document lists, with its content type and its schema (problem+json included);
 * - negative_data_rejection: a request the document forbids is refused (4xx), not served;
 * - unsupported_method: a method a path does not have is 405, not 404 or 200;
 * - ignored_auth: a guarded route without a token (or with a wrong one) is 401;
 * - use_after_free, ensure_resource_availability (stateful links between the routes).
 *
 * One check is left out, on purpose: positive_data_acceptance (a request valid by the document is accepted). The
 * document cannot say everything the server checks, and the server is right to refuse: `component` without
 * `env` on GET /graph (a rule across two parameters), an output the component does not declare on GET /impact,
 * inputs that do not satisfy the component's own JSON Schema on POST /request-change (422: that schema lives
 * in the config repo, not in the API's document).
 *
 * Every route is fuzzed, POST /changes/{id}/apply included: it would run terraform on a change that exists, but
 * no fuzzed request can create one (every component of the example has required inputs, so a fuzzed input
 * is refused with 422), so apply only ever sees unknown ids (404) or malformed ones (400). The test checks
 * that afterwards: GET /changes is still empty.
 *
 * The parameters that name things draw from the example's own names (environments, components, outputs) most
 * of the time (schemathesis dictionaries), so the fuzzer reaches the views behind the 404s; the test checks that
 * every read route answered 200 at least once. Bounded to about 20 s: 30 examples per operation, one worker,
 * a fixed seed (reproducible; KARMA_FUZZ_SEED and KARMA_FUZZ_EXAMPLES explore further).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { seededExampleRepo } from '../support/example-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { ensureSchemathesis, freePort } from '../../scripts/servers/servers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'karma.ts');
const ADMIN = 'karma_fuzz-admin-token-0123456789';
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'unsupported_method',
  'ignored_auth',
  'use_after_free',
  'ensure_resource_availability',
];
const EXAMPLES = process.env['KARMA_FUZZ_EXAMPLES'] ?? '30';
const SEED = process.env['KARMA_FUZZ_SEED'] ?? '1';

/** The example's names, for schemathesis's dictionaries: the environments, components and their outputs. */
function exampleNames(dir: string): { environments: string[]; components: string[]; outputs: string[] } {
  const components = fs.readdirSync(join(dir, 'components')).sort();
  const outputs = components.flatMap((c) => ((parseYaml(fs.readFileSync(join(dir, 'components', c, 'component.yaml'), 'utf8')) as { outputs?: string[] }).outputs ?? []));
  return { environments: fs.readdirSync(join(dir, 'environments')).sort(), components, outputs: [...new Set(outputs)].sort() };
}

/** schemathesis.toml: draw names from the example 70% of the time (the rest is fuzz). */
function schemathesisConfig(names: ReturnType<typeof exampleNames>): string {
  const list = (values: string[]): string => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
  return [
    '[dictionaries]',
    `environments = { values = ${list(names.environments)} }`,
    `components = { values = ${list(names.components)} }`,
    `outputs = { values = ${list(names.outputs)} }`,
    '',
    '[parameters]',
    '"env" = { dictionary = "environments", probability = 0.7 }',
    '"component" = { dictionary = "components", probability = 0.7 }',
    '"path.name" = { dictionary = "components", probability = 0.7 }',
    '"output" = { dictionary = "outputs", probability = 0.7 }',
    '"body.env" = { dictionary = "environments", probability = 0.7 }',
    '"body.component" = { dictionary = "components", probability = 0.7 }',
    '',
  ].join('\n');
}

/** The server's JSON log lines (lib/service/log.ts). */
function logLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

function runToEnd(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** schemathesis's report, with the very long lines (a fuzzed URL can be kilobytes) cut. */
function report(output: string): string {
  return output
    .split('\n')
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}… (${l.length} characters)` : l))
    .join('\n');
}

describe('schemathesis fuzzes the API that karma serve serves', () => {
  let tmp: string;
  let server: ChildProcess;
  let stderr = '';
  let base: string;
  let st: string;
  let names: ReturnType<typeof exampleNames>;

  beforeAll(async () => {
    st = ensureSchemathesis();
    tmp = makeTempDir('karma-api-fuzz-');
    const dir = await seededExampleRepo(tmp);
    names = exampleNames(dir);
    fs.writeFileSync(join(tmp, 'schemathesis.toml'), schemathesisConfig(names));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [BIN, 'serve', '--config', dir, '--port', String(port)], {
      env: { ...process.env, KARMA_API_TOKEN: ADMIN, KARMA_TERRAFORM: ensureTerraform() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2_000_000)));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('listening on')) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`karma serve did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    if (tmp) removeDir(tmp);
  });

  it('finds no 5xx, no answer outside the document, no unrefused invalid request, no ignored auth', async () => {
    // Prepare: the token on every request; schemathesis's own reports and database stay in the temp dir.
    const args = [
      '--config-file',
      join(tmp, 'schemathesis.toml'),
      'run',
      `${base}/openapi.json`,
      '--header',
      `Authorization: Bearer ${ADMIN}`,
      '--checks',
      CHECKS.join(','),
      '--max-examples',
      EXAMPLES,
      '--seed',
      SEED,
      // One worker: with several, Python 3.11.7's ast module can fail inside hypothesis ("AST constructor
      // recursion depth mismatch", seen here in the coverage phase), an error of the tool, not of the API.
      '--workers',
      '1',
      '--request-timeout',
      '30',
      // The live feed never ends (a stream, not an answer): its parameters are checked by the unit tests.
      '--exclude-path',
      '/events',
      '--generation-database',
      'none',
      '--no-color',
    ];

    // Act
    const run = await runToEnd(st, args, { cwd: tmp, env: { ...process.env, NO_COLOR: '1' } });

    // Assess: schemathesis's report is the failure message.
    expect(run.code, report(run.output)).toBe(0);
    expect(run.output).toMatch(/Test cases:\s+\d+ generated, \d+ passed/);
    expect(run.output, 'the token must never be printed').not.toContain(ADMIN);
    // Nothing unexpected reached the server's error hook.
    const requests = logLines(stderr).filter((l) => l['msg'] === 'request');
    expect(logLines(stderr).filter((l) => l['msg'] === 'unexpected error')).toEqual([]);
    // The dictionaries worked: every read route served a real answer, not only 400s and 404s.
    // (Not /graphql: random text is no GraphQL document; test/unit/api/graphql.test.ts asks it real ones.)
    for (const route of ['/graph', '/plan', '/impact', '/components/', '/changes', '/audit', '/rollouts']) {
      expect(requests.some((l) => l['method'] === 'GET' && String(l['path']).startsWith(route) && l['status'] === 200), `no 200 for GET ${route}`).toBe(true);
    }
    // And apply never met a change: none was recorded, so no terraform apply ran on fuzzed input.
    const changes = (await (await fetch(`${base}/changes`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { changes: unknown[] };
    expect(changes.changes).toEqual([]);
    expect(requests.some((l) => l['method'] === 'POST' && /^\/changes\/[^/]+\/apply$/.test(String(l['path'])) && l['status'] === 404)).toBe(true);
  }, 180_000);
});
