/**
 * S3SnapshotStore against a real moto server (started by the integration global setup), directly and as
 * contextFromEnv wires it from the Lambda environment the CDK app sets (KARMA_SNAPSHOT_BUCKET, KARMA_SNAPSHOT_PREFIX).
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../lib/core/errors.ts';
import type { GraphSnapshot } from '../../lib/core/snapshot.ts';
import { S3SnapshotStore } from '../../lib/adapters/snapshots/s3-snapshots.ts';
import { contextFromEnv } from '../../lib/app/pipeline/context.ts';
import { credentialsEnv, motoClientConfig, standInEnv, withEnv } from '../support/stand-ins.ts';

const snapshot: GraphSnapshot = {
  meta: { builtAt: '2026-11-28T10:00:00.000Z', source: 'test', commit: 'abc123' } as unknown as GraphSnapshot['meta'],
  vertices: [
    { id: 'env:karma-dev', label: 'env', properties: { name: 'karma-dev' }, hash: 'h1' },
    { id: 'component:karma-dev:network', label: 'component', properties: { name: 'network', status: 'in-sync' }, hash: 'h2' },
  ] as unknown as GraphSnapshot['vertices'],
  edges: [{ id: 'e1', label: 'IN_ENV', from: 'component:karma-dev:network', to: 'env:karma-dev', properties: {}, hash: 'h3' }] as unknown as GraphSnapshot['edges'],
};

describe('S3SnapshotStore on moto', () => {
  let client: S3Client;
  let bucket: string;

  beforeAll(async () => {
    client = new S3Client({ ...motoClientConfig(), forcePathStyle: true });
    bucket = `karma-snapshots-${randomUUID().slice(0, 8)}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(() => client.destroy());

  it('put returns s3://bucket/snapshots/<key>.json.gz; the object is gzipped JSON; get reads it back', async () => {
    // Prepare
    const store = new S3SnapshotStore({ client, bucket });

    // Act
    const ref = await store.put('arn:aws:states:us-east-1:1:execution:karma:run-1-build', snapshot);
    const back = await store.get(ref);

    // Assess
    expect(ref).toBe(`s3://${bucket}/snapshots/arn_aws_states_us-east-1_1_execution_karma_run-1-build.json.gz`);
    expect(back).toEqual(snapshot);
    const raw = await client.send(new GetObjectCommand({ Bucket: bucket, Key: ref.slice(`s3://${bucket}/`.length) }));
    expect(raw.ContentType).toBe('application/json');
    expect(raw.ContentEncoding).toBe('gzip');
    expect(JSON.parse(gunzipSync(await raw.Body!.transformToByteArray()).toString('utf8'))).toEqual(snapshot);
  });

  it('put with keep deletes all but the newest snapshots under the prefix (history.keepBuilds), never the one just written', async () => {
    // Prepare
    const prefix = `prune-${randomUUID().slice(0, 8)}/`;
    const store = new S3SnapshotStore({ client, bucket, prefix });
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}not-a-snapshot.txt`, Body: 'x' }));

    // Act
    for (let run = 1; run <= 5; run++) await store.put(`run-${run}`, snapshot, { keep: 3 });

    // Assess: LastModified has a one-second resolution on S3; ties are broken by key, newest last
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([`${prefix}not-a-snapshot.txt`, `${prefix}run-3.json.gz`, `${prefix}run-4.json.gz`, `${prefix}run-5.json.gz`]);
  });

  it('a missing object is one StoreError naming the object', async () => {
    const store = new S3SnapshotStore({ client, bucket });
    const ref = `s3://${bucket}/snapshots/never-written.json.gz`;

    const error = (await store.get(ref).catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe(`cannot read snapshot ${ref}: no such object (NoSuchKey)`);
  });

  it('a missing bucket, a bad reference and a non-snapshot object are StoreErrors naming the object', async () => {
    const store = new S3SnapshotStore({ client, bucket });
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'snapshots/garbage.json.gz', Body: 'not json' }));

    const missingBucket = (await store.get('s3://karma-no-such-bucket-x/snapshots/a.json.gz').catch((e: unknown) => e)) as Error;
    const badRef = (await store.get('/tmp/karma-snapshots/a.json.gz').catch((e: unknown) => e)) as Error;
    const garbage = (await store.get(`s3://${bucket}/snapshots/garbage.json.gz`).catch((e: unknown) => e)) as Error;
    const writeFails = (await new S3SnapshotStore({ client, bucket: 'karma-no-such-bucket-x' }).put('k', snapshot).catch((e: unknown) => e)) as Error;

    expect(missingBucket).toBeInstanceOf(StoreError);
    expect(missingBucket.message).toBe('cannot read snapshot s3://karma-no-such-bucket-x/snapshots/a.json.gz: no such bucket karma-no-such-bucket-x (NoSuchBucket)');
    expect(badRef.message).toBe('cannot read snapshot /tmp/karma-snapshots/a.json.gz: not an s3://bucket/key reference');
    expect(garbage).toBeInstanceOf(StoreError);
    expect(garbage.message).toMatch(new RegExp(`^cannot read snapshot s3://${bucket}/snapshots/garbage\\.json\\.gz: not a gzipped JSON snapshot`));
    expect(writeFails).toBeInstanceOf(StoreError);
    expect(writeFails.message).toMatch(/^cannot write snapshot s3:\/\/karma-no-such-bucket-x\/snapshots\/k\.json\.gz: NoSuchBucket/);
    for (const e of [missingBucket, badRef, garbage, writeFails]) expect(e.message).not.toContain('\n');
  });

  it('contextFromEnv uses the bucket and prefix the CDK app sets (KARMA_SNAPSHOT_BUCKET, KARMA_SNAPSHOT_PREFIX)', async () => {
    // Prepare: the Lambda's environment, with moto as the endpoint.
    await withEnv(credentialsEnv(), async () => {
      const ctx = contextFromEnv(
        standInEnv({
          KARMA_CONFIG: '/nonexistent-config',
          KARMA_SNAPSHOTS: '/tmp/karma-snapshots',
          KARMA_SNAPSHOT_BUCKET: bucket,
          KARMA_SNAPSHOT_PREFIX: 'snapshots/',
        }),
        () => undefined,
      );

      // Act
      const ref = await ctx.snapshots.put('exec-7-final', snapshot);

      // Assess
      expect(ctx.snapshots).toBeInstanceOf(S3SnapshotStore);
      expect(ref).toBe(`s3://${bucket}/snapshots/exec-7-final.json.gz`);
      expect(await ctx.snapshots.get(ref)).toEqual(snapshot);
    });
  });
});
