import { describe, expect, it } from 'vitest';
import { fieldOfProblem, fieldsOf, parseField, textOf, type Field } from '../../../web/form.ts';

const schema = {
  type: 'object',
  required: ['hostname', 'count'],
  properties: {
    hostname: { type: 'string', description: 'the public name' },
    price_class: { type: 'string', enum: ['PriceClass_100', 'PriceClass_All'] },
    count: { type: 'integer', minimum: 0 },
    ratio: { type: 'number' },
    enabled: { type: 'boolean' },
    subnet_ids: { type: 'array', items: { type: 'string' } },
  },
};

describe('the propose form made from an inputs schema', () => {
  const fields = fieldsOf(schema, { hostname: 'a', extra: { nested: true } });
  const field = (name: string): Field => fields.find((f) => f.name === name)!;

  it('one field per property, in the schema order, then the inputs the schema does not name', () => {
    expect(fields.map((f) => `${f.name}:${f.kind}${f.required ? '!' : ''}`)).toEqual(['hostname:string!', 'price_class:enum', 'count:integer!', 'ratio:number', 'enabled:boolean', 'subnet_ids:json', 'extra:json']);
    expect(field('hostname').description).toBe('the public name');
    expect(field('price_class').options).toEqual(['PriceClass_100', 'PriceClass_All']);
    // No schema at all: every input is JSON.
    expect(fieldsOf(null, { a: 1 }).map((f) => f.kind)).toEqual(['json']);
  });

  it('reads each text as its value, or says what is wrong without asking the server', () => {
    expect(parseField(field('count'), ' 42 ')).toEqual({ value: 42 });
    expect(parseField(field('count'), '4.5').error).toBe('must be a whole number');
    expect(parseField(field('count'), 'forty').error).toMatch(/^must be a number/);
    expect(parseField(field('count'), '').error).toBe('required');
    expect(parseField(field('ratio'), '')).toEqual({}); // optional and empty: left out
    expect(parseField(field('ratio'), '0.25')).toEqual({ value: 0.25 });
    expect(parseField(field('enabled'), 'false')).toEqual({ value: false });
    expect(parseField(field('enabled'), 'yes').error).toBe('must be true or false');
    expect(parseField(field('subnet_ids'), '["a","b"]')).toEqual({ value: ['a', 'b'] });
    expect(parseField(field('subnet_ids'), '[a').error).toMatch(/^not valid JSON/);
    // A whole reference is a reference, whatever the type: its value arrives at apply time.
    expect(parseField(field('subnet_ids'), '${network.private_subnet_ids}')).toEqual({ value: '${network.private_subnet_ids}' });
    expect(parseField(field('count'), '${queue.size}')).toEqual({ value: '${queue.size}' });
    // Text keeps its spaces.
    expect(parseField(field('hostname'), ' a b ')).toEqual({ value: ' a b ' });
  });

  it('shows each value as text the parser reads back', () => {
    for (const [name, value] of [['count', 3], ['enabled', true], ['subnet_ids', ['x']], ['hostname', 'h'], ['extra', { nested: true }]] as const) {
      expect(parseField(field(name), textOf(field(name), value))).toEqual({ value });
    }
  });

  it('puts a server problem on the field it names (the longest name first), else on the form', () => {
    const names = ['api', 'api_url', 'subnet_ids'];
    expect(fieldOfProblem('api_url: must be string (schema in components/x/component.yaml)', names)).toEqual({ field: 'api_url', message: 'must be string (schema in components/x/component.yaml)' });
    expect(fieldOfProblem('subnet_ids[0]: must be string', names)).toEqual({ field: 'subnet_ids', message: 'subnet_ids[0]: must be string' });
    expect(fieldOfProblem('must NOT have additional properties', names)).toBeUndefined();
  });
});
