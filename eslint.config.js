import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import karma from './lint/layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.servers/**', 'examples/**/.terraform/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    // The layers (docs/architecture.md): which folder may import which, static and dynamic imports alike.
    plugins: { karma },
    rules: { 'karma/layers': 'error' },
  },
  {
    // Core is pure: besides importing nothing outside lib/core and lib/shared (karma/layers), no I/O and no
    // adapter library.
    files: ['lib/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:fs', 'node:fs/*', 'fs', 'fs/*', 'node:child_process', 'node:process', 'node:sqlite'], message: 'lib/core is pure: do I/O in an adapter.' },
          { group: ['@aws-sdk/*', '@smithy/*', 'gremlin', 'isomorphic-git', 'aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'], message: 'lib/core never imports an adapter or CDK dependency.' },
        ],
      }],
      'no-restricted-globals': ['error', { name: 'process', message: 'lib/core is pure: pass values in.' }],
    },
  },
);
