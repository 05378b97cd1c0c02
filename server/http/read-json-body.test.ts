import { describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { readJsonBody } from './read-json-body.ts';

const post = (body: BodyInit | undefined, headers: Record<string, string> = {}) => new Request('http://x/', { method: 'POST', body, headers });
const json = { 'content-type': 'application/json' };

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof TokenGateError) return error.code;
    throw error;
  }
}

describe('readJsonBody', () => {
  it('parses UTF-8 JSON (a BOM is skipped)', async () => {
    expect(await readJsonBody(post('{"a":"🪙"}', json), { maxBytes: 100 })).toEqual({ a: '🪙' });
    expect(await readJsonBody(post('\ufeff[1]', json), { maxBytes: 100 })).toEqual([1]);
  });

  it('checks the media type and charset', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF8', 'application/json; charset="utf-8"', 'APPLICATION/JSON ; foo=bar']) {
      expect(await code(readJsonBody(post('{}', { 'content-type': type }), { maxBytes: 100 })), type).toBe('ok');
    }
    for (const type of ['text/json', 'application/json-patch+json', 'application/json; charset=utf-16', 'application/jsonx', '']) {
      expect(await code(readJsonBody(post('{}', { 'content-type': type }), { maxBytes: 100 })), type).toBe('unsupported_media_type');
    }
    expect(await code(readJsonBody(post('{}'), { maxBytes: 100 }))).toBe('unsupported_media_type'); // string bodies default to text/plain
    expect(await code(readJsonBody(post(new Uint8Array([123, 125])), { maxBytes: 100 }))).toBe('unsupported_media_type');
  });

  it('optional bodies: empty reads as undefined, with or without a content type; non-empty still needs JSON', async () => {
    expect(await readJsonBody(post(undefined), { maxBytes: 100, optional: true })).toBeUndefined();
    expect(await readJsonBody(post('', json), { maxBytes: 100, optional: true })).toBeUndefined();
    expect(await code(readJsonBody(post(new Uint8Array([123, 125])), { maxBytes: 100, optional: true }))).toBe('unsupported_media_type');
    expect(await code(readJsonBody(post(undefined), { maxBytes: 100 }))).toBe('unsupported_media_type');
    expect(await code(readJsonBody(post('', json), { maxBytes: 100 }))).toBe('invalid_request');
  });

  it('enforces the size limit on Content-Length and on the bytes read', async () => {
    expect(await code(readJsonBody(post('x'.repeat(10), { ...json, 'content-length': '101' }), { maxBytes: 100 }))).toBe('payload_too_large');
    expect(await code(readJsonBody(post(`"${'x'.repeat(99)}"`, json), { maxBytes: 100 }))).toBe('payload_too_large');
    expect(await readJsonBody(post(`"${'x'.repeat(98)}"`, json), { maxBytes: 100 })).toBe('x'.repeat(98));
    // Multi-byte characters count as bytes.
    expect(await code(readJsonBody(post(`"${'é'.repeat(50)}"`, json), { maxBytes: 100 }))).toBe('payload_too_large');
  });

  it('refuses invalid UTF-8 and invalid JSON with a field error', async () => {
    const error = await readJsonBody(post(new Uint8Array([0x22, 0xc3, 0x28, 0x22]), json), { maxBytes: 100 }).catch((e: TokenGateError) => e);
    expect(error).toMatchObject({ code: 'invalid_request', errors: [{ path: 'body', message: 'The body is not valid UTF-8.' }] });
    for (const text of ['{', '{"a":1,}', "{'a':1}", 'undefined', 'NaN', '{"a":01}']) {
      expect(await code(readJsonBody(post(text, json), { maxBytes: 100 })), text).toBe('invalid_request');
    }
  });

  it('a body stream that fails is an invalid request, not a crash', async () => {
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('socket hang up'));
      },
    });
    const request = new Request('http://x/', { method: 'POST', body: broken, headers: json, duplex: 'half' } as RequestInit);
    expect(await code(readJsonBody(request, { maxBytes: 100 }))).toBe('invalid_request');
  });
});
