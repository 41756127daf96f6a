import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', '.harness/**', 'test/harness/image-files/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // prettier breaks code at 120; what it cannot break (long literals) must still stay under 160: build long
      // messages from parts. (max-len is deprecated in core but available until ESLint 11.)
      'max-len': ['error', { code: 160, ignoreUrls: true, ignoreRegExpLiterals: true }],
      // the engine builds argv arrays; a template literal that reaches a shell must be a constant script
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='exec']",
          message: 'spawn without a shell: use runProcess/Host.run with argv',
        },
      ],
    },
  },
  {
    // the engine's lower layers serve the operations and never call them (scripts/check-imports.mjs checks all layers)
    files: ['src/engine/{stack,release,database,observe}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/operations/*', '**/engine/index.js'],
              message: 'a lower engine layer must not import an operation',
            },
          ],
        },
      ],
    },
  },
);
