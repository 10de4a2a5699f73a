import { waitFor } from '../../stack/wait';

export interface ExecutionBody {
  id: string;
  status: string;
  ownerId: string;
  result: { exitCode: number | null; stdout: string | null; stderr: string | null; wallTimeMs: number | null; errorType: string | null; errorMessage: string | null };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export const TERMINAL = ['completed', 'failed', 'timed_out', 'cancelled', 'error'];

/** A small REST client for the tests, speaking to a running API with an API key. */
export function apiClient(baseUrl: string, token: string) {
  const call = async (method: string, path: string, body?: object, headers: Record<string, string> = {}) => {
    const auth = { authorization: `Bearer ${token}` };
    const res = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json', ...auth, ...headers } : { ...auth, ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, location: res.headers.get('location'), json: (await res.json()) as ExecutionBody & Record<string, unknown> };
  };
  const get = (id: string) => call('GET', `/executions/${id}`);
  return {
    call,
    get,
    submit: (body: object) => call('POST', '/executions', body),
    cancel: (id: string, reason?: string) => call('POST', `/executions/${id}/cancel`, reason === undefined ? {} : { reason }),
    /** Waits until the execution's status satisfies `accept`. */
    waitForStatus: (id: string, accept: (status: string) => boolean, deadlineMs = 30_000) =>
      waitFor(`execution ${id} status`, async () => {
        const { json } = await get(id);
        return accept(json.status) ? json : undefined;
      }, { deadlineMs, intervalMs: 20 }),
  };
}
