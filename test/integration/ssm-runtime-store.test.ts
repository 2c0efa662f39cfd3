/**
 * SsmRuntimeStore against a real moto server (started by the integration global setup).
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../lib/core/errors.ts';
import { ParameterExistsError } from '../../lib/adapters/errors.ts';
import { SsmRuntimeStore } from '../../lib/adapters/ssm/runtime-store.ts';
import { credentialsEnv, motoClientConfig, motoEndpoint, withEnv } from '../support/stand-ins.ts';

describe('SsmRuntimeStore on moto', () => {
  let store: SsmRuntimeStore;
  // Every test works under its own prefix: moto's state lives as long as the server.
  let prefix: string;

  beforeAll(() => {
    const client = new SSMClient({ ...motoClientConfig(), retryMode: 'adaptive' });
    store = new SsmRuntimeStore({ client, readTps: 200, writeTps: 200 });
  });
  afterAll(async () => {
    await store.close();
    store.client.destroy();
  });

  const fresh = (): string => (prefix = `/karma-test/${randomUUID().slice(0, 8)}`);

  it('reads a path with more than 10 parameters across pages, recursively, sorted, with versions', async () => {
    // Prepare
    fresh();
    const names = Array.from({ length: 27 }, (_, i) => `${prefix}/dev/c${String(i).padStart(2, '0')}/outputs/o`);
    for (const n of names) await store.put(n, `v-${n}`);
    await store.put(names[3]!, 'second');
    await store.put(`${prefix}/prod/other/state`, 'not in dev');
    const before = store.calls.get('GetParametersByPathCommand') ?? 0;

    // Act
    const params = await store.readPath(`${prefix}/dev/`);

    // Assess
    expect(params.map((p) => p.name)).toEqual(names);
    expect(params[3]).toMatchObject({ value: 'second', version: 2, type: 'String' });
    expect(params[0]).toMatchObject({ value: `v-${names[0]}`, version: 1 });
    expect(Number.isNaN(Date.parse(params[0]!.lastModified))).toBe(false);
    // 27 parameters at 10 a page: exactly 3 calls.
    expect((store.calls.get('GetParametersByPathCommand') ?? 0) - before).toBe(3);
  });

  it('readNames returns the existing names in the order asked, in chunks of 10, and omits missing ones', async () => {
    fresh();
    const names = Array.from({ length: 23 }, (_, i) => `${prefix}/ext/p${i}`);
    for (const n of names.filter((_, i) => i % 3 !== 0)) await store.put(n, n.toUpperCase());
    const before = store.calls.get('GetParametersCommand') ?? 0;

    const params = await store.readNames([...names].reverse());

    const expected = [...names].reverse().filter((n) => Number(n.split('/p').pop()) % 3 !== 0);
    expect(params.map((p) => p.name)).toEqual(expected);
    expect(params.every((p) => p.value === p.name.toUpperCase())).toBe(true);
    expect((store.calls.get('GetParametersCommand') ?? 0) - before).toBe(3);
    expect(await store.readNames([`${prefix}/nothing/here`])).toEqual([]);
  });

  it('stores SecureString values, returns them decrypted and keeps their type', async () => {
    fresh();
    const name = `${prefix}/dev/database/outputs/password`;
    await store.put(name, 's3cr3t-value', { type: 'SecureString' });

    const [byPath] = await store.readPath(`${prefix}/dev`);
    const [byName] = await store.readNames([name]);

    expect(byPath).toMatchObject({ name, value: 's3cr3t-value', type: 'SecureString', version: 1 });
    expect(byName).toMatchObject({ value: 's3cr3t-value', type: 'SecureString' });
  });

  it('increases versions on every put; reads return the latest value and version', async () => {
    fresh();
    const name = `${prefix}/dev/app/state`;
    const versions: number[] = [];
    for (let i = 1; i <= 12; i++) versions.push((await store.put(name, `{"n":${i}}`)).version);

    expect(versions).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await store.readNames([name])).toMatchObject([{ name, value: '{"n":12}', version: 12 }]);
  });

  it('deletes named parameters with DeleteParameters, 10 names a call, ignoring names that do not exist', async () => {
    // Prepare: a component's record of 23 parameters, and a neighbour that must survive
    fresh();
    const names = [`${prefix}/dev/app/state`, ...Array.from({ length: 22 }, (_, i) => `${prefix}/dev/app/outputs/o${String(i).padStart(2, '0')}`)];
    for (const n of names) await store.put(n, 'v');
    await store.put(`${prefix}/dev/app-two/state`, 'stays');
    const before = store.calls.get('DeleteParametersCommand') ?? 0;

    // Act
    const result = await store.delete([...names, `${prefix}/dev/app/outputs/missing`]);

    // Assess: 24 names → 3 calls; the missing one is not counted; history goes with the parameter (a new put is version 1)
    expect(result).toEqual({ deleted: 23 });
    expect((store.calls.get('DeleteParametersCommand') ?? 0) - before).toBe(3);
    expect(await store.readPath(`${prefix}/dev/app`)).toEqual([]);
    expect((await store.readPath(`${prefix}/dev`)).map((p) => p.name)).toEqual([`${prefix}/dev/app-two/state`]);
    expect(await store.put(names[0]!, 'again')).toEqual({ version: 1 });
    expect(await store.delete([])).toEqual({ deleted: 0 });
  });

  it('refuses to overwrite with overwrite=false, like the local store', async () => {
    fresh();
    const name = `${prefix}/dev/x/state`;
    await store.put(name, 'one', { overwrite: false });

    const attempt = store.put(name, 'two', { overwrite: false });

    await expect(attempt).rejects.toBeInstanceOf(ParameterExistsError);
    await expect(attempt).rejects.toThrow(name);
    const [current] = await store.readNames([name]);
    expect(current).toMatchObject({ value: 'one', version: 1 });
  });

  it('turns a hard AWS failure into one-line StoreError naming the path and the AWS error', async () => {
    fresh();
    const name = `${prefix}/dev/empty/outputs/value`;

    // SSM refuses empty values: a ValidationException, not retried.
    const attempt = store.put(name, '');

    await expect(attempt).rejects.toBeInstanceOf(StoreError);
    const error = (await attempt.catch((e: unknown) => e)) as Error;
    expect(error.message).toContain(`SSM PutParameter ${name} failed: ValidationException`);
    expect(error.message).not.toContain('\n');
  });

  it('picks the endpoint from AWS_ENDPOINT_URL when no client is given', async () => {
    fresh();
    await withEnv({ ...credentialsEnv(), AWS_ENDPOINT_URL: motoEndpoint() }, async () => {
      const own = new SsmRuntimeStore();
      try {
        await own.put(`${prefix}/env/var`, 'ok');
        expect((await store.readNames([`${prefix}/env/var`])).map((p) => [p.value, p.version])).toEqual([['ok', 1]]);
        expect(own.apiCalls).toBe(1);
      } finally {
        await own.close();
      }
    });
  });
});
