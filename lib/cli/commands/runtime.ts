/**
 * `karma runtime ...`: look at and adopt runtime state.
 *
 *   record FILE   record applies made outside Karma (adopting existing stacks, seeding a demo): for each entry,
 *                 outputs and a state record exactly as Karma's own apply step writes them
 *   put NAME VAL  set a parameter (e.g. an external ${ssm:...} one), as a change made outside Karma would
 *   list          parameters under the prefix, and the external ones the config references, with versions
 *                 (SecureString values never printed)
 */
import { z } from 'zod';
import { ConfigError, UsageError, type Problem } from '../../core/errors.ts';
import { displayPath } from '../../core/documents.ts';
import { requireEnvironment } from '../../core/config.ts';
import type { ParameterType } from '../../core/runtime.ts';
import { findDeployment, recordApply, type ApplyRecord } from '../../app/record.ts';
import { runtimeListing } from '../../app/queries.ts';
import { plural, table } from '../format.ts';
import type { IO } from '../io.ts';
import { configLocation, openBackendFor, withConfig, type CommonOptions } from '../context.ts';
import { isGitUrl, readUserDocument, readUserStdin } from '../../app/open.ts';

const RecordFile = z
  .object({
    parameters: z
      .array(z.object({ name: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, 'must be an SSM path'), value: z.string(), type: z.enum(['String', 'StringList', 'SecureString']).default('String') }).strict())
      .default([]),
    applies: z
      .array(
        z
          .object({
            env: z.string(),
            component: z.string(),
            result: z.enum(['success', 'failed']).default('success'),
            outputs: z.record(z.string(), z.unknown()).optional(),
            error: z.string().optional(),
            at: z.string().datetime({ offset: true }).optional(),
            commit: z.string().optional(),
            inputs: z.record(z.string(), z.unknown()).optional(),
            drift: z.object({ drifted: z.boolean(), summary: z.string().optional(), checkedAt: z.string().optional() }).strict().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export async function runtimeRecord(options: CommonOptions & { file: string }, io: IO): Promise<number> {
  const location = configLocation(options);
  const doc = readUserDocument(options.file, {
    label: 'record file',
    expected: 'a JSON or YAML file of applies and parameters (see docs/cli.md)',
    ...(isGitUrl(location) ? {} : { repoRoot: location }),
  });
  const parsed = RecordFile.safeParse(doc.data);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i): Problem => {
        const path = i.path.filter((s): s is string | number => typeof s !== 'symbol');
        return { file: options.file, line: doc.lineOf(path), message: `${displayPath(path) || '(document)'}: ${i.message}` };
      }),
    );
  }
  const config = await withConfig(options);
  // Check every entry before writing anything.
  const problems: Problem[] = [];
  parsed.data.applies.forEach((a, i) => {
    try {
      const d = findDeployment(config, a.env, a.component);
      const def = config.components.get(d.component)!;
      for (const name of Object.keys(a.outputs ?? {})) {
        if (!def.outputs.includes(name)) throw new UsageError(`${a.component} has no output "${name}"; it declares ${def.outputs.join(', ') || 'none'}`);
      }
    } catch (error) {
      problems.push({ file: options.file, line: doc.lineOf(['applies', i]), message: `applies[${i}]: ${(error as Error).message}` });
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const backend = await openBackendFor(config, options, true, io);
  try {
    for (const p of parsed.data.parameters) await backend.runtime.put(p.name, p.value, { type: p.type as ParameterType, overwrite: true });
    for (const a of parsed.data.applies) {
      const record: ApplyRecord = {
        env: a.env,
        component: a.component,
        result: a.result,
        ...(a.outputs ? { outputs: a.outputs } : {}),
        ...(a.error ? { error: a.error } : {}),
        ...(a.at ? { appliedAt: a.at } : {}),
        ...(a.commit ? { commit: a.commit } : {}),
        ...(a.inputs ? { inputs: a.inputs } : {}),
        ...(a.drift ? { drift: a.drift } : {}),
      };
      await recordApply(config, backend.runtime, record);
    }
  } finally {
    await backend.close();
  }
  const summary = { parameters: parsed.data.parameters.length, applies: parsed.data.applies.length };
  io.out(options.json ? JSON.stringify({ recorded: summary }) : `recorded ${plural(summary.applies, 'apply', 'applies')} and ${plural(summary.parameters, 'parameter')}`);
  return 0;
}

/** `karma runtime put NAME -`: the value comes from standard input (out of shell history and process lists). */
export const STDIN_VALUE = '-';

/** The value to put: the argument, or standard input for `-` (one trailing newline dropped, as `echo` adds one). */
function valueToPut(options: { value: string }, io: IO, json: boolean): string {
  if (options.value !== STDIN_VALUE) return options.value;
  if (io.stdinIsTTY && !json) io.err('… reading the value from standard input (end it with Ctrl-D)');
  const bytes = (io.readStdin ?? readUserStdin)('runtime put NAME -');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError('runtime put NAME -: standard input is not valid UTF-8; pipe the value as UTF-8 text');
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new UsageError('runtime put NAME -: standard input is empty; pipe the value (e.g. karma runtime put NAME - < value.txt)');
  return value;
}

export async function runtimePut(options: CommonOptions & { name: string; value: string; type?: ParameterType }, io: IO): Promise<number> {
  if (!/^\/[A-Za-z0-9_.\-/]+$/.test(options.name)) throw new UsageError(`parameter name "${options.name}" is not an SSM path (it must start with /)`);
  const value = valueToPut(options, io, options.json === true);
  const config = await withConfig(options);
  const backend = await openBackendFor(config, options, true, io);
  try {
    const { version } = await backend.runtime.put(options.name, value, { type: options.type ?? 'String', overwrite: true });
    io.out(options.json ? JSON.stringify({ name: options.name, version }) : `${options.name} is now at version ${version}`);
    return 0;
  } catch (error) {
    throw withoutValue(error, value);
  } finally {
    await backend.close();
  }
}

/** A store's error that quotes the value (some AWS validation messages do) → the same error without it. */
function withoutValue(error: unknown, value: string): unknown {
  if (!(error instanceof Error) || value.length < 3 || !error.message.includes(value)) return error;
  error.message = error.message.split(value).join('(value not shown)');
  delete error.stack;
  return error;
}

export async function runtimeList(options: CommonOptions & { env?: string }, io: IO): Promise<number> {
  const config = await withConfig(options);
  if (options.env !== undefined) requireEnvironment(config, options.env);
  const backend = await openBackendFor(config, options, false, io);
  try {
    const listing = await runtimeListing(config, backend.runtime, options.env);
    if (options.json) {
      io.out(JSON.stringify(listing));
      return 0;
    }
    const cut = (value: string): string => (value.length > 80 ? `${value.slice(0, 77)}...` : value);
    io.out(table(['NAME', 'VERSION', 'TYPE', 'VALUE'], listing.parameters.map((p) => [p.name, String(p.version), p.type, cut(p.value)])));
    if (listing.external.length > 0) {
      io.out(`\nexternal parameters the config references${options.env ? ` in ${options.env}` : ''}:`);
      io.out(
        table(
          ['NAME', 'VERSION', 'TYPE', 'VALUE', 'USED BY'],
          listing.external.map((p) => [
            p.name,
            p.version === null ? '-' : String(p.version),
            p.type ?? '-',
            p.value === null ? '(missing)' : cut(p.value),
            p.usedBy.map((u) => (options.env ? u.component : `${u.env}/${u.component}`)).join(', '),
          ]),
        ),
      );
    }
    return 0;
  } finally {
    await backend.close();
  }
}
