import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Boundaries the code keeps by convention, checked on the source itself: every query lives in `store/`, and
 * no module imports itself back through others. (The API's type-only use of `workflows/` is linted.)
 */
const ROOT = path.join(__dirname, '..');
const SKIPPED = new Set(['node_modules', 'generated', 'dist', '.stack', 'coverage', '.git']);

function sourceFiles(dir = ROOT): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIPPED.has(name)) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}
const relative = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

/** Service code: tests, the local stack's scripts, benchmarks and Prisma's CLI adapter may speak SQL. */
const SERVICE_CODE = (file: string) => !/^(test|stack|scripts|bench|prisma|store)\//.test(relative(file));

const SQL = /\b(SELECT\s+(?:[\w*(]|1\b)|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|TRUNCATE\s|LISTEN\s+\w|NOTIFY\s+\w|pg_notify\s*\(|pg_advisory\w*\s*\(|FOR\s+UPDATE|^\s*(BEGIN|COMMIT|ROLLBACK)\s*$)/i;
const RAW_QUERY_TAGS = /\.\$(queryRaw|executeRaw|queryRawUnsafe|executeRawUnsafe)$/;
const PRISMA_QUERIES = new Set(['findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany', 'create', 'createMany', 'createManyAndReturn', 'update', 'updateMany', 'upsert', 'delete', 'deleteMany', 'count', 'groupBy', 'aggregate', '$queryRaw', '$executeRaw', '$queryRawUnsafe', '$executeRawUnsafe', '$transaction']);

/** Each query found in a file: a SQL string, a raw-query template, or a Prisma model call on a db/tx. */
export function queriesIn(file: string, text = readFileSync(file, 'utf8')): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const at = (node: ts.Node) => `${relative(file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      if (SQL.test(node.text)) found.push(`${at(node)} SQL string: ${node.text.slice(0, 60)}`);
    } else if (ts.isTemplateExpression(node)) {
      const text = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(' ');
      if (SQL.test(text)) found.push(`${at(node)} SQL template: ${text.slice(0, 60)}`);
    } else if (ts.isTaggedTemplateExpression(node) && RAW_QUERY_TAGS.test(node.tag.getText(source))) {
      found.push(`${at(node)} raw query: ${node.tag.getText(source)}`);
    } else if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && PRISMA_QUERIES.has(node.expression.name.text)) {
      // `db.execution.findMany(…)`, `tx.outboxEvent.create(…)`, `deps.db.$transaction(…)`
      const target = node.expression.expression.getText(source);
      if (/(^|\.)(db|tx)(\.\w+)?$/.test(target)) found.push(`${at(node)} query: ${target}.${node.expression.name.text}()`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Relative imports of a file, type-only ones included, resolved to files. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, false);
  return importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .flatMap((name) => {
      const base = path.resolve(path.dirname(file), name.replace(/\.js$/, ''));
      const candidate = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
      return candidate ? [candidate] : [];
    });
}

/** Every import cycle, each as the chain of files that closes it. */
function importCycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].map(relative));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('source boundaries', () => {
  const files = sourceFiles();

  test('no query is written outside store/: no SQL string, raw query or Prisma model call', () => {
    expect(files.filter(SERVICE_CODE).flatMap((f) => queriesIn(f))).toEqual([]);
  });

  test('the query check finds SQL strings, raw queries and Prisma calls', () => {
    const sample = [
      "const a = 'SELECT id FROM executions';",
      'const b = db.$queryRaw`SELECT 1`;',
      'const c = deps.db.execution.findMany({});',
      "const d = client.query('BEGIN');",
      "const e = `UPDATE outbox_events SET state = ${s}`;",
      "log.info({ id }, 'selected the runner'); const list = items.find((x) => x);",
    ].join('\n');
    expect(queriesIn(path.join(ROOT, 'api/sample.ts'), sample).map((q) => q.replace(/^[^ ]+ /, ''))).toEqual([
      'SQL string: SELECT id FROM executions',
      'raw query: db.$queryRaw',
      'SQL string: SELECT 1',
      'query: deps.db.execution.findMany()',
      'SQL string: BEGIN',
      'SQL template: UPDATE outbox_events SET state =  ',
    ]);
  });

  test('no module imports itself back through others (type-only imports count)', () => {
    expect(importCycles(files)).toEqual([]);
  });
});
