/**
 * The config repo → Config. Pure: it receives the repo's files as bytes (a ConfigSource reads them from a
 * directory or a Git commit) and either returns a Config or throws one ConfigError listing every problem,
 * each as `file:line: message`.
 *
 * Layout (docs/config.md is the user's contract):
 *   karma.yaml                          project, parameterPrefix, environments, backend, terraform
 *   components/<name>/component.yaml    description, terraform, dependsOn, inputs (JSON Schema), outputs
 *   environments/<env>/<name>.json      inputs of <name> in <env> (.yaml/.yml too); presence = deployed
 */
import { posix } from 'node:path';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { z } from 'zod';
import { ConfigError, unknownEnvironment, type Problem } from './errors.ts';
import { agree } from '../shared/plural.ts';
import { describeIssue } from '../shared/zod-issues.ts';
import { canonicalJson, contentHash, sha256 } from './hash.ts';
import {
  decodeConfigText,
  displayPath,
  parseConfigDocument,
  pointerToPath,
  type ParsedDocument,
  type PathSegment,
} from './documents.ts';
import { NOTIFICATION_EVENT_TYPES, deploymentKey, type BackendConfig, type ComponentDef, type Config, type Deployment, type EnvironmentDef, type NotificationsConfig, type ProjectConfig, type Reference, type RepoFile } from './model.ts';
import { NAME_PATTERN, findReferences } from './references.ts';
import { findCycles } from './cycles.ts';
import { declaredBackends, stateSettingsFor } from './state-backend.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const name = z.string().regex(NAME_PATTERN, 'must be lowercase letters, digits, - or _ (at most 63, starting with a letter or digit)');

/** Builds kept by every store with build history (karma.yaml `history.keepBuilds`); older ones are deleted. */
export const DEFAULT_KEEP_BUILDS = 50;
/** What DynamoDB accepts as a table name (the audit log's: karma.yaml backend.auditTable, KARMA_AUDIT_TABLE). */
export const AUDIT_TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/** How many builds the stores keep for this config (the default without one). */
export function keepBuilds(config: Pick<Config, 'project'> | undefined): number {
  return config?.project.history?.keepBuilds ?? DEFAULT_KEEP_BUILDS;
}

const StateYaml = z
  .object({
    backend: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a Terraform backend type like s3, local, gcs, azurerm'),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const DriftYaml = z.object({ onTrigger: z.enum(['report', 'revert']).default('report') }).strict();

/** An environment variable's name, as POSIX shells accept it. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why `text` cannot be a webhook's URL, or undefined when it can: https, or http to this machine only (a
 * receiver in a test, a local relay). The message never repeats the URL: its path or query may hold a token.
 */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL; write https://host/path';
  }
  if (url.username || url.password) return 'must not carry a user or password (they would be in Git); sign with secret: {env: VAR}, or write url: {env: VAR}';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return LOCAL_HOSTS.has(url.hostname) ? undefined : `http is accepted only to 127.0.0.1, [::1] or localhost (host here: ${url.hostname}); use https`;
  return `must be an https URL (scheme here: ${url.protocol.replace(/:$/, '')})`;
}

const envValue = (literal: string): z.ZodType<{ env: string }> =>
  z
    .object(
      { env: z.string().regex(ENV_NAME, 'must be an environment variable name (letters, digits, _; not starting with a digit)') },
      { error: (issue) => (issue.code === 'invalid_type' && issue.input !== undefined ? literal : undefined) },
    )
    .strict();

/** The event types a notification target subscribes to (absent: all of them). */
const EventTypesYaml = z
  .array(z.string())
  .min(1, 'must list at least one event type, or be left out (all of them)')
  .superRefine((events, ctx) => {
    events.forEach((event, i) => {
      if (!(NOTIFICATION_EVENT_TYPES as readonly string[]).includes(event)) {
        ctx.addIssue({ code: 'custom', path: [i], message: `unknown event type "${event}"; the types are ${NOTIFICATION_EVENT_TYPES.join(', ')}` });
      }
    });
  });

const WebhookYaml = z
  .object({
    name,
    url: z.union([z.string(), envValue('must be an https URL or {env: VAR}')], { error: 'must be an https URL or {env: VAR}' }).superRefine((value, ctx) => {
      if (typeof value !== 'string') return;
      const problem = webhookUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    secret: envValue(
      'a literal secret is refused (it would be in Git); write secret: {env: VAR} and set VAR where karma serve runs',
    ).optional(),
    events: EventTypesYaml.optional(),
    format: z.enum(['slack', 'karma'], { error: 'must be slack or karma' }).default('slack'),
  })
  .strict();

const NotificationsYaml = z
  .object({
    webhooks: z
      .array(WebhookYaml)
      .default([])
      .superRefine((hooks, ctx) => {
        const seen = new Map<string, number>();
        hooks.forEach((hook, i) => {
          const first = seen.get(hook.name);
          if (first === undefined) seen.set(hook.name, i);
          else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate webhook name "${hook.name}" (also webhooks[${first}]); names must be unique` });
        });
      }),
    sns: z
      .object({
        topicArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be a standard SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:karma-notify (FIFO topics are not supported)'),
        events: EventTypesYaml.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const KarmaYaml = z
  .object({
    project: z.string().min(1, 'must not be empty'),
    parameterPrefix: z
      .string()
      .regex(/^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be an SSM path like /karma (leading /, no trailing /)')
      .default('/karma'),
    environments: z.record(
      name,
      z
        .object({
          region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like eu-west-1').optional(),
          account: z
            .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a 12-digit AWS account id, quoted (e.g. "123456789012")') })
            .regex(/^\d{12}$/, 'must be a 12-digit AWS account id, quoted (e.g. "123456789012")')
            .optional(),
          state: StateYaml.optional(),
          drift: DriftYaml.optional(),
        })
        .strict()
        .nullable()
        .default({}),
    ),
    backend: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('local'), path: z.string().min(1).default('.karma') }).strict(),
        z
          .object({
            type: z.literal('aws'),
            region: z.string().optional(),
            endpoint: z.url().optional(),
            // The DynamoDB table of the audit log (docs/audit.md); KARMA_AUDIT_TABLE overrides it.
            auditTable: z.string().regex(AUDIT_TABLE_NAME, 'must be a DynamoDB table name: 3 to 255 letters, digits, _ . -').optional(),
            neptune: z
              .object({ endpoint: z.string().min(1), port: z.number().int().positive().optional(), iamAuth: z.boolean().optional(), tls: z.boolean().optional() })
              .strict()
              .optional(),
          })
          .strict(),
      ])
      .default({ type: 'local', path: '.karma' }),
    terraform: z.object({ binary: z.string().min(1).optional(), state: StateYaml.optional() }).strict().default({}),
    drift: DriftYaml.default({ onTrigger: 'report' }),
    history: z
      .object({ keepBuilds: z.number().int().min(1).max(100_000).default(DEFAULT_KEEP_BUILDS) })
      .strict()
      .default({ keepBuilds: DEFAULT_KEEP_BUILDS }),
    notifications: NotificationsYaml.optional(),
  })
  .strict();

const OUTPUT_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const ComponentYaml = z
  .object({
    description: z.string().default(''),
    terraform: z.string().min(1).default('.'),
    dependsOn: z.array(name).default([]),
    inputs: z.record(z.string(), z.unknown()).optional(),
    outputs: z.array(z.string().regex(OUTPUT_NAME_PATTERN, 'must be a Terraform output name')).default([]),
    sensitiveOutputs: z.array(z.string()).default([]),
  })
  .strict();

type ComponentYaml = z.infer<typeof ComponentYaml>;
const COMPONENT_KEYS = new Set(['description', 'terraform', 'dependsOn', 'inputs', 'outputs', 'sensitiveOutputs']);

/**
 * component.yaml as ComponentYaml.parse returns it, for the usual file (known fields of the expected types),
 * checked by hand: zod took a large share of parsing 5,000 components. Anything else gives undefined and goes
 * through zod, which reports what is wrong. Same output as zod: the schema's key order, defaults, new arrays.
 */
export function plainComponent(data: unknown): ComponentYaml | undefined {
  if (!isPlainObject(data)) return undefined;
  for (const key of Object.keys(data)) if (!COMPONENT_KEYS.has(key)) return undefined;
  const { description, terraform, dependsOn, inputs, outputs, sensitiveOutputs } = data;
  if (description !== undefined && typeof description !== 'string') return undefined;
  if (terraform !== undefined && (typeof terraform !== 'string' || terraform.length === 0)) return undefined;
  const deps = stringsOf(dependsOn, (t) => NAME_PATTERN.test(t));
  const outs = stringsOf(outputs, (t) => OUTPUT_NAME_PATTERN.test(t));
  const sensitive = stringsOf(sensitiveOutputs, () => true);
  if (!deps || !outs || !sensitive) return undefined;
  let schema: Record<string, unknown> | undefined;
  if (inputs !== undefined) {
    if (!isPlainObject(inputs) || Object.hasOwn(inputs, '__proto__')) return undefined;
    schema = { ...inputs };
  }
  return {
    description: description ?? '',
    terraform: terraform ?? '.',
    dependsOn: deps,
    ...(schema === undefined ? {} : { inputs: schema }),
    outputs: outs,
    sensitiveOutputs: sensitive,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** A copy of a list of strings that all pass `ok` ([] when absent), or undefined (zod decides then). */
function stringsOf(value: unknown, ok: (text: string) => boolean): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return undefined;
  for (const item of value) if (typeof item !== 'string' || !ok(item)) return undefined;
  return [...(value as string[])];
}

const COMPONENT_FILE = /^components\/([^/]+)\/component\.ya?ml$/;
const ENV_FILE = /^environments\/([^/]+)\/([^/]+)\.(json|ya?ml)$/;
/**
 * Files that never count as module content: Terraform's own working files, Karma's generated var file, and
 * component.yaml (hashed in normalised form on its own, so a comment there changes nothing).
 */
const MODULE_IGNORED = /(^|\/)(\.terraform\/|terraform\.tfstate|\.terraform\.tfstate|karma\.auto\.tfvars\.json$|component\.ya?ml$)/;

function zodProblems(doc: ParsedDocument, error: z.ZodError, hint?: (path: PathSegment[]) => string | undefined): Problem[] {
  return error.issues.map((issue) => {
    const { path, field, message, keys } = describeIssue(issue);
    if (keys) {
      const text = `${message}; remove ${agree(keys.length, 'it', 'them')} (see docs/config.md)`;
      return { file: doc.file, line: doc.lineOf([...path, keys[0] ?? '']), message: field ? `${field}: ${text}` : text };
    }
    const extra = hint?.([...path]);
    return { file: doc.file, line: doc.lineOf([...path]), message: `${field || '(document)'}: ${message}${extra ? `; ${extra}` : ''}` };
  });
}

interface LoadedFile {
  readonly doc?: ParsedDocument;
  readonly problem?: Problem;
}

function load(file: RepoFile): LoadedFile {
  const text = decodeConfigText(file.path, file.bytes);
  if (typeof text !== 'string') return { problem: text };
  const doc = parseConfigDocument(file.path, text);
  return 'data' in doc ? { doc } : { problem: doc };
}

/** The validator cache: components often share input schemas; compiling is the slow part of ajv. */
/** Why an `inputs` schema is not a valid JSON Schema: one entry per offending place in it. */
interface SchemaProblem {
  readonly path: PathSegment[];
  readonly message: string;
}

class SchemaCache {
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction | SchemaProblem[]>();
  constructor() {
    // validateSchema: false because compile() runs only after an explicit validateSchema() succeeded (ajv would check
    // again); optimize: false because ajv's optimisation pass over the generated code doubles the compile time of a
    // schema while validating no faster at our sizes. Neither changes what is valid or the errors reported.
    this.ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false, code: { optimize: false } });
    addFormats(this.ajv);
  }
  compile(schema: Record<string, unknown>): ValidateFunction | SchemaProblem[] {
    const key = canonicalJson(schema);
    let hit = this.cache.get(key);
    if (hit === undefined) {
      if (!this.ajv.validateSchema(schema)) {
        // The meta-schema reports several errors for one bad value (enum, then each anyOf branch): keep the first per place.
        const seen = new Set<string>();
        hit = [];
        for (const e of this.ajv.errors ?? []) {
          if (seen.has(e.instancePath)) continue;
          seen.add(e.instancePath);
          hit.push({ path: pointerToPath(e.instancePath), message: ajvSchemaMessage(e) });
        }
      } else {
        try {
          hit = this.ajv.compile(schema);
        } catch (error) {
          hit = [{ path: [], message: (error as Error).message }];
        }
      }
      this.cache.set(key, hit);
    }
    return hit;
  }
}

function ajvSchemaMessage(e: ErrorObject): string {
  if (e.keyword === 'enum') return `${e.message ?? 'invalid'}: ${(e.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return e.message ?? 'is invalid';
}

function ajvMessage(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown input "${String(e.params['additionalProperty'])}"`;
  if (e.keyword === 'required') return `missing required input "${String(e.params['missingProperty'])}"`;
  if (e.keyword === 'enum') return `${e.message ?? 'invalid'}: ${(e.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return e.message ?? 'is invalid';
}

/** Index: directory → the files below it (any depth). Lets module hashing avoid scanning all files per module. */
function filesByDirectory(files: readonly RepoFile[]): Map<string, RepoFile[]> {
  const index = new Map<string, RepoFile[]>();
  for (const file of files) {
    let dir = posix.dirname(file.path);
    for (;;) {
      let list = index.get(dir);
      if (!list) index.set(dir, (list = []));
      list.push(file);
      if (dir === '.') break;
      dir = posix.dirname(dir);
    }
  }
  return index;
}

export interface ParseOptions {
  readonly commit?: string;
  readonly source: string;
}

/** Parses and validates the whole repo. Throws ConfigError with every problem found. */
export function parseConfig(files: readonly RepoFile[], options: ParseOptions, extraProblems: readonly Problem[] = []): Config {
  const problems: Problem[] = [...extraProblems];
  const byPath = new Map(files.map((f) => [f.path, f]));

  // karma.yaml
  const karmaFile = byPath.get('karma.yaml') ?? byPath.get('karma.yml');
  if (!karmaFile) {
    throw new ConfigError([...problems, { file: 'karma.yaml', message: `not found in ${options.source}: a config repo has karma.yaml at its root (see docs/config.md)` }]);
  }
  const karma = load(karmaFile);
  if (!karma.doc) throw new ConfigError([...problems, karma.problem!]);
  const parsedKarma = KarmaYaml.safeParse(karma.doc.data ?? {});
  if (!parsedKarma.success) throw new ConfigError([...problems, ...zodProblems(karma.doc, parsedKarma.error)]);
  const k = parsedKarma.data;
  const environments = new Map<string, EnvironmentDef>(
    Object.keys(k.environments)
      .sort()
      .map((env) => [env, { name: env, ...(k.environments[env] ?? {}) }]),
  );
  const project: ProjectConfig = {
    project: k.project,
    parameterPrefix: k.parameterPrefix,
    environments,
    backend: k.backend as BackendConfig,
    terraform: k.terraform,
    drift: k.drift,
    history: k.history,
    ...(k.notifications ? { notifications: k.notifications as NotificationsConfig } : {}),
  };

  // components/<name>/component.yaml
  const components = new Map<string, ComponentDef>();
  const componentDocs = new Map<string, ParsedDocument>();
  /** Every component that has a component.yaml, valid or not (name → file): a broken one is reported once, not again by each user. */
  const componentFiles = new Map<string, string>();
  /** Files the source could not read (a symlink leaving the repo...): already reported, so they count as present. */
  const unreadable = new Set(extraProblems.map((p) => p.file));
  for (const path of unreadable) {
    const m = COMPONENT_FILE.exec(path);
    if (m && NAME_PATTERN.test(m[1]!) && !componentFiles.has(m[1]!)) componentFiles.set(m[1]!, path);
  }
  const schemas = new SchemaCache();
  const validators = new Map<string, ValidateFunction | undefined>();
  const dirIndex = filesByDirectory(files);
  const moduleHashes = new Map<string, string>();
  const fileHashes = new Map<string, string>();

  const moduleHash = (dir: string): string | undefined => {
    let hash = moduleHashes.get(dir);
    if (hash === undefined) {
      const moduleFiles = (dirIndex.get(dir) ?? []).filter((f) => !MODULE_IGNORED.test(f.path));
      if (!moduleFiles.some((f) => f.path.endsWith('.tf') || f.path.endsWith('.tf.json'))) return undefined;
      const parts = moduleFiles
        .map((f) => {
          let h = fileHashes.get(f.path);
          if (h === undefined) fileHashes.set(f.path, (h = sha256(f.bytes)));
          return `${posix.relative(dir, f.path)}\0${h}`;
        })
        .sort();
      hash = sha256(parts.join('\n'));
      moduleHashes.set(dir, hash);
    }
    return hash;
  };

  for (const file of files) {
    const m = COMPONENT_FILE.exec(file.path);
    if (!m) continue;
    const componentName = m[1]!;
    if (!NAME_PATTERN.test(componentName)) {
      problems.push({ file: file.path, message: `component name "${componentName}" is invalid: use lowercase letters, digits, - or _ (rename the folder)` });
      continue;
    }
    if (componentFiles.has(componentName)) {
      problems.push({ file: file.path, message: `duplicate component "${componentName}": also defined by ${componentFiles.get(componentName)!}; keep one of them` });
      continue;
    }
    componentFiles.set(componentName, file.path);
    const loaded = load(file);
    if (!loaded.doc) {
      problems.push(loaded.problem!);
      continue;
    }
    componentDocs.set(componentName, loaded.doc);
    const data = loaded.doc.data ?? {};
    let c = plainComponent(data);
    if (!c) {
      const parsed = ComponentYaml.safeParse(data);
      if (!parsed.success) {
        problems.push(...zodProblems(loaded.doc, parsed.error));
        continue;
      }
      c = parsed.data;
    }
    const componentDir = posix.dirname(file.path);
    const terraformDir = posix.normalize(posix.join(componentDir, c.terraform));
    if (posix.isAbsolute(c.terraform) || terraformDir === '..' || terraformDir.startsWith('../')) {
      problems.push({
        file: file.path,
        line: loaded.doc.lineOf(['terraform']),
        message: `terraform: "${c.terraform}" leaves the config repository; module directories must be inside it (e.g. ../../modules/${componentName})`,
      });
      continue;
    }
    if (moduleHash(terraformDir) === undefined) {
      problems.push({
        file: file.path,
        line: loaded.doc.lineOf(['terraform']),
        message: `terraform: module directory "${terraformDir}" has no .tf files; point terraform at the component's module`,
      });
      continue;
    }
    for (const s of c.sensitiveOutputs) {
      if (!c.outputs.includes(s)) {
        problems.push({ file: file.path, line: loaded.doc.lineOf(['sensitiveOutputs']), message: `sensitiveOutputs: "${s}" is not one of the outputs (${c.outputs.join(', ') || 'none'})` });
      }
    }
    if (c.dependsOn.includes(componentName)) {
      problems.push({ file: file.path, line: loaded.doc.lineOf(['dependsOn']), message: `dependsOn: "${componentName}" depends on itself; remove it` });
    }
    let validator: ValidateFunction | undefined;
    if (c.inputs) {
      const compiled = schemas.compile(c.inputs);
      if (Array.isArray(compiled)) {
        for (const p of compiled) {
          const at = ['inputs', ...p.path];
          problems.push({ file: file.path, line: loaded.doc.lineOf(at), message: `${displayPath(at)}: not a valid JSON Schema: ${p.message}` });
        }
        continue;
      }
      validator = compiled;
    }
    const backends = declaredBackends(terraformDir, dirIndex.get(terraformDir) ?? []);
    if (backends.length > 1) {
      problems.push({ file: backends[1]!.file, line: backends[1]!.line, message: `the module of ${componentName} declares more than one backend (also ${backends[0]!.file}:${backends[0]!.line}); keep none: Karma supplies the backend from karma.yaml terraform.state` });
      continue;
    }
    validators.set(componentName, validator);
    components.set(componentName, {
      name: componentName,
      file: file.path,
      description: c.description,
      terraform: terraformDir,
      dependsOn: [...c.dependsOn].sort(),
      inputsSchema: c.inputs,
      outputs: c.outputs,
      sensitiveOutputs: c.sensitiveOutputs,
      definition: c,
      moduleHash: moduleHash(terraformDir)!,
      ...(backends[0] ? { declaredBackend: backends[0] } : {}),
    });
  }

  // environments/<env>/<component>.json|yaml
  const envFiles = new Map<string, { file: RepoFile; env: string; component: string }>();
  const unreadableDeployments = new Set<string>();
  for (const path of unreadable) {
    const m = ENV_FILE.exec(path);
    if (m && environments.has(m[1]!) && componentFiles.has(m[2]!)) unreadableDeployments.add(`${m[1]}/${m[2]}`);
  }
  for (const file of files) {
    if (!file.path.startsWith('environments/')) continue;
    const m = ENV_FILE.exec(file.path);
    if (!m) continue;
    const [, env, componentName] = m as unknown as [string, string, string];
    if (!environments.has(env)) {
      problems.push({ file: file.path, message: `environment "${env}" is not declared in karma.yaml; add it under environments: or move the file` });
      continue;
    }
    if (!componentFiles.has(componentName)) {
      problems.push({ file: file.path, message: `unknown component "${componentName}": there is no components/${componentName}/component.yaml` });
      continue;
    }
    const key = deploymentKey(env, componentName);
    const twin = envFiles.get(key);
    if (twin) {
      problems.push({ file: file.path, message: `duplicate inputs for ${componentName} in ${env}: also in ${twin.file.path}; keep one of them` });
      continue;
    }
    envFiles.set(key, { file, env, component: componentName });
  }

  const deployed = new Set([...envFiles.keys(), ...unreadableDeployments]);
  const deployments: Deployment[] = [];
  // Where each deployment's inputs were read: to name the file and line declaring an edge of a cycle. Looked up
  // only when a cycle is found (finding a line re-parses the file; keeping a map of every edge cost more than it saved).
  const deploymentDocs = new Map<string, ParsedDocument>();
  let byKey: Map<string, Deployment> | undefined;
  const declaredLine = (edge: string): string | undefined => {
    const [from, to] = edge.split('->') as [string, string];
    // Indexed on first use: a search per edge made a 10,000-long cycle take 20 s to report.
    byKey ??= new Map(deployments.map((x) => [deploymentKey(x.env, x.component), x]));
    const d = byKey.get(from);
    const doc = deploymentDocs.get(from);
    if (!d || !doc) return undefined;
    const [toEnv, toComponent] = to.split('/') as [string, string];
    const ref = d.references.find((r) => r.kind === 'output' && r.env === toEnv && r.component === toComponent);
    if (ref) return `${doc.file}:${doc.lineOf(atToPath(ref.at))}`;
    const componentDoc = componentDocs.get(d.component);
    return toEnv === d.env && d.dependsOn.includes(toComponent) && componentDoc ? `${componentDoc.file}:${componentDoc.lineOf(['dependsOn'])}` : undefined;
  };
  for (const { file, env, component } of [...envFiles.values()].sort((a, b) => byText(a.file.path, b.file.path))) {
    const def = components.get(component);
    const loaded = load(file);
    if (!loaded.doc) {
      problems.push(loaded.problem!);
      continue;
    }
    if (!def) continue; // its component.yaml is invalid; already reported
    const doc = loaded.doc;
    const inputs = doc.data;
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
      problems.push({ file: file.path, line: 1, message: 'inputs must be an object of input names to values' });
      continue;
    }
    const before = problems.length;
    const { references, problems: refProblems } = findReferences(inputs, env);
    for (const p of refProblems) problems.push({ file: file.path, line: doc.lineOf(p.path), message: `${p.at}: ${p.message}` });

    const validator = validators.get(component);
    if (validator && !validator(inputs)) {
      const wholeRefs = new Set(references.filter((r) => isWholeReference(inputs, r)).map((r) => r.at));
      for (const e of validator.errors ?? []) {
        const path = pointerToPath(e.instancePath);
        if (wholeRefs.has(displayPath(path))) continue; // the value arrives at apply time; Terraform checks its type
        const field = displayPath(path);
        const extra = e.keyword === 'additionalProperties' ? [String(e.params['additionalProperty'])] : [];
        problems.push({ file: file.path, line: doc.lineOf([...path, ...extra]), message: `${field ? `${field}: ` : ''}${ajvMessage(e)} (schema in ${def.file})` });
      }
    }
    for (const ref of references) {
      if (ref.kind !== 'output') continue;
      const line = (): number => doc.lineOf(atToPath(ref.at));
      const where = ref.env === env ? '' : ` in ${ref.env}`;
      if (!environments.has(ref.env)) {
        problems.push({ file: file.path, line: line(), message: `${ref.at}: ${ref.text} names environment "${ref.env}", which karma.yaml does not declare` });
      } else if (ref.env === env && ref.component === component) {
        problems.push({ file: file.path, line: line(), message: `${ref.at}: ${ref.text} refers to ${component} itself; a component cannot consume its own outputs` });
      } else if (!componentFiles.has(ref.component)) {
        problems.push({ file: file.path, line: line(), message: `${ref.at}: ${ref.text} refers to unknown component "${ref.component}"` });
      } else if (!deployed.has(deploymentKey(ref.env, ref.component))) {
        problems.push({ file: file.path, line: line(), message: `${ref.at}: ${ref.text} refers to ${ref.component}, which is not deployed${where || ` in ${env}`} (no environments/${ref.env}/${ref.component}.json)` });
      } else {
        const target = components.get(ref.component);
        if (target && !target.outputs.includes(ref.output)) {
          problems.push({
            file: file.path,
            line: line(),
            message: `${ref.at}: ${ref.text} refers to unknown output "${ref.output}" of ${ref.component}; it declares ${target.outputs.join(', ') || 'no outputs'}`,
          });
        }
      }
    }
    for (const dep of def.dependsOn) {
      if (!deployed.has(deploymentKey(env, dep))) {
        const componentDoc = componentDocs.get(component)!;
        problems.push({
          file: file.path,
          message: `${component} depends on ${dep} (${componentDoc.file}:${componentDoc.lineOf(['dependsOn'])}), which is not deployed in ${env}; add environments/${env}/${dep}.json or remove the dependency`,
        });
      }
    }
    const declared = def.declaredBackend;
    const wanted = stateSettingsFor(project, env).backend;
    if (declared && declared.type !== wanted) {
      problems.push({
        file: declared.file,
        line: declared.line,
        message: `the module of ${component} declares ${declared.type === 'cloud' ? 'a cloud block' : `backend "${declared.type}"`}, but ${env} keeps state in "${wanted}" (karma.yaml terraform.state); remove the block (Karma supplies the backend, with a key per deployment)${declared.type === 'cloud' ? '' : `, or set terraform.state.backend: ${declared.type} in karma.yaml`}`,
      });
    }
    if (problems.length > before) continue;
    deploymentDocs.set(deploymentKey(env, component), doc);
    const configHash = computeConfigHash(def, inputs);
    deployments.push({
      env,
      component,
      file: file.path,
      inputs: inputs as Record<string, unknown>,
      references,
      dependsOn: def.dependsOn,
      configHash,
    });
  }

  // Cycles, across environments too (a cross-env reference is an edge like any other).
  if (problems.length === 0) {
    for (const cycle of findCycles(deployments)) {
      const sameEnv = cycle.every((n) => n.split('/')[0] === cycle[0]!.split('/')[0]);
      const label = (n: string): string => (sameEnv ? n.split('/')[1]! : n);
      const edges = cycle.slice(0, -1).map((from, i) => `${label(from)} -> ${label(cycle[i + 1]!)} (${declaredLine(`${from}->${cycle[i + 1]}`) ?? '?'})`);
      const first = declaredLine(`${cycle[0]}->${cycle[1]}`) ?? '';
      const [file, line] = first.split(/:(?=\d+$)/);
      problems.push({
        file: file ?? 'environments',
        ...(line ? { line: Number(line) } : {}),
        message: `dependency cycle${sameEnv ? ` in ${cycle[0]!.split('/')[0]}` : ''}: ${cycle.map(label).join(' -> ')}; declared by ${edges.join(', ')}. Remove one of these dependencies`,
      });
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  deployments.sort((a, b) => (a.env === b.env ? byText(a.component, b.component) : byText(a.env, b.env)));
  return { project, components, deployments, ...(options.commit ? { commit: options.commit } : {}), source: options.source };
}

/** Code-point order: the same everywhere (no locale), and far cheaper than localeCompare on 15,000 names. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function atToPath(at: string): PathSegment[] {
  const path: PathSegment[] = [];
  for (const m of at.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) path.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return path;
}

function isWholeReference(inputs: unknown, ref: Reference): boolean {
  let v: unknown = inputs;
  for (const s of atToPath(ref.at)) v = (v as Record<string | number, unknown> | undefined)?.[s];
  return v === ref.text;
}

/** canonicalJson of each component's definition: one per component, not one per deployment. */
const definitionDigest = new WeakMap<ComponentDef, string>();

/** The config hash of a component with given inputs (as written, references unresolved). */
export function computeConfigHash(def: ComponentDef, inputs: unknown): string {
  // The definition (component.yaml, its input schema included: often kilobytes) is digested once per component,
  // not re-hashed with every environment's inputs.
  let component = definitionDigest.get(def);
  if (component === undefined) definitionDigest.set(def, (component = sha256(canonicalJson(def.definition ?? null))));
  const inputsPart = inputs === undefined ? '' : `"inputs":${canonicalJson(inputs)},`;
  return sha256(`{"component":"${component}",${inputsPart}"module":${JSON.stringify(def.moduleHash ?? null)}}`);
}

/** A stable id for a config: the hash of all config hashes. */
export function configFingerprint(config: Config): string {
  return contentHash(config.deployments.map((d) => [d.env, d.component, d.configHash]));
}

/** An environment named on the command line (or in a request) must be declared: else exit 2 naming the valid ones. */
export function requireEnvironment(config: Pick<Config, 'project'>, env: string): void {
  if (!config.project.environments.has(env)) throw unknownEnvironment(env, config.project.environments.keys());
}
