/**
 * Catalog queries for the security suite: what the database says about the `tokengate` schema
 * (tables, functions, privileges, policies, indexes), read from pg_catalog so that a new table or
 * function is checked without anyone adding it to a list.
 */
import type { SqlRunner } from './ledger.ts';

/** The schemas under test: the API's, and the unexposed one of the helpers RLS policies call. */
export const SCHEMAS = ['tokengate', 'tokengate_private'];

/** The roles Supabase gives clients and the server (created by the compat script elsewhere). */
export const CLIENT_ROLES = ['anon', 'authenticated', 'service_role'] as const;
export type ClientRole = (typeof CLIENT_ROLES)[number];

/** A table of the schema (relkind r or p) and its row-level-security flags. */
export interface CatalogTable {
  name: string;
  rls: boolean;
  forceRls: boolean;
  columns: string[];
  /** The first column an UPDATE may assign (not generated, not an identity). */
  writableColumn: string;
}

/** Every table and partitioned table of the schema, by name. */
export async function schemaTables(db: SqlRunner): Promise<CatalogTable[]> {
  const rows = await db.query<{ name: string; rls: boolean; force_rls: boolean; columns: string[]; writable: string }>(
    `select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force_rls,
            array(select a.attname::text from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns,
            (select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               and a.attgenerated = '' and a.attidentity = '' order by a.attnum limit 1) as writable
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any($1::text[]) and c.relkind in ('r', 'p')
     order by c.relname`,
    [SCHEMAS],
  );
  return rows.map((r) => ({ name: r.name, rls: r.rls, forceRls: r.force_rls, columns: r.columns, writableColumn: r.writable }));
}

/** Views and materialized views of the schema (splinter: security_definer_view). */
export async function schemaViews(db: SqlRunner): Promise<{ name: string; kind: string; options: string[] | null }[]> {
  return db.query(
    `select c.relname as name, c.relkind::text as kind, c.reloptions as options
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any($1::text[]) and c.relkind in ('v', 'm') order by 1`,
    [SCHEMAS],
  );
}

/** A function of the schema, with its identity arguments and settings. */
export interface CatalogFunction {
  oid: number;
  name: string;
  /** `tokengate.deduct(p_org_id uuid, …)`: what a failure message names. */
  signature: string;
  securityDefiner: boolean;
  /** pg_proc.proconfig as stored, e.g. ['search_path=""']. */
  config: string[];
  /** Whether PUBLIC holds EXECUTE (an absent ACL means the default: PUBLIC may execute). */
  publicExecute: boolean;
}

/** Every function and procedure of the schema. */
export async function schemaFunctions(db: SqlRunner): Promise<CatalogFunction[]> {
  const rows = await db.query<{ oid: number; name: string; signature: string; definer: boolean; config: string[] | null; public_execute: boolean }>(
    `select p.oid::bigint as oid, p.proname::text as name,
            format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as signature,
            p.prosecdef as definer, p.proconfig as config,
            (p.proacl is null or exists (
               select 1 from aclexplode(p.proacl) x where x.grantee = 0 and x.privilege_type = 'EXECUTE')) as public_execute
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = any($1::text[])
     order by p.proname, signature`,
    [SCHEMAS],
  );
  return rows.map((r) => ({
    oid: Number(r.oid),
    name: r.name,
    signature: r.signature,
    securityDefiner: r.definer,
    config: r.config ?? [],
    publicExecute: r.public_execute,
  }));
}

/** For each function oid, the client roles that may execute it (has_function_privilege). */
export async function functionExecutors(db: SqlRunner): Promise<Map<number, Set<ClientRole>>> {
  const rows = await db.query<{ oid: number; role: ClientRole }>(
    `select p.oid::bigint as oid, r.role
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     cross join unnest($2::text[]) as r(role)
     where n.nspname = any($1::text[]) and has_function_privilege(r.role, p.oid, 'EXECUTE')`,
    [SCHEMAS, [...CLIENT_ROLES]],
  );
  const result = new Map<number, Set<ClientRole>>();
  for (const r of rows) {
    const set = result.get(Number(r.oid)) ?? new Set<ClientRole>();
    set.add(r.role);
    result.set(Number(r.oid), set);
  }
  return result;
}

/** Table privileges a client role holds, by table (table-level and any column-level grant). */
export async function tablePrivileges(db: SqlRunner): Promise<{ table: string; role: ClientRole; privilege: string }[]> {
  return db.query(
    `select c.relname::text as table, r.role, p.privilege
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     cross join unnest($2::text[]) as r(role)
     cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) as p(privilege)
     where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm')
       and (has_table_privilege(r.role, c.oid, p.privilege)
            or (p.privilege in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                and has_any_column_privilege(r.role, c.oid, p.privilege)))
     order by 1, 2, 3`,
    [SCHEMAS, [...CLIENT_ROLES]],
  );
}

/** Sequences a client role may use, select or update (nobody should: ids come from the functions). */
export async function sequencePrivileges(db: SqlRunner): Promise<{ sequence: string; role: ClientRole; privilege: string }[]> {
  return db.query(
    `select c.relname::text as sequence, r.role, p.privilege
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     cross join unnest($2::text[]) as r(role)
     cross join unnest(array['USAGE', 'SELECT', 'UPDATE']) as p(privilege)
     where n.nspname = any($1::text[]) and c.relkind = 'S' and has_sequence_privilege(r.role, c.oid, p.privilege)
     order by 1, 2, 3`,
    [SCHEMAS, [...CLIENT_ROLES]],
  );
}

/** A row of pg_policies for the schema. */
export interface CatalogPolicy {
  table: string;
  name: string;
  permissive: string;
  roles: string[];
  command: string;
  qual: string | null;
  withCheck: string | null;
}

export async function schemaPolicies(db: SqlRunner): Promise<CatalogPolicy[]> {
  const rows = await db.query<{ table: string; name: string; permissive: string; roles: string[]; cmd: string; qual: string | null; with_check: string | null }>(
    `select tablename::text as table, policyname::text as name, permissive, roles::text[] as roles, cmd, qual, with_check
     from pg_policies where schemaname = any($1::text[]) order by 1, 2`,
    [SCHEMAS],
  );
  return rows.map((r) => ({ table: r.table, name: r.name, permissive: r.permissive, roles: r.roles, command: r.cmd, qual: r.qual, withCheck: r.with_check }));
}

/** The columns each policy reads, from the dependencies Postgres records for the policy expressions. */
export async function policyColumns(db: SqlRunner): Promise<{ table: string; policy: string; column: string }[]> {
  return db.query(
    `select c.relname::text as table, p.polname::text as policy, a.attname::text as column
     from pg_depend d
     join pg_policy p on d.classid = 'pg_policy'::regclass and d.objid = p.oid
     join pg_class c on c.oid = d.refobjid
     join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
     where n.nspname = any($1::text[]) and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0
     order by 1, 2, 3`,
    [SCHEMAS],
  );
}

/** `table.column` for the leading key column of every valid index of the schema. */
export async function leadingIndexColumns(db: SqlRunner): Promise<Set<string>> {
  const rows = await db.query<{ key: string }>(
    `select c.relname || '.' || a.attname as key
     from pg_index i
     join pg_class c on c.oid = i.indrelid
     join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where n.nspname = any($1::text[]) and i.indisvalid`,
    [SCHEMAS],
  );
  return new Set(rows.map((r) => r.key));
}
