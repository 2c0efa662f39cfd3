import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/core/config.ts';
import { canonicalJson, contentHash } from '../../../lib/core/hash.ts';
import { findReferences, resolveReferences } from '../../../lib/core/references.ts';
import { files } from '../../support/config.ts';

const base = {
  'karma.yaml': 'project: p\nenvironments:\n  dev: {}\n',
  'components/net/component.yaml': 'description: net\noutputs: [id]\n',
  'components/net/main.tf': 'resource "terraform_data" "x" {}\n',
  'environments/dev/net.json': '{"b": 1, "a": [1, 2]}',
};
const hashOf = (overrides: Record<string, string>, drop: string[] = []): string => {
  const map: Record<string, string> = { ...base, ...overrides };
  for (const d of drop) delete map[d];
  return parseConfig(files(map), { source: 't' }).deployments[0]!.configHash;
};

describe('hashing', () => {
  it('canonical JSON sorts keys and ignores undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
  });

  it('canonical JSON writes the same text at every depth, on both sides of the switch to the iterative form', () => {
    // Prepare: holes, undefined elements and members, functions, dates; nested 1 to 200 levels deep.
    const leaf = [1, , undefined, { u: undefined, f: () => 1, d: new Date(0), s: 'é"\n', n: -0.5 }, null]; // eslint-disable-line no-sparse-arrays
    const leafText = '[1,,null,{"d":{},"f":null,"n":-0.5,"s":"é\\"\\n"},null]';
    for (const depth of [1, 2, 63, 64, 65, 66, 67, 200]) {
      let value: unknown = leaf;
      let text = leafText;
      for (let i = 0; i < depth; i++) {
        value = i % 2 === 0 ? { z: value, a: [i] } : [value, i];
        text = i % 2 === 0 ? `{"a":[${i}],"z":${text}}` : `[${text},${i}]`;
      }
      // Act + Assess
      expect(canonicalJson(value)).toBe(text);
    }
  });

  it('the config hash ignores formatting, key order, comments and JSON-vs-YAML', () => {
    const h = hashOf({});
    expect(hashOf({ 'environments/dev/net.json': '{\n  "a": [1, 2],\n  "b": 1\n}\n' })).toBe(h);
    expect(hashOf({ 'environments/dev/net.yaml': '# comment\na: [1, 2]\nb: 1\n' }, ['environments/dev/net.json'])).toBe(h);
    expect(hashOf({ 'components/net/component.yaml': '# the network\noutputs: [id]\ndescription: net\n' })).toBe(h);
  });

  it('the config hash changes with inputs, component.yaml and any module file', () => {
    const h = hashOf({});
    expect(hashOf({ 'environments/dev/net.json': '{"b": 2, "a": [1, 2]}' })).not.toBe(h);
    expect(hashOf({ 'components/net/component.yaml': 'description: network\noutputs: [id]\n' })).not.toBe(h);
    expect(hashOf({ 'components/net/main.tf': 'resource "terraform_data" "y" {}\n' })).not.toBe(h);
    expect(hashOf({ 'components/net/variables.tf': 'variable "a" {}\n' })).not.toBe(h);
    // Terraform's working files are not part of the module
    expect(hashOf({ 'components/net/terraform.tfstate': '{}', 'components/net/.terraform/x': 'y' })).toBe(h);
  });
});

describe('references', () => {
  it('finds same-env, cross-env and ssm references with their input paths; $${} is a literal', () => {
    const { references, problems } = findReferences(
      { a: '${net.id}', b: ['x-${env:shared/dns.zone}-y'], c: { d: '${ssm:/ext/k}' }, e: '$${not.a.ref}' },
      'dev',
    );
    expect(problems).toEqual([]);
    expect(references).toEqual([
      { kind: 'output', env: 'dev', component: 'net', output: 'id', at: 'a', text: '${net.id}' },
      { kind: 'output', env: 'shared', component: 'dns', output: 'zone', at: 'b[0]', text: '${env:shared/dns.zone}' },
      { kind: 'ssm', path: '/ext/k', at: 'c.d', text: '${ssm:/ext/k}' },
    ]);
  });

  it('reports references it does not understand', () => {
    expect(findReferences({ a: '${oops}' }, 'dev').problems).toEqual([
      { at: 'a', path: ['a'], message: '"${oops}" is not a reference Karma understands: use ${component.output}, ${env:<env>/<component>.<output>} or ${ssm:/path} (write $${...} for a literal)' },
    ]);
  });

  it('a whole-string reference takes the value itself; an embedded one is interpolated', () => {
    const values: Record<string, unknown> = { 'net.ids': ['s1', 's2'], 'net.id': 'vpc-1' };
    const resolved = resolveReferences({ ids: '${net.ids}', arn: 'arn:${net.id}/x', lit: '$${net.id}' }, 'dev', (r) =>
      r.kind === 'output' ? values[`${r.component}.${r.output}`] : undefined,
    );
    expect(resolved).toEqual({ ids: ['s1', 's2'], arn: 'arn:vpc-1/x', lit: '${net.id}' });
  });
});
