// A full garbage collection in a Node process started with `--inspect=127.0.0.1:<port>`, through the inspector
// protocol: the main thread and every worker thread (the Temporal worker runs its workflows in threads with
// heaps of their own), so that a memory sample shows what the process keeps, not where its collectors happen
// to be. Reports each heap in use after the collection.

interface Message {
  id?: number;
  method?: string;
  params?: { sessionId?: string; message?: string; workerInfo?: { title?: string } };
  result?: { usedSize?: number };
}

export interface HeapsAfterGc {
  /** The main thread's V8 heap in use after the collection, MB. */
  mainMb: number;
  /** Each worker thread's, MB, by title. */
  threads: Array<{ title: string; mb: number }>;
}

const mb = (bytes: number | undefined): number => Math.round((bytes ?? NaN) / 2 ** 20);

/** @throws when the inspector does not answer within 30 s. */
export async function collectGarbage(inspectPort: number): Promise<HeapsAfterGc> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`, { signal: AbortSignal.timeout(5_000) })).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  const pending = new Map<string, (message: Message) => void>(); // `<session or main>:<id>` → its answer
  const threads = new Map<string, string>(); // sessionId → title
  let nextId = 1;
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as Message;
    if (message.method === 'NodeWorker.attachedToWorker') threads.set(message.params!.sessionId!, message.params!.workerInfo?.title ?? 'worker');
    else if (message.method === 'NodeWorker.receivedMessageFromWorker') {
      const inner = JSON.parse(message.params!.message!) as Message;
      if (inner.id !== undefined) pending.get(`${message.params!.sessionId}:${inner.id}`)?.(inner);
    } else if (message.id !== undefined) pending.get(`main:${message.id}`)?.(message);
  });
  const send = (method: string, params: object = {}, sessionId?: string): Promise<Message> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(`${sessionId ?? 'main'}:${id}`, resolve);
      const message = JSON.stringify({ id, method, params });
      socket.send(sessionId ? JSON.stringify({ id: nextId++, method: 'NodeWorker.sendMessageToWorker', params: { sessionId, message } }) : message);
    });
  const work = async (): Promise<HeapsAfterGc> => {
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve);
      socket.addEventListener('error', () => reject(new Error(`the inspector on port ${inspectPort} refused the connection`)));
    });
    await send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await new Promise((r) => setTimeout(r, 200)); // the running threads are announced right after
    const inThreads = await Promise.all(
      [...threads].map(async ([sessionId, title]) => {
        await send('HeapProfiler.collectGarbage', {}, sessionId);
        return { title, mb: mb((await send('Runtime.getHeapUsage', {}, sessionId)).result?.usedSize) };
      }),
    );
    await send('HeapProfiler.collectGarbage');
    return { mainMb: mb((await send('Runtime.getHeapUsage')).result?.usedSize), threads: inThreads };
  };
  try {
    return await Promise.race([work(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no full GC through the inspector on port ${inspectPort} within 30 s`)), 30_000).unref())]);
  } finally {
    socket.close();
  }
}
