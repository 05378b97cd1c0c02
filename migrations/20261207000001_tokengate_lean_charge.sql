/*
  Tokengate ledger — a leaner charge: the same rules, enforced where they cost least.

  Measured with callgrind on a single-user backend (instructions per `tokengate.deduct()` call,
  spread over 1,000 organizations; the floor — one ledger insert and one guarded update — was
  303k): 1.55M before this migration. Two costs had nothing to do with the work:

  1. Table CHECK constraints are deserialized from their stored text (stringToNode) by every
     statement that writes the table: 14 of them on the tables a charge writes, about 290k
     instructions per charge. A domain's CHECK is compiled once per session (the type cache), so
     the rules that are per column — counters never below zero, the ledger's kinds, a key's
     length, a reservation's status and estimate — move to domains. The same rule holds for every
     writer, including a superuser's INSERT; nothing is weaker.
     The derived value `allowance_remaining = greatest(allowance - allowance_spent, 0)` is no
     longer a table CHECK (the functions compute it in one place, tokengate._append, and the fast
     charge in deduct) — `verify_ledger()` now reports any bucket where it does not hold
     (`bucket_allowance_derived`). The two period rules become one CHECK.
  2. `'^[!-~]{1,255}$'`: a bounded repetition compiles into a large automaton that is walked for
     every character (about 150k instructions per key). The same rule as a length test plus a
     search for one character outside `!`–`~` costs a few hundred.

  After: 1.25M … see README "Performance" for the pgbench ratios.
*/

create domain tokengate.nonnegative_int as int check (value >= 0);
create domain tokengate.nonnegative_bigint as bigint check (value >= 0);
create domain tokengate.ledger_kind as text
  check (value in ('refresh', 'grant', 'deduct', 'reserve', 'commit', 'release', 'expire', 'adjust'));
create domain tokengate.idempotency_key as text check (length(value) between 1 and 255);
create domain tokengate.reservation_status as text check (value in ('pending', 'committed', 'released', 'expired'));
create domain tokengate.hold_estimate as int check (value between 1 and 1000000);

comment on domain tokengate.nonnegative_int is 'A counter that is never below zero (a domain, so the rule costs nothing per statement).';
comment on domain tokengate.nonnegative_bigint is 'A counter that is never below zero (a domain, so the rule costs nothing per statement).';
comment on domain tokengate.ledger_kind is 'What a ledger entry records.';
comment on domain tokengate.idempotency_key is 'A client-chosen idempotency key (1 to 255 characters; the functions also require visible ASCII).';
comment on domain tokengate.reservation_status is 'Where a reservation stands; it leaves pending exactly once.';
comment on domain tokengate.hold_estimate is 'Tokens one hold may take.';

/*
  Each single-column CHECK listed here is replaced by the column's domain. A DO block finds the
  constraint by its column and definition (names were generated), and refuses to guess.
*/
do $do$
declare
  v_col record;
  v_con text;
begin
  for v_col in
    select * from (values
      ('tokengate.buckets', 'allowance', 'tokengate.nonnegative_int', '(allowance >= 0)'),
      ('tokengate.buckets', 'allowance_spent', 'tokengate.nonnegative_bigint', '(allowance_spent >= 0)'),
      ('tokengate.buckets', 'allowance_remaining', 'tokengate.nonnegative_int', '(allowance_remaining >= 0)'),
      ('tokengate.buckets', 'purchased_remaining', 'tokengate.nonnegative_bigint', '(purchased_remaining >= 0)'),
      ('tokengate.buckets', 'held', 'tokengate.nonnegative_bigint', '(held >= 0)'),
      ('tokengate.buckets', 'used', 'tokengate.nonnegative_bigint', '(used >= 0)'),
      ('tokengate.ledger', 'kind', 'tokengate.ledger_kind', 'kind = ANY'),
      ('tokengate.ledger', 'charged', 'tokengate.nonnegative_bigint', '(charged >= 0)'),
      ('tokengate.idempotency_keys', 'key', 'tokengate.idempotency_key', 'length(key)'),
      ('tokengate.usage_daily', 'tokens', 'tokengate.nonnegative_bigint', '(tokens >= 0)'),
      ('tokengate.usage_daily', 'events', 'tokengate.nonnegative_int', '(events >= 0)'),
      ('tokengate.member_usage', 'used', 'tokengate.nonnegative_bigint', '(used >= 0)'),
      ('tokengate.member_usage', 'held', 'tokengate.nonnegative_bigint', '(held >= 0)'),
      ('tokengate.reservations', 'status', 'tokengate.reservation_status', 'status = ANY'),
      ('tokengate.reservations', 'estimate', 'tokengate.hold_estimate', 'estimate >= 1'),
      ('tokengate.reservations', 'held_allowance', 'tokengate.nonnegative_int', '(held_allowance >= 0)'),
      ('tokengate.reservations', 'held_purchased', 'tokengate.nonnegative_int', '(held_purchased >= 0)'),
      ('tokengate.reservations', 'actual', 'tokengate.nonnegative_int', '(actual >= 0)'),
      ('tokengate.reservations', 'charged', 'tokengate.nonnegative_int', '(charged >= 0)'),
      ('tokengate.guard_requests', 'key', 'tokengate.idempotency_key', 'length(key)'),
      ('tokengate.guard_requests', 'attempts', 'tokengate.nonnegative_int', '(attempts >= 0)')
    ) as c(tbl, col, typ, def)
  loop
    select c.conname into v_con
    from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.conrelid = v_col.tbl::regclass and c.contype = 'c' and cardinality(c.conkey) = 1
      and a.attname = v_col.col and position(v_col.def in pg_get_constraintdef(c.oid)) > 0;
    if v_con is null then
      raise exception 'lean_charge: no CHECK % on %.%', v_col.def, v_col.tbl, v_col.col;
    end if;
    execute format('alter table %s drop constraint %I', v_col.tbl, v_con);
    execute format('alter table %s alter column %I type %s', v_col.tbl, v_col.col, v_col.typ);
  end loop;

  -- The bucket's derived allowance (now checked by verify_ledger) and its two period rules (one CHECK).
  for v_con in
    select c.conname from pg_constraint c
    where c.conrelid = 'tokengate.buckets'::regclass and c.contype = 'c' and cardinality(c.conkey) > 1
  loop
    execute format('alter table tokengate.buckets drop constraint %I', v_con);
  end loop;
end
$do$;

alter table tokengate.buckets add constraint buckets_period_check
  check ((period_start is null and period_end is null) or period_end > period_start);

/* The key rule, without a bounded repetition (same accepted set: 1 to 255 characters from ! to ~). */
create or replace function tokengate._arg_key(p_key text)
returns void
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select tokengate._arg(coalesce(octet_length(p_key) between 1 and 255 and p_key !~ '[^!-~]', false),
                        'p_idempotency_key', '1 to 255 visible ASCII characters');
$$;

-- (deduct's own key test changes with its next definition, in …_usage_rollup.sql.)

/* verify_ledger: the derived allowance of every bucket. */
do $do$
declare
  v_def text := pg_get_functiondef('tokengate.verify_ledger(uuid)'::regprocedure);
  v_old text := $old$  select coalesce(jsonb_agg(problem), '[]') from (select problem from problems union all select problem from keyed) all_problems$old$;
begin
  if position(v_old in v_def) = 0 then
    raise exception 'lean_charge: final select of verify_ledger not found';
  end if;
  execute replace(v_def, v_old, $new$  , derived as (
    select jsonb_build_object('check', 'bucket_allowance_derived', 'orgId', b.org_id, 'tokenType', b.token_type_id,
             'allowance', b.allowance, 'allowanceSpent', b.allowance_spent, 'allowanceRemaining', b.allowance_remaining) as problem
    from tokengate.buckets b
    where (p_org_id is null or b.org_id = p_org_id)
      and b.allowance_remaining <> greatest(b.allowance - b.allowance_spent, 0)
  )
  select coalesce(jsonb_agg(problem), '[]') from (select problem from problems union all select problem from keyed
    union all select problem from derived) all_problems$new$);
end
$do$;
