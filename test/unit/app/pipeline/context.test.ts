/**
 * contextFromEnv: which adapters the Lambda environment selects. No network: nothing is called here.
 */
import { describe, expect, it } from 'vitest';
import { contextFromEnv } from '../../../../lib/app/pipeline/context.ts';
import { DirectorySnapshotStore } from '../../../../lib/adapters/snapshots/directory-snapshots.ts';
import { S3SnapshotStore } from '../../../../lib/adapters/snapshots/s3-snapshots.ts';

const base = { KARMA_CONFIG: '/nonexistent-config', KARMA_BACKEND: 'local' };

describe('contextFromEnv', () => {
  it('snapshots: S3 under KARMA_SNAPSHOT_PREFIX when KARMA_SNAPSHOT_BUCKET is set, else the KARMA_SNAPSHOTS directory', () => {
    // Act
    const s3 = contextFromEnv({ ...base, KARMA_SNAPSHOT_BUCKET: 'karma-snaps', KARMA_SNAPSHOT_PREFIX: 'snapshots/', AWS_REGION: 'eu-west-1' }, () => undefined);
    const noPrefix = contextFromEnv({ ...base, KARMA_SNAPSHOT_BUCKET: 'karma-snaps', AWS_REGION: 'eu-west-1' }, () => undefined);
    const dir = contextFromEnv({ ...base, KARMA_SNAPSHOTS: '/tmp/karma-snapshots-test' }, () => undefined);

    // Assess
    expect(s3.snapshots).toBeInstanceOf(S3SnapshotStore);
    expect((s3.snapshots as S3SnapshotStore).bucket).toBe('karma-snaps');
    expect((s3.snapshots as S3SnapshotStore).objectKey('exec:1-build')).toBe('snapshots/exec_1-build.json.gz');
    expect((noPrefix.snapshots as S3SnapshotStore).prefix).toBe('snapshots/');
    expect(dir.snapshots).toBeInstanceOf(DirectorySnapshotStore);
  });
});
