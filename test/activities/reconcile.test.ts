import { terminalRecordFor } from '../../activities/reconcile';
import { RECONCILER_ACTOR } from '../../domain/saga';

const saga = (workflowStatus: string) => ({ executionId: '0191e8a0-0000-7000-8000-000000000001', runId: 'run', workflowStatus });

describe('terminalRecordFor', () => {
  it('records a terminate as cancelled by the identity that terminated, with its reason', () => {
    expect(terminalRecordFor(saga('TERMINATED'), { identity: 'ops@bastion', reason: 'stuck' })).toMatchObject({
      to: 'cancelled',
      errorType: 'cancelled',
      actor: 'temporal:ops@bastion',
      reason: 'stuck',
      errorMessage: 'workflow terminated in Temporal: stuck',
    });
  });

  it('records a terminate without identity or reason as cancelled by an unknown Temporal user', () => {
    expect(terminalRecordFor(saga('TERMINATED'), { identity: null, reason: null })).toMatchObject({ to: 'cancelled', actor: 'temporal:unknown', reason: null });
  });

  it('records a run timeout as timed_out by the reconciler', () => {
    expect(terminalRecordFor(saga('TIMED_OUT'), null)).toMatchObject({ to: 'timed_out', errorType: 'timeout', actor: RECONCILER_ACTOR });
  });

  it.each(['FAILED', 'COMPLETED', 'CANCELLED', 'CONTINUED_AS_NEW'])('records a saga closed as %s without an end as a system error naming that status', (status) => {
    const record = terminalRecordFor(saga(status), null);
    expect(record).toMatchObject({ to: 'error', errorType: 'system_error', actor: RECONCILER_ACTOR });
    expect(record.errorMessage).toContain(status);
  });
});
