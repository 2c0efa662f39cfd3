/**
 * component.yaml is read by hand when it is the usual shape, by zod otherwise: both must give the same result.
 */
import { describe, expect, it } from 'vitest';
import { ComponentYaml, plainComponent } from '../../../lib/core/config.ts';

describe('component.yaml fast path', () => {
  it.each([
    ['an empty document', {}],
    ['every field', { outputs: ['id', 'url_2'], sensitiveOutputs: ['url_2'], description: 'd', terraform: '../m', dependsOn: ['net', 'dns-1'], inputs: { type: 'object', properties: { a: { type: 'string' } } } }],
    ['inputs keep their key order', { inputs: { required: ['b'], type: 'object', '1': true } }],
  ])('%s: the same result as zod, key for key', (_label, data) => {
    const fast = plainComponent(data);
    expect(fast).toBeDefined();
    expect(JSON.stringify(fast)).toBe(JSON.stringify(ComponentYaml.parse(data)));
    expect(fast).toEqual(ComponentYaml.parse(data));
  });

  it.each([
    ['an unknown field', { descripton: 'x' }],
    ['an empty terraform', { terraform: '' }],
    ['a bad dependency name', { dependsOn: ['Net'] }],
    ['a bad output name', { outputs: ['1x'] }],
    ['a non-string sensitive output', { sensitiveOutputs: [1] }],
    ['inputs that are a list', { inputs: [] }],
    ['inputs that are null', { inputs: null }],
    ['a description that is a number', { description: 1 }],
    ['a list instead of a mapping', []],
  ])('%s: left to zod, which refuses it', (_label, data) => {
    expect(plainComponent(data)).toBeUndefined();
    expect(ComponentYaml.safeParse(data).success).toBe(false);
  });
});
