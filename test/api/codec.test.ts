import express from 'express';
import request from 'supertest';
import { defaultPayloadConverter } from '@temporalio/common';
import { codecAccessPlaceholder, createCodecRouter } from '../../api/routes/codec';
import { problemMiddleware } from '../../api/problem';
import { EncryptionCodec } from '../../payload-codec/encryption-codec';
import { generateKeyEntry, parseKeyring } from '../../payload-codec/keyring';
import { createTestKey, testConfig, testLog } from '../support/harness';
import { createTestApp } from '../support/test-app';

const UI = 'http://127.0.0.1:8233';
const keyring = parseKeyring(generateKeyEntry());

/** The codec router alone, as the API mounts it, with the placeholder's loopback access. */
function codecApp(access: 'closed' | 'loopback' = 'loopback', entries = keyring) {
  const app = express();
  app.use(createCodecRouter({ codec: new EncryptionCodec(entries), authorize: codecAccessPlaceholder(access), corsOrigins: [UI] }));
  app.use(problemMiddleware(() => testLog));
  return app;
}

const asJson = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});
const plainPayload = asJson(defaultPayloadConverter.toPayload({ stdout: 'tenant output' }));

test('encode then decode over HTTP gives the payload back; encoded, it is binary/encrypted', async () => {
  const app = codecApp();
  const encoded = await request(app).post('/codec/encode').set('X-Namespace', 'default').send({ payloads: [plainPayload] });
  expect(encoded.status).toBe(200);
  expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  const decoded = await request(app).post('/codec/decode').send(encoded.body);
  expect(decoded.status).toBe(200);
  expect(decoded.body.payloads).toEqual([plainPayload]);
});

test('a payload encrypted under a key id this API does not hold answers 422 naming the key id', async () => {
  const other = parseKeyring(generateKeyEntry());
  const encoded = await request(codecApp('loopback', other)).post('/codec/encode').send({ payloads: [plainPayload] });
  const res = await request(codecApp()).post('/codec/decode').send(encoded.body);
  expect(res.status).toBe(422);
  expect(res.body.detail).toContain(`key id "${other[0]!.id}"`);
});

test('a body that is not a payload list answers 400', async () => {
  const res = await request(codecApp()).post('/codec/decode').send({ payloads: [{ data: 'not base64!' }] });
  expect(res.status).toBe(400);
  expect(res.body.errors[0].field).toBe('payloads.0.data');
});

test('a preflight from the Web UI origin is answered with CORS headers, without authorization; another origin gets none', async () => {
  const ok = await request(codecApp('closed')).options('/codec/decode').set('Origin', UI).set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'content-type,x-namespace');
  expect(ok.status).toBe(204);
  expect(ok.headers['access-control-allow-origin']).toBe(UI);
  expect(ok.headers['access-control-allow-headers']).toMatch(/X-Namespace/);
  expect(ok.headers['access-control-allow-methods']).toBe('POST');
  const other = await request(codecApp()).options('/codec/decode').set('Origin', 'http://evil.example').set('Access-Control-Request-Method', 'POST');
  expect(other.headers['access-control-allow-origin']).toBeUndefined();
  const post = await request(codecApp()).post('/codec/decode').set('Origin', UI).send({ payloads: [] });
  expect(post.headers['access-control-allow-origin']).toBe(UI);
});

test('loopback access refuses a request whose Host is not a loopback name (a rebinding web page)', async () => {
  const res = await request(codecApp()).post('/codec/decode').set('Host', 'attacker.example:3000').send({ payloads: [plainPayload] });
  expect(res.status).toBe(403);
});

test('the API run alone opens the codec endpoint to admin keys only: no key → 403, a user key → 403, an admin key → decoded', async () => {
  const testApp = await createTestApp(testConfig());
  try {
    const noKey = await request(testApp.app).post('/codec/decode').send({ payloads: [plainPayload] });
    expect(noKey.status).toBe(403);
    expect(noKey.type).toBe('application/problem+json');
    expect(noKey.body.detail).toMatch(/CODEC_ENDPOINT_ACCESS/);
    const userKey = await createTestKey(testApp.db, 'user', 'codec-curious');
    expect((await testApp.as(userKey).post('/codec/decode').send({ payloads: [plainPayload] })).status).toBe(403);
    expect((await testApp.as('eo_0000000000_not-a-key').post('/codec/decode').send({ payloads: [plainPayload] })).status).toBe(401);
    const admin = await testApp.api().post('/codec/decode').send({ payloads: [plainPayload] });
    expect(admin.status).toBe(200);
    expect(admin.body.payloads).toEqual([plainPayload]);
  } finally {
    await testApp.close();
  }
});
