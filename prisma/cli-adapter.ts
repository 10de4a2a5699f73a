import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';

/**
 * Driver adapter for the Prisma CLI (migrate, diff), working around three defects of the
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

/** The stock shadow database ignores the database name given by URL, and drops it before closing its own pool. */
class CliPrismaPg extends PrismaPg {
  constructor(private readonly databaseUrl: string) {
    super(poolConfig(databaseUrl));
  }

  override async connectToShadowDb() {
    const admin = new CatalogSafeClient(poolConfig(this.databaseUrl));
    await admin.connect();
    const database = `prisma_shadow_${globalThis.crypto.randomUUID().replaceAll('-', '')}`;
    await admin.query(`CREATE DATABASE "${database}"`);
    const shadow = await new PrismaPg(poolConfig(this.databaseUrl, database)).connect();
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
