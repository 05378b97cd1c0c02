/*
  Tokengate ledger — idempotency records are kept for a window, not forever.

  tokengate.prune_idempotency_keys() deletes the idempotency records (and finished guarded-run
  records) older than the window, a batch at a time. Within the window a repeated key replays (or
  answers request_completed); after it, the same key is a new request. Stripe keeps keys for 24
  hours; the default here is 30 days. The ledger itself is never pruned: every entry keeps its key.

  select cron.schedule('tokengate-prune-keys', '17 3 * * *', 'select tokengate.prune_idempotency_keys()');
*/
create function tokengate.prune_idempotency_keys(p_older_than interval default '30 days', p_limit int default 10000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_cutoff timestamptz;
  v_keys int;
  v_runs int;
begin
  perform tokengate._arg(p_older_than >= interval '1 hour', 'p_older_than', 'at least 1 hour');
  perform tokengate._arg(p_limit between 1 and 1000000, 'p_limit', '1 to 1000000');
  v_cutoff := tokengate.clock() - p_older_than;
  with old as (
    select k.org_id, k.key from tokengate.idempotency_keys k where k.created_at < v_cutoff limit p_limit
  )
  delete from tokengate.idempotency_keys k using old where k.org_id = old.org_id and k.key = old.key;
  get diagnostics v_keys = row_count;
  -- A guarded run still holding tokens keeps its record, however old.
  with old as (
    select g.org_id, g.key from tokengate.guard_requests g
    where g.updated_at < v_cutoff and g.state in ('completed', 'failed') limit p_limit
  )
  delete from tokengate.guard_requests g using old where g.org_id = old.org_id and g.key = old.key;
  get diagnostics v_runs = row_count;
  return jsonb_build_object('keys', v_keys, 'guardRequests', v_runs, 'before', v_cutoff);
end
$$;
comment on function tokengate.prune_idempotency_keys(interval, int) is
  'Delete idempotency and finished guarded-run records older than the window (default 30 days), up to p_limit of each.';

create index idempotency_keys_created_at_idx on tokengate.idempotency_keys (created_at);
create index guard_requests_updated_at_idx on tokengate.guard_requests (updated_at) where state <> 'running';

revoke execute on function tokengate.prune_idempotency_keys(interval, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.prune_idempotency_keys(interval, int) to service_role;
