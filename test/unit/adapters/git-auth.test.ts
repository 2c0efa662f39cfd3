/**
 * Git credentials for the deployed Lambdas (lib/adapters/git/auth.ts). No network: fixed credentials and a
 * fixed clock.
 *
 * The expected CodeCommit password below is DERIVED BY HAND from the algorithm of the AWS CLI credential helper
 * (awscli/customizations/codecommit.py, botocore SigV4Auth.string_to_sign/signature), recomputed independently
 * with Python's hmac/hashlib for these inputs; it was NOT produced by AWS, and this code has not been exercised
 * against a real CodeCommit repository here. The steps, for the record:
 *   canonical = "GIT\n/v1/repos/karma-config\n\nhost:git-codecommit.eu-west-1.amazonaws.com\n\nhost\n"
 *   sha256(canonical) = 3c1742ddfca8951e6538b1564035d78b7f752d4f369d9a7af7199f5eb3f28603
 *   toSign = "AWS4-HMAC-SHA256\n20261128T101530\n20261128/eu-west-1/codecommit/aws4_request\n<that hash>"
 *   key = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, "20261128"), "eu-west-1"), "codecommit"), "aws4_request")
 *   password = "20261128T101530" + "Z" + hex(HMAC(key, toSign))
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  codeCommitCredentials,
  codeCommitPassword,
  codeCommitTarget,
  codeCommitTimestamp,
  gitOnAuth,
  tokenFromSecretString,
} from '../../../lib/adapters/git/auth.ts';

const URL_ = 'https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/karma-config';
const TARGET = { hostname: 'git-codecommit.eu-west-1.amazonaws.com', region: 'eu-west-1', path: '/v1/repos/karma-config' };
// AWS's documentation example keys: not real credentials.
const CREDS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const AT = new Date('2026-11-28T10:15:30.999Z');
const HAND_DERIVED = '20261128T101530Z96f54a3c01ebfe637bf37db942d3dd62073f7201c1d5e39bc266220f1c442cdf';

describe('CodeCommit SigV4 Git credentials', () => {
  it('password = <YYYYMMDDTHHMMSS>Z<hex signature>, equal to the value derived by hand from the algorithm', () => {
    // Act
    const password = codeCommitPassword(TARGET, CREDS.secretAccessKey, AT);

    // Assess
    expect(password).toMatch(/^\d{8}T\d{6}Z[0-9a-f]{64}$/);
    expect(password).toBe(HAND_DERIVED);
    expect(codeCommitTimestamp(AT)).toBe('20261128T101530');
  });

  it('the same step by step with node:crypto (the canonical request has an empty payload line, not a hash)', () => {
    const canonical = 'GIT\n/v1/repos/karma-config\n\nhost:git-codecommit.eu-west-1.amazonaws.com\n\nhost\n';
    const hash = createHash('sha256').update(canonical).digest('hex');
    const toSign = `AWS4-HMAC-SHA256\n20261128T101530\n20261128/eu-west-1/codecommit/aws4_request\n${hash}`;
    const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
    const key = h(h(h(h(`AWS4${CREDS.secretAccessKey}`, '20261128'), 'eu-west-1'), 'codecommit'), 'aws4_request');

    expect(hash).toBe('3c1742ddfca8951e6538b1564035d78b7f752d4f369d9a7af7199f5eb3f28603');
    expect(`20261128T101530Z${createHmac('sha256', key).update(toSign).digest('hex')}`).toBe(HAND_DERIVED);
  });

  it('deterministic for the same credentials and second; a new second, region, repository or key signs differently', () => {
    const a = codeCommitPassword(TARGET, CREDS.secretAccessKey, AT);
    const variants = [
      codeCommitPassword(TARGET, CREDS.secretAccessKey, new Date('2026-11-28T10:15:31Z')),
      codeCommitPassword({ ...TARGET, region: 'us-east-1' }, CREDS.secretAccessKey, AT),
      codeCommitPassword({ ...TARGET, path: '/v1/repos/other' }, CREDS.secretAccessKey, AT),
      codeCommitPassword(TARGET, `${CREDS.secretAccessKey}x`, AT),
    ];

    expect(codeCommitPassword(TARGET, CREDS.secretAccessKey, new Date('2026-11-28T10:15:30.000Z'))).toBe(a);
    expect(new Set([a, ...variants]).size).toBe(5);
  });

  it('username: the access key id, plus %<session token> with temporary credentials', () => {
    expect(codeCommitCredentials(URL_, CREDS, AT)).toEqual({ username: 'AKIAIOSFODNN7EXAMPLE', password: HAND_DERIVED });
    expect(codeCommitCredentials(URL_, { ...CREDS, sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE/+=' }, AT).username).toBe('AKIAIOSFODNN7EXAMPLE%IQoJb3JpZ2luX2VjEXAMPLE/+=');
  });

  it('recognises CodeCommit hosts as the AWS CLI does (FIPS, VPC endpoints; the port is not signed)', () => {
    expect(codeCommitTarget(URL_)).toEqual(TARGET);
    expect(codeCommitTarget('https://git-codecommit.eu-west-1.amazonaws.com:443/v1/repos/karma-config')).toEqual(TARGET);
    expect(codeCommitTarget('https://git-codecommit-fips.us-gov-west-1.amazonaws.com/v1/repos/r')?.region).toBe('us-gov-west-1');
    expect(codeCommitTarget('https://vpce-0abc-xyz.git-codecommit.eu-west-1.vpce.amazonaws.com/v1/repos/r')?.region).toBe('eu-west-1');
    expect(codeCommitTarget('https://github.com/acme/infra-config.git')).toBeUndefined();
    expect(codeCommitTarget('http://git-codecommit.eu-west-1.amazonaws.com/v1/repos/r')).toBeUndefined();
    expect(codeCommitTarget('not a url')).toBeUndefined();
  });
});

describe('gitOnAuth (isomorphic-git onAuth)', () => {
  const clock = { now: () => AT };

  it('CodeCommit URL → SigV4 credentials from the provider; GitHub → x-access-token with the token; no token → nothing', async () => {
    // Prepare
    let tokenReads = 0;
    const withToken = gitOnAuth({
      credentials: async () => ({ ...CREDS, sessionToken: 'TOKEN' }),
      token: async () => {
        tokenReads++;
        return 'ghs_exampletoken';
      },
      clock,
    });
    const withoutToken = gitOnAuth({ credentials: async () => CREDS, clock });

    // Act
    const cc = await withToken(URL_, {});
    const gh = await withToken('https://github.com/acme/infra-config.git', {});
    const none = await withoutToken('https://github.com/acme/infra-config.git', {});

    // Assess
    expect(cc).toEqual({ username: 'AKIAIOSFODNN7EXAMPLE%TOKEN', password: HAND_DERIVED });
    expect(gh).toEqual({ username: 'x-access-token', password: 'ghs_exampletoken' });
    expect(tokenReads).toBe(1);
    expect(none).toBeUndefined();
  });

  it('missing AWS credentials: one GitAccessError naming the repository', async () => {
    const onAuth = gitOnAuth({ credentials: async () => Promise.reject(new Error('Could not load credentials from any providers')), clock });

    await expect(onAuth(URL_, {})).rejects.toThrow(`cannot sign the CodeCommit request for ${URL_}: no AWS credentials (Could not load credentials from any providers)`);
  });

  it('a secret holds the token as is, or as {"token": ...}', () => {
    expect(tokenFromSecretString('ghp_abc\n')).toBe('ghp_abc');
    expect(tokenFromSecretString('{"token":" ghp_abc "}')).toBe('ghp_abc');
    expect(tokenFromSecretString('{not json')).toBe('{not json');
  });
});
