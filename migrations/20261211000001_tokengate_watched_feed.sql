/*
  Tokengate ledger — the change feed notifies only organizations someone watches.

  Postgres serialises the commits of transactions that called pg_notify (one cluster-wide lock from
  pre-commit until the commit record is flushed: no group commit), so a feed that notifies from every
  charge caps charge throughput near one WAL flush per charge, whether or not any process listens
  (docs/scaling.md measured ~38 % of deduct's throughput at 8 clients). Now a process that fans the
  feed out (createChangeHub) takes a lease on each organization it has subscribers for, and a change
  notifies only when its organization holds a live lease:

    tokengate.watch(org, watcher, seconds)          a lease, and a barrier (below); answers { orgId, expiresAt }
    tokengate.renew_watches(watcher, orgs, seconds) extends this watcher's leases; answers the orgs whose lease had lapsed
    tokengate.unwatch(watcher, orgs)                drops them

  tokengate.live (a setting: alter database … set, or per session) chooses:
    'watched' (the default; unset is the same)  notify a change when its organization is watched
    'all'                                       notify every change (the feed before this migration:
                                                for listeners that LISTEN on tokengate_changes
                                                themselves without taking leases)
    'off'                                       never notify
  Supabase Realtime broadcasts (the ledger trigger of ..._live.sql) are not affected: every change
  is still broadcast to its organization's private topic.

  No change is lost by a subscriber that starts watching while changes are in flight. Each change
  takes a shared advisory lock on its organization (key 1952934006 and hashtext(org_id)) before the statement that
  looks for a lease, and holds it to its commit; watch() takes the same lock exclusively after
  writing its lease, and commits. So for every change either
    - it took the shared lock first: watch() waits for it to commit, so the subscriber's snapshot,
      read after watch() answers, includes it; or
    - watch() committed first: the change's lease lookup runs in a later snapshot, sees the lease,
      and notifies.
  (Changes run at READ COMMITTED, as every store calls them: each statement takes a new snapshot.)
  deduct takes the lock in its first statement, before any row lock. The other paths take it in
  _signal, after their row locks; a watch() that arrives between could queue a change behind a
  change that waits for its row: Postgres resolves such a wait-queue cycle by reordering the queue
  after deadlock_timeout, without an error.
*/

create table tokengate.watches (
  org_id     uuid not null,
  -- A process's hub: random per hub, so that each process's lease is its own.
  watcher    uuid not null,
  expires_at timestamptz not null,
  primary key (org_id, watcher)
);
alter table tokengate.watches enable row level security;
revoke all on tokengate.watches from public, anon, authenticated, service_role;
grant select on tokengate.watches to service_role;
comment on table tokengate.watches is
  'Leases of the change feed: a change notifies (pg_notify) only when its organization has a live lease. Server-only.';

/*
  Watch an organization's changes for p_seconds (10 to 3600) as p_watcher: every change that commits
  after this call answers notifies, and every change in flight when it was called has committed.
  Server only (the change hub calls it for the first subscriber of an organization).

  select tokengate.watch(:org, :hub, 120);
*/
create function tokengate.watch(p_org_id uuid, p_watcher uuid, p_seconds int default 120)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_expires timestamptz;
begin
  perform tokengate._arg(p_org_id is not null, 'p_org_id', 'required');
  perform tokengate._arg(p_watcher is not null, 'p_watcher', 'required');
  perform tokengate._arg(p_seconds between 10 and 3600, 'p_seconds', '10 to 3600');
  insert into tokengate.watches as w (org_id, watcher, expires_at)
  values (p_org_id, p_watcher, now() + make_interval(secs => p_seconds))
  on conflict (org_id, watcher) do update set expires_at = greatest(w.expires_at, excluded.expires_at)
  returning w.expires_at into v_expires;
  -- The barrier: wait for the changes of this organization in flight (they hold the lock shared).
  perform pg_advisory_xact_lock(1952934006, hashtext(p_org_id::text));
  return jsonb_build_object('orgId', p_org_id, 'expiresAt', v_expires);
end
$$;

/*
  Extend p_watcher's leases on p_org_ids by p_seconds (10 to 3600), dropping every lapsed lease.
  Answers the organizations whose lease (of this watcher) was missing or had lapsed: changes may have
  gone unnotified, so the caller calls watch() for them and has their subscribers resynchronise.

  select tokengate.renew_watches(:hub, array[:org1, :org2]::uuid[], 120);
*/
create function tokengate.renew_watches(p_watcher uuid, p_org_ids uuid[], p_seconds int default 120)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_lapsed jsonb;
begin
  perform tokengate._arg(p_watcher is not null, 'p_watcher', 'required');
  perform tokengate._arg(p_org_ids is not null and cardinality(p_org_ids) <= 100000, 'p_org_ids', 'an array of at most 100000 ids');
  perform tokengate._arg(p_seconds between 10 and 3600, 'p_seconds', '10 to 3600');
  select coalesce(jsonb_agg(o.id order by o.id), '[]') into v_lapsed
  from (select distinct x as id from unnest(p_org_ids) x where x is not null) o
  where not exists (select 1 from tokengate.watches w
                    where w.org_id = o.id and w.watcher = p_watcher and w.expires_at > now());
  delete from tokengate.watches w where w.expires_at <= now();
  update tokengate.watches w set expires_at = now() + make_interval(secs => p_seconds)
  where w.watcher = p_watcher and w.org_id = any (p_org_ids);
  return v_lapsed;
end
$$;

/*
  Stop p_watcher's leases on p_org_ids (all of them when null). Answers how many were dropped.

  select tokengate.unwatch(:hub, null);
*/
create function tokengate.unwatch(p_watcher uuid, p_org_ids uuid[] default null)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count int;
begin
  perform tokengate._arg(p_watcher is not null, 'p_watcher', 'required');
  delete from tokengate.watches w where w.watcher = p_watcher and (p_org_ids is null or w.org_id = any (p_org_ids));
  get diagnostics v_count = row_count;
  return to_jsonb(v_count);
end
$$;

revoke all on function tokengate.watch(uuid, uuid, int), tokengate.renew_watches(uuid, uuid[], int), tokengate.unwatch(uuid, uuid[])
  from public, anon, authenticated;
grant execute on function tokengate.watch(uuid, uuid, int), tokengate.renew_watches(uuid, uuid[], int),
  tokengate.unwatch(uuid, uuid[]) to service_role;

/* _signal (every entry but deduct's): notify through the lease. */
do $do$
declare
  v_edit record;
  v_def text;
  v_count int;
begin
  for v_edit in
    select * from (values
      ('tokengate._signal(tokengate.buckets, text, bigint, bigint, uuid, uuid)', 1,
       E'  if current_setting(\'tokengate.live\', true) is distinct from \'off\' then\n    perform pg_notify(',
       -- Inline, not a function with SET search_path (which costs ~200k instructions a call): the
       -- feed lock, then the lease, looked for in the next statement's (later) snapshot.
       E'  if current_setting(\'tokengate.live\', true) is distinct from \'off\' then\n    perform pg_advisory_xact_lock_shared(1952934006, hashtext(p_bucket.org_id::text));\n  end if;\n  if current_setting(\'tokengate.live\', true) = \'all\'\n     or (current_setting(\'tokengate.live\', true) is distinct from \'off\'\n         and exists (select 1 from tokengate.watches w where w.org_id = p_bucket.org_id and w.expires_at > now())) then\n    perform pg_notify('),
      -- deduct: the feed lock first (before any row lock: it is this organization's first lock),
      -- in the statement that locks the shared pool; the lease in its read statement.
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 1,
       E'  select case when b.grants_due_at <= v_now then -1 else b.purchased_remaining end into v_shared\n  from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = \'*\' for update;\n',
       E'  --    (With the change feed\'s lock, shared, unless the feed is off: see the header of ..._watched_feed.sql.)\n  select s.v into v_shared\n  from (select case when v_live = \'off\' then null else pg_advisory_xact_lock_shared(1952934006, hashtext(p_org_id::text)) end) f\n  left join lateral (select case when b.grants_due_at <= v_now then -1 else b.purchased_remaining end as v\n                     from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = \'*\' for update) s on true;\n'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 2,
       E'                   and x.expires_at <= v_now) as lapsed\n',
       E'                   and x.expires_at <= v_now) as lapsed,\n         -- The change feed: a lease, looked for in this snapshot (after the feed lock above).\n         v_live = \'all\' or (v_live is distinct from \'off\'\n           and exists (select 1 from tokengate.watches w where w.org_id = p_org_id and w.expires_at > now())) as notify\n'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 3,
       E'  if current_setting(\'tokengate.live\', true) is distinct from \'off\' then\n    perform pg_notify(',
       E'  if v_look.notify then\n    perform pg_notify('),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 4,
       E'  v_shared bigint;\nbegin',
       E'  v_shared bigint;\n  v_live text := current_setting(\'tokengate.live\', true);\nbegin')
    ) as e(fn, step, old, new)
    order by fn, step
  loop
    v_def := pg_get_functiondef(v_edit.fn::regprocedure);
    v_count := (length(v_def) - length(replace(v_def, v_edit.old, ''))) / length(v_edit.old);
    if v_count <> 1 then
      raise exception '%: fragment % found % times', v_edit.fn, v_edit.step, v_count;
    end if;
    execute replace(v_def, v_edit.old, v_edit.new);
  end loop;
end
$do$;
