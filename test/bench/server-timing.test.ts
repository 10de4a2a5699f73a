import { renderServerTiming } from '../../api/server-timing';
import { timedRequest, timingBreakdown } from '../../bench/server-timing';

test('the bench reads back the header the API writes, and derives the API\'s own time and the time outside it', () => {
  const header = renderServerTiming(new Map([['auth', 0.5], ['limits', 1.5], ['db', 3], ['temporal', 10]]), 20);
  expect(timedRequest(26, header)).toEqual({ clientMs: 26, parts: { auth: 0.5, limits: 1.5, db: 3, temporal: 10, 'api own': 5, outside: 6 } });
  expect(timedRequest(26, null)).toBeNull();
  expect(timedRequest(26, 'db;dur=3')).toBeNull(); // no total: nothing to derive from
});

test('the middle half and the slowest 5 % are told apart by the client\'s latency', () => {
  // 100 requests: 1..95 ms spent in the database, the slowest five in Temporal.
  const requests = Array.from({ length: 100 }, (_, i) => {
    const slow = i >= 95;
    return timedRequest(slow ? 100 + i : i + 1, renderServerTiming(new Map([slow ? ['temporal', 90 + i] : ['db', i + 1]]), slow ? 100 + i : i + 1))!;
  });
  const { middle, slowest } = timingBreakdown(requests.reverse())!;
  expect(middle.n).toBe(50);
  expect(middle.parts.temporal).toBe(0);
  expect(middle.parts.db).toBe(50.5); // requests 26..75
  expect(slowest.n).toBe(5);
  expect(slowest.parts.db).toBe(0);
  expect(slowest.parts.temporal).toBe(187);
  expect(slowest.parts['api own']).toBe(10);
  expect(timingBreakdown([])).toBeNull();
});
