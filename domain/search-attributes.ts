/**
 * Custom search attributes (Keyword) registered on the namespace, so executions are filterable in the
 * Temporal UI: `ExecutionState="running" AND ScriptLanguage="python" AND OwnerId="alice"`.
 * Not `ExecutionStatus` (Temporal's own workflow status, which cannot be set) nor `Language`
 * (a word the visibility query parser reserves; it would need backticks).
 */
export const SEARCH_ATTRIBUTE_NAMES = {
  status: 'ExecutionState',
  language: 'ScriptLanguage',
  owner: 'OwnerId',
} as const;
