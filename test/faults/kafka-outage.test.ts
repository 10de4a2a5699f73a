import { downPart, statusPart, upPart } from '../../stack';
import { serviceForThisFile, waitFor } from '../support/harness';
import { apiMetrics, deleteTopic, holdFault, relayMetrics, readyz, sampleOf, setTopicMessageLimit } from './fault-tools';
import { expectNothingLost, loadWithFault } from './invariants';

// Real faults of the real broker under a steady load of executions: they must all end, and every event
// must reach Kafka once the broker is back — nothing lost, nothing out of order, no dead letter but the poison's.
const OUTAGE_MS = 30_000;
// Few attempts a message: an outage that wrongly spent them would dead-letter events within seconds.
const ctx = serviceForThisFile({ RELAY_POLL_INTERVAL_MS: '500', RELAY_MAX_ATTEMPTS: '3' });
const brokers = () => ctx.service.config.kafka.brokers!;

const submit = async () => {
  const { status, json } = await ctx.api.submit({ language: 'bash', script: 'echo "$RANDOM"' });
  expect(status).toBe(201);
  return json.id;
};

const PENDING = 'eo_outbox_events';
const AGE = 'eo_outbox_oldest_pending_age_seconds';

test('Kafka stopped for 30 s under load, then started again: /readyz and /metrics show the outage, then every execution ends and every event reaches Kafka, in order, none dead-lettered', async () => {
  const seenDuring: Record<string, unknown> = {};
  const run = await loadWithFault(ctx.service, submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart('kafka');
      const downAt = Date.now();
      // While it is down: readiness reports Kafka, the relay's circuit is open, the outbox's oldest event ages.
      const ready = await waitFor('/readyz to report Kafka down', async () => {
        const r = await readyz(ctx.service.api.url);
        return r.checks.kafka?.ok === false ? r : undefined;
      }, { deadlineMs: 20_000 });
      seenDuring.readyz = ready;
      await waitFor('the relay circuit gauge to open', async () => sampleOf(await relayMetrics(ctx.service.relay), 'eo_relay_circuit_open') === 1, { deadlineMs: 20_000 });
      const ageOf = async () => sampleOf(await apiMetrics(ctx.service.api.url, ctx.service.adminKey), AGE) ?? 0;
      const firstAge = await waitFor('events to wait in the outbox', async () => {
        const age = await ageOf();
        return age > 0 ? age : undefined;
      }, { deadlineMs: 20_000 });
      const laterAge = await waitFor('the outbox age to grow', async () => {
        const age = await ageOf();
        return age >= firstAge + 2 ? age : undefined;
      }, { deadlineMs: 20_000 });
      seenDuring.outboxAgeSeconds = [firstAge, laterAge];
      seenDuring.pending = sampleOf(await apiMetrics(ctx.service.api.url, ctx.service.adminKey), PENDING, 'state="pending"');
      await holdFault(OUTAGE_MS - (Date.now() - downAt));
      await upPart('kafka');
    },
  });
  console.log(`seen during the Kafka outage: ${JSON.stringify(seenDuring)}`);
  expect(seenDuring.readyz).toMatchObject({ status: 200, checks: { postgres: { ok: true }, kafka: { ok: false, note: expect.stringMatching(/broker unreachable/) } } });
  expect(seenDuring.pending).toBeGreaterThan(0);
  await expectNothingLost(ctx.service, 'Kafka stopped 30 s', run);
  // Drained without a restart: the same relay closed its circuit, the backlog is gone.
  expect((await readyz(ctx.service.api.url)).checks.kafka).toEqual({ ok: true });
  expect(sampleOf(await relayMetrics(ctx.service.relay), 'eo_relay_circuit_open')).toBe(0);
  const after = await apiMetrics(ctx.service.api.url, ctx.service.adminKey);
  expect([sampleOf(after, PENDING, 'state="pending"'), sampleOf(after, AGE)]).toEqual([0, 0]);
}, 240_000);

test('Kafka SIGKILLed under load, then started again: every execution ends and every event reaches Kafka, none dead-lettered', async () => {
  const run = await loadWithFault(ctx.service, submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      const { pid } = await statusPart('kafka');
      if (pid === undefined) throw new Error('this test needs the local stack’s own Kafka (KAFKA_BROKERS unset)');
      process.kill(pid, 'SIGKILL');
      await waitFor('Kafka to die', async () => (!(await statusPart('kafka')).healthy ? true : undefined), { deadlineMs: 15_000 });
      await holdFault(10_000);
      await upPart('kafka');
    },
  });
  await expectNothingLost(ctx.service, 'Kafka SIGKILLed, down 10 s', run);
}, 240_000);

test('a topic deleted under load is created again by the relay: every event after the deletion reaches Kafka, nothing stalls, none dead-lettered', async () => {
  const topic = 'execution_completed';
  let goneAt = 0;
  const run = await loadWithFault(ctx.service, submit, {
    count: 24,
    everyMs: 250,
    // Late enough that the topic already holds some of this load's events: those go with it.
    faultAfterMs: 4_000,
    fault: async () => {
      await deleteTopic(brokers(), topic);
      goneAt = Date.now();
    },
  });
  const report = await expectNothingLost(ctx.service, `topic ${topic} deleted`, run, { lostWith: [{ topic, until: goneAt }] });
  // The relay published to the recreated topic (not merely nothing after the deletion).
  const after = await ctx.service.db.outboxEvent.count({ where: { executionId: { in: run.ids }, eventType: topic, publishedAt: { gt: new Date(goneAt) } } });
  console.log(`deleted topic: ${report.lostWithTopic} events went with it, ${after} published to it after`);
  expect(after).toBeGreaterThan(0);
}, 240_000);

test('a poison message (larger than the broker accepts) beside healthy ones ends in the DLQ — its row and its .dlq record — without stalling the other executions', async () => {
  const topic = 'execution_cancelled';
  // Above a healthy execution_cancelled event (~0.8 kB with its headers), below one with a 1000-character reason.
  await setTopicMessageLimit(brokers(), topic, 1_200);
  let poison = '';
  try {
    const submitMixed = async (i: number) => {
      if (i % 4 !== 1) return submit();
      const { status, json } = await ctx.api.submit({ language: 'bash', script: 'sleep 30' });
      expect(status).toBe(201);
      const reason = i === 5 ? 'p'.repeat(1_000) : 'fault test';
      if (i === 5) poison = json.id;
      expect((await ctx.api.cancel(json.id, reason)).status).toBe(202);
      return json.id;
    };
    const run = await loadWithFault(ctx.service, submitMixed, { count: 16, everyMs: 250, faultAfterMs: 0, fault: async () => undefined });
    await expectNothingLost(ctx.service, 'poison message', run, { endings: ['completed', 'cancelled'], deadLetters: 1 });
    const dead = await ctx.service.db.outboxEvent.findMany({ where: { executionId: { in: run.ids }, state: 'dead' } });
    expect(dead.map((d) => [d.executionId, d.eventType, d.attempts])).toEqual([[poison, topic, 3]]);
    expect(dead[0]!.lastError).toMatch(/larger than the max message size/i);
    expect(sampleOf(await apiMetrics(ctx.service.api.url, ctx.service.adminKey), 'eo_outbox_events', 'state="dead"')).toBe(1);
  } finally {
    await setTopicMessageLimit(brokers(), topic, null);
  }
}, 240_000);
