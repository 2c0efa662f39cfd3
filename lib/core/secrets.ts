/**
 * Keeping secrets out of everything Karma prints or stores. A secret value (a SecureString parameter, an output
 * its producer or Terraform marks sensitive) can reach text in more encodings than one, so the redactor
 * derives every printable form of it and replaces them all:
 *
 *   leaves     a structured secret (a map or a list, or a string holding one as JSON text) is hidden scalar
 *              by scalar: every string leaf, every number leaf, and the whole JSON text. Booleans and null are never secret
 *              (two values hide nothing). Map keys are structure, not secrets: they stay visible.
 *   lines      a multi-line value (a PEM key) is printed line by line (logs are written a line at a time,
 *              Terraform shows it as a heredoc `<<-EOT ... EOT`): each line, trimmed, is a form of its own.
 *   encodings  each of those strings raw, JSON-escaped (`\"`, `\\`, `\n`), as Go's encoding/json writes it
 *              (Terraform's `jsonencode` and `output -json`: also `\u003c` for `<`, `>`, `&`), Go-quoted as
 *              Terraform prints an HCL string (`\"`, `\x1b`), with HCL's template escapes (`$${`, `%%{`),
 *              and every encoding of an encoding (a JSON text inside a quoted HCL string).
 *
 * The length rule: a leaf or line shorter than MIN_SECRET_LENGTH (4) characters is not redacted, in any of its
 * encodings. Replacing `}`, `ab` or `80` everywhere would shred ordinary output and protect nothing: a secret
 * that short can be guessed. Pure: no I/O, deterministic.
 */

export const MIN_SECRET_LENGTH = 4;
export const REDACTED = '(sensitive)';

/** The strings to hide for one secret value, before encoding: its scalar leaves and the lines of each. */
function baseStrings(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') {
    out.add(value);
    const lines = value.split(/\r?\n/);
    if (lines.length > 1) for (const line of lines) out.add(line.trim());
    const structured = parseStructured(value);
    if (structured !== undefined) baseStrings(structured, out);
    return;
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    out.add(String(value));
    return;
  }
  if (value !== null && typeof value === 'object') {
    out.add(JSON.stringify(value));
    for (const v of Array.isArray(value) ? value : Object.values(value)) baseStrings(v, out);
  }
}

/** A string holding a JSON map or list (a structured SecureString passed through `${ssm:...}`) is decoded. */
function parseStructured(text: string): object | undefined {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const jsonEscape = (s: string): string => JSON.stringify(s).slice(1, -1);

const GO_JSON_EXTRA: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
const goJsonEscape = (s: string): string => jsonEscape(s).replace(/[<>&\u2028\u2029]/g, (c) => GO_JSON_EXTRA[c]!);

const GO_QUOTE: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\v': '\\v' };
// eslint-disable-next-line no-control-regex
const goQuote = (s: string): string => s.replace(/["\\\x00-\x1f\x7f]/g, (c) => GO_QUOTE[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

const hclTemplateEscape = (s: string): string => s.replace(/([$%])\{/g, (_, c: string) => `${c}${c}{`);

const ENCODINGS: readonly ((s: string) => string)[] = [jsonEscape, goJsonEscape, goQuote, hclTemplateEscape];

/** Every form in which the secret values may be printed, longest first. */
export function printableForms(secrets: readonly unknown[]): string[] {
  const bases = new Set<string>();
  for (const s of secrets) baseStrings(s, bases);
  const forms = new Set<string>();
  for (const base of bases) {
    if (base.length < MIN_SECRET_LENGTH) continue;
    forms.add(base);
    for (const once of ENCODINGS) {
      const encoded = once(base);
      forms.add(encoded);
      for (const twice of ENCODINGS) forms.add(twice(encoded));
    }
  }
  // Raw and template-escaped forms of a multi-line value still hold newlines: text is redacted a line at a
  // time, where their lines (already bases) do the work; the whole form still matches a whole text.
  return [...forms].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

/**
 * A function that replaces every printable form of the secrets by `(sensitive)`. Overlapping matches (two
 * secrets sharing characters) are merged into one replacement, so no part of either survives; the
 * replacement text is never searched again.
 */
export function redactor(secrets: readonly unknown[] = []): (text: string) => string {
  const forms = printableForms(secrets);
  if (forms.length === 0) return (t) => t;
  return (text) => {
    const spans: [number, number][] = [];
    for (const form of forms) {
      for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) spans.push([at, at + form.length]);
    }
    if (spans.length === 0) return text;
    spans.sort((a, b) => a[0] - b[0]);
    let out = '';
    let cursor = 0;
    let open = spans[0]!;
    const close = (span: [number, number]): void => {
      out += text.slice(cursor, span[0]) + REDACTED;
      cursor = span[1];
    };
    for (const span of spans.slice(1)) {
      if (span[0] <= open[1]) open = [open[0], Math.max(open[1], span[1])];
      else {
        close(open);
        open = span;
      }
    }
    close(open);
    return out + text.slice(cursor);
  };
}
