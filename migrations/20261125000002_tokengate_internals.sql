/*
  Tokengate ledger — internal helpers.

  Not executable by any client role (default privileges revoke EXECUTE from PUBLIC); the API
  functions are SECURITY DEFINER and call these as the owner. Every bucket change goes through
  tokengate._append(), which updates the bucket and writes its ledger row in one place.

  Lock order, everywhere: account (FOR SHARE, or FOR UPDATE in set_plan) → idempotency key →
  buckets in (org_id, token_type_id) order → reservation. One order means no deadlocks.
  set_plan is the one exception: it settles existing buckets, then _balances provisions missing
  ones, which can lock out of type order. That is safe only because set_plan holds the account
  row FOR UPDATE, and every other path takes it FOR SHARE first.
*/

/* ───────────────────────────── errors ───────────────────────────── */

create table tokengate.error_codes (
  name        text primary key,
  sqlstate    text not null unique check (sqlstate ~ '^TG[A-Z0-9]{3}$'),
  http_status int not null,
  title       text not null
);
comment on table tokengate.error_codes is
  'Every error the ledger raises: SQLSTATE, stable name (the exception message), HTTP status the server maps it to, and a title.';

insert into tokengate.error_codes (name, sqlstate, http_status, title) values
  ('invalid_argument',        'TGA01', 400, 'An argument is missing, out of range or malformed.'),
  ('unknown_token_type',      'TGA02', 404, 'No active token type has this id.'),
  ('unknown_organization',    'TGA03', 404, 'The organization has no Tokengate account.'),
  ('unknown_plan',            'TGA04', 404, 'No plan has this id.'),
  ('not_a_member',            'TGA05', 403, 'The user is not a member of the organization.'),
  ('admin_required',          'TGA06', 403, 'Only an owner or admin of the organization may do this.'),
  ('insufficient_tokens',     'TGB01', 402, 'The organization does not have enough tokens of this type.'),
  ('plan_blocked',            'TGB02', 403, 'The organization''s plan does not include AI features.'),
  ('member_quota_exceeded',   'TGB03', 402, 'The member has used their quota of this token type for the period.'),
  ('idempotency_conflict',    'TGC01', 409, 'The idempotency key was already used with different parameters.'),
  ('reservation_not_found',   'TGC02', 404, 'No reservation with this id belongs to the organization and user.'),
  ('reservation_expired',     'TGC03', 410, 'The reservation expired and was refunded; nothing was charged.'),
  ('reservation_not_pending', 'TGC04', 409, 'The reservation was already committed or released.'),
  ('ledger_immutable',        'TGD01', 403, 'The ledger is append-only.');

/* Raise the named error with JSON facts in DETAIL. The message is the stable name. */
create function tokengate._raise(p_name text, p_detail jsonb default '{}')
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  v_code text;
  v_title text;
begin
  select e.sqlstate, e.title into v_code, v_title from tokengate.error_codes e where e.name = p_name;
  raise exception using
    errcode = coalesce(v_code, 'P0001'),
    message = p_name,
    detail = coalesce(p_detail, '{}')::text,
    hint = coalesce(v_title, '');
end
$$;

/* invalid_argument unless p_ok is true (a NULL condition, e.g. from a NULL argument, fails). */
create function tokengate._arg(p_ok boolean, p_argument text, p_rule text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_ok is not true then
    perform tokengate._raise('invalid_argument', jsonb_build_object('argument', p_argument, 'rule', p_rule));
  end if;
end
$$;

/* Idempotency keys: 1–255 visible ASCII characters, like Stripe's. */
create function tokengate._arg_key(p_key text)
returns void
language sql
stable
set search_path = ''
as $$
  select tokengate._arg(p_key ~ '^[!-~]{1,255}$', 'p_idempotency_key', '1 to 255 visible ASCII characters');
$$;

/* Metadata: a JSON object of at most 4 KiB. */
create function tokengate._arg_metadata(p_metadata jsonb)
returns void
language sql
stable
set search_path = ''
as $$
  select tokengate._arg(
    jsonb_typeof(p_metadata) = 'object' and octet_length(p_metadata::text) <= 4096,
    'p_metadata', 'a JSON object of at most 4096 bytes');
$$;

/* ───────────────────────────── clock and periods ───────────────────────────── */

/*
  The ledger's clock: now(), unless the setting `tokengate.now` holds a timestamp (tests and
  simulations inject time this way; only roles that can run SQL directly can set it).
*/
create function tokengate.clock()
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('tokengate.now', true), '')::timestamptz, now())
$$;
comment on function tokengate.clock() is 'now(), or the injected setting tokengate.now (tests).';

/*
  The monthly period containing p_at for an account anchored at p_anchor, in UTC.
  Computed as anchor + n months (never by adding a month to the previous period), so the day of
  the month is kept where it exists: Jan 31 → Feb 29 (2028) → Mar 31.
*/
create function tokengate.period_at(p_anchor timestamptz, p_at timestamptz, out period_start timestamptz, out period_end timestamptz)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_anchor timestamp := p_anchor at time zone 'UTC';
  v_at timestamp := p_at at time zone 'UTC';
  v_n int;
begin
  v_n := (extract(year from v_at)::int - extract(year from v_anchor)::int) * 12
       + (extract(month from v_at)::int - extract(month from v_anchor)::int);
  -- anchor + n months lies in p_at's month, so n is right or one too many.
  if v_anchor + make_interval(months => v_n) > v_at then
    v_n := v_n - 1;
  end if;
  period_start := (v_anchor + make_interval(months => v_n)) at time zone 'UTC';
  period_end := (v_anchor + make_interval(months => v_n + 1)) at time zone 'UTC';
end
$$;
comment on function tokengate.period_at(timestamptz, timestamptz) is
  'Monthly period (UTC) containing a time, for an anchor: anchor + n months, clamped to month ends.';

/* ───────────────────────────── lookups ───────────────────────────── */

/* The account, share-locked so set_plan cannot change the plan under a running charge. */
create function tokengate._account(p_org_id uuid)
returns tokengate.accounts
language plpgsql
set search_path = ''
as $$
declare
  v_account tokengate.accounts;
begin
  perform tokengate._arg(p_org_id is not null, 'p_org_id', 'required');
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id for share;
  if not found then
    perform tokengate._raise('unknown_organization', jsonb_build_object('orgId', p_org_id));
  end if;
  return v_account;
end
$$;

/* The member's role, or not_a_member. */
create function tokengate._require_member(p_org_id uuid, p_user_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_role text;
begin
  perform tokengate._arg(p_user_id is not null, 'p_user_id', 'required');
  select m.role into v_role from tokengate.members m where m.org_id = p_org_id and m.user_id = p_user_id;
  if v_role is null then
    perform tokengate._raise('not_a_member', jsonb_build_object('orgId', p_org_id, 'userId', p_user_id));
  end if;
  return v_role;
end
$$;

/* Admin operations: a NULL actor is the server acting on its own (billing webhook, CLI); a user must be owner or admin. */
create function tokengate._require_admin(p_org_id uuid, p_actor_id uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_actor_id is not null and tokengate._require_member(p_org_id, p_actor_id) not in ('owner', 'admin') then
    perform tokengate._raise('admin_required', jsonb_build_object('orgId', p_org_id, 'userId', p_actor_id));
  end if;
end
$$;

create function tokengate._token_type(p_token_type text)
returns tokengate.token_types
language plpgsql
stable
set search_path = ''
as $$
declare
  v_type tokengate.token_types;
begin
  perform tokengate._arg(p_token_type is not null, 'p_token_type', 'required');
  select * into v_type from tokengate.token_types t where t.id = p_token_type and t.active;
  if not found then
    perform tokengate._raise('unknown_token_type', jsonb_build_object('tokenType', left(p_token_type, 100)));
  end if;
  return v_type;
end
$$;

create function tokengate._plan(p_plan_id text)
returns tokengate.plans
language plpgsql
stable
set search_path = ''
as $$
declare
  v_plan tokengate.plans;
begin
  perform tokengate._arg(p_plan_id is not null, 'p_plan_id', 'required');
  select * into v_plan from tokengate.plans p where p.id = p_plan_id;
  if not found then
    perform tokengate._raise('unknown_plan', jsonb_build_object('planId', left(p_plan_id, 100)));
  end if;
  return v_plan;
end
$$;

/* Tokens per period the plan grants for a type: 0 unless metered. */
create function tokengate._plan_allowance(p_plan tokengate.plans, p_token_type_id text)
returns int
language sql
stable
set search_path = ''
as $$
  select case when p_plan.access = 'metered' then coalesce((
    select pa.monthly_allowance from tokengate.plan_allowances pa
    where pa.plan_id = p_plan.id and pa.token_type_id = p_token_type_id
  ), 0) else 0 end
$$;

/* ───────────────────────────── idempotency ───────────────────────────── */

/*
  Claim an idempotency key inside the caller's transaction. Returns NULL when the caller should
  proceed (the key row is inserted, uncommitted: a concurrent duplicate waits on it and, if this
  transaction commits, replays it; if it rolls back, the duplicate proceeds). Otherwise returns
  the stored response, or raises idempotency_conflict when the parameters differ.
*/
create function tokengate._claim(p_org_id uuid, p_key text, p_operation text, p_params jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key tokengate.idempotency_keys;
begin
  insert into tokengate.idempotency_keys (org_id, key, operation, params, created_at)
  values (p_org_id, p_key, p_operation, p_params, tokengate.clock())
  on conflict do nothing;
  if found then
    return null;
  end if;
  select * into v_key from tokengate.idempotency_keys k where k.org_id = p_org_id and k.key = p_key;
  if v_key.operation <> p_operation or v_key.params <> p_params then
    perform tokengate._raise('idempotency_conflict', jsonb_build_object(
      'idempotencyKey', p_key, 'operation', v_key.operation));
  end if;
  return v_key.response || jsonb_build_object('replayed', true);
end
$$;

create function tokengate._remember(p_org_id uuid, p_key text, p_response jsonb)
returns jsonb
language sql
set search_path = ''
as $$
  update tokengate.idempotency_keys k set response = p_response
  where k.org_id = p_org_id and k.key = p_key;
  select p_response || jsonb_build_object('replayed', false);
$$;

/* ───────────────────────────── the one place buckets change ───────────────────────────── */

/*
  Apply a change to a locked bucket and append the matching ledger row. Returns the ledger id.

  Allowance is tracked as allowance_spent (taken this period, charged or held); what remains is
  always greatest(allowance - allowance_spent, 0), and the entry's allowance_delta is the change of
  that. p_allowance, when given, replaces the period's allowance (refresh, plan change).
  The CHECK constraints on buckets make any overspend a hard error rather than a negative balance.
*/
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
  p_allowance int default null
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
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
    updated_at = tokengate.clock()
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id
  returning * into v_bucket;

  insert into tokengate.ledger (
    org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
    allowance_after, purchased_after, held_after, period_start, user_id, reservation_id,
    idempotency_key, metadata, created_at
  ) values (
    p_org_id, p_token_type_id, p_kind, v_bucket.allowance_remaining - v_before, p_purchased_delta, p_held_delta, p_charged,
    v_bucket.allowance_remaining, v_bucket.purchased_remaining, v_bucket.held, v_bucket.period_start,
    p_user_id, p_reservation_id, p_idempotency_key, coalesce(p_metadata, '{}'), tokengate.clock()
  )
  returning id into v_id;
  return v_id;
end
$$;

/* Usage rollup and member counters, kept with every charge. */
create function tokengate._record_usage(
  p_org_id uuid, p_token_type_id text, p_user_id uuid, p_period_start timestamptz,
  p_charged bigint, p_events int, p_member_held_delta bigint
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  if p_events > 0 or p_charged > 0 then
    insert into tokengate.usage_daily as u (org_id, token_type_id, user_id, day, tokens, events)
    values (p_org_id, p_token_type_id, p_user_id, (tokengate.clock() at time zone 'UTC')::date, p_charged, p_events)
    on conflict (org_id, day, token_type_id, user_id)
    do update set tokens = u.tokens + excluded.tokens, events = u.events + excluded.events;
  end if;
  if p_charged <> 0 or p_member_held_delta <> 0 then
    insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used, held)
    values (p_org_id, p_user_id, p_token_type_id, p_period_start, p_charged, greatest(p_member_held_delta, 0))
    on conflict (org_id, user_id, token_type_id, period_start)
    do update set used = m.used + excluded.used, held = m.held + p_member_held_delta;
  end if;
end
$$;

/* ───────────────────────────── reservations ───────────────────────────── */

/*
  Resolve a pending reservation (bucket already locked): commit charges p_actual, release and
  expire refund everything.

  Refunds return held tokens to where they came from. Allowance held in an earlier period is not
  returned: that period's allowance has expired (returning it would mint tokens in the new one).
  Neither is allowance the plan no longer grants (after a downgrade): it is recorded as forfeited.

  Commit above the estimate (policy "cap"): the excess is charged from what is available,
  allowance first, and whatever cannot be covered is recorded as `uncharged` in the entry's
  metadata. The balance never goes negative.
*/
create function tokengate._resolve(
  p_reservation tokengate.reservations,
  p_kind text,
  p_actual int,
  p_user_id uuid,
  p_metadata jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  r tokengate.reservations := p_reservation;
  v_bucket tokengate.buckets;
  v_unlimited boolean;
  v_charged_a int := 0;
  v_charged_p int := 0;
  v_extra int := 0;
  v_extra_a bigint := 0;
  v_extra_p bigint := 0;
  v_refund_a bigint;
  v_refund_p bigint;
  v_spent_refund bigint;
  v_remaining_after_refund bigint;
  v_forfeited bigint := 0;
  v_uncharged int := 0;
  v_charged bigint;
  v_ledger_id bigint;
  v_status text := case p_kind when 'commit' then 'committed' when 'release' then 'released' else 'expired' end;
  v_result jsonb;
begin
  select * into v_bucket from tokengate.buckets b
  where b.org_id = r.org_id and b.token_type_id = r.token_type_id;
  select p.access = 'unlimited' into v_unlimited
  from tokengate.accounts a join tokengate.plans p on p.id = a.plan_id where a.org_id = r.org_id;

  if p_kind = 'commit' then
    v_charged_a := least(p_actual, r.held_allowance);
    v_charged_p := least(p_actual - v_charged_a, r.held_purchased);
    v_extra := p_actual - v_charged_a - v_charged_p;
  end if;
  v_refund_a := r.held_allowance - v_charged_a;
  v_refund_p := r.held_purchased - v_charged_p;

  -- Only allowance taken in this period goes back to this period.
  v_spent_refund := case when r.period_start is not distinct from v_bucket.period_start then v_refund_a else 0 end;
  v_remaining_after_refund := greatest(v_bucket.allowance - (v_bucket.allowance_spent - v_spent_refund), 0);
  v_forfeited := v_refund_a - (v_remaining_after_refund - v_bucket.allowance_remaining);
  v_refund_a := v_refund_a - v_forfeited;

  if v_extra > 0 then
    if v_unlimited then
      v_extra_a := 0;
      v_extra_p := 0;
    else
      v_extra_a := least(v_extra, v_remaining_after_refund);
      v_extra_p := least(v_extra - v_extra_a, v_bucket.purchased_remaining + v_refund_p);
      v_uncharged := v_extra - v_extra_a - v_extra_p;
    end if;
  end if;
  v_charged := v_charged_a + v_charged_p + v_extra - v_uncharged;

  v_ledger_id := tokengate._append(
    r.org_id, r.token_type_id, p_kind,
    v_extra_a - v_spent_refund, v_refund_p - v_extra_p,
    -(r.held_allowance + r.held_purchased)::bigint, v_charged,
    coalesce(p_user_id, case when p_kind = 'expire' then null else r.user_id end),
    r.id, null,
    coalesce(p_metadata, '{}') || jsonb_strip_nulls(jsonb_build_object(
      'estimate', r.estimate,
      'actual', p_actual,
      'uncharged', nullif(v_uncharged, 0),
      'forfeited', nullif(v_forfeited, 0))));

  -- The member's hold is released in the period it was taken; the charge counts in this one.
  perform tokengate._record_usage(r.org_id, r.token_type_id, r.user_id, r.period_start, 0, 0, -r.estimate);
  if p_kind = 'commit' then
    perform tokengate._record_usage(r.org_id, r.token_type_id, r.user_id, v_bucket.period_start, v_charged, 1, 0);
  end if;

  v_result := jsonb_build_object(
    'reservationId', r.id,
    'status', v_status,
    'tokenType', r.token_type_id,
    'estimate', r.estimate,
    'actual', p_actual,
    'charged', v_charged,
    'refunded', v_refund_a + v_refund_p,
    'uncharged', v_uncharged,
    'ledgerId', v_ledger_id);

  update tokengate.reservations x set
    status = v_status,
    actual = p_actual,
    charged = v_charged,
    resolved_at = tokengate.clock(),
    result = v_result
  where x.id = r.id;
  return v_result;
end
$$;

/* ───────────────────────────── touch: lock, expire, refresh ───────────────────────────── */

/*
  Lock the bucket (creating it on first use), expire its stale reservations, and refresh its
  period if the period has ended. Every operation on a bucket starts here, inside its own
  transaction, so a refresh is never granted twice and a balance is never read stale.
*/
create function tokengate._touch(p_account tokengate.accounts, p_token_type_id text)
returns tokengate.buckets
language plpgsql
set search_path = ''
as $$
declare
  v_bucket tokengate.buckets;
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

  for v_reservation in
    select * from tokengate.reservations x
    where x.org_id = p_account.org_id and x.token_type_id = p_token_type_id
      and x.status = 'pending' and x.expires_at <= v_now
    order by x.expires_at, x.id
    for update
  loop
    perform tokengate._resolve(v_reservation, 'expire', null, null, '{}');
  end loop;

  select * into v_bucket from tokengate.buckets b
  where b.org_id = p_account.org_id and b.token_type_id = p_token_type_id;

  if v_bucket.period_end is null or v_now >= v_bucket.period_end then
    select * into v_plan from tokengate.plans p where p.id = p_account.plan_id;
    v_allowance := tokengate._plan_allowance(v_plan, p_token_type_id);
    select * into v_period from tokengate.period_at(p_account.period_anchor, v_now);
    update tokengate.buckets b set
      period_start = v_period.period_start,
      period_end = v_period.period_end,
      used = 0
    where b.org_id = p_account.org_id and b.token_type_id = p_token_type_id;
    -- One entry: the unspent allowance of the old period expires, the new one is granted.
    perform tokengate._append(
      p_account.org_id, p_token_type_id, 'refresh',
      -v_bucket.allowance_spent, 0, 0, 0, null, null, null,
      jsonb_build_object(
        'planId', v_plan.id,
        'allowance', v_allowance,
        'expired', v_bucket.allowance_remaining,
        'periodEnd', v_period.period_end),
      v_allowance);
    select * into v_bucket from tokengate.buckets b
    where b.org_id = p_account.org_id and b.token_type_id = p_token_type_id;
  end if;
  return v_bucket;
end
$$;

/* ───────────────────────────── decisions and views ───────────────────────────── */

/*
  Why p_amount tokens cannot be spent now from a touched bucket by p_user_id, or NULL if they can.
  Order: blocked plan, member quota, balance (unlimited plans skip the balance).
*/
create function tokengate._denial(p_bucket tokengate.buckets, p_plan tokengate.plans, p_user_id uuid, p_amount bigint)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_quota int;
  v_member_spent bigint;
  v_available bigint := p_bucket.allowance_remaining + p_bucket.purchased_remaining;
begin
  if p_plan.access = 'blocked' then
    return jsonb_build_object('reason', 'plan_blocked', 'planId', p_plan.id, 'tokenType', p_bucket.token_type_id);
  end if;
  select q.monthly_quota into v_quota from tokengate.member_quotas q
  where q.org_id = p_bucket.org_id and q.user_id = p_user_id and q.token_type_id = p_bucket.token_type_id;
  if v_quota is not null then
    select coalesce(sum(m.used + m.held), 0) into v_member_spent from tokengate.member_usage m
    where m.org_id = p_bucket.org_id and m.user_id = p_user_id
      and m.token_type_id = p_bucket.token_type_id and m.period_start = p_bucket.period_start;
    if v_member_spent + p_amount > v_quota then
      return jsonb_build_object('reason', 'member_quota_exceeded', 'tokenType', p_bucket.token_type_id,
        'quota', v_quota, 'spent', v_member_spent, 'required', p_amount);
    end if;
  end if;
  if p_plan.access <> 'unlimited' and v_available < p_amount then
    return jsonb_build_object('reason', 'insufficient_tokens', 'tokenType', p_bucket.token_type_id,
      'available', v_available, 'required', p_amount, 'refreshesAt', p_bucket.period_end);
  end if;
  return null;
end
$$;

/* The wire shape of one bucket (camelCase, as the HTTP API returns it). */
create function tokengate._bucket_json(p_org_id uuid, p_token_type_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'tokenType', t.id,
    'name', t.name,
    'cost', t.cost,
    'access', p.access,
    'unlimited', p.access = 'unlimited',
    'blocked', p.access = 'blocked',
    'allowance', b.allowance,
    'allowanceRemaining', b.allowance_remaining,
    'purchased', b.purchased_remaining,
    'held', b.held,
    'used', b.used,
    'available', case when p.access = 'unlimited' then null else b.allowance_remaining + b.purchased_remaining end,
    'periodStart', b.period_start,
    'refreshesAt', b.period_end)
  from tokengate.buckets b
  join tokengate.token_types t on t.id = b.token_type_id
  join tokengate.accounts a on a.org_id = b.org_id
  join tokengate.plans p on p.id = a.plan_id
  where b.org_id = p_org_id and b.token_type_id = p_token_type_id
$$;
