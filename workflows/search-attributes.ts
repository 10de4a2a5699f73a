import { defineSearchAttributeKey } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';

export const ExecutionStateKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.status, 'KEYWORD');
export const ScriptLanguageKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.language, 'KEYWORD');
export const OwnerIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.owner, 'KEYWORD');
