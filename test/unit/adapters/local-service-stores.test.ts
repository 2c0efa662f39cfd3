/**
 * The service's stores on the local SQLite file (lib/adapters/local/{queue,rollouts,deliveries,runtime-changes}.ts):
 * the shared contract (test/support/service-stores-contract.ts), a second service instance being a second
 * connection to the same file, then the parameter change feed: what the triggers log whoever writes (this
 * connection, another one, another process), pruning and `reset`, the cost of a poll, and openServiceStores.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase, PARAMETER_CHANGES_KEPT, transaction } from '../../../lib/adapters/local/database.ts';
import { LocalChangeQueue } from '../../../lib/adapters/local/queue.ts';
import { LocalRolloutStore } from '../../../lib/adapters/local/rollouts.ts';
import { LocalDeliveryLog } from '../../../lib/adapters/local/deliveries.ts';
import { LocalRuntimeChangeFeed } from '../../../lib/adapters/local/runtime-changes.ts';
import { LocalRuntimeStore } from '../../../lib/adapters/local/runtime-store.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { openServiceStores } from '../../../lib/app/service-stores.ts';
import { at, request, serviceStoresContract } from '../../support/service-stores-contract.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const freshFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'karma-service-'));
  dirs.push(dir);
  return join(dir, '.karma', 'karma.db');
};

serviceStoresContract('SQLite', async () => {
  const file = freshFile();
  const db = openDatabase(file, { create: true });
  const others: DatabaseSync[] = [];
  return {
    queue: new LocalChangeQueue(db),
    rollouts: new LocalRolloutStore(db),
    deliveries: new LocalDeliveryLog(db),
    second: async () => {
      const other = openDatabase(file, { create: false });
      others.push(other);
      return { queue: new LocalChangeQueue(other), close: async () => other.close() };
    },
    close: async () => {
      for (const o of others) if (o.isOpen) o.close();
      db.close();
    },
  };
});

describe('the local apply queue', () => {
  it('a second running entry of an environment is refused by the table itself, whoever writes', async () => {
    // Prepare
    const db = openDatabase(freshFile(), { create: true });
    const queue = new LocalChangeQueue(db);
    await queue.enqueue(request('p-1'), at(1));
    await queue.enqueue(request('p-2'), at(2));
    await queue.claimNext('karma-dev', 'o', at(3));

    // Act
    const write = (): unknown => db.prepare("UPDATE apply_queue SET state = 'running' WHERE id = 'p-2'").run();

    // Assess
    expect(write).toThrow(/UNIQUE constraint failed: apply_queue.env/);
    db.close();
  });

  it('processes claiming from the same file at once: every entry runs exactly once, never two of an env at a time', async () => {
    // Prepare: 20 entries in each of two environments; 4 processes, each claiming in both and finishing, until
    // nothing is left. After a finish a worker pauses 0-2 ms, so the others get their turn at the claim.
    const file = freshFile();
    const db = openDatabase(file, { create: true });
    const queue = new LocalChangeQueue(db);
    for (let i = 0; i < 40; i++) await queue.enqueue(request(`p-${i}`, i % 2 === 0 ? 'karma-dev' : 'karma-prod'), at(1));
    const script = [
      `import { openDatabase } from ${JSON.stringify(new URL('../../../lib/adapters/local/database.ts', import.meta.url).pathname)};`,
      `import { LocalChangeQueue } from ${JSON.stringify(new URL('../../../lib/adapters/local/queue.ts', import.meta.url).pathname)};`,
      `const db = openDatabase(${JSON.stringify(file)}, { create: false });`,
      `const queue = new LocalChangeQueue(db);`,
      `const owner = process.argv[1];`,
      `const envs = Number(owner.slice(1)) % 2 === 0 ? ['karma-dev', 'karma-prod'] : ['karma-prod', 'karma-dev'];`,
      `const sleep = (ms) => new Promise((done) => setTimeout(done, ms));`,
      `const mine = [];`,
      // Ready, then wait for the parent's go on stdin: the four start claiming together, not one after another.
      `process.stdout.write('ready\\n');`,
      `await new Promise((go) => process.stdin.once('data', go));`,
      `process.stdin.pause();`,
      `while ((await queue.list({ states: ['queued', 'running'] })).length > 0) {`,
      `  for (const env of envs) {`,
      `    const entry = await queue.claimNext(env, owner, new Date().toISOString());`,
      `    if (!entry) continue;`,
      `    const running = db.prepare("SELECT count(*) AS n FROM apply_queue WHERE env = ? AND state = 'running'").get(env).n;`,
      `    mine.push(entry.id + (running === 1 ? '' : ' with ' + running + ' running'));`,
      `    await sleep(2); // the apply's work: the others try to claim meanwhile`,
      `    await queue.finish(entry.id, 'succeeded', owner, new Date().toISOString());`,
      `    await sleep(Math.floor(Math.random() * 3));`,
      `  }`,
      `  await sleep(1);`,
      `}`,
      `db.close();`,
      `process.stdout.write(JSON.stringify(mine) + '\\n');`,
    ].join('\n');
    const workers = ['w1', 'w2', 'w3', 'w4'].map((owner) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, owner], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      const ready = new Promise<void>((ok) => child.stdout.on('data', (chunk: Buffer) => ((out += chunk.toString()), out.startsWith('ready\n') && ok())));
      const done = new Promise<string[]>((ok, fail) => child.on('close', (code) => (code === 0 ? ok(JSON.parse(out.slice('ready\n'.length)) as string[]) : fail(new Error(`worker ${owner} exited ${code}`)))));
      return { child, ready, done };
    });
    await Promise.all(workers.map((w) => w.ready));

    // Act
    for (const w of workers) w.child.stdin.end('go\n');
    const claimed = await Promise.all(workers.map((w) => w.done));

    // Assess
    const all = claimed.flat();
    expect(claimed.filter((c) => c.length > 0).length).toBeGreaterThan(1); // they did take turns
    expect(all.filter((id) => id.includes('running'))).toEqual([]);
    expect(all.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `p-${i}`).sort());
    const done = await queue.list();
    expect(done.every((e) => e.state === 'done' && e.attempts === 1)).toBe(true);
    db.close();
  });

  it('an entry survives a restart: a new connection sees it running, with its owner, and can release it', async () => {
    const file = freshFile();
    const db = openDatabase(file, { create: true });
    await new LocalChangeQueue(db).enqueue(request('p-1'), at(1));
    await new LocalChangeQueue(db).claimNext('karma-dev', 'host:1:t0', at(2));
    db.close();

    const again = openDatabase(file, { create: false });
    const queue = new LocalChangeQueue(again);
    const running = await queue.list({ states: ['running'] });
    await queue.release('p-1');

    expect(running.map((e) => [e.id, e.owner, e.attempts])).toEqual([['p-1', 'host:1:t0', 1]]);
    expect(await queue.get('p-1')).toMatchObject({ state: 'queued', attempts: 1 });
    again.close();
  });
});

describe('the local parameter change feed', () => {
  it('starts at the current cursor, then names what any connection put or deleted since, each once, in the order first changed', async () => {
    // Prepare: the service's connection, and the CLI's.
    const file = freshFile();
    const cli = openDatabase(file, { create: true });
    const runtime = new LocalRuntimeStore(cli);
    await runtime.put('/karma/dev/net/outputs/id', 'vpc-0');
    const service = openDatabase(file, { create: false });
    const feed = new LocalRuntimeChangeFeed(service);

    // Act
    const start = await feed.poll(undefined);
    await runtime.put('/karma/dev/net/outputs/id', 'vpc-1');
    await runtime.put('/karma/dev/app/state', '{}');
    await runtime.put('/karma/dev/net/outputs/id', 'vpc-2');
    const first = await feed.poll(start.cursor);
    await new LocalRuntimeStore(service).put('/karma/dev/dns/outputs/zone', 'z'); // through the feed's own connection
    await runtime.delete(['/karma/dev/app/state']);
    const second = await feed.poll(first.cursor);
    const quiet = await feed.poll(second.cursor);

    // Assess
    expect(start).toEqual({ cursor: '1', changed: [] });
    expect(first).toEqual({ cursor: '4', changed: ['/karma/dev/net/outputs/id', '/karma/dev/app/state'] });
    expect(second).toEqual({ cursor: '6', changed: ['/karma/dev/dns/outputs/zone', '/karma/dev/app/state'] });
    expect(quiet).toEqual({ cursor: '6', changed: [] });
    cli.close();
    service.close();
  });

  it('sees the writes of another process (a `karma pipeline run` writing the same file)', async () => {
    // Prepare
    const file = freshFile();
    const service = openDatabase(file, { create: true });
    const feed = new LocalRuntimeChangeFeed(service);
    const { cursor } = await feed.poll(undefined);
    const script = [
      `import { openDatabase } from ${JSON.stringify(new URL('../../../lib/adapters/local/database.ts', import.meta.url).pathname)};`,
      `import { LocalRuntimeStore } from ${JSON.stringify(new URL('../../../lib/adapters/local/runtime-store.ts', import.meta.url).pathname)};`,
      `const db = openDatabase(${JSON.stringify(file)}, { create: false });`,
      `const store = new LocalRuntimeStore(db);`,
      `await store.put('/karma/prod/app/outputs/url', 'https://app');`,
      `await store.put('/karma/prod/app/state', '{"result":"succeeded"}');`,
      `db.close();`,
    ].join('\n');

    // Act
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
    const polled = await feed.poll(cursor);

    // Assess
    expect(polled).toEqual({ cursor: '2', changed: ['/karma/prod/app/outputs/url', '/karma/prod/app/state'] });
    service.close();
  });

  it(`keeps the last ${PARAMETER_CHANGES_KEPT.toLocaleString('en')} changes; a cursor older than what is kept gets reset: true`, async () => {
    // Prepare: a cursor, then more changes than the log keeps.
    const db = openDatabase(freshFile(), { create: true });
    const feed = new LocalRuntimeChangeFeed(db);
    await new LocalRuntimeStore(db).put('/karma/dev/a', '0');
    const old = await feed.poll(undefined);
    const total = PARAMETER_CHANGES_KEPT + 2_000;
    transaction(db, () => {
      const put = db.prepare("INSERT INTO parameters (name, value, type, version, last_modified) VALUES (?, 'v', 'String', 1, 't') ON CONFLICT (name) DO UPDATE SET version = version + 1");
      for (let i = 0; i < total; i++) put.run(`/karma/dev/p${i % 5_000}`);
    });
    const recent = String(Number(old.cursor) + total - 10);

    // Act
    const lost = await feed.poll(old.cursor);
    const kept = await feed.poll(recent);

    // Assess
    const rows = db.prepare('SELECT count(*) AS n, min(seq) AS oldest, max(seq) AS newest FROM parameter_changes').get() as { n: number; oldest: number; newest: number };
    expect(rows.newest).toBe(total + 1);
    expect(rows.n).toBeGreaterThanOrEqual(PARAMETER_CHANGES_KEPT);
    expect(rows.n).toBeLessThan(PARAMETER_CHANGES_KEPT + 1_000);
    expect(lost).toEqual({ cursor: String(total + 1), changed: [], reset: true });
    expect(kept.changed).toHaveLength(10);
    expect(kept.reset).toBeUndefined();
    db.close();
  });

  it('a cursor ahead of the log (another or a re-created file) or not a cursor gets reset: true and the current cursor', async () => {
    const db = openDatabase(freshFile(), { create: true });
    const feed = new LocalRuntimeChangeFeed(db);
    await new LocalRuntimeStore(db).put('/karma/dev/a', '0');
    expect(await feed.poll('99')).toEqual({ cursor: '1', changed: [], reset: true });
    expect(await feed.poll('sqs:abc:1')).toEqual({ cursor: '1', changed: [], reset: true });
    expect(await feed.poll('-1')).toEqual({ cursor: '1', changed: [], reset: true });
    expect(await feed.poll('0')).toEqual({ cursor: '1', changed: ['/karma/dev/a'] });
    db.close();
  });

  it('a poll walks the primary key: its cost is the changes after the cursor, not the size of the store', () => {
    const db = openDatabase(freshFile(), { create: true });
    const plan = (sql: string): string =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 2) as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan('SELECT name FROM parameter_changes WHERE seq > ? AND seq <= ? GROUP BY name ORDER BY min(seq)')).toMatch(/SEARCH parameter_changes USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    db.close();
  });
});

describe('openServiceStores on the local backend', () => {
  it('creates the store when missing, shares the file with the backend, and the feed follows the backend\'s writes', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'karma-service-'));
    dirs.push(dir);
    const file = join(dir, '.karma', 'karma.db');

    // Act
    const stores = await openServiceStores(undefined, { baseDir: dir, type: 'local' });
    const created = existsSync(file);
    const { cursor } = await stores.changes.poll(undefined);
    const backend = openLocalBackend(file, { create: false });
    await backend.runtime.put('/karma/karma-dev/app/state', '{}');
    const polled = await stores.changes.poll(cursor);
    const entry = await stores.queue.enqueue(request('p-1'), at(1));
    await backend.close();
    await stores.close();

    // Assess
    expect(created).toBe(true);
    expect(stores.queue.description).toBe(`the apply queue of local store ${file}`);
    expect(polled.changed).toEqual(['/karma/karma-dev/app/state']);
    expect(entry.seq).toBe(1);
    const again = await openServiceStores(undefined, { baseDir: dir, type: 'local' });
    expect(await again.queue.get('p-1')).toEqual(entry);
    await again.close();
  });
});
