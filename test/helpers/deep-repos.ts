/**
 * Config repos with deep structures, for the tests that keep Karma from overflowing the stack: a long chain of
 * components (each consuming the previous one's output) and input values nested many levels deep.
 */

/**
 * `n` components in one line in environment `dev`: c<i> consumes c<i-1>'s output `o` (c0 is the root). With
 * `reverse`, c<i> consumes c<i+1>'s and the root is the last name, so name order runs against dependency order.
 */
export function chainRepo(n: number, options: { reverse?: boolean } = {}): Record<string, string> {
  const files: Record<string, string> = {
    'karma.yaml': 'project: chain\nenvironments:\n  dev: {}\n',
    'modules/m/main.tf': 'variable "x" {\n  default = null\n}\noutput "o" { value = "v" }\n',
  };
  for (let i = 0; i < n; i++) {
    const upstream = options.reverse ? (i === n - 1 ? undefined : i + 1) : i === 0 ? undefined : i - 1;
    files[`components/c${i}/component.yaml`] = 'terraform: ../../modules/m\noutputs: [o]\n';
    files[`environments/dev/c${i}.json`] = upstream === undefined ? '{}\n' : `{\n  "x": "\${c${upstream}.o}"\n}\n`;
  }
  return files;
}

/** `[[[...]]]`, `depth` arrays inside each other, as JSON text. */
export function nestedArrayJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** `{"a":{"a":...leaf...}}`, `depth` objects inside each other, as a value. */
export function nestedObject(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}
