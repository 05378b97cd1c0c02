/*
  Tokengate ledger — grants for any token type: one block of tokens that pays for every type.

  An any-type grant lives in the organization's shared pool: a bucket of its own with the token type
  '*' (no allowance, no refresh; never charged directly: '*' is not a token type a member can name).
  Its grants are ordinary grants (source, priority, expiry, scheduled start, clawback, sweep).

  Burn order, for a charge of type T: the plan's allowance of T, then T's grants and the any-type
  grants together, in one order (soonest expiry, priority, age; on a tie, T's own first). When that
  order reaches an any-type grant, the tokens it pays move first into a child grant of T
  (grants.parent_id: same source, priority, expiry, age and creation order as its parent) by a pair of
  'transfer' ledger entries — minus on the pool, plus on T — and the charge then takes from T's grants
  exactly as before (tokengate._shared_fill). So every path that already holds, commits, refunds and
  expires T's grants works unchanged, every balance change still has its ledger entry, and
  verify_ledger reconciles the pool like any bucket; transfers of an organization sum to zero.
  Tokens a hold gives back return to the grant they came from: for an any-type grant, T's child
  (usable by T until the grant expires). A clawback of the parent gathers its children first (their
  unspent tokens transfer back) and revokes them with it; each child expires with its parent.

  Lock order: the pool, then a type's bucket. deduct locks the pool first when the organization has
  one; reserve, guard_begin, commit and guard_commit/release, check call tokengate._shared_lock before
  their bucket. Paths that never take from the pool (refresh, sweeps of holds, plan changes, refunds)
  do not lock it. _shared_lock marks the transaction (tokengate.shared = org) so the pool is only
  spent, or counted as available, by a transaction that holds it (deduct passes it itself).

  Availability: balances answer `shared` (the pool) beside each type, and `available` counts it:
  allowanceRemaining + purchased + shared. The change feed's payloads stay a bucket's own (the kit adds
  the pool, and refetches balances on a change of type '*').
*/

-- 'transfer': tokens moved between the shared pool and a type's child grant (charged nothing).
-- (Widening the set: every existing entry is in the old one, so existing rows are not re-checked.)
alter domain tokengate.ledger_kind drop constraint ledger_kind_check1;
alter domain tokengate.ledger_kind add constraint ledger_kind_check
  check (value in ('refresh', 'grant', 'deduct', 'reserve', 'commit', 'release', 'expire', 'adjust', 'transfer')) not valid;

-- The pool's bucket has no token type row: a trigger keeps the foreign key's promise for every other
-- bucket (a token type with buckets still cannot be deleted; renaming one, which nothing does, is
-- refused instead of cascading).
alter table tokengate.buckets drop constraint buckets_token_type_id_fkey;
create function tokengate._bucket_type_exists()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_table_name = 'buckets' then
    if new.token_type_id <> '*' and not exists (select 1 from tokengate.token_types t where t.id = new.token_type_id) then
      raise exception 'bucket of unknown token type %', new.token_type_id using errcode = 'foreign_key_violation';
    end if;
    return new;
  end if;
  if (tg_op = 'DELETE' or new.id is distinct from old.id)
     and exists (select 1 from tokengate.buckets b where b.token_type_id = old.id) then
    raise exception 'token type % still has buckets', old.id using errcode = 'foreign_key_violation';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
create trigger buckets_token_type_exists before insert or update of token_type_id on tokengate.buckets
  for each row execute function tokengate._bucket_type_exists();
create trigger token_types_without_buckets before delete or update of id on tokengate.token_types
  for each row execute function tokengate._bucket_type_exists();

alter table tokengate.grants add column parent_id uuid;
alter table tokengate.grants add foreign key (org_id, parent_id) references tokengate.grants (org_id, id);
create index grants_parent_idx on tokengate.grants (org_id, parent_id) where parent_id is not null;
comment on column tokengate.grants.parent_id is
  'The any-type grant (token type ''*'') whose tokens this grant of one type received by transfer; null for every other grant.';

/* ───────────────────────────── the shared pool ───────────────────────────── */

/*
  Lock the organization's shared pool (before any bucket of a type), do its due grant work, and mark
  the transaction as holding it. Returns what the pool holds, or null when the organization has none.
*/
create function tokengate._shared_lock(p_org_id uuid)
returns bigint
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bucket tokengate.buckets;
begin
  select * into v_bucket from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = '*' for update;
  if not found then
    return null;
  end if;
  if v_bucket.grants_due_at <= tokengate.clock() then
    perform tokengate._grants_due(p_org_id, '*');
    select * into v_bucket from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = '*';
  end if;
  perform set_config('tokengate.shared', p_org_id::text, true);
  return v_bucket.purchased_remaining;
end
$$;

/* What the shared pool can pay in this transaction: what it holds when the transaction locked it, else 0. */
create function tokengate._shared_available(p_org_id uuid)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case when current_setting('tokengate.shared', true) = p_org_id::text
    then coalesce((select b.purchased_remaining from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = '*'), 0)
    else 0 end
$$;

/*
  What the shared pool holds now, for an answer (no lock, nothing written): its active grants not yet
  expired, and its scheduled grants already started and not yet expired — what its due work would
  leave, so a balance read before that work (lazy, or by the sweep) never offers expired tokens or
  misses started ones.
*/
create function tokengate._shared_now(p_org_id uuid)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(sum(case when g.status = 'active' then g.remaining else g.amount end), 0)::bigint
  from tokengate.grants g
  where g.org_id = p_org_id and g.token_type_id = '*'
    and (g.status = 'active' or (g.status = 'scheduled' and g.effective_at <= tokengate.clock()))
    and (g.expires_at is null or g.expires_at > tokengate.clock())
$$;

/*
  Before a type takes p_need tokens from its grants: walk its grants and the any-type grants in the
  one burn order, and move what that walk takes from each any-type grant into the type's child of it.
  The caller holds the pool and the bucket. The take that follows (in the type's own order, where a
  child sorts as its parent) then takes from every grant exactly what the walk did.
*/
create function tokengate._shared_fill(p_org_id uuid, p_token_type_id text, p_need bigint)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_left bigint := p_need;
  v_take bigint;
  v_child uuid;
  g tokengate.grants;
begin
  for g in
    select * from tokengate.grants x
    where x.org_id = p_org_id and x.token_type_id in (p_token_type_id, '*') and x.status = 'active' and x.remaining > 0
    order by x.expires_at nulls last, x.priority, x.created_at, x.seq, x.token_type_id = '*'
  loop
    exit when v_left = 0;
    v_take := least(v_left, g.remaining);
    v_left := v_left - v_take;
    continue when g.token_type_id <> '*';
    select c.id into v_child from tokengate.grants c
    where c.org_id = p_org_id and c.parent_id = g.id and c.token_type_id = p_token_type_id and c.status = 'active';
    if v_child is null then
      insert into tokengate.grants (org_id, seq, token_type_id, parent_id, source, amount, priority, effective_at,
                                    expires_at, status, metadata, created_at)
      overriding system value
      values (p_org_id, g.seq, p_token_type_id, g.id, g.source, v_take, g.priority, g.effective_at,
              g.expires_at, 'active', jsonb_build_object('anyTypeGrantId', g.id), g.created_at)
      returning id into v_child;
    else
      update tokengate.grants c set amount = c.amount + v_take where c.org_id = p_org_id and c.id = v_child;
    end if;
    perform tokengate._append(p_org_id, '*', 'transfer', 0, -v_take, 0, 0, null, null, null,
      jsonb_build_object('grantId', g.id, 'toTokenType', p_token_type_id, 'toGrantId', v_child), null, g.id);
    perform tokengate._append(p_org_id, p_token_type_id, 'transfer', 0, v_take, 0, 0, null, null, null,
      jsonb_build_object('grantId', v_child, 'fromGrantId', g.id), null, v_child);
  end loop;
end
$$;

/* A clawback of an any-type grant: its children's unspent tokens transfer back to it first. The caller holds the pool. */
create function tokengate._shared_gather(p_account tokengate.accounts, p_grant_id uuid)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  v_left bigint;
begin
  for c in
    select x.id, x.token_type_id from tokengate.grants x
    where x.org_id = p_account.org_id and x.parent_id = p_grant_id and x.status = 'active'
    order by x.token_type_id, x.seq
  loop
    perform tokengate._touch(p_account, c.token_type_id);
    select x.remaining into v_left from tokengate.grants x
    where x.org_id = p_account.org_id and x.id = c.id and x.status = 'active';
    if v_left > 0 then
      perform tokengate._append(p_account.org_id, c.token_type_id, 'transfer', 0, -v_left, 0, 0, null, null, null,
        jsonb_build_object('grantId', c.id, 'toGrantId', p_grant_id), null, c.id);
      perform tokengate._append(p_account.org_id, '*', 'transfer', 0, v_left, 0, 0, null, null, null,
        jsonb_build_object('grantId', p_grant_id, 'fromTokenType', c.token_type_id, 'fromGrantId', c.id), null, p_grant_id);
    end if;
  end loop;
end
$$;

/* ───────────────────────────── the paths learn the pool ───────────────────────────── */

/*
  Edited in place, as ..._grants.sql did (the migration fails if a fragment is not found once):
    deduct        locks the pool first; counts it as available; fills from it; answers `shared`.
    _append       a debit of a charge, hold or commit fills from the pool when the transaction holds it.
    _denial, _resolve, _late_charge   count the pool as available (when held).
    reserve, guard_begin, _guard_hold, _reservation_for, check   lock the pool before the bucket.
    _touch        '*' is the pool: opened once, no refresh, its due grant work only.
    _bucket_json  `shared` (the pool as its due work would leave it: _shared_now), and `available` counts it.
    grant_tokens  grants to '*'.
    clawback_grant  an any-type grant gathers its children first and revokes them with it.
    grants        lists any-type grants with a type's, in one burn order; the pool's due work first.
    expire_grants the pools' due work first (the lock order).
*/
do $do$
declare
  v_edit record;
  v_def text;
  v_count int;
begin
  for v_edit in
    select * from (values
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 1,
       E'  v_grant_id uuid;\nbegin',
       E'  v_grant_id uuid;\n  v_shared bigint;\nbegin'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 2,
       E'  -- 1. The bucket, locked.',
       E'  -- 0. The organization\'s shared pool (any-type grants), when it has one: locked before the bucket.\n  select case when b.grants_due_at <= v_now then -1 else b.purchased_remaining end into v_shared\n  from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = \'*\' for update;\n  if v_shared = -1 then\n    v_shared := tokengate._shared_lock(p_org_id);\n  end if;\n\n  -- 1. The bucket, locked.'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 3,
       E'    if v_bucket.allowance_remaining + v_bucket.purchased_remaining < v_cost then',
       E'    if v_bucket.allowance_remaining + v_bucket.purchased_remaining + coalesce(v_shared, 0) < v_cost then'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 4,
       E'\'available\', v_bucket.allowance_remaining + v_bucket.purchased_remaining, \'required\', v_cost',
       E'\'available\', v_bucket.allowance_remaining + v_bucket.purchased_remaining + coalesce(v_shared, 0), \'required\', v_cost'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 5,
       E'  if v_from_p > 0 then\n    -- The pool\'s part comes from grants',
       E'  if v_shared > 0 and v_from_p > 0 then\n    -- Any-type grants the burn order reaches move into this type first (tokengate._shared_fill).\n    perform tokengate._shared_fill(p_org_id, p_token_type, v_from_p);\n    select * into v_bucket from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = p_token_type;\n    select b.purchased_remaining into v_shared from tokengate.buckets b where b.org_id = p_org_id and b.token_type_id = \'*\';\n  end if;\n  if v_from_p > 0 then\n    -- The pool\'s part comes from grants'),
      ('tokengate.deduct(uuid, uuid, text, text, jsonb, integer)', 6,
       E'        \'available\', case when v_look.access = \'unlimited\' then null else b.allowance_remaining + b.purchased_remaining end,',
       E'        \'shared\', coalesce(v_shared, 0),\n        \'available\', case when v_look.access = \'unlimited\' then null else b.allowance_remaining + b.purchased_remaining + coalesce(v_shared, 0) end,'),
      ('tokengate._append(uuid, text, text, bigint, bigint, bigint, bigint, uuid, uuid, text, jsonb, integer, uuid)', 1,
       E'      v_tag := case when p_kind = \'reserve\' then p_reservation_id end;\n',
       E'      v_tag := case when p_kind = \'reserve\' then p_reservation_id end;\n      if p_kind in (\'reserve\', \'commit\', \'deduct\') and p_token_type_id <> \'*\'\n         and current_setting(\'tokengate.shared\', true) = p_org_id::text then\n        -- The transaction holds the shared pool: any-type grants the burn order reaches move in first.\n        perform tokengate._shared_fill(p_org_id, p_token_type_id, -p_purchased_delta);\n      end if;\n'),
      ('tokengate._denial(tokengate.buckets, tokengate.plans, uuid, bigint)', 1,
       'v_available bigint := p_bucket.allowance_remaining + p_bucket.purchased_remaining;',
       'v_available bigint := p_bucket.allowance_remaining + p_bucket.purchased_remaining + tokengate._shared_available(p_bucket.org_id);'),
      ('tokengate._resolve(tokengate.reservations, text, integer, uuid, jsonb)', 1,
       'v_extra_p := least(v_extra - v_extra_a, v_bucket.purchased_remaining + v_refund_p);',
       'v_extra_p := least(v_extra - v_extra_a, v_bucket.purchased_remaining + v_refund_p + tokengate._shared_available(r.org_id));'),
      ('tokengate._late_charge(tokengate.reservations, integer, jsonb)', 1,
       'v_from_p := least(p_actual - v_from_a, v_bucket.purchased_remaining);',
       'v_from_p := least(p_actual - v_from_a, v_bucket.purchased_remaining + tokengate._shared_available(r.org_id));'),
      ('tokengate.reserve(uuid, uuid, text, text, integer, integer, jsonb)', 1,
       E'  v_bucket := tokengate._touch(v_account, v_type.id);\n  v_replay',
       E'  perform tokengate._shared_lock(p_org_id);\n  v_bucket := tokengate._touch(v_account, v_type.id);\n  v_replay'),
      ('tokengate.guard_begin(uuid, uuid, text, text, integer, integer, jsonb)', 1,
       E'      perform tokengate._touch(v_account, v_type.id);\n',
       E'      perform tokengate._shared_lock(p_org_id);\n      perform tokengate._touch(v_account, v_type.id);\n'),
      ('tokengate.guard_begin(uuid, uuid, text, text, integer, integer, jsonb)', 2,
       E'  v_bucket := tokengate._touch(v_account, v_type.id);\n',
       E'  perform tokengate._shared_lock(p_org_id);\n  v_bucket := tokengate._touch(v_account, v_type.id);\n'),
      ('tokengate._guard_hold(uuid, uuid, text, uuid)', 1,
       E'  perform tokengate._touch(v_account, r.token_type_id);\n',
       E'  perform tokengate._shared_lock(p_org_id);\n  perform tokengate._touch(v_account, r.token_type_id);\n'),
      ('tokengate._reservation_for(uuid, uuid, uuid)', 1,
       E'  perform tokengate._touch(v_account, r.token_type_id);\n',
       E'  perform tokengate._shared_lock(p_org_id);\n  perform tokengate._touch(v_account, r.token_type_id);\n'),
      ('tokengate."check"(uuid, uuid, text, integer)', 1,
       E'  v_bucket := tokengate._touch(v_account, v_type.id);\n',
       E'  perform tokengate._shared_lock(p_org_id);\n  v_bucket := tokengate._touch(v_account, v_type.id);\n'),
      ('tokengate._touch(tokengate.accounts, text)', 1,
       E'begin\n  insert into tokengate.buckets (org_id, token_type_id)\n',
       E'begin\n  if p_token_type_id = \'*\' then\n    -- The shared pool: opened once (its period is the one it was opened in; it has no allowance\n    -- to refresh), locked, its due grant work done.\n    insert into tokengate.buckets (org_id, token_type_id, period_start, period_end)\n    select p_account.org_id, \'*\', p.period_start, p.period_end from tokengate.period_at(p_account.period_anchor, v_now) p\n    on conflict do nothing;\n    perform tokengate._shared_lock(p_account.org_id);\n    select * into v_bucket from tokengate.buckets b where b.org_id = p_account.org_id and b.token_type_id = \'*\';\n    return v_bucket;\n  end if;\n  insert into tokengate.buckets (org_id, token_type_id)\n'),
      ('tokengate._bucket_json(uuid, text)', 2,
       E'    \'available\', case when p.access = \'unlimited\' then null else b.allowance_remaining + b.purchased_remaining end,',
       E'    \'shared\', coalesce(s.purchased_remaining, 0),\n    \'available\', case when p.access = \'unlimited\' then null else b.allowance_remaining + b.purchased_remaining + coalesce(s.purchased_remaining, 0) end,'),
      ('tokengate._bucket_json(uuid, text)', 1,
       E'  join tokengate.plans p on p.id = a.plan_id\n',
       E'  join tokengate.plans p on p.id = a.plan_id\n  cross join lateral (select tokengate._shared_now(b.org_id) as purchased_remaining) s\n'),
      ('tokengate.grant_tokens(uuid, uuid, text, integer, text, jsonb, text, timestamp with time zone, timestamp with time zone, integer)', 1,
       E'  v_type := tokengate._token_type(p_token_type);\n',
       E'  if p_token_type = \'*\' then\n    v_type.id := \'*\';  -- any type: the shared pool\n  else\n    v_type := tokengate._token_type(p_token_type);\n  end if;\n'),
      ('tokengate.clawback_grant(uuid, uuid, uuid, text, integer, text, text, jsonb)', 1,
       E'  select * into v_grant from tokengate.grants g where g.org_id = p_org_id and g.id = v_grant.id;\n',
       E'  select * into v_grant from tokengate.grants g where g.org_id = p_org_id and g.id = v_grant.id;\n  if v_grant.token_type_id = \'*\' and v_grant.status = \'active\' then\n    perform tokengate._shared_gather(v_account, v_grant.id);\n    select * into v_grant from tokengate.grants g where g.org_id = p_org_id and g.id = v_grant.id;\n  end if;\n'),
      ('tokengate.clawback_grant(uuid, uuid, uuid, text, integer, text, text, jsonb)', 2,
       E'  if v_revoke then\n    update tokengate.buckets b',
       E'  if v_revoke and v_grant.token_type_id = \'*\' then\n    -- (Gathered above: the children hold nothing; holds that return to them later are forfeited.)\n    update tokengate.grants g set status = \'revoked\', ended_at = v_now\n    where g.org_id = p_org_id and g.parent_id = v_grant.id and g.status = \'active\';\n  end if;\n  if v_revoke then\n    update tokengate.buckets b'),
      ('tokengate.grants(uuid, uuid, text, boolean)', 1,
       E'    order by b.token_type_id\n',
       E'    order by b.token_type_id <> \'*\', b.token_type_id\n'),
      ('tokengate.grants(uuid, uuid, text, boolean)', 2,
       E'where g.org_id = p_org_id and (p_token_type is null or g.token_type_id = p_token_type)',
       E'where g.org_id = p_org_id and (p_token_type is null or g.token_type_id in (p_token_type, \'*\'))'),
      ('tokengate.grants(uuid, uuid, text, boolean)', 4,
       E'      g.token_type_id,\n',
       E'      case when p_token_type is null then g.token_type_id end,\n'),
      ('tokengate.grants(uuid, uuid, text, boolean)', 5,
       E'      g.created_at, g.seq)',
       E'      g.created_at, g.seq, g.token_type_id = \'*\')'),
      ('tokengate.grants(uuid, uuid, text, boolean)', 3,
       E'where b.org_id = p_org_id and (p_token_type is null or b.token_type_id = p_token_type)',
       E'where b.org_id = p_org_id and (p_token_type is null or b.token_type_id in (p_token_type, \'*\'))'),
      ('tokengate.expire_grants(integer)', 1,
       'order by b.grants_due_at, b.org_id, b.token_type_id',
       E'order by b.token_type_id <> \'*\', b.grants_due_at, b.org_id, b.token_type_id'),
      ('tokengate.verify_ledger(uuid)', 1,
       E'x.held_purchased <> coalesce(h.held, 0)\n',
       E'x.held_purchased <> coalesce(h.held, 0)\n    union all\n    select jsonb_build_object(\'check\', \'transfers_balance\', \'orgId\', l.org_id, \'delta\', sum(l.purchased_delta))\n    from tokengate.ledger l\n    where l.kind = \'transfer\' and (p_org_id is null or l.org_id = p_org_id)\n    group by l.org_id\n    having sum(l.purchased_delta) <> 0\n')
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

/*
  Operators: buckets near exhaustion count the shared pool in what is available (as members see it),
  and the pool's own bucket is not a token type.
*/
create or replace function tokengate.operator_near_exhaustion(p_percent int default 10, p_limit int default 100)
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
  with b as (
    select b.*, coalesce(s.purchased_remaining, 0) as shared,
           b.allowance_remaining + b.purchased_remaining + coalesce(s.purchased_remaining, 0) as available
    from tokengate.buckets b
    left join lateral (select tokengate._shared_now(b.org_id) as purchased_remaining) s on true
    where b.token_type_id <> '*' and b.period_end > v_now
  ), n as (
    select b.org_id, a.plan_id, b.token_type_id, b.allowance, b.allowance_remaining, b.purchased_remaining, b.shared, b.held,
           b.available, b.period_end
    from b
    join tokengate.accounts a on a.org_id = b.org_id
    join tokengate.plans p on p.id = a.plan_id
    where p.access = 'metered'
      -- (integer arithmetic: available / allowance < p_percent / 100, exactly)
      and (b.available = 0 or b.available * 100 < p_percent::bigint * b.allowance)
    order by b.available::numeric / nullif(b.allowance, 0) nulls first, b.available, b.org_id, b.token_type_id
    limit p_limit
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'orgId', n.org_id, 'planId', n.plan_id, 'tokenType', n.token_type_id, 'allowance', n.allowance,
           'allowanceRemaining', n.allowance_remaining, 'purchased', n.purchased_remaining, 'shared', n.shared, 'held', n.held,
           'available', n.available,
           'percentLeft', case when n.allowance = 0 then null else round(n.available * 100.0 / n.allowance, 1) end,
           'periodEnd', n.period_end)
         order by n.available::numeric / nullif(n.allowance, 0) nulls first, n.available, n.org_id, n.token_type_id), '[]')
  into v_result
  from n;
  return v_result;
end
$$;

/* A grant as the API answers it: an any-type grant's children name it. */
create or replace function tokengate._grant_json(g tokengate.grants)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'grantId', g.id,
    'tokenType', g.token_type_id,
    'anyType', g.token_type_id = '*',
    'parentId', g.parent_id,
    'source', g.source,
    'amount', g.amount,
    'remaining', g.remaining,
    'priority', g.priority,
    'effectiveAt', g.effective_at,
    'expiresAt', g.expires_at,
    'status', g.status,
    'expired', g.expired,
    'clawedBack', g.clawed_back,
    'clawbackShortfall', g.clawback_shortfall,
    'forfeited', g.forfeited,
    'createdAt', g.created_at,
    'endedAt', g.ended_at,
    'metadata', g.metadata)
$$;

do $do$
declare
  v_fn regprocedure;
begin
  for v_fn in
    select p.oid::regprocedure from pg_proc p
    where p.pronamespace = 'tokengate'::regnamespace
      and p.proname in ('_bucket_type_exists', '_shared_lock', '_shared_now', '_shared_available', '_shared_fill', '_shared_gather', '_grant_json')
  loop
    execute format('revoke execute on function %s from public, anon, authenticated, service_role', v_fn);
  end loop;
end
$do$;
