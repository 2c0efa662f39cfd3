/**
 * SnapshotStore in an S3 bucket: one gzipped JSON object per snapshot under a key prefix; the reference is
 * `s3://BUCKET/KEY`. The state machine passes that reference, never the graph (Step Functions caps a state
 * payload at 256 KiB).
 *
 * The deployed stack (lib/infra/pipeline.ts) sets KARMA_SNAPSHOT_BUCKET and KARMA_SNAPSHOT_PREFIX=snapshots/,
 * and grants s3:PutObject/GetObject on `snapshots/*` only: keep the prefix in step with that grant.
 *
 * `put(..., { keep })` then deletes all but the newest `keep` objects under the prefix (by LastModified, then key):
 * that needs s3:ListBucket on the prefix and s3:DeleteObject on it, which the stack grants.
 *
 * Objects carry `Content-Type: application/json` and `Content-Encoding: gzip`; `get` gunzips when the body
 * starts with the gzip magic bytes, so a client or proxy that already decoded it does no harm. Any failure is
 * a StoreError naming the object (`s3://bucket/key`) and the S3 error code.
 */
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig, type _Object } from '@aws-sdk/client-s3';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreError } from '../../core/errors.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import type { SnapshotStore } from '../../ports.ts';

export interface S3SnapshotStoreOptions {
  readonly bucket: string;
  /** Key prefix; a trailing `/` is added when missing. @default 'snapshots/' */
  readonly prefix?: string;
  /** A ready client (tests, custom credentials). Otherwise one is built from the standard SDK chain. */
  readonly client?: S3Client;
  readonly region?: string;
  /** Endpoint override (a local moto server); path-style addressing is used with it. */
  readonly endpoint?: string;
}

/** The bucket and key of an `s3://bucket/key` reference, or undefined when it is not one. */
export function parseS3Ref(ref: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

function awsErrorText(error: unknown): string {
  const e = error as { name?: string; message?: string; Code?: string };
  const name = e?.Code ?? e?.name ?? 'Error';
  return e?.message && e.message !== name ? `${name}: ${e.message}` : name;
}

export class S3SnapshotStore implements SnapshotStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;

  constructor(options: S3SnapshotStoreOptions) {
    if (!options.bucket) throw new StoreError('S3SnapshotStore needs a bucket name (KARMA_SNAPSHOT_BUCKET)');
    this.bucket = options.bucket;
    const prefix = options.prefix ?? 'snapshots/';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const config: S3ClientConfig = {
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    };
    this.client = options.client ?? new S3Client(config);
  }

  /** The object key a snapshot key is stored under (characters outside [A-Za-z0-9_.-] become `_`). */
  objectKey(key: string): string {
    return `${this.prefix}${key.replace(/[^A-Za-z0-9_.-]/g, '_')}.json.gz`;
  }

  async put(key: string, snapshot: GraphSnapshot, options: { keep?: number } = {}): Promise<string> {
    const objectKey = this.objectKey(key);
    const ref = `s3://${this.bucket}/${objectKey}`;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: gzipSync(JSON.stringify(snapshot)),
          ContentType: 'application/json',
          ContentEncoding: 'gzip',
        }),
      );
    } catch (error) {
      throw new StoreError(`cannot write snapshot ${ref}: ${awsErrorText(error)}`, { cause: error });
    }
    if (options.keep !== undefined) await this.prune(options.keep, objectKey);
    return ref;
  }

  /** Deletes all but the newest `keep` objects under the prefix; `current` (just written) is always kept. */
  private async prune(keep: number, current: string): Promise<void> {
    const where = `s3://${this.bucket}/${this.prefix}`;
    try {
      const objects: _Object[] = [];
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ...(token ? { ContinuationToken: token } : {}) }));
        objects.push(...(page.Contents ?? []).filter((o) => o.Key?.endsWith('.json.gz')));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      const at = (o: _Object): number => o.LastModified?.getTime() ?? 0;
      const old = objects
        .filter((o) => o.Key !== current)
        .sort((a, b) => at(b) - at(a) || (a.Key! < b.Key! ? 1 : -1))
        .slice(Math.max(keep - 1, 0));
      for (let i = 0; i < old.length; i += 1000) {
        const batch = old.slice(i, i + 1000).map((o) => ({ Key: o.Key! }));
        const out = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
        const failed = out.Errors?.[0];
        if (failed) throw Object.assign(new Error(`${failed.Key}: ${failed.Code ?? 'error'} ${failed.Message ?? ''}`.trim()), { name: failed.Code ?? 'DeleteError' });
      }
    } catch (error) {
      throw new StoreError(`cannot prune old snapshots in ${where}: ${awsErrorText(error)}; the stack grants s3:ListBucket and s3:DeleteObject on the prefix`, { cause: error });
    }
  }

  async get(ref: string): Promise<GraphSnapshot> {
    const at = parseS3Ref(ref);
    if (!at) throw new StoreError(`cannot read snapshot ${ref}: not an s3://bucket/key reference`);
    let bytes: Uint8Array;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key }));
      if (!out.Body) throw new Error('empty response body');
      bytes = await out.Body.transformToByteArray();
    } catch (error) {
      const name = (error as { name?: string }).name;
      const why = name === 'NoSuchKey' ? 'no such object (NoSuchKey)' : name === 'NoSuchBucket' ? `no such bucket ${at.bucket} (NoSuchBucket)` : awsErrorText(error);
      throw new StoreError(`cannot read snapshot ${ref}: ${why}`, { cause: error });
    }
    try {
      const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
      const text = (gzipped ? gunzipSync(bytes) : Buffer.from(bytes)).toString('utf8');
      return JSON.parse(text) as GraphSnapshot;
    } catch (error) {
      throw new StoreError(`cannot read snapshot ${ref}: not a gzipped JSON snapshot (${(error as Error).message})`, { cause: error });
    }
  }
}
