/*
  Tokengate ledger — grants: blocks of tokens with a source, a priority and an expiry.

  A bucket's purchased pool (buckets.purchased_remaining) is now the sum of what is left of its
  active grants. Every change of the pool goes through tokengate._append (and deduct's inline charge),
  which moves tokens between the pool and the grants and writes one tokengate.grant_entries row per
  grant touched, with the ledger entry's id. So, for every grant:
      grants.remaining = sum(grant_entries.delta)
  for every bucket:
      purchased_remaining = sum(remaining) over its active grants
  and for every ledger entry since this migration:
      purchased_delta = sum(grant_entries.delta) over its entries.

  Consumption order (the kit's optimistic mirror, src/core/burn-order.ts, is the same):
    1. the plan's allowance of the period;
    2. then grants, soonest expiry first (never-expiring last), then priority (0 first, 100 last,
       as Stripe's credit grants), then age (oldest first), then id.
  A hold takes from grants in that order; tokens it gives back (release, a commit under the
  estimate, expiry of the hold) return to the grants they came from, latest in the order first; a
  grant that expired or was revoked since forfeits them (recorded on the ledger entry).

  Expiry is lazy — the charging transaction expires a bucket's due grants first (buckets.grants_due_at)
  — and by the sweep (tokengate.expire_grants), with one ledger entry ('expire') per expired
  remainder. A grant effective in the future joins the pool when it becomes effective (a 'grant' entry).

  Costs: token_types.cost is the price of periods that start at or after token_types.cost_from
  (null: every period). A catalog push that changes a price from the next period records the old
  one in token_type_prices; a bucket whose period started before cost_from pays the price in force at
  its period's start (tokengate._cost).
*/

insert into tokengate.error_codes (name, sqlstate, http_status, title) values
  ('grant_not_found', 'TGC06', 404, 'No grant with this id or key belongs to the organization.');

/* ───────────────────────────── grants ───────────────────────────── */

create table tokengate.grants (
  org_id          uuid not null,
  id              uuid not null default gen_random_uuid(),
  token_type_id   text not null,
  source          text not null check (source in ('plan', 'purchase', 'promo', 'adjustment')),
  amount          bigint not null check (amount between 1 and 1000000000),
  -- What is left (excludes tokens held by pending reservations, as buckets.purchased_remaining does).
  remaining       bigint not null default 0 check (remaining >= 0),
  -- 0 is consumed first, 100 last (Stripe's convention), among grants of the same expiry.
  priority        smallint not null default 50 check (priority between 0 and 100),
  effective_at    timestamptz not null,
  expires_at      timestamptz check (expires_at > effective_at),
  -- scheduled: not effective yet; active: in the pool; expired: its remainder expired;
  -- revoked: clawed back in full (refunds to it are forfeited).
  status          text not null check (status in ('scheduled', 'active', 'expired', 'revoked')),
  expired         bigint not null default 0 check (expired >= 0),
  clawed_back     bigint not null default 0 check (clawed_back >= 0),
  forfeited       bigint not null default 0 check (forfeited >= 0),
  idempotency_key text,
  metadata        jsonb not null default '{}',
  created_at      timestamptz not null,
  ended_at        timestamptz,
  primary key (org_id, id),
  foreign key (org_id, token_type_id) references tokengate.buckets (org_id, token_type_id),
  check ((status in ('scheduled', 'active')) = (ended_at is null)),
  check (status = 'active' or remaining = 0)
);
-- The burn order, for the charge that needs grants (tokengate._grants_take).
create index grants_burn_order_idx on tokengate.grants (org_id, token_type_id, expires_at, priority, created_at, id)
  where status = 'active' and remaining > 0;
-- Due work: expiries of active grants and activations of scheduled ones (the sweep; operators' view).
create index grants_expires_at_idx on tokengate.grants (expires_at) where status = 'active';
create index grants_effective_at_idx on tokengate.grants (effective_at) where status = 'scheduled';
create unique index grants_idempotency_key_idx on tokengate.grants (org_id, idempotency_key) where idempotency_key is not null;
comment on table tokengate.grants is
  'Blocks of tokens (purchase, promo, plan, adjustment) with a priority and an expiry, consumed after the plan allowance: soonest expiry, then priority, then age. Written only by the ledger functions.';

create table tokengate.grant_entries (
  org_id         uuid not null,
  id             bigint generated always as identity,
  grant_id       uuid not null,
  -- The ledger entry that moved the tokens (null: the opening balance of a migrated pool).
  ledger_id      bigint,
  -- The hold the tokens went to or came back from.
  reservation_id uuid,
  delta          bigint not null check (delta <> 0),
  created_at     timestamptz not null,
  primary key (org_id, id),
  foreign key (org_id, grant_id) references tokengate.grants (org_id, id)
);
create index grant_entries_grant_id_idx on tokengate.grant_entries (org_id, grant_id);
create index grant_entries_ledger_id_idx on tokengate.grant_entries (ledger_id) where ledger_id is not null;
create index grant_entries_reservation_id_idx on tokengate.grant_entries (reservation_id) where reservation_id is not null;
comment on table tokengate.grant_entries is
  'Append-only: every move of tokens into or out of a grant, with the ledger entry that made it. remaining = sum(delta) per grant.';

alter table tokengate.buckets
  add column grants_due_at timestamptz;
comment on column tokengate.buckets.grants_due_at is
  'The soonest expiry of an active grant or activation of a scheduled one: the charge expires/activates grants first when it has passed.';

/* ───────────────────────────── prices by period ───────────────────────────── */

alter table tokengate.token_types
  add column cost_from timestamptz;
comment on column tokengate.token_types.cost_from is
  'cost applies to periods starting at or after this moment (null: every period); earlier periods pay their price in token_type_prices.';

create table tokengate.token_type_prices (
  token_type_id  text not null references tokengate.token_types (id) on update cascade on delete cascade,
  effective_from timestamptz not null,
  cost           int not null check (cost between 1 and 1000000),
  primary key (token_type_id, effective_from)
);
comment on table tokengate.token_type_prices is
  'Prices of a token type by the start of the period they apply to, kept while a price change waits for the next period (see token_types.cost_from).';

alter table tokengate.grants enable row level security;
alter table tokengate.grant_entries enable row level security;
alter table tokengate.token_type_prices enable row level security;
create policy "Members can read their organizations' grants" on tokengate.grants
  for select to authenticated using (org_id in (select tokengate_private.my_org_ids()));
create policy "Members can read their organizations' grant entries" on tokengate.grant_entries
  for select to authenticated using (org_id in (select tokengate_private.my_org_ids()));
create policy "Anyone can read token type prices" on tokengate.token_type_prices
  for select to anon, authenticated using (true);
grant select on tokengate.grants, tokengate.grant_entries to authenticated, service_role;
grant select on tokengate.token_type_prices to anon, authenticated, service_role;

create trigger grant_entries_are_append_only
  before update or delete on tokengate.grant_entries
  for each row execute function tokengate._ledger_is_append_only();
create trigger grant_entries_are_never_truncated
  before truncate on tokengate.grant_entries
  for each statement execute function tokengate._ledger_is_append_only();

/* The price a bucket's period pays: the catalog's, unless the period started before a price change. */
create function tokengate._cost(p_type tokengate.token_types, p_period_start timestamptz)
returns int
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when p_type.cost_from is null or p_period_start is null or p_period_start >= p_type.cost_from then p_type.cost
    else coalesce((select p.cost from tokengate.token_type_prices p
                   where p.token_type_id = p_type.id and p.effective_from <= p_period_start
                   order by p.effective_from desc limit 1), p_type.cost)
  end
$$;
revoke execute on function tokengate._cost(tokengate.token_types, timestamptz) from public, anon, authenticated, service_role;
