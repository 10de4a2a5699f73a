import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InterceptingCall, ListenerBuilder, RequesterBuilder } from '@grpc/grpc-js';
import type { Interceptor } from '@grpc/grpc-js';
import { Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import { freeLoopbackPort } from '../stack/port';
import { clientConnectionOptions, connectTemporalClient, connectTemporalNative, nativeConnectionOptions } from '../temporal-connection';
import { testConfig } from './support/harness';

const base = { PAYLOAD_CODEC_KEYS: '' };
const refusal = (env: Record<string, string>) => {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
};

const dir = mkdtempSync(path.join(tmpdir(), 'eo-temporal-tls-'));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('a client certificate without its key, or a key without its certificate, is refused naming the missing variable', () => {
  expect(refusal({ TEMPORAL_TLS_CERT_PATH: '/x/client.pem' })).toMatch(/TEMPORAL_TLS_KEY_PATH: mTLS needs both/);
  expect(refusal({ TEMPORAL_TLS_KEY_PATH: '/x/client.key' })).toMatch(/TEMPORAL_TLS_CERT_PATH: mTLS needs both/);
});

test('TLS turned off while TLS settings or an API key are given is refused naming TEMPORAL_TLS and what contradicts it', () => {
  expect(refusal({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).toMatch(/TEMPORAL_TLS: is false, but TEMPORAL_API_KEY is set/);
  expect(refusal({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_CA_PATH: '/x/ca.pem' })).toMatch(/TEMPORAL_TLS: is false, but TEMPORAL_TLS_CA_PATH is set/);
  expect(refusal({ TEMPORAL_TLS: 'yes' })).toMatch(/TEMPORAL_TLS/);
  expect(refusal({ TEMPORAL_KEEPALIVE_TIME_MS: '10000', TEMPORAL_KEEPALIVE_TIMEOUT_MS: '10000' })).toMatch(/TEMPORAL_KEEPALIVE_TIMEOUT_MS: must be below TEMPORAL_KEEPALIVE_TIME_MS/);
});

test('the TLS files, API key, namespace, connect timeout and keep-alive reach the client and the worker connection options', () => {
  const ca = file('ca.pem', 'CA PEM');
  const crt = file('client.pem', 'CLIENT CERT PEM');
  const key = file('client.key', 'CLIENT KEY PEM');
  const config = loadConfig({ ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_TLS_CA_PATH: ca, TEMPORAL_TLS_CERT_PATH: crt, TEMPORAL_TLS_KEY_PATH: key, TEMPORAL_TLS_SERVER_NAME: 'frontend.internal', TEMPORAL_API_KEY: 'secret-key', TEMPORAL_CONNECT_TIMEOUT_MS: '4000', TEMPORAL_KEEPALIVE_TIME_MS: '20000', TEMPORAL_KEEPALIVE_TIMEOUT_MS: '5000' });
  expect(config.temporal.namespace).toBe('ns.acct');
  const endpoint = { address: config.temporal.address!, connection: config.temporal.connection };
  const client = clientConnectionOptions(endpoint);
  expect(client).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', apiKey: 'secret-key', connectTimeout: 4000, channelArgs: { 'grpc.keepalive_time_ms': 20000, 'grpc.keepalive_timeout_ms': 5000 } });
  const tls = client.tls as { serverRootCACertificate: Buffer; clientCertPair: { crt: Buffer; key: Buffer }; serverNameOverride: string };
  expect(tls.serverRootCACertificate.toString()).toBe('CA PEM');
  expect(tls.clientCertPair.crt.toString()).toBe('CLIENT CERT PEM');
  expect(tls.clientCertPair.key.toString()).toBe('CLIENT KEY PEM');
  expect(tls.serverNameOverride).toBe('frontend.internal');
  const native = nativeConnectionOptions(endpoint);
  expect(native).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', apiKey: 'secret-key', tls: { serverNameOverride: 'frontend.internal' } });
  // An API key alone means TLS with the system's CAs (Temporal Cloud).
  expect(clientConnectionOptions({ address: 'x:7233', connection: loadConfig({ ...base, TEMPORAL_API_KEY: 'k' }).temporal.connection }).tls).toEqual({});
  expect(clientConnectionOptions({ address: 'x:7233', connection: loadConfig(base).temporal.connection }).tls).toBe(false);
});

test('an unreadable TLS file is refused at connection time naming its variable', async () => {
  const config = loadConfig({ ...base, TEMPORAL_TLS_CA_PATH: path.join(dir, 'missing.pem') });
  await expect(connectTemporalClient({ address: '127.0.0.1:1', connection: config.temporal.connection })).rejects.toThrow(/TEMPORAL_TLS_CA_PATH: cannot read .*missing\.pem \(ENOENT\)/);
});

test('connecting with TLS to the plain dev server fails with an error naming TEMPORAL_TLS, for the client and the worker connection', async () => {
  const config = testConfig({ TEMPORAL_TLS: 'true', TEMPORAL_CONNECT_TIMEOUT_MS: '3000' });
  const endpoint = { address: config.temporal.address, connection: config.temporal.connection };
  await expect(connectTemporalClient(endpoint)).rejects.toThrow(/cannot connect to Temporal at .* with TLS \(TEMPORAL_TLS\).*set TEMPORAL_TLS=false/);
  await expect(connectTemporalNative(endpoint)).rejects.toThrow(/cannot connect to Temporal at .* with TLS \(TEMPORAL_TLS\)/);
  // The same server, plainly: connects.
  const plain = await connectTemporalClient({ address: config.temporal.address, connection: testConfig().temporal.connection });
  await plain.close();
}, 30_000);

test('a call backing off against an unreachable server when its connection closes rejects with CANCELLED, instead of its retry timer throwing "Channel has been shut down" into the process', async () => {
  const port = await freeLoopbackPort(); // nothing listens there: every attempt is UNAVAILABLE, which Temporal's interceptor retries
  const options = clientConnectionOptions({ address: `127.0.0.1:${port}`, connection: loadConfig(base).temporal.connection });
  // Closest to the channel: tells when the first attempt has failed, so that the retry is then waiting on its timer.
  let firstAttemptFailed!: () => void;
  const failed = new Promise<void>((resolve) => (firstAttemptFailed = resolve));
  const observer: Interceptor = (callOptions, nextCall) =>
    new InterceptingCall(nextCall(callOptions), new RequesterBuilder().withStart((metadata, _listener, next) => next(metadata, new ListenerBuilder().withOnReceiveStatus((status, done) => {
      firstAttemptFailed();
      done(status);
    }).build())).build());
  const connection = Connection.lazy({ ...options, interceptors: [...options.interceptors!, observer] });
  const call = connection.workflowService.getSystemInfo({});
  call.catch(() => undefined); // read below; settled or not, it must not be reported as unhandled meanwhile
  await failed;
  await connection.close();
  await expect(call).rejects.toThrow(/CANCELLED: connection closed: Channel has been shut down/);
});
