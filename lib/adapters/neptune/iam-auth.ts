/**
 * IAM authentication for Neptune's Gremlin endpoint: the WebSocket handshake (an HTTP GET on /gremlin) is
 * signed with SigV4 for the service `neptune-db`, and the signed headers go with the upgrade request.
 * Credentials come from the standard AWS chain and are resolved again on every (re)connect, so rotated
 * session credentials are picked up.
 */
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export const NEPTUNE_SERVICE = 'neptune-db';

/** Headers for the WebSocket upgrade request to `endpoint` (ws:// or wss://host:port/path). */
export async function signedHandshakeHeaders(
  endpoint: string,
  options: { region: string; credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider; signingDate?: Date },
): Promise<Record<string, string>> {
  const url = new URL(endpoint);
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  const port = url.port || (secure ? '443' : '80');
  const signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: NEPTUNE_SERVICE, sha256: Hash.bind(null, 'sha256') });
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => (query[k] = v));
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: secure ? 'https:' : 'http:',
      hostname: url.hostname,
      port: Number(port),
      path: url.pathname || '/gremlin',
      query,
      headers: { host: `${url.hostname}:${port}` },
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  return { ...(signed.headers as Record<string, string>) };
}
