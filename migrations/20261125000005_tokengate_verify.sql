/*
  Tokengate ledger — reconciliation.

  tokengate.verify_ledger() recomputes every bucket from its ledger and reports each difference.
  An empty array means the ledger reconciles. Run it from a monitoring job; the test suites run it
  after every step of their simulations.
*/

create function tokengate.verify_ledger(p_org_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with sums as (
    select l.org_id, l.token_type_id,
           sum(l.allowance_delta) as allowance, sum(l.purchased_delta) as purchased,
           sum(l.held_delta) as held, sum(l.charged) filter (where l.period_start = b.period_start) as used,
           count(*) filter (where l.kind in ('deduct', 'commit')) as events,
           sum(l.charged) as charged
    from tokengate.ledger l
    join tokengate.buckets b on b.org_id = l.org_id and b.token_type_id = l.token_type_id
    where p_org_id is null or l.org_id = p_org_id
    group by l.org_id, l.token_type_id
  ),
  running as (
    select l.org_id, l.token_type_id, l.id, l.allowance_after, l.purchased_after, l.held_after,
           sum(l.allowance_delta) over w as allowance, sum(l.purchased_delta) over w as purchased,
           sum(l.held_delta) over w as held,
           row_number() over (partition by l.org_id, l.token_type_id order by l.id desc) as newest
    from tokengate.ledger l
    where p_org_id is null or l.org_id = p_org_id
    window w as (partition by l.org_id, l.token_type_id order by l.id)
  ),
  pending as (
    select x.org_id, x.token_type_id, sum(x.held_allowance + x.held_purchased) as held
    from tokengate.reservations x
    where x.status = 'pending' and (p_org_id is null or x.org_id = p_org_id)
    group by x.org_id, x.token_type_id
  ),
  member_holds as (
    select x.org_id, x.user_id, x.token_type_id, x.period_start, sum(x.estimate) as held
    from tokengate.reservations x
    where x.status = 'pending' and (p_org_id is null or x.org_id = p_org_id)
    group by 1, 2, 3, 4
  ),
  rollup as (
    select u.org_id, u.token_type_id, sum(u.tokens) as tokens, sum(u.events) as events
    from tokengate.usage_daily u
    where p_org_id is null or u.org_id = p_org_id
    group by u.org_id, u.token_type_id
  ),
  problems as (
    select jsonb_build_object('check', 'bucket_equals_ledger_sum', 'orgId', b.org_id, 'tokenType', b.token_type_id,
             'bucket', jsonb_build_object('allowanceRemaining', b.allowance_remaining, 'purchased', b.purchased_remaining, 'held', b.held, 'used', b.used),
             'ledger', jsonb_build_object('allowanceRemaining', s.allowance, 'purchased', s.purchased, 'held', s.held, 'used', coalesce(s.used, 0))) as problem
    from tokengate.buckets b
    left join sums s on s.org_id = b.org_id and s.token_type_id = b.token_type_id
    where (p_org_id is null or b.org_id = p_org_id)
      and (b.allowance_remaining, b.purchased_remaining, b.held, b.used)
          is distinct from (coalesce(s.allowance, 0), coalesce(s.purchased, 0), coalesce(s.held, 0), coalesce(s.used, 0))
    union all
    select jsonb_build_object('check', 'entry_after_equals_running_sum', 'orgId', r.org_id, 'tokenType', r.token_type_id, 'ledgerId', r.id)
    from running r
    where (r.allowance_after, r.purchased_after, r.held_after) is distinct from (r.allowance, r.purchased, r.held)
    union all
    select jsonb_build_object('check', 'held_equals_pending_reservations', 'orgId', b.org_id, 'tokenType', b.token_type_id,
             'held', b.held, 'pending', coalesce(p.held, 0))
    from tokengate.buckets b
    left join pending p on p.org_id = b.org_id and p.token_type_id = b.token_type_id
    where (p_org_id is null or b.org_id = p_org_id) and b.held <> coalesce(p.held, 0)
    union all
    select jsonb_build_object('check', 'member_held_equals_pending_estimates', 'orgId', m.org_id, 'userId', m.user_id,
             'tokenType', m.token_type_id, 'held', m.held, 'pending', coalesce(h.held, 0))
    from tokengate.member_usage m
    left join member_holds h using (org_id, user_id, token_type_id, period_start)
    where (p_org_id is null or m.org_id = p_org_id) and m.held <> coalesce(h.held, 0)
    union all
    select jsonb_build_object('check', 'usage_rollup_equals_charges', 'orgId', s.org_id, 'tokenType', s.token_type_id,
             'rollupTokens', coalesce(u.tokens, 0), 'ledgerCharged', s.charged,
             'rollupEvents', coalesce(u.events, 0), 'ledgerEvents', s.events)
    from sums s
    left join rollup u on u.org_id = s.org_id and u.token_type_id = s.token_type_id
    where (coalesce(u.tokens, 0), coalesce(u.events, 0)) is distinct from (s.charged, s.events)
  )
  select coalesce(jsonb_agg(problem), '[]') from problems
$$;
comment on function tokengate.verify_ledger(uuid) is
  'Recompute buckets, holds and usage rollups from the ledger; returns the differences ([] = reconciled).';

revoke execute on function tokengate.verify_ledger(uuid) from public, anon, authenticated;
grant execute on function tokengate.verify_ledger(uuid) to service_role;
