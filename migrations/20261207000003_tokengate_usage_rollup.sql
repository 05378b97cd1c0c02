/*
  Tokengate ledger — the daily usage rollup, kept from the ledger instead of by every charge.

  Before: every charge (deduct, commit, late charge) also upserted its (organization, day, type,
  member) row of tokengate.usage_daily — the largest single cost of a charge after the ledger entry
  itself. Now a charge writes only the bucket, its ledger entry and its idempotency key (plus the
  member's counters when the member has a quota: those enforce the quota and stay exact), and the
  rollup is brought up to date from the ledger:
    - lazily, by tokengate.stats() for the organization it reports on (so stats are always exact);
    - in bulk, by tokengate.roll_up_usage(), which the app schedules (pg_cron every minute, or a
      timer) so that the rollup a dashboard reads stays short to bring up to date.

  Why a per-bucket watermark is safe ("commit-safe"): ledger ids are assigned when the entry is
  inserted, and every function inserts a bucket's entries while it holds that bucket's row lock
  (it locks or updates the bucket first), until it commits. So for one bucket, entries commit in
  id order, and what a snapshot sees of one bucket's entries is always a prefix in id order: a
  rollup that saw everything up to id N of a bucket never misses an entry below N that commits
  later. (Across buckets ids interleave freely, which is why the watermark is per bucket.)

  tokengate.usage_marks holds, per bucket, the last ledger id included in usage_daily. Members may
  read usage_daily (RLS); it is current as of the last stats() call or scheduled roll-up.
*/

create table tokengate.usage_marks (
  org_id        uuid not null,
  token_type_id text not null,
  ledger_id     bigint not null default 0,
  primary key (org_id, token_type_id)
);
alter table tokengate.usage_marks enable row level security;
revoke all on tokengate.usage_marks from public, anon, authenticated, service_role;
grant select on tokengate.usage_marks to service_role;
comment on table tokengate.usage_marks is
  'Per bucket: the last ledger id included in usage_daily (the rollup''s commit-safe watermark). Server functions only.';

-- Everything charged so far is already in usage_daily (charges kept it until now). No charge may
-- run between reading the high-water marks and switching the functions over: hold the ledger.
lock table tokengate.ledger in share row exclusive mode;
insert into tokengate.usage_marks (org_id, token_type_id, ledger_id)
select l.org_id, l.token_type_id, max(l.id) from tokengate.ledger l group by l.org_id, l.token_type_id;

/*
  Bring the organization's usage_daily up to date with its ledger. Each bucket's watermark row is
  locked while it is advanced, so two roll-ups never count an entry twice. A charge's day is the
  UTC day of its ledger entry; its member is the reservation's member for commits and late
  charges, else the entry's user.
*/
create function tokengate._roll_up(p_org_id uuid)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type text;
  v_mark bigint;
begin
  -- Only buckets with entries past their watermark (one index probe each; nothing is locked or
  -- written when the rollup is current, which is what stats() finds when roll_up_usage runs).
  -- The probe is a LIMIT 1 subquery: as a plain EXISTS the planner may hash-join every entry of
  -- the organization (measured: 125 ms at 100k of its entries, against 0.1 ms this way).
  for v_type in
    select b.token_type_id
    from tokengate.buckets b
    left join tokengate.usage_marks m on m.org_id = b.org_id and m.token_type_id = b.token_type_id
    where b.org_id = p_org_id
      and exists (select 1 from (
            select l.id from tokengate.ledger l
            where l.org_id = b.org_id and l.token_type_id = b.token_type_id and l.id > coalesce(m.ledger_id, 0)
            order by l.id limit 1) pending)
    order by b.token_type_id
  loop
    insert into tokengate.usage_marks (org_id, token_type_id) values (p_org_id, v_type) on conflict do nothing;
    -- Locked while it advances: two roll-ups of one bucket never count an entry twice.
    select m.ledger_id into v_mark from tokengate.usage_marks m
    where m.org_id = p_org_id and m.token_type_id = v_type
    for update;
    with t as (
      select l.id, l.kind, l.charged, coalesce(x.user_id, l.user_id) as user_id, (l.created_at at time zone 'UTC')::date as day
      from tokengate.ledger l
      left join tokengate.reservations x on x.org_id = l.org_id and x.id = l.reservation_id
      where l.org_id = p_org_id and l.token_type_id = v_type and l.id > v_mark
    ), u as (
      insert into tokengate.usage_daily as u (org_id, token_type_id, user_id, day, tokens, events)
      select p_org_id, v_type, t.user_id, t.day, sum(t.charged), count(*)
      from t
      where t.kind in ('deduct', 'commit') and t.user_id is not null
      group by t.user_id, t.day
      on conflict (org_id, day, token_type_id, user_id)
      do update set tokens = u.tokens + excluded.tokens, events = u.events + excluded.events
    )
    update tokengate.usage_marks m set ledger_id = (select max(t.id) from t)
    where m.org_id = p_org_id and m.token_type_id = v_type and exists (select 1 from t);
  end loop;
end
$$;
revoke execute on function tokengate._roll_up(uuid) from public, anon, authenticated, service_role;

/*
  Bring usage_daily up to date for up to p_limit organizations whose ledger has entries not rolled
  up yet; returns how many were rolled up. Schedule it (pg_cron: every minute) so that stats()
  finds little to do; call it again while it returns p_limit.

  select cron.schedule('tokengate-roll-up-usage', '* * * * *', 'select tokengate.roll_up_usage()');
*/
create function tokengate.roll_up_usage(p_limit int default 1000)
returns int
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_org uuid;
  v_count int := 0;
begin
  perform tokengate._arg(p_limit between 1 and 100000, 'p_limit', '1 to 100000');
  for v_org in
    select distinct b.org_id
    from tokengate.buckets b
    left join tokengate.usage_marks m on m.org_id = b.org_id and m.token_type_id = b.token_type_id
    where exists (select 1 from (
      -- (LIMIT 1: one index probe per bucket, never a join over the whole ledger; see _roll_up.)
      select l.id from tokengate.ledger l
      where l.org_id = b.org_id and l.token_type_id = b.token_type_id and l.id > coalesce(m.ledger_id, 0)
      order by l.id limit 1) pending)
    limit p_limit
  loop
    perform tokengate._roll_up(v_org);
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;
comment on function tokengate.roll_up_usage(int) is
  'Bring the daily usage rollup up to date for up to p_limit organizations; schedule it every minute (pg_cron or a timer).';
revoke execute on function tokengate.roll_up_usage(int) from public, anon, authenticated;
grant execute on function tokengate.roll_up_usage(int) to service_role;

/* Charges stop writing usage_daily; the member's quota counters stay. */
create or replace function tokengate._record_usage(
  p_org_id uuid, p_token_type_id text, p_user_id uuid, p_period_start timestamptz,
  p_charged bigint, p_events int, p_member_held_delta bigint
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  -- (p_events: the usage rollup now counts events from the ledger; kept for the callers' signature.)
  if (p_charged <> 0 or p_member_held_delta <> 0) and exists (
    select 1 from tokengate.member_quotas q
    where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = p_token_type_id
  ) then
    insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
    values (p_org_id, p_user_id, p_token_type_id, p_period_start, p_charged, greatest(p_member_held_delta, 0))
    on conflict (org_id, user_id, token_type_id, period_start)
    do update set used = m.used + excluded.used, held = m.held + p_member_held_delta;
  end if;
end
$$;


/*
  A hash chain per bucket, so that verify_ledger() detects an entry edited, deleted or inserted
  with the append-only triggers bypassed (a superuser or the table owner with
  session_replication_role = replica). Each entry stores chain = sha256(previous entry's chain ||
  its own content), and the bucket stores its newest entry's chain: an edit breaks the entry's own
  link, a deletion the next entry's, a deletion at the end the bucket's. Someone able to rewrite
  the whole chain and the bucket can still hide an edit; anchor the heads outside the database
  (e.g. export tokengate.buckets.ledger_chain daily) to detect that too. Entries written before
  this migration have no chain; a bucket's chain starts at its first new entry.
*/
alter table tokengate.buckets add column ledger_chain bytea;
alter table tokengate.ledger add column chain bytea;

/* The content of an entry as hashed (no id: the order is the chain's; times as epoch numbers, so no setting changes them). */
create function tokengate._chain(
  p_prev bytea, p_kind text, p_allowance_delta bigint, p_purchased_delta bigint, p_held_delta bigint, p_charged bigint,
  p_allowance_after bigint, p_purchased_after bigint, p_held_after bigint, p_period_start timestamptz, p_user_id uuid,
  p_reservation_id uuid, p_idempotency_key text, p_metadata jsonb, p_created_at timestamptz
)
returns bytea
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select sha256(coalesce(p_prev, ''::bytea) || convert_to(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
    p_kind, p_allowance_delta, p_purchased_delta, p_held_delta, p_charged, p_allowance_after, p_purchased_after, p_held_after,
    extract(epoch from p_period_start), p_user_id, p_reservation_id, p_idempotency_key, p_metadata, extract(epoch from p_created_at)), 'UTF8'))
$$;
revoke execute on function tokengate._chain(bytea, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint, timestamptz, uuid, uuid, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

/* _append: the same, plus the chain (computed in the bucket's update, from the values it writes). */
create or replace function tokengate._append(
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
  p_allowance int default null
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
begin
  select b.allowance_remaining into v_before from tokengate.buckets b
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id;
  update tokengate.buckets b set
    allowance = coalesce(p_allowance, b.allowance),
    allowance_spent = b.allowance_spent + p_spent_delta,
    allowance_remaining = greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0),
    purchased_remaining = b.purchased_remaining + p_purchased_delta,
    held = b.held + p_held_delta,
    used = b.used + p_charged,
    updated_at = v_now,
    -- (The SET expressions see the old row: the values below are the ones written above. The hash is
    --  tokengate._chain's, inlined: a function with SET is never inlined, and calling it cost about
    --  200k instructions per entry; verify_ledger's walk with _chain catches any divergence.)
    ledger_chain = sha256(coalesce(b.ledger_chain, ''::bytea) || convert_to(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
        p_kind, greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0) - v_before, p_purchased_delta, p_held_delta, p_charged, greatest(coalesce(p_allowance, b.allowance) - (b.allowance_spent + p_spent_delta), 0), b.purchased_remaining + p_purchased_delta, b.held + p_held_delta, extract(epoch from b.period_start), p_user_id, p_reservation_id, p_idempotency_key, v_metadata, extract(epoch from v_now)), 'UTF8'))
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id
  returning * into v_bucket;

  insert into tokengate.ledger (
    org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
    allowance_after, purchased_after, held_after, period_start, user_id, reservation_id,
    idempotency_key, metadata, created_at, chain
  ) values (
    p_org_id, p_token_type_id, p_kind, v_bucket.allowance_remaining - v_before, p_purchased_delta, p_held_delta, p_charged,
    v_bucket.allowance_remaining, v_bucket.purchased_remaining, v_bucket.held, v_bucket.period_start,
    p_user_id, p_reservation_id, p_idempotency_key, v_metadata, v_now, v_bucket.ledger_chain
  )
  returning id into v_id;
  return v_id;
end
$$;
revoke execute on function tokengate._append(uuid, text, text, bigint, bigint, bigint, bigint, uuid, uuid, text, jsonb, integer)
  from public, anon, authenticated, service_role;

/*
  Charge p_units uses of a token type (cost from the catalog), atomically and exactly once per
  idempotency key: allowance first, then purchased tokens. Raises plan_blocked,
  member_quota_exceeded or insufficient_tokens and writes nothing when it cannot pay.

  The hot path is three statements: lock the bucket; read (in a snapshot taken after the lock) the
  plan, membership, token type, quota, idempotency key and whether a hold of the bucket has lapsed;
  then one statement that updates the bucket, appends the ledger entry and stores the key with its
  answer (which already says replayed: false; a replay overrides it). The usage rollup is brought
  up to date from the ledger (tokengate._roll_up); the member's counters are written only for a
  member with a quota, in their own statement (a data-modifying CTE costs its set-up even when it
  writes nothing). First use of a bucket or an ended period take the slow path through _touch
  before the read; a lapsed hold, through _touch after it.

  select tokengate.deduct(:org, :user, 'quest_generation', 'req-7f3a');
*/
create or replace function tokengate.deduct(
  p_org_id uuid,
  p_user_id uuid,
  p_token_type text,
  p_idempotency_key text,
  p_metadata jsonb default '{}',
  p_units int default 1
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  -- tokengate.clock(), inlined: this is the hot path.
  v_now timestamptz := coalesce(nullif(current_setting('tokengate.now', true), '')::timestamptz, now());
  v_bucket tokengate.buckets;
  v_found boolean;
  v_look record;
  v_cost int;
  v_params jsonb;
  v_from_a int := 0;
  v_from_p int := 0;
  v_metadata jsonb;
  v_result jsonb;
begin
  -- Arguments, in the order the other functions check them (errors are the cold path).
  -- (A length test and a search for one character outside ! to ~: '^[!-~]{1,255}$' costs ~150k
  --  instructions per call in the regex engine's bounded repetition.)
  if p_idempotency_key is null or octet_length(p_idempotency_key) not between 1 and 255 or p_idempotency_key ~ '[^!-~]' then
    perform tokengate._arg_key(p_idempotency_key);
  end if;
  if p_metadata is null or jsonb_typeof(p_metadata) <> 'object' or (p_metadata <> '{}' and octet_length(p_metadata::text) > 4096) then
    perform tokengate._arg_metadata(p_metadata);
  end if;
  if p_units is null or p_units not between 1 and 1000 then
    perform tokengate._arg(false, 'p_units', '1 to 1000');
  end if;

  -- 1. The bucket, locked. Anything unusual (no bucket yet, unknown org or type, a period that
  --    ended) goes through the checks and _touch.
  select * into v_bucket from tokengate.buckets b
  where b.org_id = p_org_id and b.token_type_id = p_token_type
  for update;
  v_found := found;
  if not v_found or v_bucket.period_end is null or v_now >= v_bucket.period_end then
    if not v_found then
      perform tokengate._account(p_org_id);
      perform tokengate._require_member(p_org_id, p_user_id);
      perform tokengate._token_type(p_token_type);
    end if;
    v_bucket := tokengate._touch((select a from tokengate.accounts a where a.org_id = p_org_id), p_token_type);
  end if;

  -- 2. Everything else in one read, in a snapshot taken after the lock: a duplicate of this
  --    request that held the lock before us has committed its key, and a plan change its buckets.
  select p.id as plan_id, p.access, t.name as type_name, t.cost as type_cost,
         (select m.role from tokengate.members m where m.org_id = p_org_id and m.user_id = p_user_id) as role,
         (select q.monthly_quota from tokengate.member_quotas q
          where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = p_token_type) as quota,
         k.operation as key_operation, k.params as key_params, k.response as key_response,
         -- (Unlimited plans hold nothing, so a pending hold is looked for even when held = 0.)
         exists (select 1 from tokengate.reservations x
                 where x.org_id = p_org_id and x.token_type_id = p_token_type and x.status = 'pending'
                   and x.expires_at <= v_now) as lapsed
  into v_look
  from tokengate.accounts a
  join tokengate.plans p on p.id = a.plan_id
  left join tokengate.token_types t on t.id = p_token_type and t.active
  left join tokengate.idempotency_keys k on k.org_id = p_org_id and k.key = p_idempotency_key
  where a.org_id = p_org_id;
  if p_user_id is null then
    perform tokengate._arg(false, 'p_user_id', 'required');
  end if;
  if v_look.lapsed then
    -- Expire the lapsed holds first (their tokens return to the bucket); nothing else read above changes.
    v_bucket := tokengate._touch((select a from tokengate.accounts a where a.org_id = p_org_id), p_token_type);
  end if;
  if v_look.role is null then
    perform tokengate._raise('not_a_member', jsonb_build_object('orgId', p_org_id, 'userId', p_user_id));
  end if;
  if v_look.type_cost is null then
    perform tokengate._raise('unknown_token_type', jsonb_build_object('tokenType', left(p_token_type, 100)));
  end if;
  v_cost := v_look.type_cost * p_units;
  v_params := jsonb_build_object('tokenType', p_token_type, 'userId', p_user_id, 'units', p_units, 'metadata', p_metadata);
  if v_look.key_operation is not null then
    if v_look.key_operation <> 'deduct' or v_look.key_params <> v_params then
      perform tokengate._raise('idempotency_conflict', jsonb_build_object('idempotencyKey', p_idempotency_key, 'operation', v_look.key_operation));
    end if;
    return v_look.key_response || jsonb_build_object('replayed', true);
  end if;

  if v_look.access = 'blocked' then
    perform tokengate._raise('plan_blocked', jsonb_build_object('reason', 'plan_blocked', 'planId', v_look.plan_id, 'tokenType', p_token_type));
  end if;
  if v_look.quota is not null then
    perform tokengate._raise(d ->> 'reason', d)
    from tokengate._denial(v_bucket, (select p from tokengate.plans p where p.id = v_look.plan_id), p_user_id, v_cost) as d
    where d is not null;
  end if;
  if v_look.access <> 'unlimited' then
    if v_bucket.allowance_remaining + v_bucket.purchased_remaining < v_cost then
      perform tokengate._raise('insufficient_tokens', jsonb_build_object('reason', 'insufficient_tokens', 'tokenType', p_token_type,
        'available', v_bucket.allowance_remaining + v_bucket.purchased_remaining, 'required', v_cost, 'refreshesAt', v_bucket.period_end));
    end if;
    v_from_a := least(v_cost, v_bucket.allowance_remaining);
    v_from_p := v_cost - v_from_a;
  end if;

  v_metadata := p_metadata || jsonb_build_object('units', p_units);
  -- 3. The charge, in one statement. The key is written once, with its answer; a request that
  --    took this key for another token type (another bucket, not serialised by our lock) and
  --    committed first makes it a conflict, and the whole charge rolls back.
  with b as (
    update tokengate.buckets b set
      allowance_spent = b.allowance_spent + v_from_a,
      allowance_remaining = greatest(b.allowance - (b.allowance_spent + v_from_a), 0),
      purchased_remaining = b.purchased_remaining - v_from_p,
      used = b.used + v_cost,
      updated_at = v_now,
      -- The bucket's hash chain, over the entry written below (SET expressions see the old row):
      -- tokengate._chain's hash, inlined (see _append).
      ledger_chain = sha256(coalesce(b.ledger_chain, ''::bytea) || convert_to(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
        'deduct', -v_from_a, -v_from_p, 0, v_cost, greatest(b.allowance - (b.allowance_spent + v_from_a), 0), b.purchased_remaining - v_from_p, b.held, extract(epoch from b.period_start), p_user_id, null, p_idempotency_key, v_metadata, extract(epoch from v_now)), 'UTF8'))
    where b.org_id = p_org_id and b.token_type_id = p_token_type
    returning b.*
  ), l as (
    insert into tokengate.ledger (
      org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
      allowance_after, purchased_after, held_after, period_start, user_id, idempotency_key, metadata, created_at, chain
    )
    select p_org_id, p_token_type, 'deduct', -v_from_a, -v_from_p, 0, v_cost,
           b.allowance_remaining, b.purchased_remaining, b.held, b.period_start,
           p_user_id, p_idempotency_key, v_metadata, v_now, b.ledger_chain
    from b
    returning id
  ), r as (
    select jsonb_build_object(
      'ledgerId', l.id,
      'tokenType', p_token_type,
      'charged', v_cost,
      'fromAllowance', v_from_a,
      'fromPurchased', v_from_p,
      'balance', jsonb_build_object(
        'tokenType', p_token_type,
        'name', v_look.type_name,
        'cost', v_look.type_cost,
        'access', v_look.access,
        'unlimited', v_look.access = 'unlimited',
        'blocked', v_look.access = 'blocked',
        'allowance', b.allowance,
        'allowanceRemaining', b.allowance_remaining,
        'purchased', b.purchased_remaining,
        'held', b.held,
        'used', b.used,
        'available', case when v_look.access = 'unlimited' then null else b.allowance_remaining + b.purchased_remaining end,
        'periodStart', b.period_start,
        'refreshesAt', b.period_end),
      'replayed', false) as response
    from b, l
  ), k as (
    insert into tokengate.idempotency_keys (org_id, key, operation, params, response, created_at)
    select p_org_id, p_idempotency_key, 'deduct', v_params, r.response, v_now from r
    on conflict do nothing
    returning response
  )
  select k.response into v_result from k;
  if v_result is null then
    perform tokengate._raise('idempotency_conflict', jsonb_build_object('idempotencyKey', p_idempotency_key, 'operation', 'deduct'));
  end if;
  if v_look.quota is not null then
    insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
    values (p_org_id, p_user_id, p_token_type, v_bucket.period_start, v_cost, 0)
    on conflict (org_id, user_id, token_type_id, period_start) do update set used = m.used + excluded.used;
  end if;
  return v_result;
end
$$;


/* stats: roll the organization's usage up first (stats was never read-only: it applies lazy refreshes). */
do $do$
declare
  v_def text := pg_get_functiondef('tokengate.stats(uuid, uuid, date, date)'::regprocedure);
  v_old text := $old$  v_balances := tokengate._balances(p_org_id);$old$;
begin
  if position(v_old in v_def) = 0 then
    raise exception 'usage_rollup: balances line of stats not found';
  end if;
  execute replace(v_def, v_old, v_old || E'\n  perform tokengate._roll_up(p_org_id);');
end
$do$;

/* verify_ledger: the rollup plus what is not rolled up yet equals the charges. */
do $do$
declare
  v_def text := pg_get_functiondef('tokengate.verify_ledger(uuid)'::regprocedure);
  v_old text := $old$  rollup as (
    select u.org_id, u.token_type_id, sum(u.tokens) as tokens, sum(u.events) as events
    from tokengate.usage_daily u
    where p_org_id is null or u.org_id = p_org_id
    group by u.org_id, u.token_type_id
  ),$old$;
begin
  if position(v_old in v_def) = 0 then
    raise exception 'usage_rollup: rollup CTE of verify_ledger not found';
  end if;
  execute replace(v_def, v_old, $new$  rollup as (
    select v.org_id, v.token_type_id, sum(v.tokens) as tokens, sum(v.events) as events
    from (
      select u.org_id, u.token_type_id, u.tokens, u.events::bigint as events
      from tokengate.usage_daily u
      where p_org_id is null or u.org_id = p_org_id
      union all
      select l.org_id, l.token_type_id, l.charged, 1
      from tokengate.ledger l
      left join tokengate.usage_marks m on m.org_id = l.org_id and m.token_type_id = l.token_type_id
      where (p_org_id is null or l.org_id = p_org_id) and l.kind in ('deduct', 'commit') and l.id > coalesce(m.ledger_id, 0)
    ) v
    group by v.org_id, v.token_type_id
  ),$new$);
end
$do$;
