/*
  Tokengate ledger — the operator's view stays fast at a million ledger rows.

  Measured at 1,005,166 ledger rows over 1000 organizations (bench section "operator"):
  operator_top took 1951 ms (all types) and operator_spikes 403 ms. Two costs, both fixed here:

    1. Reading usage_daily. It has one row per organization, day, type and MEMBER, so it is nearly
       as big as the ledger, and operator_top counted distinct members over all of it. Operators
       rank organizations, not members: tokengate.usage_org_daily keeps the same charges per
       organization, type and day (no member), written by the same roll-up statement as
       usage_daily, so the two always count the same entries. operator_top ranks from it and
       counts distinct members only for the organizations it answers (usage_daily's primary key).

    2. Bringing the rollup up to date first. roll_up_usage() probes the ledger once per bucket
       (~0.1 ms each: the ledger's key is (org_id, id), so a probe also reads the organization's
       other types' entries past the watermark) — about 500 ms for 5000 buckets even when nothing
       is pending. The operator functions now find the buckets with pending entries without the
       ledger: every entry is written together with its bucket's hash-chain head
       (buckets.ledger_chain: _append and deduct, the only writers of the ledger, set it in the same
       transaction, and verify_ledger checks the head against the last entry), so a bucket whose
       head equals the chain the roll-up last saw (usage_marks.chain) has nothing pending. That is
       a join of buckets and usage_marks (5000 rows, a few ms); only the organizations with a
       moved head are rolled up. roll_up_usage() (the scheduled job) keeps its ledger probe, which
       needs no invariant of the writers.
*/

/* ───────────────────────────── the per-organization daily rollup ───────────────────────────── */

create table tokengate.usage_org_daily (
  org_id        uuid not null,
  token_type_id text not null,
  day           date not null,
  tokens        tokengate.nonnegative_bigint not null default 0,
  events        tokengate.nonnegative_bigint not null default 0,
  -- org_id first (the schema can be distributed by organization, and RLS filters on it); then
  -- type and day, the order in which operator_spikes reads one organization's history.
  primary key (org_id, token_type_id, day)
);
-- Operators read a range of days across organizations, per type (operator_top, operator_spikes):
-- covering, so the aggregates are index-only scans on a vacuumed table.
create index usage_org_daily_type_day_idx on tokengate.usage_org_daily (token_type_id, day) include (org_id, tokens, events);
comment on table tokengate.usage_org_daily is
  'Usage rollup per organization, token type and UTC day (usage_daily without the member), kept by the same roll-up; the operator''s view reads it.';

alter table tokengate.usage_org_daily enable row level security;
create policy "Members can read their organizations' daily usage" on tokengate.usage_org_daily
  for select to authenticated using (org_id in (select tokengate_private.my_org_ids()));
revoke all on tokengate.usage_org_daily from public, anon, authenticated, service_role;
grant select on tokengate.usage_org_daily to authenticated, service_role;

/*
  The same usage summed over aligned blocks of 2, 4, … 256 days (a block of span s starts on a day
  whose number since 2000-01-01 is a multiple of s), so a range of days is read as at most about
  2·log2(days) pieces per organization and type instead of one row per day: operator_top over 30
  days reads ~6 rows per bucket instead of 30, over a year ~14 instead of 366. Kept by the same
  roll-up statement as usage_daily and usage_org_daily.
*/
create table tokengate.usage_org_blocks (
  org_id        uuid not null,
  token_type_id text not null,
  span_days     int not null check (span_days in (2, 4, 8, 16, 32, 64, 128, 256)),
  start_day     date not null,
  tokens        tokengate.nonnegative_bigint not null default 0,
  events        tokengate.nonnegative_bigint not null default 0,
  primary key (org_id, token_type_id, span_days, start_day)
);
create index usage_org_blocks_type_span_idx on tokengate.usage_org_blocks (token_type_id, span_days, start_day) include (org_id, tokens, events);
comment on table tokengate.usage_org_blocks is
  'usage_org_daily summed over aligned blocks of 2 to 256 days, kept by the same roll-up; operator_top reads a range as a few blocks.';

alter table tokengate.usage_org_blocks enable row level security;
create policy "Members can read their organizations' usage blocks" on tokengate.usage_org_blocks
  for select to authenticated using (org_id in (select tokengate_private.my_org_ids()));
revoke all on tokengate.usage_org_blocks from public, anon, authenticated, service_role;
grant select on tokengate.usage_org_blocks to authenticated, service_role;

/* The first day of the block of span p_span (a power of two) that holds p_day. */
create function tokengate._block_start(p_day date, p_span int)
returns date
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  -- (mod of a negative number is negative: days before 2000 still align downwards.)
  select p_day - (((p_day - date '2000-01-01') % p_span) + p_span) % p_span
$$;
revoke execute on function tokengate._block_start(date, int) from public, anon, authenticated, service_role;

/* The chain head the roll-up last saw, per bucket (see 2. above). */
alter table tokengate.usage_marks add column chain bytea;
comment on column tokengate.usage_marks.chain is
  'The bucket''s ledger_chain as of the last roll-up: when it still equals buckets.ledger_chain, the bucket has nothing to roll up.';

-- No roll-up may run between the backfill and the switch to the new _roll_up (it would write
-- usage_daily without usage_org_daily): hold the watermarks, which every roll-up locks first.
lock table tokengate.usage_marks in exclusive mode;

insert into tokengate.usage_org_daily (org_id, token_type_id, day, tokens, events)
select u.org_id, u.token_type_id, u.day, sum(u.tokens), sum(u.events)
from tokengate.usage_daily u
group by u.org_id, u.token_type_id, u.day;

insert into tokengate.usage_org_blocks (org_id, token_type_id, span_days, start_day, tokens, events)
select o.org_id, o.token_type_id, s.span, tokengate._block_start(o.day, s.span), sum(o.tokens), sum(o.events)
from tokengate.usage_org_daily o
cross join (select (2 ^ g)::int as span from generate_series(1, 8) g) s
group by o.org_id, o.token_type_id, s.span, tokengate._block_start(o.day, s.span);

-- The chain of the entry each watermark stands at. When entries are pending, or that entry was
-- archived, it differs from the bucket's head, and the first roll-up catches up and records it.
update tokengate.usage_marks m set chain = l.chain
from tokengate.ledger l
where l.org_id = m.org_id and l.id = m.ledger_id;

/*
  Bring the organization's usage_daily and usage_org_daily up to date with its ledger (the body of
  20261207000003_tokengate_usage_rollup.sql, plus usage_org_daily and the chain head). Each
  bucket's watermark row is locked while it is advanced, so two roll-ups never count an entry
  twice. A charge's day is the UTC day of its ledger entry; its member is the reservation's member
  for commits and late charges, else the entry's user.
*/
create or replace function tokengate._roll_up(p_org_id uuid)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type text;
  v_mark bigint;
begin
  -- Buckets with entries past their watermark (one index probe each, LIMIT 1: as a plain EXISTS
  -- the planner may hash-join every entry of the organization), or whose chain head moved since
  -- the last roll-up (so the head is recorded even when the new entries are no charges).
  for v_type in
    select b.token_type_id
    from tokengate.buckets b
    left join tokengate.usage_marks m on m.org_id = b.org_id and m.token_type_id = b.token_type_id
    where b.org_id = p_org_id
      and (b.ledger_chain is distinct from m.chain
           or exists (select 1 from (
                select l.id from tokengate.ledger l
                where l.org_id = b.org_id and l.token_type_id = b.token_type_id and l.id > coalesce(m.ledger_id, 0)
                order by l.id limit 1) pending))
    order by b.token_type_id
  loop
    insert into tokengate.usage_marks (org_id, token_type_id) values (p_org_id, v_type) on conflict do nothing;
    -- Locked while it advances: two roll-ups of one bucket never count an entry twice.
    select m.ledger_id into v_mark from tokengate.usage_marks m
    where m.org_id = p_org_id and m.token_type_id = v_type
    for update;
    -- One statement, one snapshot: the bucket's head read here is the chain of the newest entry
    -- this statement sees (an entry and its head commit together), so after it the watermark and
    -- the recorded head describe the same point of the ledger.
    with t as (
      select l.id, l.kind, l.charged, coalesce(x.user_id, l.user_id) as user_id, (l.created_at at time zone 'UTC')::date as day
      from tokengate.ledger l
      left join tokengate.reservations x on x.org_id = l.org_id and x.id = l.reservation_id
      where l.org_id = p_org_id and l.token_type_id = v_type and l.id > v_mark
    ), u as (
      insert into tokengate.usage_daily as u (org_id, token_type_id, user_id, day, tokens, events)
      select p_org_id, v_type, t.user_id, t.day, sum(t.charged), count(*)
      from t
      where t.kind in ('deduct', 'commit') and t.user_id is not null
      group by t.user_id, t.day
      on conflict (org_id, day, token_type_id, user_id)
      do update set tokens = u.tokens + excluded.tokens, events = u.events + excluded.events
    ), o as (
      -- The same entries (same filter), without the member: both rollups always agree.
      insert into tokengate.usage_org_daily as o (org_id, token_type_id, day, tokens, events)
      select p_org_id, v_type, t.day, sum(t.charged), count(*)
      from t
      where t.kind in ('deduct', 'commit') and t.user_id is not null
      group by t.day
      on conflict (org_id, token_type_id, day)
      do update set tokens = o.tokens + excluded.tokens, events = o.events + excluded.events
    ), k as (
      -- And per block of 2 to 256 days holding each day.
      insert into tokengate.usage_org_blocks as k (org_id, token_type_id, span_days, start_day, tokens, events)
      select p_org_id, v_type, s.span, tokengate._block_start(t.day, s.span), sum(t.charged), count(*)
      from t
      cross join (select (2 ^ g)::int as span from generate_series(1, 8) g) s
      where t.kind in ('deduct', 'commit') and t.user_id is not null
      group by s.span, tokengate._block_start(t.day, s.span)
      on conflict (org_id, token_type_id, span_days, start_day)
      do update set tokens = k.tokens + excluded.tokens, events = k.events + excluded.events
    )
    update tokengate.usage_marks m set
      ledger_id = coalesce((select max(t.id) from t), m.ledger_id),
      chain = (select b.ledger_chain from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = v_type)
    where m.org_id = p_org_id and m.token_type_id = v_type;
  end loop;
end
$$;
revoke execute on function tokengate._roll_up(uuid) from public, anon, authenticated, service_role;

/*
  Bring the rollups up to date for every organization with charges not rolled up yet, as stats()
  does for its one organization, so the operator's figures are exact — without reading the ledger
  when nothing is pending: only organizations with a bucket whose chain head moved since its last
  roll-up (see the header) are rolled up.
*/
create function tokengate._operator_roll_up()
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_org uuid;
begin
  for v_org in
    select distinct b.org_id
    from tokengate.buckets b
    left join tokengate.usage_marks m on m.org_id = b.org_id and m.token_type_id = b.token_type_id
    where b.ledger_chain is distinct from m.chain
  loop
    perform tokengate._roll_up(v_org);
  end loop;
end
$$;
revoke execute on function tokengate._operator_roll_up() from public, anon, authenticated, service_role;

/*
  Top organizations by tokens charged per token type over the UTC days [p_from, p_to] (at most
  366 days), p_limit per type (1 to 1000), from the per-organization rollup. p_token_type null:
  every type, each with its own ranking. Ties rank by organization id, so the answer is
  deterministic.

  → [{ tokenType, rank, orgId, planId, tokens, events, members }] ordered by tokenType, rank.
  members: how many distinct members charged in the range (from usage_daily, for the
  organizations answered only).

  select tokengate.operator_top('2026-11-01', '2026-11-30', 'quest_generation', 10);
*/
create function tokengate.operator_top(p_from date, p_to date, p_token_type text default null, p_limit int default 10)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_types text[];
  v_days date[] := '{}';
  v_spans int[] := '{}';
  v_starts date[] := '{}';
  v_day date;
  v_span int;
  v_result jsonb;
begin
  perform tokengate._arg(p_from is not null, 'p_from', 'required');
  perform tokengate._arg(p_to >= p_from and p_to - p_from <= 366, 'p_to', 'on or after p_from, at most 366 days later');
  perform tokengate._arg(p_limit between 1 and 1000, 'p_limit', '1 to 1000');
  if p_token_type is not null and not exists (select 1 from tokengate.token_types t where t.id = p_token_type) then
    perform tokengate._raise('unknown_token_type', jsonb_build_object('tokenType', p_token_type));
  end if;
  perform tokengate._operator_roll_up();
  -- The types as a list, so every type is an index range (token_type_id = any(...)).
  v_types := case when p_token_type is null then (select array_agg(t.id) from tokengate.token_types t) else array[p_token_type] end;
  -- [p_from, p_to] as the fewest aligned blocks (usage_org_blocks), single days left over read
  -- from usage_org_daily: from each day, the largest block that starts there and ends in range.
  v_day := p_from;
  while v_day <= p_to loop
    v_span := 256;
    while v_span > 1 and (tokengate._block_start(v_day, v_span) <> v_day or v_day + v_span - 1 > p_to) loop
      v_span := v_span / 2;
    end loop;
    if v_span = 1 then
      v_days := v_days || v_day;
    else
      v_spans := v_spans || v_span;
      v_starts := v_starts || v_day;
    end if;
    v_day := v_day + v_span;
  end loop;

  with s as (
    select v.token_type_id, v.org_id, sum(v.tokens) as tokens, sum(v.events) as events
    from (
      select o.token_type_id, o.org_id, o.tokens, o.events
      from tokengate.usage_org_daily o
      where o.token_type_id = any(v_types) and o.day = any(v_days)
      union all
      select k.token_type_id, k.org_id, k.tokens, k.events
      from unnest(v_spans, v_starts) as p(span, start)
      join tokengate.usage_org_blocks k on k.span_days = p.span and k.start_day = p.start
      where k.token_type_id = any(v_types)
    ) v
    group by v.token_type_id, v.org_id
  ), r as (
    -- (Partitioned in the "C" collation: the same partitions, but the sort of every organization's
    --  row compares bytes instead of calling the locale's strcoll — 70 ms of 5000 rows with en_US.)
    select s.*, row_number() over (partition by s.token_type_id collate "C" order by s.tokens desc, s.org_id) as rank
    from s
  ), top as materialized (
    -- Materialized: the members are counted for the answered rows only.
    select r.* from r where r.rank <= p_limit
    limit p_limit * cardinality(v_types)
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'tokenType', top.token_type_id, 'rank', top.rank, 'orgId', top.org_id, 'planId', a.plan_id,
           'tokens', top.tokens, 'events', top.events, 'members', m.members)
         order by top.token_type_id, top.rank), '[]')
  into v_result
  from top
  join tokengate.accounts a on a.org_id = top.org_id
  cross join lateral (
    select count(distinct u.user_id) as members from tokengate.usage_daily u
    where u.org_id = top.org_id and u.day between p_from and p_to and u.token_type_id = top.token_type_id) m;
  return v_result;
end
$$;

comment on function tokengate.operator_top(date, date, text, int) is
  'Operators: top organizations by tokens charged per token type over a range of UTC days, from the usage rollup. Server only.';
revoke execute on function tokengate.operator_top(date, date, text, int) from public, anon, authenticated, service_role;
grant execute on function tokengate.operator_top(date, date, text, int) to service_role;

/*
  Unusual spikes (the abuse watch): organizations whose tokens of a type charged on the UTC day
  p_day are at least p_min_tokens (0 to 1e9) and more than p_factor (1 to 1000) times their own
  average over the p_window_days (1 to 90) days before it — days without usage count as 0, so usage
  from nothing (average 0) is a spike once it reaches p_min_tokens. Largest ratio first (no average
  first), at most 1000 rows. From the per-organization rollup.

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
    -- The day's usage (usage_org_daily_type_day_idx, one range per type), then each candidate's
    -- own history (the primary key: organization, type, days).
    select o.org_id, o.token_type_id, o.tokens
    from tokengate.usage_org_daily o
    where o.token_type_id = any(array(select t.id from tokengate.token_types t)) and o.day = p_day
      and o.tokens >= greatest(p_min_tokens, 1)
  ), s as (
    select d.org_id, d.token_type_id, d.tokens, w.total / p_window_days::numeric as average
    from d
    cross join lateral (
      select coalesce(sum(h.tokens), 0) as total from tokengate.usage_org_daily h
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
