/*
  Tokengate ledger — the API.

  Every function here is SECURITY DEFINER with an empty search_path, executable only by the
  server role (service_role), and takes the user id the server verified. Each call is one
  transaction and one round trip. Results are camelCase JSON, the shape the HTTP API returns.
  Errors are raised with a TG* SQLSTATE, the stable name as the message and JSON facts in DETAIL
  (see tokengate.error_codes); a failed call writes nothing.
*/

/* ───────────────────────────── organizations and members ───────────────────────────── */

/*
  Register an organization on a plan, with its first owner. Idempotent: an existing account is
  returned unchanged (created = false). The period anchor (subscription date) defaults to now.

  select tokengate.create_account('…org uuid…', 'pro', '…owner uuid…');
*/
create function tokengate.create_account(p_org_id uuid, p_plan_id text, p_owner_id uuid, p_period_anchor timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_plan tokengate.plans;
begin
  perform tokengate._arg(p_org_id is not null, 'p_org_id', 'required');
  perform tokengate._arg(p_owner_id is not null, 'p_owner_id', 'required');
  v_plan := tokengate._plan(p_plan_id);
  insert into tokengate.accounts (org_id, plan_id, period_anchor)
  values (p_org_id, v_plan.id, coalesce(p_period_anchor, tokengate.clock()))
  on conflict do nothing;
  if not found then
    return jsonb_build_object('orgId', p_org_id, 'created', false,
      'planId', (select a.plan_id from tokengate.accounts a where a.org_id = p_org_id));
  end if;
  insert into tokengate.members (org_id, user_id, role) values (p_org_id, p_owner_id, 'owner');
  return jsonb_build_object('orgId', p_org_id, 'created', true, 'planId', v_plan.id);
end
$$;

/* Add a member or change their role (owner, admin, member). Actor: owner/admin, or NULL for the server. */
create function tokengate.add_member(p_org_id uuid, p_actor_id uuid, p_user_id uuid, p_role text default 'member')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  perform tokengate._arg(p_user_id is not null, 'p_user_id', 'required');
  perform tokengate._arg(p_role in ('owner', 'admin', 'member'), 'p_role', 'owner, admin or member');
  insert into tokengate.members as m (org_id, user_id, role) values (p_org_id, p_user_id, p_role)
  on conflict (org_id, user_id) do update set role = excluded.role;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'role', p_role);
end
$$;

/* Remove a member (and their quotas). Their history stays in the ledger. */
create function tokengate.remove_member(p_org_id uuid, p_actor_id uuid, p_user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  delete from tokengate.members m where m.org_id = p_org_id and m.user_id = p_user_id;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'removed', true);
end
$$;

/* Cap what one member may spend of a token type per period; a NULL quota removes the cap. */
create function tokengate.set_member_quota(p_org_id uuid, p_actor_id uuid, p_user_id uuid, p_token_type text, p_quota int)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_type tokengate.token_types;
begin
  perform tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  perform tokengate._arg(p_quota is null or p_quota between 0 and 1000000000, 'p_quota', 'NULL or 0 to 1000000000');
  if p_quota is null then
    delete from tokengate.member_quotas q
    where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = v_type.id;
  else
    insert into tokengate.member_quotas as q (org_id, user_id, token_type_id, monthly_quota)
    values (p_org_id, p_user_id, v_type.id, p_quota)
    on conflict (org_id, user_id, token_type_id) do update set monthly_quota = excluded.monthly_quota;
  end if;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'tokenType', v_type.id, 'quota', p_quota);
end
$$;


/* ───────────────────────────── balances ───────────────────────────── */

/* Touch every active token type of the account (provisioning buckets on first use) and return them. */
create function tokengate._balances(p_org_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type text;
  v_items jsonb;
begin
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id;
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  for v_type in select t.id from tokengate.token_types t where t.active order by t.id loop
    perform tokengate._touch(v_account, v_type);
  end loop;
  select jsonb_agg(tokengate._bucket_json(p_org_id, t.id) order by t.sort_order, t.id) into v_items
  from tokengate.token_types t where t.active;
  return jsonb_build_object(
    'orgId', p_org_id,
    'plan', jsonb_build_object('id', v_plan.id, 'name', v_plan.name, 'access', v_plan.access),
    'periodAnchor', v_account.period_anchor,
    'tokenTypes', coalesce(v_items, '[]'));
end
$$;

/*
  Balances of every active token type for a member's organization, refreshed if a period ended,
  with the member's own quotas.

  select tokengate.balances(:org, :user);
*/
create function tokengate.balances(p_org_id uuid, p_user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_role text;
  v_result jsonb;
  v_quotas jsonb;
begin
  perform tokengate._account(p_org_id);
  v_role := tokengate._require_member(p_org_id, p_user_id);
  v_result := tokengate._balances(p_org_id);
  select jsonb_agg(jsonb_build_object(
      'tokenType', q.token_type_id,
      'quota', q.monthly_quota,
      'spent', coalesce((
        select m.used + m.held from tokengate.member_usage m
        join tokengate.buckets b on b.org_id = m.org_id and b.token_type_id = m.token_type_id
        where m.org_id = q.org_id and m.user_id = q.user_id and m.token_type_id = q.token_type_id
          and m.period_start = b.period_start), 0))
    order by q.token_type_id) into v_quotas
  from tokengate.member_quotas q where q.org_id = p_org_id and q.user_id = p_user_id;
  return v_result || jsonb_build_object('member', jsonb_build_object(
    'userId', p_user_id, 'role', v_role, 'quotas', coalesce(v_quotas, '[]')));
end
$$;

/*
  May the member spend p_amount tokens (default: one use) of a type now? Never raises for a
  denial: returns allowed = false with the reason (plan_blocked, member_quota_exceeded,
  insufficient_tokens). Advisory only: deduct and reserve decide again, atomically.
*/
create function tokengate."check"(p_org_id uuid, p_user_id uuid, p_token_type text, p_amount int default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_amount int;
  v_denial jsonb;
begin
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  perform tokengate._arg(p_amount is null or p_amount between 1 and 1000000, 'p_amount', 'NULL or 1 to 1000000');
  v_amount := coalesce(p_amount, v_type.cost);
  v_bucket := tokengate._touch(v_account, v_type.id);
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  v_denial := tokengate._denial(v_bucket, v_plan, p_user_id, v_amount);
  return jsonb_build_object(
    'allowed', v_denial is null,
    'reason', v_denial ->> 'reason',
    'tokenType', v_type.id,
    'cost', v_type.cost,
    'required', v_amount,
    'balance', tokengate._bucket_json(p_org_id, v_type.id));
end
$$;

/* ───────────────────────────── charging ───────────────────────────── */

/*
  Charge p_units uses of a token type (cost from the catalog), atomically and exactly once per
  idempotency key: allowance first, then purchased tokens. Raises plan_blocked,
  member_quota_exceeded or insufficient_tokens and writes nothing when it cannot pay.

  select tokengate.deduct(:org, :user, 'quest_generation', 'req-7f3a');
*/
create function tokengate.deduct(
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
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_cost int;
  v_from_allowance int := 0;
  v_denial jsonb;
  v_replay jsonb;
  v_ledger_id bigint;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_units between 1 and 1000, 'p_units', '1 to 1000');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  v_cost := v_type.cost * p_units;

  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'deduct', jsonb_build_object(
    'tokenType', v_type.id, 'userId', p_user_id, 'units', p_units, 'metadata', p_metadata));
  if v_replay is not null then
    return v_replay;
  end if;

  v_bucket := tokengate._touch(v_account, v_type.id);
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  v_denial := tokengate._denial(v_bucket, v_plan, p_user_id, v_cost);
  if v_denial is not null then
    perform tokengate._raise(v_denial ->> 'reason', v_denial);
  end if;

  if v_plan.access <> 'unlimited' then
    v_from_allowance := least(v_cost, v_bucket.allowance_remaining);
  end if;
  v_ledger_id := tokengate._append(
    p_org_id, v_type.id, 'deduct',
    v_from_allowance,
    case when v_plan.access = 'unlimited' then 0 else -(v_cost - v_from_allowance) end,
    0, v_cost, p_user_id, null, p_idempotency_key, p_metadata || jsonb_build_object('units', p_units));
  perform tokengate._record_usage(p_org_id, v_type.id, p_user_id, v_bucket.period_start, v_cost, 1, 0);

  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'ledgerId', v_ledger_id,
    'tokenType', v_type.id,
    'charged', v_cost,
    'fromAllowance', v_from_allowance,
    'fromPurchased', case when v_plan.access = 'unlimited' then 0 else v_cost - v_from_allowance end,
    'balance', tokengate._bucket_json(p_org_id, v_type.id)));
end
$$;

/*
  Hold p_estimate tokens (default: one use) for AI work that reports its real usage later.
  Resolve with commit(actual) or release; unresolved, it expires after p_ttl_seconds and is
  refunded. Exactly once per idempotency key; a replay reports the reservation's current status.
*/
create function tokengate.reserve(
  p_org_id uuid,
  p_user_id uuid,
  p_token_type text,
  p_idempotency_key text,
  p_estimate int default null,
  p_ttl_seconds int default 300,
  p_metadata jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_estimate int;
  v_held_a int := 0;
  v_held_p int := 0;
  v_denial jsonb;
  v_replay jsonb;
  v_id uuid;
  v_expires timestamptz;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_estimate is null or p_estimate between 1 and 1000000, 'p_estimate', 'NULL or 1 to 1000000');
  perform tokengate._arg(p_ttl_seconds between 1 and 86400, 'p_ttl_seconds', '1 to 86400');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  v_estimate := coalesce(p_estimate, v_type.cost);

  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'reserve', jsonb_build_object(
    'tokenType', v_type.id, 'userId', p_user_id, 'estimate', v_estimate,
    'ttlSeconds', p_ttl_seconds, 'metadata', p_metadata));
  if v_replay is not null then
    -- A retry must know whether the first attempt is still pending, or was committed or refunded;
    -- touching the bucket first expires a stale hold, so "pending" is never a stale answer.
    perform tokengate._touch(v_account, v_type.id);
    return v_replay || jsonb_build_object('status', (
      select x.status from tokengate.reservations x where x.id = (v_replay ->> 'reservationId')::uuid));
  end if;

  v_bucket := tokengate._touch(v_account, v_type.id);
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  v_denial := tokengate._denial(v_bucket, v_plan, p_user_id, v_estimate);
  if v_denial is not null then
    perform tokengate._raise(v_denial ->> 'reason', v_denial);
  end if;

  if v_plan.access <> 'unlimited' then
    v_held_a := least(v_estimate, v_bucket.allowance_remaining);
    v_held_p := v_estimate - v_held_a;
  end if;
  v_expires := tokengate.clock() + make_interval(secs => p_ttl_seconds);
  insert into tokengate.reservations (
    org_id, token_type_id, user_id, estimate, held_allowance, held_purchased, period_start,
    expires_at, idempotency_key, metadata, created_at
  ) values (
    p_org_id, v_type.id, p_user_id, v_estimate, v_held_a, v_held_p, v_bucket.period_start,
    v_expires, p_idempotency_key, p_metadata, tokengate.clock()
  ) returning id into v_id;
  perform tokengate._append(
    p_org_id, v_type.id, 'reserve', v_held_a, -v_held_p, v_held_a + v_held_p, 0,
    p_user_id, v_id, p_idempotency_key, p_metadata || jsonb_build_object('estimate', v_estimate));
  perform tokengate._record_usage(p_org_id, v_type.id, p_user_id, v_bucket.period_start, 0, 0, v_estimate);

  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'reservationId', v_id,
    'status', 'pending',
    'tokenType', v_type.id,
    'estimate', v_estimate,
    'held', v_held_a + v_held_p,
    'expiresAt', v_expires,
    'balance', tokengate._bucket_json(p_org_id, v_type.id)));
end
$$;

/*
  Lock a member's reservation for resolution (after locking its bucket, expiring it if stale).
  Only the member who reserved, or an owner/admin, may resolve it; to anyone else it does not exist.
*/
create function tokengate._reservation_for(p_org_id uuid, p_user_id uuid, p_reservation_id uuid)
returns tokengate.reservations
language plpgsql
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_role text;
  r tokengate.reservations;
begin
  perform tokengate._arg(p_reservation_id is not null, 'p_reservation_id', 'required');
  v_account := tokengate._account(p_org_id);
  v_role := tokengate._require_member(p_org_id, p_user_id);
  select * into r from tokengate.reservations x where x.id = p_reservation_id and x.org_id = p_org_id;
  if not found or (r.user_id <> p_user_id and v_role not in ('owner', 'admin')) then
    perform tokengate._raise('reservation_not_found', jsonb_build_object('reservationId', p_reservation_id));
  end if;
  perform tokengate._touch(v_account, r.token_type_id);
  select * into r from tokengate.reservations x where x.id = p_reservation_id for update;
  return r;
end
$$;

/*
  Charge the actual usage of a reservation and refund the rest of the estimate. Above the
  estimate, the excess is charged from what is available and any remainder is recorded as
  uncharged (never a negative balance). Committing twice with the same actual replays the first
  result; a stale reservation raises reservation_expired and charges nothing.
*/
create function tokengate.commit(p_org_id uuid, p_user_id uuid, p_reservation_id uuid, p_actual int, p_metadata jsonb default '{}')
returns jsonb
language plpgsql
security definer
set search_path = ''
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
    perform tokengate._raise('reservation_expired', jsonb_build_object('reservationId', r.id, 'expiresAt', r.expires_at));
  else
    perform tokengate._raise('reservation_not_pending', jsonb_build_object('reservationId', r.id, 'status', r.status));
  end if;
  return v_result || jsonb_build_object('balance', tokengate._bucket_json(p_org_id, r.token_type_id));
end
$$;

/*
  Refund a reservation in full (the AI work failed or was cancelled). Idempotent: releasing a
  released or expired reservation returns its result; a committed one raises reservation_not_pending.
*/
create function tokengate.release(p_org_id uuid, p_user_id uuid, p_reservation_id uuid, p_metadata jsonb default '{}')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  r tokengate.reservations;
  v_result jsonb;
begin
  perform tokengate._arg_metadata(p_metadata);
  r := tokengate._reservation_for(p_org_id, p_user_id, p_reservation_id);
  if r.status = 'pending' then
    v_result := tokengate._resolve(r, 'release', null, p_user_id, p_metadata) || jsonb_build_object('replayed', false);
  elsif r.status in ('released', 'expired') then
    v_result := r.result || jsonb_build_object('replayed', true);
  else
    perform tokengate._raise('reservation_not_pending', jsonb_build_object('reservationId', r.id, 'status', r.status));
  end if;
  return v_result || jsonb_build_object('balance', tokengate._bucket_json(p_org_id, r.token_type_id));
end
$$;

/*
  Sweep: expire and refund stale reservations in up to p_limit buckets. Safe to run concurrently
  with everything (pg_cron, or the server on a timer); each reservation resolves exactly once.

  select cron.schedule('tokengate-expire', '* * * * *', 'select tokengate.expire_reservations()');
*/
create function tokengate.expire_reservations(p_limit int default 1000)
returns jsonb
language plpgsql
security definer
set search_path = ''
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
    select * into v_account from tokengate.accounts a where a.org_id = v_row.org_id for share;
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

/* ───────────────────────────── administration ───────────────────────────── */

/*
  Add purchased (top-up) tokens: they survive refreshes and are spent after the period's
  allowance. Exactly once per idempotency key (use the payment's id).
*/
create function tokengate.grant_tokens(
  p_org_id uuid,
  p_actor_id uuid,
  p_token_type text,
  p_amount int,
  p_idempotency_key text,
  p_metadata jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_type tokengate.token_types;
  v_replay jsonb;
  v_ledger_id bigint;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_amount between 1 and 1000000000, 'p_amount', '1 to 1000000000');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  v_type := tokengate._token_type(p_token_type);
  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'grant', jsonb_build_object(
    'tokenType', v_type.id, 'actorId', p_actor_id, 'amount', p_amount, 'metadata', p_metadata));
  if v_replay is not null then
    return v_replay;
  end if;
  perform tokengate._touch(v_account, v_type.id);
  v_ledger_id := tokengate._append(p_org_id, v_type.id, 'grant', 0, p_amount, 0, 0, p_actor_id, null,
    p_idempotency_key, p_metadata);
  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'ledgerId', v_ledger_id,
    'tokenType', v_type.id,
    'granted', p_amount,
    'balance', tokengate._bucket_json(p_org_id, v_type.id)));
end
$$;

/*
  Manual correction with a reason. A credit adds purchased tokens; a debit takes from the
  allowance first, then purchased tokens, and raises insufficient_tokens rather than go negative.
*/
create function tokengate.adjust(
  p_org_id uuid,
  p_actor_id uuid,
  p_token_type text,
  p_amount int,
  p_reason text,
  p_idempotency_key text,
  p_metadata jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_replay jsonb;
  v_from_allowance bigint := 0;
  v_from_purchased bigint := 0;
  v_ledger_id bigint;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_amount between -1000000000 and 1000000000 and p_amount <> 0, 'p_amount', 'non-zero, -1000000000 to 1000000000');
  perform tokengate._arg(length(p_reason) between 1 and 500, 'p_reason', '1 to 500 characters');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_admin(p_org_id, p_actor_id);
  v_type := tokengate._token_type(p_token_type);
  v_replay := tokengate._claim(p_org_id, p_idempotency_key, 'adjust', jsonb_build_object(
    'tokenType', v_type.id, 'actorId', p_actor_id, 'amount', p_amount, 'reason', p_reason, 'metadata', p_metadata));
  if v_replay is not null then
    return v_replay;
  end if;
  v_bucket := tokengate._touch(v_account, v_type.id);
  if p_amount > 0 then
    v_from_purchased := -p_amount;
  else
    if v_bucket.allowance_remaining + v_bucket.purchased_remaining < -p_amount then
      perform tokengate._raise('insufficient_tokens', jsonb_build_object('tokenType', v_type.id,
        'available', v_bucket.allowance_remaining + v_bucket.purchased_remaining, 'required', -p_amount));
    end if;
    v_from_allowance := least(-p_amount, v_bucket.allowance_remaining);
    v_from_purchased := -p_amount - v_from_allowance;
  end if;
  v_ledger_id := tokengate._append(p_org_id, v_type.id, 'adjust', v_from_allowance, -v_from_purchased, 0, 0,
    p_actor_id, null, p_idempotency_key, p_metadata || jsonb_build_object('reason', p_reason));
  return tokengate._remember(p_org_id, p_idempotency_key, jsonb_build_object(
    'ledgerId', v_ledger_id,
    'tokenType', v_type.id,
    'amount', p_amount,
    'balance', tokengate._bucket_json(p_org_id, v_type.id)));
end
$$;

/*
  Move an organization to another plan, effective now. This period's allowance becomes the new
  plan's minus what was already consumed from allowance this period (never below 0); purchased
  tokens, holds and the period anchor are kept. One `adjust` entry per bucket that changed.
*/
create function tokengate.set_plan(p_org_id uuid, p_actor_id uuid, p_plan_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
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
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id for update;
  if not found then
    perform tokengate._raise('unknown_organization', jsonb_build_object('orgId', p_org_id));
  end if;
  perform tokengate._require_admin(p_org_id, p_actor_id);

  if v_account.plan_id <> v_plan.id then
    for v_type in select b.token_type_id from tokengate.buckets b where b.org_id = p_org_id order by b.token_type_id loop
      -- Settle the bucket under the old plan (expire, refresh), then re-grant under the new one.
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

/* ───────────────────────────── stats ───────────────────────────── */

/*
  Usage from the daily rollup for [p_from, p_to] (UTC days, at most 366), by type, day and member,
  and a runway forecast per token type: at the average daily burn of the last 7 days, the day the
  available tokens run out (null when unlimited, blocked or idle) and whether that comes before
  the refresh.
*/
create function tokengate.stats(p_org_id uuid, p_user_id uuid, p_from date, p_to date)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_today date := (tokengate.clock() at time zone 'UTC')::date;
  v_balances jsonb;
begin
  perform tokengate._arg(p_from is not null, 'p_from', 'required');
  perform tokengate._arg(p_to >= p_from and p_to - p_from <= 366, 'p_to', 'on or after p_from, at most 366 days later');
  perform tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_balances := tokengate._balances(p_org_id);

  return jsonb_build_object(
    'orgId', p_org_id,
    'from', p_from,
    'to', p_to,
    'totals', (
      select jsonb_build_object('tokens', coalesce(sum(u.tokens), 0), 'events', coalesce(sum(u.events), 0))
      from tokengate.usage_daily u where u.org_id = p_org_id and u.day between p_from and p_to),
    'byType', coalesce((
      select jsonb_agg(jsonb_build_object('tokenType', s.token_type_id, 'tokens', s.tokens, 'events', s.events) order by s.token_type_id)
      from (select u.token_type_id, sum(u.tokens) as tokens, sum(u.events) as events
            from tokengate.usage_daily u where u.org_id = p_org_id and u.day between p_from and p_to
            group by u.token_type_id) s), '[]'),
    'byDay', coalesce((
      select jsonb_agg(jsonb_build_object('day', s.day, 'tokenType', s.token_type_id, 'tokens', s.tokens, 'events', s.events) order by s.day, s.token_type_id)
      from (select u.day, u.token_type_id, sum(u.tokens) as tokens, sum(u.events) as events
            from tokengate.usage_daily u where u.org_id = p_org_id and u.day between p_from and p_to
            group by u.day, u.token_type_id) s), '[]'),
    'byMember', coalesce((
      select jsonb_agg(jsonb_build_object('userId', s.user_id, 'tokens', s.tokens, 'events', s.events) order by s.tokens desc, s.user_id)
      from (select u.user_id, sum(u.tokens) as tokens, sum(u.events) as events
            from tokengate.usage_daily u where u.org_id = p_org_id and u.day between p_from and p_to
            group by u.user_id) s), '[]'),
    'forecast', coalesce((
      select jsonb_agg(jsonb_build_object(
          'tokenType', f.token_type,
          'available', f.available,
          'burnPerDay', round(f.week_tokens / 7.0, 2),
          'runsOutOn', f.runs_out_on,
          'refreshesOn', f.refreshes_on,
          'runsOutBeforeRefresh', f.runs_out_on is not null and f.runs_out_on < f.refreshes_on)
        order by f.ord)
      from (
        select e.ord, e.item ->> 'tokenType' as token_type,
               (e.item ->> 'available')::bigint as available,
               w.week_tokens,
               ((e.item ->> 'refreshesAt')::timestamptz at time zone 'UTC')::date as refreshes_on,
               case
                 when (e.item ->> 'unlimited')::boolean or (e.item ->> 'blocked')::boolean then null
                 when (e.item ->> 'available')::bigint = 0 then v_today
                 when w.week_tokens = 0 then null
                 -- available / (week_tokens / 7), in exact integer arithmetic
                 else v_today + ceil((e.item ->> 'available')::bigint * 7.0 / w.week_tokens)::int
               end as runs_out_on
        from jsonb_array_elements(v_balances -> 'tokenTypes') with ordinality as e(item, ord)
        cross join lateral (
          select coalesce(sum(u.tokens), 0) as week_tokens from tokengate.usage_daily u
          where u.org_id = p_org_id and u.token_type_id = e.item ->> 'tokenType'
            and u.day between v_today - 6 and v_today) w
      ) f), '[]'));
end
$$;
