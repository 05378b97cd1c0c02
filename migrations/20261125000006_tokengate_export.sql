/*
  Tokengate ledger — usage export.

  Ledger entries of an organization for a date range, one page at a time (keyset on the entry id),
  so the server can stream an export of any size without holding it in memory or a transaction.
*/

create index ledger_org_id_id_idx on tokengate.ledger (org_id, id);

/*
  One page of ledger entries created in [p_from, p_to] (UTC days) with id > p_after_id.
  nextAfterId is null on the last page.

  select tokengate.usage_export(:org, :user, '2028-01-01', '2028-01-31', 0, 1000);
*/
create function tokengate.usage_export(
  p_org_id uuid,
  p_user_id uuid,
  p_from date,
  p_to date,
  p_after_id bigint default 0,
  p_limit int default 1000
)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_rows jsonb;
  v_count int;
  v_last bigint;
begin
  perform tokengate._arg(p_from is not null, 'p_from', 'required');
  perform tokengate._arg(p_to >= p_from and p_to - p_from <= 3660, 'p_to', 'on or after p_from, at most 10 years later');
  perform tokengate._arg(p_after_id >= 0, 'p_after_id', '0 or more');
  perform tokengate._arg(p_limit between 1 and 10000, 'p_limit', '1 to 10000');
  if not exists (select 1 from tokengate.accounts a where a.org_id = p_org_id) then
    perform tokengate._raise('unknown_organization', jsonb_build_object('orgId', p_org_id));
  end if;
  perform tokengate._require_member(p_org_id, p_user_id);

  select jsonb_agg(jsonb_build_object(
           'id', l.id,
           'createdAt', l.created_at,
           'kind', l.kind,
           'tokenType', l.token_type_id,
           'userId', l.user_id,
           'amount', l.amount,
           'charged', l.charged,
           'allowanceAfter', l.allowance_after,
           'purchasedAfter', l.purchased_after,
           'heldAfter', l.held_after,
           'reservationId', l.reservation_id,
           'metadata', l.metadata) order by l.id),
         count(*), max(l.id)
    into v_rows, v_count, v_last
  from (
    select * from tokengate.ledger x
    where x.org_id = p_org_id and x.id > p_after_id
      and x.created_at >= (p_from::timestamp at time zone 'UTC')
      and x.created_at < ((p_to + 1)::timestamp at time zone 'UTC')
    order by x.id
    limit p_limit
  ) l;
  return jsonb_build_object(
    'entries', coalesce(v_rows, '[]'),
    'nextAfterId', case when v_count = p_limit then v_last end);
end
$$;

revoke execute on function tokengate.usage_export(uuid, uuid, date, date, bigint, int) from public, anon, authenticated;
grant execute on function tokengate.usage_export(uuid, uuid, date, date, bigint, int) to service_role;
