import { generateWebhookSecret, signWebhook, verifyWebhook } from '../../webhooks/signature';

test('signing reproduces the Standard Webhooks reference vector', () => {
  // From the Standard Webhooks specification's reference libraries.
  const headers = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
  expect(headers).toEqual({ 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' });
});

test('a receiver accepts its own secret\'s signature and refuses another secret, a changed body or a stale timestamp', () => {
  const secret = generateWebhookSecret();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  const now = 1_800_000_000;
  const headers = signWebhook(secret, 'msg_1', now, '{"a":1}');
  expect(verifyWebhook(secret, headers, '{"a":1}', now)).toBe(true);
  expect(verifyWebhook(generateWebhookSecret(), headers, '{"a":1}', now)).toBe(false);
  expect(verifyWebhook(secret, headers, '{"a":2}', now)).toBe(false);
  expect(verifyWebhook(secret, headers, '{"a":1}', now + 301)).toBe(false);
  // Several signatures (a receiver during a rotation): one valid is enough.
  expect(verifyWebhook(secret, { ...headers, 'webhook-signature': `v1,AAAA ${headers['webhook-signature']}` }, '{"a":1}', now)).toBe(true);
});
