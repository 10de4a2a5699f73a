// A real worker process for the fault test: it runs the saga normally and SIGKILLs itself the first time
// a chosen activity reaches a chosen point (EO_TEST_CRASH_AT=<activity>:<before|during|after>).
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { loadConfig } from '../../config';
import type { ResolvedConfig } from '../../config';
import { createLogger } from '../../observability/logger';
import { startWorker } from '../../worker';

const [activity, phase] = (process.env.EO_TEST_CRASH_AT ?? '').split(':');
const crash = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};

class CrashInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly activityType: string) {}
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    if (this.activityType !== activity) return next(input);
    if (phase === 'before') crash();
    if (phase === 'during') setTimeout(crash, 300);
    const result = await next(input);
    if (phase === 'after') crash();
    return result;
  }
}

const config = loadConfig(process.env) as ResolvedConfig;
const log = createLogger({ level: 'warn', name: 'crashing-worker' });
void startWorker(config, log, {
  workflowBundlePath: process.env.EO_TEST_WORKFLOW_BUNDLE,
  interceptors: { activity: [(ctx) => ({ inbound: new CrashInterceptor(ctx.info.activityType) })] },
}).then(() => process.stdout.write('worker ready\n'));
