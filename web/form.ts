/**
 * The propose form's rules, without the page: the fields a component's `inputs` JSON Schema makes, a field's text
 * as a value (what the browser checks at once), and which field a server problem names. The server's dry run
 * (POST /request-change with dryRun) is the authority on validity; these only catch what needs no server.
 */
type Kind = 'string' | 'enum' | 'number' | 'integer' | 'boolean' | 'json';

export interface Field {
  readonly name: string;
  readonly kind: Kind;
  readonly required: boolean;
  readonly description: string | undefined;
  readonly options: readonly string[];
  /** The schema's bounds, as words: "at least 0", "a list of string". */
  readonly constraints: readonly string[];
}

function constraintsOf(s: JsonSchema | undefined): string[] {
  if (!s) return [];
  const out: string[] = [];
  const say = (key: string, words: string): void => {
    if (typeof s[key] === 'number' || typeof s[key] === 'string') out.push(`${words} ${String(s[key])}`);
  };
  say('minimum', 'at least');
  say('exclusiveMinimum', 'more than');
  say('maximum', 'at most');
  say('exclusiveMaximum', 'less than');
  say('minLength', 'at least this many characters:');
  say('maxLength', 'at most this many characters:');
  say('pattern', 'matching');
  const items = s['items'] as JsonSchema | undefined;
  if (s['type'] === 'array') out.push(`a JSON list${typeof items?.['type'] === 'string' ? ` of ${items['type']}` : ''}`);
  if (s['type'] === 'object') out.push('a JSON object');
  return out;
}

type JsonSchema = Record<string, unknown>;

const WHOLE_REFERENCE = /^\$\{[^}]+\}$/;

function kindOf(schema: JsonSchema | undefined): Kind {
  if (!schema) return 'json';
  if (Array.isArray(schema['enum']) && schema['enum'].every((v) => typeof v === 'string')) return 'enum';
  const type = schema['type'];
  if (type === 'string' || type === 'number' || type === 'integer' || type === 'boolean') return type;
  return 'json';
}

/** The fields: each property of the schema (its order), then inputs the schema does not name. */
export function fieldsOf(schema: JsonSchema | null, inputs: Readonly<Record<string, unknown>> | null): Field[] {
  const properties = (schema?.['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(schema?.['required']) ? (schema['required'] as string[]) : []);
  const names = [...Object.keys(properties), ...Object.keys(inputs ?? {}).filter((k) => !(k in properties))];
  return names.map((name) => {
    const s = properties[name];
    return {
      name,
      kind: kindOf(s),
      required: required.has(name),
      description: typeof s?.['description'] === 'string' ? s['description'] : undefined,
      options: Array.isArray(s?.['enum']) ? (s['enum'] as string[]) : [],
      constraints: constraintsOf(s),
    };
  });
}

export function textOf(field: Field, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (field.kind === 'json') return JSON.stringify(value, null, 2);
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

type Parsed = { readonly value?: unknown; readonly error?: string };

/** A field's text as a value, or why it is not one (checked in the browser, before the server sees it). */
export function parseField(field: Field, text: string): Parsed {
  const t = text.trim();
  if (t === '') return field.required ? { error: 'required' } : {};
  if (WHOLE_REFERENCE.test(t)) return { value: t };
  switch (field.kind) {
    case 'string':
    case 'enum':
      return { value: text };
    case 'number':
    case 'integer': {
      const n = Number(t);
      if (!Number.isFinite(n)) return { error: `must be a number${field.kind === 'integer' ? ' (a whole one)' : ''}, or a reference like \${component.output}` };
      if (field.kind === 'integer' && !Number.isInteger(n)) return { error: 'must be a whole number' };
      return { value: n };
    }
    case 'boolean':
      return t === 'true' ? { value: true } : t === 'false' ? { value: false } : { error: 'must be true or false' };
    case 'json':
      try {
        return { value: JSON.parse(t) as unknown };
      } catch (e) {
        return { error: `not valid JSON (${(e as Error).message}); a reference is written bare: \${component.output}` };
      }
  }
}

/** Which field a server problem is about: its message starts with the field's path ("hostname: must be …"). */
export function fieldOfProblem(message: string, names: readonly string[]): { field: string; message: string } | undefined {
  for (const name of [...names].sort((a, b) => b.length - a.length)) {
    for (const sep of [': ', '[', '.']) {
      if (message.startsWith(`${name}${sep}`)) return { field: name, message: sep === ': ' ? message.slice(name.length + 2) : message };
    }
  }
  return undefined;
}

