/**
 * The EventBridge event patterns that start the pipeline, as plain JSON (the constructs use them, and the
 * tests check them against sample events, in-process and through EventBridge's TestEventPattern on moto).
 *
 * Loop safety (SSM), in two layers (docs/pipeline.md):
 *  1. The rule matches output parameters only (`<prefix>/<env>/<component>/outputs/<name>`, a wildcard), so the
 *     state record every apply writes never starts anything, nor do the locks (under `<prefix>-locks/`).
 *  2. An output Karma itself wrote is recognised by the Build step: its version is the one Karma recorded in
 *     the component's state right after writing it. That execution ends at once with nothing to do and never
 *     waits for a lock. A change made outside Karma has a newer version and is planned.
 * A description marker was rejected: SSM keeps a parameter's description when it is overwritten, and the
 * console pre-fills it, so a manual edit of a Karma-written output would carry the marker and be ignored.
 *
 * External parameters consumed through `${ssm:/path}` live outside the prefix; `externalPaths` adds them.
 */
/** Source and detail-type the GitHub webhook relay puts onto the Karma bus. */
export const GITHUB_SOURCE = 'karma.github';
export const GITHUB_PUSH = 'GitHub Push';

export type EventPatternJson = Record<string, unknown>;

export function ssmChangePattern(parameterPrefix: string, externalPaths: readonly string[] = []): EventPatternJson {
  return {
    source: ['aws.ssm'],
    'detail-type': ['Parameter Store Change'],
    detail: {
      operation: ['Create', 'Update', 'Delete', 'LabelParameterVersion'],
      name: [{ wildcard: `${parameterPrefix}/*/*/outputs/*` }, ...externalPaths.map((p) => ({ prefix: p }))],
    },
  };
}

export function codeCommitPushPattern(repositoryArn: string, repositoryName: string, branch: string): EventPatternJson {
  return {
    source: ['aws.codecommit'],
    'detail-type': ['CodeCommit Repository State Change'],
    resources: [repositoryArn],
    detail: {
      event: ['referenceCreated', 'referenceUpdated'],
      repositoryName: [repositoryName],
      referenceType: ['branch'],
      referenceName: [branch],
    },
  };
}

export function gitHubPushPattern(owner: string, repo: string, branch: string): EventPatternJson {
  return {
    source: [GITHUB_SOURCE],
    'detail-type': [GITHUB_PUSH],
    detail: {
      repository: [`${owner}/${repo}`],
      ref: [`refs/heads/${branch}`],
      deleted: [false],
    },
  };
}
