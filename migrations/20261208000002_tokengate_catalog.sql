/*
  Tokengate ledger — the catalog as code.

  An app declares its plans, token types, costs, allowances and alert thresholds in a config file
  (`defineCatalog`, tokengate.config.ts); `tokengate catalog diff` shows what would change and whom
  it affects, `tokengate catalog push` applies it. Both call tokengate.catalog_apply, which
  validates the config, computes the changes, and (unless it is a dry run) applies them and records
  the push in tokengate.catalog_history — one statement, one transaction: a refusal halfway leaves
  the catalog and its history as they were.

  When changes take effect
    - price (token_types.cost): from each organization's next period. The old price is kept in
      token_type_prices, and a bucket whose period started before the push pays it through
      tokengate._cost until its period ends. With p_now the new price applies at once.
    - allowance (plan_allowances): at each organization's next refresh, as edits of plan_allowances
      always have (set_plan applies them at once).
    - access of a plan, a type archived or restored, names, descriptions, order, alert thresholds: now.

  Refusals (named errors)
    - token_type_in_use: a token type left out of the config still has balances (buckets) or member
      quotas. Mark it `archived` instead: it stays, inactive (it cannot be charged).
    - plan_in_use: a plan left out of the config still has organizations on it.
*/

insert into tokengate.error_codes (name, sqlstate, http_status, title) values
  ('token_type_in_use', 'TGC07', 409, 'The token type has balances or member quotas: archive it instead of removing it.'),
  ('plan_in_use',       'TGC08', 409, 'Organizations are on this plan: move them to another plan before removing it.');

create table tokengate.catalog_history (
  id        bigint generated always as identity primary key,
  pushed_at timestamptz not null,
  -- Who pushed (the CLI sends the OS user and host; apps what they like).
  actor     text check (length(actor) <= 200),
  -- The config as pushed (normalised: every default filled in).
  config    jsonb not null,
  -- What catalog_apply changed (the same list a dry run answers).
  changes   jsonb not null,
  -- Whether price changes applied at once (--now) instead of from each organization's next period.
  now       boolean not null
);
comment on table tokengate.catalog_history is
  'Every catalog push (tokengate.catalog_apply): when, by whom, the config and the changes. Server only.';

alter table tokengate.catalog_history enable row level security;
grant select on tokengate.catalog_history to service_role;

/* invalid_argument for p_config, naming where and what (`tokenTypes[2].cost`, `an integer from 1 to 1000000`). */
create function tokengate._catalog_invalid(p_path text, p_rule text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform tokengate._raise('invalid_argument', jsonb_build_object('argument', 'p_config', 'path', p_path, 'rule', p_path || ': ' || p_rule));
end
$$;

/* Whether a JSON value is an integer number within [p_min, p_max] (null, a string or 1.5 are not). */
create function tokengate._catalog_int(p_value jsonb, p_min bigint, p_max bigint)
returns boolean
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_typeof(p_value) = 'number'
    and (p_value #>> '{}')::numeric = trunc((p_value #>> '{}')::numeric)
    and (p_value #>> '{}')::numeric between p_min and p_max, false)
$$;

/*
  The config with every default filled in, after checking every field: the shape defineCatalog
  produces. Raises invalid_argument (argument p_config) with the path of the first bad field.
*/
create function tokengate._catalog_normalize(p_config jsonb)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item jsonb;
  v_i int;
  v_path text;
  v_id text;
  v_key text;
  v_value jsonb;
  v_types jsonb := '[]';
  v_plans jsonb := '[]';
  v_type_ids text[] := '{}';
  v_plan_ids text[] := '{}';
  v_allowances jsonb;
  c_id constant text := '^[a-z][a-z0-9_]{0,62}$';
begin
  if p_config is null or jsonb_typeof(p_config) <> 'object' then
    perform tokengate._catalog_invalid('config', 'an object with plans and tokenTypes');
  end if;
  for v_key in select jsonb_object_keys(p_config) loop
    if v_key not in ('plans', 'tokenTypes') then
      perform tokengate._catalog_invalid(v_key, 'unknown field (a catalog has plans and tokenTypes)');
    end if;
  end loop;
  if jsonb_typeof(p_config -> 'tokenTypes') is distinct from 'array' then
    perform tokengate._catalog_invalid('tokenTypes', 'an array of token types');
  end if;
  if jsonb_typeof(p_config -> 'plans') is distinct from 'array' then
    perform tokengate._catalog_invalid('plans', 'an array of plans');
  end if;

  for v_item, v_i in select e, (o - 1)::int from jsonb_array_elements(p_config -> 'tokenTypes') with ordinality as x(e, o) loop
    v_path := format('tokenTypes[%s]', v_i);
    if jsonb_typeof(v_item) <> 'object' then
      perform tokengate._catalog_invalid(v_path, 'an object');
    end if;
    for v_key in select jsonb_object_keys(v_item) loop
      if v_key not in ('id', 'name', 'cost', 'description', 'sortOrder', 'lowAlertPercent', 'archived') then
        perform tokengate._catalog_invalid(v_path || '.' || v_key, 'unknown field');
      end if;
    end loop;
    if jsonb_typeof(v_item -> 'id') is distinct from 'string' or (v_item ->> 'id') !~ c_id then
      perform tokengate._catalog_invalid(v_path || '.id', 'a lowercase identifier: a letter, then letters, digits or _ (at most 63)');
    end if;
    v_id := v_item ->> 'id';
    if v_id = any(v_type_ids) then
      perform tokengate._catalog_invalid(v_path || '.id', format('the token type %s is declared twice', v_id));
    end if;
    v_type_ids := v_type_ids || v_id;
    if jsonb_typeof(v_item -> 'name') is distinct from 'string' or length(v_item ->> 'name') not between 1 and 100 then
      perform tokengate._catalog_invalid(v_path || '.name', 'a string of 1 to 100 characters');
    end if;
    if not tokengate._catalog_int(v_item -> 'cost', 1, 1000000) then
      perform tokengate._catalog_invalid(v_path || '.cost', 'an integer from 1 to 1000000');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'description'), 'null') not in ('null', 'string') then
      perform tokengate._catalog_invalid(v_path || '.description', 'a string or null');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'sortOrder'), 'null') <> 'null' and not tokengate._catalog_int(v_item -> 'sortOrder', -2147483648, 2147483647) then
      perform tokengate._catalog_invalid(v_path || '.sortOrder', 'an integer');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'lowAlertPercent'), 'null') <> 'null' and not tokengate._catalog_int(v_item -> 'lowAlertPercent', 0, 100) then
      perform tokengate._catalog_invalid(v_path || '.lowAlertPercent', 'an integer from 0 to 100 (0: never alert)');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'archived'), 'null') not in ('null', 'boolean') then
      perform tokengate._catalog_invalid(v_path || '.archived', 'a boolean');
    end if;
    v_types := v_types || jsonb_build_array(jsonb_build_object(
      'id', v_id,
      'name', v_item -> 'name',
      'cost', (v_item ->> 'cost')::numeric::int,
      'description', coalesce(v_item -> 'description', 'null'::jsonb),
      -- Declared order when no sortOrder is given (1-based, as the seeded catalog).
      'sortOrder', coalesce((nullif(v_item -> 'sortOrder', 'null'::jsonb) #>> '{}')::numeric::int, v_i + 1),
      'lowAlertPercent', coalesce((nullif(v_item -> 'lowAlertPercent', 'null'::jsonb) #>> '{}')::numeric::int, 20),
      'archived', coalesce((nullif(v_item -> 'archived', 'null'::jsonb))::boolean, false)));
  end loop;

  for v_item, v_i in select e, (o - 1)::int from jsonb_array_elements(p_config -> 'plans') with ordinality as x(e, o) loop
    v_path := format('plans[%s]', v_i);
    if jsonb_typeof(v_item) <> 'object' then
      perform tokengate._catalog_invalid(v_path, 'an object');
    end if;
    for v_key in select jsonb_object_keys(v_item) loop
      if v_key not in ('id', 'name', 'access', 'description', 'sortOrder', 'allowances') then
        perform tokengate._catalog_invalid(v_path || '.' || v_key, 'unknown field');
      end if;
    end loop;
    if jsonb_typeof(v_item -> 'id') is distinct from 'string' or (v_item ->> 'id') !~ c_id then
      perform tokengate._catalog_invalid(v_path || '.id', 'a lowercase identifier: a letter, then letters, digits or _ (at most 63)');
    end if;
    v_id := v_item ->> 'id';
    if v_id = any(v_plan_ids) then
      perform tokengate._catalog_invalid(v_path || '.id', format('the plan %s is declared twice', v_id));
    end if;
    v_plan_ids := v_plan_ids || v_id;
    if jsonb_typeof(v_item -> 'name') is distinct from 'string' or length(v_item ->> 'name') not between 1 and 100 then
      perform tokengate._catalog_invalid(v_path || '.name', 'a string of 1 to 100 characters');
    end if;
    if jsonb_typeof(v_item -> 'access') is distinct from 'string' or (v_item ->> 'access') not in ('blocked', 'metered', 'unlimited') then
      perform tokengate._catalog_invalid(v_path || '.access', 'blocked, metered or unlimited');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'description'), 'null') not in ('null', 'string') then
      perform tokengate._catalog_invalid(v_path || '.description', 'a string or null');
    end if;
    if coalesce(jsonb_typeof(v_item -> 'sortOrder'), 'null') <> 'null' and not tokengate._catalog_int(v_item -> 'sortOrder', -2147483648, 2147483647) then
      perform tokengate._catalog_invalid(v_path || '.sortOrder', 'an integer');
    end if;
    v_allowances := coalesce(nullif(v_item -> 'allowances', 'null'::jsonb), '{}');
    if jsonb_typeof(v_allowances) <> 'object' then
      perform tokengate._catalog_invalid(v_path || '.allowances', 'an object: token type id → tokens per period');
    end if;
    for v_key, v_value in select * from jsonb_each(v_allowances) loop
      if not v_key = any(v_type_ids) then
        perform tokengate._catalog_invalid(v_path || '.allowances.' || v_key, 'not a token type of this catalog');
      end if;
      if not tokengate._catalog_int(v_value, 0, 1000000000) then
        perform tokengate._catalog_invalid(v_path || '.allowances.' || v_key, 'an integer from 0 to 1000000000');
      end if;
    end loop;
    v_plans := v_plans || jsonb_build_array(jsonb_build_object(
      'id', v_id,
      'name', v_item -> 'name',
      'access', v_item -> 'access',
      'description', coalesce(v_item -> 'description', 'null'::jsonb),
      'sortOrder', coalesce((nullif(v_item -> 'sortOrder', 'null'::jsonb) #>> '{}')::numeric::int, v_i + 1),
      'allowances', coalesce((select jsonb_object_agg(k, (v #>> '{}')::numeric::int) from jsonb_each(v_allowances) as a(k, v)), '{}')));
  end loop;

  return jsonb_build_object('plans', v_plans, 'tokenTypes', v_types);
end
$$;

/* {"field": {"from": old, "to": new}} for every field whose value differs (by JSON equality). */
create function tokengate._catalog_fields(p_old jsonb, p_new jsonb)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_object_agg(n.key, jsonb_build_object('from', coalesce(p_old -> n.key, 'null'::jsonb), 'to', n.value) order by n.key), '{}')
  from jsonb_each(p_new) as n
  where (p_old -> n.key) is distinct from n.value
$$;

/*
  Diff (p_dry_run) or apply a catalog config, in one transaction. Answers
    { dryRun, now, at, historyId, changes: [...], impact: [...], impactTotal }
  changes, in the order they apply:
    { entity: 'tokenType', action: 'add' | 'update' | 'remove', id, fields? | to? }
    { entity: 'price', tokenType, from, to, applies: 'next_period' | 'now' }
    { entity: 'plan', action: 'add' | 'update' | 'remove', id, fields? | to? }
    { entity: 'allowance', action: 'add' | 'update' | 'remove', planId, tokenType, from, to, applies: 'next_refresh' }
  impact: per organization and bucket, what changes and when (appliesAt), at most 1000 rows
  (impactTotal counts them all):
    { orgId, planId, tokenType, change: 'price' | 'allowance' | 'access' | 'archived' | 'restored', from, to, appliesAt }
  A price applies from the end of the organization's current period (now with p_now); an allowance
  at its next refresh (the end of its current period, or now when its bucket has no period yet or a
  stale one: its first use this period refreshes it).
*/
create function tokengate.catalog_apply(p_config jsonb, p_now boolean default false, p_actor text default null, p_dry_run boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := tokengate.clock();
  v_config jsonb;
  v_changes jsonb := '[]';
  v_item jsonb;
  v_old jsonb;
  v_new jsonb;
  v_fields jsonb;
  v_type tokengate.token_types;
  v_plan tokengate.plans;
  v_from int;
  v_to int;
  v_key text;
  v_value jsonb;
  v_users int;
  v_history bigint;
  v_impact jsonb;
  v_total int;
  -- What the impact is computed from.
  v_prices jsonb := '[]';      -- [{tokenType, from, to}]
  v_allowances jsonb := '[]';  -- [{planId, tokenType, from, to}]
  v_access jsonb := '[]';      -- [{planId, from, to}]
  v_archived jsonb := '[]';    -- [{tokenType, archived}]
begin
  perform tokengate._arg(p_now is not null, 'p_now', 'true or false');
  perform tokengate._arg(p_dry_run is not null, 'p_dry_run', 'true or false');
  perform tokengate._arg(p_actor is null or length(p_actor) <= 200, 'p_actor', 'at most 200 characters');
  v_config := tokengate._catalog_normalize(p_config);

  -- One push at a time; charges never take this lock.
  if not p_dry_run then
    lock table tokengate.catalog_history in exclusive mode;
  end if;

  /* 1. token types: add, update, price */
  for v_item in select e from jsonb_array_elements(v_config -> 'tokenTypes') as x(e) loop
    select * into v_type from tokengate.token_types t where t.id = v_item ->> 'id' for update;
    v_new := jsonb_build_object('name', v_item -> 'name', 'description', v_item -> 'description',
      'sortOrder', v_item -> 'sortOrder', 'lowAlertPercent', v_item -> 'lowAlertPercent', 'archived', v_item -> 'archived');
    if v_type.id is null then
      v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'tokenType', 'action', 'add', 'id', v_item -> 'id',
        'to', v_new || jsonb_build_object('cost', v_item -> 'cost')));
      if not p_dry_run then
        insert into tokengate.token_types (id, name, cost, description, active, sort_order, low_alert_percent)
        values (v_item ->> 'id', v_item ->> 'name', (v_item ->> 'cost')::int, v_item ->> 'description',
                not (v_item ->> 'archived')::boolean, (v_item ->> 'sortOrder')::int, (v_item ->> 'lowAlertPercent')::int);
      end if;
      continue;
    end if;

    v_old := jsonb_build_object('name', v_type.name, 'description', v_type.description,
      'sortOrder', v_type.sort_order, 'lowAlertPercent', v_type.low_alert_percent, 'archived', not v_type.active);
    v_fields := tokengate._catalog_fields(v_old, v_new);
    if v_fields <> '{}' then
      v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'tokenType', 'action', 'update', 'id', v_type.id, 'fields', v_fields));
      if v_fields ? 'archived' then
        v_archived := v_archived || jsonb_build_array(jsonb_build_object('tokenType', v_type.id, 'archived', v_item -> 'archived'));
      end if;
      if not p_dry_run then
        update tokengate.token_types t set
          name = v_item ->> 'name',
          description = v_item ->> 'description',
          sort_order = (v_item ->> 'sortOrder')::int,
          low_alert_percent = (v_item ->> 'lowAlertPercent')::int,
          active = not (v_item ->> 'archived')::boolean
        where t.id = v_type.id;
      end if;
    end if;

    v_to := (v_item ->> 'cost')::int;
    -- With p_now, a price still waiting for the next period (cost_from set) applies now too.
    if v_to <> v_type.cost or (p_now and v_type.cost_from is not null) then
      -- What periods that started before now pay today (the old price, or one still pending).
      v_from := tokengate._cost(v_type, v_now - interval '1 microsecond');
      v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'price', 'tokenType', v_type.id,
        'from', v_type.cost, 'to', v_to, 'applies', case when p_now then 'now' else 'next_period' end));
      v_prices := v_prices || jsonb_build_array(jsonb_build_object('tokenType', v_type.id, 'from', v_from, 'to', v_to));
      if not p_dry_run then
        if p_now then
          delete from tokengate.token_type_prices p where p.token_type_id = v_type.id;
          update tokengate.token_types t set cost = v_to, cost_from = null where t.id = v_type.id;
        else
          if not exists (select 1 from tokengate.token_type_prices p where p.token_type_id = v_type.id) then
            insert into tokengate.token_type_prices (token_type_id, effective_from, cost) values (v_type.id, '-infinity', v_type.cost);
          end if;
          insert into tokengate.token_type_prices (token_type_id, effective_from, cost) values (v_type.id, v_now, v_to)
          on conflict (token_type_id, effective_from) do update set cost = excluded.cost;
          update tokengate.token_types t set cost = v_to, cost_from = v_now where t.id = v_type.id;
        end if;
      end if;
    end if;
  end loop;

  /* 2. plans: add, update; 3. their allowances */
  for v_item in select e from jsonb_array_elements(v_config -> 'plans') as x(e) loop
    select * into v_plan from tokengate.plans p where p.id = v_item ->> 'id' for update;
    v_new := jsonb_build_object('name', v_item -> 'name', 'access', v_item -> 'access',
      'description', v_item -> 'description', 'sortOrder', v_item -> 'sortOrder');
    if v_plan.id is null then
      v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'plan', 'action', 'add', 'id', v_item -> 'id', 'to', v_new));
      if not p_dry_run then
        insert into tokengate.plans (id, name, access, description, sort_order)
        values (v_item ->> 'id', v_item ->> 'name', v_item ->> 'access', v_item ->> 'description', (v_item ->> 'sortOrder')::int);
      end if;
    else
      v_old := jsonb_build_object('name', v_plan.name, 'access', v_plan.access, 'description', v_plan.description, 'sortOrder', v_plan.sort_order);
      v_fields := tokengate._catalog_fields(v_old, v_new);
      if v_fields <> '{}' then
        v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'plan', 'action', 'update', 'id', v_plan.id, 'fields', v_fields));
        if v_fields ? 'access' then
          v_access := v_access || jsonb_build_array(jsonb_build_object('planId', v_plan.id, 'from', v_plan.access, 'to', v_item -> 'access'));
        end if;
        if not p_dry_run then
          update tokengate.plans p set name = v_item ->> 'name', access = v_item ->> 'access',
            description = v_item ->> 'description', sort_order = (v_item ->> 'sortOrder')::int
          where p.id = v_plan.id;
        end if;
      end if;
    end if;

    -- Allowances: every declared one, and the plan's rows the config no longer declares.
    for v_key, v_from, v_to in
      select coalesce(d.token_type_id, c.key), d.monthly_allowance, (c.value #>> '{}')::int
      from (select * from tokengate.plan_allowances pa where pa.plan_id = v_item ->> 'id') as d
      full join jsonb_each(v_item -> 'allowances') as c on c.key = d.token_type_id
      where d.monthly_allowance is distinct from (c.value #>> '{}')::int
      order by 1
    loop
      v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'allowance',
        'action', case when v_from is null then 'add' when v_to is null then 'remove' else 'update' end,
        'planId', v_item -> 'id', 'tokenType', v_key, 'from', v_from, 'to', v_to, 'applies', 'next_refresh'));
      v_allowances := v_allowances || jsonb_build_array(jsonb_build_object('planId', v_item -> 'id', 'tokenType', v_key,
        'from', coalesce(v_from, 0), 'to', coalesce(v_to, 0)));
      if not p_dry_run then
        if v_to is null then
          delete from tokengate.plan_allowances pa where pa.plan_id = v_item ->> 'id' and pa.token_type_id = v_key;
        else
          insert into tokengate.plan_allowances (plan_id, token_type_id, monthly_allowance) values (v_item ->> 'id', v_key, v_to)
          on conflict (plan_id, token_type_id) do update set monthly_allowance = excluded.monthly_allowance;
        end if;
      end if;
    end loop;
  end loop;

  /* 4. plans the config no longer declares */
  for v_plan in
    select * from tokengate.plans p
    where not exists (select 1 from jsonb_array_elements(v_config -> 'plans') as x(e) where x.e ->> 'id' = p.id)
    order by p.id for update
  loop
    select count(*) into v_users from tokengate.accounts a where a.plan_id = v_plan.id;
    if v_users > 0 then
      perform tokengate._raise('plan_in_use', jsonb_build_object('planId', v_plan.id, 'organizations', v_users));
    end if;
    v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'plan', 'action', 'remove', 'id', v_plan.id));
    if not p_dry_run then
      delete from tokengate.plan_allowances pa where pa.plan_id = v_plan.id;
      delete from tokengate.plans p where p.id = v_plan.id;
    end if;
  end loop;

  /* 5. token types the config no longer declares */
  for v_type in
    select * from tokengate.token_types t
    where not exists (select 1 from jsonb_array_elements(v_config -> 'tokenTypes') as x(e) where x.e ->> 'id' = t.id)
    order by t.id for update
  loop
    select count(distinct o.org_id) into v_users from (
      select b.org_id from tokengate.buckets b where b.token_type_id = v_type.id
      union all
      select q.org_id from tokengate.member_quotas q where q.token_type_id = v_type.id) as o;
    if v_users > 0 then
      perform tokengate._raise('token_type_in_use', jsonb_build_object('tokenType', v_type.id, 'organizations', v_users));
    end if;
    v_changes := v_changes || jsonb_build_array(jsonb_build_object('entity', 'tokenType', 'action', 'remove', 'id', v_type.id));
    if not p_dry_run then
      -- Allowances of plans that were removed or updated above are gone already; this is the rest.
      delete from tokengate.plan_allowances pa where pa.token_type_id = v_type.id;
      delete from tokengate.token_types t where t.id = v_type.id;
    end if;
  end loop;

  /* impact on organizations: computed from the state before this push (same in a dry run) */
  with orgs as (
    select a.org_id, a.plan_id, per.period_start, per.period_end
    from tokengate.accounts a, tokengate.period_at(a.period_anchor, v_now) as per
  ),
  affected as (
    select a.org_id, a.plan_id, p.e ->> 'tokenType' as token_type, 'price' as change, p.e -> 'from' as from_value, p.e -> 'to' as to_value,
           case when p_now or a.period_start >= v_now then v_now else a.period_end end as applies_at
    from orgs a, jsonb_array_elements(v_prices) as p(e)
    union all
    select a.org_id, a.plan_id, l.e ->> 'tokenType', 'allowance', l.e -> 'from', l.e -> 'to',
           case when b.period_start = a.period_start then a.period_end else v_now end
    from jsonb_array_elements(v_allowances) as l(e)
    join orgs a on a.plan_id = l.e ->> 'planId'
    left join tokengate.buckets b on b.org_id = a.org_id and b.token_type_id = l.e ->> 'tokenType'
    union all
    select a.org_id, a.plan_id, null, 'access', x.e -> 'from', x.e -> 'to', v_now
    from jsonb_array_elements(v_access) as x(e)
    join orgs a on a.plan_id = x.e ->> 'planId'
    union all
    select a.org_id, a.plan_id, r.e ->> 'tokenType', case when (r.e ->> 'archived')::boolean then 'archived' else 'restored' end,
           null, null, v_now
    from jsonb_array_elements(v_archived) as r(e)
    join tokengate.buckets b on b.token_type_id = r.e ->> 'tokenType'
    join orgs a on a.org_id = b.org_id
  )
  select count(*)::int,
         coalesce((select jsonb_agg(jsonb_build_object('orgId', r.org_id, 'planId', r.plan_id, 'tokenType', r.token_type, 'change', r.change,
                                                       'from', r.from_value, 'to', r.to_value, 'appliesAt', r.applies_at)
                                    order by r.org_id, r.token_type nulls first, r.change)
                   from (select * from affected order by org_id, token_type nulls first, change limit 1000) as r), '[]')
  into v_total, v_impact
  from affected;

  if not p_dry_run then
    insert into tokengate.catalog_history (pushed_at, actor, config, changes, now)
    values (v_now, p_actor, v_config, v_changes, p_now)
    returning id into v_history;
  end if;

  return jsonb_build_object('dryRun', p_dry_run, 'now', p_now, 'at', v_now, 'historyId', v_history,
    'changes', v_changes, 'impact', v_impact, 'impactTotal', v_total);
end
$$;
comment on function tokengate.catalog_apply(jsonb, boolean, text, boolean) is
  'Diff (p_dry_run) or apply a catalog config (plans, token types, costs, allowances, alert thresholds) in one transaction, recorded in catalog_history. Server only.';

revoke execute on function
  tokengate._catalog_invalid(text, text),
  tokengate._catalog_int(jsonb, bigint, bigint),
  tokengate._catalog_normalize(jsonb),
  tokengate._catalog_fields(jsonb, jsonb),
  tokengate.catalog_apply(jsonb, boolean, text, boolean)
from public, anon, authenticated, service_role;
grant execute on function tokengate.catalog_apply(jsonb, boolean, text, boolean) to service_role;
