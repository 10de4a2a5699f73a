import { defineConfig } from 'prisma/config';
import { createCliAdapter } from './prisma/cli-adapter';

// The CLI runs offline through a driver adapter and the WebAssembly schema engine (see README, "Prisma").
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  adapter: async () => {
    const databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) throw new Error('DATABASE_URL is not set: the Prisma CLI needs a database for this command');
    return createCliAdapter(databaseUrl);
  },
});
