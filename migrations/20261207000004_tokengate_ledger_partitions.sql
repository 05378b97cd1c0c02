/*
  Tokengate ledger — monthly partitions, an archive path, and keys that lead with org_id.

  1. tokengate.ledger becomes a table partitioned by month of created_at (native range
     partitioning). Partitions live in the schema tokengate_partitions, which no client role may
     use: members read the ledger only through tokengate.ledger and its RLS policy. A DEFAULT
     partition takes any entry whose month has no partition yet, so a charge never fails for want
     of one. tokengate.create_ledger_partitions() makes the current month's and the next months'
     partitions (schedule it daily or monthly; the migration runs it once) and moves entries that
     landed in the default partition into their month's partition.
  2. Primary key (org_id, id, created_at): org_id first (a distributed Postgres can place each
     organization's ledger on one node), created_at because a partitioned table's unique keys must
     include the partition key. It replaces the (org_id, id) and (org_id, token_type_id, id)
     indexes. The unique index that granted a period's allowance once is gone (it could not be unique across partitions): the refresh
     happens under the bucket's row lock, which is what makes it once.
  3. tokengate.archive_ledger_partition(month) (server only): for a month older than the previous
     one, rolls usage up, adds the month's per-bucket totals to tokengate.ledger_archived, and
     detaches the partition as tokengate_partitions.archived_ledger_YYYY_MM — a plain table the
     operator dumps (pg_dump -t) to cold storage and drops. verify_ledger() reconciles the live
     entries together with the archived totals.

  Existing entries keep their ids; the identity continues after the largest.
*/

create schema tokengate_partitions;
revoke all on schema tokengate_partitions from public;
comment on schema tokengate_partitions is
  'Tokengate: the ledger''s monthly partitions and archived months. No client role may use it; read the ledger through tokengate.ledger.';

-- 1. The old table aside (with its indexes, so their names are free), under an exclusive lock.
lock table tokengate.ledger in access exclusive mode;
alter table tokengate.ledger set schema tokengate_partitions;
alter table tokengate_partitions.ledger rename to ledger_before_partitions;

create table tokengate.ledger (
  id              bigint generated always as identity,
  org_id          uuid not null,
  token_type_id   text not null,
  kind            tokengate.ledger_kind not null,
  -- Change of available tokens (allowance_delta + purchased_delta).
  amount          bigint generated always as (allowance_delta + purchased_delta) stored,
  allowance_delta bigint not null default 0,
  purchased_delta bigint not null default 0,
  held_delta      bigint not null default 0,
  -- Tokens consumed as usage by this entry (deduct, commit). Recorded on unlimited plans too.
  charged         tokengate.nonnegative_bigint not null default 0,
  allowance_after int not null,
  purchased_after bigint not null,
  held_after      bigint not null,
  period_start    timestamptz not null,
  user_id         uuid,
  reservation_id  uuid,
  idempotency_key text,
  metadata        jsonb not null default '{}',
  created_at      timestamptz not null,
  -- sha256(the bucket's previous entry's chain || this entry's content): see tokengate._chain.
  chain           bytea,
  primary key (org_id, id, created_at)
) partition by range (created_at);
-- No (org_id, token_type_id, id) index: a charge's entry lands on a random leaf of every index
-- that leads with org_id (a full-page image in the WAL after each checkpoint); without this one,
-- spread charges at 8 clients went from ×0.39 to ×0.52 of the floor. Readers of one bucket's
-- entries (the usage roll-up, verify_ledger, a quota backfill) scan the organization's entries by
-- the primary key and filter the type.
create index ledger_reservation_idx on tokengate.ledger (reservation_id) where reservation_id is not null;
comment on table tokengate.ledger is
  'Append-only audit trail: one row per change of a bucket, with the deltas and the balances after. UPDATE, DELETE and TRUNCATE raise. Partitioned by month of created_at.';

create table tokengate_partitions.ledger_default partition of tokengate.ledger default;

create trigger ledger_is_append_only
  before update or delete on tokengate.ledger
  for each row execute function tokengate._ledger_is_append_only();
create trigger ledger_is_never_truncated
  before truncate on tokengate.ledger
  for each statement execute function tokengate._ledger_is_append_only();

alter table tokengate.ledger enable row level security;
create policy "Members can read their organizations' ledger" on tokengate.ledger
  for select to authenticated using (org_id in (select tokengate_private.my_org_ids()));
revoke all on tokengate.ledger from public, anon, authenticated, service_role;
grant select on tokengate.ledger to authenticated, service_role;

/* Per archived month and bucket period: what the detached entries added up to. */
create table tokengate.ledger_archived (
  org_id          uuid not null,
  token_type_id   text not null,
  period_start    timestamptz not null,
  allowance_delta bigint not null,
  purchased_delta bigint not null,
  held_delta      bigint not null,
  charged         bigint not null,
  events          bigint not null,
  entries         bigint not null,
  -- The largest archived id of the bucket: verify_ledger checks each live entry's balances after
  -- it from the running sum only above it (a few entries written across a month's end may carry
  -- the next month's date and a smaller id).
  last_id         bigint not null,
  -- The chain of that entry: where the bucket's hash chain continues in the live months.
  last_chain      bytea,
  primary key (org_id, token_type_id, period_start)
);
alter table tokengate.ledger_archived enable row level security;
revoke all on tokengate.ledger_archived from public, anon, authenticated, service_role;
grant select on tokengate.ledger_archived to service_role;
comment on table tokengate.ledger_archived is
  'Totals of archived ledger months per bucket and period, so verify_ledger() reconciles without them. Server only.';

/* The columns an entry is copied by (amount is generated). */
create function tokengate._ledger_columns()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select 'id, org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged, allowance_after, '
         'purchased_after, held_after, period_start, user_id, reservation_id, idempotency_key, metadata, created_at, chain'
$$;

/* A partition is never reached by clients, refuses TRUNCATE like the parent, and has RLS on anyway. */
create function tokengate._secure_ledger_partition(p_table regclass)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  execute format('revoke all on %s from public, anon, authenticated, service_role', p_table);
  execute format('alter table %s enable row level security', p_table);
  execute format('create trigger ledger_is_never_truncated before truncate on %s
                  for each statement execute function tokengate._ledger_is_append_only()', p_table);
end
$$;
select tokengate._secure_ledger_partition('tokengate_partitions.ledger_default');

/*
  The partition of p_month's month, created if missing. Entries of that month that landed in the
  default partition move into it (the default partition is detached meanwhile: charges wait on
  the parent's lock for that moment). Returns whether it created one.
*/
create function tokengate._ledger_partition(p_month date)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_from date := date_trunc('month', p_month)::date;
  v_to date := (date_trunc('month', p_month) + interval '1 month')::date;
  v_name text := 'ledger_' || to_char(date_trunc('month', p_month), 'YYYY_MM');
begin
  if to_regclass('tokengate_partitions.' || v_name) is not null
     or to_regclass('tokengate_partitions.archived_' || v_name) is not null then
    return false;
  end if;
  if exists (select 1 from tokengate_partitions.ledger_default d where d.created_at >= v_from and d.created_at < v_to) then
    alter table tokengate.ledger detach partition tokengate_partitions.ledger_default;
    execute format('create table tokengate_partitions.%I (like tokengate.ledger including defaults including generated)', v_name);
    execute format('insert into tokengate_partitions.%I (%s) select %2$s from tokengate_partitions.ledger_default
                    where created_at >= $1 and created_at < $2', v_name, tokengate._ledger_columns())
      using v_from, v_to;
    -- (Detached, the default partition has no append-only row trigger: only this move deletes.)
    delete from tokengate_partitions.ledger_default d where d.created_at >= v_from and d.created_at < v_to;
    execute format('alter table tokengate.ledger attach partition tokengate_partitions.%I for values from (%L) to (%L)', v_name, v_from, v_to);
    alter table tokengate.ledger attach partition tokengate_partitions.ledger_default default;
  else
    execute format('create table tokengate_partitions.%I partition of tokengate.ledger for values from (%L) to (%L)', v_name, v_from, v_to);
  end if;
  perform tokengate._secure_ledger_partition(('tokengate_partitions.' || v_name)::regclass);
  return true;
end
$$;

/*
  Partitions for this month (by the ledger's clock) and the next p_months_ahead, and for every
  month that has entries in the default partition; returns how many it created. Schedule it
  (daily or monthly): if it lapses, entries wait in the default partition, correct but unpruned,
  until the next run moves them.

  select cron.schedule('tokengate-ledger-partitions', '0 3 * * *', 'select tokengate.create_ledger_partitions()');
*/
create function tokengate.create_ledger_partitions(p_months_ahead int default 3)
returns int
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_month date;
  v_count int := 0;
begin
  perform tokengate._arg(p_months_ahead between 0 and 24, 'p_months_ahead', '0 to 24');
  for v_month in
    select distinct date_trunc('month', d.created_at)::date from tokengate_partitions.ledger_default d
    union
    select (date_trunc('month', tokengate.clock()) + make_interval(months => n))::date from generate_series(0, p_months_ahead) n
    order by 1
  loop
    if tokengate._ledger_partition(v_month) then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end
$$;
comment on function tokengate.create_ledger_partitions(int) is
  'Create the ledger''s monthly partitions for this month and the next ones, and move entries out of the default partition. Schedule it daily.';

-- 2. The entries, with their ids, into their months' partitions; the identity continues after them.
do $do$
declare
  v_month date;
begin
  for v_month in select distinct date_trunc('month', created_at)::date from tokengate_partitions.ledger_before_partitions loop
    perform tokengate._ledger_partition(v_month);
  end loop;
  perform tokengate.create_ledger_partitions();
  execute format('insert into tokengate.ledger (%s) overriding system value select %1$s from tokengate_partitions.ledger_before_partitions',
                 tokengate._ledger_columns());
  perform setval(pg_get_serial_sequence('tokengate.ledger', 'id'),
                 greatest(coalesce((select max(id) from tokengate_partitions.ledger_before_partitions), 0), 1),
                 (select count(*) > 0 from tokengate_partitions.ledger_before_partitions));
end
$do$;
drop table tokengate_partitions.ledger_before_partitions;

/*
  Archive one month: its usage is rolled up, its per-bucket totals are added to
  tokengate.ledger_archived, and the partition is detached as
  tokengate_partitions.archived_ledger_YYYY_MM for the operator to dump and drop. Only months
  before the previous one (by the ledger's clock): the current and previous months stay live.
  Keyed checks of verify_ledger (one effect per idempotency key) then cover the live months only;
  idempotency records are pruned after 30 days by default anyway.

  select tokengate.archive_ledger_partition('2026-01-01');
*/
create function tokengate.archive_ledger_partition(p_month date)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_from date := date_trunc('month', p_month)::date;
  v_name text := 'ledger_' || to_char(date_trunc('month', p_month), 'YYYY_MM');
  v_table regclass;
  v_entries bigint;
begin
  perform tokengate._arg(p_month is not null and v_from < date_trunc('month', tokengate.clock()) - interval '1 month',
                         'p_month', 'a month before the previous one');
  v_table := to_regclass('tokengate_partitions.' || v_name);
  perform tokengate._arg(v_table is not null, 'p_month', 'a month with a live ledger partition');
  -- Every entry of the month is in the usage rollup before it leaves.
  while tokengate.roll_up_usage(100000) > 0 loop
  end loop;
  lock table tokengate.ledger in access exclusive mode;
  execute format($sql$
    insert into tokengate.ledger_archived as a
      (org_id, token_type_id, period_start, allowance_delta, purchased_delta, held_delta, charged, events, entries, last_id, last_chain)
    select org_id, token_type_id, period_start, sum(allowance_delta), sum(purchased_delta), sum(held_delta), sum(charged),
           count(*) filter (where kind in ('deduct', 'commit')), count(*), max(id), (array_agg(chain order by id desc))[1]
    from %s group by org_id, token_type_id, period_start
    on conflict (org_id, token_type_id, period_start) do update set
      allowance_delta = a.allowance_delta + excluded.allowance_delta,
      purchased_delta = a.purchased_delta + excluded.purchased_delta,
      held_delta = a.held_delta + excluded.held_delta,
      charged = a.charged + excluded.charged,
      events = a.events + excluded.events,
      entries = a.entries + excluded.entries,
      last_id = greatest(a.last_id, excluded.last_id),
      last_chain = case when excluded.last_id > a.last_id then excluded.last_chain else a.last_chain end$sql$, v_table);
  execute format('select count(*) from %s', v_table) into v_entries;
  execute format('alter table tokengate.ledger detach partition %s', v_table);
  execute format('alter table %s rename to %I', v_table, 'archived_' || v_name);
  return jsonb_build_object('month', v_from, 'entries', v_entries, 'table', 'tokengate_partitions.archived_' || v_name);
end
$$;
comment on function tokengate.archive_ledger_partition(date) is
  'Detach a ledger month older than the previous one after recording its per-bucket totals; returns the table to dump and drop.';

revoke execute on function tokengate._ledger_columns(), tokengate._secure_ledger_partition(regclass),
  tokengate._ledger_partition(date) from public, anon, authenticated, service_role;
revoke execute on function tokengate.create_ledger_partitions(int), tokengate.archive_ledger_partition(date)
  from public, anon, authenticated;
grant execute on function tokengate.create_ledger_partitions(int), tokengate.archive_ledger_partition(date) to service_role;

/*
  Walk each bucket's hash chain in id order (from where its archived months end) and report every
  entry whose chain is not sha256(previous chain || its content), a chained bucket with an entry
  without one, and a bucket whose stored head is not its newest entry's chain. Reads the whole
  ledger (of one organization with p_org_id): a monitoring job, not a request path.
*/
create function tokengate._chain_breaks(p_org_id uuid)
returns setof jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  e record;
  v_org uuid;
  v_type text;
  v_head bytea;
  v_prev bytea;
  v_started boolean := false;
  v_from bigint := 0;
begin
  -- One ordered pass over the entries, bucket after bucket.
  for e in
    select l.*, k.ledger_chain as head
    from tokengate.ledger l
    join tokengate.buckets k on k.org_id = l.org_id and k.token_type_id = l.token_type_id
    where p_org_id is null or l.org_id = p_org_id
    order by l.org_id, l.token_type_id, l.id
  loop
    if v_org is distinct from e.org_id or v_type is distinct from e.token_type_id then
      if v_started and v_head is distinct from v_prev then
        return next jsonb_build_object('check', 'ledger_chain', 'orgId', v_org, 'tokenType', v_type, 'problem', 'head');
      end if;
      v_org := e.org_id;
      v_type := e.token_type_id;
      v_head := e.head;
      v_from := 0;
      v_prev := null;
      -- Where the chain continues after the bucket's archived months.
      select a.last_id, a.last_chain into v_from, v_prev from tokengate.ledger_archived a
      where a.org_id = e.org_id and a.token_type_id = e.token_type_id
      order by a.last_id desc limit 1;
      v_from := coalesce(v_from, 0);
      v_started := v_prev is not null;
    end if;
    if e.id <= v_from then
      continue;
    end if;
    if e.chain is null then
      if v_started then
        return next jsonb_build_object('check', 'ledger_chain', 'orgId', e.org_id, 'tokenType', e.token_type_id, 'ledgerId', e.id, 'problem', 'no chain');
      end if;
      continue;
    end if;
    if e.chain is distinct from tokengate._chain(v_prev, e.kind, e.allowance_delta, e.purchased_delta, e.held_delta, e.charged,
         e.allowance_after, e.purchased_after, e.held_after, e.period_start, e.user_id, e.reservation_id, e.idempotency_key,
         e.metadata, e.created_at) then
      return next jsonb_build_object('check', 'ledger_chain', 'orgId', e.org_id, 'tokenType', e.token_type_id, 'ledgerId', e.id, 'problem', 'link');
    end if;
    v_prev := e.chain;
    v_started := true;
  end loop;
  if v_started and v_head is distinct from v_prev then
    return next jsonb_build_object('check', 'ledger_chain', 'orgId', v_org, 'tokenType', v_type, 'problem', 'head');
  end if;
end
$$;
revoke execute on function tokengate._chain_breaks(uuid) from public, anon, authenticated, service_role;

/* 3. Reconciliation over the live entries and the archived totals. */
create or replace function tokengate.verify_ledger(p_org_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with entries as (
    -- The live entries, and each archived month as one summary row per bucket and period.
    select l.org_id, l.token_type_id, l.period_start, l.allowance_delta, l.purchased_delta, l.held_delta, l.charged,
           (l.kind in ('deduct', 'commit'))::int as events
    from tokengate.ledger l
    where p_org_id is null or l.org_id = p_org_id
    union all
    select a.org_id, a.token_type_id, a.period_start, a.allowance_delta, a.purchased_delta, a.held_delta, a.charged, a.events
    from tokengate.ledger_archived a
    where p_org_id is null or a.org_id = p_org_id
  ),
  sums as (
    select e.org_id, e.token_type_id,
           sum(e.allowance_delta) as allowance, sum(e.purchased_delta) as purchased,
           sum(e.held_delta) as held, sum(e.charged) filter (where e.period_start = b.period_start) as used,
           sum(e.events) as events,
           sum(e.charged) as charged
    from entries e
    join tokengate.buckets b on b.org_id = e.org_id and b.token_type_id = e.token_type_id
    group by e.org_id, e.token_type_id
  ),
  opening as (
    select a.org_id, a.token_type_id, sum(a.allowance_delta) as allowance, sum(a.purchased_delta) as purchased,
           sum(a.held_delta) as held, max(a.last_id) as last_id
    from tokengate.ledger_archived a
    where p_org_id is null or a.org_id = p_org_id
    group by a.org_id, a.token_type_id
  ),
  running as (
    select l.org_id, l.token_type_id, l.id, l.allowance_after, l.purchased_after, l.held_after,
           coalesce(o.allowance, 0) + sum(l.allowance_delta) over w as allowance,
           coalesce(o.purchased, 0) + sum(l.purchased_delta) over w as purchased,
           coalesce(o.held, 0) + sum(l.held_delta) over w as held,
           coalesce(o.last_id, 0) as last_id
    from tokengate.ledger l
    left join opening o on o.org_id = l.org_id and o.token_type_id = l.token_type_id
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
    -- The rollup, plus the charges it does not include yet (above its watermark).
    select v.org_id, v.token_type_id, sum(v.tokens) as tokens, sum(v.events) as events
    from (
      select u.org_id, u.token_type_id, u.tokens, u.events::bigint as events
      from tokengate.usage_daily u
      where p_org_id is null or u.org_id = p_org_id
      union all
      select l.org_id, l.token_type_id, l.charged, 1
      from tokengate.ledger l
      left join tokengate.usage_marks m on m.org_id = l.org_id and m.token_type_id = l.token_type_id
      where (p_org_id is null or l.org_id = p_org_id) and l.kind in ('deduct', 'commit') and l.id > coalesce(m.ledger_id, 0)
    ) v
    group by v.org_id, v.token_type_id
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
    where r.id > r.last_id
      and (r.allowance_after, r.purchased_after, r.held_after) is distinct from (r.allowance, r.purchased, r.held)
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
    union all
    -- One effect per idempotency key (live months): a key charges, grants or adjusts once…
    select jsonb_build_object('check', 'one_effect_per_idempotency_key', 'orgId', l.org_id, 'tokenType', l.token_type_id,
             'idempotencyKey', l.idempotency_key, 'kind', l.kind, 'entries', count(*))
    from tokengate.ledger l
    where (p_org_id is null or l.org_id = p_org_id) and l.idempotency_key is not null and l.reservation_id is null
      and l.kind in ('deduct', 'grant', 'adjust')
    group by l.org_id, l.token_type_id, l.idempotency_key, l.kind
    having count(*) > 1
    union all
    -- …a member reservation is taken once per key…
    select jsonb_build_object('check', 'one_effect_per_idempotency_key', 'orgId', x.org_id, 'tokenType', x.token_type_id,
             'idempotencyKey', x.idempotency_key, 'kind', 'reserve', 'entries', count(*))
    from tokengate.reservations x
    where (p_org_id is null or x.org_id = p_org_id) and x.holder = 'member'
    group by x.org_id, x.token_type_id, x.idempotency_key
    having count(*) > 1
    union all
    -- …and a reservation is charged once.
    select jsonb_build_object('check', 'one_charge_per_reservation', 'orgId', l.org_id, 'tokenType', l.token_type_id,
             'reservationId', l.reservation_id, 'entries', count(*))
    from tokengate.ledger l
    where (p_org_id is null or l.org_id = p_org_id) and l.reservation_id is not null and l.kind in ('commit', 'deduct')
    group by l.org_id, l.token_type_id, l.reservation_id
    having count(*) > 1
    union all
    select jsonb_build_object('check', 'bucket_allowance_derived', 'orgId', b.org_id, 'tokenType', b.token_type_id,
             'allowance', b.allowance, 'allowanceSpent', b.allowance_spent, 'allowanceRemaining', b.allowance_remaining)
    from tokengate.buckets b
    where (p_org_id is null or b.org_id = p_org_id)
      and b.allowance_remaining <> greatest(b.allowance - b.allowance_spent, 0)
    union all
    select c from tokengate._chain_breaks(p_org_id) c
  )
  select coalesce(jsonb_agg(problem), '[]') from problems
$$;
