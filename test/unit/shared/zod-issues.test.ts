/** lib/shared/zod-issues.ts: the one formatter of zod validation failures. */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { describeIssue, displayPath, formatIssues } from '../../../lib/shared/zod-issues.ts';

const Schema = z
  .object({
    env: z.string(),
    mode: z.enum(['apply', 'plan']).optional(),
    components: z.array(z.string().min(1)).optional(),
    tags: z.record(z.string().regex(/^[a-z]+$/, 'lower-case letters only'), z.string()).optional(),
  })
  .strict();

function issuesOf(value: unknown): z.ZodError {
  const parsed = Schema.safeParse(value);
  if (parsed.success) throw new Error('expected a failure');
  return parsed.error;
}

describe('formatIssues', () => {
  it('says which field, in a.b[0] form, and what is wrong with it', () => {
    expect(formatIssues(issuesOf({ env: 'dev', components: ['a', ''] }))).toBe('components[1]: Too small: expected string to have >=1 characters');
    expect(formatIssues(issuesOf({ env: 'dev', mode: 'destroy' }))).toBe('mode: Invalid option: expected one of "apply"|"plan"');
  });

  it('a missing field is required; unknown fields are named; a bad record key says which and why', () => {
    expect(formatIssues(issuesOf({}))).toBe('env: is required');
    expect(formatIssues(issuesOf({ env: 'dev', colour: 1, size: 2 }))).toBe('(input): unknown fields "colour", "size"');
    expect(formatIssues(issuesOf({ env: 'dev', tags: { Bad: 'x' } }))).toBe('tags.Bad: invalid name "Bad": lower-case letters only');
  });

  it('every issue, joined; the root named as the caller says', () => {
    expect(formatIssues(issuesOf({ mode: 'x', extra: true }), '(document)')).toBe(
      'env: is required; mode: Invalid option: expected one of "apply"|"plan"; (document): unknown field "extra"',
    );
  });

  it('describeIssue keeps the path and the unknown keys for callers that add a file and line', () => {
    const [issue] = issuesOf({ env: 'dev', colour: 1 }).issues;
    expect(describeIssue(issue!)).toEqual({ path: [], field: '', keys: ['colour'], message: 'unknown field "colour"' });
    expect(displayPath(['a', 0, 'b', 12])).toBe('a[0].b[12]');
  });
});
