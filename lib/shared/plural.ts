/**
 * Words that agree with a count, for every layer's messages (the CLI re-exports `plural` from lib/cli/format.ts).
 *
 *   plural(1, 'environment')                 1 environment
 *   plural(3, 'vertex', 'vertices')          3 vertices
 *   agree(n, 'its', 'their')                 its for exactly one, else their
 */

/** `one` for a count of exactly 1, else `many`. */
export function agree(count: number, one: string, many: string): string {
  return count === 1 ? one : many;
}

/**
 * "1 environment", "3 environments": `count` and the noun, in the singular for exactly one. `pluralNoun`
 * defaults to the noun plus "s" (pass it for the others: "1 proposal applies", "2 proposals apply").
 */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${agree(count, noun, pluralNoun)}`;
}
