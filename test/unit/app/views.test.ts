/**
 * The read views every entry point prints (lib/app/views.ts): a chain a → b → c → d (each consuming the one
 * before's output) and an independent e, in one environment.
 */
import { describe, expect, it } from 'vitest';
import { buildFromConfig } from '../../../lib/app/build.ts';
import { componentView, graphText, graphView, impactView, planView } from '../../../lib/app/views.ts';
import { NotFoundError, UsageError } from '../../../lib/core/errors.ts';
import { config } from '../../support/config.ts';
import { apply, memoryRuntime } from '../../support/applies.ts';

const cfg = config(['dev', 'prod'], {
  a: { outputs: ['id', 'password'], in: { dev: {}, prod: {} } },
  b: { outputs: ['id'], in: { dev: { up: '${a.id}' }, prod: { up: '${a.id}' } } },
  c: { outputs: ['id'], in: { dev: { up: '${b.id}' } } },
  d: { in: { dev: { up: '${c.id}' } } },
  e: { in: { dev: {} } },
});

async function current() {
  const runtime = memoryRuntime();
  await apply(cfg, runtime, 'dev', 'a', { id: 'a-1', password: 'p4ss' });
  return buildFromConfig(cfg, runtime, {});
}

const componentsOf = (g: { vertices: readonly { label: string; props: Record<string, unknown> }[] }): string[] =>
  g.vertices.filter((v) => v.label === 'Component').map((v) => `${String(v.props['env'])}/${String(v.props['name'])}`).sort();

describe('graphView', () => {
  it('cuts the neighbourhood of a component by dependency hops, through outputs, both ways', async () => {
    const { build, snapshot } = await current();
    expect(componentsOf(graphView(build, snapshot, { env: 'dev', component: 'b', depth: 0 }))).toEqual(['dev/b']);
    expect(componentsOf(graphView(build, snapshot, { env: 'dev', component: 'b', depth: 1 }))).toEqual(['dev/a', 'dev/b', 'dev/c']);
    expect(componentsOf(graphView(build, snapshot, { env: 'dev', component: 'b' }))).toEqual(['dev/a', 'dev/b', 'dev/c']);
    expect(componentsOf(graphView(build, snapshot, { env: 'dev', component: 'b', depth: 2 }))).toEqual(['dev/a', 'dev/b', 'dev/c', 'dev/d']);
    expect(componentsOf(graphView(build, snapshot, { env: 'dev', component: 'e', depth: 5 }))).toEqual(['dev/e']);
    const near = graphView(build, snapshot, { env: 'dev', component: 'b', depth: 1 });
    const ids = new Set(near.vertices.map((v) => v.id));
    // Every edge kept joins two kept vertices; b's outputs and its environment are there.
    for (const e of near.edges) expect(ids.has(e.from!) && ids.has(e.to!)).toBe(true);
    expect(ids.has('env:dev')).toBe(true);
    expect([...ids].some((id) => id.startsWith('output:dev:b'))).toBe(true);
  });

  it('refuses a depth out of bounds, a component without env, and unknown names (with the valid ones)', async () => {
    const { build, snapshot } = await current();
    expect(() => graphView(build, snapshot, { env: 'dev', component: 'b', depth: 11 })).toThrow(UsageError);
    expect(() => graphView(build, snapshot, { component: 'b' })).toThrow(/component needs env/);
    expect(() => graphView(build, snapshot, { env: 'dev', depth: 1 })).toThrow(/depth needs a component/);
    expect(() => graphView(build, snapshot, { env: 'qa' })).toThrow(NotFoundError);
    const missing = (() => {
      try {
        graphView(build, snapshot, { env: 'prod', component: 'd' });
      } catch (error) {
        return error as NotFoundError;
      }
      throw new Error('accepted');
    })();
    expect(missing.known).toEqual(['a', 'b']);
  });

  it('draws the same neighbourhood as DOT', async () => {
    const { build, snapshot } = await current();
    const dot = graphText(build, snapshot, { env: 'dev', component: 'd', depth: 1 }, 'dot');
    expect(dot).toContain('"component:dev:c"');
    expect(dot).not.toContain('"component:dev:a"');
  });
});

describe('componentView', () => {
  it('shows status, why, inputs as written, outputs with their consumers, the last apply; a sensitive output has no value', async () => {
    const sensitive = config(['dev'], { a: { outputs: ['id', 'password'], in: { dev: {} } }, b: { in: { dev: { up: '${a.id}', pw: '${a.password}' } } } }, {
      'components/a/component.yaml': 'description: a\noutputs: [id, password]\nsensitiveOutputs: [password]\n',
    });
    const runtime = memoryRuntime();
    await apply(sensitive, runtime, 'dev', 'a', { id: 'a-1', password: 'p4ss-w0rd' });
    const { build, snapshot } = await buildFromConfig(sensitive, runtime, {});
    const a = componentView(build, snapshot, 'dev', 'a');
    expect(a).toMatchObject({ env: 'dev', component: 'a', status: 'in-sync', dependents: ['dev/b'], dependsOn: [], lastApply: { result: 'success' } });
    expect(a.outputs).toEqual([
      { name: 'id', path: '/karma/dev/a/outputs/id', present: true, version: 1, sensitive: false, value: 'a-1', consumers: [{ env: 'dev', component: 'b' }] },
      expect.objectContaining({ name: 'password', sensitive: true, value: null, present: true, consumers: [{ env: 'dev', component: 'b' }] }),
    ]);
    expect(JSON.stringify(a)).not.toContain('p4ss-w0rd');
    const b = componentView(build, snapshot, 'dev', 'b');
    expect(b).toMatchObject({ status: 'never-applied', inputs: { up: '${a.id}', pw: '${a.password}' }, dependsOn: ['dev/a'], lastApply: null });
    expect(b.why.chain[0]).toMatchObject({ kind: 'status', component: 'b' });
  });
});

describe('planView and impactView', () => {
  it('check the environment first: an unknown one is a NotFoundError naming the declared ones', async () => {
    const { build } = await current();
    expect(planView(build, 'dev').env).toBe('dev');
    expect(() => planView(build, 'qa')).toThrow(/unknown environment "qa"; karma.yaml declares dev, prod/);
    expect(() => impactView(build, 'qa', 'a')).toThrow(NotFoundError);
    expect(impactView(build, 'dev', 'a').waves).toEqual([['a'], ['b'], ['c'], ['d']]);
  });
});
