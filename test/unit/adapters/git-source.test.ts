import { cpSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, describe, expect, it } from 'vitest';
import { GitSource } from '../../../lib/adapters/git/git-source.ts';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import { loadConfig } from '../../../lib/app/build.ts';

const example = join(import.meta.dirname, '..', '..', '..', 'examples', 'acme-platform');
const dir = mkdtempSync(join(tmpdir(), 'karma-git-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function commitAll(message: string): Promise<string> {
  await git.add({ fs, dir, filepath: '.' });
  return git.commit({ fs, dir, message, author: { name: 't', email: 't@example.com', timestamp: 1_764_000_000, timezoneOffset: 0 } });
}

describe('config from Git (isomorphic-git)', () => {
  it('reads the tree at a ref, not the working tree, and records the commit', async () => {
    // Prepare
    cpSync(example, dir, { recursive: true, filter: (p) => !p.includes('.karma') });
    await git.init({ fs, dir, defaultBranch: 'main' });
    const first = await commitAll('first');
    await git.tag({ fs, dir, ref: 'v1' });
    writeFileSync(join(dir, 'environments/karma-dev/queue.yaml'), 'visibility_timeout: 90\n');
    const second = await commitAll('second');
    writeFileSync(join(dir, 'environments/karma-dev/queue.yaml'), 'visibility_timeout: 120\n');
    // Act
    const atTag = await loadConfig(new GitSource(dir, 'v1'));
    const atHead = await loadConfig(new GitSource(dir, 'main'));
    const short = await loadConfig(new GitSource(dir, second.slice(0, 8)));
    const working = await loadConfig(new DirectorySource(dir));
    // Assess
    const queue = (c: typeof atTag) => c.deployments.find((d) => d.env === 'karma-dev' && d.component === 'queue')!.inputs;
    expect(atTag.commit).toBe(first);
    expect(queue(atTag)).toEqual({ visibility_timeout: 60, max_receive_count: 5 });
    expect(atHead.commit).toBe(second);
    expect(queue(atHead)).toEqual({ visibility_timeout: 90 });
    expect(short.commit).toBe(second);
    expect(queue(working)).toEqual({ visibility_timeout: 120 });
    expect(working.commit).toBeUndefined();
    await expect(loadConfig(new GitSource(dir, 'no-such-branch'))).rejects.toThrow(/^--ref no-such-branch: not a branch, tag or commit of /);
  });

  it('a committed symlink leaving the repository is a problem, never read', async () => {
    symlinkSync('/etc/hostname', join(dir, 'modules/network/outside.tf'));
    await commitAll('link');
    await expect(loadConfig(new GitSource(dir, 'main'))).rejects.toThrow('modules/network/outside.tf: symlink to /etc/hostname leaves the repository; commit the file itself instead');
  });
});
