/** A time as people read it: "3 minutes ago"; past two weeks, the date and time in UTC. */
export function when(iso: string, now = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.round((now - then) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return ago(Math.max(1, Math.round(s / 60)), 'minute');
  if (s < 86400) return ago(Math.round(s / 3600), 'hour');
  if (s < 86400 * 14) return ago(Math.round(s / 86400), 'day');
  return utc(iso);
}

/** "2026-12-03 20:02 UTC". */
export function utc(iso: string): string {
  const then = Date.parse(iso);
  return Number.isNaN(then) ? iso : `${new Date(then).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const ago = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
