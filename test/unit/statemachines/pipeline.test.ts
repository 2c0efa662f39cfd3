import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { APPLY_STATE, CODEBUILD_SUBSTITUTION, FUNCTION_SUBSTITUTIONS, HANDLER_NAMES } from '../../../lib/core/pipeline-contract.ts';
import { dagOf } from '../../../lib/core/dag.ts';
import { normalize } from '../../../lib/app/pipeline/steps.ts';
import { PIPELINE_DEFINITION, loadDefinition, substitute, taskStates } from '../../../lib/adapters/stepfunctions/local-runner.ts';
import { config } from '../../support/config.ts';

const text = readFileSync(PIPELINE_DEFINITION, 'utf8');

describe('statemachines/pipeline.asl.json', () => {
  it('is valid Amazon States Language (asl-validator), before and after substitution', () => {
    // Act
    const raw = aslValidator(JSON.parse(text));
    const substituted = aslValidator(loadDefinition());
    // Assess
    expect(raw.errors).toEqual([]);
    expect(raw.isValid).toBe(true);
    expect(substituted.isValid).toBe(true);
  });

  it('every Task maps to a step handler or to the CodeBuild apply, and every placeholder has a value', () => {
    const placeholders = [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))].sort();
    expect(placeholders).toEqual([...Object.keys(FUNCTION_SUBSTITUTIONS), CODEBUILD_SUBSTITUTION].sort());
    expect(new Set(Object.values(FUNCTION_SUBSTITUTIONS))).toEqual(new Set(HANDLER_NAMES));
    const tasks = taskStates(JSON.parse(text) as Record<string, unknown>);
    for (const [state, resource] of tasks) {
      if (state === APPLY_STATE) expect(resource).toBe('arn:aws:states:::codebuild:startBuild.sync');
      else expect(Object.keys(FUNCTION_SUBSTITUTIONS)).toContain(/^\$\{(.+)\}$/.exec(resource)?.[1]);
    }
    expect([...tasks.keys()].sort()).toEqual(['AcquireLock', 'ApplyComponent', 'Build', 'Normalize', 'PlanWave', 'RecordWave', 'ReleaseLock', 'ReleaseLockOnError', 'Summarize']);
  });

  it('every Task has an explicit timeout, a Retry and a Catch', () => {
    const walk = (states: Record<string, Record<string, unknown>>): void => {
      for (const [name, s] of Object.entries(states)) {
        if (s['Type'] === 'Task') {
          expect(s['TimeoutSeconds'], name).toBeTypeOf('number');
          expect(s['Retry'], name).toBeInstanceOf(Array);
          expect(s['Catch'], name).toBeInstanceOf(Array);
        }
        const inner = (s['ItemProcessor'] as { States?: Record<string, Record<string, unknown>> } | undefined)?.States;
        if (inner) walk(inner);
      }
    };
    walk((JSON.parse(text) as { States: Record<string, Record<string, unknown>> }).States);
  });

  it('a missing substitution is an error naming the placeholder', () => {
    expect(() => substitute('{"a":"${Nope}"}', {})).toThrow('state machine definition: no value for placeholder ${Nope}');
  });
});

describe('Normalize', () => {
  it('accepts what an operator pastes in the console and applies defaults', () => {
    expect(normalize({ input: { env: 'karma-dev', mode: 'apply' }, executionId: 'x' })).toEqual({ run: { executionId: 'x', trigger: 'manual', mode: 'apply', env: 'karma-dev' } });
    expect(normalize({ input: { trigger: 'schedule' }, executionId: 'x' }).run.mode).toBe('drift');
    expect(normalize({ input: {}, executionId: 'x' }).run).toEqual({ executionId: 'x', trigger: 'manual', mode: 'apply' });
  });

  it('rejects bad input with one message naming the field', () => {
    expect(() => normalize({ input: { env: 'Karma Dev', trigger: 'cron', extra: 1 }, executionId: 'x' })).toThrow(
      'invalid execution input: trigger: Invalid option: expected one of "ssm-change"|"git-push"|"schedule"|"manual"; env: must be a component or environment name; unknown field "extra". Expected e.g. {"env":"karma-dev","mode":"apply"} (fields: trigger, env, components, mode, ref, commit, parameter, lockTimeout, event)',
    );
  });
});

describe('environment order', () => {
  it('puts an environment before the ones that consume its outputs, ties by name', () => {
    const cfg = config(['a-dev', 'b-shared', 'c-prod'], {
      dns: { outputs: ['zone'], in: { 'b-shared': {} } },
      site: { outputs: [], in: { 'a-dev': { z: '${env:b-shared/dns.zone}' }, 'c-prod': { z: '${env:b-shared/dns.zone}' } } },
    });
    expect(dagOf(cfg).environmentOrder(['a-dev', 'b-shared', 'c-prod'])).toEqual(['b-shared', 'a-dev', 'c-prod']);
  });
});
