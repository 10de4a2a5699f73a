import pg from 'pg';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/search-attributes';
import { stackEndpoints } from '../../stack/paths';
import { PERSISTENCE_DATABASE, VISIBILITY_DATABASE } from '../../stack/temporal-server';
import { TERMINAL } from '../support/api-client';
import { serviceForThisFile, waitFor } from '../support/harness';

// `npm run test:temporal-production`: the global setup brought up the production Temporal server
// (EO_TEMPORAL_SERVER=production) instead of the dev server; one execution runs through the API on it.

const ctx = serviceForThisFile();

async function queryTemporalDatabase<T extends pg.QueryResultRow>(database: string, sql: string, values: unknown[]): Promise<T[]> {
  const url = Object.assign(new URL(process.env.EO_ADMIN_DATABASE_URL ?? stackEndpoints().databaseUrl), { pathname: `/${database}` });
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

test('an execution completes end to end on the production Temporal server, its history in Postgres and its search attributes in SQL visibility', async () => {
  const info = await ctx.service.temporal.workflowService.getSystemInfo({});
  expect(info.serverVersion).toBe('1.32.2');

  const created = await ctx.api.submit({ language: 'bash', script: 'echo on-production', limits: { wallTimeMs: 10_000 } });
  expect(created.status).toBe(201);
  const done = await ctx.api.waitForStatus(created.json.id, (status) => TERMINAL.includes(status), 60_000);
  expect(done).toMatchObject({ status: 'completed', result: { stdout: 'on-production\n' } });

  const workflowId = String(created.json.workflowId);
  const history = await queryTemporalDatabase<{ n: string }>(PERSISTENCE_DATABASE, 'select count(*) as n from executions where workflow_id = $1', [workflowId]);
  expect(Number(history[0]?.n)).toBe(1);
  // Visibility (its own Postgres database) is written asynchronously; the custom search attribute is queryable.
  const query = `WorkflowId = "${workflowId}" AND ${SEARCH_ATTRIBUTE_NAMES.status} = "completed"`;
  const listed = await waitFor('the completed workflow found by its search attribute', async () => {
    for await (const workflow of ctx.service.temporal.workflow.list({ query })) return workflow;
    return undefined;
  }, { deadlineMs: 20_000 });
  expect(listed.workflowId).toBe(workflowId);
  // The saga sets the attribute just before it closes; the close follows.
  const closed = await waitFor('the closed workflow in the visibility database', async () => {
    const rows = await queryTemporalDatabase<{ status: number }>(VISIBILITY_DATABASE, 'select status from executions_visibility where workflow_id = $1 and close_time is not null', [workflowId]);
    return rows[0];
  }, { deadlineMs: 20_000 });
  expect(closed.status).toBe(2); // WORKFLOW_EXECUTION_STATUS_COMPLETED
}, 120_000);
