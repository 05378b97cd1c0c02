/*
  Tokengate ledger — live balances and alerts.

  1. A change feed: every ledger entry (every balance change) sends
       pg_notify('tokengate_changes', '{"orgId":…,"tokenType":…,"ledgerId":…,"kind":…,"available":…,
                                        "allowanceRemaining":…,"purchased":…,"held":…}')
     in its own transaction, so a rolled-back change says nothing. No user data; available is null on
     an unlimited plan. Listeners (one per server process) fan it out to clients. Postgres serialises
     the commits of notifying transactions (a global lock at commit), which costs charge throughput
     under many concurrent writers; a database where no one listens turns it off with
       alter database <db> set tokengate.live = off;
     tokengate.changes() answers the same events from the ledger for a client resuming after a gap.
     On Supabase (a realtime schema exists), each entry is also broadcast with realtime.send() to the
     private topic tokengate:org:<orgId>, which only members of the organization may read.
  2. An alerts outbox, written in the same transaction as the change that crossed a threshold,
     exactly once per (bucket, period, kind[, member | hold]): low (available falls below
     token_types.low_alert_percent % of the allowance; default 20, 0 = never), exhausted (available
     reaches 0), member_quota_reached (a member's usage and holds reach their quota), refreshed (a
     bucket's period ended and its allowance was renewed), expired_hold (a hold lapsed unresolved).
     The app's worker claims due alerts (claim_alerts), delivers them as webhooks and records each
     attempt (record_delivery: the delivery log, retries, failure after the last attempt).
     Server-only: no client role reads or writes the outbox.
*/

insert into tokengate.error_codes (name, sqlstate, http_status, title) values
  ('alert_not_found', 'TGC05', 404, 'No alert has this id.');

alter table tokengate.token_types
  add column low_alert_percent smallint not null default 20 check (low_alert_percent between 0 and 100);
comment on column tokengate.token_types.low_alert_percent is
  'The low alert fires once per period when available falls below this share of the allowance (0: never).';

/* ───────────────────────────── the outbox ───────────────────────────── */

create table tokengate.alerts (
  org_id          uuid not null,
  id              bigint generated always as identity,
  kind            text not null check (kind in ('low', 'exhausted', 'member_quota_reached', 'refreshed', 'expired_hold')),
  token_type_id   text not null,
  period_start    timestamptz,
  user_id         uuid,
  reservation_id  uuid,
  -- low: the available count the alert fires below; member_quota_reached: the quota.
  threshold       bigint,
  available       bigint,
  -- What makes the alert unique within the organization: kind, type, period, member or hold.
  dedupe_key      text not null,
  created_at      timestamptz not null,
  -- Delivery state: attempts since the alert was created or replayed, all attempts ever (the log's
  -- numbering), when it is due next (null once delivered or failed).
  attempts        int not null default 0,
  deliveries      int not null default 0,
  next_attempt_at timestamptz,
  delivered_at    timestamptz,
  failed_at       timestamptz,
  last_status     int,
  last_error      text,
  primary key (org_id, id),
  unique (org_id, dedupe_key)
);
create index alerts_id_idx on tokengate.alerts (id);
create index alerts_due_idx on tokengate.alerts (next_attempt_at, id) where next_attempt_at is not null;
comment on table tokengate.alerts is
  'Threshold alerts (outbox), written with the change that crossed the threshold, once per bucket, period and kind; delivered as webhooks by the app''s worker. Server functions only.';

create table tokengate.webhook_deliveries (
  org_id       uuid not null,
  alert_id     bigint not null,
  attempt      int not null,
  attempted_at timestamptz not null,
  ok           boolean not null,
  status       int,
  error        text,
  duration_ms  int,
  primary key (org_id, alert_id, attempt),
  foreign key (org_id, alert_id) references tokengate.alerts (org_id, id) on delete cascade
);
comment on table tokengate.webhook_deliveries is 'Every attempt to deliver an alert: when, the answer''s status or the error. Server functions only.';

alter table tokengate.alerts enable row level security;
alter table tokengate.webhook_deliveries enable row level security;
revoke all on tokengate.alerts, tokengate.webhook_deliveries from public, anon, authenticated, service_role;
grant select on tokengate.alerts, tokengate.webhook_deliveries to service_role;

/* Write an alert unless this (organization, kind, type, period, member, hold) already has one. */
create function tokengate._alert(
  p_org_id uuid, p_kind text, p_token_type_id text, p_period_start timestamptz,
  p_user_id uuid, p_reservation_id uuid, p_threshold bigint, p_available bigint
)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
  insert into tokengate.alerts (org_id, kind, token_type_id, period_start, user_id, reservation_id, threshold, available,
                                dedupe_key, created_at, next_attempt_at)
  values (p_org_id, p_kind, p_token_type_id, p_period_start, p_user_id, p_reservation_id, p_threshold, p_available,
          concat_ws(':', p_kind, p_token_type_id, extract(epoch from p_period_start)::bigint, p_user_id, p_reservation_id),
          tokengate.clock(), tokengate.clock())
  on conflict (org_id, dedupe_key) do nothing
$$;

/*
  A metered bucket's available count fell from p_before to p_after (the bucket row is the new state,
  locked by the caller): write exhausted when it reached 0, low when it crossed the threshold. The
  bucket lock serialises the changes of a bucket, so exactly one change crosses each threshold; the
  unique dedupe key keeps it once per period even when a top-up lets it cross again.
*/
create function tokengate._crossed(p_bucket tokengate.buckets, p_before bigint, p_after bigint, p_low_percent int)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_after = 0 and p_before > 0 then
    perform tokengate._alert(p_bucket.org_id, 'exhausted', p_bucket.token_type_id, p_bucket.period_start, null, null, 0, 0);
  end if;
  if p_low_percent > 0 and p_after * 100 < p_bucket.allowance::bigint * p_low_percent
     and p_before * 100 >= p_bucket.allowance::bigint * p_low_percent then
    perform tokengate._alert(p_bucket.org_id, 'low', p_bucket.token_type_id, p_bucket.period_start, null, null,
      ceil(p_bucket.allowance::numeric * p_low_percent / 100)::bigint, p_after);
  end if;
end
$$;

/* One change as the feed carries it (the notification's payload, the changes() items, the broadcasts). */
create function tokengate._change(
  p_org_id uuid, p_token_type_id text, p_ledger_id bigint, p_kind text, p_unlimited boolean,
  p_allowance_remaining bigint, p_purchased bigint, p_held bigint
)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'orgId', p_org_id, 'tokenType', p_token_type_id, 'ledgerId', p_ledger_id, 'kind', p_kind,
    'available', case when p_unlimited then null else p_allowance_remaining + p_purchased end,
    'allowanceRemaining', p_allowance_remaining, 'purchased', p_purchased, 'held', p_held)
$$;

/*
  After every ledger entry but deduct's (which does the same inline): notify the change, and write
  the alerts it triggers. p_bucket is the bucket after the entry; p_before its available count before.
*/
create function tokengate._signal(
  p_bucket tokengate.buckets, p_kind text, p_ledger_id bigint, p_before bigint, p_user_id uuid, p_reservation_id uuid
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_access text;
  v_low_percent int;
  v_after bigint := p_bucket.allowance_remaining + p_bucket.purchased_remaining;
begin
  select p.access, t.low_alert_percent into v_access, v_low_percent
  from tokengate.accounts a
  join tokengate.plans p on p.id = a.plan_id
  left join tokengate.token_types t on t.id = p_bucket.token_type_id
  where a.org_id = p_bucket.org_id;
  if current_setting('tokengate.live', true) is distinct from 'off' then
    perform pg_notify('tokengate_changes', tokengate._change(p_bucket.org_id, p_bucket.token_type_id, p_ledger_id, p_kind,
      v_access = 'unlimited', p_bucket.allowance_remaining, p_bucket.purchased_remaining, p_bucket.held)::text);
  end if;
  if p_kind = 'expire' then
    perform tokengate._alert(p_bucket.org_id, 'expired_hold', p_bucket.token_type_id, p_bucket.period_start,
      coalesce(p_user_id, (select x.user_id from tokengate.reservations x where x.org_id = p_bucket.org_id and x.id = p_reservation_id)),
      p_reservation_id, null,
      case when v_access = 'unlimited' then null else v_after end);
  end if;
  if v_access = 'metered' and v_after < p_before then
    perform tokengate._crossed(p_bucket, p_before, v_after, coalesce(v_low_percent, 0));
  end if;
end
$$;

/* ───────────────────────────── every balance change signals ───────────────────────────── */

/* The member's counters, and member_quota_reached when their usage and holds reach the quota. */
create or replace function tokengate._record_usage(
  p_org_id uuid, p_token_type_id text, p_user_id uuid, p_period_start timestamptz,
  p_charged bigint, p_events int, p_member_held_delta bigint
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_quota int;
  v_total bigint;
begin
  -- (p_events: the usage rollup counts events from the ledger; kept for the callers' signature.)
  if p_charged <> 0 or p_member_held_delta <> 0 then
    select q.monthly_quota into v_quota from tokengate.member_quotas q
    where q.org_id = p_org_id and q.user_id = p_user_id and q.token_type_id = p_token_type_id;
    if found then
      insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
      values (p_org_id, p_user_id, p_token_type_id, p_period_start, p_charged, greatest(p_member_held_delta, 0))
      on conflict (org_id, user_id, token_type_id, period_start)
      do update set used = m.used + excluded.used, held = m.held + p_member_held_delta
      returning m.used + m.held into v_total;
      if v_total >= v_quota and v_total - (p_charged + p_member_held_delta) < v_quota then
        perform tokengate._alert(p_org_id, 'member_quota_reached', p_token_type_id, p_period_start, p_user_id, null, v_quota, null);
      end if;
    end if;
  end if;
end
$$;

/* As before (see ..._fast_charge.sql), and the refreshed alert when a period ends (not on a bucket's first). */
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
    if v_bucket.period_end is not null then
      perform tokengate._alert(v_account.org_id, 'refreshed', p_token_type_id, v_period.period_start, null, null, null,
        (select case when v_plan.access = 'unlimited' then null else b.allowance_remaining + b.purchased_remaining end
         from tokengate.buckets b where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id));
    end if;
    select * into v_bucket from tokengate.buckets b
    where b.org_id = v_account.org_id and b.token_type_id = p_token_type_id;
  end if;
  return v_bucket;
end
$$;

/* As before (see ..._usage_rollup.sql), and tokengate._signal after the entry. */
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
  perform tokengate._signal(v_bucket, p_kind, v_id, v_before + v_bucket.purchased_remaining - p_purchased_delta, p_user_id, p_reservation_id);
  return v_id;
end
$$;

/*
  deduct as before (see ..._usage_rollup.sql), plus step 4: the change feed and the alerts, inline.

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
  v_ledger_id bigint;
  v_before bigint;
  v_after bigint;
  v_total bigint;
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
         t.low_alert_percent as low_percent,
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
  select k.response, (select l.id from l) into v_result, v_ledger_id from k;
  if v_result is null then
    perform tokengate._raise('idempotency_conflict', jsonb_build_object('idempotencyKey', p_idempotency_key, 'operation', 'deduct'));
  end if;
  if v_look.quota is not null then
    insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
    values (p_org_id, p_user_id, p_token_type, v_bucket.period_start, v_cost, 0)
    on conflict (org_id, user_id, token_type_id, period_start) do update set used = m.used + excluded.used
    returning m.used + m.held into v_total;
    if v_total >= v_look.quota and v_total - v_cost < v_look.quota then
      perform tokengate._alert(p_org_id, 'member_quota_reached', p_token_type, v_bucket.period_start, p_user_id, null, v_look.quota, null);
    end if;
  end if;

  -- 4. The change feed and the alerts, in this transaction (tokengate._signal's work, inlined for the
  --    hot path: the payload by format(), and the alert function only when a threshold is crossed).
  v_before := v_bucket.allowance_remaining + v_bucket.purchased_remaining;
  v_after := v_before - v_from_a - v_from_p;
  if current_setting('tokengate.live', true) is distinct from 'off' then
    perform pg_notify('tokengate_changes', format(
      '{"orgId":"%s","tokenType":"%s","ledgerId":%s,"kind":"deduct","available":%s,"allowanceRemaining":%s,"purchased":%s,"held":%s}',
      p_org_id, p_token_type, v_ledger_id, case when v_look.access = 'unlimited' then 'null' else v_after::text end,
      v_bucket.allowance_remaining - v_from_a, v_bucket.purchased_remaining - v_from_p, v_bucket.held));
  end if;
  if v_after < v_before and (v_after = 0
      or (v_after * 100 < v_bucket.allowance::bigint * v_look.low_percent and v_before * 100 >= v_bucket.allowance::bigint * v_look.low_percent)) then
    perform tokengate._crossed(v_bucket, v_before, v_after, v_look.low_percent);
  end if;
  return v_result;
end
$$;

/* ───────────────────────────── the feed, read back ───────────────────────────── */

/*
  The organization's changes after ledger id p_after_id, oldest first, at most p_limit (1 to 1000):
  what a client that lost its connection missed. { changes: [change…], more: boolean }.
  Ledger ids are taken in commit order per bucket (the bucket lock), not across buckets: a resuming
  client should also reload its balances (the server's event stream sends a snapshot after these).

  select tokengate.changes(:org, :user, 1041);
*/
create function tokengate.changes(p_org_id uuid, p_user_id uuid, p_after_id bigint, p_limit int default 500)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_unlimited boolean;
  v_result jsonb;
begin
  perform tokengate._arg(p_after_id is not null and p_after_id >= 0, 'p_after_id', '0 or more');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  perform tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  select p.access = 'unlimited' into v_unlimited
  from tokengate.accounts a join tokengate.plans p on p.id = a.plan_id where a.org_id = p_org_id;
  select jsonb_build_object(
    'changes', coalesce(jsonb_agg(tokengate._change(e.org_id, e.token_type_id, e.id, e.kind, v_unlimited,
                                   e.allowance_after, e.purchased_after, e.held_after) order by e.id)
                        filter (where e.n <= p_limit), '[]'),
    'more', count(*) > p_limit)
  into v_result
  from (
    select l.org_id, l.token_type_id, l.id, l.kind, l.allowance_after, l.purchased_after, l.held_after,
           row_number() over (order by l.id) as n
    from (select * from tokengate.ledger l where l.org_id = p_org_id and l.id > p_after_id order by l.id limit p_limit + 1) l
  ) e;
  return v_result;
end
$$;

/* ───────────────────────────── alert delivery (the app's worker) ───────────────────────────── */

create function tokengate._alert_json(p_alert tokengate.alerts)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'alertId', p_alert.id, 'orgId', p_alert.org_id, 'type', p_alert.kind, 'tokenType', p_alert.token_type_id,
    'userId', p_alert.user_id, 'reservationId', p_alert.reservation_id, 'periodStart', p_alert.period_start,
    'threshold', p_alert.threshold, 'available', p_alert.available, 'createdAt', p_alert.created_at,
    'attempts', p_alert.attempts,
    'status', case when p_alert.delivered_at is not null then 'delivered' when p_alert.failed_at is not null then 'failed' else 'pending' end,
    'deliveredAt', p_alert.delivered_at, 'nextAttemptAt', p_alert.next_attempt_at,
    'lastStatus', p_alert.last_status, 'lastError', p_alert.last_error)
$$;

/*
  Up to p_limit due alerts (pending, next attempt now or past), oldest first, leased for
  p_lease_seconds: another worker does not get them until the lease ends or record_delivery answers.
  Workers on several machines may call this at once (SKIP LOCKED).

  select tokengate.claim_alerts(100, 60);
*/
create function tokengate.claim_alerts(p_limit int default 100, p_lease_seconds int default 60)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_result jsonb;
begin
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  perform tokengate._arg(p_lease_seconds between 1 and 3600, 'p_lease_seconds', '1 to 3600');
  with due as (
    select a.org_id, a.id from tokengate.alerts a
    where a.next_attempt_at <= v_now
    order by a.next_attempt_at, a.id
    limit p_limit
    for update skip locked
  ), leased as (
    update tokengate.alerts a set next_attempt_at = v_now + make_interval(secs => p_lease_seconds)
    from due where a.org_id = due.org_id and a.id = due.id
    returning a.*
  )
  select coalesce(jsonb_agg(tokengate._alert_json(l) order by l.id), '[]') into v_result from leased l;
  return v_result;
end
$$;

/*
  Record one delivery attempt of an alert: ok → delivered; otherwise due again in
  p_retry_in_seconds, or failed once p_max_attempts attempts (since it was created or replayed)
  failed. Every attempt is kept in webhook_deliveries. Answers the alert.

  select tokengate.record_delivery(42, false, 503, 'Service Unavailable', 120, 40);
*/
create function tokengate.record_delivery(
  p_alert_id bigint,
  p_ok boolean,
  p_status int default null,
  p_error text default null,
  p_duration_ms int default null,
  p_retry_in_seconds int default 60,
  p_max_attempts int default 12
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_alert tokengate.alerts;
  v_error text := left(p_error, 1000);
begin
  perform tokengate._arg(p_ok is not null, 'p_ok', 'required');
  perform tokengate._arg(p_status is null or p_status between 100 and 599, 'p_status', 'an HTTP status');
  perform tokengate._arg(p_duration_ms is null or p_duration_ms >= 0, 'p_duration_ms', '0 or more');
  perform tokengate._arg(p_retry_in_seconds between 0 and 86400, 'p_retry_in_seconds', '0 to 86400');
  perform tokengate._arg(p_max_attempts between 1 and 100, 'p_max_attempts', '1 to 100');
  select * into v_alert from tokengate.alerts a where a.id = p_alert_id for update;
  if not found then
    perform tokengate._raise('alert_not_found', jsonb_build_object('alertId', p_alert_id));
  end if;
  if v_alert.next_attempt_at is null then
    -- Already delivered or failed (a worker whose lease ran out answered late): nothing changes.
    return tokengate._alert_json(v_alert);
  end if;
  insert into tokengate.webhook_deliveries (org_id, alert_id, attempt, attempted_at, ok, status, error, duration_ms)
  values (v_alert.org_id, v_alert.id, v_alert.deliveries + 1, v_now, p_ok, p_status, case when p_ok then null else v_error end, p_duration_ms);
  update tokengate.alerts a set
    attempts = a.attempts + 1,
    deliveries = a.deliveries + 1,
    last_status = p_status,
    last_error = case when p_ok then null else v_error end,
    delivered_at = case when p_ok then v_now end,
    failed_at = case when not p_ok and a.attempts + 1 >= p_max_attempts then v_now end,
    next_attempt_at = case when p_ok or a.attempts + 1 >= p_max_attempts then null
                           else v_now + make_interval(secs => p_retry_in_seconds) end
  where a.org_id = v_alert.org_id and a.id = v_alert.id
  returning * into v_alert;
  return tokengate._alert_json(v_alert);
end
$$;

/*
  Alerts, newest first: all, or those pending, delivered or failed; of one organization or all.

  select tokengate.list_alerts('failed', null, 50);
*/
create function tokengate.list_alerts(p_status text default null, p_org_id uuid default null, p_limit int default 50)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result jsonb;
begin
  perform tokengate._arg(p_status is null or p_status in ('pending', 'delivered', 'failed'), 'p_status', 'pending, delivered or failed');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  select coalesce(jsonb_agg(tokengate._alert_json(a) order by a.id desc), '[]') into v_result
  from (
    select * from tokengate.alerts a
    where (p_org_id is null or a.org_id = p_org_id)
      and (p_status is null
           or (p_status = 'delivered' and a.delivered_at is not null)
           or (p_status = 'failed' and a.failed_at is not null)
           or (p_status = 'pending' and a.delivered_at is null and a.failed_at is null))
    order by a.id desc
    limit p_limit
  ) a;
  return v_result;
end
$$;

/* Every delivery attempt of an alert, oldest first. */
create function tokengate.alert_deliveries(p_alert_id bigint)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_alert tokengate.alerts;
begin
  select * into v_alert from tokengate.alerts a where a.id = p_alert_id;
  if not found then
    perform tokengate._raise('alert_not_found', jsonb_build_object('alertId', p_alert_id));
  end if;
  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'attempt', d.attempt, 'attemptedAt', d.attempted_at, 'ok', d.ok, 'status', d.status,
             'error', d.error, 'durationMs', d.duration_ms) order by d.attempt), '[]')
    from tokengate.webhook_deliveries d where d.org_id = v_alert.org_id and d.alert_id = v_alert.id);
end
$$;

/*
  Deliver an alert again (delivered or failed ones too): pending and due now, its attempts counted
  from zero; the delivery log is kept. The webhook keeps its id, so a receiver that already handled
  it can tell.
*/
create function tokengate.replay_alert(p_alert_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_alert tokengate.alerts;
begin
  update tokengate.alerts a set
    attempts = 0, delivered_at = null, failed_at = null, next_attempt_at = tokengate.clock()
  where a.id = p_alert_id
  returning * into v_alert;
  if not found then
    perform tokengate._raise('alert_not_found', jsonb_build_object('alertId', p_alert_id));
  end if;
  return tokengate._alert_json(v_alert);
end
$$;

/* ───────────────────────────── Supabase Realtime ───────────────────────────── */

/* After each ledger entry: broadcast its change to the organization's private Realtime topic. */
create function tokengate._broadcast_change()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_unlimited boolean;
begin
  if current_setting('tokengate.live', true) is distinct from 'off' then
    select p.access = 'unlimited' into v_unlimited
    from tokengate.accounts a join tokengate.plans p on p.id = a.plan_id where a.org_id = new.org_id;
    execute 'select realtime.send($1, $2, $3, true)'
    using tokengate._change(new.org_id, new.token_type_id, new.id, new.kind, coalesce(v_unlimited, false),
                            new.allowance_after, new.purchased_after, new.held_after),
          'balance', 'tokengate:org:' || new.org_id;
  end if;
  return null;
end
$$;

/*
  On Supabase: broadcast every change to Realtime (topic tokengate:org:<orgId>, private) and let
  members of the organization — only them — receive it (an RLS policy on realtime.messages).
  Run by the migration when the realtime schema exists; again by hand if Realtime is enabled later.
  Answers whether it did anything.
*/
create function tokengate.enable_realtime()
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null or to_regclass('realtime.messages') is null then
    return false;
  end if;
  drop trigger if exists ledger_broadcast_change on tokengate.ledger;
  create trigger ledger_broadcast_change after insert on tokengate.ledger
    for each row execute function tokengate._broadcast_change();
  execute 'drop policy if exists "Members receive their organizations'' balance changes" on realtime.messages';
  execute $p$create policy "Members receive their organizations' balance changes" on realtime.messages
    for select to authenticated
    using (realtime.messages.extension = 'broadcast'
           and (select realtime.topic()) like 'tokengate:org:%'
           and split_part((select realtime.topic()), ':', 3) in (select o::text from tokengate_private.my_org_ids() o))$p$;
  return true;
end
$$;
comment on function tokengate.enable_realtime() is
  'Broadcast balance changes to Supabase Realtime (private topic tokengate:org:<orgId>, members only). Idempotent; false without a realtime schema.';
select tokengate.enable_realtime();

/* ───────────────────────────── grants ───────────────────────────── */

revoke execute on function
  tokengate._alert(uuid, text, text, timestamptz, uuid, uuid, bigint, bigint),
  tokengate._crossed(tokengate.buckets, bigint, bigint, int),
  tokengate._change(uuid, text, bigint, text, boolean, bigint, bigint, bigint),
  tokengate._signal(tokengate.buckets, text, bigint, bigint, uuid, uuid),
  tokengate._alert_json(tokengate.alerts),
  tokengate._broadcast_change(),
  tokengate.enable_realtime(),
  tokengate.changes(uuid, uuid, bigint, int),
  tokengate.claim_alerts(int, int),
  tokengate.record_delivery(bigint, boolean, int, text, int, int, int),
  tokengate.list_alerts(text, uuid, int),
  tokengate.alert_deliveries(bigint),
  tokengate.replay_alert(bigint)
from public, anon, authenticated, service_role;
grant execute on function
  tokengate.changes(uuid, uuid, bigint, int),
  tokengate.claim_alerts(int, int),
  tokengate.record_delivery(bigint, boolean, int, text, int, int, int),
  tokengate.list_alerts(text, uuid, int),
  tokengate.alert_deliveries(bigint),
  tokengate.replay_alert(bigint)
to service_role;
