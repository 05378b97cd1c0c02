/*
  Tokengate ledger — the operator's view: the app's operators look across organizations.

  Four read functions for the server only (never a member, never an org admin: they see every
  organization), each served by a summary table instead of the ledger:
    - operator_near_exhaustion:  buckets of metered plans whose available tokens are below a share
                                 of the period's allowance, or zero (tokengate.buckets);
    - operator_expiring_grants:  active grants with tokens left that expire soon (tokengate.grants,
                                 on grants_expires_at_idx);
    - operator_top, operator_spikes: usage across organizations, from the per-organization rollups
                                 of ..._operator_rollup.sql (next migration).

  Why no ledger scans: the ledger grows with every charge (millions of rows); buckets have one row
  per organization and type, and grants one per grant.
*/

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
