/**
 * `tokengate catalog diff|push` run in-process (the command's function with a captured Io, as
 * `main` calls it) against a fresh database on the Postgres server, with config files (.json, .mjs,
 * .ts) in a temporary directory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { CATALOG_HELP, catalog, describeLoadError, loadCatalogConfig } from '../../cli/catalog.ts';
import { CommandError, UsageError } from '../../cli/errors.ts';
import { DEFAULT_CATALOG } from '../../server/catalog/default-catalog.ts';
import type { CatalogPushResult } from '../../server/catalog/push-catalog.ts';
import { describeServer, REPO_ROOT, type TestDb } from '../db.ts';
import { call, createOrg } from '../ledger.ts';

const UNREACHABLE = ['--database-url', 'postgres://postgres@127.0.0.1:1/unreachable'];

interface Run {
  code: number;
  out: string[];
  err: string[];
}

let dir = '';
let env: NodeJS.ProcessEnv = {};

/** Runs `tokengate catalog …args` in `dir` as `main` would: exit 2 for a UsageError, 1 for a CommandError. */
async function cli(args: string[], environment: NodeJS.ProcessEnv = env, cwd = dir): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  try {
    return { code: await catalog(args, io, environment, cwd), out, err };
  } catch (error) {
    if (error instanceof UsageError) return { code: 2, out, err: [...err, error.message] };
    if (error instanceof CommandError) return { code: 1, out, err: [...err, error.message] };
    throw error;
  }
}

/** The default catalog with quest generation at `cost` and Pro's quest allowance at `allowance`. */
function configWith(cost: number, allowance: number) {
  return {
    tokenTypes: DEFAULT_CATALOG.tokenTypes.map((t) => (t.id === 'quest_generation' ? { ...t, cost } : t)),
    plans: DEFAULT_CATALOG.plans.map((p) => (p.id === 'pro' ? { ...p, allowances: { ...p.allowances, quest_generation: allowance } } : p)),
  };
}

describeServer('tokengate catalog (CLI)', (getDb) => {
  let db: TestDb;
  let orgId: string;

  beforeAll(async () => {
    db = getDb();
    env = { DATABASE_URL: db.url! };
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-catalog-'));
    await db.setNow('2030-06-10T00:00:00Z');
    const org = await createOrg(db, { plan: 'pro', anchor: '2030-05-01T00:00:00Z' });
    orgId = org.orgId;
    await call(db, 'deduct', { p_org_id: orgId, p_user_id: org.members[0], p_token_type: 'quest_generation', p_idempotency_key: 'k' });
  });

  afterAll(async () => {
    await db?.setNow(null);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has --help, and reports wrong arguments in one line with exit code 2 before touching the database', async () => {
    expect(await cli(['--help'], {})).toEqual({ code: 0, out: [CATALOG_HELP], err: [] });
    expect((await cli(['diff', '--help'], {})).out).toEqual([CATALOG_HELP]);
    expect((await cli([], {})).code).toBe(2);
    await writeFile(path.join(dir, 'present.json'), JSON.stringify(DEFAULT_CATALOG));
    const cases: string[][] = [
      ['pull'],
      ['diff', '--config', 'present.json'], // no database url
      ['diff', '--config', 'missing.json', ...UNREACHABLE],
      ['diff', ...UNREACHABLE], // no tokengate.config.* in the directory
      ['push', '--config', 'present.json', '--force', ...UNREACHABLE],
      ['push', '--config', 'present.json', '--database-url', 'mysql://x'],
    ];
    for (const args of cases) {
      const run = await cli(args, {});
      expect({ args, code: run.code, out: run.out, lines: run.err.length }).toEqual({ args, code: 2, out: [], lines: 1 });
      expect(run.err[0]).toMatch(/^tokengate catalog/);
    }
  });

  it('an invalid config exits 1 with one line per problem, before connecting', async () => {
    const bad = { ...configWith(0, 60), plans: [...DEFAULT_CATALOG.plans, { id: 'team', name: 'Team', access: 'metered', allowances: { quest_gen: 1 } }] };
    await writeFile(path.join(dir, 'bad.json'), JSON.stringify(bad));
    const run = await cli(['diff', '--config', 'bad.json', ...UNREACHABLE]);
    expect(run.code).toBe(1);
    expect(run.err[0]!.split('\n')).toEqual([
      'tokengate catalog diff: bad.json is not a valid catalog:',
      '  tokenTypes.1.cost: must be at least 1',
      '  plans.3.allowances.quest_gen: quest_gen is not a token type of this catalog',
    ]);
    await writeFile(path.join(dir, 'broken.json'), '{ "plans": ');
    expect((await cli(['diff', '--config', 'broken.json', ...UNREACHABLE])).err[0]).toMatch(/^tokengate catalog diff: cannot load broken.json: invalid JSON/);
    await writeFile(path.join(dir, 'noexport.mjs'), 'export const x = 1;\n');
    expect((await cli(['diff', '--config', 'noexport.mjs', ...UNREACHABLE])).err[0]).toMatch(/noexport.mjs has no default export/);
  });

  it('explains how to load a .ts config where Node cannot', () => {
    const error = describeLoadError('catalog diff', '/app/tokengate.config.ts', Object.assign(new TypeError('Unknown file extension ".ts"'), { code: 'ERR_UNKNOWN_FILE_EXTENSION' }));
    expect(error).toBeInstanceOf(CommandError);
    expect(error.message).toMatch(/cannot load tokengate.config.ts: run it with tsx \(npm install -D tsx; NODE_OPTIONS='--import tsx' tokengate catalog diff\)/);
  });

  it('diff of the seeded catalog finds nothing; diff of a change lists it and the organizations affected, and changes nothing', async () => {
    await writeFile(path.join(dir, 'tokengate.config.json'), JSON.stringify(DEFAULT_CATALOG));
    expect(await cli(['diff'])).toEqual({ code: 0, out: ['The database already has the catalog of tokengate.config.json: nothing to change.'], err: [] });

    // The default file name order: a .mjs config is found before the .json one.
    await writeFile(path.join(dir, 'tokengate.config.mjs'), `export default ${JSON.stringify(configWith(4, 70))};\n`);
    const diff = await cli(['diff']);
    expect(diff.code, diff.err.join('\n')).toBe(0);
    expect(diff.out.slice(0, 3)).toEqual([
      'Pushing tokengate.config.mjs would make 2 changes:',
      "  ~ price of quest_generation: 3 → 4 tokens, from each organization's next period",
      "  ~ allowance pro/quest_generation: 60 → 70 per period, at each organization's next refresh",
    ]);
    expect(diff.out[4]).toBe('Would affect 2 organization buckets:');
    expect(diff.out[5]).toMatch(/^ {2}organization +plan +token type +change +from +to +applies at$/);
    expect(diff.out.slice(6).map((l) => l.trim().split(/\s+/))).toEqual([
      [orgId, 'pro', 'quest_generation', 'allowance', '60', '70', '2030-07-01', '00:00:00Z'],
      [orgId, 'pro', 'quest_generation', 'price', '3', '4', '2030-07-01', '00:00:00Z'],
    ]);
    expect(await db.query(`select cost from tokengate.token_types where id = 'quest_generation'`)).toEqual([{ cost: 3 }]);
    const json = JSON.parse((await cli(['diff', '--json'])).out.join('\n')) as CatalogPushResult;
    expect(json).toMatchObject({ dryRun: true, historyId: null, impactTotal: 2 });
    expect(json.changes).toHaveLength(2);
  });

  it('push applies the config and records it; the next diff is empty; --now applies a price at once', async () => {
    const push = await cli(['push', '--config', 'tokengate.config.mjs']);
    expect(push.code, push.err.join('\n')).toBe(0);
    expect(push.out[0]).toMatch(/^Pushed tokengate.config.mjs: 2 changes \(catalog history #\d+\):$/);
    expect(await cli(['diff', '--config', 'tokengate.config.mjs'])).toMatchObject({
      code: 0,
      out: ['The database already has the catalog of tokengate.config.mjs: nothing to change.'],
    });
    const [history] = await db.query<{ actor: string; now: boolean }>(`select actor, now from tokengate.catalog_history order by id desc limit 1`);
    expect(history).toEqual({ actor: expect.stringMatching(/\(tokengate CLI\)$/), now: false });

    // A .ts config, as an app writes it (vitest loads TypeScript; plain Node 20 needs tsx).
    const define = path.join(REPO_ROOT, 'server/catalog/define-catalog.ts');
    await writeFile(
      path.join(dir, 'now.config.ts'),
      `import { defineCatalog } from ${JSON.stringify(define)};\nexport default defineCatalog(${JSON.stringify(configWith(6, 70))});\n`,
    );
    const now = await cli(['push', '--config', 'now.config.ts', '--now']);
    expect(now.code, now.err.join('\n')).toBe(0);
    expect(now.out[1]).toBe('  ~ price of quest_generation: 4 → 6 tokens, now (--now)');
    expect(await db.query(`select cost, cost_from from tokengate.token_types where id = 'quest_generation'`)).toEqual([{ cost: 6, cost_from: null }]);
  });

  it('init writes the seeded catalog as a config to start from (.ts by default, or .json), and never overwrites a file', async () => {
    const sub = await mkdtemp(path.join(dir, 'init-'));
    const first = await cli(['init'], {}, sub);
    expect(first).toMatchObject({ code: 0, out: [expect.stringMatching(/^Wrote tokengate.config.ts: the catalog a fresh database has/)] });
    const source = await readFile(path.join(sub, 'tokengate.config.ts'), 'utf8');
    expect(source).toContain("import { defineCatalog } from 'tokengate/server';");
    // Loaded as an app would (the package import pointed at the source here), it is the seeded catalog.
    const define = path.join(REPO_ROOT, 'server/catalog/define-catalog.ts');
    await writeFile(path.join(sub, 'loaded.config.ts'), source.replace("'tokengate/server'", JSON.stringify(define)));
    expect(await loadCatalogConfig('catalog diff', path.join(sub, 'loaded.config.ts'))).toEqual(DEFAULT_CATALOG);
    expect(await cli(['init'], {}, sub)).toMatchObject({ code: 1, err: ['tokengate catalog init: tokengate.config.ts exists; not overwriting it'] });
    expect(await readFile(path.join(sub, 'tokengate.config.ts'), 'utf8')).toBe(source);
    expect((await cli(['init', '--config', 'catalog.json'], {}, sub)).code).toBe(0);
    expect(await loadCatalogConfig('catalog diff', path.join(sub, 'catalog.json'))).toEqual(DEFAULT_CATALOG);
    expect((await cli(['init', '--config', 'catalog.yaml'], {}, sub)).code).toBe(2);
  });

  it('a refused push exits 1 with the named error and changes nothing', async () => {
    const before = await db.query(`select to_jsonb(t)::text as row from tokengate.token_types t order by 1`);
    const withoutQuests = {
      tokenTypes: DEFAULT_CATALOG.tokenTypes.filter((t) => t.id !== 'quest_generation'),
      plans: DEFAULT_CATALOG.plans.map((p) => ({ ...p, allowances: Object.fromEntries(Object.entries(p.allowances).filter(([k]) => k !== 'quest_generation')) })),
    };
    await writeFile(path.join(dir, 'remove.json'), JSON.stringify(withoutQuests));
    for (const sub of ['diff', 'push']) {
      const run = await cli([sub, '--config', 'remove.json']);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([expect.stringMatching(new RegExp(`^tokengate catalog ${sub}: token_type_in_use: .*archive it instead.*"tokenType":"quest_generation"`))]);
    }
    expect(await db.query(`select to_jsonb(t)::text as row from tokengate.token_types t order by 1`)).toEqual(before);
  });
});
