import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDb } from '../../store/db';
import { bearer, createTestKey, removeReconcilerSchedule, testConfig, waitFor } from '../support/harness';
import { parsePrometheusText } from './prometheus-text';
import { freeLoopbackPort } from '../../stack/port';

test('under npm start (main.ts: API, worker and relay in one process) the API’s /metrics serves every series of the three, the Temporal SDK’s included, each family once', async () => {
  const config = testConfig();
  const db = createDb(config.databaseUrl);
  const adminKey = await createTestKey(db, 'admin', 'single-process');
  const port = await freeLoopbackPort();
  // Every endpoint is configured (the test stack), so main.ts starts no stack part; its lock and files go to a state dir of its own.
  const main = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'main.ts')], {
    env: { ...process.env, PORT: String(port), TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, EO_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'eo-main-')), LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = ''; // its ready banner and any start-up failure, shown only if the wait fails
  main.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  try {
    const text = await waitFor('the API’s /metrics', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: bearer(adminKey) });
      const body = await res.text();
      return res.status === 200 && body.includes(`task_queue="${config.temporal.taskQueue}"`) ? body : undefined;
    }, { deadlineMs: 90_000, intervalMs: 500, giveUp: () => (main.exitCode !== null ? `main.ts exited with ${main.exitCode}: ${stderr}` : undefined) });
    const metrics = parsePrometheusText(text); // throws on a family declared twice
    expect(metrics.types.get('eo_http_request_duration_seconds')).toBe('histogram');
    expect(metrics.types.get('eo_api_process_cpu_seconds_total')).toBe('counter');
    for (const family of ['eo_executions_total', 'eo_runner_failures_total', 'eo_relay_published_total', 'eo_relay_publish_failures_total']) expect(metrics.types.get(family)).toBe('counter');
    for (const family of ['eo_execution_queue_wait_seconds', 'eo_execution_run_duration_seconds', 'eo_relay_publish_duration_seconds']) expect(metrics.types.get(family)).toBe('histogram');
    expect(metrics.find('eo_relay_circuit_open')[0]?.value).toBe(0);
    expect(metrics.find('eo_relay_dlq_events').length).toBe(1);
    expect(metrics.find('eo_relay_outbox_lag_seconds').length).toBe(1);
    expect(metrics.find('temporal_worker_start', { task_queue: config.temporal.taskQueue }).length).toBeGreaterThan(0);
    // One process, one set of process metrics: the worker's and the relay's are not added again.
    expect(metrics.types.has('eo_worker_process_cpu_seconds_total')).toBe(false);
    expect(metrics.types.has('eo_relay_process_cpu_seconds_total')).toBe(false);
  } finally {
    main.kill('SIGTERM');
    if (main.exitCode === null) await once(main, 'exit');
    await removeReconcilerSchedule(config);
    await db.$disconnect();
  }
}, 120_000);
