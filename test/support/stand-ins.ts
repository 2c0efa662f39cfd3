/**
 * The local stand-ins for AWS, as tests of the `integration` project reach them: the moto and Gremlin Server
 * endpoints (started once per run by test/integration/setup/servers.ts), the dummy credentials moto accepts, and
 * the one region everything uses. Tests take their client options and environment variables from here instead of
 * spelling them out, and change process.env only through `setEnv`/`withEnv`, which put back what was there.
 */
import { inject } from 'vitest';

/** The region of every stand-in client and of every run against the stand-ins. */
export const REGION = 'us-east-1';

/** Moto checks no signature: any key works, and these are never real. */
export const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

/** ws://127.0.0.1:PORT/gremlin of this run's Gremlin Server. */
export const gremlinEndpoint = (): string => inject('gremlinEndpoint');

/** http://127.0.0.1:PORT of this run's moto server. */
export const motoEndpoint = (): string => inject('motoEndpoint');

/** Options for an AWS SDK v3 client (SSM, S3, SNS, SQS, SFN, Secrets Manager) that talks to moto. */
export function motoClientConfig(): { endpoint: string; region: string; credentials: typeof CREDENTIALS } {
  return { endpoint: motoEndpoint(), region: REGION, credentials: CREDENTIALS };
}

/** The dummy credentials and the region as environment variables (for a Terraform S3 backend, a child process). */
export function credentialsEnv(): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, AWS_REGION: REGION };
}

/**
 * The environment that points Karma's AWS backend at the stand-ins (the CLI in process or as a child, or
 * contextFromEnv as a Lambda reads it): every AWS SDK client to moto, dummy credentials, the region, Neptune at
 * the Gremlin Server. `extra` adds or overrides variables.
 */
export function standInEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...credentialsEnv(), AWS_ENDPOINT_URL: motoEndpoint(), KARMA_NEPTUNE_ENDPOINT: gremlinEndpoint(), ...extra };
}

/**
 * Sets `vars` in process.env (undefined unsets one) and returns the function that puts back every variable it
 * touched, set or unset as it was. For beforeAll/afterAll; within one test, use withEnv.
 */
export function setEnv(vars: Readonly<Record<string, string | undefined>>): () => void {
  const before = Object.keys(vars).map((name) => [name, process.env[name]] as const);
  for (const [name, value] of Object.entries(vars)) assign(name, value);
  return () => {
    for (const [name, value] of before) assign(name, value);
  };
}

/** Runs `fn` with `vars` set in process.env (undefined unsets one), then puts them back, whether `fn` throws or not. */
export async function withEnv<T>(vars: Readonly<Record<string, string | undefined>>, fn: () => Promise<T> | T): Promise<T> {
  const restore = setEnv(vars);
  try {
    return await fn();
  } finally {
    restore();
  }
}

function assign(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
