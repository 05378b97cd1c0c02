/**
 * The migrated PGlite dump: built once per set of migrations and PGlite version, cached on disk,
 * and extracted with node:fs into a folder that PGlite then opens as a migrated database.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationFiles } from './migrate.ts';
import { cachedPgliteDump, extractPgliteDump, migrationsFingerprint } from './pglite-dump.ts';

describe('the migrated PGlite dump', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-dump-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('is built once per set of migrations, then read from the cache', async () => {
    const files = await migrationFiles();
    const cache = await tmp();
    const first = await cachedPgliteDump(files, cache);
    expect(first.built).toBe(true);
    expect(await readdir(cache)).toEqual([path.basename(first.file)]);
    const again = await cachedPgliteDump(files, cache);
    expect(again).toMatchObject({ built: false, file: first.file });
    expect(Buffer.compare(Buffer.from(again.dump), Buffer.from(first.dump))).toBe(0);

    // Other migrations: another fingerprint, another cache entry.
    const changed = [...files, { name: '99999999999999_extra.sql', sql: 'create table tokengate_extra_probe (id int);' }];
    expect(migrationsFingerprint(changed)).not.toBe(migrationsFingerprint(files));
    const other = await cachedPgliteDump(changed, cache);
    expect(other.built).toBe(true);
    expect(other.file).not.toBe(first.file);
  });

  it('extracts into a folder that PGlite opens as a migrated database, and persists writes', async () => {
    const { dump } = await cachedPgliteDump(await migrationFiles(), await tmp());
    const dataDir = path.join(await tmp(), 'pgdata');
    await extractPgliteDump(dump, dataDir);
    // Postgres refuses a data directory that others can read or the group can write.
    expect((await stat(dataDir)).mode & 0o027).toBe(0);

    const db = await PGlite.create(dataDir);
    const plans = await db.query<{ id: string }>(`select id from tokengate.plans order by id`);
    expect(plans.rows.map((r) => r.id)).toEqual(['enterprise', 'pro', 'starter']);
    await db.query(`create table public.probe (n int)`);
    await db.query(`insert into public.probe values (42)`);
    await db.close();

    const reopened = await PGlite.create(dataDir);
    expect((await reopened.query<{ n: number }>(`select n from public.probe`)).rows).toEqual([{ n: 42 }]);
    await reopened.close();
  });

  it('refuses an archive it does not understand before writing anything', async () => {
    const dir = await tmp();
    const header = new Uint8Array(1024);
    header.set(new TextEncoder().encode('/link'), 0);
    header.set(new TextEncoder().encode('0000777\0'), 100);
    header.set(new TextEncoder().encode('00000000000\0'), 124);
    header[156] = '2'.charCodeAt(0); // a symbolic link
    await expect(extractPgliteDump(header, path.join(dir, 'out'))).rejects.toThrow(/unsupported entry type/);
    const escaping = new Uint8Array(1024);
    escaping.set(new TextEncoder().encode('../escape'), 0);
    escaping.set(new TextEncoder().encode('00000000000\0'), 124);
    escaping[156] = '0'.charCodeAt(0);
    await expect(extractPgliteDump(escaping, path.join(dir, 'out'))).rejects.toThrow(/bad entry/);
    expect(await readdir(dir)).toEqual([]);
  });
});
