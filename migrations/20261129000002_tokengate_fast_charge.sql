/*
  Tokengate ledger — a faster charge, and the liveness gaps.

  1. No account lock on the hot path. Charges no longer take the account row FOR SHARE (which
     starved set_plan's FOR UPDATE under charge traffic). Every path reads the account's plan AFTER
     it has locked the bucket, and set_plan changes a bucket only under that bucket's lock, so a
     charge sees either the old plan (and happens before the change) or the new one.
  2. deduct in one function body: one lookup for the account, membership and token type, the
     bucket locked first (lazy refresh/expiry only when something is due), the idempotency key
     looked up under that lock and written ONCE, with its response; the answer is built from the
     updated row instead of re-read. Per-member counters are kept only for members with a quota
     (set_member_quota backfills them from the ledger when a quota is set).
  3. A member's hold and its charge count in the period the hold was taken: a hold taken just before
     a refresh can no longer push the member past the new period's quota.
  4. A commit that finds its reservation expired keeps the expiry (the tokens are refunded at once)
     and answers error = reservation_expired instead of raising (which rolled the expiry back).
  5. verify_ledger() also checks one effect per idempotency key.
*/

/* The account, without a lock: paths that change a bucket read the plan after locking it. */
create or replace function tokengate._account(p_org_id uuid)
returns tokengate.accounts
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
begin
  perform tokengate._arg(p_org_id is not null, 'p_org_id', 'required');
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id;
  if not found then
    perform tokengate._raise('unknown_organization', jsonb_build_object('orgId', p_org_id));
  end if;
  return v_account;
end
$$;

/*
  Lock the bucket (creating it on first use), expire its stale reservations, and refresh its
  period if the period has ended. The account is re-read after the lock, so a concurrent set_plan
  is seen whole or not at all. Every change of a bucket starts here (or in deduct's fast path,
  which calls this whenever anything is due).
*/
create or replace function tokengate._touch(p_account tokengate.accounts, p_token_type_id text)
returns tokengate.buckets
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bucket tokengate.buckets;
  v_account tokengate.accounts;
  v_now timestamptz := tokengate.clock();
  v_plan tokengate.plans;
  v_reservation tokengate.reservations;
  v_period record;
  v_allowance int;
begin
  insert into tokengate.buckets (org_id, token_type_id)
  values (p_account.org_id, p_token_type_id)
  on conflict do nothing;
  select * into v_bucket from tokengate.buckets b
  where b.org_id = p_account.org_id and b.token_type_id = p_token_type_id
  for update;
  select * into v_account from tokengate.accounts a where a.org_id = p_account.org_id;

  for v_reservation in
    select * from tokengate.reservations x
    where x.org_id = v_account.org_id and x.token_type_id = p_token_type_id
      and x.status = 'pending' and x.expires_at <= v_now
    order by x.expires_at, x.id
    for update
  loop
    perform tokengate._resolve(v_reservation, 'expire', null, null, '{}');
  end loop;

  select * into v_bucket from tokengate.buckets b
  where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;

  if v_bucket.period_end is null or v_now >= v_bucket.period_end then
    select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
    v_allowance := tokengate._plan_allowance(v_plan, p_token_type_id);
    select * into v_period from tokengate.period_at(v_account.period_anchor, v_now);
    update tokengate.buckets b set
      period_start = v_period.period_start,
      period_end = v_period.period_end,
      used = 0
    where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;
    -- One entry: the unspent allowance of the old period expires, the new one is granted.
    perform tokengate._append(
      v_account.org_id, p_token_type_id, 'refresh',
      -v_bucket.allowance_spent, 0, 0, 0, null, null, null,
      jsonb_build_object(
        'planId', v_plan.id,
        'allowance', v_allowance,
        'expired', v_bucket.allowance_remaining,
        'periodEnd', v_period.period_end),
      v_allowance);
    select * into v_bucket from tokengate.buckets b
    where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;
  end if;
  return v_bucket;
end
$$;

/*
  Usage rollup, and the member's counters when the member has a quota of this type (the only
  reader of those counters; set_member_quota backfills them when a quota is set).
*/
create or replace function tokengate._record_usage(
  p_org_id uuid, p_token_type_id text, p_user_id uuid, p_period_start timestamptz,
  p_charged bigint, p_events int, p_member_held_delta bigint
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_events > 0 or p_charged > 0 then
    insert into tokengate.usage_daily as u (org_id, token_type_id, user_id, day, tokens, events)
    values (p_org_id, p_token_type_id, p_user_id, (tokengate.clock() at time zone 'UTC')::date, p_charged, p_events)
    on conflict (org_id, day, token_type_id, user_id)
    do update set tokens = u.tokens + excluded.tokens, events = u.events + excluded.events;
  end if;
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

/* Recompute a member's counters of a type from the ledger and the pending holds (when a quota is set). */
create function tokengate._backfill_member_usage(p_org_id uuid, p_user_id uuid, p_token_type_id text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bucket tokengate.buckets;
begin
  -- Under the bucket's lock, so a charge is either in the ledger scan below or sees the quota.
  select * into v_bucket from tokengate.buckets b
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id
  for update;
  if not found then
    return; -- never used: nothing to count
  end if;
  delete from tokengate.member_usage m
  where m.org_id = p_org_id and m.user_id = p_user_id and m.token_type_id = p_token_type_id;
  insert into tokengate.member_usage (org_id, user_id, token_type_id, period_start, used, held)
  select p_org_id, p_user_id, p_token_type_id, s.period_start, sum(s.used), sum(s.held)
  from (
    -- Charges count in the period of their hold (commit) or of the charge (deduct).
    select coalesce(x.period_start, l.period_start) as period_start, l.charged as used, 0::bigint as held
    from tokengate.ledger l
    left join tokengate.reservations x on x.id = l.reservation_id
    -- A commit counts for the member who reserved, whoever resolved it.
    where l.org_id = p_org_id and l.token_type_id = p_token_type_id and coalesce(x.user_id, l.user_id) = p_user_id
      and l.kind in ('deduct', 'commit') and l.charged > 0
      and coalesce(x.period_start, l.period_start) = v_bucket.period_start
    union all
    select x.period_start, 0, x.estimate
    from tokengate.reservations x
    where x.org_id = p_org_id and x.token_type_id = p_token_type_id and x.user_id = p_user_id and x.status = 'pending'
  ) s
  group by s.period_start;
end
$$;

/* Cap what one member may spend of a token type per period; a NULL quota removes the cap. */
create or replace function tokengate.set_member_quota(p_org_id uuid, p_actor_id uuid, p_user_id uuid, p_token_type text, p_quota int)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type tokengate.token_types;
  v_had boolean;
begin
  perform tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  perform tokengate._arg(p_quota is null or p_quota between 0 and 1000000000, 'p_quota', 'NULL or 0 to 1000000000');
  if p_quota is null then
    delete from tokengate.member_quotas q
    where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = v_type.id;
    delete from tokengate.member_usage m
    where m.org_id = p_org_id and m.user_id = p_user_id and m.token_type_id = v_type.id;
  else
    v_had := exists (select 1 from tokengate.member_quotas q
      where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = v_type.id);
    insert into tokengate.member_quotas as q (org_id, user_id, token_type_id, monthly_quota)
    values (p_org_id, p_user_id, v_type.id, p_quota)
    on conflict (org_id, user_id, token_type_id) do update set monthly_quota = excluded.monthly_quota;
    if not v_had then
      perform tokengate._backfill_member_usage(p_org_id, p_user_id, v_type.id);
    end if;
  end if;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'tokenType', v_type.id, 'quota', p_quota);
end
$$;

/* _resolve and _late_charge: the member's charge counts in the period its hold was taken (see 3. above). */
do $do$
declare
  v_fn text;
  v_def text;
  v_old text := $old$perform tokengate._record_usage(r.org_id, r.token_type_id, r.user_id, v_bucket.period_start, v_charged, 1, 0);$old$;
begin
  foreach v_fn in array array[
    'tokengate._resolve(tokengate.reservations, text, integer, uuid, jsonb)',
    'tokengate._late_charge(tokengate.reservations, integer, jsonb)']
  loop
    v_def := pg_get_functiondef(v_fn::regprocedure);
    if position(v_old in v_def) = 0 then
      raise exception '%: member charge clause not found', v_fn;
    end if;
    execute replace(v_def, v_old,
      $new$perform tokengate._record_usage(r.org_id, r.token_type_id, r.user_id, r.period_start, v_charged, 1, 0);$new$);
  end loop;
end
$do$;

-- Counters of members without a quota are no longer kept; drop the stale ones.
delete from tokengate.member_usage m
where not exists (
  select 1 from tokengate.member_quotas q
  where q.org_id = m.org_id and q.user_id = m.user_id and q.token_type_id = m.token_type_id);

/*
  Charge p_units uses of a token type (cost from the catalog), atomically and exactly once per
  idempotency key: allowance first, then purchased tokens. Raises plan_blocked,
  member_quota_exceeded or insufficient_tokens and writes nothing when it cannot pay.

  The hot path is three statements: lock the bucket; read (in a snapshot taken after the lock) the
  plan, membership, token type, quota and idempotency key; then one statement that updates the
  bucket, appends the ledger entry, adds to the usage rollup and stores the key with its answer.
  First use of a bucket, an ended period or a lapsed hold take the slow path through _touch.

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
  v_result jsonb;
begin
  -- Arguments, in the order the other functions check them (errors are the cold path).
  if p_idempotency_key is null or p_idempotency_key !~ '^[!-~]{1,255}$' then
    perform tokengate._arg_key(p_idempotency_key);
  end if;
  if p_metadata is null or jsonb_typeof(p_metadata) <> 'object' or (p_metadata <> '{}' and octet_length(p_metadata::text) > 4096) then
    perform tokengate._arg_metadata(p_metadata);
  end if;
  if p_units is null or p_units not between 1 and 1000 then
    perform tokengate._arg(false, 'p_units', '1 to 1000');
  end if;

  -- 1. The bucket, locked. Anything unusual (no bucket yet, unknown org or type, a period that
  --    ended, a hold that may have lapsed) goes through the checks and _touch.
  select * into v_bucket from tokengate.buckets b
  where b.org_id = p_org_id and b.token_type_id = p_token_type
  for update;
  v_found := found;
  -- (Unlimited plans hold nothing, so a pending hold is looked for even when held = 0.)
  if not v_found or v_bucket.period_end is null or v_now >= v_bucket.period_end
     or exists (
       select 1 from tokengate.reservations x
       where x.org_id = p_org_id and x.token_type_id = p_token_type and x.status = 'pending' and x.expires_at <= v_now) then
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
         k.operation as key_operation, k.params as key_params, k.response as key_response
  into v_look
  from tokengate.accounts a
  join tokengate.plans p on p.id = a.plan_id
  left join tokengate.token_types t on t.id = p_token_type and t.active
  left join tokengate.idempotency_keys k on k.org_id = p_org_id and k.key = p_idempotency_key
  where a.org_id = p_org_id;
  if p_user_id is null then
    perform tokengate._arg(false, 'p_user_id', 'required');
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

  -- 3. The charge, in one statement. The key is written once, with its answer; a request that
  --    took this key for another token type (another bucket, not serialised by our lock) and
  --    committed first makes it a conflict, and the whole charge rolls back.
  with b as (
    update tokengate.buckets b set
      allowance_spent = b.allowance_spent + v_from_a,
      allowance_remaining = greatest(b.allowance - (b.allowance_spent + v_from_a), 0),
      purchased_remaining = b.purchased_remaining - v_from_p,
      used = b.used + v_cost,
      updated_at = v_now
    where b.org_id = p_org_id and b.token_type_id = p_token_type
    returning b.*
  ), l as (
    insert into tokengate.ledger (
      org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
      allowance_after, purchased_after, held_after, period_start, user_id, idempotency_key, metadata, created_at
    )
    select p_org_id, p_token_type, 'deduct', -v_from_a, -v_from_p, 0, v_cost,
           b.allowance_remaining, b.purchased_remaining, b.held, b.period_start,
           p_user_id, p_idempotency_key, p_metadata || jsonb_build_object('units', p_units), v_now
    from b
    returning id
  ), u as (
    insert into tokengate.usage_daily as u (org_id, token_type_id, user_id, day, tokens, events)
    values (p_org_id, p_token_type, p_user_id, (v_now at time zone 'UTC')::date, v_cost, 1)
    on conflict (org_id, day, token_type_id, user_id)
    do update set tokens = u.tokens + excluded.tokens, events = u.events + 1
  ), m as (
    insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
    select p_org_id, p_user_id, p_token_type, b.period_start, v_cost, 0 from b where v_look.quota is not null
    on conflict (org_id, user_id, token_type_id, period_start) do update set used = m.used + excluded.used
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
        'refreshesAt', b.period_end)) as response
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
  return v_result || jsonb_build_object('replayed', false);
end
$$;

-- The ledger is written only by these functions, under the bucket lock: the foreign keys' checks
-- (an extra query and a KEY SHARE lock per entry) and an index on token_type_id alone (a hot page
-- shared by every organization's charges of one type) cost more than they protect.
alter table tokengate.ledger drop constraint ledger_org_id_token_type_id_fkey;
alter table tokengate.ledger drop constraint ledger_reservation_id_fkey;
drop index tokengate.ledger_token_type_id_idx;

/*
  Charge the actual usage of a reservation and refund the rest. Above the estimate, the excess is
  charged from what is available and any remainder is recorded as uncharged (never a negative
  balance). Committing twice with the same actual replays the first result. A reservation found
  expired stays expired (refunded at once, durably) and the answer is
  { error: 'reservation_expired', reservationId, expiresAt } — the gate turns it into the error.
*/
create or replace function tokengate.commit(p_org_id uuid, p_user_id uuid, p_reservation_id uuid, p_actual int, p_metadata jsonb default '{}')
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r tokengate.reservations;
  v_result jsonb;
begin
  perform tokengate._arg(p_actual between 0 and 1000000, 'p_actual', '0 to 1000000');
  perform tokengate._arg_metadata(p_metadata);
  r := tokengate._reservation_for(p_org_id, p_user_id, p_reservation_id);
  if r.status = 'pending' then
    v_result := tokengate._resolve(r, 'commit', p_actual, p_user_id, p_metadata) || jsonb_build_object('replayed', false);
  elsif r.status = 'committed' and r.actual = p_actual then
    v_result := r.result || jsonb_build_object('replayed', true);
  elsif r.status = 'expired' then
    -- Not raised: raising would roll back the expiry _reservation_for just performed.
    return jsonb_build_object('error', 'reservation_expired', 'reservationId', r.id, 'expiresAt', r.expires_at);
  else
    perform tokengate._raise('reservation_not_pending', jsonb_build_object('reservationId', r.id, 'status', r.status));
  end if;
  return v_result || jsonb_build_object('balance', tokengate._bucket_json(p_org_id, r.token_type_id));
end
$$;

/* Sweep: as before, without share-locking accounts. */
create or replace function tokengate.expire_reservations(p_limit int default 1000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row record;
  v_account tokengate.accounts;
  v_stale int;
  v_count int := 0;
  v_buckets int := 0;
begin
  perform tokengate._arg(p_limit between 1 and 100000, 'p_limit', '1 to 100000');
  for v_row in
    select distinct x.org_id, x.token_type_id from tokengate.reservations x
    where x.status = 'pending' and x.expires_at <= tokengate.clock()
    order by x.org_id, x.token_type_id
    limit p_limit
  loop
    select * into v_account from tokengate.accounts a where a.org_id = v_row.org_id;
    -- Count under the bucket lock, so a commit that won the race is not counted.
    perform 1 from tokengate.buckets b
    where b.org_id = v_row.org_id and b.token_type_id = v_row.token_type_id for update;
    select count(*) into v_stale from tokengate.reservations x
    where x.org_id = v_row.org_id and x.token_type_id = v_row.token_type_id
      and x.status = 'pending' and x.expires_at <= tokengate.clock();
    perform tokengate._touch(v_account, v_row.token_type_id);
    v_count := v_count + v_stale;
    v_buckets := v_buckets + 1;
  end loop;
  return jsonb_build_object('expired', v_count, 'buckets', v_buckets);
end
$$;

/*
  Move an organization to another plan, effective now. Each bucket — every active token type and
  every bucket the organization has, locked in token-type order — is settled under the old plan and
  re-granted under the new one; a bucket never used gets its first period under the new plan. The
  plan itself changes after the loop. Charges do not lock the
  account, so this never waits behind charge traffic longer than one bucket's charge.
*/
create or replace function tokengate.set_plan(p_org_id uuid, p_actor_id uuid, p_plan_id text)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type text;
  v_bucket tokengate.buckets;
  v_allowance int;
begin
  perform tokengate._arg(p_org_id is not null, 'p_org_id', 'required');
  v_plan := tokengate._plan(p_plan_id);
  -- Serialises plan changes of one organization (charges never take this lock).
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id for no key update;
  if not found then
    perform tokengate._raise('unknown_organization', jsonb_build_object('orgId', p_org_id));
  end if;
  perform tokengate._require_admin(p_org_id, p_actor_id);

  if v_account.plan_id <> v_plan.id then
    -- One pass in token-type order (the order every multi-bucket path locks in).
    for v_type in
      select t.id from tokengate.token_types t where t.active
      union
      select b.token_type_id from tokengate.buckets b where b.org_id = p_org_id
      order by 1
    loop
      insert into tokengate.buckets (org_id, token_type_id) values (p_org_id, v_type) on conflict do nothing;
      select * into v_bucket from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = v_type for update;
      if v_bucket.period_start is null then
        continue; -- never used: _balances below gives it its first period under the new plan
      end if;
      v_bucket := tokengate._touch(v_account, v_type);
      v_allowance := tokengate._plan_allowance(v_plan, v_type);
      -- What was spent this period stays spent: remaining = max(0, new allowance - spent).
      if v_allowance <> v_bucket.allowance then
        perform tokengate._append(p_org_id, v_type, 'adjust', 0, 0, 0, 0,
          p_actor_id, null, null,
          jsonb_build_object('reason', 'plan_change', 'fromPlan', v_account.plan_id, 'toPlan', v_plan.id, 'allowance', v_allowance),
          v_allowance);
      end if;
    end loop;
    update tokengate.accounts a set plan_id = v_plan.id, updated_at = tokengate.clock() where a.org_id = p_org_id;
  end if;
  return tokengate._balances(p_org_id);
end
$$;

/*
  Reconciliation, plus one effect per idempotency key: a key charges (deduct), grants or adjusts
  once, a member reservation is taken once per key, and a reservation is committed or late-charged
  once. A double charge under a reused key no longer reconciles.
*/
do $do$
declare
  v_def text := pg_get_functiondef('tokengate.verify_ledger(uuid)'::regprocedure);
  v_old text := $old$  select coalesce(jsonb_agg(problem), '[]') from problems$old$;
begin
  if position(v_old in v_def) = 0 then
    raise exception 'verify_ledger: final select not found';
  end if;
  v_def := replace(v_def, v_old, $new$  , keyed as (
    select jsonb_build_object('check', 'one_effect_per_idempotency_key', 'orgId', l.org_id, 'tokenType', l.token_type_id,
             'idempotencyKey', l.idempotency_key, 'kind', l.kind, 'entries', count(*)) as problem
    from tokengate.ledger l
    where (p_org_id is null or l.org_id = p_org_id) and l.idempotency_key is not null and l.reservation_id is null
      and l.kind in ('deduct', 'grant', 'adjust')
    group by l.org_id, l.token_type_id, l.idempotency_key, l.kind
    having count(*) > 1
    union all
    select jsonb_build_object('check', 'one_effect_per_idempotency_key', 'orgId', x.org_id, 'tokenType', x.token_type_id,
             'idempotencyKey', x.idempotency_key, 'kind', 'reserve', 'entries', count(*))
    from tokengate.reservations x
    where (p_org_id is null or x.org_id = p_org_id) and x.holder = 'member'
    group by x.org_id, x.token_type_id, x.idempotency_key
    having count(*) > 1
    union all
    select jsonb_build_object('check', 'one_charge_per_reservation', 'orgId', l.org_id, 'tokenType', l.token_type_id,
             'reservationId', l.reservation_id, 'entries', count(*))
    from tokengate.ledger l
    where (p_org_id is null or l.org_id = p_org_id) and l.reservation_id is not null and l.kind in ('commit', 'deduct')
    group by l.org_id, l.token_type_id, l.reservation_id
    having count(*) > 1
  )
  select coalesce(jsonb_agg(problem), '[]') from (select problem from problems union all select problem from keyed) all_problems$new$);
  execute v_def;
end
$do$;

/*
  One lock order for keyed calls: the bucket first, then the idempotency key (as deduct does).
  reserve, grant_tokens and adjust claimed the key first; a client that sent one key to deduct and
  to one of them at the same moment could then deadlock instead of getting idempotency_conflict.
*/
do $do$
declare
  v_fn text;
  v_def text;
  v_claim text;
  v_touch text;
begin
  foreach v_fn in array array[
    'tokengate.reserve(uuid, uuid, text, text, integer, integer, jsonb)',
    'tokengate.grant_tokens(uuid, uuid, text, integer, text, jsonb)',
    'tokengate.adjust(uuid, uuid, text, integer, text, text, jsonb)']
  loop
    v_def := pg_get_functiondef(v_fn::regprocedure);
    v_claim := substring(v_def from '  v_replay := tokengate._claim\(');
    v_touch := substring(v_def from '\n  (?:v_bucket := |perform )tokengate._touch\(v_account, v_type.id\);\n');
    if v_claim is null or v_touch is null then
      raise exception '%: claim or touch not found', v_fn;
    end if;
    -- Take the touch out of its place after the claim, and put it before the claim.
    v_def := replace(v_def, v_touch, E'\n');
    v_def := replace(v_def, v_claim, trim(both E'\n' from v_touch) || E'\n' || v_claim);
    execute v_def;
  end loop;
end
$do$;

/* Pins, like every function (the airtight migration did the ones before this one). */
alter function tokengate._backfill_member_usage(uuid, uuid, text) set search_path = pg_catalog, pg_temp;
revoke execute on function tokengate._backfill_member_usage(uuid, uuid, text) from public, anon, authenticated, service_role;
