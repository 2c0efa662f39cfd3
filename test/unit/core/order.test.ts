import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/core/errors.ts';
import { destroyOrder, driftOrder, holdsDrift, impact, layeredWaves, orderAll, planEnv } from '../../../lib/core/order.ts';
import { config, files } from '../../support/config.ts';
import { parseConfig } from '../../../lib/core/config.ts';
import { apply, build, memoryRuntime } from '../../support/applies.ts';

// a diamond plus a tail, names chosen so that name order differs from declaration order
//   zeta, alpha (roots) → mid (needs both) → tail ; lone (independent)
const diamond = {
  zeta: { outputs: ['id'], in: { dev: {} } },
  alpha: { outputs: ['id'], in: { dev: {} } },
  mid: { outputs: ['id'], in: { dev: { a: '${alpha.id}', z: '${zeta.id}' } } },
  tail: { outputs: [], dependsOn: ['mid'], in: { dev: {} } },
  lone: { outputs: [], in: { dev: {} } },
};

describe('ordering', () => {
  it('waves are topological generations with ties broken by name', async () => {
    const b = await build(config(['dev'], diamond), memoryRuntime());
    expect(orderAll(b, 'dev').waves).toEqual([['alpha', 'lone', 'zeta'], ['mid'], ['tail']]);
    expect(destroyOrder(b, 'dev').waves).toEqual([['tail'], ['mid'], ['alpha', 'lone', 'zeta']]);
  });

  it('a selected component waits for selected ones it reaches through unselected ones', () => {
    const deps = new Map([['a', []], ['b', ['a']], ['c', ['b']], ['d', []]]);
    expect(layeredWaves(deps, new Set(['a', 'c', 'd']))).toEqual([['a', 'd'], ['c']]);
    expect(layeredWaves(deps, new Set(['c']))).toEqual([['c']]);
  });

  it('the plan holds what needs an apply plus the blocked components whose blockers are planned', async () => {
    const cfg = config(['dev'], diamond);
    const runtime = memoryRuntime();
    await apply(cfg, runtime, 'dev', 'alpha', { id: 'a1' });
    await apply(cfg, runtime, 'dev', 'lone');
    const b = await build(cfg, runtime);
    // zeta never-applied, mid blocked behind it, tail blocked behind mid: all planned in order
    expect(planEnv(b, 'dev')).toEqual({ env: 'dev', waves: [['zeta'], ['mid'], ['tail']], skipped: [], orphaned: [] });
    // re-planned after zeta applied and mid failed in this run: mid is excluded (at most once), tail early-exits
    await apply(cfg, runtime, 'dev', 'zeta', { id: 'z1' });
    await apply(cfg, runtime, 'dev', 'mid', {}, { result: 'failed', error: 'boom' });
    const replanned = planEnv(await build(cfg, runtime), 'dev', { exclude: new Set(['zeta', 'mid']) });
    expect(replanned).toEqual({ env: 'dev', waves: [], skipped: [{ component: 'tail', status: 'blocked', reason: 'mid is failed' }], orphaned: [] });
  });

  it('holdDrift leaves drifted components out of the plan and returns them in held; their dependents still plan on their own reasons', async () => {
    // Prepare: alpha drifted (own status), mid stale behind zeta's new output
    const cfg = config(['dev'], diamond);
    const runtime = memoryRuntime();
    await apply(cfg, runtime, 'dev', 'alpha', { id: 'a1' }, { drift: { drifted: true, summary: 'Plan: 0 to add, 1 to change, 0 to destroy.' } });
    await apply(cfg, runtime, 'dev', 'zeta', { id: 'z1' });
    await apply(cfg, runtime, 'dev', 'lone');
    await apply(cfg, runtime, 'dev', 'mid', { id: 'm1' });
    await apply(cfg, runtime, 'dev', 'tail');
    await apply(cfg, runtime, 'dev', 'zeta', { id: 'z2' });
    const b = await build(cfg, runtime);
    // Act
    const held = planEnv(b, 'dev', { holdDrift: true });
    const reverting = planEnv(b, 'dev');
    // Assess
    expect(held.waves).toEqual([['mid']]);
    expect(held.held).toEqual([{ component: 'alpha', status: 'drifted', reason: 'drift check at 2026-11-28T10:00:00Z found changes: Plan: 0 to add, 1 to change, 0 to destroy.' }]);
    expect(held.skipped).toEqual([]);
    expect(reverting.waves).toEqual([['alpha'], ['mid']]);
    expect(reverting.held).toBeUndefined();
  });

  it('holdsDrift: event-driven runs under report (the default) hold drift; manual runs and revert do not; an environment overrides the project', () => {
    const yaml = (extra: string) =>
      parseConfig(files({ 'karma.yaml': `project: t\n${extra}environments:\n  dev: {}\n  prod:\n    drift: {onTrigger: report}\n` }), { source: 'test' }).project;
    const byDefault = yaml('');
    const revert = yaml('drift:\n  onTrigger: revert\n');
    expect(['manual', 'ssm-change', 'git-push', 'schedule'].map((t) => holdsDrift(byDefault, 'dev', t))).toEqual([false, true, true, true]);
    expect(['manual', 'schedule'].map((t) => holdsDrift(revert, 'dev', t))).toEqual([false, false]);
    expect(holdsDrift(revert, 'prod', 'schedule')).toBe(true);
  });

  it('a component blocked by a missing external parameter is skipped with its reason, and so are its dependents', async () => {
    const cfg = config(['dev'], { ...diamond, mid: { outputs: ['id'], in: { dev: { a: '${alpha.id}', k: '${ssm:/ext/k}' } } } });
    const b = await build(cfg, memoryRuntime());
    const plan = planEnv(b, 'dev');
    expect(plan.waves).toEqual([['alpha', 'lone', 'zeta']]);
    expect(plan.skipped).toEqual([
      { component: 'mid', status: 'blocked', reason: 'alpha is never-applied; parameter /ext/k does not exist' },
      { component: 'tail', status: 'blocked', reason: 'mid is blocked' },
    ]);
  });

  it('an unknown environment is a not-found error (exit 2) that lists the declared ones', async () => {
    const b = await build(config(['dev', 'prod'], diamond), memoryRuntime());
    expect(() => orderAll(b, 'qa')).toThrow(expect.objectContaining({ name: 'NotFoundError', exitCode: 2, message: 'unknown environment "qa"; karma.yaml declares dev, prod' }));
  });

  it('a cycle is an error that names it and the file declaring each edge', () => {
    const cyclic = {
      a: { outputs: ['o'], in: { dev: { x: '${b.o}' } } },
      b: { outputs: ['o'], in: { dev: { x: '${c.o}' } } },
      c: { outputs: ['o'], dependsOn: ['a'], in: { dev: {} } },
    };
    let error: unknown;
    try {
      config(['dev'], cyclic);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'environments/dev/a.json:2: dependency cycle in dev: a -> b -> c -> a; declared by a -> b (environments/dev/a.json:2), b -> c (environments/dev/b.json:2), c -> a (components/c/component.yaml:2). Remove one of these dependencies',
    );
  });
});

describe('impact', () => {
  const cross = {
    dns: { outputs: ['zone', 'ns'], in: { shared: {} } },
    site: { outputs: ['url'], in: { dev: { zone: '${env:shared/dns.zone}' }, prod: { zone: '${env:shared/dns.zone}' } } },
    cdn: { outputs: [], in: { dev: { origin: '${site.url}' }, prod: { origin: '${site.url}' } } },
    mail: { outputs: [], in: { shared: { ns: '${dns.ns}' } } },
  };

  it('the downstream closure of a component, across environments', async () => {
    const b = await build(config(['shared', 'dev', 'prod'], cross), memoryRuntime());
    expect(impact(b, 'shared', 'dns')).toEqual({
      env: 'shared',
      component: 'dns',
      waves: [['dns'], ['mail']],
      otherEnvironments: [
        { env: 'dev', waves: [['site'], ['cdn']] },
        { env: 'prod', waves: [['site'], ['cdn']] },
      ],
    });
  });

  it('output-level impact starts at the consumers of that output', async () => {
    const b = await build(config(['shared', 'dev', 'prod'], cross), memoryRuntime());
    expect(impact(b, 'shared', 'dns', 'ns')).toEqual({ env: 'shared', component: 'dns', output: 'ns', waves: [['mail']], otherEnvironments: [] });
    expect(() => impact(b, 'shared', 'dns', 'nope')).toThrow('dns has no output "nope"; it declares zone, ns');
    expect(() => impact(b, 'dev', 'dns')).toThrow('component "dns" is not deployed in dev; deployed there: cdn, site');
  });
});

describe('drift order', () => {
  it('the applied components in dependency order, ties by name; never-applied, checked and unselected ones left out', async () => {
    // Prepare: everything applied but lone; mid failed its last apply (own failed: no drift check).
    const cfg = config(['dev'], diamond);
    const runtime = memoryRuntime();
    await apply(cfg, runtime, 'dev', 'alpha', { id: 'a1' });
    await apply(cfg, runtime, 'dev', 'zeta', { id: 'z1' });
    await apply(cfg, runtime, 'dev', 'mid', { id: 'm1' });
    await apply(cfg, runtime, 'dev', 'tail');
    const b = await build(cfg, runtime);

    // Act + Assess
    expect(driftOrder(b, 'dev')).toEqual([['alpha', 'zeta'], ['mid'], ['tail']]);
    expect(driftOrder(b, 'dev', { exclude: new Set(['alpha', 'zeta']) })).toEqual([['mid'], ['tail']]);
    expect(driftOrder(b, 'dev', { only: new Set(['tail', 'zeta']) })).toEqual([['zeta'], ['tail']]);
    await apply(cfg, runtime, 'dev', 'mid', {}, { result: 'failed', error: 'boom' });
    expect(driftOrder(await build(cfg, runtime), 'dev')).toEqual([['alpha', 'zeta'], ['tail']]);
  });
});
