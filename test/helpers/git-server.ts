/**
 * A private Git server for tests: git http-backend (CGI: fetch, and push since REMOTE_USER is set) behind a
 * Basic-auth check that accepts only x-access-token:<token>, as GitHub answers: 401 without it.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export function privateGitServer(root: string, token: string, onRequest?: (req: IncomingMessage) => void): Server {
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  return createServer((req, res) => {
    onRequest?.(req);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('auth required');
      return;
    }
    const [path, query = ''] = (req.url ?? '/').split('?');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: path,
        QUERY_STRING: query,
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        // Set: http-backend then serves receive-pack (push) too.
        REMOTE_USER: 'x-access-token',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const crlf = out.indexOf('\r\n\r\n');
      const split = crlf >= 0 ? crlf : out.indexOf('\n\n');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of out.subarray(0, split).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        const key = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else if (key) headers[key] = value;
      }
      res.writeHead(status, headers).end(out.subarray(split + (crlf >= 0 ? 4 : 2)));
    });
  });
}
