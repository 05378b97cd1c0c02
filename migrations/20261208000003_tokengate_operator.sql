/*
  Tokengate ledger — the operator's view: the app's operators look across organizations.

  Four read functions for the server only (never a member, never an org admin: they see every
  organization), each served by a summary table instead of the ledger:
    - operator_top:              top organizations by usage per token type over a range of days
                                 (tokengate.usage_daily, brought up to date first as stats() does);
    - operator_near_exhaustion:  buckets of metered plans whose available tokens are below a share
                                 of the period's allowance, or zero (tokengate.buckets);
    - operator_spikes:           an organization's usage of a type on one day against its own
                                 trailing daily average (tokengate.usage_daily);
    - operator_expiring_grants:  active grants with tokens left that expire soon (tokengate.grants,
                                 on grants_expires_at_idx).

  Why no ledger scans: the ledger grows with every charge (millions of rows); usage_daily has one
  row per organization, type, member and day, buckets one per organization and type, and grants
  one per grant. The only ledger access is the rollup's catch-up (tokengate.roll_up_usage), which
  reads only entries past each bucket's watermark: one index probe per bucket when current.
*/

-- Operators read usage by day across organizations (top, spikes): the primary key starts with
-- org_id, so without this index a range of days reads every organization's history. Covering, so
-- the aggregates are index-only scans on a vacuumed table.
create index usage_daily_day_idx on tokengate.usage_daily (day) include (org_id, token_type_id, tokens, events, user_id);

/*
  Bring usage_daily up to date for every organization with charges not rolled up yet, as stats()
  does for its one organization, so the operator's figures are exact. When the app schedules
  tokengate.roll_up_usage() this finds nothing to do (one index probe per bucket).
*/
create function tokengate._operator_roll_up()
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  -- roll_up_usage takes at most 100000 organizations per call; it returns fewer once none is left.
  while tokengate.roll_up_usage(100000) = 100000 loop
  end loop;
end
$$;
revoke execute on function tokengate._operator_roll_up() from public, anon, authenticated, service_role;

/*
  Top organizations by tokens charged per token type over the UTC days [p_from, p_to] (at most
  366 days), p_limit per type (1 to 1000), from the usage rollup. p_token_type null: every type,
  each with its own ranking. Ties rank by organization id, so the answer is deterministic.

  → [{ tokenType, rank, orgId, planId, tokens, events, members }] ordered by tokenType, rank.
  members: how many distinct members charged in the range.

  select tokengate.operator_top('2026-11-01', '2026-11-30', 'quest_generation', 10);
*/
create function tokengate.operator_top(p_from date, p_to date, p_token_type text default null, p_limit int default 10)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result jsonb;
begin
  perform tokengate._arg(p_from is not null, 'p_from', 'required');
  perform tokengate._arg(p_to >= p_from and p_to - p_from <= 366, 'p_to', 'on or after p_from, at most 366 days later');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  if p_token_type is not null and not exists (select 1 from tokengate.token_types t where t.id = p_token_type) then
    perform tokengate._raise('unknown_token_type', jsonb_build_object('tokenType', p_token_type));
  end if;
  perform tokengate._operator_roll_up();

  with s as (
    select u.token_type_id, u.org_id, sum(u.tokens) as tokens, sum(u.events) as events, count(distinct u.user_id) as members
    from tokengate.usage_daily u
    where u.day between p_from and p_to and (p_token_type is null or u.token_type_id = p_token_type)
    group by u.token_type_id, u.org_id
  ), r as (
    select s.*, row_number() over (partition by s.token_type_id order by s.tokens desc, s.org_id) as rank
    from s
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'tokenType', r.token_type_id, 'rank', r.rank, 'orgId', r.org_id, 'planId', a.plan_id,
           'tokens', r.tokens, 'events', r.events, 'members', r.members)
         order by r.token_type_id, r.rank), '[]')
  into v_result
  from r
  join tokengate.accounts a on a.org_id = r.org_id
  where r.rank <= p_limit;
  return v_result;
end
$$;
comment on function tokengate.operator_top(date, date, text, int) is
  'Operators: top organizations by tokens charged per token type over a range of UTC days, from the usage rollup. Server only.';
revoke execute on function tokengate.operator_top(date, date, text, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.operator_top(date, date, text, int) to service_role;

/*
  Buckets of organizations on metered plans that are exhausted (nothing available) or whose
  available tokens (allowance left + purchased) are below p_percent (1 to 100) of the period's
  allowance, at most p_limit (1 to 1000), most exhausted first. Buckets whose period has ended are
  left out: their next use refreshes them (a new allowance). Blocked and unlimited plans never run
  out, so they are not listed.

  → [{ orgId, planId, tokenType, allowance, allowanceRemaining, purchased, held, available,
       percentLeft (available as a % of the allowance, 1 decimal; null when the allowance is 0),
       periodEnd }]

  select tokengate.operator_near_exhaustion(10, 50);
*/
create function tokengate.operator_near_exhaustion(p_percent int default 10, p_limit int default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_result jsonb;
begin
  perform tokengate._arg(p_percent between 1 and 100, 'p_percent', '1 to 100');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  with n as (
    select b.org_id, a.plan_id, b.token_type_id, b.allowance, b.allowance_remaining, b.purchased_remaining, b.held,
           b.allowance_remaining + b.purchased_remaining as available, b.period_end
    from tokengate.buckets b
    join tokengate.accounts a on a.org_id = b.org_id
    join tokengate.plans p on p.id = a.plan_id
    where p.access = 'metered'
      and b.period_end > v_now
      -- (integer arithmetic: available / allowance < p_percent / 100, exactly)
      and (b.allowance_remaining + b.purchased_remaining = 0
           or (b.allowance_remaining + b.purchased_remaining) * 100 < p_percent::bigint * b.allowance)
    order by (b.allowance_remaining + b.purchased_remaining)::numeric / nullif(b.allowance, 0) nulls first,
             b.allowance_remaining + b.purchased_remaining, b.org_id, b.token_type_id
    limit p_limit
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'orgId', n.org_id, 'planId', n.plan_id, 'tokenType', n.token_type_id, 'allowance', n.allowance,
           'allowanceRemaining', n.allowance_remaining, 'purchased', n.purchased_remaining, 'held', n.held,
           'available', n.available,
           'percentLeft', case when n.allowance = 0 then null else round(n.available * 100.0 / n.allowance, 1) end,
           'periodEnd', n.period_end)
         order by n.available::numeric / nullif(n.allowance, 0) nulls first, n.available, n.org_id, n.token_type_id), '[]')
  into v_result
  from n;
  return v_result;
end
$$;
comment on function tokengate.operator_near_exhaustion(int, int) is
  'Operators: metered buckets with nothing available or less than a percentage of the allowance, from tokengate.buckets. Server only.';
revoke execute on function tokengate.operator_near_exhaustion(int, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.operator_near_exhaustion(int, int) to service_role;

/*
  Unusual spikes (the abuse watch): organizations whose tokens of a type charged on the UTC day
  p_day are at least p_min_tokens (0 to 1e9) and more than p_factor (1 to 1000) times their own
  average over the p_window_days (1 to 90) days before it — days without usage count as 0, so usage
  from nothing (average 0) is a spike once it reaches p_min_tokens. Largest ratio first (no average
  first), at most 1000 rows.

  → [{ orgId, planId, tokenType, day, tokens, trailingAverage (2 decimals), ratio (2 decimals;
       null when the average is 0) }]

  select tokengate.operator_spikes('2026-11-30', 7, 3, 100);
*/
create function tokengate.operator_spikes(p_day date, p_window_days int default 7, p_factor numeric default 3, p_min_tokens int default 100)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result jsonb;
begin
  perform tokengate._arg(p_day is not null, 'p_day', 'required');
  perform tokengate._arg(p_window_days between 1 and 90, 'p_window_days', '1 to 90');
  perform tokengate._arg(p_factor between 1 and 1000, 'p_factor', '1 to 1000');
  perform tokengate._arg(p_min_tokens between 0 and 1000000000, 'p_min_tokens', '0 to 1000000000');
  perform tokengate._operator_roll_up();

  with d as (
    -- The day's usage (usage_daily_day_idx), then each candidate's own history (the primary key).
    select u.org_id, u.token_type_id, sum(u.tokens) as tokens
    from tokengate.usage_daily u
    where u.day = p_day
    group by u.org_id, u.token_type_id
    having sum(u.tokens) >= greatest(p_min_tokens, 1)
  ), s as (
    select d.org_id, d.token_type_id, d.tokens, w.total / p_window_days::numeric as average
    from d
    cross join lateral (
      select coalesce(sum(h.tokens), 0) as total from tokengate.usage_daily h
      where h.org_id = d.org_id and h.token_type_id = d.token_type_id
        and h.day >= p_day - p_window_days and h.day < p_day) w
  ), x as (
    select s.*, a.plan_id from s join tokengate.accounts a on a.org_id = s.org_id
    where s.tokens > p_factor * s.average
    order by s.average = 0 desc, s.tokens / nullif(s.average, 0) desc, s.tokens desc, s.org_id, s.token_type_id
    limit 1000
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'orgId', x.org_id, 'planId', x.plan_id, 'tokenType', x.token_type_id, 'day', p_day, 'tokens', x.tokens,
           'trailingAverage', round(x.average, 2),
           'ratio', case when x.average = 0 then null else round(x.tokens / x.average, 2) end)
         order by x.average = 0 desc, x.tokens / nullif(x.average, 0) desc, x.tokens desc, x.org_id, x.token_type_id), '[]')
  into v_result
  from x;
  return v_result;
end
$$;
comment on function tokengate.operator_spikes(date, int, numeric, int) is
  'Operators: a day''s usage per organization and type against its own trailing daily average (abuse watch), from the usage rollup. Server only.';
revoke execute on function tokengate.operator_spikes(date, int, numeric, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.operator_spikes(date, int, numeric, int) to service_role;

/*
  Active grants with tokens left whose expiry falls within p_within (1 minute to 366 days) from
  now, soonest first, at most p_limit (1 to 1000). A grant already past its expiry but not swept
  yet (expiry is lazy) is listed too, with overdue: true — its tokens are lost at the next charge
  or sweep.

  → [{ grantId, orgId, planId, tokenType, source, amount, remaining, priority, expiresAt,
       overdue, createdAt }]

  select tokengate.operator_expiring_grants(interval '7 days', 100);
*/
create function tokengate.operator_expiring_grants(p_within interval default interval '7 days', p_limit int default 100)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_result jsonb;
begin
  perform tokengate._arg(p_within between interval '1 minute' and interval '366 days', 'p_within', '1 minute to 366 days');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  with g as (
    -- grants_expires_at_idx (partial: status = 'active'), read in expiry order up to the limit.
    select g.id, g.org_id, g.token_type_id, g.source, g.amount, g.remaining, g.priority, g.expires_at, g.created_at
    from tokengate.grants g
    where g.status = 'active' and g.expires_at <= v_now + p_within and g.remaining > 0
    order by g.expires_at, g.org_id, g.id
    limit p_limit
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'grantId', g.id, 'orgId', g.org_id, 'planId', a.plan_id, 'tokenType', g.token_type_id, 'source', g.source,
           'amount', g.amount, 'remaining', g.remaining, 'priority', g.priority, 'expiresAt', g.expires_at,
           'overdue', g.expires_at <= v_now, 'createdAt', g.created_at)
         order by g.expires_at, g.org_id, g.id), '[]')
  into v_result
  from g
  join tokengate.accounts a on a.org_id = g.org_id;
  return v_result;
end
$$;
comment on function tokengate.operator_expiring_grants(interval, int) is
  'Operators: active grants with tokens left expiring within an interval (or overdue for the sweep), from tokengate.grants. Server only.';
revoke execute on function tokengate.operator_expiring_grants(interval, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.operator_expiring_grants(interval, int) to service_role;
