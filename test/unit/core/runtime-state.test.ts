/**
 * parseState reads the usual state record by hand and everything else through zod: both must give the same
 * state (keys, order, defaults, unknown keys dropped) and the same reasons.
 */
import { describe, expect, it } from 'vitest';
import { ComponentState, parseState, type Parameter } from '../../../lib/core/runtime.ts';
import { formatIssue } from '../../../lib/shared/zod-issues.ts';

const param = (value: unknown): Parameter => ({
  name: '/karma/dev/net/state',
  value: typeof value === 'string' ? value : JSON.stringify(value),
  version: 3,
  type: 'String',
  lastModified: '2026-12-01T00:00:00Z',
});

/** What zod alone makes of the record (the reference the fast path must match). */
function viaZod(value: unknown): unknown {
  const parsed = ComponentState.safeParse(typeof value === 'string' ? JSON.parse(value) : value);
  if (parsed.success) return { kind: 'ok', state: parsed.data, version: 3 };
  return { kind: 'unreadable', reason: `/karma/dev/net/state: ${formatIssue(parsed.error.issues[0]!, '(document)')}` };
}

const minimal = { configHash: 'h', appliedAt: '2026-12-01T00:00:00Z', result: 'success' };
const full = {
  stateLocation: 's3://b/k',
  drift: { summary: '1 to change', drifted: true, checkedAt: '2026-12-02T00:00:00Z', extra: 1 },
  initMillis: 1200,
  outputVersions: { '/karma/dev/net/outputs/id': 2 },
  outputs: { id: 'string', ids: 'json' },
  error: 'boom',
  result: 'failed',
  appliedAt: '2026-12-01T00:00:00Z',
  commit: 'abc',
  consumed: { '/karma/dev/dns/outputs/zone': 4, '/ext/p': 1 },
  configHash: 'h',
  unknown: { anything: true },
};

describe('parseState', () => {
  it.each([
    ['the minimal record (defaults filled in)', minimal],
    ['every field, in another order, with unknown keys', full],
    ['drift without a summary', { ...minimal, drift: { checkedAt: 'x', drifted: false } }],
    ['integer-like keys in a map', { ...minimal, consumed: { '2': 1, a: 2, '1': 3 } }],
    ['a version that is not an integer', { ...minimal, consumed: { a: 1.5 } }],
    ['an unsafe integer', { ...minimal, outputVersions: { a: 2 ** 60 } }],
    ['a negative initMillis', { ...minimal, initMillis: -1 }],
    ['an unknown result', { ...minimal, result: 'maybe' }],
    ['a missing configHash', { appliedAt: 'x', result: 'success' }],
    ['null where a string may be', { ...minimal, commit: null }],
    ['an output encoding zod does not know', { ...minimal, outputs: { a: 'yaml' } }],
    ['drift that is not an object', { ...minimal, drift: [] }],
    ['drift without drifted', { ...minimal, drift: { checkedAt: 'x' } }],
    ['a __proto__ key in a map', '{"configHash":"h","appliedAt":"a","result":"success","consumed":{"__proto__":1}}'],
    ['an array', [minimal]],
    ['a string', '"text"'],
  ])('%s: the same state or reason as zod, keys in the same order', (_label, value) => {
    // Act
    const read = parseState(param(value));
    // Assess
    expect(read).toEqual(viaZod(value));
    expect(JSON.stringify(read)).toBe(JSON.stringify(viaZod(value)));
  });

  it('absent and not-JSON values keep their own answers', () => {
    expect(parseState(undefined)).toEqual({ kind: 'absent' });
    expect(parseState(param('{oops'))).toEqual({ kind: 'unreadable', reason: '/karma/dev/net/state is not valid JSON' });
  });
});
