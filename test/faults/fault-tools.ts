import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
import type { RelayHandle } from '../../relay/main';
import { waitFor } from '../../stack/wait';

/** A Prometheus sample of `text`: the value of `name` (with exactly these labels, in order, when given). */
export function sampleOf(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The API's `/readyz` answer (public). */
export async function readyz(baseUrl: string): Promise<{ status: number; checks: Record<string, { ok: boolean; note?: string; error?: string }> }> {
  const res = await fetch(`${baseUrl}/readyz`);
  const body = (await res.json()) as { checks: Record<string, { ok: boolean; note?: string }> };
  return { status: res.status, checks: body.checks };
}

/** The API's `/metrics` text (admin key). */
export async function apiMetrics(baseUrl: string, adminKey: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The relay's own series (its ops server's `/metrics`), read from the handle: they stay readable while Postgres is down, when the API's `/metrics` cannot check a key. */
export async function relayMetrics(relay: RelayHandle): Promise<string> {
  return relay.metrics();
}

/** Deletes a topic and waits until the broker no longer lists it. */
export async function deleteTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'fault-test', bootstrapBrokers: brokers });
  try {
    await admin.deleteTopics({ topics: [topic] });
    await waitFor(`topic ${topic} to be gone`, async () => !(await admin.listTopics()).includes(topic), { deadlineMs: 20_000, intervalMs: 100 });
  } finally {
    await admin.close();
  }
}

/**
 * Sets a topic's `max.message.bytes` (the largest record batch the broker accepts on it), or removes the
 * override with `null`: a message above it is refused for good — a poison message.
 */
export async function setTopicMessageLimit(brokers: string[], topic: string, bytes: number | null): Promise<void> {
  const admin = new Admin({ clientId: 'fault-test', bootstrapBrokers: brokers });
  try {
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: topic,
          configs: [bytes === null ? { name: 'max.message.bytes', configOperation: IncrementalAlterConfigOperationTypes.DELETE } : { name: 'max.message.bytes', configOperation: IncrementalAlterConfigOperationTypes.SET, value: String(bytes) }],
        },
      ],
    });
  } finally {
    await admin.close();
  }
}

/** Waits `ms` — only to hold a fault open for its stated length, never to wait for an outcome. */
export const holdFault = (ms: number) => new Promise((r) => setTimeout(r, ms));
