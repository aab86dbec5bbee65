/** A job's SSE stream read with fetch (what a CLI does): events until a terminal state, bounded. */
export interface SseEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

export async function collectJobEvents(url: string, timeoutMs: number): Promise<SseEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(url, { signal: ac.signal, headers: { accept: 'text/event-stream' } });
    if (res.status !== 200 || !res.body) throw new Error(`SSE ${url} answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const ev: SseEvent = { event: 'message', data: {} };
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('id: ')) ev.id = line.slice(4);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        ev.data = JSON.parse(data) as Record<string, unknown>;
        events.push(ev);
        if (['succeeded', 'failed', 'cancelled'].includes(String(ev.data.state))) {
          ac.abort();
          return events;
        }
      }
    }
    return events;
  } catch (e) {
    if (ac.signal.aborted && events.length) return events;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
