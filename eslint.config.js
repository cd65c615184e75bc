// ESLint flat config. Besides typescript-eslint's recommended rules it enforces the project's
// layers: protocols/ imports nothing of ours, actors/ are pure (no runtime/, no NATS, no I/O,
// no wall clock or randomness; only *.machine.ts files import xstate), runtime/ never imports cmd/
// or api/, and examples/ import only the package's entry points.
//
// Note: in a flat config a rule set by a later matching object replaces the earlier setting
// entirely (options are not merged), so each layer's object lists its full set of restrictions.
import { builtinModules } from 'node:module';
import { builtinRules } from 'eslint/use-at-your-own-risk';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** ESLint's own recommended rules (the set `@eslint/js` ships as `configs.recommended`). */
const eslintRecommended = {
  name: 'eslint/recommended',
  rules: Object.fromEntries(
    [...builtinRules].filter(([, rule]) => rule.meta?.docs?.recommended === true).map(([name]) => [name, 'error']),
  ),
};

/** Node's globals, for plain JavaScript files (TypeScript files get them from @types/node). */
const nodeGlobals = Object.fromEntries(Object.getOwnPropertyNames(globalThis).map((name) => [name, 'readonly']));

/** Matches a relative specifier that climbs out of the current folder into one of `folders`. */
const relativeInto = (...folders) => `^(?:\\.\\.?/)*\\.\\./(?:${folders.join('|')})(?:/|$)`;

const nodeBuiltinNames = [...new Set(builtinModules.map((m) => m.split('/')[0]))].filter((m) => /^[\w-]+$/.test(m));
const nodeBuiltins = `^(?:node:|(?:${nodeBuiltinNames.join('|')})(?:/|$))`;

const NATS = { regex: '^(?:@nats-io/|nats(?:/|$))', caseSensitive: true };
const PINO = { regex: '^pino(?:$|/|-)', caseSensitive: true };
const XSTATE = { regex: '^(?:xstate(?:/|$)|@xstate/)', caseSensitive: true };

const protocolsImports = [
  {
    regex: relativeInto('actors', 'runtime', 'cmd'),
    caseSensitive: true,
    message: 'protocols/ is the wire contract and imports nothing of ours.',
  },
  { ...XSTATE, message: 'protocols/ must not depend on xstate: it is the wire contract.' },
  { ...NATS, message: 'protocols/ must not depend on NATS: transports live in runtime/.' },
  { ...PINO, message: 'protocols/ must not log: logging lives in runtime/.' },
];

const actorsImports = [
  {
    regex: relativeInto('runtime', 'cmd'),
    caseSensitive: true,
    message: 'actors/ may import protocols/ only; effects are injected from runtime/.',
  },
  { ...NATS, message: 'actors/ never talk to NATS: the runtime transport delivers events.' },
  { ...PINO, message: 'actors/ do not log directly: emit events and let runtime/ log them.' },
  {
    regex: nodeBuiltins,
    caseSensitive: true,
    message: 'actors/ are pure: no Node built-ins (fs, net, child_process, timers, …); I/O lives in runtime/.',
  },
];

const pureModuleImports = [
  ...actorsImports,
  {
    ...XSTATE,
    message: 'Only *.machine.ts files under actors/ import xstate; pure modules stay plain functions over data.',
  },
];

const TIME_RULE = 'time arrives in events and through XState `after` delays driven by the injected Clock';
const RANDOM_RULE = 'actors/ are deterministic: take ids/randomness from an injected source';
const IO_RULE = 'actors/ do no I/O and read no process state; runtime/ does';

export default [
  {
    ignores: ['**/node_modules/', 'tmp/', 'work_dir/', '.sandbox/', 'coverage/', 'dist/', '.build/', '.nats-data/'],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  eslintRecommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'warn',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },
  {
    name: 'layers/protocols',
    files: ['protocols/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: protocolsImports }],
    },
  },
  {
    name: 'layers/actors',
    files: ['actors/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: actorsImports }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: `No Date.now() in actors/: ${TIME_RULE}.` },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `No new Date() (current time) in actors/: ${TIME_RULE}.` },
        { selector: "CallExpression[callee.name='Date']", message: `No Date() (current time) in actors/: ${TIME_RULE}.` },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: `No Math.random() in actors/: ${RANDOM_RULE}.` },
        { selector: 'ImportExpression', message: `No dynamic import() in actors/: ${IO_RULE}.` },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: `No setTimeout in actors/: ${TIME_RULE}.` },
        { name: 'setInterval', message: `No setInterval in actors/: ${TIME_RULE}.` },
        { name: 'setImmediate', message: `No setImmediate in actors/: ${TIME_RULE}.` },
        { name: 'clearTimeout', message: `No clearTimeout in actors/: ${TIME_RULE}.` },
        { name: 'clearInterval', message: `No clearInterval in actors/: ${TIME_RULE}.` },
        { name: 'clearImmediate', message: `No clearImmediate in actors/: ${TIME_RULE}.` },
        { name: 'performance', message: `No performance clock in actors/: ${TIME_RULE}.` },
        { name: 'process', message: `No process in actors/: ${IO_RULE}.` },
        { name: 'fetch', message: `No fetch in actors/: ${IO_RULE}.` },
        { name: 'crypto', message: `No crypto in actors/: ${RANDOM_RULE}.` },
      ],
    },
  },
  {
    name: 'layers/actors-pure-modules',
    files: ['actors/**'],
    ignores: ['actors/**/*.machine.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: pureModuleImports }],
    },
  },
  {
    name: 'layers/runtime',
    files: ['runtime/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: relativeInto('cmd', 'api'),
              caseSensitive: true,
              message: 'runtime/ must not import cmd/ or api/: entry points wire runtime/, not the reverse.',
            },
          ],
        },
      ],
    },
  },
  {
    // The web UI runs in the browser: browser globals, no Node built-ins, and of ours only the
    // wire contract's plain data (it talks to the master over HTTP, not through runtime/).
    name: 'layers/webui',
    files: ['webui/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: nodeBuiltins, caseSensitive: true, message: 'webui/ runs in the browser: no Node built-ins.' },
            { regex: relativeInto('actors', 'runtime', 'cmd', 'api', 'test'), caseSensitive: true, message: 'webui/ talks to the master over HTTP; of ours it imports protocols/ only.' },
            { ...NATS, message: 'webui/ never talks to NATS.' },
          ],
        },
      ],
    },
  },
  {
    name: 'layers/api',
    files: ['api/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: relativeInto('cmd', 'test', 'examples'),
              caseSensitive: true,
              message: 'api/ is the package surface: it re-exports protocols/ and runtime/ only.',
            },
          ],
        },
      ],
    },
  },
  {
    name: 'layers/examples',
    files: ['examples/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: relativeInto('api', 'runtime', 'actors', 'protocols', 'cmd', 'test', 'scripts'),
              caseSensitive: true,
              message: "examples/ are what a framework author writes: import 'mesos-ts' (or 'mesos-ts/scheduler', …), not the repository's folders.",
            },
          ],
        },
      ],
    },
  },
];
