import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', '.harness/**', 'test/harness/image-files/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // the engine builds argv arrays; a template literal that reaches a shell must be a constant script
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.name='exec']", message: 'spawn without a shell: use runProcess/Host.run with argv' }],
    },
  },
);
