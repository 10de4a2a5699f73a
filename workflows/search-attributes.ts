import { defineSearchAttributeKey } from '@temporalio/common';

/** Search attributes registered on the namespace (see stack/temporal.ts), filterable in the Temporal UI. */
export const ExecutionStatusKey = defineSearchAttributeKey('ExecutionStatus', 'KEYWORD');
export const LanguageKey = defineSearchAttributeKey('Language', 'KEYWORD');
export const OwnerIdKey = defineSearchAttributeKey('OwnerId', 'KEYWORD');
