import { temporalFlavor, temporalSqlitePragmas } from '../../stack/paths';
import { temporal } from '../../stack/temporal';

function withEnv<T>(env: Record<string, string | undefined>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  try {
    return run();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

const pragmasOf = (value: string | undefined) =>
  withEnv({ EO_TEMPORAL_SQLITE_PRAGMAS: value }, () => {
    const { args } = temporal.serverCommand();
    return args.flatMap((arg, i) => (arg === '--sqlite-pragma' ? [args[i + 1]] : []));
  });

test('the dev server runs SQLite in WAL mode with synchronous=normal unless EO_TEMPORAL_SQLITE_PRAGMAS says otherwise', () => {
  expect(pragmasOf(undefined)).toEqual(['journal_mode=wal', 'synchronous=normal']);
  expect(pragmasOf('journal_mode=wal,synchronous=full')).toEqual(['journal_mode=wal', 'synchronous=full']);
  expect(pragmasOf('none')).toEqual([]);
  expect(() => withEnv({ EO_TEMPORAL_SQLITE_PRAGMAS: 'journal_mode wal' }, temporalSqlitePragmas)).toThrow(/EO_TEMPORAL_SQLITE_PRAGMAS/);
});

test('EO_TEMPORAL_SERVER picks the dev server by default, the production server by name, and refuses anything else', () => {
  expect(withEnv({ EO_TEMPORAL_SERVER: undefined }, temporalFlavor)).toBe('dev');
  expect(withEnv({ EO_TEMPORAL_SERVER: 'production' }, temporalFlavor)).toBe('production');
  expect(() => withEnv({ EO_TEMPORAL_SERVER: 'prod' }, temporalFlavor)).toThrow(/EO_TEMPORAL_SERVER must be 'dev' or 'production'/);
});
