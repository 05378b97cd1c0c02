/*
  Tokengate ledger — many charges in one call, for hot organizations.

  One organization with many concurrent users charging one bucket serialises on that bucket's row
  lock: every charge waits for the one before it to commit (a round trip and a WAL flush each).
  tokengate.deduct_batch() runs many charges in one transaction, so a batching client (the
  server's batchingStore) pays for the lock, the round trip and the commit once per batch.

  There is still ONE implementation of a charge: each item is a call of tokengate.deduct(), by
  name, in a subtransaction of its own. A refusal (insufficient_tokens, idempotency_conflict, …)
  rolls back that item only and becomes its answer; the other items keep their charges. Any other
  error (not one of the ledger's TG*** codes) fails the whole call, which then wrote nothing.
*/

/*
  Charge each item as tokengate.deduct would, in one transaction. p_items is a JSON array of
  1 to 1000 objects { orgId, userId, tokenType, idempotencyKey, metadata?, units? } (deduct's
  arguments; metadata defaults to {} and units to 1 as in deduct).

  Items run in (orgId, tokenType) order — every batch locks buckets in that order, so two batches
  never deadlock — and, within one bucket, in array order: a key used twice in a batch charges
  once and replays (or conflicts) the second time, exactly as two deduct calls in a row would.

  The answer is an array in the callers' order, one entry per item:
    { "result": <what deduct answered> }
    { "error": { "code": "insufficient_tokens", "sqlstate": "TGB01", "detail": {…}, "hint": "…" } }
  where code, sqlstate, detail and hint are what deduct raised (its message, SQLSTATE, JSON detail
  and title), so a client maps an item's error exactly as it maps a raised one.

  Keep batches at 64 items or fewer where latency matters: each charged item is a subtransaction
  with its own xid, and past 64 of them in one transaction other sessions' snapshots must consult
  pg_subtrans (the "subtransaction overflow" slowdown).

  select tokengate.deduct_batch('[{"orgId": "…", "userId": "…", "tokenType": "quest_generation", "idempotencyKey": "req-1"}]');
*/
create function tokengate.deduct_batch(p_items jsonb)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item record;
  v_out jsonb[];
  v_n int;
  v_state text;
  v_message text;
  v_detail text;
  v_hint text;
  v_facts jsonb;
begin
  perform tokengate._arg(
    jsonb_typeof(p_items) = 'array' and jsonb_array_length(p_items) between 1 and 1000,
    'p_items', 'a JSON array of 1 to 1000 objects');
  v_n := jsonb_array_length(p_items);
  perform tokengate._arg(
    not exists (select 1 from jsonb_array_elements(p_items) e where jsonb_typeof(e) <> 'object'),
    'p_items', 'a JSON array of 1 to 1000 objects');
  v_out := array_fill(null::jsonb, array[v_n]);

  for v_item in
    select e.value as item, e.ordinality as i
    from jsonb_array_elements(p_items) with ordinality as e
    -- lower(): one uuid, however it is spelled, always sorts to the same place (one lock order).
    order by lower(e.value ->> 'orgId'), e.value ->> 'tokenType', e.ordinality
  loop
    begin
      v_out[v_item.i] := jsonb_build_object('result', tokengate.deduct(
        (v_item.item ->> 'orgId')::uuid,
        (v_item.item ->> 'userId')::uuid,
        v_item.item ->> 'tokenType',
        v_item.item ->> 'idempotencyKey',
        case when v_item.item ? 'metadata' then v_item.item -> 'metadata' else '{}'::jsonb end,
        case when v_item.item ? 'units' then (v_item.item ->> 'units')::int else 1 end));
    exception when others then
      get stacked diagnostics
        v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail, v_hint = pg_exception_hint;
      -- Only the ledger's own refusals are an item's answer; anything else (a bug, a cancelled or
      -- failed connection, a malformed item) fails the whole batch, which then wrote nothing.
      if v_state not like 'TG%' then
        raise;
      end if;
      begin
        v_facts := nullif(v_detail, '')::jsonb;
      exception when invalid_text_representation then
        v_facts := to_jsonb(v_detail);
      end;
      v_out[v_item.i] := jsonb_build_object('error', jsonb_build_object(
        'code', v_message, 'sqlstate', v_state, 'detail', coalesce(v_facts, '{}'::jsonb), 'hint', coalesce(v_hint, '')));
    end;
  end loop;
  return to_jsonb(v_out);
end
$$;
comment on function tokengate.deduct_batch(jsonb) is
  'Run tokengate.deduct for each item of a JSON array in one transaction (bucket order); per-item results or ledger errors, in the callers'' order.';

revoke execute on function tokengate.deduct_batch(jsonb) from public, anon, authenticated, service_role;
grant execute on function tokengate.deduct_batch(jsonb) to service_role;
