import { defineSearchAttributeKey } from '@temporalio/common';
import type { SearchAttributePair } from '@temporalio/common';

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

export const ExecutionStateKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.status, 'KEYWORD');
export const ScriptLanguageKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.language, 'KEYWORD');
export const OwnerIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.owner, 'KEYWORD');

/**
 * What a saga is started with (by the API): filterable from its first moment, before any worker has taken it up,
 * and without an update of its own in the saga's history.
 */
export function startingSearchAttributes(execution: { language: string; ownerId: string }): SearchAttributePair[] {
  return [
    { key: ExecutionStateKey, value: 'queued' },
    { key: ScriptLanguageKey, value: execution.language },
    { key: OwnerIdKey, value: execution.ownerId },
  ];
}
