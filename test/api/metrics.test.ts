import request from 'supertest';
import { apiClient } from '../support/api-client';
import { bearer, resetDatabase, startService, testConfig, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';
import { createTestApp } from '../support/test-app';

/** The value of one sample line of a Prometheus text exposition, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('with the whole service (capacity 1)', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ CAPACITY_GLOBAL: '1' });
  }, 120_000);
  afterAll(() => service?.stop());

  test('metrics show executions running and queued, the capacity held and waited for, and requests by route template', async () => {
    const api = apiClient(service.api.url, service.adminKey);
    const { json: running } = await api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
    await api.waitForStatus(running.id, (s) => s === 'running');
    const { json: queued } = await api.submit({ language: 'bash', script: 'true' });
    const metrics = await waitFor('the queued execution in the metrics', async () => {
      const res = await fetch(`${service.api.url}/metrics`, { headers: bearer(service.adminKey) });
      const text = await res.text();
      return sample(text, 'eo_capacity_reservations{state="waiting"}') === 1 ? { res, text } : undefined;
    });
    expect(metrics.res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(metrics.text, 'eo_database_up')).toBe(1);
    expect(sample(metrics.text, 'eo_executions{status="running"}')).toBe(1);
    expect(sample(metrics.text, 'eo_executions{status="queued"}')).toBe(1);
    expect(sample(metrics.text, 'eo_capacity_reservations{state="holding"}')).toBe(1);
    // Route templates, never ids, as label values.
    expect(metrics.text).toMatch(/eo_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/executions\/:id",status="200"\} \d+/);
    expect(metrics.text).not.toContain(running.id);
    expect(metrics.text).toMatch(/^eo_api_process_resident_memory_bytes \d+/m);

    await api.cancel(queued.id);
    await api.cancel(running.id);
    await api.waitForStatus(running.id, (s) => s === 'cancelled');
  }, 60_000);
});

describe('without a relay or a database', () => {
  const config = testConfig();

  test('events the relay has not published show as pending, with the age of the oldest', async () => {
    const testApp = await createTestApp(config);
    try {
      await resetDatabase(testApp.db);
      const created = await testApp.api().post('/api/v1/executions').send({ language: 'bash', script: 'true' });
      expect(created.status).toBe(201);
      const text = (await testApp.api().get('/metrics')).text;
      expect(sample(text, 'eo_outbox_events{state="pending"}')).toBe(1);
      expect(sample(text, 'eo_outbox_events{state="dead"}')).toBe(0);
      expect(sample(text, 'eo_outbox_oldest_pending_age_seconds')).toBeGreaterThan(0);
      await testApp.terminateSaga(created.body.id);
    } finally {
      await testApp.close();
    }
  });

  test('with Postgres down a scrape answers 503 problem+json with Retry-After: the admin key cannot be checked', async () => {
    const testApp = await createTestApp(config);
    const down = await createTestApp(config, 'postgresql://postgres@127.0.0.1:1/nothing');
    try {
      const res = await request(down.app).get('/metrics').set(bearer(testApp.adminKey));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.text).not.toContain('eo_');
    } finally {
      await down.close();
      await testApp.close();
    }
  });
});
