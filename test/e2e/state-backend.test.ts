/**
 * Terraform state with a home of its own (docs/state.md), with a real terraform: the S3 backend (with S3-native
 * locking) against moto's S3, a key per deployment; a wiped working copy updates in place; a run whose backend
 * differs from the one the last apply recorded is refused; local state lives outside the scratch work folder;
 * CodeBuild refuses local state; a module declaring another backend is a config error naming its file.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { REGION, credentialsEnv, motoClientConfig, motoEndpoint, setEnv, withEnv } from '../support/stand-ins.ts';

// One resource whose id Terraform generates: the same id after a re-run means an update in place, not a re-create.
const MODULE = 'variable "name" {}\nresource "terraform_data" "app" { input = var.name }\noutput "url" { value = "https://${var.name}/${terraform_data.app.id}" }\n';

let tmp: string;
let dir: string;
let terraform: string;
let s3: S3Client;
let bucket: string;
let restoreEnv: () => void;

function karmaYaml(state: string): string {
  return ['project: demo', 'environments:', '  karma-dev: {}', '  karma-prod: {}', 'terraform:', ...state.split('\n').map((l) => `  ${l}`), ''].join('\n');
}

function s3State(endpoint: string): string {
  return [
    'state:',
    '  backend: s3',
    '  config:',
    `    bucket: ${bucket}`,
    `    region: ${REGION}`,
    '    use_path_style: true',
    '    use_lockfile: true',
    '    skip_credentials_validation: true',
    '    skip_requesting_account_id: true',
    '    skip_metadata_api_check: true',
    '    skip_region_validation: true',
    '    endpoints:',
    `      s3: ${endpoint}`,
  ].join('\n');
}

async function karma(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIO();
  const code = await main([...argv, '-c', dir, '--terraform', terraform], io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function url(env: string): Promise<string> {
  const io = memoryIO();
  await main(['runtime', 'list', '--env', env, '-c', dir, '--json'], io);
  const { parameters: params } = JSON.parse(io.stdout.join('')) as { parameters: { name: string; value?: string }[] };
  return params.find((p) => p.name.endsWith('/app/outputs/url'))!.value!;
}

beforeAll(async () => {
  terraform = ensureTerraform();
  // Terraform's S3 backend takes the credentials and region from the environment.
  restoreEnv = setEnv(credentialsEnv());
  s3 = new S3Client({ ...motoClientConfig(), forcePathStyle: true });
  bucket = `karma-tfstate-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  tmp = makeTempDir('karma-state-');
  dir = makeRepo(tmp, {
    'karma.yaml': karmaYaml(s3State(motoEndpoint())),
    'modules/app/main.tf': MODULE,
    'environments/karma-dev/app.json': '{ "name": "dev-app", "vpc": "${network.vpc_id}" }\n',
    'environments/karma-prod/network.json': '{}\n',
    'environments/karma-prod/app.json': '{ "name": "prod-app", "vpc": "${network.vpc_id}" }\n',
  });
}, 600_000);

afterAll(() => {
  s3.destroy();
  restoreEnv();
  removeDir(tmp);
});

describe('state backends (real terraform)', () => {
  it('S3: each deployment has its own key; a run from a wiped working copy updates in place', async () => {
    // Act: apply app in both environments (network first: app consumes its output)
    for (const env of ['karma-dev', 'karma-prod']) {
      for (const c of ['network', 'app']) {
        const r = await karma('component', 'apply', c, env);
        expect(r.code, r.err).toBe(0);
      }
    }
    const before = await url('karma-dev');
    // the scratch working copies go (a fresh CodeBuild container has none)
    rmSync(join(dir, '.karma', 'work'), { recursive: true, force: true });
    const again = await karma('component', 'apply', 'app', 'karma-dev');

    // Assess
    expect(again.code, again.err).toBe(0);
    expect(await url('karma-dev')).toBe(before); // same terraform_data id: updated in place, not created again
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key).sort();
    expect(keys).toEqual([
      'demo/karma-dev/app/terraform.tfstate',
      'demo/karma-dev/network/terraform.tfstate',
      'demo/karma-prod/app/terraform.tfstate',
      'demo/karma-prod/network/terraform.tfstate',
    ]);
    const state = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'demo/karma-prod/app/terraform.tfstate' }))).Body!.transformToString()) as { resources: { instances: { attributes: { input: { value: string } } }[] }[] };
    expect(state.resources[0]!.instances[0]!.attributes.input.value).toBe('prod-app');
    expect(existsSync(join(dir, '.karma', 'state'))).toBe(false); // nothing kept locally
  });

  it('a run whose backend is not where the last apply kept the state is refused, and recorded failed without moving the record', async () => {
    // Prepare: someone drops the state setting (default: local state)
    const yaml = readFileSync(join(dir, 'karma.yaml'), 'utf8');
    writeFileSync(join(dir, 'karma.yaml'), karmaYaml('binary: terraform'));
    try {
      // Act
      const refused = await karma('component', 'apply', 'app', 'karma-dev');
      const again = await karma('component', 'apply', 'app', 'karma-dev');
      // Assess
      expect(refused.code).toBe(1);
      expect(refused.out).toContain(`karma-dev/app: failed: last applied with its state at s3://${bucket}/demo/karma-dev/app/terraform.tfstate, but this run would use local:karma-dev/app;`);
      expect(again.out).toContain(`state at s3://${bucket}/`); // the record still points at S3
      expect(existsSync(join(dir, '.karma', 'state', 'karma-dev', 'app'))).toBe(false);
    } finally {
      writeFileSync(join(dir, 'karma.yaml'), yaml);
    }
  });

  it('CodeBuild (CODEBUILD_BUILD_ID set) never keeps state locally: refused before terraform runs', async () => {
    // Prepare
    const local = makeRepo(join(tmp, 'local'), { 'modules/network/main.tf': 'output "vpc_id" { value = "vpc-1" }\n' });
    await withEnv({ CODEBUILD_BUILD_ID: 'karma:build-1' }, async () => {
      // Act
      const io = memoryIO();
      const code = await main(['component', 'apply', 'network', 'karma-dev', '-c', local, '--terraform', terraform], io);
      // Assess
      expect(code).toBe(1);
      expect(io.stdout.join('\n')).toContain('karma-dev/network: failed: state would be lost: this run keeps nothing after it ends (CodeBuild)');
      expect(existsSync(join(local, '.karma', 'work', 'karma-dev', 'network', '.terraform'))).toBe(false);
    });
  });

  it('local state lives in .karma/state, outside the scratch work folder; state left in the work folder by older versions is moved there', async () => {
    // Prepare: an apply, then the state put back where older Karma versions kept it
    const local = makeRepo(join(tmp, 'legacy'), { 'modules/network/main.tf': 'resource "terraform_data" "n" { input = "x" }\noutput "vpc_id" { value = terraform_data.n.id }\n' });
    const run = async (): Promise<number> => main(['component', 'apply', 'network', 'karma-dev', '-c', local, '--terraform', terraform], memoryIO());
    expect(await run()).toBe(0);
    const home = join(local, '.karma', 'state', 'karma-dev', 'network', 'terraform.tfstate');
    const id = (JSON.parse(readFileSync(home, 'utf8')) as { resources: { instances: { attributes: { id: string } }[] }[] }).resources[0]!.instances[0]!.attributes.id;
    const work = join(local, '.karma', 'work', 'karma-dev', 'network');
    rmSync(work, { recursive: true });
    const legacy = join(work, 'terraform.tfstate');
    const text = readFileSync(home, 'utf8');
    rmSync(home);
    // Act: the work folder is recreated by the next run; the legacy state is written before it
    const { mkdirSync } = await import('node:fs');
    mkdirSync(work, { recursive: true });
    writeFileSync(legacy, text);
    const code = await run();
    // Assess
    expect(code).toBe(0);
    expect(existsSync(legacy)).toBe(false);
    expect((JSON.parse(readFileSync(home, 'utf8')) as { resources: { instances: { attributes: { id: string } }[] }[] }).resources[0]!.instances[0]!.attributes.id).toBe(id);
  });

  it('a module that declares another backend is a config error naming its file and line', async () => {
    // Prepare
    const other = makeRepo(join(tmp, 'declares'), { 'modules/app/main.tf': '# app\nterraform {\n  backend "gcs" {}\n}\nvariable "name" {}\nvariable "vpc" {}\n' });
    // Act
    const io = memoryIO();
    const code = await main(['graph', 'validate', '-c', other], io);
    // Assess
    expect(code).toBe(2);
    expect(io.stderr).toEqual([
      'karma: modules/app/main.tf:3: the module of app declares backend "gcs", but karma-dev keeps state in "local" (karma.yaml terraform.state); remove the block (Karma supplies the backend, with a key per deployment), or set terraform.state.backend: gcs in karma.yaml',
    ]);
  });
});
