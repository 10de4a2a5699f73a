import { randomUUID } from 'node:crypto';
import { bearer, serviceForThisFile } from '../support/harness';

const ctx = serviceForThisFile();

interface BatchItem {
  index: number;
  status: number;
  location?: string;
  execution?: { id: string; status: string };
  problem?: { status: number; errors?: Array<{ field: string }> };
}

async function postBatch(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${ctx.service.api.url}/api/v1/executions/batch`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(ctx.service.adminKey), ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { items: BatchItem[]; accepted: number; failed: number; errors?: Array<{ field: string }> } };
}

const items = [
  { language: 'python', script: 'print("one")' },
  { language: 'cobol', script: 'DISPLAY "two"' },
  { language: 'bash', script: 'echo three' },
];

test('a batch answers per item, as single submissions would: valid items start and run, an invalid one is a problem naming its field', async () => {
  const { status, json } = await postBatch({ items });
  expect(status).toBe(200);
  expect(json.items.map((i) => [i.index, i.status])).toEqual([[0, 201], [1, 400], [2, 201]]);
  expect(json).toMatchObject({ accepted: 2, failed: 1 });
  expect(json.items[1]!.problem!.errors![0]!.field).toBe('language');
  expect(json.items[0]!.location).toBe(`/api/v1/executions/${json.items[0]!.execution!.id}`);
  const done = await Promise.all([0, 2].map((i) => ctx.api.waitForStatus(json.items[i]!.execution!.id, (s) => s === 'completed')));
  expect(done.map((d) => d.result.stdout)).toEqual(['one\n', 'three\n']);
  // Nothing was created for the invalid item.
  expect(await ctx.service.db.execution.count({ where: { script: 'DISPLAY "two"' } })).toBe(0);
}, 60_000);

test('an Idempotency-Key covers the batch: sent again, each item replays the execution it made', async () => {
  const key = randomUUID();
  const first = await postBatch({ items }, { 'Idempotency-Key': key });
  const again = await postBatch({ items }, { 'Idempotency-Key': key });
  expect(again.json.items.map((i) => i.status)).toEqual([200, 400, 200]);
  expect(again.json.items.map((i) => i.execution?.id)).toEqual(first.json.items.map((i) => i.execution?.id));
});

test('an empty, oversized or non-JSON batch is refused whole', async () => {
  expect((await postBatch({ items: [] })).json.errors![0]!.field).toBe('items');
  expect((await postBatch({ items: Array.from({ length: 101 }, () => items[0]) })).json.errors![0]!.field).toBe('items');
  expect((await postBatch({ items, extra: 1 })).json.errors![0]!.field).toBe('extra');
  const plain = await fetch(`${ctx.service.api.url}/api/v1/executions/batch`, { method: 'POST', headers: { 'content-type': 'text/plain', ...bearer(ctx.service.adminKey) }, body: 'x' });
  expect(plain.status).toBe(415);
});
