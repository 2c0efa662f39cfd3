/**
 * SSM read benchmark against a local moto server (started here, stopped at the end):
 *
 *   node bench/ssm-read.ts [--parameters 10000] [--envs 10]
 *
 * Seeds N parameters under /bench/<env>/... (straight through the SDK, in parallel), then reads them all the
 * way Karma does — one recursive GetParametersByPath per environment, 10 a page — and by name with
 * GetParameters (10 a call). Prints the API calls against the floor ceil(N/10), and the time the same calls
 * take at Karma's default client-side rate (30 TPS, under SSM's shared 40 TPS default quota). The client
 * rate limit is lifted for moto, which has no quota: the calls are what is measured.
 */
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parseArgs } from 'node:util';
import { SsmRuntimeStore } from '../lib/adapters/ssm/runtime-store.ts';
import { mapLimit } from '../lib/shared/concurrency.ts';
import { startMotoServer } from '../scripts/servers/servers.ts';

const { values } = parseArgs({ options: { parameters: { type: 'string', default: '10000' }, envs: { type: 'string', default: '10' } } });
const total = Number(values.parameters);
const envCount = Number(values.envs);
const envs = Array.from({ length: envCount }, (_, i) => `env-${String(i).padStart(2, '0')}`);
const names = Array.from({ length: total }, (_, i) => {
  const k = Math.floor(i / envCount);
  return `/bench/${envs[i % envCount]}/component-${String(Math.floor(k / 4)).padStart(4, '0')}/outputs/o${k % 4}`;
});

const moto = await startMotoServer();
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const client = new SSMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials });
try {
  console.log(`seeding ${total} parameters in ${envCount} environments into moto...`);
  let t0 = performance.now();
  await mapLimit(names, 8, (name) => client.send(new PutParameterCommand({ Name: name, Value: `value of ${name}`, Type: 'String', Overwrite: true })));
  console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const store = new SsmRuntimeStore({ client, readTps: 100_000 });
  const floor = Math.ceil(total / 10);

  t0 = performance.now();
  const perEnv = await mapLimit(envs, 4, (env) => store.readPath(`/bench/${env}`));
  const byPathMs = performance.now() - t0;
  const read = perEnv.reduce((n, l) => n + l.length, 0);
  const byPathCalls = store.calls.get('GetParametersByPathCommand') ?? 0;
  console.log(
    `\nby path (${envCount} recursive reads, 4 in parallel): ${read} parameters in ${byPathCalls} GetParametersByPath calls (floor ${floor}, +${(((byPathCalls - floor) / floor) * 100).toFixed(1)}%), ` +
      `${(byPathMs / 1000).toFixed(1)} s on moto; at the default 30 TPS client rate: ${(byPathCalls / 30).toFixed(1)} s (at SSM's 40 TPS quota: ${(byPathCalls / 40).toFixed(1)} s)`,
  );
  if (read !== total) throw new Error(`read ${read} parameters, expected ${total}`);

  t0 = performance.now();
  const named = await store.readNames(names);
  const byNameMs = performance.now() - t0;
  const byNameCalls = store.calls.get('GetParametersCommand') ?? 0;
  console.log(
    `by name: ${named.length} parameters in ${byNameCalls} GetParameters calls (floor ${floor}), ${(byNameMs / 1000).toFixed(1)} s on moto; at 30 TPS: ${(byNameCalls / 30).toFixed(1)} s` +
      ` (with higher throughput enabled GetParameters has 3,000 TPS: ${(byNameCalls / 3000).toFixed(2)} s)`,
  );
  if (named.length !== total) throw new Error(`read ${named.length} parameters by name, expected ${total}`);

  // A change event names its parameter: the incremental refresh is one call.
  const before = store.apiCalls;
  await store.readNames([names[1234 % total]!]);
  console.log(`incremental refresh of one changed parameter: ${store.apiCalls - before} call`);

  // The client-side limiter really holds the rate: 60 calls at the default 30 TPS.
  const limited = new SsmRuntimeStore({ client: new SSMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials }) });
  t0 = performance.now();
  await limited.readNames(names.slice(0, 600));
  const limitedMs = performance.now() - t0;
  console.log(`rate limiter check: ${limited.apiCalls} calls at the default 30 TPS took ${(limitedMs / 1000).toFixed(2)} s (${(limited.apiCalls / (limitedMs / 1000)).toFixed(1)} calls/s)`);
  limited.client.destroy();
} finally {
  client.destroy();
  await moto.stop();
}
