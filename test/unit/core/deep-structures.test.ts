/**
 * Deep structures must not overflow the stack: a 10,000-long chain of components is legal and every query on it
 * works; input values nested deeper than MAX_NESTING_DEPTH are refused with file:line; the walkers themselves
 * (references, canonical JSON, input diff) handle any depth they are given.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/core/config.ts';
import { MAX_NESTING_DEPTH, parseConfigDocument, pathTooDeep } from '../../../lib/core/documents.ts';
import { ConfigError } from '../../../lib/core/errors.ts';
import { buildGraph, type Build } from '../../../lib/core/graph.ts';
import { canonicalJson } from '../../../lib/core/hash.ts';
import { diffInputs } from '../../../lib/core/inputs-diff.ts';
import { impact, orderAll, planEnv } from '../../../lib/core/order.ts';
import { findReferences, resolveReferences } from '../../../lib/core/references.ts';
import { explainStatus } from '../../../lib/core/status.ts';
import { chainRepo, nestedArrayJson, nestedObject } from '../../helpers/deep-repos.ts';
import { files } from '../../support/config.ts';

const N = 10_000;
const builds = new Map<boolean, Build>();
/** The chain's build (nothing applied), made once per direction: parsing 20,000 files takes a second or two. */
const chainBuild = (options: { reverse?: boolean } = {}): Build => {
  const reverse = options.reverse ?? false;
  let b = builds.get(reverse);
  if (!b) builds.set(reverse, (b = buildGraph(parseConfig(files(chainRepo(N, { reverse })), { source: 'test' }), new Map(), { builtAt: '2026-12-01T00:00:00Z' })));
  return b;
};
/** The value `depth` levels down a nestedObject (toEqual itself recurses, so deep results are compared here). */
const leaf = (value: unknown, depth: number): unknown => {
  let v = value;
  for (let i = 0; i < depth; i++) v = (v as { a: unknown }).a;
  return v;
};
const names = (from: number, to: number): string[] => Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => `c${from < to ? from + i : from - i}`);

describe('a 10,000-long chain of components', { timeout: 60_000 }, () => {
  it('why: explains the whole chain down to the root cause, indentation capped', () => {
    // Prepare
    const b = chainBuild();

    // Act
    const lines = explainStatus(b.statuses, 'dev', 'c9999');

    // Assess: c9999..c1 blocked, c0 the root cause, then the "once unblocked" lines deepest first.
    expect(lines).toHaveLength(2 * N - 1);
    expect(lines[0]).toBe('c9999 is blocked: c9998 is blocked');
    expect(lines[1]).toBe('  c9998 is blocked: c9997 is blocked');
    expect(lines[40]).toBe(`${' '.repeat(64)}c9959 is blocked: c9958 is blocked`);
    expect(lines[N - 1]).toBe(`${' '.repeat(64)}c0 is never-applied: never applied in dev`);
    expect(lines[N]).toBe(`${' '.repeat(64)}once unblocked, c1 is never-applied: never applied in dev`);
    expect(lines.at(-1)).toBe('  once unblocked, c9999 is never-applied: never applied in dev');
  });

  it('order: every component in its own wave, root first; the plan too', () => {
    // Prepare
    const b = chainBuild();

    // Act
    const all = orderAll(b, 'dev');
    const plan = planEnv(b, 'dev');

    // Assess
    expect(all.waves).toEqual(names(0, N - 1).map((n) => [n]));
    expect(plan).toEqual({ env: 'dev', waves: all.waves, skipped: [], orphaned: [] });
  });

  it('plan: a chain whose name order runs against its dependency order is planned in linear time', () => {
    // Prepare: c0 needs c1 needs c2 ... c9999 (the root). Re-scanning every component once per link of the chain
    // looked statuses up 100 million times (18 s); count the look-ups.
    const b = chainBuild({ reverse: true });
    let lookups = 0;
    const statuses = new Map(b.statuses);
    const get = statuses.get.bind(statuses);
    statuses.get = (key) => (lookups++, get(key));

    // Act
    const plan = planEnv({ ...b, statuses } as Build, 'dev');

    // Assess
    expect(plan.waves).toEqual(names(N - 1, 0).map((n) => [n]));
    expect(plan.skipped).toEqual([]);
    expect(lookups).toBeLessThanOrEqual(4 * N);
  });

  it('impact: the downstream closure of the root is the whole chain', () => {
    // Prepare
    const b = chainBuild();

    // Act
    const im = impact(b, 'dev', 'c0');

    // Assess
    expect(im.waves).toEqual(names(0, N - 1).map((n) => [n]));
    expect(im.otherEnvironments).toEqual([]);
  });
});

describe('input values nested deeper than the limit', () => {
  it('JSON: refused with the line and the input where the limit is crossed', () => {
    // Prepare: "deep" is level 2, so 99 more arrays reach level 101.
    const text = `{\n  "name": "x",\n  "deep": ${nestedArrayJson(2)}\n,\n  "deeper":\n${nestedArrayJson(MAX_NESTING_DEPTH)}\n}\n`;

    // Act
    const result = parseConfigDocument('environments/dev/app.json', text);

    // Assess
    expect(result).toEqual({
      file: 'environments/dev/app.json',
      line: 6,
      message: 'deeper: arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)',
    });
  });

  it('JSON: brackets inside strings do not count towards the line', () => {
    // Prepare
    const text = `{\n  "s": "[[[{{{\\"[[",\n  "deep": ${JSON.stringify(nestedObject(MAX_NESTING_DEPTH, 1))}\n}\n`;

    // Act
    const result = parseConfigDocument('a.json', text);

    // Assess
    expect(result).toMatchObject({ line: 3, message: expect.stringMatching(/^deep: arrays and objects nested more than 100 levels deep/) });
  });

  it('JSON: exactly 100 levels is read', () => {
    // Prepare: the document is level 1, "deep" holds 99 more.
    const text = `{"deep": ${nestedArrayJson(MAX_NESTING_DEPTH - 1)}}`;

    // Act
    const result = parseConfigDocument('a.json', text);

    // Assess
    expect(result).toHaveProperty('data');
    expect(pathTooDeep((result as { data: unknown }).data)).toBeUndefined();
  });

  it('JSON: 2,000 levels (far past where a recursive walker overflows) is one problem with the line', () => {
    // Act
    const result = parseConfigDocument('a.json', `{\n"deep":\n${nestedArrayJson(2000)}}`);

    // Assess
    expect(result).toEqual({ file: 'a.json', line: 3, message: 'deep: arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)' });
  });

  it('YAML block mappings: refused at the line of the key that crosses the limit', () => {
    // Prepare: key k<i> stands at level i+1.
    const text = `${Array.from({ length: 150 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`;

    // Act
    const result = parseConfigDocument('a.yaml', text);

    // Assess
    expect(result).toEqual({ file: 'a.yaml', line: 100, message: 'k0: arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)' });
  });

  it('YAML flow sequences deep enough to exhaust the yaml library: the same message, with the line', () => {
    // Act
    const result = parseConfigDocument('a.yaml', `name: x\ndeep: ${nestedArrayJson(5000)}\n`);

    // Assess
    expect(result).toEqual({ file: 'a.yaml', line: 2, message: 'arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)' });
  });

  it('parseConfig reports it as a config problem of the env file', () => {
    // Prepare
    const repo = { ...chainRepo(2), 'environments/dev/c1.json': `{\n  "x": "\${c0.o}",\n  "deep": ${nestedArrayJson(2000)}\n}\n` };

    // Act
    const act = () => parseConfig(files(repo), { source: 'test' });

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow('environments/dev/c1.json:3: deep: arrays and objects nested more than 100 levels deep; flatten the value (Karma reads at most 100 levels)');
  });
});

describe('the walkers handle any depth they are given', () => {
  const DEEP = 20_000;
  const at = Array.from({ length: DEEP }, () => 'a').join('.');

  it('findReferences finds a reference 20,000 levels down, with its path', () => {
    // Act
    const found = findReferences({ top: '${net.id}', ...(nestedObject(DEEP, '${db.url}') as object) }, 'dev');

    // Assess
    expect(found.problems).toEqual([]);
    expect(found.references.map((r) => [r.text, r.at])).toEqual([
      ['${net.id}', 'top'],
      ['${db.url}', at],
    ]);
  });

  it('resolveReferences resolves 20,000 levels down, and never walks into a looked-up value', () => {
    // Prepare
    const lookup = (): unknown => ['${not.resolved}'];

    // Act
    const input = { list: [1, '${net.id}'], deep: nestedObject(DEEP, 'x-${net.id}') };
    const resolved = resolveReferences(input, 'dev', lookup) as typeof input;

    // Assess
    expect(resolved.list).toEqual([1, ['${not.resolved}']]);
    expect(leaf(resolved.deep, DEEP)).toBe('x-["${not.resolved}"]');
    expect(leaf(input.deep, DEEP)).toBe('x-${net.id}'); // a copy: the input is untouched
  });

  it('canonicalJson serialises 20,000 levels, keys sorted, as JSON.parse reads it back', () => {
    // Prepare
    const value = { b: nestedObject(DEEP, [1, { z: true, y: null }]), a: 'x' };

    // Act
    const text = canonicalJson(value);

    // Assess
    expect(text).toBe(`{"a":"x","b":${'{"a":'.repeat(DEEP)}[1,{"y":null,"z":true}]${'}'.repeat(DEEP + 1)}`);
  });

  it('diffInputs compares objects 20,000 levels deep', () => {
    // Act
    const changes = diffInputs({ deep: nestedObject(DEEP, 1) as Record<string, unknown> }, { deep: nestedObject(DEEP, 2) as Record<string, unknown> });

    // Assess
    expect(changes).toEqual([{ path: `deep.${at}`, kind: 'changed', before: 1, after: 2 }]);
  });
});
