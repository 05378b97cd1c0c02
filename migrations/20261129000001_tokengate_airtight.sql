/*
  Tokengate ledger — the airtight lock.

  1. Guarded runs. tokengate.guard_begin / guard_commit / guard_release are what `guard()` calls
     around an app's own AI route. Their idempotency records (tokengate.guard_requests) give
     exactly-once WORK, not only an exactly-once charge: a key whose run completed never runs
     again (the stored answer is replayed, or the server answers 409), a key whose run is in
     flight answers 409 until its hold lapses, and work delivered after its hold expired is still
     charged (a late charge, capped at what is available, the shortfall recorded as uncharged).
     The holds they take are marked holder = 'guard': the member API (commit, release) cannot
     resolve them.
  2. Owners. Only an owner may make or unmake an owner; an organization always keeps one.
  3. search_path = pg_catalog, pg_temp on every function. With '' Postgres still looks up
     unqualified TYPE names in the caller's temp schema first, so a temp domain named uuid or jsonb
     would run the caller's code as the function's owner. Naming pg_temp last closes that.
  4. The RLS helper my_org_ids() moves to tokengate_private, a schema the API never exposes
     (Supabase lint 0029: an authenticated-executable SECURITY DEFINER function in an exposed schema).
  5. stats: the runway forecast no longer overflows for huge balances with little usage.
*/

insert into tokengate.error_codes (name, sqlstate, http_status, title) values
  ('owner_required', 'TGA07', 403, 'Only an owner may make, change or remove an owner.'),
  ('last_owner',     'TGA08', 409, 'An organization must keep at least one owner.');

/* ───────────────────────────── guarded runs ───────────────────────────── */

alter table tokengate.reservations
  add column holder text not null default 'member' check (holder in ('member', 'guard'));
comment on column tokengate.reservations.holder is
  'Who may resolve the hold: member (the reservations API) or guard (only the server''s guard_* functions).';

create table tokengate.guard_requests (
  org_id         uuid not null references tokengate.accounts (org_id) on delete restrict,
  key            text not null check (length(key) between 1 and 255),
  user_id        uuid not null,
  token_type_id  text not null,
  -- The request's identity: a retry with other parameters is an idempotency_conflict.
  params         jsonb not null,
  -- running: the current attempt's hold is pending (or lapsed); completed: charged, never re-run;
  -- failed: the attempt was refunded (the handler failed), a retry may run again.
  state          text not null check (state in ('running', 'completed', 'failed')),
  reservation_id uuid references tokengate.reservations (id),
  attempts       int not null default 0 check (attempts >= 0),
  -- The charged answer, when the route stores it for replay: { status, headers, body (base64) }.
  response       jsonb,
  created_at     timestamptz not null,
  updated_at     timestamptz not null,
  primary key (org_id, key)
);
create index guard_requests_reservation_id_idx on tokengate.guard_requests (reservation_id);
alter table tokengate.guard_requests enable row level security;
-- RLS on and no policy: stored answers are the server's, not for clients.
revoke all on tokengate.guard_requests from public, anon, authenticated, service_role;
grant select on tokengate.guard_requests to service_role;
comment on table tokengate.guard_requests is
  'Idempotency records of guarded AI runs: which attempt holds tokens, whether the work completed, and its stored answer. One run is charged per completed key.';

/* Member API: guard holds do not exist for it (same answer as someone else's reservation). */
create or replace function tokengate._reservation_for(p_org_id uuid, p_user_id uuid, p_reservation_id uuid)
returns tokengate.reservations
language plpgsql
set search_path = pg_catalog, pg_temp
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
  if not found or r.holder <> 'member' or (r.user_id <> p_user_id and v_role not in ('owner', 'admin')) then
    perform tokengate._raise('reservation_not_found', jsonb_build_object('reservationId', p_reservation_id));
  end if;
  perform tokengate._touch(v_account, r.token_type_id);
  select * into r from tokengate.reservations x where x.id = p_reservation_id for update;
  return r;
end
$$;

/*
  Charge delivered work whose hold already expired (and was refunded): the actual usage, from what
  is available now (allowance first, then purchased), never below zero; the shortfall is recorded
  as uncharged. Once per reservation (its result is then marked late). The bucket is locked.
*/
create function tokengate._late_charge(p_reservation tokengate.reservations, p_actual int, p_metadata jsonb)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  r tokengate.reservations := p_reservation;
  v_bucket tokengate.buckets;
  v_unlimited boolean;
  v_from_a bigint := 0;
  v_from_p bigint := 0;
  v_charged bigint;
  v_uncharged bigint := 0;
  v_ledger_id bigint;
  v_result jsonb;
begin
  select * into v_bucket from tokengate.buckets b
  where b.org_id = r.org_id and b.token_type_id = r.token_type_id;
  select p.access = 'unlimited' into v_unlimited
  from tokengate.accounts a join tokengate.plans p on p.id = a.plan_id where a.org_id = r.org_id;
  if v_unlimited then
    v_charged := p_actual;
  else
    v_from_a := least(p_actual, v_bucket.allowance_remaining);
    v_from_p := least(p_actual - v_from_a, v_bucket.purchased_remaining);
    v_charged := v_from_a + v_from_p;
    v_uncharged := p_actual - v_charged;
  end if;
  v_ledger_id := tokengate._append(
    r.org_id, r.token_type_id, 'deduct', v_from_a, -v_from_p, 0, v_charged,
    r.user_id, r.id, r.idempotency_key,
    coalesce(p_metadata, '{}') || jsonb_strip_nulls(jsonb_build_object(
      'late', true, 'estimate', r.estimate, 'actual', p_actual, 'uncharged', nullif(v_uncharged, 0))));
  perform tokengate._record_usage(r.org_id, r.token_type_id, r.user_id, v_bucket.period_start, v_charged, 1, 0);
  v_result := jsonb_build_object(
    'reservationId', r.id,
    'status', 'committed',
    'late', true,
    'tokenType', r.token_type_id,
    'estimate', r.estimate,
    'actual', p_actual,
    'charged', v_charged,
    'refunded', 0,
    'uncharged', v_uncharged,
    'ledgerId', v_ledger_id);
  update tokengate.reservations x set actual = p_actual, charged = v_charged, result = v_result where x.id = r.id;
  return v_result;
end
$$;

/*
  Hold p_estimate tokens on a locked, touched bucket for p_user_id: the one implementation of a
  hold, for the member API (reserve, holder 'member') and the guard (guard_begin, holder 'guard').
  The plan is read here, after the bucket lock, so a concurrent set_plan is seen whole or not at
  all. Raises the denial (plan_blocked, member_quota_exceeded, insufficient_tokens); allowance is
  held first, then purchased tokens. Returns the reservation as the API answers it.
*/
create function tokengate._hold(
  p_bucket tokengate.buckets,
  p_user_id uuid,
  p_estimate int,
  p_ttl_seconds int,
  p_idempotency_key text,
  p_metadata jsonb,
  p_holder text
)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_plan tokengate.plans;
  v_denial jsonb;
  v_held_a int := 0;
  v_held_p int := 0;
  v_id uuid;
  v_expires timestamptz := v_now + make_interval(secs => p_ttl_seconds);
begin
  select p.* into v_plan from tokengate.accounts a join tokengate.plans p on p.id = a.plan_id where a.org_id = p_bucket.org_id;
  v_denial := tokengate._denial(p_bucket, v_plan, p_user_id, p_estimate);
  if v_denial is not null then
    perform tokengate._raise(v_denial ->> 'reason', v_denial);
  end if;
  if v_plan.access <> 'unlimited' then
    v_held_a := least(p_estimate, p_bucket.allowance_remaining);
    v_held_p := p_estimate - v_held_a;
  end if;
  insert into tokengate.reservations (
    org_id, token_type_id, user_id, estimate, held_allowance, held_purchased, period_start,
    expires_at, idempotency_key, metadata, created_at, holder
  ) values (
    p_bucket.org_id, p_bucket.token_type_id, p_user_id, p_estimate, v_held_a, v_held_p, p_bucket.period_start,
    v_expires, p_idempotency_key, p_metadata, v_now, p_holder
  ) returning id into v_id;
  perform tokengate._append(
    p_bucket.org_id, p_bucket.token_type_id, 'reserve', v_held_a, -v_held_p, v_held_a + v_held_p, 0,
    p_user_id, v_id, p_idempotency_key,
    p_metadata || jsonb_build_object('estimate', p_estimate)
      || case when p_holder = 'guard' then jsonb_build_object('guard', true) else '{}'::jsonb end);
  perform tokengate._record_usage(p_bucket.org_id, p_bucket.token_type_id, p_user_id, p_bucket.period_start, 0, 0, p_estimate);
  return jsonb_build_object(
    'reservationId', v_id,
    'status', 'pending',
    'tokenType', p_bucket.token_type_id,
    'estimate', p_estimate,
    'held', v_held_a + v_held_p,
    'expiresAt', v_expires,
    'balance', tokengate._bucket_json(p_bucket.org_id, p_bucket.token_type_id));
end
$$;

/*
  Hold p_estimate tokens (default: one use) for AI work that reports its real usage later.
  Resolve with commit(actual) or release; unresolved, it expires after p_ttl_seconds and is
  refunded. Exactly once per idempotency key; a replay reports the reservation's current status.
*/
create or replace function tokengate.reserve(
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
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_estimate int;
  v_replay jsonb;
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
  return tokengate._remember(p_org_id, p_idempotency_key,
    tokengate._hold(v_bucket, p_user_id, v_estimate, p_ttl_seconds, p_idempotency_key, p_metadata, 'member'));
end
$$;

/*
  Start a guarded run: claim the request's idempotency key and hold the estimate, in one
  transaction. Returns { outcome, ... }:
    run          a new attempt: { reservation: <reserve result>, attempt } — run the handler.
    in_progress  an attempt with this key holds tokens right now: { reservationId, retryAfter } (seconds).
    completed    the work was delivered and charged: { reservationId, charged, response } — never run
                 it again; replay response when stored.
  A retry after a failed attempt (refunded) or a lapsed one (its hold expired) runs a new attempt; a
  lapsed attempt that still delivers is charged by guard_commit's late charge, so every run is paid.
  Raises what reserve raises (plan_blocked, insufficient_tokens, member_quota_exceeded, …) and
  idempotency_conflict when the key was used by another user, token type or estimate.

  select tokengate.guard_begin(:org, :user, 'quest_generation', 'req-7f3a', null, 300);
*/
create function tokengate.guard_begin(
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
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
  v_type tokengate.token_types;
  v_bucket tokengate.buckets;
  v_estimate int;
  v_params jsonb;
  v_row tokengate.guard_requests;
  v_existing tokengate.reservations;
  v_now timestamptz := tokengate.clock();
  v_reservation jsonb;
begin
  perform tokengate._arg_key(p_idempotency_key);
  perform tokengate._arg_metadata(p_metadata);
  perform tokengate._arg(p_estimate is null or p_estimate between 1 and 1000000, 'p_estimate', 'NULL or 1 to 1000000');
  perform tokengate._arg(p_ttl_seconds between 1 and 86400, 'p_ttl_seconds', '1 to 86400');
  v_account := tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_type := tokengate._token_type(p_token_type);
  v_estimate := coalesce(p_estimate, v_type.cost);
  v_params := jsonb_build_object('tokenType', v_type.id, 'userId', p_user_id, 'estimate', v_estimate);

  -- Claim the key (lock order: account → key → bucket). A concurrent duplicate waits here for the
  -- first transaction, then finds its attempt running.
  insert into tokengate.guard_requests (org_id, key, user_id, token_type_id, params, state, created_at, updated_at)
  values (p_org_id, p_idempotency_key, p_user_id, v_type.id, v_params, 'running', v_now, v_now)
  on conflict do nothing;
  if not found then
    select * into v_row from tokengate.guard_requests g
    where g.org_id = p_org_id and g.key = p_idempotency_key for update;
    if v_row.params <> v_params then
      perform tokengate._raise('idempotency_conflict', jsonb_build_object('idempotencyKey', p_idempotency_key, 'operation', 'guard'));
    end if;
    if v_row.state = 'completed' then
      return jsonb_build_object('outcome', 'completed', 'reservationId', v_row.reservation_id,
        'charged', (select x.charged from tokengate.reservations x where x.id = v_row.reservation_id),
        'response', v_row.response);
    end if;
    if v_row.state = 'running' then
      -- Expire a lapsed hold first, so "in progress" is never a stale answer.
      perform tokengate._touch(v_account, v_type.id);
      select * into v_existing from tokengate.reservations x where x.id = v_row.reservation_id;
      if v_existing.status = 'pending' then
        return jsonb_build_object('outcome', 'in_progress', 'reservationId', v_existing.id,
          'retryAfter', greatest(1, ceil(extract(epoch from v_existing.expires_at - v_now))::int));
      end if;
    end if;
    -- failed, or running with a lapsed hold: a new attempt.
  end if;

  v_bucket := tokengate._touch(v_account, v_type.id);
  v_reservation := tokengate._hold(v_bucket, p_user_id, v_estimate, p_ttl_seconds, p_idempotency_key, p_metadata, 'guard');
  update tokengate.guard_requests g set
    state = 'running', reservation_id = (v_reservation ->> 'reservationId')::uuid, attempts = g.attempts + 1, updated_at = v_now
  where g.org_id = p_org_id and g.key = p_idempotency_key
  returning * into v_row;

  return jsonb_build_object(
    'outcome', 'run',
    'attempt', v_row.attempts,
    'reservation', v_reservation || jsonb_build_object('replayed', false));
end
$$;

/* The guard's own hold, locked, after its bucket was touched; not found for anyone else's. */
create function tokengate._guard_hold(p_org_id uuid, p_user_id uuid, p_key text, p_reservation_id uuid)
returns tokengate.reservations
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_account tokengate.accounts;
  r tokengate.reservations;
begin
  perform tokengate._arg_key(p_key);
  perform tokengate._arg(p_reservation_id is not null, 'p_reservation_id', 'required');
  perform tokengate._arg(p_user_id is not null, 'p_user_id', 'required');
  v_account := tokengate._account(p_org_id);
  -- No membership check: a member removed while their run was in flight still pays for it.
  perform 1 from tokengate.guard_requests g where g.org_id = p_org_id and g.key = p_key for update;
  select * into r from tokengate.reservations x
  where x.id = p_reservation_id and x.org_id = p_org_id and x.user_id = p_user_id
    and x.holder = 'guard' and x.idempotency_key = p_key;
  if not found then
    perform tokengate._raise('reservation_not_found', jsonb_build_object('reservationId', p_reservation_id));
  end if;
  perform tokengate._touch(v_account, r.token_type_id);
  select * into r from tokengate.reservations x where x.id = p_reservation_id for update;
  return r;
end
$$;

/*
  Charge a guarded run that delivered its answer: commit the actual usage (refunding the rest of
  the hold), or, when the hold expired first, a late charge of the actual usage from what is
  available. Marks the key completed and stores p_response (the answer to replay, or NULL).
  Exactly once per reservation: a repeated call replays the first result.
*/
create function tokengate.guard_commit(
  p_org_id uuid,
  p_user_id uuid,
  p_idempotency_key text,
  p_reservation_id uuid,
  p_actual int,
  p_response jsonb default null,
  p_metadata jsonb default '{}'
)
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
  perform tokengate._arg(p_response is null or (jsonb_typeof(p_response) = 'object' and octet_length(p_response::text) <= 1048576),
    'p_response', 'NULL or a JSON object of at most 1 MiB');
  r := tokengate._guard_hold(p_org_id, p_user_id, p_idempotency_key, p_reservation_id);
  if r.status = 'pending' then
    v_result := tokengate._resolve(r, 'commit', p_actual, p_user_id, p_metadata) || jsonb_build_object('replayed', false);
  elsif r.status = 'expired' and (r.result ->> 'late') is null then
    v_result := tokengate._late_charge(r, p_actual, p_metadata) || jsonb_build_object('replayed', false);
  elsif r.status = 'committed' or r.status = 'expired' then
    v_result := r.result || jsonb_build_object('replayed', true);
  else
    perform tokengate._raise('reservation_not_pending', jsonb_build_object('reservationId', r.id, 'status', r.status));
  end if;
  -- The key's current attempt is done; an older, superseded attempt only pays for itself.
  update tokengate.guard_requests g set state = 'completed', response = p_response, updated_at = tokengate.clock()
  where g.org_id = p_org_id and g.key = p_idempotency_key and g.reservation_id = r.id and g.state <> 'completed';
  return v_result || jsonb_build_object('balance', tokengate._bucket_json(p_org_id, r.token_type_id));
end
$$;

/*
  Refund a guarded run whose handler failed (no answer delivered, nothing charged). A retry with
  the same key may run again. Idempotent; an expired hold was already refunded.
*/
create function tokengate.guard_release(
  p_org_id uuid,
  p_user_id uuid,
  p_idempotency_key text,
  p_reservation_id uuid,
  p_metadata jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r tokengate.reservations;
  v_result jsonb;
begin
  perform tokengate._arg_metadata(p_metadata);
  r := tokengate._guard_hold(p_org_id, p_user_id, p_idempotency_key, p_reservation_id);
  if r.status = 'pending' then
    v_result := tokengate._resolve(r, 'release', null, p_user_id, p_metadata) || jsonb_build_object('replayed', false);
  elsif r.status = 'released' or (r.status = 'expired' and (r.result ->> 'late') is null) then
    v_result := r.result || jsonb_build_object('replayed', true);
  else
    perform tokengate._raise('reservation_not_pending', jsonb_build_object('reservationId', r.id, 'status', 'committed'));
  end if;
  update tokengate.guard_requests g set state = 'failed', updated_at = tokengate.clock()
  where g.org_id = p_org_id and g.key = p_idempotency_key and g.reservation_id = r.id and g.state = 'running';
  return v_result || jsonb_build_object('balance', tokengate._bucket_json(p_org_id, r.token_type_id));
end
$$;

/* ───────────────────────────── owners ───────────────────────────── */

/*
  Lock the organization's owner rows and return the actor's role (NULL for the server). Two
  admins or owners changing each other at once serialise here, and the second sees the first's
  result: the last owner can never be removed by a race.
*/
create function tokengate._lock_owners(p_org_id uuid, p_actor_id uuid)
returns text
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform 1 from tokengate.members m where m.org_id = p_org_id and m.role = 'owner'
  order by m.user_id for update;
  perform tokengate._require_admin(p_org_id, p_actor_id);
  if p_actor_id is null then
    return null;
  end if;
  return (select m.role from tokengate.members m where m.org_id = p_org_id and m.user_id = p_actor_id);
end
$$;

/* An owner change needs an owner (or the server); the last owner cannot go. */
create function tokengate._check_owner_change(p_org_id uuid, p_actor_role text, p_actor_id uuid, p_user_id uuid, p_new_role text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_current text;
begin
  select m.role into v_current from tokengate.members m where m.org_id = p_org_id and m.user_id = p_user_id;
  if (v_current = 'owner' or p_new_role = 'owner') and p_actor_id is not null and p_actor_role <> 'owner' then
    perform tokengate._raise('owner_required', jsonb_build_object('orgId', p_org_id, 'userId', p_user_id));
  end if;
  if v_current = 'owner' and p_new_role is distinct from 'owner'
     and (select count(*) from tokengate.members m where m.org_id = p_org_id and m.role = 'owner') <= 1 then
    perform tokengate._raise('last_owner', jsonb_build_object('orgId', p_org_id, 'userId', p_user_id));
  end if;
end
$$;

/* Add a member or change their role. Owner changes need an owner (or the server); one owner always stays. */
create or replace function tokengate.add_member(p_org_id uuid, p_actor_id uuid, p_user_id uuid, p_role text default 'member')
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_actor_role text;
begin
  perform tokengate._account(p_org_id);
  perform tokengate._arg(p_user_id is not null, 'p_user_id', 'required');
  perform tokengate._arg(p_role in ('owner', 'admin', 'member'), 'p_role', 'owner, admin or member');
  v_actor_role := tokengate._lock_owners(p_org_id, p_actor_id);
  perform tokengate._check_owner_change(p_org_id, v_actor_role, p_actor_id, p_user_id, p_role);
  insert into tokengate.members as m (org_id, user_id, role) values (p_org_id, p_user_id, p_role)
  on conflict (org_id, user_id) do update set role = excluded.role;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'role', p_role);
end
$$;

/* Remove a member (and their quotas). Removing an owner needs an owner (or the server); the last owner stays. */
create or replace function tokengate.remove_member(p_org_id uuid, p_actor_id uuid, p_user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_actor_role text;
begin
  perform tokengate._account(p_org_id);
  v_actor_role := tokengate._lock_owners(p_org_id, p_actor_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  perform tokengate._check_owner_change(p_org_id, v_actor_role, p_actor_id, p_user_id, null);
  delete from tokengate.members m where m.org_id = p_org_id and m.user_id = p_user_id;
  return jsonb_build_object('orgId', p_org_id, 'userId', p_user_id, 'removed', true);
end
$$;

/* ───────────────────────────── the RLS helper, out of the exposed schema ───────────────────────────── */

create schema if not exists tokengate_private;
comment on schema tokengate_private is 'Tokengate helpers that RLS policies call. Never expose this schema through the API.';
revoke all on schema tokengate_private from public;
grant usage on schema tokengate_private to authenticated;

/* The organizations the requesting user belongs to (SECURITY DEFINER: policies on members must not recurse). */
create function tokengate_private.my_org_ids()
returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select m.org_id from tokengate.members m where m.user_id = (select auth.uid())
$$;
comment on function tokengate_private.my_org_ids() is 'Organization ids of auth.uid(); used by RLS policies.';
revoke execute on function tokengate_private.my_org_ids() from public, anon, service_role;
grant execute on function tokengate_private.my_org_ids() to authenticated;

alter policy "Members can read their organizations' accounts" on tokengate.accounts
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' members" on tokengate.members
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' member quotas" on tokengate.member_quotas
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' buckets" on tokengate.buckets
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' reservations" on tokengate.reservations
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' ledger" on tokengate.ledger
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' member usage" on tokengate.member_usage
  using (org_id in (select tokengate_private.my_org_ids()));
alter policy "Members can read their organizations' daily usage" on tokengate.usage_daily
  using (org_id in (select tokengate_private.my_org_ids()));
drop function tokengate.my_org_ids();

/* ───────────────────────────── stats: a runway that cannot overflow ───────────────────────────── */

do $do$
declare
  v_def text := pg_get_functiondef('tokengate.stats(uuid, uuid, date, date)'::regprocedure);
begin
  -- A balance that outlasts 100 years at the current burn never runs out, as far as a forecast goes.
  v_def := replace(v_def,
    $old$when w.week_tokens = 0 then null$old$,
    $new$when w.week_tokens = 0 then null
                 when (e.item ->> 'available')::numeric * 7 / w.week_tokens > 36500 then null$new$);
  if v_def not like '%> 36500 then null%' then
    raise exception 'stats: runway clause not found';
  end if;
  execute v_def;
end
$do$;

/* ───────────────────────────── search_path on every function ───────────────────────────── */

do $do$
declare
  v_fn regprocedure;
begin
  for v_fn in
    select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('tokengate', 'tokengate_private')
  loop
    execute format('alter function %s set search_path = pg_catalog, pg_temp', v_fn);
  end loop;
end
$do$;

/* ───────────────────────────── grants ───────────────────────────── */

revoke execute on all functions in schema tokengate from public, anon, authenticated, service_role;
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
  tokengate.guard_begin(uuid, uuid, text, text, int, int, jsonb),
  tokengate.guard_commit(uuid, uuid, text, uuid, int, jsonb, jsonb),
  tokengate.guard_release(uuid, uuid, text, uuid, jsonb),
  tokengate.expire_reservations(int),
  tokengate.grant_tokens(uuid, uuid, text, int, text, jsonb),
  tokengate.adjust(uuid, uuid, text, int, text, text, jsonb),
  tokengate.stats(uuid, uuid, date, date),
  tokengate.usage_export(uuid, uuid, date, date, bigint, int),
  tokengate.verify_ledger(uuid)
to service_role;
