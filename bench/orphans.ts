/**
 * What finding orphaned deployments costs the build: `node bench/orphans.ts [--components 5000] [--envs 3]`.
 *
 * The runtime the build reads already holds each environment's whole subtree, so detection adds no store call;
 * this measures the CPU of findOrphans (one pass over every parameter name) and of buildGraph with and without
 * orphans, on the bench's synthetic repo and seeded runtime, after removing 1% of the deployments from the config.
 * A script, never a timed test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DirectorySource } from '../lib/adapters/fs/directory-source.ts';
import { openDatabase, DATABASE_FILE } from '../lib/adapters/local/database.ts';
import { LocalRuntimeStore } from '../lib/adapters/local/runtime-store.ts';
import { readRuntime } from '../lib/app/build.ts';
import { parseConfig } from '../lib/core/config.ts';
import { buildGraph } from '../lib/core/graph.ts';
import { findOrphans } from '../lib/core/orphans.ts';
import { generateRepo } from './generate.ts';
import { seedRuntime } from './seed.ts';

const { values } = parseArgs({ options: { components: { type: 'string', default: '5000' }, envs: { type: 'string', default: '3' } } });
const dir = mkdtempSync(join(tmpdir(), 'karma-bench-orphans-'));
try {
  const repo = generateRepo({ components: Number(values.components), envs: Number(values.envs), out: dir });
  await seedRuntime(repo);
  const loaded = await new DirectorySource(dir).load();
  const config = parseConfig(loaded.files, { source: dir }, loaded.problems);
  const runtime = new LocalRuntimeStore(openDatabase(join(dir, '.karma', DATABASE_FILE), { create: false }));
  const params = await readRuntime(config, runtime);
  // Remove 1% of the deployments from the config, dependents-free ones (no other deployment consumes them).
  const consumed = new Set(config.deployments.flatMap((d) => d.references.flatMap((r) => (r.kind === 'output' ? [`${r.env}/${r.component}`] : []))));
  const dependedOn = new Set(config.deployments.flatMap((d) => d.dependsOn.map((c) => `${d.env}/${c}`)));
  const removable = config.deployments.filter((d) => !consumed.has(`${d.env}/${d.component}`) && !dependedOn.has(`${d.env}/${d.component}`));
  const removed = new Set(removable.slice(0, Math.ceil(config.deployments.length / 100)).map((d) => `${d.env}/${d.component}`));
  const pruned = { ...config, deployments: config.deployments.filter((d) => !removed.has(`${d.env}/${d.component}`)) };

  const cpu = (fn: () => unknown, runs = 5): number => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = process.cpuUsage();
      fn();
      const d = process.cpuUsage(t);
      times.push((d.user + d.system) / 1000);
    }
    return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
  };
  const orphans = findOrphans(pruned, params);
  console.log(`${config.deployments.length} deployments, ${params.size} parameters in the runtime read; ${removed.size} removed from the config → ${orphans.length} orphaned`);
  console.log(`findOrphans                          ${cpu(() => findOrphans(pruned, params)).toFixed(0)} ms CPU (median of 5)`);
  console.log(`buildGraph, full config (no orphan)  ${cpu(() => buildGraph(config, params, { builtAt: 'x' })).toFixed(0)} ms CPU`);
  console.log(`buildGraph, 1% removed (orphans)     ${cpu(() => buildGraph(pruned, params, { builtAt: 'x' })).toFixed(0)} ms CPU`);
  console.log('store calls added by detection: 0 (the per-environment path read already returns every state parameter)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
