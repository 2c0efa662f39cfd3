/**
 * Synthetic config repos for benchmarks: `node bench/generate.ts --components 5000 --envs 3 --out DIR [--seed N]`.
 *
 * The shape imitates a large platform team's repo, deterministic for a seed:
 *   - components in layers: layer 0 is the foundation (networks, KMS baselines, DNS zones, buckets, queues);
 *     every later component depends on 1–4 components of earlier layers, half of the time on the layer just
 *     before it, so chains are as deep as the layers;
 *   - dependencies are mostly `${component.output}` references in typed inputs (a database takes its network's
 *     vpc_id and subnets, a service its database endpoint and queue url...), the rest in an `upstream` map of
 *     strings or as `dependsOn` (ordering only); sites take their DNS zone from the first environment through
 *     `${env:<first-env>/dns-zone-NNNN.zone_id}`, as a shared environment would; services read an external
 *     `${ssm:/bench/external/...}` parameter;
 *   - input schemas: twelve kinds share twelve schema shapes (with enums, patterns, minimums, formats), and a
 *     fraction of components (8% by default) extend theirs with properties of their own, so their schema is
 *     unique;
 *   - one small Terraform module per component (modules/<name>/main.tf, built-ins only) and one JSON input
 *     file per component and environment (values differ per environment).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same repo on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const int = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));

type Schema = Record<string, unknown>;

interface Kind {
  readonly name: string;
  readonly outputs: readonly string[];
  readonly sensitive?: readonly string[];
  /** Outputs whose value is a list or a number (recorded JSON-encoded), the others are strings. */
  readonly listOutputs?: readonly string[];
  /** Input properties with their schema; the required ones are listed in `required`. */
  readonly properties: Record<string, Schema>;
  readonly required: readonly string[];
  /** Typed inputs filled with a reference to an upstream of a given kind: input → [kind, output]. */
  readonly slots: Record<string, readonly [string, string]>;
  /** Plain values of the required and some optional inputs, per environment. */
  values(rng: Rng, env: number): Record<string, unknown>;
}

const str: Schema = { type: 'string' };
const strList: Schema = { type: 'array', items: { type: 'string' } };
const tags: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const upstream: Schema = { type: 'object', additionalProperties: { type: 'string' }, description: 'values of upstream outputs, by name' };

export const KINDS: readonly Kind[] = [
  {
    name: 'network',
    outputs: ['vpc_id', 'private_subnet_ids', 'public_subnet_ids'],
    listOutputs: ['private_subnet_ids', 'public_subnet_ids'],
    properties: {
      cidr: { type: 'string', pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}/\\d{1,2}$' },
      az_count: { type: 'integer', minimum: 1, maximum: 6 },
      enable_nat: { type: 'boolean' },
    },
    required: ['cidr', 'az_count'],
    slots: {},
    values: (rng, env) => ({ cidr: `10.${int(rng, 0, 255)}.0.0/16`, az_count: env === 0 ? 2 : 3, enable_nat: rng() < 0.7 }),
  },
  {
    name: 'security-baseline',
    outputs: ['kms_key_arn', 'audit_bucket'],
    properties: { kms_alias: { type: 'string', pattern: '^alias/[a-z0-9-]+$' }, rotation_days: { type: 'integer', minimum: 90 } },
    required: ['kms_alias'],
    slots: {},
    values: (rng) => ({ kms_alias: `alias/key-${int(rng, 1, 9999)}`, rotation_days: pick(rng, [90, 180, 365]) }),
  },
  {
    name: 'dns-zone',
    outputs: ['zone_id', 'zone_name'],
    properties: { domain: { type: 'string', pattern: '^[a-z0-9.-]+$' }, private_zone: { type: 'boolean' } },
    required: ['domain'],
    slots: {},
    values: (rng, env) => ({ domain: `z${int(rng, 1, 99999)}.env${env}.example.com`, private_zone: rng() < 0.3 }),
  },
  {
    name: 'bucket',
    outputs: ['bucket_name', 'bucket_arn'],
    properties: { versioning: { type: 'boolean' }, lifecycle_days: { type: 'integer', minimum: 1 }, kms_key_arn: str },
    required: ['versioning'],
    slots: { kms_key_arn: ['security-baseline', 'kms_key_arn'] },
    values: (rng, env) => ({ versioning: env > 0, lifecycle_days: pick(rng, [30, 90, 365]) }),
  },
  {
    name: 'queue',
    outputs: ['queue_url', 'queue_arn'],
    properties: { fifo: { type: 'boolean' }, visibility_timeout: { type: 'integer', minimum: 0, maximum: 43200 }, kms_key_arn: str },
    required: ['fifo'],
    slots: { kms_key_arn: ['security-baseline', 'kms_key_arn'] },
    values: (rng) => ({ fifo: rng() < 0.2, visibility_timeout: pick(rng, [30, 60, 300]) }),
  },
  {
    name: 'database',
    outputs: ['endpoint', 'port', 'master_password'],
    sensitive: ['master_password'],
    listOutputs: ['port'],
    properties: {
      vpc_id: str,
      subnet_ids: strList,
      kms_key_arn: str,
      instance_class: { type: 'string', enum: ['db.t4g.medium', 'db.r6g.large', 'db.r6g.xlarge', 'db.r6g.2xlarge'] },
      storage_gb: { type: 'integer', minimum: 20, maximum: 65536 },
      multi_az: { type: 'boolean' },
    },
    required: ['instance_class', 'storage_gb'],
    slots: { vpc_id: ['network', 'vpc_id'], subnet_ids: ['network', 'private_subnet_ids'], kms_key_arn: ['security-baseline', 'kms_key_arn'] },
    values: (rng, env) => ({ instance_class: env === 0 ? 'db.t4g.medium' : pick(rng, ['db.r6g.large', 'db.r6g.xlarge']), storage_gb: pick(rng, [20, 100, 500]), multi_az: env > 0 }),
  },
  {
    name: 'cache',
    outputs: ['endpoint'],
    properties: { vpc_id: str, subnet_ids: strList, node_type: { type: 'string', enum: ['cache.t4g.small', 'cache.r6g.large'] }, nodes: { type: 'integer', minimum: 1, maximum: 20 } },
    required: ['node_type'],
    slots: { vpc_id: ['network', 'vpc_id'], subnet_ids: ['network', 'private_subnet_ids'] },
    values: (rng, env) => ({ node_type: env === 0 ? 'cache.t4g.small' : 'cache.r6g.large', nodes: int(rng, 1, 4) }),
  },
  {
    name: 'service',
    outputs: ['service_url', 'task_role_arn'],
    properties: {
      database_endpoint: str,
      queue_url: str,
      cache_endpoint: str,
      api_key: str,
      image: { type: 'string', pattern: '^[a-z0-9./-]+:[A-Za-z0-9._-]+$' },
      desired_count: { type: 'integer', minimum: 1 },
      cpu: { type: 'integer', enum: [256, 512, 1024, 2048] },
      environment: tags,
    },
    required: ['image', 'desired_count'],
    slots: { database_endpoint: ['database', 'endpoint'], queue_url: ['queue', 'queue_url'], cache_endpoint: ['cache', 'endpoint'] },
    values: (rng, env) => ({
      image: `registry.example.com/svc-${int(rng, 1, 500)}:v1.${int(rng, 0, 40)}.${int(rng, 0, 9)}`,
      desired_count: env === 0 ? 1 : int(rng, 2, 12),
      cpu: pick(rng, [256, 512, 1024]),
      environment: { LOG_LEVEL: env === 0 ? 'debug' : 'info', FEATURE_FLAGS: `f${int(rng, 0, 99)}` },
      api_key: `\${ssm:/bench/external/api-key-${int(rng, 0, 19)}}`,
    }),
  },
  {
    name: 'worker',
    outputs: ['worker_role_arn'],
    properties: { queue_arn: str, database_endpoint: str, concurrency: { type: 'integer', minimum: 1, maximum: 256 }, image: str },
    required: ['concurrency', 'image'],
    slots: { queue_arn: ['queue', 'queue_arn'], database_endpoint: ['database', 'endpoint'] },
    values: (rng) => ({ concurrency: pick(rng, [2, 4, 8, 16]), image: `registry.example.com/worker-${int(rng, 1, 300)}:latest` }),
  },
  {
    name: 'function',
    outputs: ['function_arn', 'function_url'],
    properties: {
      bucket_arn: str,
      runtime: { type: 'string', enum: ['nodejs22.x', 'nodejs24.x', 'python3.13'] },
      memory_mb: { type: 'integer', minimum: 128, maximum: 10240 },
      timeout_s: { type: 'integer', minimum: 1, maximum: 900 },
    },
    required: ['runtime', 'memory_mb'],
    slots: { bucket_arn: ['bucket', 'bucket_arn'] },
    values: (rng) => ({ runtime: pick(rng, ['nodejs22.x', 'nodejs24.x', 'python3.13']), memory_mb: pick(rng, [128, 256, 1024]), timeout_s: pick(rng, [3, 30, 300]) }),
  },
  {
    name: 'site',
    outputs: ['site_url', 'distribution_id'],
    properties: {
      api_url: str,
      zone_id: str,
      hostname: { type: 'string', pattern: '^[a-z0-9.-]+$' },
      price_class: { type: 'string', enum: ['PriceClass_100', 'PriceClass_200', 'PriceClass_All'] },
    },
    required: ['hostname'],
    slots: { api_url: ['service', 'service_url'], zone_id: ['dns-zone', 'zone_id'] },
    values: (rng, env) => ({ hostname: `www${int(rng, 1, 9999)}.env${env}.example.com`, price_class: env === 0 ? 'PriceClass_100' : 'PriceClass_All' }),
  },
  {
    name: 'monitoring',
    outputs: ['dashboard_url'],
    properties: { log_retention_days: { type: 'integer', enum: [7, 14, 30, 90, 365] }, alarm_email: { type: 'string', format: 'email' } },
    required: ['log_retention_days'],
    slots: {},
    values: (rng, env) => ({ log_retention_days: env === 0 ? 7 : pick(rng, [30, 90, 365]), alarm_email: `oncall-${int(rng, 1, 40)}@example.com` }),
  },
];

const KIND = new Map(KINDS.map((k) => [k.name, k]));
const FOUNDATION = ['network', 'network', 'network', 'security-baseline', 'security-baseline', 'dns-zone', 'bucket', 'bucket', 'queue', 'queue'];
const UPPER = ['database', 'database', 'cache', 'queue', 'bucket', 'service', 'service', 'service', 'worker', 'worker', 'function', 'function', 'site', 'monitoring'];

export interface GeneratedComponent {
  readonly name: string;
  readonly kind: string;
  readonly layer: number;
  readonly outputs: readonly string[];
  /** JSON-encoded outputs (lists, numbers), by name. */
  readonly listOutputs: readonly string[];
  /** Components it depends on (references and dependsOn), same environment. */
  readonly deps: readonly string[];
  readonly dependsOn: readonly string[];
  readonly uniqueSchema: boolean;
}

export interface GeneratedRepo {
  readonly dir: string;
  readonly envs: readonly string[];
  /** In layer order: every component comes after the components it depends on. */
  readonly components: readonly GeneratedComponent[];
  readonly files: number;
  readonly bytes: number;
  readonly externalParameters: readonly string[];
}

export interface GenerateOptions {
  readonly components: number;
  readonly envs: number;
  readonly out: string;
  readonly seed?: number;
  /** Share of components whose schema has properties of its own. Default 0.08. */
  readonly uniqueSchemaRatio?: number;
}

export const ENV_NAMES = ['dev', 'staging', 'prod', 'qa', 'perf', 'dr'];
export const envName = (i: number): string => ENV_NAMES[i] ?? `env-${i}`;

/** Writes a synthetic config repo into `out` (emptied first). */
export function generateRepo(options: GenerateOptions): GeneratedRepo {
  const rng = prng(options.seed ?? 1);
  const n = options.components;
  const envs = Array.from({ length: options.envs }, (_, i) => envName(i));
  const uniqueRatio = options.uniqueSchemaRatio ?? 0.08;
  const dir = resolve(options.out);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let files = 0;
  let bytes = 0;
  const write = (path: string, text: string): void => {
    writeFileSync(join(dir, path), text);
    files++;
    bytes += Buffer.byteLength(text);
  };

  // Layers: ~12% foundation, the rest spread evenly over the upper layers.
  const layerCount = Math.max(2, Math.min(12, Math.ceil(Math.log2(Math.max(n, 2))) - 1));
  const foundation = Math.max(1, Math.round(n * 0.12));
  const layerOf = (i: number): number => (i < foundation ? 0 : 1 + Math.floor(((i - foundation) * (layerCount - 1)) / Math.max(1, n - foundation)));
  const width = String(n - 1).length;

  interface Draft extends GeneratedComponent {
    readonly refs: Record<string, readonly [string, string]>; // input → [component, output]
    readonly upstreamRefs: Record<string, readonly [string, string]>;
    readonly extra: Record<string, Schema>;
  }
  const drafts: Draft[] = [];
  const byKind = new Map<string, Draft[]>(); // components of earlier layers, by kind
  const byLayer: Draft[][] = [];
  const earlier: Draft[] = [];
  let currentLayer = 0;
  for (let i = 0; i < n; i++) {
    const layer = layerOf(i);
    if (layer !== currentLayer) {
      // Components of a finished layer become available as dependencies.
      for (const d of byLayer[currentLayer] ?? []) {
        earlier.push(d);
        const list = byKind.get(d.kind) ?? [];
        list.push(d);
        byKind.set(d.kind, list);
      }
      currentLayer = layer;
    }
    const kind = KIND.get(pick(rng, layer === 0 ? FOUNDATION : UPPER))!;
    const name = `${kind.name}-${String(i).padStart(width, '0')}`;
    const deps: string[] = [];
    const refs: Record<string, readonly [string, string]> = {};
    const upstreamRefs: Record<string, readonly [string, string]> = {};
    const dependsOn: string[] = [];
    if (layer > 0) {
      const want = int(rng, 1, 4);
      const slots = Object.entries(kind.slots);
      // Slots that take the same upstream kind (vpc_id and subnet_ids) share one upstream.
      const chosenByKind = new Map<string, Draft>();
      for (const [input, [slotKind, output]] of slots) {
        let up = chosenByKind.get(slotKind);
        if (!up) {
          if (deps.length >= want || rng() < 0.2) continue;
          const candidates = byKind.get(slotKind);
          if (!candidates || candidates.length === 0) continue;
          up = pick(rng, candidates);
          chosenByKind.set(slotKind, up);
          deps.push(up.name);
        }
        refs[input] = [up.name, output];
      }
      const previous = byLayer[layer - 1] ?? [];
      for (let tries = 0; deps.length < want && tries < 20; tries++) {
        const up = rng() < 0.5 && previous.length > 0 ? pick(rng, previous) : pick(rng, earlier);
        if (deps.includes(up.name)) continue;
        deps.push(up.name);
        if (rng() < 0.25) dependsOn.push(up.name);
        else {
          const output = pick(rng, up.outputs.filter((o) => !(KIND.get(up.kind)!.sensitive ?? []).includes(o)));
          upstreamRefs[`${up.name.replace(/-/g, '_')}_${output}`] = [up.name, output];
        }
      }
    }
    const extra: Record<string, Schema> = {};
    const uniqueSchema = rng() < uniqueRatio;
    if (uniqueSchema) {
      const count = int(rng, 1, 3);
      for (let e = 0; e < count; e++) {
        extra[`x_${name.replace(/-/g, '_')}_${e}`] = pick(rng, [
          { type: 'string', minLength: 1 },
          { type: 'integer', minimum: 0, maximum: int(rng, 10, 10000) },
          { type: 'boolean' },
          { type: 'string', enum: ['a', 'b', `c${i}`] },
        ]);
      }
    }
    const draft: Draft = {
      name,
      kind: kind.name,
      layer,
      outputs: kind.outputs,
      listOutputs: kind.listOutputs ?? [],
      deps,
      dependsOn: dependsOn.sort(),
      uniqueSchema,
      refs,
      upstreamRefs,
      extra,
    };
    drafts.push(draft);
    (byLayer[layer] ??= []).push(draft);
  }

  write('karma.yaml', stringify({
    project: `bench-${n}x${envs.length}`,
    parameterPrefix: '/karma',
    environments: Object.fromEntries(envs.map((e, i) => [e, { region: 'eu-west-1', account: String(100000000000 + i * 111111111) }])),
    backend: { type: 'local', path: '.karma' },
  }));

  const external = new Set<string>();
  for (const d of drafts) {
    const kind = KIND.get(d.kind)!;
    const properties: Record<string, Schema> = { ...kind.properties, ...d.extra, upstream, tags };
    const component = {
      description: `${kind.name} ${d.name} (layer ${d.layer})`,
      terraform: `../../modules/${d.name}`,
      ...(d.dependsOn.length > 0 ? { dependsOn: d.dependsOn } : {}),
      inputs: { type: 'object', additionalProperties: false, required: [...kind.required, ...Object.keys(d.extra).slice(0, 1)], properties },
      outputs: kind.outputs,
      ...(kind.sensitive ? { sensitiveOutputs: kind.sensitive } : {}),
    };
    mkdirSync(join(dir, 'components', d.name), { recursive: true });
    write(`components/${d.name}/component.yaml`, stringify(component, { aliasDuplicateObjects: false }));
    mkdirSync(join(dir, 'modules', d.name), { recursive: true });
    write(`modules/${d.name}/main.tf`, moduleText(d, Object.keys(properties)));
  }
  envs.forEach((env, e) => {
    mkdirSync(join(dir, 'environments', env), { recursive: true });
    for (const d of drafts) {
      const kind = KIND.get(d.kind)!;
      const inputs: Record<string, unknown> = kind.values(rng, e);
      for (const [input, [up, output]] of Object.entries(d.refs)) {
        // The DNS zones live in the first environment and are shared: the others reference them across.
        inputs[input] = input === 'zone_id' && e > 0 ? `\${env:${envs[0]}/${up}.${output}}` : `\${${up}.${output}}`;
      }
      if (Object.keys(d.upstreamRefs).length > 0) {
        inputs['upstream'] = Object.fromEntries(Object.entries(d.upstreamRefs).map(([k, [up, output]]) => [k, `\${${up}.${output}}`]));
      }
      for (const [x, schema] of Object.entries(d.extra)) {
        inputs[x] = schema['type'] === 'boolean' ? rng() < 0.5 : schema['type'] === 'integer' ? int(rng, 0, 10) : schema['enum'] ? 'a' : `value-${e}`;
      }
      inputs['tags'] = { team: `team-${String(int(rng, 1, 40)).padStart(2, '0')}`, env, cost_center: `cc-${int(rng, 100, 199)}` };
      for (const v of Object.values(inputs)) {
        const m = typeof v === 'string' ? /^\$\{ssm:(.*)\}$/.exec(v) : null;
        if (m) external.add(m[1]!);
      }
      write(`environments/${env}/${d.name}.json`, `${JSON.stringify(inputs, null, 2)}\n`);
    }
  });

  const components: GeneratedComponent[] = drafts.map(({ refs: _r, upstreamRefs: _u, extra: _e, ...c }) => c);
  return { dir, envs, components, files, bytes, externalParameters: [...external].sort() };
}

function moduleText(d: GeneratedComponent, variables: readonly string[]): string {
  const vars = variables.map((v) => `variable "${v}" {\n  default = null\n}\n`).join('\n');
  const outputs = d.outputs
    .map((o) =>
      d.listOutputs.includes(o) && o !== 'port'
        ? `output "${o}" {\n  value = [for i in range(2) : "${o}-\${local.id}-\${i}"]\n}\n`
        : `output "${o}" {\n  value = "${o}-\${local.id}"\n}\n`,
    )
    .join('\n');
  return `# ${d.kind} module for ${d.name}: built-ins only, so it applies offline.
${vars}
locals {
  id = substr(sha256("${d.name}"), 0, 12)
}

resource "terraform_data" "${d.kind.replace(/-/g, '_')}" {
  input = { name = "${d.name}", layer = ${d.layer} }
}

${outputs}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'seed-runtime': { type: 'boolean', default: false },
    },
  });
  if (!values.out) {
    process.stderr.write('usage: node bench/generate.ts --components N --envs N --out DIR [--seed N] [--seed-runtime]\n');
    process.exit(2);
  }
  const started = performance.now();
  const repo = generateRepo({ components: Number(values.components), envs: Number(values.envs), out: values.out, seed: Number(values.seed) });
  process.stdout.write(`generated ${repo.components.length} components × ${repo.envs.length} environments: ${repo.files} files, ${(repo.bytes / 1e6).toFixed(1)} MB in ${repo.dir} (${Math.round(performance.now() - started)} ms)\n`);
  if (values['seed-runtime']) {
    const { seedRuntime } = await import('./seed.ts');
    const stats = await seedRuntime(repo, { seed: Number(values.seed) });
    process.stdout.write(`seeded runtime: ${JSON.stringify(stats)}\n`);
  }
}

if (import.meta.main) {
  // Not a top-level await: seed.ts imports this module, and must find it evaluated.
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
