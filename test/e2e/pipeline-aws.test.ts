/**
 * The pipeline on the AWS backend with local stand-ins: runtime and locks in SSM (moto), graph in Neptune
 * (Gremlin Server), Terraform real (test/helpers/terraform.ts). Same ASL, same steps, same component command.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalPipeline } from '../../lib/app/pipeline/local-run.ts';
import { NeptuneGraphStore } from '../../lib/adapters/neptune/graph-store.ts';
import { DirectoryBuildHistory } from '../../lib/adapters/history/directory-history.ts';
import { SsmRuntimeStore } from '../../lib/adapters/ssm/runtime-store.ts';
import { ensureTerraform } from '../helpers/terraform.ts';
import { REGION, gremlinEndpoint, motoClientConfig, motoEndpoint, setEnv, standInEnv } from '../support/stand-ins.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');
const prefix = `/karma-sfn-${Date.now().toString(36)}`;
let dir: string;
let terraform: string;
let restoreEnv: () => void;

beforeAll(async () => {
  terraform = ensureTerraform();
  dir = mkdtempSync(join(tmpdir(), 'karma-e2e-aws-'));
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !p.includes(`${join('acme-platform', '.karma')}`) });
  writeFileSync(join(dir, 'karma.yaml'), readFileSync(join(dir, 'karma.yaml'), 'utf8').replace(/^parameterPrefix: .*$/m, `parameterPrefix: ${prefix}`));
  restoreEnv = setEnv(standInEnv({ KARMA_HISTORY_DIR: join(dir, '.karma', 'history') }));
  const ssm = new SsmRuntimeStore({ endpoint: motoEndpoint(), region: REGION });
  await ssm.put('/acme/external/datadog-api-key', 'aws-e2e-secret', { type: 'SecureString' });
  await ssm.close();
}, 20 * 60 * 1000);

afterAll(async () => {
  // moto is shared by the whole integration run: leave the external parameter as other tests expect it (absent)
  await new SSMClient(motoClientConfig()).send(new DeleteParameterCommand({ Name: '/acme/external/datadog-api-key' }));
  restoreEnv();
  rmSync(dir, { recursive: true, force: true });
});

describe('pipeline run --backend aws (moto + Gremlin Server, real terraform)', () => {
  it('applies every component, records outputs and state in SSM, writes the graph to Neptune, and releases its locks', async () => {
    // Act
    const result = await runLocalPipeline({ configDir: dir, input: { trigger: 'manual' }, backend: 'aws', terraform, waitMillis: 10 });
    // Assess
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.summary?.applied).toBe(19);
    const ssm = new SSMClient(motoClientConfig());
    const states: string[] = [];
    let token: string | undefined;
    do {
      const page = await ssm.send(new GetParametersByPathCommand({ Path: prefix, Recursive: true, MaxResults: 10, ...(token ? { NextToken: token } : {}) }));
      for (const p of page.Parameters ?? []) if (p.Name!.endsWith('/state')) states.push(p.Name!);
      token = page.NextToken;
    } while (token);
    expect(states).toHaveLength(19);
    const locks = await ssm.send(new GetParametersByPathCommand({ Path: `${prefix}-locks`, Recursive: true }));
    expect(locks.Parameters ?? []).toEqual([]);
    const graph = new NeptuneGraphStore({ endpoint: gremlinEndpoint(), history: new DirectoryBuildHistory(join(dir, '.karma', 'history')) });
    try {
      const snapshot = await graph.read({ env: 'karma-dev' });
      const components = (snapshot?.vertices ?? []).filter((v) => v.label === 'Component');
      expect(components).toHaveLength(9);
      expect(new Set(components.map((c) => c.props['status']))).toEqual(new Set(['in-sync']));
    } finally {
      await graph.close();
    }
  });

  it('a second run on AWS applies nothing', async () => {
    const result = await runLocalPipeline({ configDir: dir, input: { trigger: 'manual', env: 'karma-prod' }, backend: 'aws', terraform, waitMillis: 10 });
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.waves).toEqual([]);
  });
});
