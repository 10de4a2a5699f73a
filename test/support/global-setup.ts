import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stackEndpoints, upPart } from '../../stack';
import type { StackPart } from '../../stack';
import { runMigrations } from '../../store/migrate';
import { generateKeyEntry } from '../../payload-codec/keyring';
import { buildIsolateWatchdog } from '../../workflow-threads/isolate-watchdog';

export const STARTED_FILE = path.join(__dirname, '..', '..', '.stack', 'test-started.json');
const TEST_DATABASE = 'eo_test';

/**
 * Brings up the real stack for the tests — each part not given by DATABASE_URL / TEMPORAL_ADDRESS /
 * KAFKA_BROKERS / REDIS_URL — and creates a freshly migrated test database. Parts it started are stopped by the teardown.
 */
export default async function globalSetup(): Promise<void> {
  const local = stackEndpoints();
  const started: StackPart[] = [];
  const bring = async (part: StackPart) => {
    const up = await upPart(part, { log: (line) => console.log(`[stack] ${line}`) });
    if (!up.alreadyRunning) started.push(part);
    console.log(`\n[stack] ${part} ${up.alreadyRunning ? 'already running' : `started in ${up.startedInMs} ms`} at ${up.endpoint}`);
  };
  const parts: Array<[StackPart, string]> = [
    ['postgres', 'DATABASE_URL'],
    ['temporal', 'TEMPORAL_ADDRESS'],
    ['kafka', 'KAFKA_BROKERS'],
    ['redis', 'REDIS_URL'],
  ];
  await Promise.all(parts.filter(([, variable]) => !process.env[variable]).map(([part]) => bring(part)));
  mkdirSync(path.dirname(STARTED_FILE), { recursive: true });
  writeFileSync(STARTED_FILE, JSON.stringify(started));

  const adminUrl = process.env.DATABASE_URL ?? local.databaseUrl;
  const testUrl = new URL(adminUrl);
  testUrl.pathname = `/${TEST_DATABASE}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEST_DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEST_DATABASE}`);
  await admin.end();
  await runMigrations(testUrl.toString());

  process.env.EO_ADMIN_DATABASE_URL = adminUrl;
  process.env.DATABASE_URL = testUrl.toString();
  process.env.TEMPORAL_ADDRESS ??= local.temporalAddress;
  process.env.KAFKA_BROKERS ??= local.kafkaBrokers;
  process.env.REDIS_URL ??= local.redisUrl;
  process.env.LOG_LEVEL ??= 'warn';
  // Workers and relays the tests start as processes of their own each serve /metrics: on a free port each.
  process.env.OPS_PORT ??= '0';
  // Tests stop workers with runs in flight: a short drain keeps that quick (the drain tests set their own).
  process.env.DRAIN_TIMEOUT_MS ??= '1000';
  // A key of this run: every worker, client and spawned process of the tests encrypts with it.
  process.env.PAYLOAD_CODEC_KEYS ??= generateKeyEntry();
  // Workers in the tests run workflows under the shared deadlock watchdog, as `npm start`'s do (npm run build makes it).
  const watchdog = buildIsolateWatchdog();
  console.log(`[setup] isolate watchdog: ${'skipped' in watchdog ? `NOT BUILT, ${watchdog.skipped}` : watchdog.built ? 'built' : 'current'}`);
  // Workflow bundles made once for the whole run (test/support/workflow-bundle.ts); the teardown removes them.
  process.env.EO_TEST_BUNDLE_DIR = mkdtempSync(path.join(os.tmpdir(), 'eo-test-bundles-'));
}
