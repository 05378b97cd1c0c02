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
       as Stripe's credit grants), then age (oldest first; grants made in one transaction in the
       order they were made). tokengate.grants() lists active grants in this order.
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
  -- Creation order, the burn order's last tie-breaker (grants made in one transaction share created_at).
  seq             bigint generated always as identity,
  token_type_id   text not null,
  source          text not null check (source in ('plan', 'purchase', 'promo', 'adjustment')),
  amount          bigint not null check (amount > 0),
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
  -- Clawbacks asked for more than was left (already spent): recorded, never taken below zero.
  clawback_shortfall bigint not null default 0 check (clawback_shortfall >= 0),
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
-- The burn order, for the charge that needs grants (tokengate._grants_take). No index names
-- `remaining` (not even in a predicate), so a charge's update of it is a HOT update: a hot
-- organization's grant row is rewritten thousands of times a minute without touching an index.
-- It also serves the bucket's next expiry (tokengate._grants_next_due), spent grants included.
create index grants_burn_order_idx on tokengate.grants (org_id, token_type_id, expires_at, priority, created_at, seq)
  where status = 'active';
alter table tokengate.grants set (fillfactor = 70);
-- Due work: expiries of active grants and activations of scheduled ones (the sweep; operators' view).
create index grants_expires_at_idx on tokengate.grants (expires_at) where status = 'active';
create index grants_scheduled_idx on tokengate.grants (org_id, token_type_id, effective_at) where status = 'scheduled';
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
-- (Written by every charge that takes from grants: one index besides the key, for the one lookup
--  on the charge path, a hold's moves when it gives tokens back. verify_ledger reads them whole.)
create index grant_entries_reservation_id_idx on tokengate.grant_entries (reservation_id) where reservation_id is not null;
comment on table tokengate.grant_entries is
  'Append-only: every move of tokens into or out of a grant, with the ledger entry that made it. remaining = sum(delta) per grant.';

alter table tokengate.buckets
  add column grants_due_at timestamptz;
create index buckets_grants_due_at_idx on tokengate.buckets (grants_due_at) where grants_due_at is not null;
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

/* ───────────────────────────── moving tokens between the pool and the grants ───────────────────────────── */

/*
  Take p_amount from the bucket's active grants in the burn order (the caller holds the bucket lock).
  deduct and _append first try the common case inline — the first grant covers it — and call this
  only when the charge spans grants.
  Returns the moves as [[grantId, delta], …] (delta < 0). The pool is the sum of the grants, so
  they always hold enough; if not, the ledger is inconsistent and the charge must not happen.
*/
create function tokengate._grants_take(p_org_id uuid, p_token_type_id text, p_amount bigint)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_left bigint := p_amount;
  v_moves jsonb := '[]';
  v_take bigint;
  g record;
begin
  for g in
    select x.id, x.remaining from tokengate.grants x
    where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.status = 'active' and x.remaining > 0
    order by x.expires_at nulls last, x.priority, x.created_at, x.seq
  loop
    exit when v_left = 0;
    v_take := least(v_left, g.remaining);
    update tokengate.grants x set remaining = x.remaining - v_take where x.org_id = p_org_id and x.id = g.id;
    v_moves := v_moves || jsonb_build_array(jsonb_build_array(g.id, -v_take));
    v_left := v_left - v_take;
  end loop;
  if v_left > 0 then
    raise exception 'tokengate: the grants of %/% hold % tokens less than the pool', p_org_id, p_token_type_id, v_left
      using errcode = 'XX000';
  end if;
  return v_moves;
end
$$;

/*
  Give back up to p_amount tokens a hold took from grants, to the grants it took them from — latest in
  the burn order first, so the hold keeps what it would have used first. A grant that expired or was
  revoked since forfeits what would return to it. Returns { moves: [[grantId, delta], …], forfeited }.
*/
create function tokengate._grants_return(p_org_id uuid, p_reservation_id uuid, p_amount bigint, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_left bigint := p_amount;
  v_moves jsonb := '[]';
  v_forfeited bigint := 0;
  v_back bigint;
  g record;
begin
  for g in
    select x.id, x.status, x.expires_at, x.priority, x.created_at, x.seq, -sum(e.delta) as held
    from tokengate.grant_entries e
    join tokengate.grants x on x.org_id = e.org_id and x.id = e.grant_id
    where e.org_id = p_org_id and e.reservation_id = p_reservation_id
    group by x.org_id, x.id
    having -sum(e.delta) > 0
    order by x.expires_at desc nulls first, x.priority desc, x.created_at desc, x.seq desc
  loop
    exit when v_left = 0;
    v_back := least(v_left, g.held);
    if g.status = 'active' and (g.expires_at is null or g.expires_at > p_now) then
      update tokengate.grants x set remaining = x.remaining + v_back where x.org_id = p_org_id and x.id = g.id;
      v_moves := v_moves || jsonb_build_array(jsonb_build_array(g.id, v_back));
    else
      update tokengate.grants x set forfeited = x.forfeited + v_back where x.org_id = p_org_id and x.id = g.id;
      -- Recorded as a zero-sum pair on the hold, so the hold's share of the grant is settled.
      v_moves := v_moves || jsonb_build_array(jsonb_build_array(g.id, 0, v_back));
      v_forfeited := v_forfeited + v_back;
    end if;
    v_left := v_left - v_back;
  end loop;
  if v_left > 0 then
    raise exception 'tokengate: hold % gives back % tokens more than it took from grants', p_reservation_id, v_left
      using errcode = 'XX000';
  end if;
  return jsonb_build_object('moves', v_moves, 'forfeited', v_forfeited);
end
$$;

/*
  Write the moves of one ledger entry; p_reservation_id tags moves into or out of a hold. A forfeited
  return [grantId, 0, n] is a zero-sum pair: +n settles the hold's share of the grant, -n (untagged)
  keeps the grant from getting the tokens back.
*/
create function tokengate._grants_record(p_org_id uuid, p_moves jsonb, p_ledger_id bigint, p_reservation_id uuid, p_now timestamptz)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
  insert into tokengate.grant_entries (org_id, grant_id, ledger_id, reservation_id, delta, created_at)
  select p_org_id, (m ->> 0)::uuid, p_ledger_id, d.reservation_id, d.delta, p_now
  from jsonb_array_elements(p_moves) m
  cross join lateral (
    select (m ->> 1)::bigint as delta, p_reservation_id as reservation_id
    union all select (m ->> 2)::bigint, p_reservation_id where m ->> 2 is not null
    union all select -(m ->> 2)::bigint, null where m ->> 2 is not null
  ) d
  where d.delta <> 0
$$;

/* When the bucket next has grant work to do: an active grant expires, or a scheduled one starts. */
create function tokengate._grants_next_due(p_org_id uuid, p_token_type_id text)
returns timestamptz
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select least(
    (select x.expires_at from tokengate.grants x
     where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.status = 'active' and x.expires_at is not null
     order by x.expires_at limit 1),
    (select min(x.effective_at) from tokengate.grants x
     where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.status = 'scheduled'))
$$;

/*
  One ledger entry and the bucket's new state (see ..._internals.sql), now also moving the pool's
  tokens into or out of grants: p_grant_id names the one grant a credit or debit belongs to (a grant
  made, activated, expired or clawed back); otherwise a debit takes from grants in the burn order,
  a credit to a hold's reservation returns to the grants the hold took from (forfeiting what would
  return to an expired or revoked grant: recorded as metadata.grantForfeited), and any other credit
  (an adjustment) becomes a grant of its own.
*/
drop function tokengate._append(uuid, text, text, bigint, bigint, bigint, bigint, uuid, uuid, text, jsonb, int);
create function tokengate._append(
  p_org_id uuid,
  p_token_type_id text,
  p_kind text,
  p_spent_delta bigint,
  p_purchased_delta bigint,
  p_held_delta bigint,
  p_charged bigint,
  p_user_id uuid,
  p_reservation_id uuid,
  p_idempotency_key text,
  p_metadata jsonb,
  p_allowance int default null,
  p_grant_id uuid default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_metadata jsonb := coalesce(p_metadata, '{}');
  v_before int;
  v_bucket tokengate.buckets;
  v_id bigint;
  v_moves jsonb;
  v_tag uuid;
  v_return jsonb;
  v_purchased bigint := p_purchased_delta;
  v_grant uuid := p_grant_id;
  v_single uuid;
  v_due timestamptz;
begin
  if p_purchased_delta <> 0 then
    if v_grant is null and p_purchased_delta > 0 and p_reservation_id is null then
      -- A credit that is not a grant's (an adjustment): a grant of its own, never expiring.
      insert into tokengate.grants (org_id, token_type_id, source, amount, effective_at, status, idempotency_key, metadata, created_at)
      values (p_org_id, p_token_type_id, case when p_kind = 'adjust' then 'adjustment' else 'purchase' end,
              p_purchased_delta, v_now, 'active',
              -- (The key names the grant unless an older grant has it: a key pruned and used again.)
              case when not exists (select 1 from tokengate.grants g where g.org_id = p_org_id and g.idempotency_key = p_idempotency_key)
                   then p_idempotency_key end,
              jsonb_build_object('kind', p_kind), v_now)
      returning id into v_grant;
    end if;
    if v_grant is not null then
      update tokengate.grants x set remaining = x.remaining + p_purchased_delta where x.org_id = p_org_id and x.id = v_grant;
      v_moves := jsonb_build_array(jsonb_build_array(v_grant, p_purchased_delta));
    elsif p_purchased_delta < 0 then
      v_tag := case when p_kind = 'reserve' then p_reservation_id end;
      -- The first grant in the order usually covers it: inline (a function with SET costs ~200k
      -- instructions a call), else _grants_take walks the order.
      update tokengate.grants x set remaining = x.remaining + p_purchased_delta
      from (select f.id from tokengate.grants f
            where f.org_id = p_org_id and f.token_type_id = p_token_type_id and f.status = 'active' and f.remaining > 0
            order by f.expires_at nulls last, f.priority, f.created_at, f.seq
            limit 1) first
      where x.org_id = p_org_id and x.id = first.id and x.remaining >= -p_purchased_delta
      returning x.id into v_single;
      if v_single is null then
        v_moves := tokengate._grants_take(p_org_id, p_token_type_id, -p_purchased_delta);
      end if;
    else
      v_tag := p_reservation_id;
      -- A hold usually took from one grant that is still active: give back inline; otherwise
      -- (several grants, or one expired or revoked since) _grants_return decides and forfeits.
      update tokengate.grants x set remaining = x.remaining + p_purchased_delta
      from (select e.grant_id, -sum(e.delta) as held, count(*) over () as grants
            from tokengate.grant_entries e
            where e.org_id = p_org_id and e.reservation_id = p_reservation_id
            group by e.grant_id
            having -sum(e.delta) > 0
            limit 1) held
      where x.org_id = p_org_id and x.id = held.grant_id and held.grants = 1 and held.held >= p_purchased_delta
        and x.status = 'active' and (x.expires_at is null or x.expires_at > v_now)
      returning x.id into v_single;
      if v_single is null then
        v_return := tokengate._grants_return(p_org_id, p_reservation_id, p_purchased_delta, v_now);
        v_moves := v_return -> 'moves';
      end if;
      v_purchased := p_purchased_delta - coalesce((v_return ->> 'forfeited')::bigint, 0);
      if v_purchased <> p_purchased_delta then
        v_metadata := v_metadata || jsonb_build_object('grantForfeited', p_purchased_delta - v_purchased);
      end if;
    end if;
    -- Only a grant made or activated can bring the next expiry forward; taking and giving back
    -- never change which grants are active (an expiry, a revocation recompute it themselves).
    if v_grant is not null then
      v_due := tokengate._grants_next_due(p_org_id, p_token_type_id);
    end if;
  end if;

  select b.allowance_remaining into v_before from tokengate.buckets b
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id;
  update tokengate.buckets b set
    allowance = coalesce(p_allowance, b.allowance),
    allowance_spent = b.allowance_spent + p_spent_delta,
    allowance_remaining = greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0),
    purchased_remaining = b.purchased_remaining + v_purchased,
    held = b.held + p_held_delta,
    used = b.used + p_charged,
    updated_at = v_now,
    grants_due_at = case when v_grant is null then b.grants_due_at else v_due end,
    -- (The SET expressions see the old row: the values below are the ones written above. The hash is
    --  tokengate._chain's, inlined: a function with SET is never inlined, and calling it cost about
    --  200k instructions per entry; verify_ledger's walk with _chain catches any divergence.)
    ledger_chain = sha256(coalesce(b.ledger_chain, ''::bytea) || convert_to(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
        p_kind, greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0) - v_before, v_purchased, p_held_delta, p_charged, greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0), b.purchased_remaining + v_purchased, b.held + p_held_delta, extract(epoch from b.period_start), p_user_id, p_reservation_id, p_idempotency_key, v_metadata, extract(epoch from v_now)), 'UTF8'))
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id
  returning * into v_bucket;

  insert into tokengate.ledger (
    org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
    allowance_after, purchased_after, held_after, period_start, user_id, reservation_id,
    idempotency_key, metadata, created_at, chain
  ) values (
    p_org_id, p_token_type_id, p_kind, v_bucket.allowance_remaining - v_before, v_purchased, p_held_delta, p_charged,
    v_bucket.allowance_remaining, v_bucket.purchased_remaining, v_bucket.held, v_bucket.period_start,
    p_user_id, p_reservation_id, p_idempotency_key, v_metadata, v_now, v_bucket.ledger_chain
  )
  returning id into v_id;
  if v_single is not null then
    insert into tokengate.grant_entries (org_id, grant_id, ledger_id, reservation_id, delta, created_at)
    values (p_org_id, v_single, v_id, v_tag, p_purchased_delta, v_now);
  elsif v_moves is not null then
    perform tokengate._grants_record(p_org_id, v_moves, v_id, v_tag, v_now);
  end if;
  perform tokengate._signal(v_bucket, p_kind, v_id, v_before + v_bucket.purchased_remaining - v_purchased, p_user_id, p_reservation_id);
  return v_id;
end
$$;

/*
  The bucket's due grant work, under its lock: scheduled grants whose time has come join the pool
  (a 'grant' entry each), active grants past their expiry lose what is left (an 'expire' entry each).
  Returns how many grants it activated or expired.
*/
create function tokengate._grants_due(p_org_id uuid, p_token_type_id text)
returns int
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_count int := 0;
  g tokengate.grants;
begin
  for g in
    select * from tokengate.grants x
    where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.status = 'scheduled' and x.effective_at <= v_now
    order by x.effective_at, x.created_at, x.seq
  loop
    update tokengate.grants x set status = 'active' where x.org_id = p_org_id and x.id = g.id;
    perform tokengate._append(p_org_id, p_token_type_id, 'grant', 0, g.amount, 0, 0, null, null, null,
      jsonb_build_object('grantId', g.id, 'source', g.source, 'scheduled', true), null, g.id);
    v_count := v_count + 1;
  end loop;
  for g in
    select * from tokengate.grants x
    where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.status = 'active' and x.expires_at <= v_now
    order by x.expires_at, x.priority, x.created_at, x.seq
  loop
    if g.remaining > 0 then
      perform tokengate._append(p_org_id, p_token_type_id, 'expire', 0, -g.remaining, 0, 0, null, null, null,
        jsonb_build_object('grantId', g.id, 'source', g.source, 'expired', g.remaining), null, g.id);
    end if;
    update tokengate.grants x set status = 'expired', expired = g.remaining, ended_at = v_now
    where x.org_id = p_org_id and x.id = g.id;
    v_count := v_count + 1;
  end loop;
  update tokengate.buckets b set grants_due_at = tokengate._grants_next_due(p_org_id, p_token_type_id)
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id;
  return v_count;
end
$$;

/*
  The charge paths learn grants and prices by period. Each function is edited in place (its current
  definition, one exact fragment replaced; the migration fails if a fragment is not found once), as
  ..._fast_charge.sql did: the functions are long and the edits are small.
    deduct        expires/activates due grants first; its cost is its period's price; the part it takes
                  from the pool comes from grants in the burn order (one grant_entries row per grant).
    _touch        does the bucket's due grant work (lazy expiry) before the period's refresh.
    _signal       an 'expire' entry of a grant is not a lapsed hold (no expired_hold alert).
    _resolve      'refunded' leaves out what was forfeited to expired or revoked grants.
    check, reserve, guard_begin, _bucket_json   the period's price.
*/
do $do$
declare
  v_edit record;
  v_def text;
  v_count int;
begin
  for v_edit in
    select * from (values
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 1,
       E'  v_total bigint;\nbegin',
       E'  v_total bigint;\n  v_moves jsonb;\n  v_grant_id uuid;\nbegin'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 2,
       'if not v_found or v_bucket.period_end is null or v_now >= v_bucket.period_end then',
       'if not v_found or v_bucket.period_end is null or v_now >= v_bucket.period_end or v_bucket.grants_due_at <= v_now then'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 3,
       't.cost as type_cost',
       'case when t.cost_from is null or v_bucket.period_start >= t.cost_from then t.cost else tokengate._cost(t, v_bucket.period_start) end as type_cost'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 4,
       E'  v_metadata := p_metadata || jsonb_build_object(\'units\', p_units);\n',
       E'  if v_from_p > 0 then\n    -- The pool\'s part comes from grants, in the burn order (written below with the entry\'s id):\n    -- inline when the first grant covers it (_grants_take\'s fast path; a function with SET costs\n    -- ~200k instructions a call), else through _grants_take.\n    update tokengate.grants x set remaining = x.remaining - v_from_p\n    from (select f.id from tokengate.grants f\n          where f.org_id = p_org_id and f.token_type_id = p_token_type and f.status = \'active\' and f.remaining > 0\n          order by f.expires_at nulls last, f.priority, f.created_at, f.seq\n          limit 1) first\n    where x.org_id = p_org_id and x.id = first.id and x.remaining >= v_from_p\n    returning x.id into v_grant_id;\n    if v_grant_id is null then\n      v_moves := tokengate._grants_take(p_org_id, p_token_type, v_from_p);\n    end if;\n  end if;\n  v_metadata := p_metadata || jsonb_build_object(\'units\', p_units);\n'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 5,
       E'  if v_look.quota is not null then\n    insert into tokengate.member_usage',
       E'  if v_grant_id is not null then\n    insert into tokengate.grant_entries (org_id, grant_id, ledger_id, delta, created_at)\n    values (p_org_id, v_grant_id, v_ledger_id, -v_from_p, v_now);\n  elsif v_from_p > 0 then\n    perform tokengate._grants_record(p_org_id, v_moves, v_ledger_id, null, v_now);\n  end if;\n  if v_look.quota is not null then\n    insert into tokengate.member_usage'),
      ('tokengate._touch(tokengate.accounts, text)', 1,
       E'  select * into v_bucket from tokengate.buckets b\n  where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;\n\n  if v_bucket.period_end is null',
       E'  if v_bucket.grants_due_at <= v_now then\n    perform tokengate._grants_due(v_account.org_id, p_token_type_id);\n  end if;\n\n  select * into v_bucket from tokengate.buckets b\n  where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;\n\n  if v_bucket.period_end is null'),
      ('tokengate._signal(tokengate.buckets, text, bigint, bigint, uuid, uuid)', 1,
       E'if p_kind = \'expire\' then',
       E'if p_kind = \'expire\' and p_reservation_id is not null then'),
      ('tokengate._resolve(tokengate.reservations, text, integer, uuid, jsonb)', 1,
       E'\'refunded\', v_refund_a + v_refund_p,',
       E'\'refunded\', v_refund_a + v_refund_p - coalesce((select (l.metadata ->> \'grantForfeited\')::bigint from tokengate.ledger l\n                                                   where l.id = v_ledger_id and l.org_id = r.org_id), 0),'),
      ('tokengate."check"(uuid, uuid, text, integer)', 1,
       'coalesce(p_amount, v_type.cost)',
       'coalesce(p_amount, tokengate._cost(v_type, (select b.period_start from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = v_type.id)))'),
      ('tokengate."check"(uuid, uuid, text, integer)', 2,
       E'\'cost\', v_type.cost,',
       E'\'cost\', tokengate._cost(v_type, v_bucket.period_start),'),
      ('tokengate.reserve(uuid, uuid, text, text, integer, integer, jsonb)', 1,
       'coalesce(p_estimate, v_type.cost)',
       'coalesce(p_estimate, tokengate._cost(v_type, (select b.period_start from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = v_type.id)))'),
      ('tokengate.guard_begin(uuid, uuid, text, text, integer, integer, jsonb)', 1,
       'coalesce(p_estimate, v_type.cost)',
       'coalesce(p_estimate, tokengate._cost(v_type, (select b.period_start from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = v_type.id)))'),
      ('tokengate._bucket_json(uuid, text)', 1,
       E'\'cost\', t.cost,',
       E'\'cost\', tokengate._cost(t, b.period_start),')
    ) as e(fn, step, old, new)
    order by fn, step
  loop
    v_def := pg_get_functiondef(v_edit.fn::regprocedure);
    v_count := (length(v_def) - length(replace(v_def, v_edit.old, ''))) / length(v_edit.old);
    if v_count <> 1 then
      raise exception '%: fragment % found % times', v_edit.fn, v_edit.step, v_count;
    end if;
    execute replace(v_def, v_edit.old, v_edit.new);
  end loop;
end
$do$;

/* ───────────────────────────── the grants API ───────────────────────────── */

/* A grant as the API answers it. */
create function tokengate._grant_json(g tokengate.grants)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'grantId', g.id,
    'tokenType', g.token_type_id,
    'source', g.source,
    'amount', g.amount,
    'remaining', g.remaining,
    'priority', g.priority,
    'effectiveAt', g.effective_at,
    'expiresAt', g.expires_at,
    'status', g.status,
    'expired', g.expired,
    'clawedBack', g.clawed_back,
    'clawbackShortfall', g.clawback_shortfall,
    'forfeited', g.forfeited,
    'createdAt', g.created_at,
    'endedAt', g.ended_at,
    'metadata', g.metadata)
$$;

/*
  Add a grant of p_amount tokens of a type, exactly once per (organization, idempotency key): the
  payment's id for a purchase. source: purchase (default), promo, plan or adjustment; p_expires_at:
  null never expires; p_effective_at: null or past = now, future = the grant joins the pool then
  (ledgerId null until it does); p_priority 0 (consumed first) to 100 among grants of the same expiry.
*/
drop function tokengate.grant_tokens(uuid, uuid, text, int, text, jsonb);
create function tokengate.grant_tokens(
  p_org_id uuid,
  p_actor_id uuid,
  p_token_type text,
  p_amount int,
  p_idempotency_key text,
  p_metadata jsonb default '{}',
  p_source text default 'purchase',
  p_expires_at timestamptz default null,
  p_effective_at timestamptz default null,
  p_priority int default 50
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_account tokengate.accounts;
  v_type tokengate.token_types;
  v_replay jsonb;
  v_effective timestamptz := greatest(coalesce(p_effective_at, v_now), v_now);
  v_grant tokengate.grants;
  v_ledger_id bigint;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_amount between 1 and 1000000000, 'p_amount', '1 to 1000000000');
  perform tokengate._arg(p_source in ('plan', 'purchase', 'promo', 'adjustment'), 'p_source', 'plan, purchase, promo or adjustment');
  perform tokengate._arg(p_priority between 0 and 100, 'p_priority', '0 to 100');
  perform tokengate._arg(p_expires_at is null or p_expires_at > v_effective, 'p_expires_at', 'NULL or after the grant takes effect');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  v_type := tokengate._token_type(p_token_type);
  perform tokengate._touch(v_account, v_type.id);
  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'grant', jsonb_build_object(
    'tokenType', v_type.id, 'actorId', p_actor_id, 'amount', p_amount, 'metadata', p_metadata,
    'source', p_source, 'expiresAt', p_expires_at, 'effectiveAt', p_effective_at, 'priority', p_priority));
  if v_replay is not null then
    return v_replay;
  end if;
  if exists (select 1 from tokengate.grants g where g.org_id = p_org_id and g.idempotency_key = p_idempotency_key) then
    -- The key's record was pruned, but its grant exists: a payment never grants twice.
    perform tokengate._raise('idempotency_conflict', jsonb_build_object('idempotencyKey', p_idempotency_key, 'operation', 'grant',
      'grantId', (select g.id from tokengate.grants g where g.org_id = p_org_id and g.idempotency_key = p_idempotency_key)));
  end if;
  insert into tokengate.grants (org_id, token_type_id, source, amount, priority, effective_at, expires_at, status,
                                idempotency_key, metadata, created_at)
  values (p_org_id, v_type.id, p_source, p_amount, p_priority, v_effective, p_expires_at,
          case when v_effective > v_now then 'scheduled' else 'active' end, p_idempotency_key, p_metadata, v_now)
  returning * into v_grant;
  if v_grant.status = 'active' then
    v_ledger_id := tokengate._append(p_org_id, v_type.id, 'grant', 0, p_amount, 0, 0, p_actor_id, null,
      p_idempotency_key, p_metadata, null, v_grant.id);
  else
    update tokengate.buckets b set grants_due_at = tokengate._grants_next_due(p_org_id, v_type.id)
    where b.org_id = p_org_id and b.token_type_id = v_type.id;
  end if;
  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'ledgerId', v_ledger_id,
    'grantId', v_grant.id,
    'tokenType', v_type.id,
    'granted', p_amount,
    'source', p_source,
    'effectiveAt', v_grant.effective_at,
    'expiresAt', v_grant.expires_at,
    'priority', v_grant.priority,
    'balance', tokengate._bucket_json(p_org_id, v_type.id)));
end
$$;
comment on function tokengate.grant_tokens(uuid, uuid, text, int, text, jsonb, text, timestamptz, timestamptz, int) is
  'Add a grant (purchase, promo, plan or adjustment) with an optional expiry, start and priority, exactly once per idempotency key.';

/*
  Take back up to p_amount tokens of one grant (p_grant_id, or p_grant_key: the idempotency key it
  was made with), exactly once per idempotency key: a refund or a dispute of the payment. Only what
  is left is taken — never below zero; the rest is the shortfall, recorded on the grant and in the
  answer. p_amount null takes everything left. A clawback that covers the whole grant revokes it:
  tokens a pending hold took from it are forfeited when the hold gives them back.
*/
create function tokengate.clawback_grant(
  p_org_id uuid,
  p_actor_id uuid,
  p_grant_id uuid,
  p_grant_key text,
  p_amount int,
  p_idempotency_key text,
  p_reason text,
  p_metadata jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_account tokengate.accounts;
  v_grant tokengate.grants;
  v_replay jsonb;
  v_requested bigint;
  v_take bigint;
  v_shortfall bigint;
  v_revoke boolean;
  v_ledger_id bigint;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg((p_grant_id is null) <> (p_grant_key is null), 'p_grant_id', 'exactly one of p_grant_id and p_grant_key');
  perform tokengate._arg(p_amount is null or p_amount between 1 and 1000000000, 'p_amount', 'NULL or 1 to 1000000000');
  perform tokengate._arg(length(p_reason) between 1 and 500, 'p_reason', '1 to 500 characters');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  select * into v_grant from tokengate.grants g
  where g.org_id = p_org_id and (g.id = p_grant_id or g.idempotency_key = p_grant_key);
  if not found then
    perform tokengate._raise('grant_not_found', jsonb_build_object('orgId', p_org_id, 'grantId', p_grant_id, 'grantKey', left(p_grant_key, 255)));
  end if;
  -- The bucket's lock (and its due work: an expired grant has nothing left to claw back).
  perform tokengate._touch(v_account, v_grant.token_type_id);
  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'clawback', jsonb_build_object(
    'grantId', v_grant.id, 'actorId', p_actor_id, 'amount', p_amount, 'reason', p_reason, 'metadata', p_metadata));
  if v_replay is not null then
    return v_replay;
  end if;
  select * into v_grant from tokengate.grants g where g.org_id = p_org_id and g.id = v_grant.id;
  if v_grant.status = 'scheduled' then
    -- Not in the pool yet: the clawback shrinks (or cancels) what will be granted (amount is what
    -- is still to be granted: earlier clawbacks already shrank it).
    v_requested := coalesce(p_amount, v_grant.amount);
    v_take := least(v_requested, v_grant.amount);
    v_shortfall := v_requested - v_take;
    v_revoke := v_take = v_grant.amount;
    update tokengate.grants g set amount = case when v_revoke then g.amount else g.amount - v_take end
    where g.org_id = p_org_id and g.id = v_grant.id;
  else
    v_requested := coalesce(p_amount, v_grant.remaining);
    -- Refunds that cover the whole grant (with earlier clawbacks and their shortfall) void it: what
    -- is left goes, even if a hold gave tokens back since an earlier clawback found them spent.
    v_revoke := v_grant.status = 'active'
      and (p_amount is null or v_grant.clawed_back + v_grant.clawback_shortfall + v_requested >= v_grant.amount);
    v_take := case when v_revoke then v_grant.remaining
                   when v_grant.status = 'active' then least(v_requested, v_grant.remaining)
                   else 0 end;
    v_shortfall := greatest(v_requested - v_take, 0);
  end if;
  if v_take > 0 and v_grant.status = 'active' then
    v_ledger_id := tokengate._append(p_org_id, v_grant.token_type_id, 'adjust', 0, -v_take, 0, 0, p_actor_id, null,
      p_idempotency_key, p_metadata || jsonb_build_object('reason', p_reason, 'clawback', true, 'grantId', v_grant.id,
        'requested', v_requested, 'clawedBack', v_take, 'shortfall', v_shortfall),
      null, v_grant.id);
  end if;
  update tokengate.grants g set
    clawed_back = g.clawed_back + v_take,
    clawback_shortfall = g.clawback_shortfall + v_shortfall,
    status = case when v_revoke then 'revoked' else g.status end,
    ended_at = case when v_revoke then v_now else g.ended_at end
  where g.org_id = p_org_id and g.id = v_grant.id;
  if v_revoke then
    update tokengate.buckets b set grants_due_at = tokengate._grants_next_due(p_org_id, v_grant.token_type_id)
    where b.org_id = p_org_id and b.token_type_id = v_grant.token_type_id;
  end if;
  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'ledgerId', v_ledger_id,
    'grantId', v_grant.id,
    'tokenType', v_grant.token_type_id,
    'requested', p_amount,
    'clawedBack', v_take,
    'shortfall', v_shortfall,
    'revoked', v_revoke,
    'balance', tokengate._bucket_json(p_org_id, v_grant.token_type_id)));
end
$$;
comment on function tokengate.clawback_grant(uuid, uuid, uuid, text, int, text, text, jsonb) is
  'Take back what is left of a grant (up to an amount), never below zero, recording the shortfall; exactly once per idempotency key.';

/* A member's view of the organization's grants: active ones in the burn order, then scheduled, then (optionally) ended. */
create function tokengate.grants(p_org_id uuid, p_user_id uuid, p_token_type text default null, p_include_ended boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
  v_type record;
begin
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  if p_token_type is not null then
    perform tokengate._token_type(p_token_type);
  end if;
  -- Lazy expiry first, so an expired grant is never listed as active.
  for v_type in
    select b.token_type_id from tokengate.buckets b
    where b.org_id = p_org_id and (p_token_type is null or b.token_type_id = p_token_type) and b.grants_due_at <= tokengate.clock()
    order by b.token_type_id
  loop
    perform tokengate._touch(v_account, v_type.token_type_id);
  end loop;
  return coalesce((
    select jsonb_agg(tokengate._grant_json(g) order by
      case g.status when 'active' then 0 when 'scheduled' then 1 else 2 end,
      g.token_type_id,
      case when g.status in ('active', 'scheduled') then g.expires_at end nulls last,
      case when g.status in ('active', 'scheduled') then g.priority end,
      case when g.status = 'scheduled' then g.effective_at end,
      case when g.status not in ('active', 'scheduled') then g.ended_at end desc,
      g.created_at, g.seq)
    from tokengate.grants g
    where g.org_id = p_org_id and (p_token_type is null or g.token_type_id = p_token_type)
      and (p_include_ended or g.status in ('active', 'scheduled'))), '[]');
end
$$;
comment on function tokengate.grants(uuid, uuid, text, boolean) is
  'The organization''s grants for a member: active ones in the order they are consumed, then scheduled, then (if asked) ended ones.';

/* The sweep: activate and expire due grants of up to p_limit buckets. Schedule it (pg_cron, or a timer). */
create function tokengate.expire_grants(p_limit int default 1000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row record;
  v_count int := 0;
  v_buckets int := 0;
begin
  perform tokengate._arg(p_limit between 1 and 100000, 'p_limit', '1 to 100000');
  for v_row in
    select b.org_id, b.token_type_id from tokengate.buckets b
    where b.grants_due_at <= tokengate.clock()
    order by b.grants_due_at, b.org_id, b.token_type_id
    limit p_limit
  loop
    perform 1 from tokengate.buckets b
    where b.org_id = v_row.org_id and b.token_type_id = v_row.token_type_id and b.grants_due_at <= tokengate.clock()
    for update;
    if found then
      v_count := v_count + tokengate._grants_due(v_row.org_id, v_row.token_type_id);
      perform tokengate._touch((select a from tokengate.accounts a where a.org_id = v_row.org_id), v_row.token_type_id);
      v_buckets := v_buckets + 1;
    end if;
  end loop;
  return jsonb_build_object('grants', v_count, 'buckets', v_buckets);
end
$$;
comment on function tokengate.expire_grants(int) is 'Activate scheduled grants and expire lapsed ones (one ledger entry per expired remainder) for up to p_limit buckets.';

/* ───────────────────────────── existing pools become grants ───────────────────────────── */

/*
  Each bucket's purchased pool becomes one purchase grant that never expires, so no balance changes:
  its amount is the pool plus what pending holds took from it (their share is recorded as opening
  entries tagged with the hold, so a release returns it to this grant). Opening entries have no ledger
  entry (ledger_id null); every ledger entry after this migration is reconciled with its moves.
*/
do $do$
declare
  v_pool record;
  v_grant uuid;
  v_now timestamptz := tokengate.clock();
begin
  for v_pool in
    select b.org_id, b.token_type_id, b.purchased_remaining,
           coalesce((select sum(x.held_purchased) from tokengate.reservations x
                     where x.org_id = b.org_id and x.token_type_id = b.token_type_id and x.status = 'pending'), 0) as held
    from tokengate.buckets b
    order by b.org_id, b.token_type_id
  loop
    continue when v_pool.purchased_remaining + v_pool.held = 0;
    insert into tokengate.grants (org_id, token_type_id, source, amount, remaining, effective_at, status, metadata, created_at)
    values (v_pool.org_id, v_pool.token_type_id, 'purchase', v_pool.purchased_remaining + v_pool.held, v_pool.purchased_remaining,
            v_now, 'active', jsonb_build_object('migrated', true), v_now)
    returning id into v_grant;
    insert into tokengate.grant_entries (org_id, grant_id, ledger_id, reservation_id, delta, created_at)
    values (v_pool.org_id, v_grant, null, null, v_pool.purchased_remaining + v_pool.held, v_now);
    insert into tokengate.grant_entries (org_id, grant_id, ledger_id, reservation_id, delta, created_at)
    select x.org_id, v_grant, null, x.id, -x.held_purchased, v_now
    from tokengate.reservations x
    where x.org_id = v_pool.org_id and x.token_type_id = v_pool.token_type_id and x.status = 'pending' and x.held_purchased > 0;
  end loop;
  -- Entries up to here moved the pool before grants existed: the watermark of the per-entry check.
  execute format($f$
    create function tokengate._grants_since() returns bigint language sql immutable
    set search_path = pg_catalog, pg_temp as 'select %s::bigint'$f$,
    (select coalesce(max(l.id), 0) from tokengate.ledger l));
end
$do$;
comment on function tokengate._grants_since() is 'The last ledger entry written before grants existed (verify_ledger reconciles the entries after it with their grant moves).';

/* ───────────────────────────── verify_ledger reconciles grants too ───────────────────────────── */

alter function tokengate.verify_ledger(uuid) rename to _verify_buckets;
create function tokengate.verify_ledger(p_org_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with moves as (
    select e.org_id, e.grant_id, sum(e.delta) as delta from tokengate.grant_entries e
    where p_org_id is null or e.org_id = p_org_id
    group by e.org_id, e.grant_id
  ),
  pools as (
    select g.org_id, g.token_type_id, sum(g.remaining) as remaining from tokengate.grants g
    where g.status = 'active' and (p_org_id is null or g.org_id = p_org_id)
    group by g.org_id, g.token_type_id
  ),
  entry_moves as (
    select e.ledger_id, sum(e.delta) as delta from tokengate.grant_entries e
    where e.ledger_id > tokengate._grants_since() and (p_org_id is null or e.org_id = p_org_id)
    group by e.ledger_id
  ),
  holds as (
    select e.reservation_id, -sum(e.delta) as held from tokengate.grant_entries e
    where e.reservation_id is not null and (p_org_id is null or e.org_id = p_org_id)
    group by e.reservation_id
  ),
  problems as (
    select jsonb_build_object('check', 'grant_remaining_equals_moves', 'orgId', g.org_id, 'tokenType', g.token_type_id,
             'grantId', g.id, 'remaining', g.remaining, 'moves', coalesce(m.delta, 0)) as problem
    from tokengate.grants g
    left join moves m on m.org_id = g.org_id and m.grant_id = g.id
    where (p_org_id is null or g.org_id = p_org_id) and g.remaining <> coalesce(m.delta, 0)
    union all
    select jsonb_build_object('check', 'pool_equals_active_grants', 'orgId', b.org_id, 'tokenType', b.token_type_id,
             'purchased', b.purchased_remaining, 'grants', coalesce(p.remaining, 0))
    from tokengate.buckets b
    left join pools p on p.org_id = b.org_id and p.token_type_id = b.token_type_id
    where (p_org_id is null or b.org_id = p_org_id) and b.purchased_remaining <> coalesce(p.remaining, 0)
    union all
    select jsonb_build_object('check', 'entry_equals_grant_moves', 'orgId', l.org_id, 'tokenType', l.token_type_id,
             'ledgerId', l.id, 'purchasedDelta', l.purchased_delta, 'moves', coalesce(m.delta, 0))
    from tokengate.ledger l
    left join entry_moves m on m.ledger_id = l.id
    where l.id > tokengate._grants_since() and (p_org_id is null or l.org_id = p_org_id)
      and (l.purchased_delta <> 0 or m.delta is not null) and l.purchased_delta <> coalesce(m.delta, 0)
    union all
    select jsonb_build_object('check', 'hold_equals_grant_moves', 'orgId', x.org_id, 'tokenType', x.token_type_id,
             'reservationId', x.id, 'heldPurchased', x.held_purchased, 'moves', coalesce(h.held, 0))
    from tokengate.reservations x
    left join holds h on h.reservation_id = x.id
    where x.status = 'pending' and (p_org_id is null or x.org_id = p_org_id) and x.held_purchased <> coalesce(h.held, 0)
  )
  select tokengate._verify_buckets(p_org_id) || coalesce((select jsonb_agg(problem) from problems), '[]')
$$;
comment on function tokengate.verify_ledger(uuid) is
  'Reconciles buckets with the ledger (see _verify_buckets) and grants with their moves: [] when consistent, else one problem per inconsistency.';

/* ───────────────────────────── privileges ───────────────────────────── */

do $do$
declare
  v_fn regprocedure;
begin
  for v_fn in
    select p.oid::regprocedure from pg_proc p
    where p.pronamespace = 'tokengate'::regnamespace
      and p.proname in ('_cost', '_grants_take', '_grants_return', '_grants_record', '_grants_next_due', '_append',
                        '_grants_due', '_grant_json', 'grant_tokens', 'clawback_grant', 'grants', 'expire_grants',
                        '_grants_since', '_verify_buckets', 'verify_ledger')
  loop
    execute format('revoke execute on function %s from public, anon, authenticated, service_role', v_fn);
  end loop;
end
$do$;
grant execute on function
  tokengate.grant_tokens(uuid, uuid, text, int, text, jsonb, text, timestamptz, timestamptz, int),
  tokengate.clawback_grant(uuid, uuid, uuid, text, int, text, text, jsonb),
  tokengate.grants(uuid, uuid, text, boolean),
  tokengate.expire_grants(int),
  tokengate.verify_ledger(uuid)
to service_role;
