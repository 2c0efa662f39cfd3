import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/core/config.ts';
import { backendConfigFile, declaredBackends, resolveState, toHcl } from '../../../lib/core/state-backend.ts';
import { remoteStateFromEnv } from '../../../lib/cli/commands/component.ts';
import { files } from '../../support/config.ts';

const project = (yaml: string) =>
  parseConfig(files({ 'karma.yaml': `project: acme\nenvironments:\n  dev: {}\n  prod:\n${yaml}` }), { source: 'test' }).project;

describe('state backend', () => {
  it('default: local state under the state root, a path per deployment', () => {
    const p = project('    {}\n');
    expect(resolveState(p, 'dev', 'app', { localStateRoot: '/r/.karma/state' })).toEqual({
      backend: 'local',
      config: { path: '/r/.karma/state/dev/app/terraform.tfstate' },
      location: 'local:dev/app',
    });
  });

  it('s3: the key defaults to <project>/<env>/<component>/terraform.tfstate; placeholders in any string; an environment overrides the project', () => {
    const p = project(
      [
        '    state:',
        '      backend: s3',
        '      config: { bucket: "acme-prod-tfstate", key: "{env}/{component}.tfstate", region: eu-west-1 }',
        'terraform:',
        '  state:',
        '    backend: s3',
        '    config: { bucket: "acme-{env}-tfstate", use_lockfile: true }',
        '',
      ].join('\n'),
    );
    const root = { localStateRoot: '/unused' };
    expect(resolveState(p, 'dev', 'app', root)).toEqual({
      backend: 's3',
      config: { bucket: 'acme-dev-tfstate', use_lockfile: true, key: 'acme/dev/app/terraform.tfstate' },
      location: 's3://acme-dev-tfstate/acme/dev/app/terraform.tfstate',
    });
    expect(resolveState(p, 'prod', 'app', root).location).toBe('s3://acme-prod-tfstate/prod/app.tfstate');
  });

  it('a remote default (CodeBuild: the stack bucket) applies only where karma.yaml leaves state local', () => {
    const remote = remoteStateFromEnv({ KARMA_STATE_BUCKET: 'karma-state-1', AWS_REGION: 'eu-west-1' })!;
    expect(resolveState(project('    {}\n'), 'dev', 'app', { localStateRoot: '/r', remoteDefault: remote })).toEqual({
      backend: 's3',
      config: { bucket: 'karma-state-1', key: 'dev/app/terraform.tfstate', region: 'eu-west-1', encrypt: true, use_lockfile: true },
      location: 's3://karma-state-1/dev/app/terraform.tfstate',
    });
    expect(remoteStateFromEnv({})).toBeUndefined();
  });

  it('the -backend-config file is HCL: strings quoted with template sequences escaped, maps and lists as HCL values', () => {
    expect(toHcl({ s3: 'http://127.0.0.1:5000', n: [1, true] })).toBe('{ "s3" = "http://127.0.0.1:5000", "n" = [1, true] }');
    expect(toHcl('a${b}%{c}"')).toBe('"a$${b}%%{c}\\""');
    expect(backendConfigFile({ backend: 's3', config: { key: 'k', bucket: 'b' }, location: '' })).toBe('bucket = "b"\nkey = "k"\n');
  });

  it('declared backends: blocks in the module root (.tf and .tf.json), not in comments, strings or sub-folders', () => {
    const found = declaredBackends(
      'modules/app',
      files({
        'modules/app/main.tf': '# backend "gcs" {}\n/* backend "x" {\n} */\nlocals { s = "backend \\"y\\" {" }\nterraform {\n  backend "s3" {}\n}\n',
        'modules/app/cloud.tf.json': '{"terraform": [{"cloud": {"organization": "o"}}]}',
        'modules/app/nested/other.tf': 'terraform { backend "local" {} }\n',
      }),
    );
    expect(found).toEqual([
      { type: 's3', file: 'modules/app/main.tf', line: 6 },
      { type: 'cloud', file: 'modules/app/cloud.tf.json', line: 1 },
    ]);
  });
});
