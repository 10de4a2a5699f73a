import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'generated/**', 'node_modules/**', '.stack/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    files: ['**/*.ts'],
    // Type-aware rules (no-floating-promises) read the types through the project's tsconfig.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
      // Types come in through `import type`: what a module loads at run time is visible at a glance.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'separate-type-imports' }],
      // A promise nobody awaits loses its failure: await it, or say `void` on purpose.
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    // The API process never loads workflow code: it starts workflows by name, with their types only.
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows', '**/workflows/*'], allowTypeImports: true, message: 'The API starts workflows by name: import workflows as types only (import type).' }] },
      ],
    },
  },
  {
    // Scripts and tests may print.
    files: ['stack/**', 'bench/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The workflow bundle must stay deterministic: no I/O, no config, activities as types only.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
          patterns: [
            { group: ['@prisma/*', '*/generated/*', 'pg', 'pg-*'], message: 'Database access belongs in activities.' },
            { group: ['@platformatic/*', '@confluentinc/*', 'kafkajs'], message: 'Kafka belongs in activities and the relay.' },
            { group: ['*/config', '../config', './config'], message: 'Config is read by processes, and passed to workflows as input.' },
            { group: ['express', 'undici', 'axios', 'node-fetch'], message: 'HTTP belongs in activities.' },
            { group: ['**/activities', '**/activities/*'], allowTypeImports: true, message: 'Import activities as types only (import type).' },
          ],
        },
      ],
    },
  },
);
