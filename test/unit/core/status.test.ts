import { describe, expect, it } from 'vitest';
import { explainStatus } from '../../../lib/core/status.ts';
import { config } from '../../support/config.ts';
import { apply, build, memoryRuntime, status } from '../../support/applies.ts';

// network → database → app ; app also reads an external parameter.
const components = {
  network: { outputs: ['vpc_id'], in: { dev: { cidr: '10.0.0.0/16' } } },
  database: { outputs: ['endpoint'], in: { dev: { vpc: '${network.vpc_id}' } } },
  app: { outputs: ['url'], in: { dev: { db: '${database.endpoint}', key: '${ssm:/ext/key}' } } },
};

/** The three components applied in order with the external parameter present: everything in-sync. */
async function allApplied() {
  const cfg = config(['dev'], components);
  const runtime = memoryRuntime();
  await runtime.put('/ext/key', 'k');
  await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
  await apply(cfg, runtime, 'dev', 'database', { endpoint: 'db:5432' });
  await apply(cfg, runtime, 'dev', 'app', { url: 'https://app' });
  return { cfg, runtime };
}

describe('statuses', () => {
  it('a component without state is never-applied, and its dependents are blocked behind it', async () => {
    // Prepare
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await runtime.put('/ext/key', 'k');
    // Act
    const b = await build(cfg, runtime);
    // Assess
    expect(status(b, 'dev', 'network')).toEqual(['never-applied', 'never applied in dev']);
    expect(status(b, 'dev', 'database')).toEqual(['blocked', 'network is never-applied']);
    expect(status(b, 'dev', 'app')).toEqual(['blocked', 'database is blocked']);
  });

  it('applied with the current config and inputs is in-sync', async () => {
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await runtime.put('/ext/key', 'k');
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' }, { commit: 'abcdef0123456789' });
    await apply(cfg, runtime, 'dev', 'database', { endpoint: 'db:5432' });
    await apply(cfg, runtime, 'dev', 'app', { url: 'https://app' });
    const b = await build(cfg, runtime);
    expect(status(b, 'dev', 'network')).toEqual(['in-sync', 'applied at 2026-11-28T10:00:00Z (commit abcdef0); config and inputs unchanged']);
    expect(status(b, 'dev', 'app')[0]).toBe('in-sync');
  });

  it('a config change makes pending; a newer consumed output makes stale-inputs; an unchanged output re-written keeps consumers in-sync', async () => {
    const { cfg, runtime } = await allApplied();
    // same outputs again: versions unchanged
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
    expect(status(await build(cfg, runtime), 'dev', 'database')[0]).toBe('in-sync');
    // new vpc id: database consumed version 1, output now at 2
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-2' });
    const changed = config(['dev'], { ...components, network: { outputs: ['vpc_id'], in: { dev: { cidr: '10.1.0.0/16' } } } });
    const b = await build(changed, runtime);
    expect(status(b, 'dev', 'network')).toEqual(['pending', 'config changed since the apply at 2026-11-28T10:00:00Z']);
    expect(status(b, 'dev', 'database')).toEqual(['stale-inputs', 'network.vpc_id is at version 2, applied with version 1']);
    expect(status(b, 'dev', 'app')[0]).toBe('in-sync');
  });

  it('an external parameter with a newer version makes its consumer stale-inputs; a missing one blocks it', async () => {
    const { cfg, runtime } = await allApplied();
    await runtime.put('/ext/key', 'rotated', { type: 'SecureString' });
    expect(status(await build(cfg, runtime), 'dev', 'app')).toEqual(['stale-inputs', '/ext/key is at version 2, applied with version 1']);

    const fresh = memoryRuntime();
    await apply(cfg, fresh, 'dev', 'network', { vpc_id: 'vpc-1' });
    await apply(cfg, fresh, 'dev', 'database', { endpoint: 'db:5432' });
    expect(status(await build(cfg, fresh), 'dev', 'app')).toEqual(['blocked', 'parameter /ext/key does not exist']);
  });

  it('a failed apply is failed with its error; an in-sync dependent stays in-sync; a dependent needing an apply is blocked', async () => {
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await runtime.put('/ext/key', 'k');
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
    await apply(cfg, runtime, 'dev', 'database', { endpoint: 'db:5432' });
    await apply(cfg, runtime, 'dev', 'network', {}, { result: 'failed', error: 'timeout', appliedAt: '2026-11-28T11:00:00Z' });
    const b = await build(cfg, runtime);
    expect(status(b, 'dev', 'network')).toEqual(['failed', 'apply failed at 2026-11-28T11:00:00Z: timeout']);
    expect(status(b, 'dev', 'database')[0]).toBe('in-sync');
    expect(status(b, 'dev', 'app')).toEqual(['never-applied', 'never applied in dev']);
    // database's config changes: it needs an apply now, and its upstream is failed
    const changed = config(['dev'], { ...components, database: { outputs: ['endpoint'], in: { dev: { vpc: '${network.vpc_id}', size: 'large' } } } });
    expect(status(await build(changed, runtime), 'dev', 'database')).toEqual(['blocked', 'network is failed']);
    expect((await build(changed, runtime)).statuses.get('dev/database')!.own).toBe('pending');
  });

  it('an applied upstream without the output a dependent consumes blocks the dependent', async () => {
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await runtime.put('/ext/key', 'k');
    await apply(cfg, runtime, 'dev', 'network', {});
    const b = await build(cfg, runtime);
    expect(status(b, 'dev', 'database')).toEqual(['blocked', 'network has no output vpc_id (/karma/dev/network/outputs/vpc_id)']);
  });

  it('a drift check that found changes makes drifted; an unreadable state is failed with the reason', async () => {
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' }, { drift: { drifted: true, checkedAt: '2026-11-28T03:00:00Z', summary: '1 to change' } });
    expect(status(await build(cfg, runtime), 'dev', 'network')).toEqual(['drifted', 'drift check at 2026-11-28T03:00:00Z found changes: 1 to change']);
    await runtime.put('/karma/dev/network/state', '{not json');
    expect(status(await build(cfg, runtime), 'dev', 'network')).toEqual(['failed', 'state unreadable: /karma/dev/network/state is not valid JSON; re-apply to rewrite it']);
  });

  it('why follows blockers to the root cause', async () => {
    const cfg = config(['dev'], components);
    const runtime = memoryRuntime();
    await runtime.put('/ext/key', 'k');
    await apply(cfg, runtime, 'dev', 'network', {}, { result: 'failed', error: 'quota exceeded' });
    const b = await build(cfg, runtime);
    expect(explainStatus(b.statuses, 'dev', 'app')).toEqual([
      'app is blocked: database is blocked',
      '  database is blocked: network is failed',
      '    network is failed: apply failed at 2026-11-28T10:00:00Z: quota exceeded',
      '    once unblocked, database is never-applied: never applied in dev',
      '  once unblocked, app is never-applied: never applied in dev',
    ]);
  });
});
