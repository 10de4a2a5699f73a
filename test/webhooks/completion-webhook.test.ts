import { apiClient } from '../support/api-client';
import { serviceForThisFile, waitFor } from '../support/harness';
import { startWebhookReceiver } from '../support/webhook-receiver';
import type { WebhookReceiver } from '../support/webhook-receiver';

// The receiver listens on loopback, which webhooks may not reach by default: the allow-list opens 127.0.0.1
// alone. A second receiver on 127.0.0.2 (loopback too, not allowed) stands for an internal service.
const RETRY = { initialIntervalMs: 200, backoffCoefficient: 2, maximumIntervalMs: 2_000, maximumAttempts: 4 };
const ctx = serviceForThisFile({
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
  RETRY_PRESETS_JSON: JSON.stringify({ webhook: RETRY }),
});

let receiver: WebhookReceiver;
let internal: WebhookReceiver;
let user: ReturnType<typeof apiClient>;
beforeAll(async () => {
  receiver = await startWebhookReceiver('127.0.0.1');
  internal = await startWebhookReceiver('127.0.0.2');
  user = apiClient(ctx.service.api.url, await ctx.service.userKey('hook-owner'));
});
afterAll(async () => {
  await receiver?.close();
  await internal?.close();
});

interface Delivery { attempt: number; outcome: string; statusCode: number | null; address: string | null; error: string | null; webhookId: string }
interface WebhookState { callbackUrl: string; state: string; deliveries: Delivery[] }

const webhookOf = async (id: string) => (await user.get(id)).json.webhook as WebhookState | null;
/** Until the saga has closed: no attempt can follow. */
const sagaClosed = (id: string) =>
  waitFor(`saga ${id} to close`, async () => ((await ctx.service.temporal.workflow.getHandle(id).describe()).status.name === 'COMPLETED' ? true : undefined), { deadlineMs: 60_000 });

test('a callbackUrl is refused (422, naming the field) while the owner has no webhook secret; the secret is shown once', async () => {
  const refused = await user.submit({ language: 'bash', script: 'true', callbackUrl: receiver.url('/none') });
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.json)).toContain('callbackUrl');
  const made = await user.call('POST', '/webhook-secret', {});
  expect(made.status).toBe(201);
  const { secret } = made.json as unknown as { secret: string };
  expect(secret).toMatch(/^whsec_/);
  receiver.useSecret(secret);
  const shown = await user.call('GET', '/webhook-secret');
  expect(shown.status).toBe(200);
  expect(JSON.stringify(shown.json)).not.toContain(secret.slice(6));
  // Stored encrypted: the secret is nowhere in the row.
  const rows = await ctx.service.db.$queryRawUnsafe<Array<{ encrypted_secret: string }>>(`SELECT encrypted_secret FROM webhook_secrets WHERE owner_id = 'hook-owner'`);
  expect(rows[0]!.encrypted_secret).not.toContain(secret.slice(6));
});

test('a callbackUrl must be https unless http is allowed, and without credentials', async () => {
  const bad = await user.submit({ language: 'bash', script: 'true', callbackUrl: 'ftp://example.com/x' });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.json)).toContain('callbackUrl');
  expect((await user.submit({ language: 'bash', script: 'true', callbackUrl: 'https://u:p@example.com/x' })).status).toBe(400);
});

test('on success the webhook is delivered once, signed with the owner\'s secret, and its attempt shows on the execution', async () => {
  const { json } = await user.submit({ language: 'bash', script: 'echo hi', callbackUrl: receiver.url('/ok') });
  await waitFor('the webhook to be delivered', async () => ((await webhookOf(json.id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
  await sagaClosed(json.id);
  const got = receiver.receivedAt('/ok');
  expect(got).toHaveLength(1);
  expect(got[0]!.verified).toBe(true);
  expect(got[0]!.headers['webhook-id']).toBe(`msg_${json.id}`);
  const body = JSON.parse(got[0]!.body) as { type: string; data: { id: string; status: string; stdout: string } };
  expect(body).toMatchObject({ type: 'execution.completed', data: { id: json.id, status: 'completed', stdout: 'hi\n' } });
  const webhook = await webhookOf(json.id);
  expect(webhook).toMatchObject({ callbackUrl: receiver.url('/ok'), state: 'delivered', deliveries: [{ attempt: 1, outcome: 'delivered', statusCode: 200, address: '127.0.0.1' }] });
  const events = await user.call('GET', `/executions/${json.id}/events`);
  expect((events.json as unknown as { webhookDeliveries: Delivery[] }).webhookDeliveries).toHaveLength(1);
});

test('answers of 500 are retried with backoff, with the same webhook-id, until one succeeds', async () => {
  receiver.script('/flaky', [500, 500, 200]);
  const { json } = await user.submit({ language: 'bash', script: 'exit 3', callbackUrl: receiver.url('/flaky') });
  await waitFor('the webhook to be delivered', async () => ((await webhookOf(json.id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
  await sagaClosed(json.id);
  const got = receiver.receivedAt('/flaky');
  expect(got.map((r) => r.verified)).toEqual([true, true, true]);
  expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([`msg_${json.id}`]));
  expect(JSON.parse(got[0]!.body)).toMatchObject({ type: 'execution.failed' });
  const webhook = await webhookOf(json.id);
  expect(webhook!.deliveries.map((d) => [d.attempt, d.outcome, d.statusCode])).toEqual([[1, 'failed', 500], [2, 'failed', 500], [3, 'delivered', 200]]);
  const gaps = got.slice(1).map((r, i) => Math.round(r.at - got[i]!.at));
  console.log(`webhook retry gaps (preset ${RETRY.initialIntervalMs} ms × ${RETRY.backoffCoefficient}): ${gaps.join(', ')} ms`);
  // Temporal never retries before the preset's interval: a lower bound, not a timing race.
  expect(gaps[0]).toBeGreaterThanOrEqual(RETRY.initialIntervalMs);
  expect(gaps[1]).toBeGreaterThanOrEqual(RETRY.initialIntervalMs * RETRY.backoffCoefficient);
});

test('a receiver that always fails gets every attempt of the preset, the last recorded as gave_up; the saga still completes', async () => {
  receiver.script('/down', [503]);
  const { json } = await user.submit({ language: 'bash', script: 'true', callbackUrl: receiver.url('/down') });
  await sagaClosed(json.id);
  expect(receiver.receivedAt('/down')).toHaveLength(RETRY.maximumAttempts);
  const webhook = await webhookOf(json.id);
  expect(webhook!.state).toBe('gave_up');
  expect(webhook!.deliveries.map((d) => d.outcome)).toEqual(['failed', 'failed', 'failed', 'gave_up']);
  expect((await user.get(json.id)).json.status).toBe('completed');
});

test('a private-address target is refused without a request, and not retried', async () => {
  const { json } = await user.submit({ language: 'bash', script: 'true', callbackUrl: internal.url('/metadata') });
  await sagaClosed(json.id);
  expect(internal.received).toHaveLength(0);
  const webhook = await webhookOf(json.id);
  expect(webhook!.deliveries).toHaveLength(1);
  expect(webhook!.deliveries[0]).toMatchObject({ attempt: 1, outcome: 'refused', address: null, error: '127.0.0.2: 127.0.0.2 is loopback' });
  expect((await user.get(json.id)).json.status).toBe('completed');
});

test('the end is recorded while the receiver still hangs on the webhook', async () => {
  receiver.script('/hang', ['hang']);
  const { json } = await user.submit({ language: 'bash', script: 'true', callbackUrl: receiver.url('/hang') });
  await waitFor('the receiver to hold the webhook', async () => (receiver.hangingCount() > 0 ? true : undefined), { deadlineMs: 60_000 });
  const whileHanging = await user.get(json.id);
  const heldAt = Date.now();
  expect(whileHanging.json.status).toBe('completed');
  expect(whileHanging.json.finishedAt).not.toBeNull();
  expect((whileHanging.json.webhook as WebhookState).state).toBe('pending');
  console.log(`terminal state recorded ${heldAt - Date.parse(whileHanging.json.finishedAt!)} ms before this read, with the receiver still holding the webhook open`);
  receiver.release(204);
  await waitFor('the webhook to be delivered', async () => ((await webhookOf(json.id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
});

test('a cancelled execution gets its webhook too', async () => {
  const { json } = await user.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 }, callbackUrl: receiver.url('/cancelled') });
  await user.waitForStatus(json.id, (s) => s === 'running');
  await user.cancel(json.id, 'webhook test');
  await waitFor('the webhook to be delivered', async () => ((await webhookOf(json.id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
  expect(JSON.parse(receiver.receivedAt('/cancelled')[0]!.body)).toMatchObject({ type: 'execution.cancelled', data: { status: 'cancelled' } });
});

test('a rotated secret signs the next webhooks at once; a user key cannot name another owner', async () => {
  const before = (await user.call('GET', '/webhook-secret')).json as unknown as { createdAt: string };
  const rotated = await user.call('POST', '/webhook-secret', {});
  const { secret, rotatedAt } = rotated.json as unknown as { secret: string; rotatedAt: string };
  expect(rotatedAt).not.toBeNull();
  expect((await user.call('GET', '/webhook-secret')).json).toMatchObject({ exists: true, createdAt: before.createdAt, rotatedAt });
  receiver.useSecret(secret);
  const { json } = await user.submit({ language: 'bash', script: 'true', callbackUrl: receiver.url('/rotated') });
  await waitFor('the webhook to be delivered', async () => ((await webhookOf(json.id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
  expect(receiver.receivedAt('/rotated')[0]!.verified).toBe(true);
  expect((await user.call('POST', '/webhook-secret', { ownerId: 'someone-else' })).status).toBe(403);
});

test('batch items carry their own callbackUrl, each delivered on its own', async () => {
  const batch = await user.call('POST', '/executions/batch', { items: [0, 1].map((i) => ({ language: 'bash', script: `echo ${i}`, callbackUrl: receiver.url(`/batch-${i}`) })) });
  expect(batch.status).toBe(200);
  const ids = (batch.json as unknown as { items: Array<{ status: number; execution: { id: string; callbackUrl: string } }> }).items.map((item, i) => {
    expect([item.status, item.execution.callbackUrl]).toEqual([201, receiver.url(`/batch-${i}`)]);
    return item.execution.id;
  });
  for (const id of ids) await waitFor('the webhook to be delivered', async () => ((await webhookOf(id))?.state === 'delivered' ? true : undefined), { deadlineMs: 60_000 });
  expect([0, 1].map((i) => JSON.parse(receiver.receivedAt(`/batch-${i}`)[0]!.body).data.id as string)).toEqual(ids);
});

test("every recorded attempt is counted in the worker's metrics by outcome, and each one that sent a request is timed", async () => {
  const metric = (text: string, name: string, outcome: string) => Number(new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const compare = async () => {
    const rows = await ctx.service.db.webhookDelivery.groupBy({ by: ['outcome'], _count: { _all: true } });
    const text = await ctx.service.worker.metrics();
    return rows.map((row) => ({
      outcome: row.outcome,
      recorded: row._count._all,
      counted: metric(text, 'eo_webhook_attempts_total', row.outcome),
      timed: metric(text, 'eo_webhook_attempt_duration_seconds_count', row.outcome),
    }));
  };
  // An attempt still hanging on its receiver (an earlier test) may land meanwhile: compare once both agree.
  const seen = await waitFor('the counters to match the recorded attempts', async () => {
    const rows = await compare();
    return rows.every((r) => r.counted === r.recorded) ? rows : undefined;
  }, { deadlineMs: 30_000 });
  // This file's tests delivered, retried, gave up and refused.
  expect(seen.map((r) => r.outcome).sort()).toEqual(['delivered', 'failed', 'gave_up', 'refused']);
  for (const r of seen) expect(r.timed).toBe(r.outcome === 'refused' ? 0 : r.recorded);
});
