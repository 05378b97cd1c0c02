/*
  Tokengate ledger — reservations keyed by (org_id, id), like every other organization's row.

  With org_id first in every org-scoped key, the schema can be distributed by organization (each
  organization's rows on one node; see docs/scaling.md). A reservation id is a random uuid, so it
  stays unique on its own in practice; lookups by id alone (a replayed reserve, a commit by id)
  keep an index on id. The guard's runs reference their hold by (org_id, reservation_id).
*/
alter table tokengate.guard_requests drop constraint guard_requests_reservation_id_fkey;
alter table tokengate.reservations drop constraint reservations_pkey;
alter table tokengate.reservations add constraint reservations_pkey primary key (org_id, id);
create index reservations_id_idx on tokengate.reservations (id);
alter table tokengate.guard_requests add constraint guard_requests_reservation_fkey
  foreign key (org_id, reservation_id) references tokengate.reservations (org_id, id);
-- (org_id, token_type_id) stays indexed for the bucket's pending holds; org_id alone is now the key's prefix.
