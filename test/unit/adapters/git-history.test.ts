/**
 * Where a removed deployment was last seen in Git (lib/adapters/git/history.ts), on a real repository made with
 * isomorphic-git in a temporary directory.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRemovals } from '../../../lib/adapters/git/history.ts';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import { GitSource } from '../../../lib/adapters/git/git-source.ts';
import { makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const AUTHOR = { name: 'test', email: 'test@example.com', timestamp: 1_800_000_000, timezoneOffset: 0 };
const tmp = makeTempDir('karma-history-');
const dir = makeRepo(tmp);
const commits: Record<string, string> = {};

beforeAll(async () => {
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  commits['initial'] = await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
  fs.rmSync(join(dir, 'environments/karma-dev/app.json'));
  await git.remove({ fs, dir, filepath: 'environments/karma-dev/app.json' });
  commits['remove-app'] = await git.commit({ fs, dir, message: 'remove app', author: { ...AUTHOR, timestamp: 1_800_000_100 } });
  fs.writeFileSync(join(dir, 'README.md'), 'later\n');
  await git.add({ fs, dir, filepath: 'README.md' });
  commits['later'] = await git.commit({ fs, dir, message: 'later', author: { ...AUTHOR, timestamp: 1_800_000_200 } });
  // Not committed: network's env file deleted in the work tree only.
  fs.rmSync(join(dir, 'environments/karma-dev/network.json'));
});
afterAll(() => removeDir(tmp));

describe('findRemovals', () => {
  it('finds the commit that removed an env file and the last commit that had it', async () => {
    const found = await findRemovals(dir, 'HEAD', [{ env: 'karma-dev', component: 'app' }]);

    expect(found.get('karma-dev/app')).toEqual({
      file: 'environments/karma-dev/app.json',
      lastCommit: commits['initial'],
      removedIn: { commit: commits['remove-app'], at: '2027-01-15T08:01:40Z' },
    });
  });

  it('a file still in HEAD is uncommitted for a work tree and not found for a commit; unknown ones are absent', async () => {
    const asked = [{ env: 'karma-dev', component: 'network' }, { env: 'karma-dev', component: 'never-there' }, { env: 'nope', component: 'app' }];

    const workTree = await new DirectorySource(dir).findRemovals(asked);
    const atCommit = await new GitSource(dir, commits['later']!).findRemovals(asked);

    expect([...workTree]).toEqual([['karma-dev/network', { file: 'environments/karma-dev/network.json', lastCommit: commits['later'], uncommitted: true }]]);
    expect([...atCommit]).toEqual([]);
  });

  it('a depth that does not reach the removal finds nothing; a directory without .git has no history', async () => {
    expect([...(await findRemovals(dir, 'HEAD', [{ env: 'karma-dev', component: 'app' }], { depth: 1 }))]).toEqual([]);
    expect([...(await new DirectorySource(join(dir, 'components')).findRemovals([{ env: 'karma-dev', component: 'app' }]))]).toEqual([]);
  });
});
