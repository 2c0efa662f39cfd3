/**
 * Git access from the Lambdas, against real servers on loopback:
 *   - a private Git server (git http-backend behind a Basic-auth check, as GitHub answers: 401 without the
 *     token) cloned by GitSource with the token from Secrets Manager (moto), through contextFromEnv exactly as
 *     a Lambda would (KARMA_CONFIG + KARMA_GIT_TOKEN_SECRET);
 *   - no token or a wrong one: one GitAccessError saying what to set;
 *   - the secret itself: plain or {"token":...}; a missing secret names the secret.
 * CodeCommit signing is unit-tested (test/unit/adapters/git-auth.test.ts); no real CodeCommit here.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { privateGitServer } from '../helpers/git-server.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitAccessError } from '../../lib/adapters/errors.ts';
import { gitOnAuth, secretsManagerToken } from '../../lib/adapters/git/auth.ts';
import { GitSource } from '../../lib/adapters/git/git-source.ts';
import { loadConfig } from '../../lib/app/build.ts';
import { contextFromEnv } from '../../lib/app/pipeline/context.ts';
import { makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { REGION, credentialsEnv, motoClientConfig, motoEndpoint, standInEnv, withEnv } from '../support/stand-ins.ts';

const TOKEN = `ghs_${randomUUID().replace(/-/g, '')}`;

const tmp = makeTempDir('karma-git-auth-');
let server: Server;
let url: string;
let commit: string;
const seen: { authorization?: string }[] = [];

beforeAll(async () => {
  // Prepare: a committed config repo served privately.
  const repo = makeRepo(tmp);
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'config');
  commit = git('rev-parse', 'HEAD');
  server = privateGitServer(tmp, TOKEN, (req) => seen.push({ ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  removeDir(tmp);
});

describe('GitSource with onAuth against a private Git server', () => {
  it('clones with x-access-token:<token> after the 401 and loads the config at the commit', async () => {
    // Prepare
    seen.length = 0;
    const source = new GitSource(url, 'main', { cacheDir: join(tmp, 'cache-ok'), onAuth: gitOnAuth({ token: async () => TOKEN }) });

    // Act
    const config = await loadConfig(source);

    // Assess
    expect(config.commit).toBe(commit);
    expect(config.deployments.map((d) => `${d.env}/${d.component}`).sort()).toEqual(['karma-dev/app', 'karma-dev/network']);
    expect(seen[0]).toEqual({});
    expect(seen.slice(1).every((r) => r.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('no token: one GitAccessError saying to set KARMA_GIT_TOKEN_SECRET; a wrong token: one saying to check it', async () => {
    const none = (await new GitSource(url, 'main', { cacheDir: join(tmp, 'cache-none') }).load().catch((e: unknown) => e)) as Error;
    const wrong = (await new GitSource(url, 'main', { cacheDir: join(tmp, 'cache-wrong'), onAuth: gitOnAuth({ token: async () => 'ghs_wrong' }) })
      .load()
      .catch((e: unknown) => e)) as Error;

    expect(none).toBeInstanceOf(GitAccessError);
    expect(none.message).toBe(`cannot fetch ${url}: HTTP 401; a private repository needs a token: set KARMA_GIT_TOKEN_SECRET to a Secrets Manager secret holding it`);
    expect(wrong).toBeInstanceOf(GitAccessError);
    expect(wrong.message).toBe(`cannot fetch ${url}: HTTP 401; check that KARMA_GIT_TOKEN_SECRET holds a token that can read the repository`);
    expect(wrong.message).not.toContain('ghs_wrong');
  });

  it('a clone kept between loads (a warm Lambda container) reads a branch, and HEAD, at what the remote has now', async () => {
    const cacheDir = join(tmp, 'cache-warm');
    const onAuth = gitOnAuth({ token: async () => TOKEN });
    expect((await loadConfig(new GitSource(url, 'main', { cacheDir, onAuth }))).commit).toBe(commit);
    const repo = join(tmp, 'repo');
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
    git('commit', '-q', '--allow-empty', '-m', 'moved on');
    const next = git('rev-parse', 'HEAD');
    try {
      expect((await loadConfig(new GitSource(url, 'main', { cacheDir, onAuth }))).commit).toBe(next);
      expect((await loadConfig(new GitSource(url, 'HEAD', { cacheDir, onAuth }))).commit).toBe(next);
      expect((await loadConfig(new GitSource(url, commit, { cacheDir, onAuth }))).commit).toBe(commit);
    } finally {
      git('reset', '-q', '--hard', commit);
    }
  });

  it('contextFromEnv: KARMA_CONFIG (the URL) + KARMA_GIT_TOKEN_SECRET read from Secrets Manager (moto), as in Lambda', async () => {
    // Prepare
    const sm = new SecretsManagerClient(motoClientConfig());
    const name = `karma/github-token-${randomUUID().slice(0, 8)}`;
    const arn = (await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ token: TOKEN }) }))).ARN!;
    sm.destroy();
    await withEnv({ ...credentialsEnv(), HOME: join(tmp, 'home') }, async () => {
      const env = standInEnv({ KARMA_CONFIG: url, KARMA_BACKEND: 'local', KARMA_GIT_TOKEN_SECRET: arn });

      // Act
      const config = await loadConfig(contextFromEnv(env, () => undefined).source({ ref: 'main' }));

      // Assess
      expect(config.commit).toBe(commit);
    });
  });
});

describe('secretsManagerToken on moto', () => {
  it('reads a plain token by name, and names a missing secret in one GitAccessError', async () => {
    const sm = new SecretsManagerClient(motoClientConfig());
    const name = `karma/plain-${randomUUID().slice(0, 8)}`;
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: `${TOKEN}\n` }));
    sm.destroy();
    await withEnv(credentialsEnv(), async () => {
      const read = secretsManagerToken(name, { region: REGION, endpoint: motoEndpoint() });
      expect(await read()).toBe(TOKEN);
      expect(await read()).toBe(TOKEN);

      const missing = (await secretsManagerToken('karma/no-such-secret', { region: REGION, endpoint: motoEndpoint() })().catch((e: unknown) => e)) as Error;
      expect(missing).toBeInstanceOf(GitAccessError);
      expect(missing.message).toMatch(/^cannot read the Git token secret karma\/no-such-secret: ResourceNotFoundException/);
    });
  });
});
