/** Plain-text tables: used by the CLI and by the pipeline's summary (which has no terminal). */
/** A fixed-width text table; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], paint?: { header?: (s: string) => string }): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c).length))).join('  ').trimEnd();
  const head = line(headers);
  return [paint?.header ? paint.header(head) : head, ...rows.map(line)].join('\n');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
function visible(s: string): string {
  return s.replace(ANSI, '');
}

