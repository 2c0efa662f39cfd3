/**
 * The saved-plan store (lib/app/saved-plans.ts): where a proposal's plan lives, when it expires, what the sweep
 * removes, and KARMA_PLAN_TTL. Planning itself (terraform) is covered in test/e2e/change-workflow.test.ts.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_TTL_SECONDS, planFilePath, planTtlSeconds, readSavedPlan, sweepSavedPlans, type SavedPlan } from '../../../lib/app/saved-plans.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

let store: string;
beforeEach(() => {
  store = makeTempDir('karma-plans-');
});
afterEach(() => removeDir(store));

const at = (iso: string) => ({ now: () => new Date(iso) });

function save(id: string, expiresAt: string, withFile = true): SavedPlan {
  const saved: SavedPlan = {
    proposal: id,
    env: 'karma-dev',
    component: 'network',
    commit: 'c'.repeat(40),
    configHash: 'h',
    inputsHash: 'i',
    inputsSalt: 's',
    plannedAt: '2026-01-01T00:00:00.000Z',
    expiresAt,
    plan: { add: 0, change: 1, destroy: 0, line: 'Plan: 0 to add, 1 to change, 0 to destroy.', resources: [{ address: 'terraform_data.network', action: 'update' }] },
    text: '',
  };
  const file = planFilePath(store, saved);
  mkdirSync(join(store, 'plans', id, 'karma-dev'), { recursive: true });
  writeFileSync(join(store, 'plans', id, 'plan.json'), JSON.stringify(saved));
  if (withFile) writeFileSync(file, 'plan');
  return saved;
}

describe('saved plans', () => {
  it('are read until they expire; an expired one is deleted as it is read', () => {
    save('p-1', '2026-01-02T00:00:00.000Z');
    expect(planFilePath(store, { proposal: 'p-1', env: 'karma-dev', component: 'network' })).toBe(join(store, 'plans', 'p-1', 'karma-dev', 'network.tfplan'));
    expect(readSavedPlan(store, 'p-1', at('2026-01-01T23:59:59Z'))).toMatchObject({ kind: 'ok', saved: { proposal: 'p-1' } });
    expect(readSavedPlan(store, 'p-1', at('2026-01-02T00:00:00Z'))).toMatchObject({ kind: 'expired' });
    expect(existsSync(join(store, 'plans', 'p-1'))).toBe(false);
    expect(readSavedPlan(store, 'p-1', at('2026-01-01T00:00:00Z'))).toEqual({ kind: 'none' });
  });

  it('a record without its plan file, or none at all, is no plan', () => {
    save('p-2', '2026-01-02T00:00:00.000Z', false);
    expect(readSavedPlan(store, 'p-2', at('2026-01-01T00:00:00Z'))).toEqual({ kind: 'none' });
    expect(readSavedPlan(store, 'p-9', at('2026-01-01T00:00:00Z'))).toEqual({ kind: 'none' });
  });

  it('the sweep removes expired plans and those of closed proposals, and keeps the rest', () => {
    save('p-open', '2026-01-02T00:00:00.000Z');
    save('p-expired', '2026-01-01T06:00:00.000Z');
    save('p-closed', '2026-01-02T00:00:00.000Z');
    sweepSavedPlans(store, new Set(['p-open', 'p-expired']), at('2026-01-01T12:00:00Z'));
    expect(['p-open', 'p-expired', 'p-closed'].map((id) => existsSync(join(store, 'plans', id)))).toEqual([true, false, false]);
  });

  it('KARMA_PLAN_TTL: seconds or a duration; default 24h; anything else is a one-line usage error', () => {
    expect(planTtlSeconds({})).toBe(DEFAULT_PLAN_TTL_SECONDS);
    expect(DEFAULT_PLAN_TTL_SECONDS).toBe(86_400);
    expect(planTtlSeconds({ KARMA_PLAN_TTL: '90m' })).toBe(5400);
    expect(planTtlSeconds({ KARMA_PLAN_TTL: '30' })).toBe(30);
    expect(() => planTtlSeconds({ KARMA_PLAN_TTL: 'soon' })).toThrow(/KARMA_PLAN_TTL must be a number of seconds or a duration like 90m, 24h or 2d, got "soon"/);
  });
});
