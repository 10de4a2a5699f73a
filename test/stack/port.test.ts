import { freeLoopbackPort } from '../../stack/port';

// Callers take several ports in a row before binding any (a worker's, a relay's and an API's ops ports): the
// kernel hands a just-closed port out again readily, and two servers given one port collide.
test('free loopback ports taken one after another are never the same port twice', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 1_000; i++) ports.push(await freeLoopbackPort());
  expect(new Set(ports).size).toBe(ports.length);
});
