import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/search-attributes';
import { TERMINAL } from '../support/api-client';
import { serviceForThisFile, waitFor } from '../support/harness';

// What an operator filters on in the Temporal UI: the saga is started with its owner, language and state, so that
// it is found before any worker has taken it up; the saga itself then only moves the state.

const ctx = serviceForThisFile();

const keywordOf = (attributes: Record<string, unknown> | undefined, name: string): string | undefined => {
  const value = attributes?.[name];
  return Array.isArray(value) ? String(value[0]) : undefined;
};

test('a saga starts with its search attributes (owner, language, state queued), and its history sets only the state after that', async () => {
  const created = await ctx.api.submit({ language: 'bash', script: 'echo filtered', limits: { wallTimeMs: 10_000 } });
  expect(created.status).toBe(201);
  const id = String(created.json.id);
  const done = await ctx.api.waitForStatus(id, (status) => TERMINAL.includes(status), 60_000);
  expect(done.status).toBe('completed');

  const handle = ctx.service.temporal.workflow.getHandle(id);
  const { events } = await handle.fetchHistory();
  const started = events![0]!.workflowExecutionStartedEventAttributes!;
  const atStart = started.searchAttributes?.indexedFields ?? {};
  const decode = (payload: { data?: Uint8Array | null } | undefined) => (payload?.data ? JSON.parse(Buffer.from(payload.data).toString()) : undefined);
  expect(decode(atStart[SEARCH_ATTRIBUTE_NAMES.owner])).toBe(created.json.ownerId);
  expect(decode(atStart[SEARCH_ATTRIBUTE_NAMES.language])).toBe('bash');
  expect(decode(atStart[SEARCH_ATTRIBUTE_NAMES.status])).toBe('queued');
  const upserted = events!.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).map((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes?.indexedFields ?? {}));
  expect(upserted.flat()).not.toContain(SEARCH_ATTRIBUTE_NAMES.owner);
  expect(upserted.flat()).toContain(SEARCH_ATTRIBUTE_NAMES.status);

  const query = `WorkflowId = "${id}" AND ${SEARCH_ATTRIBUTE_NAMES.owner} = "${String(created.json.ownerId)}" AND ${SEARCH_ATTRIBUTE_NAMES.status} = "completed"`;
  const listed = await waitFor('the completed saga found by its owner and state', async () => {
    for await (const workflow of ctx.service.temporal.workflow.list({ query })) return workflow;
    return undefined;
  }, { deadlineMs: 20_000 });
  expect(keywordOf(listed.searchAttributes as Record<string, unknown>, SEARCH_ATTRIBUTE_NAMES.language)).toBe('bash');
}, 90_000);
