// npm run soak -- --minutes N [--rate 2] [--fault-every 45]
// A bounded soak (not part of `npm test`): brings up the local stack, runs the API here and workers and relays
// as their own processes on a fresh database, submits a steady mixed load (bash, python, node; scripts that
// complete, fail, time out, or are cancelled) and injects one random fault from the fault list at a time.
// At the end it waits for the load to drain, checks the fault harness's invariants and each execution's
// expected ending, prints a summary table and writes it to bench/results/soak-<time>.{json,md}.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startApiServer } from '../../api/server';
import { createApiKeyService } from '../../auth/api-keys';
import { loadConfig } from '../../config';
import type { ResolvedConfig } from '../../config';
import { createLogger } from '../../observability/logger';
import { generateKeyEntry } from '../../payload-codec/keyring';
import { deleteReconcilerSchedule } from '../../reconciler/schedule';
import { downPart, stackEndpoints, statusPart, upPart } from '../../stack';
import type { StackPart } from '../../stack';
import { waitFor } from '../../stack/wait';
import { createDb } from '../../store/db';
import { runMigrations } from '../../store/migrate';
import { Client, Connection } from '@temporalio/client';
import { apiClient } from '../support/api-client';
import { deleteTopic, holdFault, setTopicMessageLimit } from './fault-tools';
import { killRelayMidBatch, startRelayProcess, startWorkerProcess } from './fault-processes';
import { untracedWorkerBundleFile } from '../support/workflow-bundle';
import type { ServiceProcess } from './fault-processes';
import { checkInvariants, countInFlight } from './invariants';
import type { FaultReport, LostWithTopic } from './invariants';

const ROOT = path.join(__dirname, '..', '..');
const SOAK_DATABASE = 'eo_soak';

function flag(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  return args[i]!.includes('=') ? args[i]!.split('=')[1]! : (args[i + 1] ?? fallback);
}
const minutes = Number(flag('minutes', '10'));
const ratePerSecond = Number(flag('rate', '2'));
const faultEverySeconds = Number(flag('fault-every', '45'));
const say = (line: string): void => void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

type Outcome = 'completed' | 'failed' | 'timed_out' | 'cancelled';
const LANGUAGES = ['bash', 'python', 'node'] as const;
const SCRIPTS: Record<(typeof LANGUAGES)[number], Record<Outcome, string>> = {
  bash: { completed: 'echo ok', failed: 'exit 3', timed_out: 'sleep 5', cancelled: 'sleep 30' },
  python: { completed: 'print("ok")', failed: 'import sys; sys.exit(3)', timed_out: 'import time; time.sleep(5)', cancelled: 'import time; time.sleep(30)' },
  node: { completed: 'console.log("ok")', failed: 'process.exit(3)', timed_out: 'setTimeout(() => {}, 5000)', cancelled: 'setTimeout(() => {}, 30000)' },
};
/** Mostly completions, as in real traffic; every other ending often enough to be seen under each fault. */
const OUTCOME_WEIGHTS: Array<[Outcome, number]> = [['completed', 0.6], ['failed', 0.15], ['timed_out', 0.1], ['cancelled', 0.15]];

const FAULTS = ['kafka-stop', 'kafka-sigkill', 'postgres-stop', 'postgres-restart', 'temporal-restart', 'relay-sigkill', 'worker-sigkill', 'worker-sigkill-in-kafka-outage', 'topic-delete', 'poison'] as const;
type Fault = (typeof FAULTS)[number];

interface FaultRecord {
  fault: Fault;
  at: string;
  inFlight: number;
  durationMs: number;
  /** From the end of the fault until every event written before that moment was published (or dead-lettered), ms. */
  drainMs: number | null;
  note?: string;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
function pickOutcome(): Outcome {
  let r = Math.random();
  for (const [outcome, weight] of OUTCOME_WEIGHTS) if ((r -= weight) < 0) return outcome;
  return 'completed';
}

async function main(): Promise<void> {
  const startedParts: StackPart[] = [];
  const local = stackEndpoints();
  for (const [part, variable] of [['postgres', 'DATABASE_URL'], ['temporal', 'TEMPORAL_ADDRESS'], ['kafka', 'KAFKA_BROKERS'], ['redis', 'REDIS_URL']] as const) {
    if (process.env[variable]) throw new Error(`the soak injects faults into the local stack: unset ${variable}`);
    const up = await upPart(part, { log: (line) => say(`${part}: ${line}`) });
    if (!up.alreadyRunning) startedParts.push(part);
  }
  const databaseUrl = Object.assign(new URL(local.databaseUrl), { pathname: `/${SOAK_DATABASE}` }).toString();
  const admin = new pg.Client({ connectionString: local.databaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${SOAK_DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${SOAK_DATABASE}`);
  await admin.end();
  await runMigrations(databaseUrl);

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eo-soak-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: local.temporalAddress,
    KAFKA_BROKERS: local.kafkaBrokers,
    REDIS_URL: local.redisUrl,
    TEMPORAL_TASK_QUEUE: `soak-${randomUUID()}`,
    PAYLOAD_CODEC_KEYS: process.env.PAYLOAD_CODEC_KEYS || generateKeyEntry(),
    // Two workers and two relays on this host: each its own ops server port.
    OPS_PORT: '0',
    RUNNER_WORK_DIR: workDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_REQUESTS_PER_SECOND: '100000',
    RATE_LIMIT_EXECUTIONS_PER_MINUTE: '1000000',
    QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '100000',
    // Four owners share the load: the global capacity, not the per-owner share, is what binds.
    CAPACITY_PER_OWNER: '8',
    SAGA_OUTAGE_PAUSE_MS: '2000',
    RELAY_POLL_INTERVAL_MS: '500',
    RELAY_BATCH_SIZE: '20',
    RELAY_MAX_ATTEMPTS: '3',
  };
  const config = loadConfig(env) as ResolvedConfig;
  // The API's request failures during an outage are expected by the thousand; the summary is what this prints.
  const log = createLogger({ level: 'fatal', name: 'soak' });
  const db = createDb(databaseUrl);
  const api = await startApiServer(config, log);
  // Several owners, as in real traffic: one owner's submissions are admitted one at a time (its advisory lock).
  const keys = createApiKeyService(db);
  const clients = await Promise.all(['soak-a', 'soak-b', 'soak-c', 'soak-d'].map(async (ownerId) => apiClient(api.url, (await keys.create({ ownerId, role: 'user', name: 'soak' })).token)));
  say(`API at ${api.url}; bundling the workflow code for the worker processes`);
  // Outside jest there is no run directory for bundles: the soak's own, removed at its end.
  process.env.EO_TEST_BUNDLE_DIR ??= workDir;
  const bundlePath = await untracedWorkerBundleFile();
  let serial = 0;
  const workers: ServiceProcess[] = [await startWorkerProcess(`worker-${++serial}`, env, bundlePath), await startWorkerProcess(`worker-${++serial}`, env, bundlePath)];
  const relays: ServiceProcess[] = [await startRelayProcess(`relay-${++serial}`, env), await startRelayProcess(`relay-${++serial}`, env)];
  say(`2 workers and 2 relays up; load ${ratePerSecond}/s for ${minutes} min, a fault every ~${faultEverySeconds} s`);

  const expected = new Map<string, Outcome>();
  const byLanguage: Record<string, number> = {};
  let refused = 0;
  /** The last answer of each submission given up on, by status (0: no answer). */
  const refusedBy: Record<string, number> = {};
  let poisons = 0;
  const lostWith: LostWithTopic[] = [];
  const faults: FaultRecord[] = [];
  const started = Date.now();
  const until = started + minutes * 60_000;

  /** Submits like a careful client: the same request with the same Idempotency-Key until accepted (90 s at most). */
  async function submitOne(outcome: Outcome, reason?: string): Promise<string | null> {
    const language = pick(LANGUAGES);
    const body = { language, script: SCRIPTS[language][outcome], limits: { wallTimeMs: outcome === 'timed_out' ? 1_000 : 40_000 } };
    const key = randomUUID();
    const client = pick(clients);
    const giveUpAt = Date.now() + 90_000;
    for (;;) {
      const res = await client.call('POST', '/executions', body, { 'idempotency-key': key }).catch(() => ({ status: 0, json: { id: '' } }));
      if ((res.status === 201 || res.status === 200) && res.json.id) {
        expected.set(res.json.id, outcome);
        byLanguage[language] = (byLanguage[language] ?? 0) + 1;
        if (outcome === 'cancelled') void cancelLater(client, res.json.id, reason);
        return res.json.id;
      }
      if (Date.now() > giveUpAt) {
        refused++;
        refusedBy[res.status] = (refusedBy[res.status] ?? 0) + 1;
        return null;
      }
      await holdFault(500);
    }
  }
  async function cancelLater(client: (typeof clients)[number], id: string, reason = 'soak'): Promise<void> {
    await holdFault(300 + Math.random() * 1_500);
    const giveUpAt = Date.now() + 120_000;
    for (;;) {
      const res = await client.cancel(id, reason).catch(() => ({ status: 0 }));
      if (res.status === 202 || res.status === 409) return;
      if (Date.now() > giveUpAt) return say(`cancel of ${id} kept failing (${res.status})`);
      await holdFault(500);
    }
  }

  const submissions: Array<Promise<unknown>> = [];
  const load = (async () => {
    while (Date.now() < until) {
      submissions.push(submitOne(pickOutcome()));
      await holdFault(1_000 / ratePerSecond);
    }
  })();

  const pgClient = async <T>(work: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      return await work(c);
    } finally {
      await c.end();
    }
  };
  /** Waits until every event written before `since` is settled (published or dead). */
  async function drainedSince(since: number): Promise<number | null> {
    try {
      await waitFor('the backlog to drain', () => pgClient(async (c) => ((await c.query(`SELECT count(*)::int AS n FROM outbox_events WHERE state = 'pending' AND created_at <= to_timestamp($1 / 1000.0)`, [since])).rows[0].n === 0 ? true : undefined)), { deadlineMs: 180_000, intervalMs: 250 });
      return Date.now() - since;
    } catch {
      return null;
    }
  }
  const replaceWorker = async (index: number) => {
    await workers[index]!.kill();
    workers[index] = await startWorkerProcess(`worker-${++serial}`, env, bundlePath);
  };

  async function inject(fault: Fault): Promise<string | undefined> {
    switch (fault) {
      case 'kafka-stop':
        await downPart('kafka');
        await holdFault(20_000);
        await upPart('kafka');
        return;
      case 'kafka-sigkill': {
        const { pid } = await statusPart('kafka');
        process.kill(pid!, 'SIGKILL');
        await waitFor('Kafka to die', async () => !(await statusPart('kafka')).healthy, { deadlineMs: 15_000 });
        await holdFault(10_000);
        await upPart('kafka');
        return;
      }
      case 'postgres-stop':
        await downPart('postgres');
        await holdFault(20_000);
        await upPart('postgres');
        return;
      case 'postgres-restart':
        await downPart('postgres');
        await upPart('postgres');
        return;
      case 'temporal-restart':
        await downPart('temporal');
        await upPart('temporal');
        return;
      case 'relay-sigkill': {
        const index = Math.floor(Math.random() * relays.length);
        const caught = await killRelayMidBatch(relays[index]!, databaseUrl, 30_000).catch(async () => {
          await relays[index]!.kill(); // not caught mid-batch within 30 s: killed anyway
          return null;
        });
        relays[index] = await startRelayProcess(`relay-${++serial}`, env);
        return caught ? `mid-batch, ${caught.heldRows} rows held` : 'not caught mid-batch; killed between batches';
      }
      case 'worker-sigkill':
        await replaceWorker(Math.floor(Math.random() * workers.length));
        return;
      case 'worker-sigkill-in-kafka-outage':
        await downPart('kafka');
        await replaceWorker(Math.floor(Math.random() * workers.length));
        await holdFault(15_000);
        await upPart('kafka');
        return;
      case 'topic-delete': {
        const topic = pick(['execution_requested', 'execution_started', 'execution_completed']);
        await deleteTopic([local.kafkaBrokers], topic);
        lostWith.push({ topic, until: Date.now() });
        return topic;
      }
      case 'poison': {
        await setTopicMessageLimit([local.kafkaBrokers], 'execution_cancelled', 1_200);
        try {
          const id = await submitOne('cancelled', 'p'.repeat(1_000));
          if (!id) return 'poison not accepted';
          poisons++;
          await waitFor('the poison to be dead-lettered', () => pgClient(async (c) => ((await c.query(`SELECT 1 FROM outbox_events WHERE execution_id = $1 AND state = 'dead'`, [id])).rowCount ? true : undefined)), { deadlineMs: 120_000, intervalMs: 250 });
          return id;
        } finally {
          await setTopicMessageLimit([local.kafkaBrokers], 'execution_cancelled', null);
        }
      }
    }
  }

  // Faults one at a time, in random order without repeats until each has run once.
  let bag: Fault[] = [];
  while (Date.now() + faultEverySeconds * 500 < until) {
    await holdFault(faultEverySeconds * (0.5 + Math.random()) * 1_000);
    if (Date.now() >= until) break;
    if (bag.length === 0) bag = [...FAULTS].sort(() => Math.random() - 0.5);
    const fault = bag.pop()!;
    const inFlight = await countInFlight(db, [...expected.keys()]).catch(() => -1);
    const at = Date.now();
    say(`fault: ${fault} (${inFlight} executions in flight)`);
    let note: string | undefined;
    try {
      note = await inject(fault);
    } catch (err) {
      note = `fault injection failed: ${(err as Error).message}`;
      say(note);
    }
    const recovered = Date.now();
    const drainMs = await drainedSince(recovered);
    faults.push({ fault, at: new Date(at).toISOString(), inFlight, durationMs: recovered - at, drainMs, ...(note ? { note } : {}) });
    say(`  over after ${((recovered - at) / 1000).toFixed(1)} s; backlog drained ${drainMs === null ? 'NOT within 180 s' : `${(drainMs / 1000).toFixed(1)} s`} after`);
  }
  await load;
  await Promise.all(submissions);
  const loadEndedAt = Date.now();
  say(`load over: ${expected.size} executions accepted, ${refused} refused; checking the invariants`);

  const ids = [...expected.keys()];
  const report = await checkInvariants({ db, config }, { ids, inFlightAtFault: 0, faultStartedAt: loadEndedAt, recoveredAt: loadEndedAt, loadEndedAt }, 900_000, lostWith);
  const rows = await db.execution.findMany({ where: { id: { in: ids } }, select: { id: true, status: true } });
  const mismatches: Array<{ id: string; expected: Outcome; got: string }> = [];
  for (const row of rows) {
    const want = expected.get(row.id)!;
    // A pre-run step that outlasts its retry preset in a Postgres outage ends the saga in `error`: allowed, counted.
    if (row.status !== want && row.status !== 'error') mismatches.push({ id: row.id, expected: want, got: row.status });
  }
  const violations = [
    report.unfinished.length && `${report.unfinished.length} unfinished`,
    report.duplicatedTransitions.length && `${report.duplicatedTransitions.length} with duplicated transitions`,
    report.missingFromKafka.length && `${report.missingFromKafka.length} events missing from Kafka`,
    report.publishedOutOfOrder.length && `${report.publishedOutOfOrder.length} executions out of order`,
    report.capacityHeld && `${report.capacityHeld} capacity reservations held`,
    report.deadLetters !== poisons && `${report.deadLetters} dead letters for ${poisons} poison messages`,
    report.dlqRecords !== poisons && `${report.dlqRecords} .dlq records for ${poisons} poison messages`,
    report.unpublished !== report.deadLetters && `${report.unpublished - report.deadLetters} events still pending`,
    mismatches.length && `${mismatches.length} executions ended otherwise than their script says`,
  ].filter(Boolean) as string[];

  const result = { minutes, ratePerSecond, startedAt: new Date(started).toISOString(), refused, refusedBy, byLanguage, expectedOutcomes: countBy([...expected.values()]), poisons, faults, report: { ...report, unfinished: report.unfinished.length, duplicatedTransitions: report.duplicatedTransitions.length, missingFromKafka: report.missingFromKafka.length, publishedOutOfOrder: report.publishedOutOfOrder.length }, mismatches, violations, verdict: violations.length === 0 ? 'invariants hold' : 'INVARIANTS VIOLATED' };
  const markdown = renderMarkdown(result, report);
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', `soak-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', `soak-${stamp}.md`), markdown);
  process.stdout.write(markdown);

  say('stopping');
  await Promise.all([...workers, ...relays].map((p) => p.stop()));
  const connection = await Connection.connect({ address: local.temporalAddress });
  await deleteReconcilerSchedule(new Client({ connection }), config.temporal.taskQueue).catch(() => undefined);
  await connection.close();
  await api.stop();
  await db.$disconnect();
  for (const part of startedParts.reverse()) await downPart(part);
  fs.rmSync(workDir, { recursive: true, force: true });
  process.exit(violations.length === 0 ? 0 : 1);
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

function renderMarkdown(r: { minutes: number; ratePerSecond: number; startedAt: string; refused: number; refusedBy: Record<string, number>; byLanguage: Record<string, number>; expectedOutcomes: Record<string, number>; poisons: number; faults: FaultRecord[]; violations: string[]; verdict: string; mismatches: unknown[] }, report: FaultReport): string {
  const kv = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  const drains = r.faults.map((f) => f.drainMs).filter((d): d is number => d !== null);
  return [
    `# Soak ${r.startedAt}: ${r.minutes} min, ${r.ratePerSecond} submissions/s — ${r.verdict}`,
    '',
    '| | |',
    '| --- | --- |',
    `| executions accepted (refused after 90 s of retries, by last status) | ${report.executions} (${r.refused}${r.refused ? `: ${kv(r.refusedBy)}` : ''}) |`,
    `| by language | ${kv(r.byLanguage)} |`,
    `| script's ending (submitted) | ${kv(r.expectedOutcomes)} |`,
    `| terminal states | ${kv(report.byStatus)} |`,
    `| ended otherwise than the script says (error allowed) | ${r.mismatches.length} |`,
    `| unfinished | ${report.unfinished.length} |`,
    `| faults injected | ${r.faults.length}: ${kv(countBy(r.faults.map((f) => f.fault)))} |`,
    `| events expected / seen in Kafka (lost with a deleted topic) | ${report.eventsExpected} / ${report.eventsSeen} (${report.lostWithTopic}) |`,
    `| duplicates (same event_id) | ${report.kafkaDuplicates} |`,
    `| reorderings | ${report.publishedOutOfOrder.length} |`,
    `| duplicated transitions | ${report.duplicatedTransitions.length} |`,
    `| dead letters (poison messages injected) / .dlq records | ${report.deadLetters} (${r.poisons}) / ${report.dlqRecords} |`,
    `| capacity held at the end | ${report.capacityHeld} |`,
    `| time to drain after a fault: max / median | ${drains.length ? `${(Math.max(...drains) / 1000).toFixed(1)} s / ${(drains.sort((a, b) => a - b)[Math.floor(drains.length / 2)]! / 1000).toFixed(1)} s` : '—'} |`,
    `| time to drain after the load ended | ${(report.drainMs / 1000).toFixed(1)} s |`,
    `| violations | ${r.violations.length ? r.violations.join('; ') : 'none'} |`,
    '',
    '| fault | at | in flight | lasted | drained after | note |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.faults.map((f) => `| ${f.fault} | ${f.at.slice(11, 19)} | ${f.inFlight} | ${(f.durationMs / 1000).toFixed(1)} s | ${f.drainMs === null ? 'not within 180 s' : `${(f.drainMs / 1000).toFixed(1)} s`} | ${f.note ?? ''} |`),
    '',
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
