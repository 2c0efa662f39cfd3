/**
 * The reference grammar (docs/config.md): `${component.output}`, `${env:<env>/<component>.<output>}`,
 * `${ssm:/path}`, and `$${` for a literal `${`. Anything else that opens with `${` is an error, never text that
 * silently reaches Terraform.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/core/config.ts';
import { findReferences, resolveReferences, splitTemplate } from '../../../lib/core/references.ts';
import { chainRepo } from '../../helpers/deep-repos.ts';
import { files } from '../../support/config.ts';

const FORMS = 'use ${component.output}, ${env:<env>/<component>.<output>} or ${ssm:/path} (write $${...} for a literal)';

describe('unterminated and malformed references are problems', () => {
  it.each([
    ['${a.o', `"\${a.o" is not closed: a reference ends with "}"; ${FORMS}`],
    ['abc${', `"\${" is not closed: a reference ends with "}"; ${FORMS}`],
    ['${a.o}-${b.o', `"\${b.o" is not closed: a reference ends with "}"; ${FORMS}`],
    ['$${a.o}-${', `"\${" is not closed: a reference ends with "}"; ${FORMS}`],
    [`\${${'x'.repeat(100)}`, `"\${${'x'.repeat(58)}…" is not closed: a reference ends with "}"; ${FORMS}`],
    ['${}', `"\${}" is not a reference Karma understands: ${FORMS}`],
    ['${a.${b.o}}', `"\${a.\${b.o}" is not a reference Karma understands: ${FORMS}`],
    ['${a.o.p}', `"\${a.o.p}" is not a reference Karma understands: ${FORMS}`],
    ['${env:Dev/a.o}', '"${env:Dev/a.o}" names an invalid environment "Dev": write ${env:<env>/<component>.<output>} with a name from karma.yaml'],
  ])('%s → one problem', (value, message) => {
    // Act
    const found = findReferences({ x: value }, 'dev');

    // Assess
    expect(found).toEqual({ references: [], problems: [{ at: 'x', path: ['x'], message }] });
  });

  it('a reference in an object key is a problem (keys reach Terraform as written)', () => {
    // Act
    const found = findReferences({ tags: { '${a.o}': 'v' } }, 'dev');

    // Assess
    expect(found.problems).toEqual([
      { at: 'tags.${a.o}', path: ['tags', '${a.o}'], message: 'the key "${a.o}" holds a reference, but keys are passed to Terraform as written; move the reference into a value' },
    ]);
  });

  it('parseConfig reports an unterminated reference with file and line, and does not accept the config', () => {
    // Prepare
    const repo = { ...chainRepo(2), 'environments/dev/c1.json': '{\n  "name": "n",\n  "x": "${c0.o"\n}\n' };

    // Act
    const act = () => parseConfig(files(repo), { source: 'test' });

    // Assess
    expect(act).toThrow(`environments/dev/c1.json:3: x: "\${c0.o" is not closed: a reference ends with "}"; ${FORMS}`);
  });
});

describe('what stays valid', () => {
  it('$${ is the escape for a literal ${, closed or not; a lone } is text', () => {
    // Act
    const found = findReferences({ a: '$${not.a.ref}', b: 'cost: $${', c: 'a } b', d: '$$${a.o}', e: '100$' }, 'dev');
    const resolved = resolveReferences({ a: '$${not.a.ref}', b: 'cost: $${', c: 'a } b', d: '$$${a.o}' }, 'dev', () => 'V');

    // Assess
    expect(found.problems).toEqual([]);
    expect(found.references).toEqual([]);
    expect(resolved).toEqual({ a: '${not.a.ref}', b: 'cost: ${', c: 'a } b', d: '$${a.o}' });
  });

  it('splitTemplate: text, references and escapes in order', () => {
    // Act
    const pieces = splitTemplate('x-${a.o}$${b}-${ ssm:/p }');

    // Assess
    expect(pieces).toEqual([
      { kind: 'text', text: 'x-' },
      { kind: 'reference', text: '${a.o}', body: 'a.o' },
      { kind: 'text', text: '${b}-' },
      { kind: 'reference', text: '${ ssm:/p }', body: ' ssm:/p ' },
    ]);
  });

  it('resolve: a whole-string reference keeps its value, embedded ones are interpolated next to escapes', () => {
    // Prepare
    const lookup = (r: { kind: string }) => (r.kind === 'ssm' ? ['l', 1] : 'vpc-1');

    // Act
    const resolved = resolveReferences({ whole: '${ssm:/p}', mixed: '$${x}-${a.o}-${ssm:/p}' }, 'dev', lookup);

    // Assess
    expect(resolved).toEqual({ whole: ['l', 1], mixed: '${x}-vpc-1-["l",1]' });
  });
});
