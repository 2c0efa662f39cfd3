import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'cdk.out/**', '.servers/**', 'examples/**/.terraform/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    // The house rule: core is pure. No AWS SDK, no gremlin, no fs, no process.
    files: ['lib/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:fs', 'node:fs/*', 'fs', 'fs/*', 'node:child_process', 'node:process'], message: 'lib/core is pure: do I/O in an adapter.' },
          { group: ['@aws-sdk/*', 'gremlin', 'isomorphic-git', 'node:sqlite'], message: 'lib/core never imports an adapter dependency.' },
          { group: ['**/adapters/**', '**/cli/**', '**/api/**', '**/infra/**'], message: 'Arrows point inward: core imports nothing outside lib/core.' },
        ],
      }],
      'no-restricted-globals': ['error', { name: 'process', message: 'lib/core is pure: pass values in.' }],
    },
  },
);
