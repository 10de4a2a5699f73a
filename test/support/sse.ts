export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Reads a Server-Sent Events stream until the server closes it (or `timeoutMs` passes), parsed into events. */
export async function readEventStream(url: string, headers: Record<string, string> = {}, timeoutMs = 30_000) {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok || !res.body) return { status: res.status, contentType: res.headers.get('content-type'), events: [] as SseEvent[], body: await res.text() };
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) text += decoder.decode(chunk as Uint8Array, { stream: true });
  const events = text
    .split('\n\n')
    .filter((block) => block.trim() && !block.startsWith(':'))
    .map((block) => {
      const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
      return { id: field('id'), event: field('event') ?? 'message', data: field('data') ?? '' };
    });
  return { status: res.status, contentType: res.headers.get('content-type'), events, body: text };
}
