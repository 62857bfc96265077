import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'test/guests/bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-constant-condition': ['error', { checkLoops: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-fallthrough': 'off',
      'no-case-declarations': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'cli/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['engine/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'performance', 'process'],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'engine/ is deterministic: no Math.random' },
        { object: 'Date', property: 'now', message: 'engine/ reads no host time' }],
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'path', 'os', 'net', 'child_process', '../../faults/*', '../faults/*'] }],
    },
  },
);
