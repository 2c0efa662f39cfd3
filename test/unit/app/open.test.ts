/** lib/app/open.ts: what entry points get from lib/app instead of importing adapters. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openConfigSource, openGitRepository, openTerraform } from '../../../lib/app/open.ts';
import type { Config } from '../../../lib/core/model.ts';

const dir = mkdtempSync(join(tmpdir(), 'karma-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openConfigSource', () => {
  it('a directory is read as it is; with a ref, from its Git history; a URL is cloned', async () => {
    expect(openConfigSource(dir).description).toBe(dir);
    expect(openConfigSource(dir, 'main').description).toBe(`${dir}@main`);
    expect(openConfigSource('https://example.com/acme/config.git').description).toBe('https://example.com/acme/config.git@HEAD');
  });

  it('anything else is a usage error saying what --config must be', async () => {
    expect(() => openConfigSource(join(dir, 'missing'))).toThrow(
      expect.objectContaining({
        name: 'UsageError',
        message: `--config ${join(dir, 'missing')}: not a directory or a Git URL; point it at a config repo (the folder with karma.yaml)`,
      }),
    );
  });
});

describe('openGitRepository and openTerraform', () => {
  it('the Git repository port is bound to the directory; a directory without Git is a usage error on first use', async () => {
    const repo = await openGitRepository(dir);
    expect(repo.dir).toBe(dir);
    await expect(repo.head()).rejects.toMatchObject({ name: 'UsageError', message: expect.stringContaining(`--config ${dir}: not a Git repository`) });
  });

  it('--terraform wins over $KARMA_TERRAFORM and karma.yaml; a binary that is not there is a usage error naming it', () => {
    const config = { project: { terraform: { binary: 'from-karma-yaml' } } } as unknown as Config;
    expect(() => openTerraform(config, { binary: '/nowhere/terraform-flag' }, { KARMA_TERRAFORM: '/nowhere/env', PATH: '' })).toThrow(
      'terraform binary "/nowhere/terraform-flag" not found',
    );
    expect(() => openTerraform(config, {}, { KARMA_TERRAFORM: '/nowhere/env', PATH: '' })).toThrow('terraform binary "/nowhere/env" not found');
    expect(() => openTerraform(config, {}, { PATH: '' })).toThrow('terraform binary "from-karma-yaml" not found');
    const none = { project: { terraform: {} } } as unknown as Config;
    expect(() => openTerraform(none, {}, { PATH: dir })).toThrow('neither terraform nor tofu is on PATH');
  });
});
