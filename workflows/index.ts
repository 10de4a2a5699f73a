// The workflowsPath of the worker: everything exported here is a workflow.
export { executionSaga } from './execution-saga';
export { reconcileExecutions } from './reconcile-executions';
