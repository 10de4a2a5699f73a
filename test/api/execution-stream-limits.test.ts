import http from 'node:http';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { bearer, serviceForThisFile, testLog, waitFor } from '../support/harness';

// Event streams are capped per key and per API process, and a stream lets go of everything it holds
// whenever its connection closes — during set-up too. Counted through the API's own gauges
// (/metrics) and the server's open connections.
const ctx = serviceForThisFile();

/** One request on a connection of its own (no keep-alive), so that the server's connection count is exact. */
function open(url: string, headers: Record<string, string>) {
  const req = http.request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  req.end();
  return { req, response };
}

/** Reads a whole response (status, headers, body) on a connection of its own. */
async function fetchOnce(url: string, headers: Record<string, string>) {
  const { response } = open(url, headers);
  const res = await response;
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode!, headers: res.headers, body };
}

/** The API's stream gauges, read from /metrics with an admin key. */
async function streamGauges(api: ApiHandle) {
  const { body } = await fetchOnce(`${api.url}/metrics`, bearer(ctx.service.adminKey));
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
  return {
    streams: value('eo_api_event_streams'),
    timers: value('eo_api_event_stream_timers'),
    feedSubscribers: value('eo_api_event_feed_subscribers'),
    abandonedInSetup: value('eo_api_event_streams_abandoned_in_setup_total'),
  };
}

const connectionsOf = (api: ApiHandle) => new Promise<number>((resolve, reject) => api.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

async function longRun() {
  // After the churn the admin key may meet a limit for a moment (429 with Retry-After): ask again until accepted.
  const json = await waitFor('the long run to be accepted', async () => {
    const { status, json: body } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
    if (status !== 201) throw new Error(`${status} ${JSON.stringify(body)}`);
    return body;
  }, { deadlineMs: 30_000, intervalMs: 1_000 });
  await ctx.api.waitForStatus(json.id, (s) => s === 'running');
  return json.id;
}

test('1,000 stream connects and disconnects, some during set-up, leave no stream, timer, feed subscriber or connection', async () => {
  // The churn is a thousand requests of one key in a few seconds: the harness's request limit (testConfig) is high.
  const api = await startApiServer({ ...ctx.service.config, streams: { perKey: 1_000, perReplica: 1_000 } }, testLog);
  try {
    const running = await longRun();
    const { json: done } = await ctx.api.submit({ language: 'bash', script: 'true' });
    await ctx.api.waitForStatus(done.id, (s) => s === 'completed');
    const key = await ctx.service.userKey('stream-churn');
    const admin = bearer(ctx.service.adminKey);
    const url = (id: string) => `${api.url}/api/v1/executions/${id}/stream`;
    const outcomes: Record<string, number> = {};
    const count = (what: string) => (outcomes[what] = (outcomes[what] ?? 0) + 1);

    /** Connection i: left during set-up, after the headers, after the first event, read to its end, or another owner's (404). */
    const one = async (i: number) => {
      const mode = i % 5;
      if (mode === 4) {
        const res = await fetchOnce(url(running), bearer(key));
        count(`other owner ${res.status}`);
        return;
      }
      const { req, response } = open(url(mode === 3 ? done.id : running), admin);
      if (mode === 0) {
        // Gone while the server reads the execution: after 0–3 ms, before any answer.
        await new Promise((r) => setTimeout(r, i % 4));
        req.destroy();
        await response.catch(() => undefined);
        count('left during set-up');
        return;
      }
      const res = await response;
      if (mode === 1) {
        req.destroy();
        count(`left after headers ${res.statusCode}`);
        return;
      }
      if (mode === 2) {
        await new Promise((resolve) => res.once('data', resolve));
        req.destroy();
        count(`left after the first event ${res.statusCode}`);
        return;
      }
      let body = '';
      for await (const chunk of res) body += String(chunk);
      count(body.includes('event: end') ? 'read to end' : 'ended without end event');
    };
    const pending = Array.from({ length: 1_000 }, (_, i) => i).values();
    await Promise.all(Array.from({ length: 25 }, async () => {
      for (const i of pending) await one(i);
    }));

    const settled = await waitFor('every stream to let go', async () => {
      const gauges = await streamGauges(api);
      const connections = await connectionsOf(api);
      return gauges.streams === 0 && gauges.timers === 0 && gauges.feedSubscribers === 0 && connections === 0 ? { ...gauges, connections } : undefined;
    }, { deadlineMs: 20_000, intervalMs: 100 });
    console.log(`stream churn: ${JSON.stringify(outcomes)}; after: ${JSON.stringify(settled)}`);
    expect(outcomes).toEqual({
      'left during set-up': 200,
      'left after headers 200': 200,
      'left after the first event 200': 200,
      'read to end': 200,
      'other owner 404': 200,
    });
    expect(settled).toMatchObject({ streams: 0, timers: 0, feedSubscribers: 0, connections: 0 });
    await ctx.api.cancel(running, 'test over');
  } finally {
    await api.stop();
  }
}, 180_000);

test('past the per-key cap a stream is refused with 429, past the per-process cap with 503, both problem+json with Retry-After', async () => {
  // The admin key's requests per second are shared through Redis with the harness's API; the harness's limit
  // (testConfig) is high, so a 429 here is the stream cap's, not the request rate's.
  const api = await startApiServer({ ...ctx.service.config, streams: { perKey: 2, perReplica: 3 } }, testLog);
  try {
    const running = await longRun();
    const alice = bearer(await ctx.service.userKey('stream-alice'));
    const { json: mine } = await ctx.api.call('POST', '/executions', { language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } }, {});
    // alice streams one of her own: submit it with her key.
    const aliceRun = await fetch(`${ctx.service.api.url}/api/v1/executions`, { method: 'POST', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } }) }).then((r) => r.json() as Promise<{ id: string }>);
    const url = (id: string) => `${api.url}/api/v1/executions/${id}/stream`;
    const held = [open(url(aliceRun.id), alice), open(url(aliceRun.id), alice)];
    await Promise.all(held.map((h) => h.response));
    const third = await fetchOnce(url(aliceRun.id), alice);
    expect(third.status).toBe(429);
    expect(third.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(third.headers['retry-after']).toBe('5');
    expect(JSON.parse(third.body)).toMatchObject({ status: 429, policy: 'streams-per-key', limit: 2 });

    held.push(open(url(running), bearer(ctx.service.adminKey)));
    await held[2]!.response;
    const fourth = await fetchOnce(url(mine.id), bearer(ctx.service.adminKey));
    expect(fourth.status).toBe(503);
    expect(fourth.headers['retry-after']).toBe('5');
    expect(JSON.parse(fourth.body)).toMatchObject({ status: 503, policy: 'streams-per-replica', limit: 3 });

    // A slot frees as soon as its connection closes.
    held[0]!.req.destroy();
    await waitFor('a slot freed', async () => ((await streamGauges(api)).streams === 2 ? true : undefined), { deadlineMs: 10_000, intervalMs: 50 });
    const again = open(url(aliceRun.id), alice);
    expect((await again.response).statusCode).toBe(200);
    again.req.destroy();
    for (const h of held) h.req.destroy();
    for (const id of [running, mine.id, aliceRun.id]) await ctx.api.cancel(id, 'test over');
  } finally {
    await api.stop();
  }
}, 120_000);
