/**
 * Error names are a contract: the state machine matches them (ErrorEquals), `--json` prints them, and the Lambda
 * bundles are minified, so a class name is not an error name there. Every error class in lib/ sets a literal
 * `name`; this test finds them all by reading the sources (a new class is covered without editing this file),
 * loads each module and checks the name an instance really carries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KarmaError } from '../../lib/core/errors.ts';
import { MATCHED_ERRORS, PIPELINE_ERRORS, errorEqualsNames, unknownMatchedErrors } from '../../lib/core/pipeline-contract.ts';
import { PIPELINE_DEFINITION, loadDefinition } from '../../lib/adapters/stepfunctions/local-runner.ts';

const LIB = join(import.meta.dirname, '..', '..', 'lib');

interface ErrorClass {
  readonly file: string;
  readonly name: string;
  readonly body: string;
  readonly exported: boolean;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every `class X extends <something>Error` in lib/, with its body (up to the class's closing brace). */
function errorClasses(): ErrorClass[] {
  const out: ErrorClass[] = [];
  for (const file of sources(LIB)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(export )?class (\w+) extends (\w*Error)\b[^{]*\{(\}|[\s\S]*?\n\})/gm)) {
      out.push({ file, name: m[2]!, body: m[4]!, exported: m[1] !== undefined });
    }
  }
  return out;
}

/** Constructors that take more than a message. */
const FACTORIES: Record<string, (C: new (...args: never[]) => Error) => Error> = {
  ConfigError: (C) => new (C as unknown as new (p: unknown[]) => Error)([{ file: 'karma.yaml', message: 'bad' }]),
  LockHeldError: (C) =>
    new (C as unknown as new (l: unknown, s: string) => Error)({ name: 'env-dev', owner: 'x', acquiredAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T00:00:00.000Z' }, 'alive'),
  NotFoundError: (C) => new (C as unknown as new (m: string, f: unknown) => Error)('unknown environment "qa"', { kind: 'environment', value: 'qa', known: [] }),
  TerraformError: (C) => new (C as unknown as new (m: string, c: string, x: number) => Error)('failed', 'terraform apply', 1),
};

/** The one error whose name is deliberately not its class name: what Step Functions reports for a failed build. */
const ALIASED: Record<string, string> = { ComponentFailedError: 'States.TaskFailed', ComponentTimedOutError: 'States.Timeout' };
/** Not errors anyone sees: thrown and caught inside one module. */
const INTERNAL = new Set(['NotSimple']);

describe('error names', () => {
  const classes = errorClasses();

  it('finds the error classes (the scan itself works)', () => {
    const names = classes.map((c) => c.name);
    for (const n of ['KarmaError', 'StoreError', 'InvalidInputError', 'ParameterExistsError', 'TerraformError']) expect(names).toContain(n);
  });

  it('every error class in lib/ sets its name as a string literal in its own body', () => {
    for (const c of classes.filter((x) => !INTERNAL.has(x.name) || x.exported)) {
      const expected = ALIASED[c.name] ?? c.name;
      const literal = new RegExp(`(readonly name(: string)? = |this\\.name = )'${expected.replace('.', '\\.')}'`);
      expect(literal.test(c.body), `${relative(LIB, c.file)}: class ${c.name} must set name = '${expected}' (a literal: minified bundles rename classes)`).toBe(true);
    }
  });

  it("every exported KarmaError subclass's instances carry that name, whatever the class is called at run time", async () => {
    let checked = 0;
    for (const c of classes.filter((x) => x.exported)) {
      const mod = (await import(pathToFileURL(c.file).href)) as Record<string, unknown>;
      const C = mod[c.name] as (new (...args: never[]) => Error) | undefined;
      expect(C, `${c.name} is exported by ${relative(LIB, c.file)}`).toBeTypeOf('function');
      if (!(C!.prototype instanceof KarmaError) && C !== KarmaError) continue;
      const instance = (FACTORIES[c.name] ?? ((K) => new (K as unknown as new (m: string) => Error)('message')))(C!);
      // Rename the class as a minifier would: the name must not follow.
      Object.defineProperty(C!, 'name', { value: 'Nu' });
      try {
        const renamed = (FACTORIES[c.name] ?? ((K) => new (K as unknown as new (m: string) => Error)('message')))(C!);
        expect(renamed.name, `${c.name} renamed`).toBe(c.name);
      } finally {
        Object.defineProperty(C!, 'name', { value: c.name });
      }
      expect(instance.name).toBe(c.name);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(14);
  });
});

describe('the pipeline contract (lib/core/pipeline-contract.ts) and the ASL', () => {
  const definition = JSON.parse(readFileSync(PIPELINE_DEFINITION, 'utf8')) as Record<string, unknown>;

  it("MATCHED_ERRORS is exactly the Karma errors the ASL's Retry and Catch name", () => {
    const karmaNames = errorEqualsNames(definition).filter((n) => !/^(States|Lambda|CodeBuild)\./.test(n));
    expect(karmaNames).toEqual([...MATCHED_ERRORS].sort());
    expect(unknownMatchedErrors(definition)).toEqual([]);
  });

  it("the Fail states raise the contract's names", () => {
    const states = definition['States'] as Record<string, { Type: string; Error?: string }>;
    const failErrors = Object.values(states).filter((s) => s.Type === 'Fail' && s.Error).map((s) => s.Error);
    expect(failErrors.sort()).toEqual([PIPELINE_ERRORS.componentsFailed, PIPELINE_ERRORS.invalidInput, PIPELINE_ERRORS.lockTimeout].sort());
  });

  it('a definition that retries an error outside the contract is refused, naming it', () => {
    const text = readFileSync(PIPELINE_DEFINITION, 'utf8').replace('"StoreError"', '"StorError"');
    expect(() => loadDefinition(text)).toThrow(/ErrorEquals names StorError, which lib\/core\/pipeline-contract.ts \(MATCHED_ERRORS\) does not list/);
  });
});
