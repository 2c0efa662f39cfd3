/**
 * The service image's Dockerfile and .dockerignore, checked without Docker (there is none on these machines; the
 * image is not built in CI: docs/deploy-service.md). The Dockerfile is parsed into instructions per stage, and
 * the rules that make the image safe and runnable are asserted: pinned base images, no remote ADD, a non-root
 * USER before the command, no secret in ENV or ARG, a checksum-verified Terraform download, every directory Karma
 * writes on a VOLUME (the root filesystem is read-only in ECS), the health check with node, and the layout the
 * CLI bundle expects. The .dockerignore allow-list is checked with CDK's Docker ignore matching against every
 * file the real esbuild build of the CLI reads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT } from '../../../lib/cli/commands/serve.ts';
import { livenessCommand, SERVICE_PORT, SERVICE_USER, STOP_TIMEOUT_SECONDS, WRITABLE_PATHS } from '../../../lib/infra/service.ts';
import { buildCli, DIST, rewriteRuntimeUrls, ROOT } from '../../../scripts/build.ts';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}
interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions (continuation lines joined, comments dropped), the global ARGs and the stages. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*(#|$)/.test(line)) return;
    if (pending !== '' && /^\s*#/.test(line)) return; // a comment inside a continued instruction
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = (pending + line).trim();
    pending = '';
    const [, keyword, args] = /^(\S+)\s*(.*)$/s.exec(whole)!;
    instructions.push({ keyword: keyword!.toUpperCase(), args: args!.trim(), line: start });
  });
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [, from, name] = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stages.push({ from: from!, name, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [k, v] = ins.args.split('=');
        args.set(k!, v ?? '');
      }
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

/** An instruction's exec form (JSON array), or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : undefined;
}

/** ENV's pairs: `K=V K2="V 2"` (the only form used). */
function envPairs(args: string): [string, string][] {
  return [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]);
}

const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const { args: globalArgs, stages } = parseDockerfile(DOCKERFILE);
const runtime = stages.at(-1)!;
const all = stages.flatMap((s) => s.instructions);
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile', () => {
  it('parses into named build stages and an unnamed runtime stage', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'terraform', undefined]);
  });

  it('pins every base image to a tag (never latest, never untagged): node:24-bookworm-slim', () => {
    const names = new Set(stages.map((s) => s.name).filter(Boolean));
    for (const s of stages) {
      const image = s.from.replace(/^\$\{(\w+)\}$/, (_, k: string) => globalArgs.get(k) ?? '');
      if (names.has(image)) continue;
      expect(image, s.from).toMatch(/^[\w./-]+:[\w.-]+(@sha256:[0-9a-f]{64})?$/);
      expect(image).not.toMatch(/:latest\b/);
      expect(image).toBe('node:24-bookworm-slim');
    }
  });

  it('has no ADD (no remote URL, no archive auto-extraction): COPY only', () => {
    expect(all.filter((i) => i.keyword === 'ADD')).toEqual([]);
    expect(DOCKERFILE).not.toMatch(/^\s*ADD\s+https?:/im);
  });

  it('runs as a non-root user (uid 10001) set before ENTRYPOINT and CMD, the user ECS runs it as', () => {
    const users = of(runtime, 'USER');
    expect(users).toHaveLength(1);
    const user = users[0]!;
    expect(user.args).toBe(SERVICE_USER);
    expect(user.args.split(':')[0]).not.toMatch(/^(0|root)$/);
    for (const keyword of ['ENTRYPOINT', 'CMD', 'HEALTHCHECK']) {
      const ins = of(runtime, keyword);
      expect(ins, keyword).toHaveLength(1);
      expect(ins[0]!.line, keyword).toBeGreaterThan(user.line);
    }
    // The runtime stage installs nothing after switching user, and nothing with a package manager at all.
    expect(of(runtime, 'RUN').map((r) => r.args).join('\n')).not.toMatch(/apt-get|apk |curl|wget/);
  });

  it('exposes the service port, stops with SIGTERM, checks /healthz with node (no curl)', () => {
    expect(of(runtime, 'EXPOSE').map((i) => i.args)).toEqual([String(SERVICE_PORT)]);
    expect(SERVICE_PORT).toBe(DEFAULT_PORT);
    expect(of(runtime, 'STOPSIGNAL').map((i) => i.args)).toEqual(['SIGTERM']);
    const health = of(runtime, 'HEALTHCHECK')[0]!.args;
    const [, options, command] = /^((?:--\S+\s+)*)CMD\s+(.*)$/s.exec(health)!;
    expect(options).toMatch(/--interval=\d+s/);
    // The same command ECS's container health check runs (lib/infra/service.ts).
    expect(['CMD', ...execForm(command!)!]).toEqual(livenessCommand());
    expect(health).not.toMatch(/curl|wget/);
    expect(STOP_TIMEOUT_SECONDS).toBeLessThanOrEqual(120); // Fargate's maximum stopTimeout
  });

  it('starts the CLI bundle: ENTRYPOINT node /app/dist/karma.js, CMD serve on every interface', () => {
    expect(execForm(of(runtime, 'ENTRYPOINT')[0]!.args)).toEqual(['node', '/app/dist/karma.js']);
    expect(execForm(of(runtime, 'CMD')[0]!.args)).toEqual(['serve', '--host', '0.0.0.0']);
  });

  it('puts the run-time files where the bundle looks for them: dist/ beside statemachines/ and node_modules/', () => {
    const copies = of(runtime, 'COPY').map((c) => c.args);
    const workdir = of(runtime, 'WORKDIR')[0]!.args;
    expect(workdir).toBe('/app');
    const target = (src: string) => {
      const c = copies.find((a) => a.split(/\s+/).at(-2) === src);
      expect(c, src).toBeDefined();
      return resolve(workdir, c!.split(/\s+/).at(-1)!);
    };
    const dist = target('/src/dist');
    expect(dist).toBe('/app/dist');
    expect(target('/app/node_modules')).toBe('/app/node_modules');
    // The bundle reads the ASL file at the path scripts/build.ts rewrote, relative to dist/.
    const rewritten = rewriteRuntimeUrls("new URL('../../../statemachines/pipeline.asl.json', import.meta.url)", join(ROOT, 'lib', 'adapters', 'stepfunctions', 'x.ts'));
    const relativePath = /new URL\("([^"]+)"/.exec(rewritten)![1]!;
    expect(target('/src/statemachines/pipeline.asl.json')).toBe(resolve(dist, relativePath));
    expect(relative(ROOT, DIST)).toBe('dist');
    // Terraform (Go) verifies the provider registry with the system CA bundle, which the slim base lacks.
    expect(target('/etc/ssl/certs/ca-certificates.crt')).toBe('/etc/ssl/certs/ca-certificates.crt');
    // Every COPY in the runtime stage copies from a build stage: nothing from the build context reaches it.
    for (const c of copies) expect(c, c).toMatch(/^--from=(build|deps|terraform)\s/);
  });

  it('has no secret in ENV or ARG', () => {
    const pairs = [
      ...all.filter((i) => i.keyword === 'ENV').flatMap((i) => envPairs(i.args)),
      ...[...globalArgs.entries()],
      ...all.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]),
    ];
    expect(pairs.length).toBeGreaterThan(5);
    for (const [name, value = ''] of pairs) {
      expect(name, name).not.toMatch(/TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE/i);
      expect(value, name).not.toMatch(/AKIA[0-9A-Z]{16}|karma_[\w-]{20,}|-----BEGIN/);
    }
  });

  it('downloads Terraform pinned by version and checks its sha256 before unpacking it', () => {
    const tf = stages.find((s) => s.name === 'terraform')!;
    const args = new Map(of(tf, 'ARG').map((a) => a.args.split('=') as [string, string]));
    expect(args.get('TERRAFORM_VERSION')).toMatch(/^\d+\.\d+\.\d+$/);
    expect(args.get('TERRAFORM_SHA256_ARM64')).toMatch(/^[0-9a-f]{64}$/);
    expect(args.get('TERRAFORM_SHA256_AMD64')).toMatch(/^[0-9a-f]{64}$/);
    const download = of(tf, 'RUN').find((r) => r.args.includes('curl -f'))!;
    const order = ['curl -f', 'sha256sum -c', 'unzip -q'].map((step) => download.args.indexOf(step));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(download.args).toMatch(/set -eu/);
  });

  it('keeps every directory Karma and Terraform write on a VOLUME (ECS runs it with a read-only root filesystem)', () => {
    const volumes = execForm(of(runtime, 'VOLUME')[0]!.args)!;
    expect(volumes.sort()).toEqual(Object.values(WRITABLE_PATHS).sort());
    const env = new Map(of(runtime, 'ENV').flatMap((i) => envPairs(i.args)));
    const writable = ['HOME', 'TMPDIR', ...[...env.keys()].filter((k) => /^KARMA_\w+_DIR$|^KARMA_SNAPSHOTS$/.test(k))];
    expect(writable.length).toBeGreaterThanOrEqual(5);
    for (const name of writable) {
      const value = env.get(name);
      expect(value, name).toBeDefined();
      expect(volumes.some((v) => value === v || value!.startsWith(`${v}/`)), `${name}=${value}`).toBe(true);
    }
    expect(env.get('CHECKPOINT_DISABLE')).toBe('1');
  });
});

describe('.dockerignore', () => {
  it('lets through every source file the CLI build reads, and keeps node_modules, dist and tests out', async () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignore = IgnoreStrategy.docker(ROOT, patterns);
    const outdir = mkdtempSync(join(tmpdir(), 'karma-dist-'));
    try {
      const meta = await buildCli({ outdir });
      const inputs = Object.keys(meta.inputs)
        .map((p) => resolve(ROOT, p))
        .filter((p) => p.startsWith(`${ROOT}/`) && !p.includes('/node_modules/'));
      expect(inputs.length).toBeGreaterThan(50);
      for (const file of inputs) expect(ignore.ignores(file), relative(ROOT, file)).toBe(false);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
    for (const needed of ['package.json', 'package-lock.json', 'scripts/build.ts', 'statemachines/pipeline.asl.json', 'Dockerfile']) {
      expect(ignore.ignores(join(ROOT, needed)), needed).toBe(false);
    }
    for (const kept of ['node_modules/zod/package.json', 'dist/karma.js', 'cdk.out/manifest.json', 'test/infra/service.test.ts', 'lib/core/graph.test.ts', '.git/HEAD', '.karma/x', 'docs/api.md']) {
      expect(ignore.ignores(join(ROOT, kept)), kept).toBe(true);
    }
  }, 60_000);
});
