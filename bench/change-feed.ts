/**
 * What following runtime changes costs (the RuntimeChangeFeed of `karma serve`; docs/service-stores.md):
 *
 *   node bench/change-feed.ts [--parameters 60000] [--polls 2000] [--aws-parameters 2000]
 *
 * 1. Local: a SQLite store of N parameters (written through the same statements LocalRuntimeStore uses, so the
 *    change-log triggers fire as they do for every writer); the service's feed on a connection of its own. Times
 *    a poll with nothing changed and one with 10 names changed by another connection (p50 / p99 of --polls
 *    polls), and what the triggers add to writing: N rows in one transaction, and single puts.
 * 2. AWS, on a moto server started here: an SQS poll of an empty queue (WaitTimeSeconds 0 and 1), one of 10
 *    events; DescribeParameters over --aws-parameters parameters (moto answers 10 a page; AWS up to 50): the
 *    calls and the time of one full comparison.
 *
 * A script, never a timed test: timings depend on the machine and its load (the load average is printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { openDatabase, transaction } from '../lib/adapters/local/database.ts';
import { LocalRuntimeChangeFeed } from '../lib/adapters/local/runtime-changes.ts';
import { LocalRuntimeStore } from '../lib/adapters/local/runtime-store.ts';
import { DescribeParametersChangeFeed, SqsParameterChangeFeed } from '../lib/adapters/ssm/parameter-changes.ts';
import { mapLimit } from '../lib/shared/concurrency.ts';
import { startMotoServer } from '../scripts/servers/servers.ts';

const { values } = parseArgs({
  options: { parameters: { type: 'string', default: '60000' }, polls: { type: 'string', default: '2000' }, 'aws-parameters': { type: 'string', default: '2000' } },
});
const total = Number(values.parameters);
const polls = Number(values.polls);
const awsTotal = Number(values['aws-parameters']);

const ms = (n: number): string => (n < 1 ? n.toFixed(3) : n.toFixed(1));
function percentiles(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${ms(sorted[Math.floor(sorted.length / 2)]!)} ms, p99 ${ms(sorted[Math.floor(sorted.length * 0.99)]!)} ms`;
}

console.log(`node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

// ------------------------------------------------------------------------------------------------ local
const dir = mkdtempSync(join(tmpdir(), 'karma-bench-feed-'));
try {
  const file = join(dir, 'karma.db');
  const cli = openDatabase(file, { create: true });
  const bulk = (db: typeof cli, n: number, offset: number): number => {
    const t0 = performance.now();
    transaction(db, () => {
      const put = db.prepare(
        `INSERT INTO parameters (name, value, type, version, last_modified) VALUES (?, ?, 'String', 1, ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = version + 1, last_modified = excluded.last_modified`,
      );
      const now = new Date().toISOString();
      for (let i = 0; i < n; i++) put.run(`/karma/env-${i % 3}/component-${String(Math.floor(i / 12)).padStart(5, '0')}/outputs/o${(i + offset) % 4}`, `value ${i}`, now);
    });
    return performance.now() - t0;
  };
  const withTriggers = bulk(cli, total, 0);
  const runtime = new LocalRuntimeStore(cli);
  const puts = async (store: LocalRuntimeStore, db: typeof cli): Promise<number> => {
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)'); // both start from a checkpointed file, not the bulk write's WAL
    const start = performance.now();
    for (let i = 0; i < 5000; i++) await store.put(`/karma/env-0/single/outputs/o${i % 500}`, 'v');
    return (performance.now() - start) / 5000;
  };
  const putWith = await puts(runtime, cli);
  let t0 = performance.now();

  const service = openDatabase(file, { create: false });
  const feed = new LocalRuntimeChangeFeed(service);
  let { cursor } = await feed.poll(undefined);
  const quiet: number[] = [];
  for (let i = 0; i < polls; i++) {
    t0 = performance.now();
    await feed.poll(cursor);
    quiet.push(performance.now() - t0);
  }
  const ten: number[] = [];
  for (let i = 0; i < polls / 10; i++) {
    for (let k = 0; k < 10; k++) await runtime.put(`/karma/env-1/component-${String(k * 100).padStart(5, '0')}/outputs/o0`, `v${i}`);
    t0 = performance.now();
    const r = await feed.poll(cursor);
    ten.push(performance.now() - t0);
    if (r.changed.length !== 10) throw new Error(`expected 10 names, got ${r.changed.length}`);
    cursor = r.cursor;
  }
  const rows = (service.prepare('SELECT count(*) AS n FROM parameter_changes').get() as { n: number }).n;

  // The same writes without the triggers, for what they cost.
  const bare = openDatabase(join(dir, 'bare.db'), { create: true });
  for (const t of ['parameters_inserted', 'parameters_updated', 'parameters_deleted']) bare.exec(`DROP TRIGGER ${t}`);
  const withoutTriggers = bulk(bare, total, 0);
  const putWithout = await puts(new LocalRuntimeStore(bare), bare);
  cli.close();
  service.close();
  bare.close();

  console.log(`\nlocal: ${total.toLocaleString('en')} parameters, change log ${rows.toLocaleString('en')} rows`);
  console.log(`  poll, nothing changed:     ${percentiles(quiet)} (${polls} polls)`);
  console.log(`  poll, 10 names changed:    ${percentiles(ten)} (${polls / 10} polls)`);
  console.log(`  write ${total.toLocaleString('en')} in one transaction: ${ms(withTriggers)} ms with the triggers, ${ms(withoutTriggers)} ms without`);
  console.log(`  one put (LocalRuntimeStore): ${ms(putWith)} ms with the triggers, ${ms(putWithout)} ms without`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------------ moto
const moto = await startMotoServer();
const config = { endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
const sqs = new SQSClient(config);
const ssm = new SSMClient(config);
try {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench-ssm-events' }))).QueueUrl!;
  const time = async (fn: () => Promise<unknown>, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await fn();
      out.push(performance.now() - t);
    }
    return out;
  };
  const noWait = new SqsParameterChangeFeed({ queueUrl: url, client: sqs, prefix: '/karma', waitSeconds: 0 });
  const start = await noWait.poll(undefined);
  const empty0 = await time(() => noWait.poll(start.cursor), 50);
  const wait1 = new SqsParameterChangeFeed({ queueUrl: url, client: sqs, prefix: '/karma', waitSeconds: 1 });
  const empty1 = await time(() => wait1.poll(start.cursor), 3);
  const event = (name: string): string =>
    JSON.stringify({ source: 'aws.ssm', 'detail-type': 'Parameter Store Change', detail: { name, operation: 'Update', type: 'String' } });
  let c = start.cursor;
  const tenEvents: number[] = [];
  for (let i = 0; i < 20; i++) {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: 10 }, (_, k) => ({ Id: String(k), MessageBody: event(`/karma/dev/c${k}/state`) })) }));
    const t = performance.now();
    const r = await noWait.poll(c);
    tenEvents.push(performance.now() - t);
    if (r.changed.length !== 10) throw new Error(`expected 10 names, got ${r.changed.length}`);
    c = r.cursor;
  }

  console.log(`\nSQS feed on moto:`);
  console.log(`  poll, empty queue, WaitTimeSeconds 0: ${percentiles(empty0)}; WaitTimeSeconds 1: ${percentiles(empty1)}`);
  console.log(`  poll of 10 events (acknowledging the previous 10, then one receive): ${percentiles(tenEvents)}`);

  console.log(`  seeding ${awsTotal} parameters into moto SSM...`);
  await mapLimit(
    Array.from({ length: awsTotal }, (_, i) => `/bench-feed/env-${i % 3}/c${i}/state`),
    8,
    (name) => ssm.send(new PutParameterCommand({ Name: name, Value: 'v', Type: 'String', Overwrite: true })),
  );
  const describe = new DescribeParametersChangeFeed({ client: ssm, prefix: '/bench-feed', minIntervalMs: 0, tps: 100_000 });
  let t0 = performance.now();
  const first = await describe.poll(undefined);
  const scan = performance.now() - t0;
  const calls = describe.calls;
  await ssm.send(new PutParameterCommand({ Name: '/bench-feed/env-0/c0/state', Value: 'v2', Type: 'String', Overwrite: true }));
  t0 = performance.now();
  const next = await describe.poll(first.cursor);
  const compare = performance.now() - t0;
  console.log(`\nDescribeParameters feed on moto, ${awsTotal} parameters:`);
  console.log(`  one poll: ${calls} calls (moto: 10 a page; AWS: ${Math.ceil(awsTotal / 50)} at 50), ${ms(scan)} ms for the first, ${ms(compare)} ms for one that found ${next.changed.length} change`);
} finally {
  sqs.destroy();
  ssm.destroy();
  await moto.stop();
}
