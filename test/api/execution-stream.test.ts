import { startApiServer } from '../../api/server';
import { bearer, serviceForThisFile, testLog } from '../support/harness';
import { readEventStream } from '../support/sse';

const ctx = serviceForThisFile();
const readAsAdmin = (url: string, headers: Record<string, string> = {}) => readEventStream(url, { ...bearer(ctx.service.adminKey), ...headers });

const streamUrl = (id: string) => `${ctx.service.api.url}/api/v1/executions/${id}/stream`;

test('the stream carries each event of an execution as it happens, then `end` with the result, and closes', async () => {
  const { json } = await ctx.api.submit({ language: 'python', script: 'print("streamed")' });
  const stream = await readAsAdmin(streamUrl(json.id));
  expect(stream.status).toBe(200);
  expect(stream.contentType).toMatch(/^text\/event-stream/);
  expect(stream.events.map((e) => [e.id, e.event])).toEqual([
    ['1', 'execution_requested'],
    ['2', 'execution_started'],
    ['3', 'execution_completed'],
    [null, 'end'],
  ]);
  for (const e of stream.events.slice(0, 3)) expect(JSON.parse(e.data)).toMatchObject({ event_type: e.event, aggregate_id: json.id });
  expect(JSON.parse(stream.events[3]!.data)).toMatchObject({ id: json.id, status: 'completed', result: { stdout: 'streamed\n', exitCode: 0 } });
}, 60_000);

test('a cancel ends the stream too: execution_cancelled, then end', async () => {
  const { json } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  const reading = readAsAdmin(streamUrl(json.id));
  await ctx.api.waitForStatus(json.id, (s) => s === 'running');
  expect((await ctx.api.cancel(json.id, 'seen enough')).status).toBe(202);
  const stream = await reading;
  expect(stream.events.map((e) => e.event)).toEqual(['execution_requested', 'execution_started', 'execution_cancelled', 'end']);
  expect(JSON.parse(stream.events[2]!.data)).toMatchObject({ payload: { reason: 'seen enough' } });
  expect(JSON.parse(stream.events[3]!.data)).toMatchObject({ status: 'cancelled' });
}, 60_000);

test('Last-Event-ID resumes after that event; a finished execution’s stream ends at once', async () => {
  const { json } = await ctx.api.submit({ language: 'bash', script: 'exit 3' });
  await ctx.api.waitForStatus(json.id, (s) => s === 'failed');
  const stream = await readAsAdmin(streamUrl(json.id), { 'Last-Event-ID': '2' });
  expect(stream.events.map((e) => [e.id, e.event])).toEqual([
    ['3', 'execution_failed'],
    [null, 'end'],
  ]);
});

test('an unknown execution is a 404 and a malformed Last-Event-ID a 400 naming the header, as problem+json', async () => {
  const unknown = await readAsAdmin(streamUrl('0191e8a0-0000-7000-8000-000000000000'));
  expect(unknown.status).toBe(404);
  expect(unknown.contentType).toMatch(/^application\/problem\+json/);
  const { json } = await ctx.api.submit({ language: 'bash', script: 'true' });
  const bad = await readAsAdmin(streamUrl(json.id), { 'Last-Event-ID': 'yesterday' });
  expect(bad.status).toBe(400);
  expect(JSON.parse(bad.body)).toMatchObject({ errors: [{ field: 'header Last-Event-ID' }] });
});

test('stopping the API ends its open streams instead of waiting for them', async () => {
  const other = await startApiServer(ctx.service.config, testLog);
  const { json } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  const reading = readAsAdmin(`${other.url}/api/v1/executions/${json.id}/stream`);
  await ctx.api.waitForStatus(json.id, (s) => s === 'running');
  await other.stop();
  const stream = await reading;
  // A stopping API asks its clients to come back (to another replica) rather than ending the stream.
  expect(stream.events.map((e) => e.event)).toEqual(['execution_requested', 'execution_started', 'reconnect']);
  await ctx.api.cancel(json.id, 'test over');
}, 60_000);
