/**
 * Durations as people type them: `90s`, `10m`, `1h30m`, `2d`, or a number of seconds (`3600`). Whole seconds.
 */
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds, or undefined when `text` is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) > 0 ? Number(t) : undefined;
  if (!/^(\d+[smhd])+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return total > 0 ? total : undefined;
}

/** `3725` → `1h2m5s`; `600` → `10m`. */
export function formatDuration(seconds: number): string {
  let left = Math.round(seconds);
  if (left <= 0) return '0s';
  let out = '';
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${unit}`;
    left -= n * size;
  }
  return out;
}
