/**
 * The house rule, enforced: which layer may import which (docs/architecture.md). One ESLint rule,
 * `karma/layers`, that resolves every relative import — static `import`/`export … from` AND dynamic
 * `import('…')`, type-only imports included — to the file it names, finds the layer of both ends, and
 * reports an import the importing layer may not make, and any import of test/, scripts/ or bench/ from a
 * layer. Files outside every layer (test/, scripts/, bench/) are not checked; bare package names are left to `no-restricted-imports` (core's ban on I/O packages).
 *
 * Arrows point inward: entry points (bin, lambdas, lib/cli, lib/api, lib/service, web) → lib/app →
 * lib/ports.ts and lib/adapters → lib/core. The CDK code (lib/infra) shares only the pipeline contract.
 * lib/shared holds small generic helpers (bounded concurrency, backoff, zod issues) that import nothing of
 * Karma's and that every layer but bin and web may use.
 */
import { dirname, relative, resolve, sep } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/**
 * Every layer: where its files are (a folder ending in `/`, or one file) and the layers it may import (its
 * own files always). The first layer whose `path` matches a file is the file's layer, so the narrower
 * `contract` comes before `core`.
 */
export const LAYERS = [
  { name: 'shared', path: 'lib/shared/', may: [] },
  { name: 'contract', path: 'lib/core/pipeline-contract.ts', may: ['core', 'shared'] },
  { name: 'core', path: 'lib/core/', may: ['contract', 'shared'] },
  { name: 'ports', path: 'lib/ports.ts', may: ['core', 'contract'] },
  { name: 'adapters', path: 'lib/adapters/', may: ['core', 'contract', 'ports', 'shared'] },
  { name: 'app', path: 'lib/app/', may: ['core', 'contract', 'ports', 'adapters', 'shared'] },
  { name: 'cli', path: 'lib/cli/', may: ['core', 'contract', 'ports', 'app', 'api', 'service', 'shared'] },
  { name: 'api', path: 'lib/api/', may: ['core', 'contract', 'ports', 'app', 'shared'] },
  { name: 'service', path: 'lib/service/', may: ['core', 'contract', 'ports', 'app', 'api', 'shared'] },
  { name: 'infra', path: 'lib/infra/', may: ['contract', 'shared'] },
  { name: 'lambdas', path: 'lambdas/', may: ['core', 'contract', 'ports', 'app', 'api', 'shared'] },
  { name: 'bin', path: 'bin/', may: ['cli', 'infra'] },
  { name: 'web', path: 'web/', may: ['api'] },
];

/** Folders outside every layer that no layer may import: tests, scripts and benchmarks are not shipped. */
export const UNSHIPPED = ['test/', 'scripts/', 'bench/'];

/** The layer of a file (a path relative to ROOT with `/` separators), or undefined outside every layer. */
export function layerOf(file) {
  return LAYERS.find((l) => (l.path.endsWith('/') ? file.startsWith(l.path) : file === l.path));
}

function toRepoPath(absolute) {
  return relative(ROOT, absolute).split(sep).join('/');
}

/** `import x from 'S'`, `export … from 'S'`, `import('S')` with a literal S: the specifier, else undefined. */
function specifierOf(node) {
  const source = node.source;
  if (!source) return undefined;
  if (source.type === 'Literal' && typeof source.value === 'string') return source.value;
  if (source.type === 'TemplateLiteral' && source.expressions.length === 0) return source.quasis[0]?.value.cooked ?? undefined;
  return undefined;
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Each layer imports only the layers docs/architecture.md allows (arrows point inward).' },
    schema: [
      {
        type: 'object',
        properties: { alsoMay: { type: 'array', items: { enum: LAYERS.map((l) => l.name) } } },
        additionalProperties: false,
      },
    ],
    messages: {
      forbidden:
        '{{from}} may not import {{to}} ({{target}}): {{from}} may import only {{allowed}}. Arrows point inward: entry points → lib/app → lib/ports.ts and lib/adapters → lib/core (docs/architecture.md).',
      unshipped: '{{from}} may not import {{target}}: tests, scripts and benchmarks are not part of Karma; move what is shared into lib/.',
    },
  },
  create(context) {
    const file = toRepoPath(context.filename);
    const layer = layerOf(file);
    if (!layer) return {};
    const may = [...layer.may, ...(context.options[0]?.alsoMay ?? [])];
    const allowed = new Set([layer.name, ...may]);
    const check = (node) => {
      const spec = specifierOf(node);
      if (!spec || !spec.startsWith('.')) return;
      const target = toRepoPath(resolve(dirname(context.filename), spec));
      const to = layerOf(target);
      if (!to) {
        if (UNSHIPPED.some((dir) => target.startsWith(dir))) context.report({ node: node.source, messageId: 'unshipped', data: { from: layer.path, target } });
        return;
      }
      if (allowed.has(to.name)) return;
      context.report({
        node: node.source,
        messageId: 'forbidden',
        data: { from: layer.path, to: to.path, target, allowed: ['its own files', ...may.map((n) => LAYERS.find((l) => l.name === n).path)].join(', ') },
      });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default { rules: { layers: layersRule } };
