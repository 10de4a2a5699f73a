import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

// The saga's shape with nothing inside: six activities in sequence, as executionSaga schedules them
// (validate, reserve, mark running, run, store, release). The baseline the real saga is measured against.

const steps = proxyActivities<typeof activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });

export async function sameShapeSaga(id: string): Promise<string> {
  await steps.validate(id);
  await steps.reserve(id);
  await steps.markRunning(id);
  await steps.run(id);
  await steps.store(id);
  await steps.release(id);
  return id;
}
