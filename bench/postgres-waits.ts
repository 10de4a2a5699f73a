// What Postgres's client backends are waiting on, sampled: `npx tsx bench/postgres-waits.ts [seconds] [database]`
// beside a bench (its database is eo_bench). Each sample reads pg_stat_activity once; a backend with no wait event
// is running or runnable. Prints how many samples each statement (its first 40 characters) spent on each wait.
import pg from 'pg';
import { stackEndpoints } from '../stack/paths';

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 60);
  const database = process.argv[3] ?? 'eo_bench';
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`seconds must be a positive number, not ${process.argv[2]}`);
  const url = Object.assign(new URL(process.env.DATABASE_URL ?? stackEndpoints().databaseUrl), { pathname: `/${database}` }).toString();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const tally = new Map<string, number>();
  let samples = 0;
  const until = Date.now() + seconds * 1000;
  try {
    while (Date.now() < until) {
      const { rows } = await client.query<{ kind: string; event: string; statement: string }>(`
        SELECT coalesce(wait_event_type, 'none') AS kind, coalesce(wait_event, '-') AS event,
               left(regexp_replace(query, '\\s+', ' ', 'g'), 40) AS statement
          FROM pg_stat_activity
         WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`);
      samples++;
      for (const r of rows) tally.set(`${r.statement} | ${r.kind}:${r.event}`, (tally.get(`${r.statement} | ${r.kind}:${r.event}`) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    await client.end();
  }
  process.stdout.write(`${samples} samples in ${seconds} s (one every ${((seconds * 1000) / samples).toFixed(1)} ms)\n`);
  for (const [key, n] of [...tally].sort((a, b) => b[1] - a[1]).slice(0, 40)) process.stdout.write(`${String(n).padStart(6)}  ${key}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
