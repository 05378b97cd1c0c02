/**
 * A migrated PGlite data directory as a tarball (`dumpDataDir`), built once per set of migrations
 * and cached on disk, so that a new PGlite starts already migrated (`PGlite.create({ loadDataDir })`)
 * instead of running initdb and every migration. Used by the playground (`npm start`); the test
 * harness builds the same dump per run (test/global-setup.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runMigrations } from './migrate.ts';

/** One migration file, as `migrationFiles()` returns it. */
interface MigrationFile {
  name: string;
  sql: string;
}

/** The installed PGlite's version (its package.json is not in its `exports`: found from its entry point). */
async function pgliteVersion(): Promise<string> {
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const pkg = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => null);
    if (pkg !== null && (JSON.parse(pkg) as { name?: string }).name === '@electric-sql/pglite') return (JSON.parse(pkg) as { version: string }).version;
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/**
 * A hex SHA-256 of the migrations (names and SQL, in order): a database built from other
 * migrations has another fingerprint.
 *
 * @example
 * const fingerprint = migrationsFingerprint(await migrationFiles());
 */
export function migrationsFingerprint(files: readonly MigrationFile[]): string {
  return createHash('sha256').update(files.map((f) => f.name + '\0' + f.sql).join('\0')).digest('hex');
}

/**
 * Migrate a new in-memory PGlite with `files` and return its data directory as an uncompressed
 * tarball (uncompressed: `loadDataDir` reads it several times faster than a gzipped one).
 *
 * @example
 * const dump = await buildPgliteDump(await migrationFiles());
 * const db = await PGlite.create({ loadDataDir: new Blob([dump]) });
 */
export async function buildPgliteDump(files: readonly MigrationFile[]): Promise<Uint8Array> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create();
  try {
    await runMigrations((sql) => db.exec(sql), files);
    return new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer());
  } finally {
    await db.close();
  }
}

/**
 * The migrated dump for `files`: read from `cacheDir` when it was built before for the same
 * migrations and the same PGlite version, else built (`buildPgliteDump`) and written there (an
 * unwritable cache only costs the next start the build). `built` says which happened.
 *
 * @example
 * const { dump } = await cachedPgliteDump(await migrationFiles(), 'node_modules/.cache/tokengate');
 */
export async function cachedPgliteDump(files: readonly MigrationFile[], cacheDir: string): Promise<{ dump: Uint8Array; built: boolean; file: string }> {
  const version = await pgliteVersion();
  const key = createHash('sha256').update(`pglite ${version}\0${migrationsFingerprint(files)}`).digest('hex').slice(0, 16);
  const file = path.join(cacheDir, `pglite-migrated-${key}.tar`);
  const cached = await readFile(file).catch(() => null);
  if (cached) return { dump: new Uint8Array(cached.buffer, cached.byteOffset, cached.byteLength), built: false, file };
  const dump = await buildPgliteDump(files);
  try {
    await mkdir(cacheDir, { recursive: true });
    // Written aside and renamed, so a reader never sees half a file.
    const partial = `${file}.${randomBytes(4).toString('hex')}.partial`;
    await writeFile(partial, dump);
    await rename(partial, file).catch(async (error: unknown) => {
      await rm(partial, { force: true });
      throw error;
    });
  } catch {
    // a read-only node_modules: the dump is rebuilt next time
  }
  return { dump, built: true, file };
}

/**
 * Write a dump into an empty folder with `node:fs` (the files are written on libuv's thread pool,
 * so the main thread stays free), as `PGlite.create(dir, { loadDataDir })` would extract it, after
 * which `PGlite.create(dir)` opens it. Only what `dumpDataDir` writes is understood (ustar
 * directories and regular files); anything else throws before a single file is written.
 *
 * @example
 * await extractPgliteDump(dump, '.tokengate/pgdata');
 * const db = await PGlite.create('.tokengate/pgdata');
 */
export async function extractPgliteDump(tar: Uint8Array, dir: string): Promise<void> {
  const entries: { name: string; type: 'dir' | 'file'; mode: number; data: Uint8Array }[] = [];
  const text = (offset: number, length: number) => {
    const bytes = tar.subarray(offset, offset + length);
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
  };
  for (let at = 0; at + 512 <= tar.length; ) {
    if (tar.subarray(at, at + 512).every((byte) => byte === 0)) break; // end of archive
    const prefix = text(at + 345, 155);
    const name = (prefix ? `${prefix}/` : '') + text(at, 100);
    const mode = parseInt(text(at + 100, 8).trim() || '0', 8);
    const size = parseInt(text(at + 124, 12).trim() || '0', 8);
    const flag = String.fromCharCode(tar[at + 156]!);
    const relative = path.normalize(name.replace(/^\/+/, ''));
    if (!Number.isInteger(size) || size < 0 || relative.startsWith('..') || path.isAbsolute(relative)) throw new Error(`pglite dump: bad entry ${JSON.stringify(name)}`);
    if (flag === '5') entries.push({ name: relative, type: 'dir', mode, data: new Uint8Array(0) });
    else if (flag === '0' || flag === '\0') entries.push({ name: relative, type: 'file', mode, data: tar.subarray(at + 512, at + 512 + size) });
    else throw new Error(`pglite dump: unsupported entry type ${JSON.stringify(flag)} (${name})`);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dirs = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.name));
  for (const entry of entries) for (let d = path.dirname(entry.name); d !== '.'; d = path.dirname(d)) dirs.add(d);
  for (const d of [...dirs].sort()) await mkdir(path.join(dir, d), { recursive: true, mode: 0o700 });
  await Promise.all(entries.filter((e) => e.type === 'file').map((e) => writeFile(path.join(dir, e.name), e.data, { mode: e.mode & 0o777 || 0o600 })));
  // Postgres refuses a data directory that others can read.
  for (const entry of entries) if (entry.type === 'dir') await chmod(path.join(dir, entry.name), entry.mode & 0o750 || 0o700);
}
