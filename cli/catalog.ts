/**
 * `tokengate catalog init|diff|push`: the catalog (plans, token types, costs, allowances, alert
 * thresholds) from a config file, compared with or applied to the database in one transaction.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_CATALOG } from '../server/catalog/default-catalog.ts';
import { parseCatalog, type Catalog } from '../server/catalog/define-catalog.ts';
import { pushCatalog, type CatalogChange, type CatalogImpact, type CatalogPushResult } from '../server/catalog/push-catalog.ts';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import { DATABASE_HELP, DATABASE_OPTION, databaseUrl, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

/** Config files looked for in the current directory, in this order, when --config is not given. */
export const DEFAULT_CONFIG_FILES = ['tokengate.config.ts', 'tokengate.config.mts', 'tokengate.config.js', 'tokengate.config.mjs', 'tokengate.config.json'];

/** Organizations' rows shown under a diff (the JSON output has up to 1000). */
const IMPACT_LINES = 50;

export const CATALOG_HELP = `Usage: tokengate catalog <init|diff|push> [--config <file>] [--now] [--json]

The catalog — plans, token types, costs, allowances, low-balance alert thresholds — as code:
a config file whose default export is defineCatalog({ tokenTypes, plans }) from 'tokengate/server'
(or the same object as JSON).

  catalog init    write the seeded catalog as a config (tokengate.config.ts, or --config <file>:
                  .ts, .mts, .js, .mjs or .json) to start yours from; never overwrites a file.
  catalog diff    what pushing the config would change, and which organizations it affects and
                  when; changes nothing. Exits 0 whether or not there are changes.
  catalog push    apply the config in one transaction, recorded in tokengate.catalog_history.
                  A refusal (a removed token type that has balances: archive it instead; a removed
                  plan organizations are on) changes nothing.

When changes apply: a price from each organization's next period (the current period keeps the
old price) unless --now; an allowance at each organization's next refresh; everything else at once.

Options:
  --config <file>       the config (default: the first of ${DEFAULT_CONFIG_FILES.join(', ')}
                        in the current directory). A .ts config needs Node 22.18+ (or 23.6+), or
                        tsx: NODE_OPTIONS='--import tsx' tokengate catalog diff
  --now                 apply price changes to current periods too
  --json                print the result as JSON
${DATABASE_HELP}
  -h, --help            show this help`;

const SUBCOMMANDS = ['init', 'diff', 'push'] as const;

export async function catalog(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(CATALOG_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`tokengate catalog: unknown subcommand '${sub}' (${SUBCOMMANDS.join(', ')}; see 'tokengate catalog --help')`);
  }
  const command = `catalog ${sub}`;
  const { values } = parseCommandArgs(command, rest, {
    ...DATABASE_OPTION,
    config: { type: 'string' },
    now: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(CATALOG_HELP);
    return 0;
  }
  if (sub === 'init') {
    const target = path.resolve(cwd, values.config ?? DEFAULT_CONFIG_FILES[0]!);
    if (!/\.(?:[mc]?ts|m?js|json)$/.test(target)) throw new UsageError(`tokengate catalog init: --config must end in .ts, .mts, .js, .mjs or .json`);
    if (existsSync(target)) throw new CommandError(`tokengate catalog init: ${path.relative(cwd, target) || target} exists; not overwriting it`);
    await writeFile(target, catalogSource(target), { flag: 'wx' });
    io.out(`Wrote ${path.relative(cwd, target) || target}: the catalog a fresh database has. Edit it, then 'tokengate catalog diff' and 'tokengate catalog push'.`);
    return 0;
  }
  const file = configPath(command, values.config, cwd);
  const url = databaseUrl(command, values['database-url'], env);
  const config = await loadCatalogConfig(command, file);
  const result = await withAdmin(command, url, ({ gate }) =>
    pushCatalog(gate.store, config, { dryRun: sub === 'diff', now: values.now ?? false, actor: actor() }),
  );
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else for (const line of report(result, path.relative(cwd, file) || file)) io.out(line);
  return 0;
}

/**
 * The seeded catalog (DEFAULT_CATALOG) as a config file's source: JSON, or a module whose default
 * export is `defineCatalog({ … })` (typed in .ts, so an allowance must name a declared token type).
 */
export function catalogSource(file: string): string {
  const json = JSON.stringify(DEFAULT_CATALOG, null, 2);
  if (file.endsWith('.json')) return json + '\n';
  return [
    '// The catalog as code: plans, token types, costs, allowances and low-balance alert thresholds.',
    "// 'tokengate catalog diff' shows what pushing it would change; 'tokengate catalog push' applies it.",
    "import { defineCatalog } from 'tokengate/server';",
    '',
    `export default defineCatalog(${json});`,
    '',
  ].join('\n');
}

function configPath(command: string, option: string | undefined, cwd: string): string {
  if (option !== undefined) {
    const file = path.resolve(cwd, option);
    if (!existsSync(file)) throw new UsageError(`tokengate ${command}: --config: no such file: ${option}`);
    return file;
  }
  const found = DEFAULT_CONFIG_FILES.map((name) => path.join(cwd, name)).find((file) => existsSync(file));
  if (!found) throw new UsageError(`tokengate ${command}: no config found (${DEFAULT_CONFIG_FILES.join(', ')}); pass --config <file> (see 'tokengate catalog --help')`);
  return found;
}

/**
 * The catalog a config file declares: JSON, or a module whose default export (or `catalog`
 * export) is one. Validated here; every problem becomes one line of a CommandError (exit 1).
 */
export async function loadCatalogConfig(command: string, file: string): Promise<Catalog> {
  const name = path.basename(file);
  let value: unknown;
  try {
    if (file.endsWith('.json')) value = JSON.parse(await readFile(file, 'utf8'));
    else {
      const mod = (await import(pathToFileURL(file).href)) as { default?: unknown; catalog?: unknown };
      value = mod.default ?? mod.catalog;
      if (value === undefined) throw new CommandError(`tokengate ${command}: ${name} has no default export (export default defineCatalog({ … }))`);
    }
  } catch (error) {
    throw describeLoadError(command, file, error);
  }
  try {
    return parseCatalog(value);
  } catch (error) {
    throw describeLoadError(command, file, error);
  }
}

/** One actionable message for a config that cannot be loaded or is not a valid catalog. */
export function describeLoadError(command: string, file: string, error: unknown): Error {
  const name = path.basename(file);
  if (error instanceof CommandError || error instanceof UsageError) return error;
  if (error instanceof TokenGateError && error.code === 'invalid_argument') {
    const problems = (error.errors ?? [{ path: '(catalog)', message: error.message }]).map((e) => `  ${e.path}: ${e.message}`);
    return new CommandError([`tokengate ${command}: ${name} is not a valid catalog:`, ...problems].join('\n'));
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[mc]?ts$/.test(file)) {
    return new CommandError(
      `tokengate ${command}: this Node.js (${process.version}) cannot load ${name}: run it with tsx (npm install -D tsx; NODE_OPTIONS='--import tsx' tokengate ${command}), ` +
        `use Node 22.18+, or write tokengate.config.mjs / .json`,
    );
  }
  const message = error instanceof SyntaxError && file.endsWith('.json') ? `invalid JSON: ${error.message}` : error instanceof Error ? error.message : String(error);
  return new CommandError(`tokengate ${command}: cannot load ${name}: ${message}`);
}

/** Who pushed, for the catalog history: `user@host (tokengate CLI)`. */
function actor(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()} (tokengate CLI)`.slice(0, 200);
  } catch {
    return 'tokengate CLI';
  }
}

/** The diff or push as lines: the changes, then the organizations affected. */
export function report(result: CatalogPushResult, file: string): string[] {
  const lines: string[] = [];
  const n = result.changes.length;
  if (result.dryRun) {
    lines.push(n === 0 ? `The database already has the catalog of ${file}: nothing to change.` : `Pushing ${file} would make ${n} change${n === 1 ? '' : 's'}:`);
  } else {
    lines.push(
      n === 0
        ? `The database already had the catalog of ${file}: nothing changed (catalog history #${result.historyId}).`
        : `Pushed ${file}: ${n} change${n === 1 ? '' : 's'} (catalog history #${result.historyId}):`,
    );
  }
  for (const change of result.changes) lines.push(`  ${changeLine(change)}`);
  if (n === 0) return lines;
  lines.push('');
  if (result.impactTotal === 0) {
    lines.push('No organization is affected by prices, allowances, access or archiving.');
    return lines;
  }
  const shown = result.impact.slice(0, IMPACT_LINES);
  lines.push(
    `${result.dryRun ? 'Would affect' : 'Affects'} ${result.impactTotal} organization bucket${result.impactTotal === 1 ? '' : 's'}` +
      (shown.length < result.impactTotal ? ` (the first ${shown.length}; --json lists up to 1000)` : '') +
      ':',
  );
  lines.push(...impactTable(shown));
  return lines;
}

const show = (value: unknown) => (value === null || value === undefined ? '-' : typeof value === 'string' ? JSON.stringify(value) : String(value));

function fieldsText(fields: Record<string, { from: unknown; to: unknown } | undefined>): string {
  return Object.entries(fields)
    .filter((e): e is [string, { from: unknown; to: unknown }] => e[1] !== undefined)
    .map(([name, f]) => `${name} ${show(f.from)} → ${show(f.to)}`)
    .join(', ');
}

/** `~ plan enterprise: access "unlimited" → "metered"` */
export function changeLine(c: CatalogChange): string {
  switch (c.entity) {
    case 'tokenType':
      if (c.action === 'add') return `+ token type ${c.id}: ${show(c.to.name)}, cost ${c.to.cost}${c.to.archived ? ', archived' : ''}`;
      if (c.action === 'remove') return `- token type ${c.id} (unused: deleted)`;
      return `~ token type ${c.id}: ${fieldsText(c.fields)}${c.fields.archived ? (c.fields.archived.to ? ' (no longer charged; balances kept)' : ' (charged again)') : ''}`;
    case 'price':
      return `~ price of ${c.tokenType}: ${c.from} → ${c.to} tokens, ${c.applies === 'now' ? 'now (--now)' : "from each organization's next period"}`;
    case 'plan':
      if (c.action === 'add') return `+ plan ${c.id}: ${show(c.to.name)}, ${c.to.access}`;
      if (c.action === 'remove') return `- plan ${c.id} (no organization on it: deleted)`;
      return `~ plan ${c.id}: ${fieldsText(c.fields)}${c.fields.access ? ' (now)' : ''}`;
    case 'allowance': {
      const when = "at each organization's next refresh";
      if (c.action === 'add') return `+ allowance ${c.planId}/${c.tokenType}: ${c.to} per period, ${when}`;
      if (c.action === 'remove') return `- allowance ${c.planId}/${c.tokenType} (was ${c.from}; 0 per period), ${when}`;
      return `~ allowance ${c.planId}/${c.tokenType}: ${c.from} → ${c.to} per period, ${when}`;
    }
  }
}

/** `2026-12-07 10:00:01Z` from an ISO timestamp. */
function time(value: string): string {
  const at = Date.parse(value);
  return Number.isNaN(at) ? value : new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function impactTable(rows: CatalogImpact[]): string[] {
  const header = ['organization', 'plan', 'token type', 'change', 'from', 'to', 'applies at'];
  const cells = rows.map((r) => [r.orgId, r.planId, r.tokenType ?? '-', r.change, r.from === null ? '-' : String(r.from), r.to === null ? '-' : String(r.to), time(r.appliesAt)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (c: string[]) => `  ${c.map((cell, i) => (i === 4 || i === 5 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()}`;
  return [line(header), ...cells.map(line)];
}
