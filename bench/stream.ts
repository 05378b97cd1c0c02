/**
 * Section "stream": what `guard` costs on a streamed AI route. The same route — a server-sent event
 * stream of `CHUNKS` events whose usage is reported with the last one — is called unguarded and
 * guarded (hold before, charge when the body ends: `guard_begin` + `guard_commit` on the Postgres
 * server, in a scratch database), alternating, in the same run, in-process (`await (await
 * route(request)).text()`). Authentication is a stand-in (`{ userId }` from a constant) so the
 * ratio is the guard and its two ledger calls, not JWT verification (see the adapters section).
 */
import { randomUUID } from 'node:crypto';
import { createTokenGate } from '../server/gate.ts';
import { guard, type GuardContext } from '../server/guard.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase } from './database.ts';
import { round, sampleLoad, summarizeSamples, type Measurement, type Samples } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** Events per streamed answer. */
export const CHUNKS = 32;

/** The ways the route is called, in table order. */
export const STREAM_VARIANTS = {
  unguarded: 'the route alone (no hold, no charge)',
  guarded: '`guard(…)` streamed: hold, pass-through body, charge at the end',
} as const;
/** One way of calling the route. */
export type StreamVariant = keyof typeof STREAM_VARIANTS;

/** One row of the stream table. */
export interface StreamRow extends Measurement {
  variant: string;
  lanes: number;
  /** ops/s ÷ ops/s unguarded, same lanes, same run. */
  ratioToUnguarded: number;
  /** Mean time per request added by the guard, µs (1/ops − 1/ops unguarded, × lanes). */
  addedMicros: number;
}

/** What the section returns. */
export interface StreamResults {
  /** The answer every variant streams. */
  answer: string;
  rows: StreamRow[];
  /** Tokens charged in the scratch database ÷ guarded requests answered: 1 each, checked. */
  chargedPerRequest: number;
}

/** The route: CHUNKS SSE events, produced as fast as they are read, usage reported with the last one. */
function route(_request: Request, ctx: Pick<GuardContext, 'reportUsage'>): Promise<Response> {
  let sent = 0;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode(`data: {"type":"text-delta","delta":"token ${sent} of the answer"}\n\n`));
      if (++sent === CHUNKS) {
        ctx.reportUsage(1);
        controller.close();
      }
    },
  });
  return Promise.resolve(new Response(body, { headers: { 'content-type': 'text/event-stream' } }));
}

/**
 * Run the stream section in its own scratch database.
 *
 * @example
 * const stream = await runStreamSection(profile, url, log);
 */
export async function runStreamSection(profile: Profile, databaseUrl: string, log: Log): Promise<StreamResults> {
  const db = await createBenchDatabase(databaseUrl);
  try {
    const orgId = randomUUID();
    const userId = randomUUID();
    // Enterprise (unlimited): every hold succeeds however long the run, and still goes through the ledger.
    await db.admin.query(`select tokengate.create_account($1::uuid, 'enterprise', $2::uuid)`, [orgId, userId]);
    const lanes = Math.max(...profile.connections);
    const gate = createTokenGate({ store: postgresStore({ pool: db.servicePool(lanes) }) });
    const guarded = guard(
      { gate, authenticate: async () => ({ userId }), tokenType: 'strategy_analysis', estimate: 5, orgId: () => orgId },
      route,
    );
    const unguarded = (request: Request) => route(request, { reportUsage: () => {} });
    const call = (handler: (request: Request) => Promise<Response>) => async () => {
      const response = await handler(new Request('http://localhost/api/analysis', { method: 'POST', body: '{}' }));
      const text = await response.text();
      if (response.status !== 200 || !text.endsWith(`token ${CHUNKS - 1} of the answer"}\n\n`)) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    };
    const ops: Record<StreamVariant, () => Promise<void>> = { unguarded: call(unguarded), guarded: call(guarded) };
    const variants = Object.keys(STREAM_VARIANTS) as StreamVariant[];
    const rows: StreamRow[] = [];
    let guardedOps = 0;
    const counted = async () => {
      await ops.guarded();
      guardedOps++;
    };
    for (const connections of profile.connections) {
      const samples = new Map<StreamVariant, Samples[]>(variants.map((v) => [v, []]));
      for (const order of [variants, [...variants].reverse()]) {
        for (const variant of order) {
          const half = { lanes: connections, durationMs: Math.round(profile.durationMs / 2), warmupMs: profile.warmupMs };
          samples.get(variant)!.push(await sampleLoad(half, variant === 'guarded' ? counted : ops[variant]));
        }
      }
      const base = summarizeSamples(samples.get('unguarded')!);
      for (const variant of variants) {
        const m = summarizeSamples(samples.get(variant)!);
        const row: StreamRow = {
          variant: STREAM_VARIANTS[variant],
          lanes: connections,
          ...m,
          ratioToUnguarded: base.opsPerSec > 0 ? round(m.opsPerSec / base.opsPerSec, 3) : 0,
          addedMicros: m.opsPerSec > 0 && base.opsPerSec > 0 ? round((1e6 / m.opsPerSec - 1e6 / base.opsPerSec) * connections, 0) : 0,
        };
        rows.push(row);
        const errors = row.errors > 0 ? `  ERRORS ${row.errors}: ${row.firstError}` : '';
        log(`  stream ${String(connections).padStart(2)} lanes  ${row.variant.padEnd(66)} ${row.opsPerSec.toFixed(0).padStart(6)} req/s  ×${row.ratioToUnguarded.toFixed(3)} unguarded${errors}`);
      }
    }
    const { rows: sums } = await db.admin.query<{ used: number; held: number }>(
      `select used::int as used, held::int as held from tokengate.buckets where org_id = $1 and token_type_id = 'strategy_analysis'`,
      [orgId],
    );
    const charged = sums[0]?.used ?? 0;
    if ((sums[0]?.held ?? 0) !== 0) throw new Error(`holds left open after the run: ${sums[0]!.held}`);
    return { answer: `${CHUNKS} SSE events, ~40 bytes each, usage reported with the last`, rows, chargedPerRequest: guardedOps > 0 ? round(charged / guardedOps, 3) : 0 };
  } finally {
    await db.drop();
  }
}
