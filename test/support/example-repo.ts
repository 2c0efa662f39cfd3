/** The example config repo as the API tests serve it: a Git clone of examples/acme-platform, its runtime seeded. */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { expect } from 'vitest';
import { copyRepo } from '../helpers/config-repo.ts';
import { karma } from './cli.ts';

export const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');

/** A copy of the example under `tmp`, committed on main (request-change records proposals on it), its runtime seeded. */
export async function seededExampleRepo(tmp: string): Promise<string> {
  const dir = copyRepo(EXAMPLE, tmp);
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: { name: 'Test', email: 'test@example.com' } });
  const seeded = await karma('runtime', 'record', join(dir, 'runtime-seed.yaml'), '--config', dir, '--json');
  expect(seeded.code).toBe(0);
  return dir;
}
