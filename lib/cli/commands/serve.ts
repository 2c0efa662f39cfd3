/**
 * `karma serve`: the long-running service (docs/service.md) — the HTTP API (lib/api) over a live graph, the
 * durable change queue, rollouts and notifications (lib/service) — and `karma token create`: a bearer token for it.
 *
 * Binds 127.0.0.1 by default. Every route but /healthz, /readyz, /openapi.json and the signed /webhooks/git needs
 * a bearer token: from the tokens file (--tokens, $KARMA_API_TOKENS_FILE; hashes only), or $KARMA_API_TOKEN
 * (admin). With neither, on a loopback address, the server makes one admin token for this run and prints it once
 * on stderr (as Jupyter does): a browser page or another user's process cannot call it without that token. Any
 * other host needs configured tokens. The log is JSON lines on stderr (lib/service/log.ts).
 *
 * Exit codes: 0 stopped by SIGINT/SIGTERM after draining, 1 could not listen or the stores failed, 2 invalid
 * options or config.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { serve as listen, type ServerType } from '@hono/node-server';
import packageJson from '../../../package.json' with { type: 'json' };
import { KarmaError, UsageError } from '../../core/errors.ts';
import { API_ROLES, type ApiRole } from '../../core/pipeline-contract.ts';
import { createApi } from '../../api/app.ts';
import { newToken, readTokensFile, tokenAuth, type TokensFile } from '../../api/auth.ts';
import { graphqlHandler } from '../../api/graphql.ts';
import { jsonLog, errorLine, type LogLevel } from '../../service/log.ts';
import { KarmaService } from '../../service/service.ts';
import { mountWeb } from '../../service/web.ts';
import { configLocation, type CommonOptions } from '../context.ts';
import type { IO } from '../io.ts';

export interface ServeOptions extends CommonOptions {
  readonly port?: number;
  readonly host?: string;
  readonly tokens?: string;
  readonly pollMs?: number;
  readonly syncSeconds?: number;
  readonly fetchSeconds?: number;
  readonly stopTimeoutSeconds?: number;
  readonly logLevel?: LogLevel;
  /** Tests: called once listening, with the URL and a way to stop. */
  readonly onListening?: (url: string, stop: () => void) => void;
}

export const DEFAULT_PORT = 7070;

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export async function serveCommand(options: ServeOptions, io: IO): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  const tokensPath = options.tokens ?? process.env['KARMA_API_TOKENS_FILE'];
  const file: TokensFile | undefined = tokensPath ? readTokensFile(tokensPath) : undefined;
  let adminToken = process.env['KARMA_API_TOKEN'] || undefined;
  if (!file && !adminToken) {
    if (!isLoopback(host)) {
      throw new UsageError(`--host ${host} reaches beyond this machine: configure tokens first (--tokens FILE from karma token create, or KARMA_API_TOKEN)`);
    }
    adminToken = newToken().token;
    io.err(`karma serve: no tokens configured; this run's admin token (shown once): ${adminToken}`);
  }
  const log = jsonLog({ ...(options.logLevel ? { level: options.logLevel } : {}), base: { version: packageJson.version } });
  // The config loads and the graph is built before the server listens: a broken repo is exit 2 now.
  const service = await KarmaService.start({
    config: configLocation(options),
    ...(options.ref ? { ref: options.ref } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.store ? { store: options.store } : {}),
    log,
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.syncSeconds !== undefined ? { syncSeconds: options.syncSeconds } : {}),
    ...(options.fetchSeconds !== undefined ? { fetchSeconds: options.fetchSeconds } : {}),
    ...(options.stopTimeoutSeconds !== undefined ? { stopTimeoutMs: options.stopTimeoutSeconds * 1000 } : {}),
  });
  const gitWebhookSecret = process.env['KARMA_GIT_WEBHOOK_SECRET'] || undefined;
  const app = createApi({
    workspace: service.workspace,
    authenticate: tokenAuth({ ...(file ? { file } : {}), ...(adminToken ? { adminToken } : {}) }),
    version: packageJson.version,
    onError: (error, c) => log.error('unexpected error', { method: c.req.method, path: c.req.path, error: errorLine(error) }),
    service: {
      service,
      graphql: graphqlHandler({ workspace: service.workspace, rollouts: service.rollouts }),
      ...(gitWebhookSecret ? { gitWebhookSecret } : {}),
      onGitPush: () => service.configChanged('a signed push'),
    },
  });
  // The web UI (web/, built into dist/web) at `/`, beside the API.
  const web = mountWeb(app);
  // The access log: one JSON line per request (no query values, no bodies, no tokens).
  const logged = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const response = await app.fetch(request);
    log.info('request', { method: request.method, path: new URL(request.url).pathname, status: response.status, ms: Math.round(performance.now() - started) });
    return response;
  };

  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = listen({ fetch: logged, port, hostname: host }, () => resolve(s));
      s.once('error', (error: NodeJS.ErrnoException) =>
        reject(new KarmaError(`cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use; pick another with --port' : error.message}`)),
      );
    });
  } catch (error) {
    await service.stop();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  io.err(`karma serve: listening on ${url} (${service.workspace.description}); GET ${url}/openapi.json describes the API`);
  io.err(web.built ? `karma serve: the web UI is at ${url}/ (sign in with an API token)` : 'karma serve: the web UI is not built in this checkout (npm run build)');
  log.info('listening', { url });

  return new Promise<number>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      log.info('stopping: no new work; the running apply may finish, then is handed back');
      // Not ready at once (a load balancer stops sending), then the service drains; the server closes after.
      void service.stop().then(
        () => {
          server.close(() => resolve(0));
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        },
        (error: unknown) => {
          log.error('stop failed', { error: errorLine(error) });
          server.close(() => resolve(1));
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        },
      );
      // Keep-alive connections would hold close() open: end the idle ones now.
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    options.onListening?.(url, stop);
  });
}

export interface TokenCreateOptions {
  readonly name: string;
  readonly roles: readonly ApiRole[];
  readonly tokens: string;
  readonly json?: boolean;
}

/**
 * `karma token create NAME --role ROLE --tokens FILE`: a new random token; its sha256 is added to FILE (created
 * 0600), the token itself printed once. A name already in the file is refused (revoke = delete its entry).
 */
export async function tokenCreate(options: TokenCreateOptions, io: IO): Promise<number> {
  if (!/^[\w.@-]{1,100}$/.test(options.name)) throw new UsageError(`token name "${options.name}": use letters, digits, _ . @ - (it is what the audit log records)`);
  const roles = options.roles.length > 0 ? options.roles : (['read'] as const);
  const bad = roles.find((r) => !(API_ROLES as readonly string[]).includes(r));
  if (bad) throw new UsageError(`--role ${bad}: use ${API_ROLES.join(', ')}`);
  const file: TokensFile = existsSync(options.tokens) ? readTokensFile(options.tokens) : { tokens: [] };
  if (file.tokens.some((t) => t.name === options.name)) throw new UsageError(`${options.tokens} already has a token named "${options.name}"; remove its entry to revoke it, or pick another name`);
  const { token, sha256 } = newToken();
  const next: TokensFile = { tokens: [...file.tokens, { name: options.name, sha256, roles: [...roles] }] };
  writeFileSync(options.tokens, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  chmodSync(options.tokens, 0o600);
  // Read back: what karma serve will read.
  readTokensFile(options.tokens);
  if (options.json) io.out(JSON.stringify({ name: options.name, roles, token, tokens: options.tokens }));
  else {
    io.out(token);
    io.err(`karma: token "${options.name}" (${roles.join(', ')}) added to ${options.tokens}; the token is shown once, above: keep it in a secret store`);
  }
  return 0;
}
