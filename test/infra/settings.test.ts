import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError, settingsFromContext } from '../../lib/infra/settings.ts';
import { CODECOMMIT_SETTINGS, GITHUB_SETTINGS } from './helpers.ts';

function failure(raw: unknown): string {
  try {
    parseSettings(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as Error).message;
  }
  throw new Error('expected a SettingsError');
}

describe('settings', () => {
  it('applies the defaults', () => {
    const s = parseSettings({ ...CODECOMMIT_SETTINGS, neptune: undefined, maxParallel: undefined, branch: undefined });
    expect(s.branch).toBe('main');
    expect(s.neptune).toMatchObject({ minCapacity: 1, maxCapacity: 2.5, instances: 1, engineVersion: '1.4.1.0' });
    expect(s.maxParallel).toBe(4);
    expect(s.driftSchedule).toBe('cron(0 6 * * ? *)');
    expect(s.natGateways).toBe(0);
    expect(parseSettings(GITHUB_SETTINGS).natGateways).toBe(1);
  });

  it('api: on by default, IAM auth, 20 rps with bursts of 40; JWT takes the roles from karma:roles unless told otherwise', () => {
    // Prepare
    const jwt = { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', audience: ['client'] };
    // Act
    const defaults = parseSettings(CODECOMMIT_SETTINGS).api;
    const withJwt = parseSettings({ ...CODECOMMIT_SETTINGS, api: { auth: { jwt } } }).api;
    const custom = parseSettings({ ...CODECOMMIT_SETTINGS, api: { enabled: false, auth: { jwt: { ...jwt, rolesClaim: 'cognito:groups' } }, throttle: { rateLimit: 2.5 } } }).api;
    // Assess
    expect(defaults).toEqual({ enabled: true, auth: 'iam', throttle: { rateLimit: 20, burstLimit: 40 } });
    expect(withJwt.auth).toEqual({ jwt: { ...jwt, rolesClaim: 'karma:roles' } });
    expect(custom).toEqual({ enabled: false, auth: { jwt: { ...jwt, rolesClaim: 'cognito:groups' } }, throttle: { rateLimit: 2.5, burstLimit: 40 } });
  });

  it('missing settings: one line that says where to put them', () => {
    const message = failure(undefined);
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^karma settings: missing: add a "karma" object to the "context" of cdk\.json/);
  });

  it.each([
    [{ account: undefined }, /^karma settings: account: /],
    [{ account: '12345' }, /^karma settings: account: must be a 12-digit AWS account id/],
    [{ environments: {} }, /^karma settings: environments: needs at least one environment/],
    [{ environments: { 'karma-dev': { deployRoleArn: 'admin' } } }, /^karma settings: environments\.karma-dev\.deployRoleArn: must be an IAM role ARN/],
    [{ configRepo: { gitlab: { name: 'x' } } }, /^karma settings: configRepo: must be \{"codecommit"/],
    [{ parameterPrefix: 'karma/' }, /^karma settings: parameterPrefix: must start with \/ and not end with \//],
    [{ neptune: { minCapacity: 8, maxCapacity: 4 } }, /^karma settings: neptune\.maxCapacity: maxCapacity must be >= minCapacity/],
    [{ driftSchedule: 'every day' }, /^karma settings: driftSchedule: must be rate\(N unit\) or cron/],
    [{ maxParalel: 3 }, /^karma settings: \(root\): unknown key "maxParalel": remove it or fix its spelling/],
    [{ configRepo: { github: { owner: 'acme', repo: 'cfg' } }, natGateways: 0 }, /^karma settings: natGateways: a GitHub config repo needs natGateways >= 1/],
    [{ api: { auth: 'jwt' } }, /^karma settings: api\.auth: must be "iam" or \{"jwt":\{"issuer":"https:\/\/ISSUER","audience":\["CLIENT_ID"\],"rolesClaim":"karma:roles"\}\}/],
    [{ api: { auth: { cognito: {} } } }, /^karma settings: api\.auth: must be "iam" or \{"jwt"/],
    [{ api: { auth: { jwt: { issuer: 'http://idp.example.com', audience: ['a'] } } } }, /^karma settings: api\.auth\.jwt\.issuer: must be the issuer's https URL/],
    [{ api: { auth: { jwt: { issuer: 'https://idp.example.com', audience: [] } } } }, /^karma settings: api\.auth\.jwt\.audience: needs at least one audience/],
    [{ api: { auth: { jwt: { issuer: 'https://idp.example.com', audience: ['a'], roles: 'x' } } } }, /^karma settings: api\.auth\.jwt: unknown key "roles": remove it or fix its spelling/],
    [{ api: { auth: { jwt: { issuer: 'https://idp.example.com', audience: ['a'], rolesClaim: 'has space' } } } }, /^karma settings: api\.auth\.jwt\.rolesClaim: must be a claim name/],
    [{ api: { throttle: { rateLimit: 0 } } }, /^karma settings: api\.throttle\.rateLimit: must be > 0 \(requests per second\)/],
    [{ api: { throttle: { burstLimit: 2.5 } } }, /^karma settings: api\.throttle\.burstLimit: /],
    [{ api: { enabled: 'yes' } }, /^karma settings: api\.enabled: /],
    [{ api: { auht: 'iam' } }, /^karma settings: api: unknown key "auht": remove it or fix its spelling/],
  ])('invalid %j fails with one line naming the key', (patch, expected) => {
    const message = failure({ ...CODECOMMIT_SETTINGS, ...patch });
    expect(message).toMatch(expected);
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('(in cdk.json context "karma")');
  });

  it('reads a settings file named by karmaSettingsFile, and says when it cannot', () => {
    expect(() => settingsFromContext((k) => (k === 'karmaSettingsFile' ? 'nope.json' : undefined), '/tmp')).toThrow(
      /^karma settings: karmaSettingsFile: cannot read \/tmp\/nope\.json \(ENOENT\): fix the path$/,
    );
  });
});
