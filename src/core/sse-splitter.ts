/**
 * Internal: the few lines of the server-sent events format (WHATWG HTML, "Server-sent events")
 * the kit needs to find the guard's charge event in a stream, with no dependency.
 */

/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
  /** The `id:` field, or null. */
  id: string | null;
}

/**
 * Split decoded SSE text, chunk by chunk, into raw event blocks (without their blank-line
 * terminator; line endings normalised to `\n`). `end()` returns an unterminated last block, if any.
 *
 * @example
 * const split = sseSplitter();
 * for (const block of split.push('data: a\n\nda')) parseSseBlock(block); // 'data: a'
 */
export function sseSplitter(): { push(text: string): string[]; end(): string[] } {
  let pending = '';
  // A chunk ending in \r may be the first half of a \r\n split across chunks.
  let afterCr = false;
  return {
    push(text) {
      const chunk = afterCr && text.startsWith('\n') ? text.slice(1) : text;
      afterCr = chunk.endsWith('\r');
      pending += chunk.replace(/\r\n?/g, '\n');
      const blocks: string[] = [];
      let end: number;
      while ((end = pending.indexOf('\n\n')) !== -1) {
        blocks.push(pending.slice(0, end));
        pending = pending.slice(end + 2);
      }
      return blocks;
    },
    end() {
      const rest = pending;
      pending = '';
      return rest.trim() === '' ? [] : [rest];
    },
  };
}

/**
 * The event of one raw block, or null when it dispatches nothing (comments only, no `data:`).
 *
 * @example
 * parseSseBlock('event: tokengate-charge\ndata: {"charged":3}') // { event: 'tokengate-charge', data: '{"charged":3}', id: null }
 */
export function parseSseBlock(block: string): SseEvent | null {
  let event = '';
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  return data.length === 0 ? null : { event: event || 'message', data: data.join('\n'), id };
}

/** Whether an answer is a server-sent event stream. */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}
