/*
  Tokengate ledger — balances and stats in a few statements (issue 15, goal 4: stats p50 ≤ 5 ms).

  _balances() called three functions per token type — _touch (which locks the bucket), then
  _bucket_json, which calls _shared_now and _cost — and every one of them pins search_path, which
  costs ~200k instructions a call: ~3.3 ms for five types, most of stats()' time. Now:
    - one statement reads every bucket of the organization, builds the answer, and tells whether any
      bucket has due work (no bucket yet, a period that ended, grants that start or expire, holds
      that lapsed): all in one snapshot, with the transaction's clock;
    - only when something is due does it do what it always did: _touch every type (in id order),
      then build the answer again. A read of an up-to-date organization locks nothing.
  The answer is the same, key for key (the shared pool as _shared_now computes it, the cost as _cost).

  stats() read the organization's daily rollup four times (totals, per type, per day, per member)
  and once more per type for the forecast: now once for the range and once for the last 7 days.
*/

create or replace function tokengate._balances(p_org_id uuid)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  -- tokengate.clock(), inlined (a function call with SET costs more than this whole read).
  v_now timestamptz := coalesce(nullif(current_setting('tokengate.now', true), '')::timestamptz, now());
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type text;
  v_items jsonb;
  v_due boolean;
begin
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id;
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  for pass in 1..2 loop
    select coalesce(jsonb_agg(jsonb_build_object(
             'tokenType', t.id,
             'name', t.name,
             'cost', case when t.cost_from is null or b.period_start is null or b.period_start >= t.cost_from then t.cost
                          else tokengate._cost(t, b.period_start) end,
             'access', v_plan.access,
             'unlimited', v_plan.access = 'unlimited',
             'blocked', v_plan.access = 'blocked',
             'allowance', b.allowance,
             'allowanceRemaining', b.allowance_remaining,
             'purchased', b.purchased_remaining,
             'held', b.held,
             'used', b.used,
             'shared', s.shared,
             'available', case when v_plan.access = 'unlimited' then null else b.allowance_remaining + b.purchased_remaining + s.shared end,
             'periodStart', b.period_start,
             'refreshesAt', b.period_end)
           order by t.sort_order, t.id), '[]'),
           -- (No bucket yet reads as a null period_end.)
           coalesce(bool_or(
             b.period_end is null or v_now >= b.period_end or b.grants_due_at <= v_now
             or exists (select 1 from tokengate.reservations x
                        where x.org_id = p_org_id and x.token_type_id = t.id and x.status = 'pending' and x.expires_at <= v_now)), false)
    into v_items, v_due
    from tokengate.token_types t
    left join tokengate.buckets b on b.org_id = p_org_id and b.token_type_id = t.id
    -- The shared pool as its due work would leave it (tokengate._shared_now, inlined).
    cross join (
      select coalesce(sum(case when g.status = 'active' then g.remaining else g.amount end), 0)::bigint as shared
      from tokengate.grants g
      where g.org_id = p_org_id and g.token_type_id = '*'
        and (g.status = 'active' or (g.status = 'scheduled' and g.effective_at <= v_now))
        and (g.expires_at is null or g.expires_at > v_now)) s
    where t.active;
    exit when not v_due or pass = 2;
    -- Due work somewhere: as before, every type through _touch (it locks each bucket), then read again.
    for v_type in select t.id from tokengate.token_types t where t.active order by t.id loop
      perform tokengate._touch(v_account, v_type);
    end loop;
  end loop;
  return jsonb_build_object(
    'orgId', p_org_id,
    'plan', jsonb_build_object('id', v_plan.id, 'name', v_plan.name, 'access', v_plan.access),
    'periodAnchor', v_account.period_anchor,
    'tokenTypes', v_items);
end
$$;

create or replace function tokengate.stats(p_org_id uuid, p_user_id uuid, p_from date, p_to date)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_today date := (coalesce(nullif(current_setting('tokengate.now', true), '')::timestamptz, now()) at time zone 'UTC')::date;
  v_balances jsonb;
  v_result jsonb;
begin
  perform tokengate._arg(p_from is not null, 'p_from', 'required');
  perform tokengate._arg(p_to >= p_from and p_to - p_from <= 366, 'p_to', 'on or after p_from, at most 366 days later');
  perform tokengate._account(p_org_id);
  perform tokengate._require_member(p_org_id, p_user_id);
  v_balances := tokengate._balances(p_org_id);
  perform tokengate._roll_up(p_org_id);

  -- The range's rollup rows, read once; every breakdown is grouped from them.
  with u as materialized (
    select u.token_type_id, u.user_id, u.day, u.tokens, u.events
    from tokengate.usage_daily u where u.org_id = p_org_id and u.day between p_from and p_to
  ), by_day as (
    select u.day, u.token_type_id, sum(u.tokens) as tokens, sum(u.events) as events from u group by u.day, u.token_type_id
  ), week as (
    select u.token_type_id, sum(u.tokens) as week_tokens
    from tokengate.usage_daily u
    where u.org_id = p_org_id and u.day between v_today - 6 and v_today
    group by u.token_type_id
  )
  select jsonb_build_object(
    'orgId', p_org_id,
    'from', p_from,
    'to', p_to,
    'totals', (select jsonb_build_object('tokens', coalesce(sum(d.tokens), 0), 'events', coalesce(sum(d.events), 0)) from by_day d),
    'byType', coalesce((
      select jsonb_agg(jsonb_build_object('tokenType', s.token_type_id, 'tokens', s.tokens, 'events', s.events) order by s.token_type_id)
      from (select d.token_type_id, sum(d.tokens) as tokens, sum(d.events) as events from by_day d group by d.token_type_id) s), '[]'),
    'byDay', coalesce((
      select jsonb_agg(jsonb_build_object('day', d.day, 'tokenType', d.token_type_id, 'tokens', d.tokens, 'events', d.events) order by d.day, d.token_type_id)
      from by_day d), '[]'),
    'byMember', coalesce((
      select jsonb_agg(jsonb_build_object('userId', s.user_id, 'tokens', s.tokens, 'events', s.events) order by s.tokens desc, s.user_id)
      from (select u.user_id, sum(u.tokens) as tokens, sum(u.events) as events from u group by u.user_id) s), '[]'),
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
               coalesce(w.week_tokens, 0) as week_tokens,
               ((e.item ->> 'refreshesAt')::timestamptz at time zone 'UTC')::date as refreshes_on,
               case
                 when (e.item ->> 'unlimited')::boolean or (e.item ->> 'blocked')::boolean then null
                 when (e.item ->> 'available')::bigint = 0 then v_today
                 when coalesce(w.week_tokens, 0) = 0 then null
                 when (e.item ->> 'available')::numeric * 7 / w.week_tokens > 36500 then null
                 -- available / (week_tokens / 7), in exact integer arithmetic
                 else v_today + ceil((e.item ->> 'available')::bigint * 7.0 / w.week_tokens)::int
               end as runs_out_on
        from jsonb_array_elements(v_balances -> 'tokenTypes') with ordinality as e(item, ord)
        left join week w on w.token_type_id = e.item ->> 'tokenType'
      ) f), '[]'))
  into v_result;
  return v_result;
end
$$;
