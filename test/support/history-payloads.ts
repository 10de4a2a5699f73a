import type { Payload } from '@temporalio/common';

type JsonPayload = { metadata?: Record<string, string>; data?: string };

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * Runs every `{payloads: [...]}` of a history in its JSON form (inputs, results, failure and heartbeat
 * details) through `op` — a codec's encode or decode — in place, as a worker's codec sees them. Of a
 * marker, only a local activity's result and failure went through the codec; the rest (patch markers, a local
 * activity's `data`) the SDK's core writes itself, never through the codec.
 */
export async function mapHistoryPayloads(node: unknown, op: (payloads: Payload[]) => Promise<Payload[]>): Promise<void> {
  if (Array.isArray(node)) {
    for (const item of node) await mapHistoryPayloads(item, op);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.payloads)) {
    record.payloads = (await op((record.payloads as JsonPayload[]).map(fromJson))).map(toJson);
    return;
  }
  for (const [key, value] of Object.entries(record)) {
    if (key !== 'markerRecordedEventAttributes') await mapHistoryPayloads(value, op);
    else await mapLocalActivityMarker(value as Record<string, unknown>, op);
  }
}

async function mapLocalActivityMarker(marker: Record<string, unknown>, op: (payloads: Payload[]) => Promise<Payload[]>): Promise<void> {
  if (marker.markerName !== 'core_local_activity') return;
  await mapHistoryPayloads((marker.details as Record<string, unknown> | undefined)?.result, op);
  await mapHistoryPayloads(marker.failure, op);
}
