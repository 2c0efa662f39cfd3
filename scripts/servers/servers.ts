/**
 * Local stand-ins for Neptune and SSM, used by the integration tests and the benchmarks:
 *
 * - Apache TinkerPop Gremlin Server 3.7.4 (the classpath comes from Maven Central through `mvn
 *   dependency:copy-dependencies`), with TinkerGraph settings that behave like Neptune: transactional graph,
 *   string vertex and edge ids, set cardinality by default.
 * - moto server (PyPI), for SSM Parameter Store (and S3).
 * - schemathesis (PyPI), the OpenAPI fuzzer of the API fuzz test (installed, not started: the test runs it).
 *
 * Everything is cached under `.servers/` at the repo root (gitignored), so only the first run downloads.
 * Servers bind 127.0.0.1 on free ports. A missing java, mvn or python3 is an error that says what to install.
 *
 *   node scripts/servers/servers.ts install     download what is missing
 *   node scripts/servers/servers.ts start       start both, print the endpoints, stop on Ctrl-C
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import gremlin from 'gremlin';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVERS_DIR = process.env['KARMA_SERVERS_DIR'] ?? join(REPO_ROOT, '.servers');

export const GREMLIN_VERSION = '3.7.4';
export const LOGBACK_VERSION = '1.2.13';
export const MOTO_REQUIREMENT = 'moto[server]==5.2.5';
export const SCHEMATHESIS_REQUIREMENT = 'schemathesis==4.32.5';

export class ServerSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerSetupError';
  }
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

function requireTool(cmd: string, what: string): string {
  const found = which(cmd);
  if (!found) throw new ServerSetupError(`${cmd} not found on PATH: install ${what} to run the integration tests (Gremlin Server and moto are started locally)`);
  return found;
}

function run(cmd: string, args: string[], cwd: string, what: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000 });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new ServerSetupError(`${what} failed (${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}):\n${tail}`);
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it; there is a small race until the server binds it). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => ok(port));
    });
  });
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), ok(true)));
    socket.once('error', () => (socket.destroy(), ok(false)));
  });
}

async function waitUntil(what: string, child: ChildProcess, output: () => string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ServerSetupError(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output().split('\n').slice(-20).join('\n')}`);
    }
    if (/could not be instantiated|Address already in use/.test(output())) {
      child.kill('SIGKILL');
      throw new ServerSetupError(`${what} failed to start:\n${output().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-20).join('\n')}`);
    }
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new ServerSetupError(`${what} was not ready after ${timeoutMs / 1000} s:\n${output().split('\n').slice(-20).join('\n')}`);
}

function captureOutput(child: ChildProcess): () => string {
  let buf = '';
  const add = (d: Buffer): void => {
    buf = (buf + d.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buf;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------- Gremlin Server

/** True once the server evaluates a traversal (the port opens a little before the graph is ready). */
async function gremlinAnswers(port: number): Promise<boolean> {
  // headers: {} makes the driver use the `ws` package (its global-WebSocket path is broken in 3.7.4).
  const conn = new gremlin.driver.DriverRemoteConnection(`ws://127.0.0.1:${port}/gremlin`, { headers: {}, connectOnStartup: false });
  try {
    const g = gremlin.process.AnonymousTraversalSource.traversal().withRemote(conn);
    const r = await g.inject(1).next();
    return r.value === 1;
  } catch {
    return false;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>karma.local</groupId>
  <artifactId>gremlin-server-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.tinkerpop</groupId><artifactId>gremlin-server</artifactId><version>${GREMLIN_VERSION}</version></dependency>
    <dependency><groupId>org.apache.tinkerpop</groupId><artifactId>tinkergraph-gremlin</artifactId><version>${GREMLIN_VERSION}</version></dependency>
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId><version>${LOGBACK_VERSION}</version></dependency>
  </dependencies>
</project>
`;

const LOGBACK = `<configuration>
  <appender name="stderr" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="stderr"/></root>
  <logger name="org.apache.tinkerpop.gremlin.server.GremlinServer" level="INFO"/>
</configuration>
`;

const INIT_SCRIPT = 'def globals = [:]\nglobals << [g : traversal().withEmbedded(graph)]\n';

/** Downloads Gremlin Server's classpath once; returns the folder of jars. */
export function installGremlinServer(): string {
  const home = join(SERVERS_DIR, `gremlin-server-${GREMLIN_VERSION}`);
  const lib = join(home, 'lib');
  if (existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('gremlin-server-'))) return lib;
  requireTool('java', 'a Java runtime (17 or later)');
  const mvn = requireTool('mvn', 'Apache Maven (it fetches Gremlin Server from Maven Central)');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'pom.xml'), POM);
  run(mvn, ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${lib}`], home, 'downloading Gremlin Server with Maven');
  return lib;
}

export interface GremlinServerOptions {
  readonly port?: number;
  /**
   * Keep the graph in this file between restarts (TinkerGraph writes it on a graceful stop and reads it on
   * start). Without it the graph lives in memory only.
   */
  readonly dataFile?: string;
  /**
   * Tune the JVM for throughput (benchmarks: full JIT, 2 GB heap) instead of start-up time (tests).
   */
  readonly throughput?: boolean;
}

export interface GremlinServer {
  readonly port: number;
  /** ws://127.0.0.1:PORT/gremlin */
  readonly endpoint: string;
  /** Stops the server (SIGTERM: TinkerGraph saves `dataFile`, if any). */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL: nothing is saved). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same settings. */
  restart(): Promise<void>;
}

export async function startGremlinServer(options: GremlinServerOptions = {}): Promise<GremlinServer> {
  const java = requireTool('java', 'a Java runtime (17 or later)');
  const lib = installGremlinServer();
  const port = options.port ?? (await freePort());
  const conf = join(SERVERS_DIR, 'run', `gremlin-${port}`);
  mkdirSync(conf, { recursive: true });
  const props = [
    'gremlin.graph=org.apache.tinkerpop.gremlin.tinkergraph.structure.TinkerTransactionGraph',
    'gremlin.tinkergraph.vertexIdManager=STRING',
    'gremlin.tinkergraph.edgeIdManager=STRING',
    // Required: with the default (LONG) every mergeV with a string T.id fails on its vertex properties.
    'gremlin.tinkergraph.vertexPropertyIdManager=UUID',
    'gremlin.tinkergraph.defaultVertexPropertyCardinality=set',
    ...(options.dataFile ? [`gremlin.tinkergraph.graphLocation=${options.dataFile}`, 'gremlin.tinkergraph.graphFormat=graphson'] : []),
  ];
  writeFileSync(join(conf, 'tinkergraph.properties'), props.join('\n') + '\n');
  writeFileSync(join(conf, 'init.groovy'), INIT_SCRIPT);
  writeFileSync(join(conf, 'logback.xml'), LOGBACK);
  writeFileSync(
    join(conf, 'gremlin-server.yaml'),
    `host: 127.0.0.1
port: ${port}
evaluationTimeout: 120000
maxContentLength: 10485760
graphs: { graph: ${join(conf, 'tinkergraph.properties')} }
scriptEngines:
  gremlin-groovy:
    plugins:
      org.apache.tinkerpop.gremlin.server.jsr223.GremlinServerGremlinPlugin: {}
      org.apache.tinkerpop.gremlin.tinkergraph.jsr223.TinkerGraphGremlinPlugin: {}
      org.apache.tinkerpop.gremlin.jsr223.ScriptFileGremlinPlugin: { files: [${join(conf, 'init.groovy')}] }
serializers:
  - { className: org.apache.tinkerpop.gremlin.util.ser.GraphBinaryMessageSerializerV1 }
  - { className: org.apache.tinkerpop.gremlin.util.ser.GraphSONMessageSerializerV3 }
`,
  );
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(
      java,
      [...(options.throughput ? ['-Xms512m', '-Xmx2g'] : ['-Xms64m', '-Xmx768m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1']), `-Dlogback.configurationFile=${join(conf, 'logback.xml')}`, '-cp', `${lib}/*`, 'org.apache.tinkerpop.gremlin.server.GremlinServer', join(conf, 'gremlin-server.yaml')],
      { cwd: conf, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    track(child);
    const output = captureOutput(child);
    await waitUntil(`Gremlin Server on port ${port}`, child, output, 90_000, async () => (await portOpen(port)) && (await gremlinAnswers(port)));
  };
  await launch();
  return {
    port,
    endpoint: `ws://127.0.0.1:${port}/gremlin`,
    stop: () => stopChild(child, 'SIGTERM'),
    kill: () => stopChild(child, 'SIGKILL'),
    restart: async () => {
      await stopChild(child, 'SIGTERM');
      await launch();
    },
  };
}

// ---------------------------------------------------------------------------------------------- moto

/** moto_server from PATH, else from a venv under .servers/ (created on first use). */
export function installMoto(): string {
  const fromEnv = process.env['KARMA_MOTO_SERVER'];
  if (fromEnv) return fromEnv;
  const venvBin = join(SERVERS_DIR, 'moto-venv', 'bin', 'moto_server');
  if (existsSync(venvBin)) return venvBin;
  const onPath = which('moto_server');
  if (onPath) return onPath;
  const python = which('python3') ?? which('python');
  if (!python) throw new ServerSetupError('python3 not found on PATH: install Python 3 (the tests run moto server from PyPI), or put moto_server on PATH');
  const venv = join(SERVERS_DIR, 'moto-venv');
  mkdirSync(SERVERS_DIR, { recursive: true });
  run(python, ['-m', 'venv', venv], SERVERS_DIR, 'creating a Python venv for moto');
  run(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', MOTO_REQUIREMENT], SERVERS_DIR, `pip install '${MOTO_REQUIREMENT}'`);
  return venvBin;
}

// ---------------------------------------------------------------------------------------------- schemathesis

/**
 * schemathesis's `st` (the OpenAPI fuzzer of test/integration/api-fuzz.test.ts), from a venv under .servers/
 * created on first use (pip install of the pinned version, ~20 s). $KARMA_SCHEMATHESIS names another `st`.
 */
export function ensureSchemathesis(): string {
  const fromEnv = process.env['KARMA_SCHEMATHESIS'];
  if (fromEnv) return fromEnv;
  const venv = join(SERVERS_DIR, 'schemathesis-venv');
  const st = join(venv, 'bin', 'st');
  if (existsSync(st)) return st;
  const python = which('python3') ?? which('python');
  if (!python) throw new ServerSetupError('python3 not found on PATH: install Python 3 (the API fuzz test runs schemathesis from PyPI), or set KARMA_SCHEMATHESIS to an st binary');
  mkdirSync(SERVERS_DIR, { recursive: true });
  run(python, ['-m', 'venv', venv], SERVERS_DIR, 'creating a Python venv for schemathesis');
  run(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', SCHEMATHESIS_REQUIREMENT], SERVERS_DIR, `pip install '${SCHEMATHESIS_REQUIREMENT}'`);
  return st;
}

export interface MotoServer {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startMotoServer(options: { port?: number } = {}): Promise<MotoServer> {
  const bin = installMoto();
  const port = options.port ?? (await freePort());
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const output = captureOutput(child);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntil(`moto server on port ${port}`, child, output, 60_000, async () => {
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`);
      return res.ok;
    } catch {
      return false;
    }
  });
  return { port, endpoint, stop: () => stopChild(child, 'SIGTERM') };
}

// ---------------------------------------------------------------------------------------------- CLI

/** Environment for an AWS SDK client talking to moto. */
export function motoEnv(endpoint: string): Record<string, string> {
  return { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv[2] ?? 'start';
  try {
    if (command === 'install') {
      console.log(`Gremlin Server classpath: ${installGremlinServer()}`);
      console.log(`moto_server: ${installMoto()}`);
      console.log(`schemathesis: ${ensureSchemathesis()}`);
    } else if (command === 'start') {
      const [gremlin, moto] = await Promise.all([startGremlinServer(), startMotoServer()]);
      console.log('Servers are up. In another shell:');
      for (const [k, v] of Object.entries({ ...motoEnv(moto.endpoint), KARMA_NEPTUNE_ENDPOINT: gremlin.endpoint })) console.log(`  export ${k}=${v}`);
      console.log('Ctrl-C stops them.');
      const stop = async (): Promise<void> => {
        await Promise.all([gremlin.stop(), moto.stop()]);
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    } else {
      console.error(`usage: node scripts/servers/servers.ts install|start`);
      process.exit(2);
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
