/**
 * Neptune write benchmark against a local Gremlin Server 3.7.4 (started here, stopped at the end):
 *
 *   node bench/neptune-write.ts [--components 5000] [--envs 3] [--sample 3000] [--concurrency 4]
 *
 * 1. Full write of the generated graph (5,000 components × 3 environments), batched: 200 records a request,
 *    twice: on the freshly started JVM (cold: its JIT still compiling) and again after clearing the graph
 *    (warm, like a long-running Neptune and like step 2, which runs after it). Both are printed.
 * 2. One request per element, same code path with batchSize 1 and the same parallelism, on a SAMPLE of
 *    vertices and edges (the whole graph one by one takes too long on a laptop); the per-element time is
 *    extrapolated to the full graph and printed as such.
 * 3. Rebuild after one component's inputs changed in one environment: requests and time against the full write.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DirectorySource } from '../lib/adapters/fs/directory-source.ts';
import { NeptuneGraphStore } from '../lib/adapters/neptune/graph-store.ts';
import { DirectoryBuildHistory } from '../lib/adapters/history/directory-history.ts';
import { buildFromSources } from '../lib/app/build.ts';
import type { GraphSnapshot } from '../lib/core/snapshot.ts';
import { startGremlinServer } from '../scripts/servers/servers.ts';
import { generateRepo } from './generate.ts';

const { values } = parseArgs({
  options: {
    components: { type: 'string', default: '5000' },
    envs: { type: 'string', default: '3' },
    sample: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '4' },
  },
});
const components = Number(values.components);
const envs = Number(values.envs);
const sample = Number(values.sample);
const concurrency = Number(values.concurrency);

const work = mkdtempSync(join(tmpdir(), 'karma-bench-neptune-'));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

console.log(`generating ${components} components × ${envs} environments...`);
const repo = generateRepo({ components, envs, out: join(work, 'repo') });
const build = async (): Promise<GraphSnapshot> => (await buildFromSources(new DirectorySource(repo.dir), undefined)).snapshot;
const snapshot = await build();
const elements = snapshot.vertices.length + snapshot.edges.length;
console.log(`graph: ${snapshot.vertices.length} vertices, ${snapshot.edges.length} edges (${elements} elements)`);

console.log('starting Gremlin Server...');
const server = await startGremlinServer({ throughput: true });
const store = new NeptuneGraphStore({ endpoint: server.endpoint, history: new DirectoryBuildHistory(join(work, 'history')), concurrency });
try {
  await store.clear();

  // 1. batched full write, cold JVM then warm
  const cold = await store.write(snapshot);
  console.log(`\nbatched full write, cold JVM: ${cold.requests} requests, ${seconds(cold.millis)} (${store.retries} retried after conflicts)`);
  await store.clear();
  const retriesBefore = store.retries;
  const full = await store.write(snapshot);
  console.log(`batched full write, warm JVM: ${full.requests} requests, ${seconds(full.millis)} (${store.retries - retriesBefore} retried after conflicts)`);

  // 2. one request per element on a sample of each kind, into an empty graph (edges need their vertices:
  //    those are written batched, untimed, between the two timed samples).
  await store.clear();
  const vFrac = snapshot.vertices.length / elements;
  const vSample = snapshot.vertices.slice(0, Math.max(1, Math.round(sample * vFrac)));
  let t0 = performance.now();
  await store.upsertVertices(vSample, 1, () => true);
  const vMs = performance.now() - t0;
  await store.upsertVertices(snapshot.vertices.slice(vSample.length), undefined, () => true);
  const eSample = snapshot.edges.slice(0, Math.max(1, sample - vSample.length));
  const before = store.requests;
  t0 = performance.now();
  await store.upsertEdges(eSample, 1, () => true);
  const eMs = performance.now() - t0;
  const eRequests = store.requests - before;
  const extrapolated = (vMs / vSample.length) * snapshot.vertices.length + (eMs / eSample.length) * snapshot.edges.length;
  console.log(
    `one request per element, measured on a SAMPLE: ${vSample.length} vertices in ${seconds(vMs)} (${(vMs / vSample.length).toFixed(2)} ms each), ` +
      `${eSample.length} edges in ${eRequests} requests, ${seconds(eMs)} (${(eMs / eSample.length).toFixed(2)} ms each)`,
  );
  console.log(`one request per element, EXTRAPOLATED to all ${elements} elements: ~${seconds(extrapolated)} in ${elements + 2} requests`);
  console.log(
    `batched vs one-by-one: ${(extrapolated / full.millis).toFixed(1)}× faster warm (${(extrapolated / cold.millis).toFixed(1)}× cold), ${(elements / full.requests).toFixed(0)}× fewer requests`,
  );

  // back to the full graph, then change one component in one environment
  await store.clear();
  await store.write(snapshot);
  const envDir = join(repo.dir, 'environments', repo.envs[0]!);
  const file = readdirSync(envDir).sort()[Math.floor(readdirSync(envDir).length / 2)]!;
  // The same component's inputs from another environment: valid by construction, and different.
  const other = readFileSync(join(repo.dir, 'environments', repo.envs[1] ?? repo.envs[0]!, file), 'utf8');
  writeFileSync(join(envDir, file), other);
  const changed = await build();
  const rebuild = await store.write(changed);
  console.log(
    `\nrebuild after ${repo.envs[0]}/${file.replace(/\.json$/, '')} changed (inputs copied from ${repo.envs[1]}): ${rebuild.requests} requests (${rebuild.added} added, ${rebuild.updated} updated, ${rebuild.deleted} deleted), ${seconds(rebuild.millis)}` +
      `; full write: ${full.requests} requests, ${seconds(full.millis)} → ${((100 * rebuild.requests) / full.requests).toFixed(2)}% of the requests, ${((100 * rebuild.millis) / full.millis).toFixed(1)}% of the time`,
  );
  const verify = await store.write(changed);
  console.log(`idempotent rewrite: ${verify.requests} requests (the two id+hash reads), ${verify.added + verify.updated + verify.deleted} elements sent`);
} finally {
  await store.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
