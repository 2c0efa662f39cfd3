/**
 * Where a deployment's Terraform state lives. Karma supplies the backend itself, so modules need not declare
 * one and every deployment gets its own state:
 *
 *   terraform:                         # karma.yaml (environments.<env>.state overrides it per environment)
 *     state:
 *       backend: s3                    # any Terraform backend type; default local
 *       config: { bucket: acme-tfstate, region: eu-west-1, use_lockfile: true }
 *
 * The key defaults to `<project>/<env>/<component>/terraform.tfstate`; `{env}`, `{component}` and `{project}`
 * in any string of the config are replaced, so `key: "{env}/{component}.tfstate"` or `bucket: "acme-{env}-tfstate"`
 * work. The local backend's `path` defaults to `<state root>/<env>/<component>/terraform.tfstate`, the state root
 * being a folder no Karma command wipes (the caller passes it: it is a location on disk, not config).
 *
 * Pure: the caller writes the files this module renders.
 */
import type { ProjectConfig, RepoFile, StateSettings } from './model.ts';

export interface ResolvedState {
  readonly backend: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** Where the state is, for messages and for the apply record: `s3://bucket/key`, `local:<env>/<component>`... */
  readonly location: string;
}

/** The backend type and config the deployment uses: the environment's setting, else the project's, else local. */
export function stateSettingsFor(project: ProjectConfig, env: string): StateSettings {
  return project.environments.get(env)?.state ?? project.terraform.state ?? { backend: 'local', config: {} };
}

function substitute(value: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') return value.replace(/\{(env|component|project)\}/g, (_, k: string) => vars[k]!);
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

/**
 * The backend of one deployment. `localStateRoot` is where local state lives (absolute); `remoteDefault` is
 * the backend to use when karma.yaml leaves it at local but the run must not keep state locally (CodeBuild:
 * the stack's state bucket).
 */
export function resolveState(
  project: ProjectConfig,
  env: string,
  component: string,
  options: { localStateRoot: string; remoteDefault?: StateSettings },
): ResolvedState {
  const configured = project.environments.get(env)?.state ?? project.terraform.state;
  const settings = configured ?? options.remoteDefault ?? { backend: 'local', config: {} };
  const vars = { env, component, project: project.project };
  const config = substitute(settings.config, vars) as Record<string, unknown>;
  if (settings.backend === 'local') {
    const path = typeof config['path'] === 'string' ? config['path'] : `${options.localStateRoot}/${env}/${component}/terraform.tfstate`;
    return { backend: 'local', config: { ...config, path }, location: configured ? `local:${path}` : `local:${env}/${component}` };
  }
  const key = typeof config['key'] === 'string' ? config['key'] : `${project.project}/${env}/${component}/terraform.tfstate`;
  const withKey = settings.backend === 's3' || settings.backend === 'gcs' || 'key' in config ? { ...config, key } : config;
  const where = settings.backend === 's3' ? `s3://${String(config['bucket'] ?? '?')}/${key}` : `${settings.backend}:${JSON.stringify(withKey, Object.keys(withKey).sort())}`;
  return { backend: settings.backend, config: withKey, location: where };
}

/** A value as HCL, for a `-backend-config` file: strings JSON-quoted (HCL accepts JSON escapes), maps as `{ k = v }`. */
export function toHcl(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value).replace(/([$%])\{/g, (_, c: string) => `${c}${c}{`);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(toHcl).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)} = ${toHcl(v)}`);
  return `{ ${entries.join(', ')} }`;
}

/** The `-backend-config` file: one `name = value` line per setting. */
export function backendConfigFile(state: ResolvedState): string {
  return Object.keys(state.config)
    .sort()
    .map((k) => `${k} = ${toHcl(state.config[k])}\n`)
    .join('');
}

/** The backend block Karma adds to a module that declares none. */
export function backendBlockFile(state: ResolvedState): string {
  return `${JSON.stringify({ terraform: { backend: { [state.backend]: {} } } }, null, 2)}\n`;
}

export interface DeclaredBackend {
  /** `s3`, `local`, ... or `cloud` for a `cloud {}` block. */
  readonly type: string;
  readonly file: string;
  readonly line: number;
}

const BLOCK = /\b(backend)\s+"([A-Za-z0-9_-]+)"\s*\{|\b(cloud)\s*\{/g;

/** Comments out of HCL, keeping line breaks (so line numbers stay right) and strings as they are. */
function stripComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '"') {
      const end = skipString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function skipString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

/**
 * The backends a module's root files declare (`terraform { backend "x" {} }` or `cloud {}` in .tf, the same in
 * .tf.json). Only the module directory's own files count: Terraform reads no others for the backend.
 */
export function declaredBackends(moduleDir: string, files: readonly RepoFile[]): DeclaredBackend[] {
  const prefix = moduleDir === '.' ? '' : `${moduleDir}/`;
  const found: DeclaredBackend[] = [];
  for (const f of files) {
    if (!f.path.startsWith(prefix) || f.path.slice(prefix.length).includes('/')) continue;
    const text = new TextDecoder().decode(f.bytes);
    if (f.path.endsWith('.tf')) {
      const clean = stripComments(text);
      for (const m of clean.matchAll(BLOCK)) {
        const line = clean.slice(0, m.index).split('\n').length;
        found.push({ type: m[2] ?? 'cloud', file: f.path, line });
      }
    } else if (f.path.endsWith('.tf.json')) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        continue; // Terraform reports a broken .tf.json itself
      }
      const blocks = (doc as { terraform?: unknown }).terraform;
      for (const block of Array.isArray(blocks) ? blocks : [blocks]) {
        if (!block || typeof block !== 'object') continue;
        const b = block as { backend?: Record<string, unknown>; cloud?: unknown };
        for (const type of Object.keys(b.backend ?? {})) found.push({ type, file: f.path, line: 1 });
        if (b.cloud) found.push({ type: 'cloud', file: f.path, line: 1 });
      }
    }
  }
  return found;
}
