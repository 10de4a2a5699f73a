import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';

/**
 * Driver adapter for the Prisma CLI (migrate, diff), working around four defects of the
 * stock adapter when the CLI uses it offline with its WebAssembly schema engine.
 */

/** Introspection returns catalog columns of types `"char"` (18) and `name` (19), which the adapter cannot decode; report them as text. */
class CatalogSafeClient extends pg.Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args.length - 1;
    // pg.Pool calls with a callback; direct callers get a promise. Patch the result either way.
    if (typeof args[last] === 'function') {
      const callback = args[last];
      args[last] = (err: Error | null, res: pg.QueryResult) => callback(err, err ? res : reportCatalogTypesAsText(res));
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const result = (super.query as any)(...args);
    return result && typeof result.then === 'function' ? result.then(reportCatalogTypesAsText) : result;
  }
}

function reportCatalogTypesAsText(res: pg.QueryResult): pg.QueryResult {
  for (const field of res?.fields ?? []) {
    if (field.dataTypeID === 18 || field.dataTypeID === 19) field.dataTypeID = 25;
  }
  return res;
}

function poolConfig(databaseUrl: string, database?: string): pg.PoolConfig {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: database ?? url.pathname.replace(/^\//, ''),
    Client: CatalogSafeClient,
    allowExitOnIdle: true,
  };
}

/**
 * Splits a migration script into statements as Postgres reads it: a `;` inside a string, a quoted identifier, a
 * comment or a dollar-quoted body (a function's) does not end a statement.
 */
export function splitSqlScript(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const skipTo = (end: string, from: number) => {
    const at = script.indexOf(end, from);
    return at < 0 ? script.length : at + end.length;
  };
  while (i < script.length) {
    const c = script[i];
    if (c === '-' && script[i + 1] === '-') i = skipTo('\n', i);
    else if (c === '/' && script[i + 1] === '*') i = skipTo('*/', i + 2);
    else if (c === "'" || c === '"') i = skipTo(c, i + 1); // a doubled quote ('' or "") reads as two strings: same split
    else if (c === '$' && /^\$[A-Za-z_]*\$/.test(script.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i))![0];
      i = skipTo(tag, i + tag.length);
    } else if (c === ';') {
      statements.push(script.slice(start, i));
      i += 1;
      start = i;
    } else i += 1;
  }
  statements.push(script.slice(start));
  return statements.map((s) => s.trim()).filter((s) => s.replace(/--[^\n]*/g, '').trim().length > 0);
}

type ScriptRunner = Awaited<ReturnType<PrismaPg['connect']>>;

/** The stock adapter splits a script at every `;`, cutting a function body (`$$ … $$`) apart. */
function withWholeStatements(adapter: ScriptRunner): ScriptRunner {
  const driver = adapter.underlyingDriver() as pg.Pool;
  const onError = (adapter as unknown as { onError(err: unknown): never }).onError.bind(adapter);
  adapter.executeScript = async (script: string) => {
    for (const statement of splitSqlScript(script)) {
      try {
        await driver.query(statement);
      } catch (err) {
        onError(err);
      }
    }
  };
  return adapter;
}

/** The stock shadow database ignores the database name given by URL, and drops it before closing its own pool. */
class CliPrismaPg extends PrismaPg {
  constructor(private readonly databaseUrl: string) {
    super(poolConfig(databaseUrl));
  }

  override async connect() {
    return withWholeStatements(await super.connect());
  }

  override async connectToShadowDb() {
    const admin = new CatalogSafeClient(poolConfig(this.databaseUrl));
    await admin.connect();
    const database = `prisma_shadow_${globalThis.crypto.randomUUID().replaceAll('-', '')}`;
    await admin.query(`CREATE DATABASE "${database}"`);
    const shadow = withWholeStatements(await new PrismaPg(poolConfig(this.databaseUrl, database)).connect());
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
    };
    return shadow;
  }
}

export function createCliAdapter(databaseUrl: string): PrismaPg {
  return new CliPrismaPg(databaseUrl);
}
