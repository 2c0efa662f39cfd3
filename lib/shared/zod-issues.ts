/**
 * The one way a zod validation failure becomes words: each issue as `field: message`, the field written as
 * `a.b[0].c`. Callers add what only they know (a file and line, a hint, an example of valid input).
 *
 *   unknown keys           unknown field "x" (or fields "x", "y"); `keys` says which
 *   a required field       is required
 *   a bad record key       invalid name "k": <why>
 *   anything else          zod's own message
 */
import type { z } from 'zod';

export type IssuePath = readonly (string | number)[];

export interface DescribedIssue {
  /** Where the issue is (for unknown keys: the object holding them). */
  readonly path: IssuePath;
  /** `path` as text: `a.b[0].c`; '' at the root. */
  readonly field: string;
  readonly message: string;
  /** The unknown keys, when that is the issue. */
  readonly keys?: readonly string[];
}

/** `a.b[0].c`: dots between names, brackets around indexes. */
export function displayPath(path: IssuePath): string {
  return path.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`), '');
}

export function describeIssue(issue: z.core.$ZodIssue): DescribedIssue {
  const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
  const field = displayPath(path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return { path, field, keys, message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}` };
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return { path, field, message: 'is required' };
  if (issue.code === 'invalid_key') {
    return { path, field, message: `invalid name "${String(path[path.length - 1])}": ${issue.issues[0]?.message ?? 'not allowed'}` };
  }
  return { path, field, message: issue.message };
}

/** One issue as `field: message` (`root: message` at the root). */
export function formatIssue(issue: z.core.$ZodIssue, root = '(input)'): string {
  const d = describeIssue(issue);
  return `${d.field || root}: ${d.message}`;
}

/** Every issue of the error, `field: message`, joined with `; `. */
export function formatIssues(error: z.ZodError, root = '(input)'): string {
  return error.issues.map((i) => formatIssue(i, root)).join('; ');
}
