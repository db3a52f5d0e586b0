// Lint, with the folder boundaries of STYLE.md §1 enforced as import rules.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const electronAndHosts = (from) => [
  { group: ['electron', 'electron/*'], message: `${from} never imports Electron; only main/ and preload/ do.` },
  { group: ['**/main/*', '**/main', '../main/**'], message: `${from} never imports the Electron host (main/).` },
  { group: ['**/preload/*', '../preload/**'], message: `${from} never imports the preloads.` },
  { group: ['**/renderer/*', '../renderer/**'], message: `${from} never imports the renderer.` },
]

export default tseslint.config(
  { ignores: ['dist/**', 'release/**', 'node_modules/**', 'assets/build/**', '.native/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: electronAndHosts('core/') }],
    },
  },
  {
    files: ['renderer/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'The renderer runs in a browser: no Node built-ins.' },
            { group: ['electron', 'electron/*'], message: 'The renderer sees only window.p2pds.' },
            { group: ['**/core/**', '**/main/**', '**/preload/**'], allowTypeImports: true, message: 'The renderer imports core only as types (import type).' },
          ],
        },
      ],
    },
  },
  {
    files: ['preload/browser.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
)
