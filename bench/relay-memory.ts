// The relay's memory over a long run: the relay alone (its production entry, dist/relay/main.js) publishing
// events written straight into the outbox — no API, worker or Temporal — as fast as it goes, its RSS and V8
// heap sampled every --every events up to --events. A leak shows as growth that does not level off.
//
//   npm run bench:relay-memory -- --events=200000 --every=20000
//
// Needs the build (the npm script runs it) and brings up Postgres and Kafka of the local stack.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { EVENT_TYPES } from '../domain/events';
import { stackEndpoints, upPart } from '../stack';
import { freeLoopbackPort } from '../stack/port';
import { freshBenchDatabase } from './database';
import { numberFlag } from './flags';
import { heapUsedMb, rssMb, startBenchProcess, stopProcess } from './processes';

const DATABASE = 'eo_bench_relay';
/** Each execution's events, in order: the relay publishes an execution's events one after the other. */
const EVENTS_PER_EXECUTION = 5;

const say = (line: string): void => void process.stderr.write(`[relay-memory] ${line}\n`);

interface Sample {
  published: number;
  seconds: number;
  rssMb: number | null;
  heapMb: number | null;
}

async function main(): Promise<void> {
  const total = numberFlag('events', 200_000);
  const every = numberFlag('every', 20_000);
  await upPart('postgres');
  await upPart('kafka');
  const local = stackEndpoints();
  const databaseUrl = await freshBenchDatabase(DATABASE);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });

  /** Writes `events` more pending events (whole executions), as the service's transactions would leave them. */
  const write = async (events: number) => {
    const executions = Math.ceil(events / EVENTS_PER_EXECUTION);
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO executions (id, owner_id, language, language_version, script, limits, status, workflow_id, correlation_id, updated_at)
       SELECT gen_random_uuid(), 'bench-relay', 'bash', '5', 'true', '{}', 'completed', 'bench', gen_random_uuid()::text, now()
         FROM generate_series(1, $1) RETURNING id`,
      [executions],
    );
    const types = EVENT_TYPES.slice(0, EVENTS_PER_EXECUTION);
    await db.query(
      `INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope)
       SELECT gen_random_uuid(), e.id, s.n, ($2::text[])[s.n],
              jsonb_build_object('event_id', gen_random_uuid(), 'event_type', ($2::text[])[s.n], 'execution_id', e.id, 'payload', jsonb_build_object('padding', repeat('x', 200)))
         FROM unnest($1::uuid[]) AS e(id), generate_series(1, ${EVENTS_PER_EXECUTION}) AS s(n)`,
      [rows.map((r) => r.id), types],
    );
  };
  /** Published so far: those still in the table, and those cleared at earlier checkpoints. */
  let cleared = 0;
  const published = async () => cleared + Number((await db.query(`SELECT count(*) FROM outbox_events WHERE state = 'published'`)).rows[0].count);

  const opsPort = await freeLoopbackPort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? local.kafkaBrokers,
    OPS_PORT: String(opsPort),
    LOG_LEVEL: 'warn',
  };
  let stopping = false;
  const relay = startBenchProcess('relay-memory', process.execPath, ['dist/relay/main.js'], env, (why, log) => {
    if (!stopping) say(`the relay exited (${why}); its log: ${log}`);
  });
  const metricsUrl = `http://127.0.0.1:${opsPort}/metrics`;
  const samples: Sample[] = [];
  const began = Date.now();
  const sample = async (count: number) => {
    const s = { published: count, seconds: Math.round((Date.now() - began) / 1000), rssMb: rssMb(relay.pid), heapMb: await heapUsedMb(metricsUrl, 'eo_relay_') };
    samples.push(s);
    say(JSON.stringify(s));
  };
  try {
    const deadline = Date.now() + 60_000;
    while ((await heapUsedMb(metricsUrl, 'eo_relay_')) === null) {
      if (Date.now() > deadline || relay.exitCode !== null) throw new Error('the relay did not serve its metrics within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    await sample(0);
    // Keep a backlog of about one checkpoint ahead, so the relay is never idle and the database stays small.
    let written = 0;
    for (let checkpoint = every; checkpoint <= total; checkpoint += every) {
      while (written < checkpoint) {
        const n = Math.min(5_000, checkpoint - written);
        await write(n);
        written += n;
      }
      let done = await published();
      while (done < checkpoint) {
        if (relay.exitCode !== null) throw new Error(`the relay exited at ${done} published`);
        await new Promise((r) => setTimeout(r, 500));
        done = await published();
      }
      await sample(done);
      // Everything written is published now: clear it, so the table the relay claims from stays small.
      cleared = done;
      await db.query(`DELETE FROM executions`);
    }
  } finally {
    stopping = true;
    await stopProcess(relay);
    await db.end();
  }
  const first = samples.find((s) => s.published > 0);
  const last = samples.at(-1)!;
  const rate = last.seconds > 0 ? Math.round(last.published / last.seconds) : 0;
  const lines = [
    `# Relay memory, ${new Date().toISOString()}`,
    '',
    `Command: \`npm run bench:relay-memory -- ${process.argv.slice(2).join(' ')}\`. ${last.published} events published in ${last.seconds} s (${rate}/s), ${EVENTS_PER_EXECUTION} per execution.`,
    '',
    '| published | s | RSS MB | V8 heap MB |',
    '| --- | --- | --- | --- |',
    ...samples.map((s) => `| ${s.published} | ${s.seconds} | ${s.rssMb ?? '–'} | ${s.heapMb ?? '–'} |`),
    '',
    first && first.rssMb && last.rssMb ? `RSS from the first checkpoint to the last: ${first.rssMb} → ${last.rssMb} MB (${(((last.rssMb - first.rssMb) / first.rssMb) * 100).toFixed(1)} %).` : '',
  ];
  const file = path.join(__dirname, 'results', `relay-memory-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 4)}.md`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n\nwritten to ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
