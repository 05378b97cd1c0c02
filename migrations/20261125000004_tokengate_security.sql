/*
  Tokengate ledger — row level security, grants, and the append-only ledger.

  anon           reads the catalog (plans, token types, allowances, error codes).
  authenticated  reads its own organizations' rows (membership via tokengate.my_org_ids()).
  service_role   (the server) reads everything and executes the API functions.
  Nobody writes a table directly: every change goes through the SECURITY DEFINER API.
*/

/* The organizations the requesting user belongs to (SECURITY DEFINER: policies on members must not recurse). */
create function tokengate.my_org_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select m.org_id from tokengate.members m where m.user_id = (select auth.uid())
$$;
comment on function tokengate.my_org_ids() is 'Organization ids of auth.uid(); used by RLS policies.';

/* ───────────────────────────── row level security ───────────────────────────── */

alter table tokengate.plans enable row level security;
alter table tokengate.token_types enable row level security;
alter table tokengate.plan_allowances enable row level security;
alter table tokengate.error_codes enable row level security;
alter table tokengate.accounts enable row level security;
alter table tokengate.members enable row level security;
alter table tokengate.member_quotas enable row level security;
alter table tokengate.buckets enable row level security;
alter table tokengate.reservations enable row level security;
alter table tokengate.ledger enable row level security;
alter table tokengate.idempotency_keys enable row level security;
alter table tokengate.member_usage enable row level security;
alter table tokengate.usage_daily enable row level security;

create policy "Anyone can read plans" on tokengate.plans
  for select to anon, authenticated using (true);
create policy "Anyone can read token types" on tokengate.token_types
  for select to anon, authenticated using (true);
create policy "Anyone can read plan allowances" on tokengate.plan_allowances
  for select to anon, authenticated using (true);
create policy "Anyone can read error codes" on tokengate.error_codes
  for select to anon, authenticated using (true);

create policy "Members can read their organizations' accounts" on tokengate.accounts
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' members" on tokengate.members
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' member quotas" on tokengate.member_quotas
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' buckets" on tokengate.buckets
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' reservations" on tokengate.reservations
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' ledger" on tokengate.ledger
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' member usage" on tokengate.member_usage
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
create policy "Members can read their organizations' daily usage" on tokengate.usage_daily
  for select to authenticated using (org_id in (select tokengate.my_org_ids()));
-- idempotency_keys: RLS on and no policy: the server's responses are not for clients.

/* ───────────────────────────── grants ───────────────────────────── */

grant usage on schema tokengate to anon, authenticated, service_role;

revoke all on all tables in schema tokengate from public, anon, authenticated, service_role;
revoke all on all sequences in schema tokengate from public, anon, authenticated, service_role;
grant select on tokengate.plans, tokengate.token_types, tokengate.plan_allowances, tokengate.error_codes
  to anon, authenticated, service_role;
grant select on tokengate.accounts, tokengate.members, tokengate.member_quotas, tokengate.buckets,
  tokengate.reservations, tokengate.ledger, tokengate.member_usage, tokengate.usage_daily
  to authenticated, service_role;
grant select on tokengate.idempotency_keys to service_role;

revoke execute on all functions in schema tokengate from public, anon, authenticated, service_role;
grant execute on function tokengate.my_org_ids() to authenticated;
grant execute on function
  tokengate.create_account(uuid, text, uuid, timestamptz),
  tokengate.add_member(uuid, uuid, uuid, text),
  tokengate.remove_member(uuid, uuid, uuid),
  tokengate.set_member_quota(uuid, uuid, uuid, text, int),
  tokengate.set_plan(uuid, uuid, text),
  tokengate.balances(uuid, uuid),
  tokengate."check"(uuid, uuid, text, int),
  tokengate.deduct(uuid, uuid, text, text, jsonb, int),
  tokengate.reserve(uuid, uuid, text, text, int, int, jsonb),
  tokengate.commit(uuid, uuid, uuid, int, jsonb),
  tokengate.release(uuid, uuid, uuid, jsonb),
  tokengate.expire_reservations(int),
  tokengate.grant_tokens(uuid, uuid, text, int, text, jsonb),
  tokengate.adjust(uuid, uuid, text, int, text, text, jsonb),
  tokengate.stats(uuid, uuid, date, date)
to service_role;

/* ───────────────────────────── append-only ledger ───────────────────────────── */

/* Raises for UPDATE, DELETE and TRUNCATE of the ledger, whoever runs them (roles without the privilege fail earlier). */
create function tokengate._ledger_is_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'TGD01',
    message = 'ledger_immutable',
    detail = jsonb_build_object('operation', tg_op)::text,
    hint = 'The ledger is append-only.';
end
$$;

revoke execute on function tokengate._ledger_is_append_only() from public, anon, authenticated, service_role;

create trigger ledger_is_append_only
  before update or delete on tokengate.ledger
  for each row execute function tokengate._ledger_is_append_only();
create trigger ledger_is_never_truncated
  before truncate on tokengate.ledger
  for each statement execute function tokengate._ledger_is_append_only();
