/**
 * The CodeBuild buildspec: ONE `karma component` run per build.
 *
 * The source is Karma itself (an S3 asset of this repo); the config repo is cloned at KARMA_COMMIT.
 * The state machine passes KARMA_COMPONENT, KARMA_ENV, KARMA_MODE, KARMA_COMMIT, KARMA_EXECUTION.
 *
 *   install    npm ci (the node@24 devDependency makes npx run Node 24); Terraform TF_VERSION, its zip
 *              checked against TF_SHA256 when set, else against the release's SHA256SUMS
 *   pre_build  clone the config repo at KARMA_COMMIT; write an AWS profile `karma-deploy` that assumes the
 *              environment's deploy role (KARMA_DEPLOY_ROLES[KARMA_ENV]) from the build's own credentials,
 *              and a `terraform-deploy` wrapper that runs Terraform under that profile
 *   build      npx karma component $KARMA_MODE $KARMA_COMPONENT $KARMA_ENV --commit $KARMA_COMMIT --backend aws
 *
 * Providers: TF_PLUGIN_CACHE_DIR (PLUGIN_CACHE_DIR) is a CodeBuild S3 cache path, restored before the build and
 * saved after it, so a provider an earlier build fetched is linked, not downloaded (docs/providers.md). A
 * build has the cache to itself: pre_build clears an install lock a killed build may have left in it.
 *
 * Only Terraform runs as the deploy role; Karma itself (SSM runtime writes) keeps the project's role, so the
 * outputs land in Karma's account even when the environment is another account.
 */
/** The provider plugin cache in the build container (its contents are CodeBuild's S3 cache). */
export const PLUGIN_CACHE_DIR = '/root/.terraform.d/plugin-cache';

export interface BuildSpecOptions {
  /** The config repo is on CodeCommit (use the AWS CLI's Git credential helper). */
  readonly codeCommit: boolean;
  /** GITHUB_TOKEN is set (a private GitHub repository). */
  readonly gitHubToken: boolean;
}

export function buildSpec(options: BuildSpecOptions): Record<string, unknown> {
  const clone: string[] = [];
  if (options.codeCommit) {
    clone.push(`git config --global credential.helper '!aws codecommit credential-helper $@'`, 'git config --global credential.UseHttpPath true');
  }
  const url = options.gitHubToken ? '"$(echo "$KARMA_CONFIG_REPO_URL" | sed "s#^https://#https://x-access-token:${GITHUB_TOKEN}@#")"' : '"$KARMA_CONFIG_REPO_URL"';
  clone.push(
    `git clone --quiet ${url} /tmp/config`,
    'git -C /tmp/config checkout --quiet "$KARMA_COMMIT"',
  );
  return {
    version: '0.2',
    env: { shell: 'bash', variables: { TF_PLUGIN_CACHE_DIR: PLUGIN_CACHE_DIR } },
    phases: {
      install: {
        'runtime-versions': { nodejs: 22 },
        commands: [
          'set -euo pipefail',
          'npm ci --no-audit --no-fund',
          'TF_ZIP="terraform_${TF_VERSION}_linux_arm64.zip"; TF_BASE="https://releases.hashicorp.com/terraform/${TF_VERSION}"',
          'curl -fsSL -o "/tmp/$TF_ZIP" "$TF_BASE/$TF_ZIP"',
          'if [ -n "${TF_SHA256:-}" ]; then echo "$TF_SHA256  /tmp/$TF_ZIP" | sha256sum -c -; else curl -fsSL -o /tmp/TF_SHA256SUMS "$TF_BASE/terraform_${TF_VERSION}_SHA256SUMS" && (cd /tmp && grep " $TF_ZIP$" TF_SHA256SUMS | sha256sum -c -); fi',
          'unzip -o -q "/tmp/$TF_ZIP" -d /usr/local/bin && terraform version',
        ],
      },
      pre_build: {
        commands: [
          'set -euo pipefail',
          'mkdir -p "$TF_PLUGIN_CACHE_DIR" && rm -rf "$TF_PLUGIN_CACHE_DIR/.karma/install.lock" && echo "provider cache: $(find "$TF_PLUGIN_CACHE_DIR" -mindepth 5 -maxdepth 5 -type d | wc -l) package(s) restored"',
          ...clone,
          `DEPLOY_ROLE="$(node -e 'const r=JSON.parse(process.env.KARMA_DEPLOY_ROLES)[process.env.KARMA_ENV]; if(!r){console.error("no deploy role for environment "+process.env.KARMA_ENV+": add it to the karma settings environments and redeploy"); process.exit(2)} console.log(r)')"`,
          'mkdir -p ~/.aws && printf "[profile karma-deploy]\\nrole_arn = %s\\ncredential_source = EcsContainer\\nrole_session_name = karma-%s-%s\\n" "$DEPLOY_ROLE" "$KARMA_ENV" "$KARMA_COMPONENT" >> ~/.aws/config',
          `printf '#!/bin/sh\\nAWS_PROFILE=karma-deploy exec /usr/local/bin/terraform "$@"\\n' > /usr/local/bin/terraform-deploy && chmod +x /usr/local/bin/terraform-deploy`,
        ],
      },
      build: {
        commands: [
          'npx karma component "$KARMA_MODE" "$KARMA_COMPONENT" "$KARMA_ENV" --commit "$KARMA_COMMIT" --backend aws --config /tmp/config --terraform /usr/local/bin/terraform-deploy --verbose',
        ],
      },
    },
    cache: { paths: [`${PLUGIN_CACHE_DIR}/**/*`] },
  };
}
