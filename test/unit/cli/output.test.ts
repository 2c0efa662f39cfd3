/**
 * What the CLI prints (issue 11, "Output"): the DOT and Mermaid pictures (one edge direction, status colours,
 * outputs on the edges, cross-environment edges kept), plurals, `graph order` over every environment,
 * `graph why --json` as objects, `runtime list` with the external parameters. Exact strings and objects, on a
 * copy of examples/acme-platform seeded with its runtime-seed.yaml, and on small hand-made graphs.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karma, onlyJson } from '../../support/cli.ts';
import { edgeLabel, picture, plural, toDot, toMermaid } from '../../../lib/cli/format.ts';
import type { GraphElement, GraphSnapshot, PropValue } from '../../../lib/core/snapshot.ts';
import { copyRepo, makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';
import { makeSource } from '../../../lib/cli/context.ts';
import { loadConfig } from '../../../lib/app/build.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = join(ROOT, 'examples', 'acme-platform');



let tmp: string;
let example: string;

beforeAll(async () => {
  tmp = makeTempDir();
  example = copyRepo(EXAMPLE, tmp, 'example');
  const seeded = await karma('runtime', 'record', join(example, 'runtime-seed.yaml'), '-c', example);
  expect(seeded).toEqual({ code: 0, stdout: ['recorded 17 applies and 1 parameter'], stderr: [] });
});
afterAll(() => removeDir(tmp));

// A hand-made graph: `app` (dev) consumes four outputs of `net` (dev), one of `dns` (shared), an external
// parameter that does not exist, and depends on `base` (dev) for ordering only; `old` (dev) is orphaned.
function vertex(id: string, label: string, props: Record<string, PropValue>): GraphElement {
  return { id, label, props, hash: 'h' };
}
function edge(label: string, from: string, to: string, props: Record<string, PropValue> = {}): GraphElement {
  return { id: `${label}:${from}->${to}`, label, from, to, props, hash: 'h' };
}
const component = (env: string, name: string, status: string): GraphElement => vertex(`component:${env}:${name}`, 'Component', { name, env, status, reason: 'r' });
const output = (env: string, comp: string, name: string): GraphElement => vertex(`output:${env}:${comp}:${name}`, 'Output', { name, env, component: comp, path: `/k/${env}/${comp}/outputs/${name}`, present: true });
const SMALL: GraphSnapshot = {
  meta: { project: 'p', builtAt: '2026-01-01T00:00:00Z', source: 's', configFingerprint: 'f' },
  vertices: [
    vertex('env:dev', 'Environment', { name: 'dev' }),
    vertex('env:shared', 'Environment', { name: 'shared' }),
    component('dev', 'app', 'blocked'),
    component('dev', 'base', 'in-sync'),
    component('dev', 'net', 'failed'),
    component('dev', 'old', 'orphaned'),
    component('shared', 'dns', 'never-applied'),
    ...['a', 'b', 'c', 'd'].map((o) => output('dev', 'net', o)),
    output('shared', 'dns', 'zone'),
    vertex('param:/ext/key', 'Parameter', { path: '/ext/key', present: false }),
  ],
  edges: [
    ...['a', 'b', 'c', 'd'].map((o) => edge('CONSUMES', 'component:dev:app', `output:dev:net:${o}`)),
    edge('CONSUMES', 'component:dev:app', 'output:shared:dns:zone'),
    edge('CONSUMES', 'component:dev:app', 'param:/ext/key'),
    edge('DEPENDS_ON', 'component:dev:app', 'component:dev:net', { via: 'output' }),
    edge('DEPENDS_ON', 'component:dev:app', 'component:shared:dns', { via: 'output' }),
    edge('DEPENDS_ON', 'component:dev:app', 'component:dev:base', { via: 'dependsOn' }),
    edge('IN_ENV', 'component:dev:app', 'env:dev'),
  ],
};

describe('pictures: DOT and Mermaid', () => {
  it('an edge names the outputs consumed, at most three, then counts the rest', () => {
    expect(edgeLabel([])).toBe('');
    expect(edgeLabel(['a', 'b', 'c'])).toBe('a, b, c');
    expect(edgeLabel(['a', 'b', 'c', 'd', 'e'])).toBe('a, b +3 more');
  });

  it('the picture of one environment keeps its cross-environment edges, upstream → dependent', () => {
    // Act
    const dev = picture(SMALL, 'dev');
    const shared = picture(SMALL, 'shared');

    // Assess
    expect(dev).toEqual({
      envs: [
        {
          env: 'dev',
          nodes: [
            { id: 'component:dev:app', env: 'dev', name: 'app', status: 'blocked', otherEnv: false },
            { id: 'component:dev:base', env: 'dev', name: 'base', status: 'in-sync', otherEnv: false },
            { id: 'component:dev:net', env: 'dev', name: 'net', status: 'failed', otherEnv: false },
            { id: 'component:dev:old', env: 'dev', name: 'old', status: 'orphaned', otherEnv: false },
          ],
        },
        { env: 'shared', nodes: [{ id: 'component:shared:dns', env: 'shared', name: 'dns', status: 'never-applied', otherEnv: true }] },
      ],
      params: [{ id: 'param:/ext/key', path: '/ext/key', present: false }],
      edges: [
        { from: 'component:dev:base', to: 'component:dev:app', outputs: [], orderingOnly: true },
        { from: 'component:dev:net', to: 'component:dev:app', outputs: ['a', 'b', 'c', 'd'], orderingOnly: false },
        { from: 'component:shared:dns', to: 'component:dev:app', outputs: ['zone'], orderingOnly: false },
        { from: 'param:/ext/key', to: 'component:dev:app', outputs: [], orderingOnly: false },
      ],
    });
    // From the shared side, the dependent in dev is the other environment's node; the outputs are still named.
    expect(shared).toEqual({
      envs: [
        { env: 'dev', nodes: [{ id: 'component:dev:app', env: 'dev', name: 'app', status: 'blocked', otherEnv: true }] },
        { env: 'shared', nodes: [{ id: 'component:shared:dns', env: 'shared', name: 'dns', status: 'never-applied', otherEnv: false }] },
      ],
      params: [],
      edges: [{ from: 'component:shared:dns', to: 'component:dev:app', outputs: ['zone'], orderingOnly: false }],
    });
  });

  it('DOT: filled by status, dashed for another environment and for ordering-only edges', () => {
    expect(toDot(SMALL, 'dev')).toBe(
      [
        'digraph karma {',
        '  rankdir=LR;',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  subgraph "cluster_dev" {',
        '    label="dev";',
        '    "component:dev:app" [label="app\\nblocked", fillcolor="#e1bee7", color="#7b1fa2"];',
        '    "component:dev:base" [label="base\\nin-sync", fillcolor="#d4edda", color="#2e7d32"];',
        '    "component:dev:net" [label="net\\nfailed", fillcolor="#f8d7da", color="#c62828"];',
        '    "component:dev:old" [label="old\\norphaned", fillcolor="#ffffff", color="#424242"];',
        '  }',
        '  subgraph "cluster_shared" {',
        '    label="shared";',
        '    style=dashed;',
        '    "component:shared:dns" [label="dns\\nnever-applied", fillcolor="#eeeeee", color="#757575", style="rounded,filled,dashed"];',
        '  }',
        '  "param:/ext/key" [label="/ext/key\\nmissing", shape=cylinder, fillcolor="#ffffff", color="#c62828"];',
        '  "component:dev:base" -> "component:dev:app" [style=dashed];',
        '  "component:dev:net" -> "component:dev:app" [label="a, b +2 more"];',
        '  "component:shared:dns" -> "component:dev:app" [label="zone"];',
        '  "param:/ext/key" -> "component:dev:app";',
        '}',
      ].join('\n'),
    );
  });

  it('Mermaid: the same picture, coloured through classDef', () => {
    expect(toMermaid(SMALL, 'dev')).toBe(
      [
        'flowchart LR',
        '  subgraph e0["dev"]',
        '    n0["app<br/>blocked"]',
        '    n1["base<br/>in-sync"]',
        '    n2["net<br/>failed"]',
        '    n3["old<br/>orphaned"]',
        '  end',
        '  subgraph e1["shared"]',
        '    n4["dns<br/>never-applied"]',
        '  end',
        '  style e1 stroke-dasharray:5 5',
        '  p0[("/ext/key<br/>missing")]',
        '  n1 -.-> n0',
        '  n2 -->|"a, b +2 more"| n0',
        '  n4 -->|"zone"| n0',
        '  p0 --> n0',
        '  classDef neverApplied fill:#eeeeee,stroke:#757575,color:#000000',
        '  classDef inSync fill:#d4edda,stroke:#2e7d32,color:#000000',
        '  classDef blocked fill:#e1bee7,stroke:#7b1fa2,color:#000000',
        '  classDef failed fill:#f8d7da,stroke:#c62828,color:#000000',
        '  classDef orphaned fill:#ffffff,stroke:#424242,color:#000000',
        '  classDef otherEnv stroke-dasharray:5 5',
        '  classDef missingParameter fill:#ffffff,stroke:#c62828,color:#000000',
        '  class n0 blocked',
        '  class n1 inSync',
        '  class n2 failed',
        '  class n3 orphaned',
        '  class n4 neverApplied',
        '  class n4 otherEnv',
        '  class p0 missingParameter',
      ].join('\n'),
    );
  });

  it('graph show --format mermaid --env karma-prod keeps the edge from karma-shared', async () => {
    // Act
    const run = await karma('graph', 'show', '--format', 'mermaid', '--env', 'karma-prod', '-c', example);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toEqual([]);
    expect(run.stdout.join('\n')).toBe(
      [
        'flowchart LR',
        '  subgraph e0["karma-prod"]',
        '    n0["api-service<br/>in-sync"]',
        '    n1["cache<br/>in-sync"]',
        '    n2["database<br/>in-sync"]',
        '    n3["monitoring<br/>in-sync"]',
        '    n4["network<br/>in-sync"]',
        '    n5["queue<br/>in-sync"]',
        '    n6["security-baseline<br/>in-sync"]',
        '    n7["serverless-site<br/>pending"]',
        '    n8["worker<br/>in-sync"]',
        '  end',
        '  subgraph e1["karma-shared"]',
        '    n9["dns-zone<br/>in-sync"]',
        '  end',
        '  style e1 stroke-dasharray:5 5',
        '  p0[("/acme/external/datadog-api-key")]',
        '  n0 -.-> n3',
        '  n0 -->|"api_url"| n7',
        '  n1 -->|"endpoint"| n0',
        '  n2 -->|"endpoint"| n0',
        '  n2 -->|"endpoint"| n8',
        '  n4 -->|"private_subnet_ids, vpc_id"| n1',
        '  n4 -->|"private_subnet_ids, vpc_id"| n2',
        '  n5 -->|"queue_url"| n0',
        '  n5 -->|"queue_arn"| n8',
        '  n6 -->|"kms_key_arn"| n2',
        '  n6 -.-> n5',
        '  n8 -.-> n3',
        '  n9 -->|"zone_id"| n7',
        '  p0 --> n0',
        '  classDef inSync fill:#d4edda,stroke:#2e7d32,color:#000000',
        '  classDef pending fill:#fff3cd,stroke:#b8860b,color:#000000',
        '  classDef otherEnv stroke-dasharray:5 5',
        '  classDef parameter fill:#ffffff,stroke:#616161,color:#000000',
        '  class n0,n1,n2,n3,n4,n5,n6,n8,n9 inSync',
        '  class n7 pending',
        '  class n9 otherEnv',
        '  class p0 parameter',
      ].join('\n'),
    );
  });

  it('graph show --format dot --env karma-shared draws its dependents in the other environments', async () => {
    // Act
    const run = await karma('graph', 'show', '--format', 'dot', '--env', 'karma-shared', '-c', example);

    // Assess
    expect(run).toEqual({
      code: 0,
      stderr: [],
      stdout: [
        [
          'digraph karma {',
          '  rankdir=LR;',
          '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
          '  edge [fontname="Helvetica", fontsize=10];',
          '  subgraph "cluster_karma-dev" {',
          '    label="karma-dev";',
          '    style=dashed;',
          '    "component:karma-dev:serverless-site" [label="serverless-site\\nblocked", fillcolor="#e1bee7", color="#7b1fa2", style="rounded,filled,dashed"];',
          '  }',
          '  subgraph "cluster_karma-prod" {',
          '    label="karma-prod";',
          '    style=dashed;',
          '    "component:karma-prod:serverless-site" [label="serverless-site\\npending", fillcolor="#fff3cd", color="#b8860b", style="rounded,filled,dashed"];',
          '  }',
          '  subgraph "cluster_karma-shared" {',
          '    label="karma-shared";',
          '    "component:karma-shared:dns-zone" [label="dns-zone\\nin-sync", fillcolor="#d4edda", color="#2e7d32"];',
          '  }',
          '  "component:karma-shared:dns-zone" -> "component:karma-dev:serverless-site" [label="zone_id"];',
          '  "component:karma-shared:dns-zone" -> "component:karma-prod:serverless-site" [label="zone_id"];',
          '}',
        ].join('\n'),
      ],
    });
  });
});

describe('plurals', () => {
  it('one thing is singular, any other count plural', () => {
    expect([0, 1, 2].map((n) => plural(n, 'environment'))).toEqual(['0 environments', '1 environment', '2 environments']);
    expect([1, 3].map((n) => plural(n, 'vertex', 'vertices'))).toEqual(['1 vertex', '3 vertices']);
  });

  it('graph validate, graph build and runtime record count in the singular for one', async () => {
    // Prepare: one environment, one component, one deployment
    const dir = makeRepo(join(tmp, 'single'), {
      'karma.yaml': ['project: single', 'environments:', '  karma-dev:', '    region: eu-west-1', ''].join('\n'),
      'components/app/component.yaml': null,
      'modules/app/main.tf': null,
      'environments/karma-dev/app.json': null,
    });
    writeFileSync(join(dir, 'record.yaml'), ['parameters:', '  - { name: /ext/one, value: v }', 'applies:', '  - { env: karma-dev, component: network, outputs: { vpc_id: vpc-1 } }', ''].join('\n'));

    // Act
    const validate = await karma('graph', 'validate', '-c', dir);
    const record = await karma('runtime', 'record', join(dir, 'record.yaml'), '-c', dir);
    const build = await karma('graph', 'build', '-c', dir);

    // Assess
    expect(validate).toEqual({ code: 0, stdout: ['valid: 1 environment, 1 component, 1 deployment'], stderr: [] });
    expect(record).toEqual({ code: 0, stdout: ['recorded 1 apply and 1 parameter'], stderr: [] });
    expect(build.code).toBe(0);
    expect(build.stdout[1]).toBe('  1 environment, 1 component, 1 deployment → 3 vertices, 2 edges');
  });
});

describe('graph order without --env: every environment, in the order a run applies them', () => {
  it('text: karma-shared first (karma-dev and karma-prod consume its outputs), then by name', async () => {
    // Act
    const run = await karma('graph', 'order', '-c', example);

    // Assess
    expect(run).toEqual({
      code: 0,
      stderr: [],
      stdout: [
        'karma-shared: to apply',
        '  (nothing)',
        'karma-dev: to apply',
        '  wave 1: cache, database, queue\n  wave 2: api-service, worker\n  wave 3: monitoring, serverless-site',
        'karma-prod: to apply',
        '  wave 1: serverless-site',
      ],
    });
  });

  it('--json: {environments: [{env, waves, skipped, orphaned}]}; --env E --json keeps its {env, waves, ...} shape', async () => {
    // Act
    const all = await karma('graph', 'order', '--json', '-c', example);
    const one = await karma('graph', 'order', '--env', 'karma-prod', '--json', '-c', example);

    // Assess
    expect(onlyJson(all)).toEqual({
      environments: [
        { env: 'karma-shared', waves: [], skipped: [], orphaned: [] },
        { env: 'karma-dev', waves: [['cache', 'database', 'queue'], ['api-service', 'worker'], ['monitoring', 'serverless-site']], skipped: [], orphaned: [] },
        { env: 'karma-prod', waves: [['serverless-site']], skipped: [], orphaned: [] },
      ],
    });
    expect(onlyJson(one)).toEqual({ env: 'karma-prod', waves: [['serverless-site']], skipped: [], orphaned: [] });
  });

  it('--destroy: the environments in reverse, each dependents first', async () => {
    // Act
    const run = await karma('graph', 'order', '--destroy', '--json', '-c', example);

    // Assess
    const everything = [['network', 'security-baseline'], ['cache', 'database', 'queue'], ['api-service', 'worker'], ['monitoring', 'serverless-site']];
    expect(onlyJson(run)).toEqual({
      environments: [
        { env: 'karma-prod', waves: [...everything].reverse(), orphaned: [] },
        { env: 'karma-dev', waves: [...everything].reverse(), orphaned: [] },
        { env: 'karma-shared', waves: [['dns-zone']], orphaned: [] },
      ],
    });
  });

  it('an unknown --env is still exit 2 with the declared environments', async () => {
    expect(await karma('graph', 'order', '--env', 'karma-stage', '-c', example)).toEqual({
      code: 2,
      stdout: [],
      stderr: ['karma: unknown environment "karma-stage"; karma.yaml declares karma-dev, karma-prod, karma-shared'],
    });
  });
});

describe('graph why: the chain as objects in --json, the same text as before', () => {
  it('--json: each step an object {kind, depth, env, component, status, reason}', async () => {
    // Act
    const run = await karma('graph', 'why', 'serverless-site', 'karma-dev', '--json', '-c', example);

    // Assess
    const step = (kind: string, depth: number, component: string, status: string, reason: string): unknown => ({ kind, depth, env: 'karma-dev', component, status, reason });
    expect(onlyJson(run)).toEqual({
      env: 'karma-dev',
      component: 'serverless-site',
      status: 'blocked',
      reason: 'api-service is blocked',
      chain: [
        step('status', 0, 'serverless-site', 'blocked', 'api-service is blocked'),
        step('status', 1, 'api-service', 'blocked', 'cache is failed'),
        step('status', 2, 'cache', 'failed', 'apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity'),
        step('once-unblocked', 2, 'api-service', 'never-applied', 'never applied in karma-dev'),
        step('once-unblocked', 1, 'serverless-site', 'never-applied', 'never applied in karma-dev'),
      ],
    });
  });

  it('text: the lines of graph why, fixed, for every deployment of the example', async () => {
    // Prepare
    const dir = copyRepo(EXAMPLE, tmp, 'why-text');
    expect((await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '-c', dir)).code).toBe(0);
    const config = await loadConfig(makeSource({ config: dir }));
    const expected: Record<string, string[]> = {
      'karma-dev/api-service': [
        'api-service is blocked: cache is failed',
        '  cache is failed: apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity',
        '  once unblocked, api-service is never-applied: never applied in karma-dev',
      ],
      'karma-dev/cache': ['cache is failed: apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity'],
      'karma-dev/database': ['database is stale-inputs: network.private_subnet_ids is at version 2, applied with version 1'],
      'karma-dev/monitoring': [
        'monitoring is blocked: api-service is blocked',
        '  api-service is blocked: cache is failed',
        '    cache is failed: apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity',
        '    once unblocked, api-service is never-applied: never applied in karma-dev',
        '  once unblocked, monitoring is never-applied: never applied in karma-dev',
      ],
      'karma-dev/network': ['network is in-sync: applied at 2026-11-26T14:00:00Z; config and inputs unchanged'],
      'karma-dev/queue': ['queue is pending: config changed since the apply at 2026-11-20T08:05:00Z'],
      'karma-dev/security-baseline': ['security-baseline is in-sync: applied at 2026-11-20T08:01:00Z; config and inputs unchanged'],
      'karma-dev/serverless-site': [
        'serverless-site is blocked: api-service is blocked',
        '  api-service is blocked: cache is failed',
        '    cache is failed: apply failed at 2026-11-20T08:16:00Z: creating ElastiCache Replication Group (sessions): InsufficientCacheClusterCapacity',
        '    once unblocked, api-service is never-applied: never applied in karma-dev',
        '  once unblocked, serverless-site is never-applied: never applied in karma-dev',
      ],
      'karma-dev/worker': ['worker is drifted: drift check at 2026-11-27T03:00:00Z found changes: desired_count changed outside Terraform (1 -> 3)'],
      'karma-prod/api-service': ['api-service is in-sync: applied at 2026-11-03T10:40:00Z; config and inputs unchanged'],
      'karma-prod/cache': ['cache is in-sync: applied at 2026-11-03T10:21:00Z; config and inputs unchanged'],
      'karma-prod/database': ['database is in-sync: applied at 2026-11-03T10:20:00Z; config and inputs unchanged'],
      'karma-prod/monitoring': ['monitoring is in-sync: applied at 2026-11-03T10:50:00Z; config and inputs unchanged'],
      'karma-prod/network': ['network is in-sync: applied at 2026-11-03T10:00:00Z; config and inputs unchanged'],
      'karma-prod/queue': ['queue is in-sync: applied at 2026-11-03T10:05:00Z; config and inputs unchanged'],
      'karma-prod/security-baseline': ['security-baseline is in-sync: applied at 2026-11-03T10:02:00Z; config and inputs unchanged'],
      'karma-prod/serverless-site': ['serverless-site is pending: config changed since the apply at 2026-11-03T10:45:00Z'],
      'karma-prod/worker': ['worker is in-sync: applied at 2026-11-03T10:41:00Z; config and inputs unchanged'],
      'karma-shared/dns-zone': ['dns-zone is in-sync: applied at 2026-11-02T09:00:00Z (commit 3f1c2a9); config and inputs unchanged'],
    };

    // Act + Assess
    expect(config.deployments.map((d) => `${d.env}/${d.component}`)).toEqual(Object.keys(expected));
    for (const d of config.deployments) {
      const run = await karma('graph', 'why', d.component, d.env, '-c', dir);
      expect(run, `${d.env}/${d.component}`).toEqual({ code: 0, stdout: [expected[`${d.env}/${d.component}`]!.join('\n')], stderr: [] });
    }
  });

  it('an orphaned deployment: its advice is a step of its own, and removal stays', async () => {
    // Prepare: monitoring leaves karma-prod's config; its runtime record stays
    const dir = copyRepo(EXAMPLE, tmp, 'why-orphan');
    expect((await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '-c', dir)).code).toBe(0);
    rmSync(join(dir, 'environments', 'karma-prod', 'monitoring.yaml'));

    // Act
    const json = await karma('graph', 'why', 'monitoring', 'karma-prod', '--json', '-c', dir);
    const text = await karma('graph', 'why', 'monitoring', 'karma-prod', '-c', dir);

    // Assess
    const reason = 'no longer in the config; last applied at 2026-11-03T10:50:00Z';
    const advice = 'its resources still exist: karma destroy monitoring karma-prod (destroy them) or karma forget monitoring karma-prod (drop the record)';
    expect(onlyJson(json)).toEqual({
      env: 'karma-prod',
      component: 'monitoring',
      status: 'orphaned',
      reason,
      chain: [
        { kind: 'status', depth: 0, env: 'karma-prod', component: 'monitoring', status: 'orphaned', reason },
        { kind: 'advice', depth: 1, env: 'karma-prod', component: 'monitoring', advice },
      ],
      removal: null,
    });
    expect(text).toEqual({ code: 0, stdout: [`monitoring is orphaned: ${reason}\n  ${advice}`], stderr: [] });
  });
});

describe('runtime list: the external parameters the config references', () => {
  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

  it('--json: external, with whether it exists, its version and who uses it; a SecureString value never', async () => {
    // Act
    const all = onlyJson(await karma('runtime', 'list', '--json', '-c', example)) as { parameters: { name: string }[]; external: unknown[] };
    const dev = onlyJson(await karma('runtime', 'list', '--env', 'karma-dev', '--json', '-c', example)) as { parameters: { name: string }[]; external: unknown[] };
    const shared = onlyJson(await karma('runtime', 'list', '--env', 'karma-shared', '--json', '-c', example)) as { parameters: { name: string }[]; external: unknown[] };

    // Assess
    const key = (usedBy: { env: string; component: string }[]): unknown => ({
      name: '/acme/external/datadog-api-key',
      exists: true,
      version: 1,
      type: 'SecureString',
      lastModified: expect.stringMatching(ISO),
      value: '(secure)',
      usedBy,
    });
    expect(all.external).toEqual([key([{ env: 'karma-dev', component: 'api-service' }, { env: 'karma-prod', component: 'api-service' }])]);
    expect(dev.external).toEqual([key([{ env: 'karma-dev', component: 'api-service' }])]);
    expect(shared).toEqual({
      parameters: [
        { name: '/karma/karma-shared/dns-zone/outputs/zone_id', version: 1, type: 'String', lastModified: expect.stringMatching(ISO), value: 'Z0ACME123456' },
        { name: '/karma/karma-shared/dns-zone/outputs/zone_name', version: 1, type: 'String', lastModified: expect.stringMatching(ISO), value: 'acme.example.com' },
        { name: '/karma/karma-shared/dns-zone/state', version: 1, type: 'String', lastModified: expect.stringMatching(ISO), value: expect.stringMatching(/^\{"configHash":/) },
      ],
      external: [],
    });
    expect(all.parameters.map((p) => p.name)).not.toContain('/acme/external/datadog-api-key');
  });

  it('text: a second table after the prefix, "(missing)" for one that does not exist', async () => {
    // Prepare: the external parameter deleted
    const dir = copyRepo(EXAMPLE, tmp, 'runtime-list');
    expect((await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '-c', dir)).code).toBe(0);
    const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
    expect(await backend.runtime.delete(['/acme/external/datadog-api-key'])).toEqual({ deleted: 1 });
    await backend.close();

    // Act
    const text = await karma('runtime', 'list', '-c', dir);
    const json = onlyJson(await karma('runtime', 'list', '--env', 'karma-prod', '--json', '-c', dir)) as { external: unknown[] };
    const dev = await karma('runtime', 'list', '--env', 'karma-dev', '-c', dir);

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout.slice(1)).toEqual([
      '\nexternal parameters the config references:',
      [
        'NAME                            VERSION  TYPE  VALUE      USED BY',
        '/acme/external/datadog-api-key  -        -     (missing)  karma-dev/api-service, karma-prod/api-service',
      ].join('\n'),
    ]);
    expect(dev.stdout.slice(1)).toEqual([
      '\nexternal parameters the config references in karma-dev:',
      ['NAME                            VERSION  TYPE  VALUE      USED BY', '/acme/external/datadog-api-key  -        -     (missing)  api-service'].join('\n'),
    ]);
    expect(json.external).toEqual([
      { name: '/acme/external/datadog-api-key', exists: false, version: null, type: null, lastModified: null, value: null, usedBy: [{ env: 'karma-prod', component: 'api-service' }] },
    ]);
  });
});
