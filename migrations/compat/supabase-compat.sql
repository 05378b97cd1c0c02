/*
  Supabase compatibility for plain Postgres and PGlite.

  Supabase provides the roles `anon`, `authenticated` and `service_role`, and the functions
  `auth.uid()` / `auth.jwt()` that read the claims PostgREST puts in `request.jwt.claims`.
  Tokengate's migrations rely on them, so on any other Postgres run this script once, before the
  migrations. Never run it on Supabase (it would shadow nothing there, but it is not needed).

  Idempotent: roles are cluster-wide, so several databases of one server share them.
*/

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    -- As on Supabase: the server's role bypasses RLS; it still needs grants for everything.
    create role service_role nologin noinherit bypassrls;
  end if;
exception
  -- Two databases of one cluster migrating at once can race on the cluster-wide role names.
  when duplicate_object or unique_violation then null;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

/* The JWT claims of the current request, as PostgREST sets them; empty object outside a request. */
create or replace function auth.jwt()
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claims', true), ''),
    '{}'
  )::jsonb
$$;

/* The `sub` claim as a uuid: the authenticated user, or null. */
create or replace function auth.uid()
returns uuid
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select nullif(
    coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      auth.jwt() ->> 'sub'
    ),
    ''
  )::uuid
$$;

/* The `role` claim, as Supabase's auth.role(). */
create or replace function auth.role()
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    auth.jwt() ->> 'role'
  )
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;
