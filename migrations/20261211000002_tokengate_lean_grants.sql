/*
  Tokengate ledger — grants' rules where they cost least (as ..._lean_charge.sql did for the other
  tables a charge writes).

  A charge paid from a grant updates the grant's remaining count and adds a grant entry. Postgres
  deserializes every table CHECK of a table from its stored text (stringToNode) in each statement
  that writes it: the 12 CHECKs of tokengate.grants and the one of grant_entries cost about 300k
  instructions per charge (callgrind, single-user backend: 1.86M → 1.58M per charge with them
  dropped), a sixth of the charge. A domain's CHECK is compiled once per session (the type cache) and
  runs only on the columns a statement assigns, so:
    - the per-column rules move to domains (the same rule for every writer, a superuser's INSERT
      included; nothing is weaker);
    - the three rules across columns become one CHECK (a NULL part passes, a false part fails: the
      same as three).
*/

create domain tokengate.positive_bigint as bigint check (value > 0);
create domain tokengate.nonzero_bigint as bigint check (value <> 0);
create domain tokengate.grant_priority as smallint check (value between 0 and 100);
create domain tokengate.grant_source as text check (value in ('plan', 'purchase', 'promo', 'adjustment'));
create domain tokengate.grant_status as text check (value in ('scheduled', 'active', 'expired', 'revoked'));
comment on domain tokengate.positive_bigint is 'An amount above zero (a domain, so the rule costs nothing per statement).';
comment on domain tokengate.nonzero_bigint is 'A movement of tokens: never zero (a domain, so the rule costs nothing per statement).';
comment on domain tokengate.grant_priority is 'A grant''s priority in the burn order (0 to 100).';
comment on domain tokengate.grant_source is 'Where a grant''s tokens came from.';
comment on domain tokengate.grant_status is 'Where a grant stands: scheduled, active, then expired or revoked.';

/*
  Each single-column CHECK listed here is replaced by the column's domain; the DO block finds the
  constraint by its column and definition (names were generated), and refuses to guess.
*/
do $do$
declare
  v_col record;
  v_con text;
  v_count int := 0;
begin
  for v_col in
    select * from (values
      ('tokengate.grants', 'source', 'tokengate.grant_source', 'source = ANY'),
      ('tokengate.grants', 'amount', 'tokengate.positive_bigint', '(amount > 0)'),
      ('tokengate.grants', 'remaining', 'tokengate.nonnegative_bigint', '(remaining >= 0)'),
      ('tokengate.grants', 'priority', 'tokengate.grant_priority', 'priority >= 0'),
      ('tokengate.grants', 'status', 'tokengate.grant_status', 'status = ANY'),
      ('tokengate.grants', 'expired', 'tokengate.nonnegative_bigint', '(expired >= 0)'),
      ('tokengate.grants', 'clawed_back', 'tokengate.nonnegative_bigint', '(clawed_back >= 0)'),
      ('tokengate.grants', 'clawback_shortfall', 'tokengate.nonnegative_bigint', '(clawback_shortfall >= 0)'),
      ('tokengate.grants', 'forfeited', 'tokengate.nonnegative_bigint', '(forfeited >= 0)'),
      ('tokengate.grant_entries', 'delta', 'tokengate.nonzero_bigint', '(delta <> 0)')
    ) as c(tbl, col, typ, def)
  loop
    select c.conname into v_con
    from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.conrelid = v_col.tbl::regclass and c.contype = 'c' and cardinality(c.conkey) = 1
      and a.attname = v_col.col and position(v_col.def in pg_get_constraintdef(c.oid)) > 0;
    if v_con is null then
      raise exception 'lean_grants: no CHECK % on %.%', v_col.def, v_col.tbl, v_col.col;
    end if;
    execute format('alter table %s drop constraint %I', v_col.tbl, v_con);
    execute format('alter table %s alter column %I type %s', v_col.tbl, v_col.col, v_col.typ);
  end loop;

  -- The rules across columns: expires after it starts, ended exactly when no longer scheduled or
  -- active, and nothing remaining unless active. Three CHECKs, replaced by one below.
  for v_con in
    select c.conname from pg_constraint c
    where c.conrelid = 'tokengate.grants'::regclass and c.contype = 'c'
  loop
    execute format('alter table tokengate.grants drop constraint %I', v_con);
    v_count := v_count + 1;
  end loop;
  if v_count <> 3 then
    raise exception 'lean_grants: expected the 3 CHECKs across columns of tokengate.grants, found %', v_count;
  end if;
end
$do$;

alter table tokengate.grants add constraint grants_state_check check (
  expires_at > effective_at
  and (status in ('scheduled', 'active')) = (ended_at is null)
  and (status = 'active' or remaining = 0)
);
