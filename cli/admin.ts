/**
 * Shared by the admin commands (`accounts`, `grant`, `set-plan`, `adjust`, `members`, `usage`): the database
 * option, argument checks that raise `UsageError`s, and a gate acting as the server itself
 * (`actorId: null`) over one node-postgres pool connecting as `service_role`.
 */
import type pg from 'pg';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import type { Balances, TokenBalance } from '../src/core/types.ts';
import { createTokenGate, type TokenGate } from '../server/gate.ts';
import { databaseError } from '../server/stores/database-error.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { CommandError, UsageError } from './errors.ts';

/** The `--database-url` option every admin command takes. */
export const DATABASE_OPTION = { 'database-url': { type: 'string' } } as const;

/** Help lines shared by the admin commands. */
export const DATABASE_HELP = `  --database-url <url>  postgres://… connection string (default: $DATABASE_URL); the CLI acts as
                        the server (role service_role), so connect as a role that may assume it`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The connection string from `--database-url` or `DATABASE_URL`. */
export function databaseUrl(command: string, value: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = value ?? env.DATABASE_URL;
  if (!url) throw new UsageError(`tokengate ${command}: --database-url is required (or set DATABASE_URL); see 'tokengate ${command} --help'`);
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError(`tokengate ${command}: --database-url must be a postgres:// or postgresql:// URL`);
  return url;
}

/** A required option's value. */
export function required(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`tokengate ${command}: --${name} is required (see 'tokengate ${command} --help')`);
  return value;
}

/** A required uuid option. */
export function uuidOption(command: string, name: string, value: string | undefined): string {
  const text = required(command, name, value);
  if (!UUID.test(text)) throw new UsageError(`tokengate ${command}: --${name} must be a uuid, got '${text}'`);
  return text.toLowerCase();
}

/** A required integer option within [min, max]. */
export function intOption(command: string, name: string, value: string | undefined, min: number, max = 2_147_483_647): number {
  const text = required(command, name, value);
  const n = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`tokengate ${command}: --${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return n;
}

/** A required `YYYY-MM-DD` option that is a real calendar day. */
export function dayOption(command: string, name: string, value: string | undefined): string {
  const text = required(command, name, value);
  const date = new Date(`${text}T00:00:00Z`);
  if (!DAY.test(text) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== text) {
    throw new UsageError(`tokengate ${command}: --${name} must be a day as YYYY-MM-DD, got '${text}'`);
  }
  return text;
}

/** A required option that must be one of `choices`. */
export function choiceOption<T extends string>(command: string, name: string, value: string | undefined, choices: readonly T[]): T {
  const text = required(command, name, value);
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`tokengate ${command}: --${name} must be one of ${choices.join(', ')}, got '${text}'`);
  }
  return text as T;
}

/** What an admin command works with; `close()` must be called at the end. */
export interface AdminSession {
  gate: TokenGate;
  /** Read-only SQL as the server role (member lists, the org's first owner). */
  query<R>(sql: string, params: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/**
 * Opens one small pool acting as `service_role` (as `postgresStore` does for the pools it creates)
 * and a gate over it. `pg` is loaded here so a missing peer dependency is a clear message.
 */
export async function openAdmin(command: string, connectionString: string): Promise<AdminSession> {
  let pgModule: typeof pg;
  try {
    pgModule = ((await import('pg')) as { default: typeof pg }).default;
  } catch {
    throw new CommandError(`tokengate ${command}: needs the \`pg\` package: npm install pg`);
  }
  const pool = new pgModule.Pool({
    connectionString,
    max: 2,
    connectionTimeoutMillis: 5000,
    application_name: `tokengate ${command}`,
    options: '-c role=service_role',
  });
  pool.on('error', () => {}); // a dropped idle connection surfaces as a failed query instead
  const store = postgresStore({ pool });
  return {
    gate: createTokenGate({ store }),
    async query<R>(sql: string, params: unknown[]) {
      try {
        return (await pool.query(sql, params)).rows as R[];
      } catch (error) {
        throw databaseError(error);
      }
    },
    async close() {
      await store.close?.();
      await pool.end().catch(() => {});
    },
  };
}

/**
 * Runs `fn` with an admin session, always closing it, and turns the ledger's errors into one
 * actionable line (exit 1): `tokengate grant: unknown_organization: …`.
 */
export async function withAdmin<T>(command: string, connectionString: string, fn: (session: AdminSession) => Promise<T>): Promise<T> {
  const session = await openAdmin(command, connectionString);
  try {
    return await fn(session);
  } catch (error) {
    throw describeFailure(command, error);
  } finally {
    await session.close();
  }
}

/**
 * SQLSTATEs that mean the schema is missing or out of date: undefined_function, invalid_schema_name
 * (schema does not exist), undefined_table. Only these get the "is it migrated?" hint; a login role
 * that does not exist or a permission error is not fixed by migrating.
 */
const NOT_MIGRATED_SQLSTATES = new Set(['42883', '3F000', '42P01']);

function describeFailure(command: string, error: unknown): unknown {
  if (!(error instanceof TokenGateError)) return error;
  if (error.code === 'unavailable') {
    const cause = error.cause instanceof Error && error.cause.message ? error.cause.message : error.message;
    return new CommandError(`tokengate ${command}: cannot connect to the database: ${cause}`);
  }
  if (error.code === 'internal') {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    const sqlstate = (error.cause as { code?: unknown } | undefined)?.code;
    const hint = typeof sqlstate === 'string' && NOT_MIGRATED_SQLSTATES.has(sqlstate) ? " (is it migrated? run 'tokengate migrate')" : '';
    return new CommandError(`tokengate ${command}: the database failed: ${cause || error.message}${hint}`);
  }
  const facts = Object.keys(error.facts).length > 0 ? ` ${JSON.stringify(error.facts)}` : '';
  const detail = error.message && error.message !== error.code ? `: ${error.message}` : '';
  return new CommandError(`tokengate ${command}: ${error.code}${detail}${facts}`);
}

/** A token balance in one line: `quest_generation  available 120 (allowance 100/100, purchased 20, held 0)`. */
export function balanceLine(b: TokenBalance): string {
  if (b.unlimited) return `${b.tokenType}: unlimited (purchased ${b.purchased}, used ${b.used} this period)`;
  if (b.blocked) return `${b.tokenType}: blocked by the plan`;
  return `${b.tokenType}: available ${b.available} (allowance ${b.allowanceRemaining}/${b.allowance}, purchased ${b.purchased}, held ${b.held})`;
}

/** The plan and a balances table. */
export function balancesTable(balances: Omit<Balances, 'member'>): string[] {
  const header = ['token type', 'allowance', 'remaining', 'purchased', 'held', 'used', 'available', 'refreshes at'];
  const rows = balances.tokenTypes.map((b) => [
    b.tokenType,
    String(b.allowance),
    String(b.allowanceRemaining),
    String(b.purchased),
    String(b.held),
    String(b.used),
    b.unlimited ? 'unlimited' : b.blocked ? 'blocked' : String(b.available),
    b.refreshesAt,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [`Plan: ${balances.plan.id} (${balances.plan.name}, ${balances.plan.access})`, '', line(header), ...rows.map(line)];
}
