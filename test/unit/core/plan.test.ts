import { describe, expect, it } from 'vitest';
import { actionOf, destructive, formatPlannedResources, planDetail, summarizePlanJson } from '../../../lib/core/plan.ts';

const rc = (address: string, actions: string[]) => ({ address, change: { actions, before: { secret: 'hunter2' }, after: null } });

describe('summarizePlanJson', () => {
  it('counts like terraform: a replace is one add and one destroy, reads and no-ops count in neither', () => {
    const s = summarizePlanJson({
      variables: { password: { value: 'hunter2' } },
      resource_changes: [rc('a.x', ['create']), rc('b.y', ['update']), rc('c.z', ['delete', 'create']), rc('d.w', ['create', 'delete']), rc('e.v', ['delete']), rc('data.f.u', ['read']), rc('g.t', ['no-op'])],
    });
    expect(s).toMatchObject({ add: 3, change: 1, destroy: 3, line: 'Plan: 3 to add, 1 to change, 3 to destroy.' });
    expect(s.resources.map((r) => `${r.address}:${r.action}`)).toEqual(['a.x:create', 'b.y:update', 'c.z:replace', 'd.w:replace', 'e.v:delete', 'data.f.u:read']);
    expect(JSON.stringify(s)).not.toContain('hunter2');
    expect(destructive(s).map((r) => r.address)).toEqual(['c.z', 'd.w', 'e.v']);
    expect(planDetail(s)).toBe('Plan: 3 to add, 1 to change, 3 to destroy. destroys or replaces: c.z, d.w, e.v');
    expect(formatPlannedResources(s)[2]).toBe('-/+ c.z (replace: destroyed, then created)');
  });

  it('no resource changes is "No changes."; a non-plan document is refused', () => {
    expect(summarizePlanJson({ resource_changes: [rc('g.t', ['no-op'])] })).toMatchObject({ add: 0, change: 0, destroy: 0, line: 'No changes.', resources: [] });
    expect(summarizePlanJson({})).toMatchObject({ line: 'No changes.' });
    expect(() => summarizePlanJson([])).toThrow(/no plan object/);
    expect(() => summarizePlanJson({ resource_changes: 'x' })).toThrow(/not a list/);
    expect(actionOf(['no-op'])).toBeUndefined();
  });
});
