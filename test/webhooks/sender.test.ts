import { createAddressPolicy } from '../../webhooks/address-policy';
import { createWebhookSender } from '../../webhooks/sender';
import type { Resolve } from '../../webhooks/sender';
import { startWebhookReceiver } from '../support/webhook-receiver';
import type { WebhookReceiver } from '../support/webhook-receiver';

let receiver: WebhookReceiver;
let other: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver('127.0.0.1');
  // On 127.0.0.2, a loopback address the policy below does not allow: it must never be reached.
  other = await startWebhookReceiver('127.0.0.2');
});
afterAll(async () => {
  await receiver?.close();
  await other?.close();
});

const policy = createAddressPolicy(['127.0.0.1/32']);
/** A resolver under the test's control, counting its calls, as a DNS server mounting a rebinding attack would answer. */
function scriptedResolver(...answers: string[][]): Resolve & { calls: number } {
  const resolve = Object.assign(
    async () => {
      const answer = answers[Math.min(resolve.calls, answers.length - 1)]!;
      resolve.calls += 1;
      return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
    { calls: 0 },
  );
  return resolve;
}

test('a host name is resolved once and the connection goes to that validated address, whatever a second lookup would say', async () => {
  // First answer allowed, any later one private: a sender that looked up again to connect would reach 127.0.0.2.
  const resolve = scriptedResolver(['127.0.0.1'], ['127.0.0.2']);
  const sender = createWebhookSender({ policy, allowHttp: true, timeoutMs: 5_000, resolve });
  const result = await sender.send(`http://hooks.customer.test:${receiver.port}/pinned`, {}, '{}');
  expect(result).toEqual({ kind: 'answered', statusCode: 200, address: '127.0.0.1' });
  expect(resolve.calls).toBe(1);
  expect(receiver.receivedAt('/pinned')).toHaveLength(1);
  expect(receiver.receivedAt('/pinned')[0]!.headers.host).toBe(`hooks.customer.test:${receiver.port}`);
});

test('a host name that resolves only to refused addresses is refused without a connection', async () => {
  const sender = createWebhookSender({ policy, allowHttp: true, timeoutMs: 5_000, resolve: scriptedResolver(['127.0.0.2', '::1']) });
  const result = await sender.send(`http://rebind.customer.test:${other.port}/x`, {}, '{}');
  expect(result).toMatchObject({ kind: 'refused' });
  expect((result as { reason: string }).reason).toContain('127.0.0.2 is loopback');
  expect(other.received).toHaveLength(0);
});

test('of a mixed answer only an allowed address is used', async () => {
  const sender = createWebhookSender({ policy, allowHttp: true, timeoutMs: 5_000, resolve: scriptedResolver(['127.0.0.2', '127.0.0.1']) });
  const result = await sender.send(`http://mixed.customer.test:${receiver.port}/mixed`, {}, '{}');
  expect(result).toEqual({ kind: 'answered', statusCode: 200, address: '127.0.0.1' });
});

test('IP literals are judged as they are, IPv4-mapped IPv6 by the IPv4 address inside', async () => {
  const sender = createWebhookSender({ policy: createAddressPolicy(), allowHttp: true, timeoutMs: 5_000 });
  for (const url of [`http://127.0.0.1:${receiver.port}/literal`, `http://[::ffff:127.0.0.1]:${receiver.port}/literal`, `http://[::1]:${receiver.port}/literal`, 'http://169.254.169.254/latest/meta-data/']) {
    expect(await sender.send(url, {}, '{}')).toMatchObject({ kind: 'refused' });
  }
  expect(receiver.receivedAt('/literal')).toHaveLength(0);
});

test('plain http is refused unless allowed, and so are credentials in the URL', async () => {
  const httpsOnly = createWebhookSender({ policy, allowHttp: false, timeoutMs: 5_000 });
  expect(await httpsOnly.send(`http://127.0.0.1:${receiver.port}/plain`, {}, '{}')).toEqual({ kind: 'refused', reason: 'scheme http: not allowed', address: null });
  const sender = createWebhookSender({ policy, allowHttp: true, timeoutMs: 5_000 });
  expect(await sender.send(`http://user:pw@127.0.0.1:${receiver.port}/plain`, {}, '{}')).toEqual({ kind: 'refused', reason: 'credentials in the URL', address: null });
  expect(receiver.receivedAt('/plain')).toHaveLength(0);
});

test('a receiver that does not answer in time is reported as no answer', async () => {
  receiver.script('/slow', ['hang']);
  const sender = createWebhookSender({ policy, allowHttp: true, timeoutMs: 300 });
  expect(await sender.send(receiver.url('/slow'), {}, '{}')).toEqual({ kind: 'no_answer', error: 'no answer within 300 ms', address: '127.0.0.1' });
  receiver.release();
});
