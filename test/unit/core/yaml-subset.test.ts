import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { NOT_SIMPLE, parseSimpleYaml } from '../../../lib/core/yaml-subset.ts';
import { prng } from '../../../bench/generate.ts'; // mulberry32: the fuzz corpus is the same on every run

/** What parseConfigDocument did before the fast path: `yaml` with unique keys; an error means "invalid". */
function reference(text: string): { ok: true; data: unknown } | { ok: false } {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) return { ok: false };
  try {
    return { ok: true, data: doc.toJS({ maxAliasCount: 100 }) };
  } catch {
    return { ok: false };
  }
}

/** The property: the fast path either declines, or gives exactly what `yaml` gives. */
function check(text: string): 'fast' | 'declined' {
  const fast = parseSimpleYaml(text);
  if (fast === NOT_SIMPLE) return 'declined';
  const ref = reference(text);
  expect(ref.ok, `fast path accepted a text yaml rejects:\n${text}`).toBe(true);
  expect(fast, text).toStrictEqual((ref as { data: unknown }).data);
  return 'fast';
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...yamlFiles(full));
    else if (/\.ya?ml$/.test(name)) out.push(full);
  }
  return out;
}


const SCALARS = [
  'x', 'hello world', 'a: b', 'a:b', 'a #c', 'a# b', '#c', '', '~', 'null', 'Null', 'NULL', 'nul', 'true', 'True', 'TRUE', 'tRUE', 'false', 'yes', 'no', 'on',
  '0', '-0', '+0', '007', '12', '-12', '+12', '1_000', '0o17', '0o19', '0x1F', '0X1F', '0xg', '1.5', '1.', '.5', '-.5', '1e3', '1.5E-3', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', 'NaN', 'Infinity',
  '12345678901234567890', '10.0.0.0/16', '1.2.3', '-', '-x', '--x', '- x', '?x', '? x', ':x', ',x', '[x', ']x', '{x', '}x', '&a x', '*a', '!!str x', '|', '>', '%x', '@x', '`x', "'q'", '"q"', "'it''s'", '"a\\"b"', '"a#b"', "'a: b'",
  '"unterminated', "'a' b", '[a, b]', '[a,b]', '[ a , 1 ]', '[]', '{}', '[a, [b]]', '[a,]', '[a] x', '[a] # c', '{a: 1}', '${net.vpc_id}', '^[a-z0-9.-]+$', 'http://x.y/z', 'é ü ✓', 'a\u00a0b', 'x  ', 'it\'s', 'say "hi"',
  'a b: c', 'key:', '<<', '=', 'a\tb',
];
const KEYS = ['a', 'b', 'name', 'type', 'x_1', 'a.b', 'a-b', '_k', 'true', 'null', 'Yes', '1', '"q"', "'q'", 'a b', '<<', '__proto__', '-k', 'k:', 'é'];

function fuzzDoc(rng: () => number): string {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const lines: string[] = [];
  const emit = (depth: number, indent: number, kind: 'map' | 'seq'): void => {
    const n = 1 + Math.floor(rng() * 3);
    const used: string[] = [];
    for (let k = 0; k < n; k++) {
      const jitter = rng() < 0.03 ? pick([-1, 1, 2]) : 0;
      const pad = ' '.repeat(Math.max(0, indent + jitter));
      const r = rng();
      if (kind === 'map') {
        const key = rng() < 0.1 && used.length > 0 ? pick(used) : pick(KEYS);
        used.push(key);
        if (depth < 3 && r < 0.3) {
          lines.push(`${pad}${key}:${rng() < 0.1 ? ' # c' : ''}`);
          const compact = rng() < 0.3;
          emit(depth + 1, compact ? indent : indent + pick([1, 2, 4]), rng() < 0.5 ? 'seq' : 'map');
        } else {
          lines.push(`${pad}${key}: ${pick(SCALARS)}${rng() < 0.1 ? ' # trailing' : ''}`);
        }
      } else if (depth < 3 && r < 0.3) {
        const key = pick(KEYS);
        lines.push(`${pad}-${rng() < 0.9 ? ' ' : '  '}${key}: ${pick(SCALARS)}`);
        if (rng() < 0.6) lines.push(`${pad}  ${pick(KEYS)}: ${pick(SCALARS)}`);
        if (rng() < 0.2) {
          lines.push(`${pad}  ${pick(KEYS)}:`);
          emit(depth + 1, indent + pick([2, 4]), 'seq');
        }
      } else {
        lines.push(`${pad}- ${pick(SCALARS)}`);
      }
      if (rng() < 0.05) lines.push(pick(['', '# comment', '   # indented comment', '---', '...', '  ']));
    }
  };
  emit(0, 0, rng() < 0.85 ? 'map' : 'seq');
  return lines.join('\n') + (rng() < 0.8 ? '\n' : '');
}

describe('YAML fast path (lib/core/yaml-subset.ts)', () => {
  it('reads typical config files exactly like the yaml library', () => {
    const text = [
      '# The database',
      'description: Aurora PostgreSQL cluster   # trailing comment',
      'terraform: ../../modules/database',
      'dependsOn: [network, security-baseline]',
      'inputs:',
      '  type: object',
      '  additionalProperties: false',
      '  required:',
      '  - vpc_id',
      '  - instance_class',
      '  properties:',
      '    vpc_id: { }',
      '',
      '    instance_class:',
      '      type: string',
      '      enum:',
      '        - db.t4g.medium',
      "        - 'db.r6g.large'",
      '    storage_gb: {type: integer}',
      'outputs: [endpoint, master_password]',
      'sensitiveOutputs:',
      '  - master_password',
    ].join('\n');
    // Flow mappings are outside the subset: declined, then parsed by yaml as before.
    expect(check(text)).toBe('declined');
    const simple = text.replace('    vpc_id: { }', '    vpc_id:\n      type: string').replace('    storage_gb: {type: integer}', '    storage_gb:\n      type: integer\n      minimum: 20');
    expect(check(simple)).toBe('fast');
    expect(parseSimpleYaml('a: 1\nb:\n  - x: 1\n    y: [1, 2.5, .inf]\n  - z\nc: ~\n')).toStrictEqual({ a: 1, b: [{ x: 1, y: [1, 2.5, Infinity] }, 'z'], c: null });
  });

  it('declines what it does not handle', () => {
    for (const text of ['a: &x 1\nb: *x\n', 'a: |\n  text\n', 'a: "esc\\n"\n', 'a: 1\na: 2\n', '---\na: 1\n', 'a:\tb\n', 'a: 1\r\n', '  a: 1\n', 'a: b\n  c\n', '', '# only a comment\n', 'just a scalar\n']) {
      expect(parseSimpleYaml(text), text).toBe(NOT_SIMPLE);
    }
  });

  it('agrees with the yaml library on every YAML file of the repository', () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const files = [...yamlFiles(join(root, 'examples')), ...yamlFiles(join(root, 'test'))];
    expect(files).toContain(join(root, 'examples', 'acme-platform', 'karma.yaml'));
    for (const file of files) check(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  });

  it('agrees with the yaml library on 4,000 generated documents, valid and not', () => {
    const rng = prng(2024);
    const seen = { fast: 0, declined: 0 };
    for (let n = 0; n < 4000; n++) seen[check(fuzzDoc(rng))]++;
    // The corpus exercises both sides (floors: the split moves whenever the subset grows).
    expect(seen.fast + seen.declined).toBe(4000);
    expect(seen.fast).toBeGreaterThan(400);
    expect(seen.declined).toBeGreaterThan(400);
  });
});
