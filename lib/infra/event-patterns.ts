/**
 * The EventBridge event patterns that start the pipeline, as plain JSON (the constructs use them, and the
 * tests check them against sample events, in-process and through EventBridge's TestEventPattern on moto).
 *
 * Loop safety (SSM): Karma writes its own outputs and state with a Description starting with `karma:managed`.
 * A change counts only when it is under `<prefix>/` AND its description is absent or does not start with that
 * marker. The lock parameters live under `<prefix>-locks/`, which the `<prefix>/` prefix already excludes.
 */

export const KARMA_MANAGED_MARKER = 'karma:managed';
/** Source and detail-type the GitHub webhook relay puts onto the Karma bus. */
export const GITHUB_SOURCE = 'karma.github';
export const GITHUB_PUSH = 'GitHub Push';

export type EventPatternJson = Record<string, unknown>;

export function ssmChangePattern(parameterPrefix: string): EventPatternJson {
  return {
    source: ['aws.ssm'],
    'detail-type': ['Parameter Store Change'],
    detail: {
      operation: ['Create', 'Update', 'Delete', 'LabelParameterVersion'],
      name: [{ prefix: `${parameterPrefix}/` }],
      description: [{ exists: false }, { 'anything-but': { prefix: KARMA_MANAGED_MARKER } }],
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
