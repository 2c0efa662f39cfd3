/**
 * References inside input values.
 *
 *   ${network.vpc_id}                   output vpc_id of component network, same environment
 *   ${env:karma-shared/dns.zone_id}     output zone_id of component dns in environment karma-shared
 *   ${ssm:/shared/github/token}         an external SSM parameter, read by name
 *   $${...}                             a literal `${...}`, not a reference (as in Terraform)
 *
 * A string that is exactly one reference takes the referenced value as is; a reference inside a longer string
 * is interpolated as text.
 */
import type { Reference, ReferenceTarget } from './model.ts';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
const SSM_PATH = /^\/[A-Za-z0-9_.\-/]{1,1010}$/;
const TOKEN = /\$?\$\{([^}]*)\}/g;

export interface ReferenceProblem {
  readonly at: string;
  readonly message: string;
}

export function parseReferenceBody(body: string, env: string): ReferenceTarget | string {
  const trimmed = body.trim();
  if (trimmed.startsWith('ssm:')) {
    const path = trimmed.slice(4);
    if (!SSM_PATH.test(path) || path.includes('//')) {
      return `"\${${body}}" is not a valid SSM reference: the path must start with / and use letters, digits, _ . - /`;
    }
    return { kind: 'ssm', path };
  }
  let targetEnv = env;
  let rest = trimmed;
  if (trimmed.startsWith('env:')) {
    const slash = trimmed.indexOf('/');
    if (slash < 0) return `"\${${body}}" is not a valid cross-environment reference: write \${env:<env>/<component>.<output>}`;
    targetEnv = trimmed.slice(4, slash);
    rest = trimmed.slice(slash + 1);
    if (!NAME_PATTERN.test(targetEnv)) return `"\${${body}}" names an invalid environment "${targetEnv}"`;
  }
  const dot = rest.indexOf('.');
  const component = dot < 0 ? rest : rest.slice(0, dot);
  const output = dot < 0 ? '' : rest.slice(dot + 1);
  if (dot < 0 || !NAME_PATTERN.test(component) || !OUTPUT_NAME.test(output)) {
    return `"\${${body}}" is not a reference Karma understands: use \${component.output}, \${env:<env>/<component>.<output>} or \${ssm:/path} (write $\${...} for a literal)`;
  }
  return { kind: 'output', env: targetEnv, component, output };
}

/** Walks an input value and returns every reference in it, with the JSON path where it stands. */
export function findReferences(value: unknown, env: string): { references: Reference[]; problems: ReferenceProblem[] } {
  const references: Reference[] = [];
  const problems: ReferenceProblem[] = [];
  const visit = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      if (!v.includes('${')) return; // most values hold no reference: skip the regex
      for (const match of v.matchAll(TOKEN)) {
        if (match[0].startsWith('$$')) continue;
        const parsed = parseReferenceBody(match[1] ?? '', env);
        if (typeof parsed === 'string') problems.push({ at, message: parsed });
        else references.push({ ...parsed, at, text: match[0] });
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => visit(item, `${at}[${i}]`));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) visit(item, at === '' ? k : `${at}.${k}`);
    }
  };
  visit(value, '');
  return { references, problems };
}

/**
 * Replaces references with values. `lookup` returns the value of one reference (already decoded: a string
 * output is a string, a list output an array...). A whole-string reference takes the value itself; an
 * embedded one is stringified into the text. `$${` becomes a literal `${`.
 */
export function resolveReferences(value: unknown, env: string, lookup: (ref: ReferenceTarget) => unknown): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole) {
      const parsed = parseReferenceBody(whole[1] ?? '', env);
      if (typeof parsed !== 'string') return lookup(parsed);
    }
    return value.replace(TOKEN, (token, body: string) => {
      if (token.startsWith('$$')) return token.slice(1);
      const parsed = parseReferenceBody(body, env);
      if (typeof parsed === 'string') return token;
      const resolved = lookup(parsed);
      return typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveReferences(v, env, lookup));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, env, lookup)]));
  }
  return value;
}
