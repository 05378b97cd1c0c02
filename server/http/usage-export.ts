import type { GateContext, LedgerEntry, TokenGate } from '../gate.ts';
import { API_HEADERS } from './json-response.ts';

/**
 * Options of `usageExportResponse`.
 *
 * @example
 * const options: UsageExportOptions = { format: 'csv', pageSize: 1000 };
 */
export interface UsageExportOptions {
  /** `csv` (a header row, RFC 4180 quoting, metadata as a JSON column) or `json`. */
  format: 'csv' | 'json';
  /** Ledger entries fetched per page (1 to 10000). */
  pageSize: number;
}

/**
 * Columns of the CSV export (its header row), in order.
 *
 * @example
 * const header = CSV_COLUMNS.join(','); // 'id,created_at,kind,…,metadata'
 */
export const CSV_COLUMNS = [
  'id',
  'created_at',
  'kind',
  'token_type',
  'user_id',
  'amount',
  'charged',
  'allowance_after',
  'purchased_after',
  'held_after',
  'reservation_id',
  'metadata',
] as const;

/**
 * Stream an organization's ledger entries for [from, to] as CSV or JSON. The first page is read
 * before answering (so an unknown organization or a non-member gets a proper problem response);
 * later pages are read only as the client pulls (keyset on the entry id), so an export of any size
 * is never held in memory or in one transaction.
 *
 * @example
 * return usageExportResponse(gate, { userId, orgId }, { from: '2028-01-01', to: '2028-01-31' }, { format: 'csv', pageSize: 1000 });
 */
export async function usageExportResponse(
  gate: Pick<TokenGate, 'exportPage'>,
  ctx: GateContext,
  range: { from: string; to: string },
  options: UsageExportOptions,
): Promise<Response> {
  const { format, pageSize } = options;
  const encoder = new TextEncoder();
  let page = await gate.exportPage(ctx, { ...range, afterId: 0, limit: pageSize });
  let stage: 'start' | 'pages' | 'done' = 'start';
  let first = true;

  const render = (entries: LedgerEntry[]): string => {
    if (format === 'csv') return entries.map(csvRow).join('');
    let out = '';
    for (const entry of entries) {
      out += (first ? '' : ',') + JSON.stringify(entry);
      first = false;
    }
    return out;
  };

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          let text = '';
          if (stage === 'start') {
            text = format === 'csv' ? CSV_COLUMNS.join(',') + '\r\n' : `{"orgId":${JSON.stringify(ctx.orgId)},"from":"${range.from}","to":"${range.to}","entries":[`;
            text += render(page.entries);
            stage = 'pages';
          }
          // Fetch until there is something to send: a page may be empty (the last one, or filtered).
          while (text === '' && stage === 'pages') {
            if (page.nextAfterId === null) {
              stage = 'done';
              break;
            }
            page = await gate.exportPage(ctx, { ...range, afterId: page.nextAfterId, limit: pageSize });
            text = render(page.entries);
          }
          if (stage === 'pages' && page.nextAfterId === null) stage = 'done';
          if (stage === 'done' && format === 'json') text += ']}';
          if (text !== '') controller.enqueue(encoder.encode(text));
          if (stage === 'done') controller.close();
        } catch (error) {
          // Headers are sent: the only honest signal left is a broken stream.
          controller.error(error);
        }
      },
    },
    { highWaterMark: 0 },
  );

  const file = `usage-${ctx.orgId}-${range.from}-${range.to}.${format}`;
  return new Response(stream, {
    status: 200,
    headers: {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json',
      'content-disposition': `attachment; filename="${file}"`,
      ...API_HEADERS,
    },
  });
}

/**
 * One CSV line (CRLF-terminated) for a ledger entry, in `CSV_COLUMNS` order.
 *
 * @example
 * csvRow(entry) // '42,2028-01-10T12:00:00+00:00,deduct,quest_generation,…,"{""units"":1}"\r\n'
 */
export function csvRow(entry: LedgerEntry): string {
  return (
    [
      entry.id,
      entry.createdAt,
      entry.kind,
      entry.tokenType,
      entry.userId,
      entry.amount,
      entry.charged,
      entry.allowanceAfter,
      entry.purchasedAfter,
      entry.heldAfter,
      entry.reservationId,
      JSON.stringify(entry.metadata ?? {}),
    ]
      .map(csvField)
      .join(',') + '\r\n'
  );
}

/**
 * One CSV field: empty for null, quoted (quotes doubled) when it holds a comma, quote, CR or LF.
 *
 * @example
 * csvField('say "hi", twice') // '"say ""hi"", twice"'
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
