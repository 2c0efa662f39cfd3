/**
 * What `karma destroy` takes down (lib/app/destroy.ts destroyTargets): refusals say why and what to do.
 */
import { describe, expect, it } from 'vitest';
import { destroyTargets } from '../../../lib/app/destroy.ts';
import { config } from '../../support/config.ts';
import { apply, build, memoryRuntime } from '../../support/applies.ts';

// dev: network ← app ← site (site never applied); prod/edge consumes dev's network.
const components = {
  network: { outputs: ['vpc_id'], in: { dev: {} } },
  app: { outputs: ['url'], in: { dev: { vpc: '${network.vpc_id}' } } },
  site: { in: { dev: { url: '${app.url}' } } },
  edge: { in: { prod: { vpc: '${env:dev/network.vpc_id}' } } },
};

async function applied(withEdge: boolean) {
  const cfg = config(['dev', 'prod'], components);
  const runtime = memoryRuntime();
  await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
  await apply(cfg, runtime, 'dev', 'app', { url: 'u' });
  if (withEdge) await apply(cfg, runtime, 'prod', 'edge');
  return { cfg, b: await build(cfg, runtime) };
}

describe('destroyTargets', () => {
  it('a deployment in the config goes with its applied dependents, dependents first; never-applied ones are left out', async () => {
    const { b } = await applied(false);

    expect(destroyTargets(b, 'dev', 'network')).toMatchObject({ orphaned: false, waves: [['app'], ['network']] });
  });

  it('refuses while another environment consumes its outputs, a never-applied deployment, and an unknown one', async () => {
    const { b } = await applied(true);

    expect(() => destroyTargets(b, 'dev', 'network')).toThrow("prod/edge consumes network's outputs from another environment; destroy it first (karma destroy edge prod)");
    expect(() => destroyTargets(b, 'dev', 'site')).toThrow('nothing to destroy: site was never applied in dev');
    expect(() => destroyTargets(b, 'dev', 'nope')).toThrow('nothing to destroy: nope is not deployed in dev and the runtime holds no record of it there');
    expect(() => destroyTargets(b, 'qa', 'app')).toThrow('unknown environment "qa"; karma.yaml declares dev, prod');
  });

  it('an orphan is destroyed from the config where it still existed; that config must have it', async () => {
    const { cfg } = await applied(false);
    const runtime = memoryRuntime();
    await apply(cfg, runtime, 'dev', 'network', { vpc_id: 'vpc-1' });
    await apply(cfg, runtime, 'dev', 'app', { url: 'u' });
    const now = config(['dev', 'prod'], { ...components, app: { outputs: ['url'], in: {} }, site: { in: {} } });
    const b = await build(now, runtime);

    expect(destroyTargets(b, 'dev', 'app', cfg)).toMatchObject({ orphaned: true, waves: [['app']] });
    expect(() => destroyTargets(b, 'dev', 'app', now)).toThrow('app is not deployed in dev at test; pass --ref with a commit where environments/dev/app.json exists');
  });
});
