/** `karma init [DIR]` (lib/cli/commands/init.ts): a config repo that validates, and never an overwrite. */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karma } from '../../support/cli.ts';
import { projectName } from '../../../lib/cli/commands/init.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

/** Every file under `dir` (not folders), by relative path, sorted. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}


let tmp: string;
beforeAll(() => {
  tmp = makeTempDir('karma-init-');
});
afterAll(() => removeDir(tmp));

describe('karma init', () => {
  it('writes karma.yaml, one component with its module, one environment and a .gitignore, and says what to run next', async () => {
    // Arrange
    const dir = join(tmp, 'platform');

    // Act
    const run = await karma('init', dir);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toEqual([]);
    expect(filesIn(dir)).toEqual([
      '.gitignore',
      'components/hello/component.yaml',
      'environments/dev/hello.json',
      'karma.yaml',
      'modules/hello/main.tf',
    ]);
    expect(readFileSync(join(dir, 'karma.yaml'), 'utf8')).toMatch(/^project: platform$/m);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toContain('.karma/');
    expect(readFileSync(join(dir, 'modules/hello/main.tf'), 'utf8')).toContain('resource "terraform_data"');
    expect(run.stdout).toContain('  karma graph validate             # check the config');
    expect(run.stdout.some((l) => l.startsWith('  karma pipeline run --env dev'))).toBe(true);
  });

  it('makes a repo that karma graph validate accepts', async () => {
    // Arrange
    const dir = join(tmp, 'valid');
    await karma('init', dir, '--env', 'staging', '--project', 'acme');

    // Act
    const run = await karma('graph', 'validate', '-c', dir);

    // Assess
    expect(run).toEqual({ code: 0, stdout: ['valid: 1 environment, 1 component, 1 deployment'], stderr: [] });
    expect(JSON.parse(readFileSync(join(dir, 'environments/staging/hello.json'), 'utf8'))).toEqual({ greeting: 'hello staging' });
  });

  it('refuses to overwrite: one line, exit 2, nothing written', async () => {
    // Arrange
    const dir = join(tmp, 'existing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'karma.yaml'), 'project: mine\n');

    // Act
    const run = await karma('init', dir);

    // Assess
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: [`karma: ${join(dir, 'karma.yaml')} already exists: karma init writes only into a repo without these files (nothing was written)`],
    });
    expect(filesIn(dir)).toEqual(['karma.yaml']);
    expect(readFileSync(join(dir, 'karma.yaml'), 'utf8')).toBe('project: mine\n');
  });

  it('refuses a bad --env name with one line, exit 2', async () => {
    // Act
    const run = await karma('init', join(tmp, 'bad-env'), '--env', 'Prod!');

    // Assess
    expect(run).toEqual({
      code: 2,
      stdout: [],
      stderr: ['karma: --env "Prod!": must be lowercase letters, digits, - or _ (at most 63, starting with a letter or digit)'],
    });
    expect(existsSync(join(tmp, 'bad-env'))).toBe(false);
  });

  it.each([
    ['My Repo', 'my-repo'],
    ['infra_live', 'infra_live'],
    ['---', 'karma-project'],
  ])('the project name of a directory called %j is %j', (dir, name) => {
    expect(projectName(join(tmp, dir))).toBe(name);
  });
});
