/**
 * A Terraform plan as Karma shows it: what `terraform show -json PLANFILE` says in `resource_changes`, reduced to
 * each resource's address and one action, and the counts Terraform prints ("Plan: 1 to add, 0 to change,
 * 0 to destroy."). Reading the JSON, not the text, keeps this independent of Terraform's wording and colours.
 *
 * Only addresses and actions are kept: the JSON also holds every variable's value and the planned attribute
 * values (secrets included), and none of that leaves this function.
 */
export type PlanAction = 'create' | 'update' | 'replace' | 'delete' | 'read';

export interface PlannedResource {
  readonly address: string;
  readonly action: PlanAction;
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  /** Resources with an action, in Terraform's order (no-ops left out). */
  readonly resources: readonly PlannedResource[];
  /** Terraform's own line: "Plan: 1 to add, 0 to change, 0 to destroy." or "No changes." */
  readonly line: string;
}

/** Terraform's `actions` list → one action; undefined for a no-op. A replace is delete+create in either order. */
export function actionOf(actions: readonly string[]): PlanAction | undefined {
  const set = new Set(actions);
  if (set.has('delete') && set.has('create')) return 'replace';
  if (set.has('create')) return 'create';
  if (set.has('delete')) return 'delete';
  if (set.has('update')) return 'update';
  if (set.has('read')) return 'read';
  return undefined;
}

/**
 * The summary of `terraform show -json PLANFILE`'s output (already parsed). Counts follow Terraform's plan line:
 * a replace counts once to add and once to destroy; data-source reads count in neither. Throws on anything that
 * is not a plan document (a message that quotes none of it).
 */
export function summarizePlanJson(json: unknown): PlanSummary {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('terraform show -json printed no plan object');
  const changes = (json as Record<string, unknown>)['resource_changes'] ?? [];
  if (!Array.isArray(changes)) throw new Error('terraform show -json: resource_changes is not a list');
  const resources: PlannedResource[] = [];
  for (const rc of changes as unknown[]) {
    if (rc === null || typeof rc !== 'object') continue;
    const r = rc as Record<string, unknown>;
    const change = r['change'] as Record<string, unknown> | undefined;
    const actions = Array.isArray(change?.['actions']) ? (change['actions'] as unknown[]).filter((a): a is string => typeof a === 'string') : [];
    const action = actionOf(actions);
    if (action && typeof r['address'] === 'string') resources.push({ address: r['address'], action });
  }
  const count = (...actions: PlanAction[]): number => resources.filter((r) => actions.includes(r.action)).length;
  const add = count('create', 'replace');
  const change = count('update');
  const destroy = count('delete', 'replace');
  const line = add + change + destroy === 0 ? 'No changes.' : `Plan: ${add} to add, ${change} to change, ${destroy} to destroy.`;
  return { add, change, destroy, resources, line };
}

/** Resources a plan deletes or replaces: an apply of it needs an explicit --allow-destroy. */
export function destructive(summary: PlanSummary): PlannedResource[] {
  return summary.resources.filter((r) => r.action === 'delete' || r.action === 'replace');
}

const SIGN: Record<PlanAction, string> = { create: '+', update: '~', replace: '-/+', delete: '-', read: '<=' };

/** One line per resource, Terraform's signs: `+ create`, `~ update`, `-/+ replace`, `- delete`, `<= read`. */
export function formatPlannedResources(summary: PlanSummary): string[] {
  return summary.resources.map((r) => `${SIGN[r.action].padStart(3)} ${r.address} (${r.action === 'replace' ? 'replace: destroyed, then created' : r.action})`);
}

/** The one-line form a table cell shows: the plan line plus what is destroyed or replaced, by name. */
export function planDetail(summary: PlanSummary): string {
  const gone = destructive(summary);
  if (gone.length === 0) return summary.line;
  return `${summary.line} destroys or replaces: ${gone.map((r) => r.address).join(', ')}`;
}
