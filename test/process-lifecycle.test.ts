import { ConfigError, loadConfig } from '../config';
import { generateKeyEntry } from '../payload-codec/keyring';
import { requireEndpoints } from '../process-lifecycle';

const refusal = (env: Record<string, string>, needs?: { temporal: boolean }) => {
  try {
    requireEndpoints(loadConfig(env), needs);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
};

test('the api and the worker, run alone, refuse to start without DATABASE_URL, TEMPORAL_ADDRESS or codec keys, naming what is missing', () => {
  const keys = generateKeyEntry();
  expect(refusal({ PAYLOAD_CODEC_KEYS: keys })).toMatch(/^DATABASE_URL, TEMPORAL_ADDRESS must be set/);
  expect(refusal({ PAYLOAD_CODEC_KEYS: keys, DATABASE_URL: 'postgres://db/eo' })).toMatch(/^TEMPORAL_ADDRESS must be set/);
  expect(refusal({ PAYLOAD_CODEC_KEYS: '', DATABASE_URL: 'postgres://db/eo', TEMPORAL_ADDRESS: 't:7233' })).toMatch(/PAYLOAD_CODEC_KEYS/);
  expect(requireEndpoints(loadConfig({ PAYLOAD_CODEC_KEYS: keys, DATABASE_URL: 'postgres://db/eo', TEMPORAL_ADDRESS: 't:7233' })).temporal.address).toBe('t:7233');
});

test('the relay, run alone, needs Postgres but neither Temporal nor the codec keys (it talks to Postgres and Kafka only)', () => {
  expect(refusal({ PAYLOAD_CODEC_KEYS: '' }, { temporal: false })).toMatch(/^DATABASE_URL must be set/);
  expect(requireEndpoints(loadConfig({ PAYLOAD_CODEC_KEYS: '', DATABASE_URL: 'postgres://db/eo' }), { temporal: false }).databaseUrl).toBe('postgres://db/eo');
});
