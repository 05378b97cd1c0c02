/*
  Tokengate ledger — tables and seeded catalog.

  Everything lives in the private schema `tokengate`. Clients (anon, authenticated) may only read
  (RLS, see ..._security.sql); every write goes through the SECURITY DEFINER functions in
  ..._api.sql, which only the server role may execute.

  Vocabulary
    bucket      state of one (organization, token type): current period, the period's allowance,
                what is left of it, purchased (top-up) tokens left, tokens held by reservations.
    available   allowance_remaining + purchased_remaining (both already exclude held tokens).
    ledger      append-only; one row per change of a bucket. For every bucket:
                  allowance_remaining = sum(allowance_delta), purchased_remaining = sum(purchased_delta),
                  held = sum(held_delta), used = sum(charged) over rows of the current period.
*/

create schema if not exists tokengate;
comment on schema tokengate is 'Tokengate: AI token ledger. Read via RLS, write via functions (server role only).';

revoke all on schema tokengate from public;
-- Postgres grants EXECUTE on every new function to PUBLIC, and a per-schema default privilege
-- cannot take that back. So every migration revokes EXECUTE on the functions it creates (see
-- ..._security.sql); the security suite fails on any function PUBLIC can execute.

/* ───────────────────────────── catalog (data, editable by the app) ───────────────────────────── */

create table tokengate.plans (
  id          text primary key check (id ~ '^[a-z][a-z0-9_]{0,62}$'),
  name        text not null check (length(name) between 1 and 100),
  -- blocked: AI features off (Starter); metered: monthly allowance per token type (Pro);
  -- unlimited: never blocked, usage still recorded (Enterprise).
  access      text not null check (access in ('blocked', 'metered', 'unlimited')),
  description text,
  sort_order  int not null default 0
);
comment on table tokengate.plans is
  'Plans an organization can be on. access decides whether AI runs at all (blocked), against a monthly allowance (metered) or without limit (unlimited).';

create table tokengate.token_types (
  id          text primary key check (id ~ '^[a-z][a-z0-9_]{0,62}$'),
  name        text not null check (length(name) between 1 and 100),
  -- Tokens charged per use. Costs come from here, never from the client.
  cost        int not null check (cost between 1 and 1000000),
  description text,
  active      boolean not null default true,
  sort_order  int not null default 0
);
comment on table tokengate.token_types is
  'AI features that spend tokens, and what one use costs. Inactive types cannot be charged.';

create table tokengate.plan_allowances (
  plan_id           text not null references tokengate.plans (id) on update cascade,
  token_type_id     text not null references tokengate.token_types (id) on update cascade,
  monthly_allowance int not null check (monthly_allowance between 0 and 1000000000),
  primary key (plan_id, token_type_id)
);
create index plan_allowances_token_type_id_idx on tokengate.plan_allowances (token_type_id);
comment on table tokengate.plan_allowances is
  'Tokens per period a metered plan grants per token type. A missing row means 0. Edits apply from the next refresh (or set_plan).';

insert into tokengate.plans (id, name, access, description, sort_order) values
  ('starter',    'Starter',    'blocked',   'AI features are not included.',                 1),
  ('pro',        'Pro',        'metered',   'A monthly token allowance per AI feature.',      2),
  ('enterprise', 'Enterprise', 'unlimited', 'Unlimited AI usage, still recorded for analytics.', 3);

insert into tokengate.token_types (id, name, cost, description, sort_order) values
  ('goal_generation',    'Goal generation',    1,  'Generate a financial goal.',            1),
  ('quest_generation',   'Quest generation',   3,  'Generate quests for a goal.',           2),
  ('lead_generation',    'Lead generation',    2,  'Find and qualify leads.',               3),
  ('revenue_forecast',   'Revenue forecast',   5,  'Forecast revenue from history.',        4),
  ('strategy_analysis',  'Strategy analysis',  10, 'Analyse a business strategy.',          5);

-- Pro: 20 goal generations, 20 quest generations, 50 lead generations, 10 forecasts, 10 analyses.
insert into tokengate.plan_allowances (plan_id, token_type_id, monthly_allowance) values
  ('pro', 'goal_generation',   20),
  ('pro', 'quest_generation',  60),
  ('pro', 'lead_generation',   100),
  ('pro', 'revenue_forecast',  50),
  ('pro', 'strategy_analysis', 100);

/* ───────────────────────────── organizations and members ───────────────────────────── */

create table tokengate.accounts (
  org_id        uuid primary key,
  plan_id       text not null references tokengate.plans (id) on update cascade,
  -- Periods are anchor + n months in UTC (Jan 31 → Feb 29 → Mar 31): the subscription date.
  period_anchor timestamptz not null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index accounts_plan_id_idx on tokengate.accounts (plan_id);
comment on table tokengate.accounts is
  'One row per organization the app has registered: its plan and the anchor of its monthly periods. org_id is the app''s own organization id.';

create table tokengate.members (
  org_id     uuid not null references tokengate.accounts (org_id) on delete cascade,
  user_id    uuid not null,
  role       text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
-- RLS looks memberships up by user (see tokengate.my_org_ids()).
create index members_user_id_idx on tokengate.members (user_id, org_id);
comment on table tokengate.members is
  'Who belongs to an organization. Only members may spend or see its tokens; owners and admins may administer it.';

create table tokengate.member_quotas (
  org_id        uuid not null,
  user_id       uuid not null,
  token_type_id text not null references tokengate.token_types (id) on update cascade,
  monthly_quota int not null check (monthly_quota between 0 and 1000000000),
  primary key (org_id, user_id, token_type_id),
  foreign key (org_id, user_id) references tokengate.members (org_id, user_id) on delete cascade
);
create index member_quotas_token_type_id_idx on tokengate.member_quotas (token_type_id);
comment on table tokengate.member_quotas is
  'Optional cap on what one member may spend of a token type per period (charged + held).';

/* ───────────────────────────── buckets, reservations, ledger ───────────────────────────── */

create table tokengate.buckets (
  org_id              uuid not null references tokengate.accounts (org_id) on delete restrict,
  token_type_id       text not null references tokengate.token_types (id) on update cascade,
  -- null until the first refresh (the first touch) sets the period.
  period_start        timestamptz,
  period_end          timestamptz,
  allowance           int not null default 0 check (allowance >= 0),
  -- Allowance taken this period (charged or held), net of same-period refunds. Kept through
  -- plan changes, so switching plans back and forth never re-grants what was spent.
  allowance_spent     bigint not null default 0 check (allowance_spent >= 0),
  allowance_remaining int not null default 0 check (allowance_remaining >= 0),
  purchased_remaining bigint not null default 0 check (purchased_remaining >= 0),
  held                bigint not null default 0 check (held >= 0),
  used                bigint not null default 0 check (used >= 0),
  updated_at          timestamptz not null default now(),
  primary key (org_id, token_type_id),
  -- What is left of the allowance is always derived the same way (see tokengate._append).
  check (allowance_remaining = greatest(allowance - allowance_spent, 0)),
  check ((period_start is null) = (period_end is null)),
  check (period_start is null or period_end > period_start)
);
create index buckets_token_type_id_idx on tokengate.buckets (token_type_id);
comment on table tokengate.buckets is
  'Balance of one organization for one token type. Written only by the ledger functions, under a row lock, together with a ledger row.';

create table tokengate.reservations (
  id              uuid primary key default gen_random_uuid(),
  org_id          uuid not null,
  token_type_id   text not null,
  user_id         uuid not null,
  status          text not null default 'pending' check (status in ('pending', 'committed', 'released', 'expired')),
  estimate        int not null check (estimate between 1 and 1000000),
  -- Where the held tokens came from, so a refund returns them to the same place.
  held_allowance  int not null check (held_allowance >= 0),
  held_purchased  int not null check (held_purchased >= 0),
  period_start    timestamptz not null,
  expires_at      timestamptz not null,
  actual          int check (actual >= 0),
  charged         int check (charged >= 0),
  idempotency_key text,
  metadata        jsonb not null default '{}',
  created_at      timestamptz not null,
  resolved_at     timestamptz,
  result          jsonb,
  foreign key (org_id, token_type_id) references tokengate.buckets (org_id, token_type_id),
  check ((status = 'pending') = (resolved_at is null))
);
create index reservations_org_id_idx on tokengate.reservations (org_id, token_type_id);
create index reservations_pending_expiry_idx on tokengate.reservations (expires_at) where status = 'pending';
create index reservations_user_id_idx on tokengate.reservations (user_id);
comment on table tokengate.reservations is
  'Two-phase charges for AI work: reserve an estimate, then commit the actual usage or release. Each resolves exactly once; stale ones expire and are refunded.';

create table tokengate.ledger (
  id              bigint generated always as identity primary key,
  org_id          uuid not null,
  token_type_id   text not null,
  kind            text not null check (kind in ('refresh', 'grant', 'deduct', 'reserve', 'commit', 'release', 'expire', 'adjust')),
  -- Change of available tokens (allowance_delta + purchased_delta).
  amount          bigint generated always as (allowance_delta + purchased_delta) stored,
  allowance_delta bigint not null default 0,
  purchased_delta bigint not null default 0,
  held_delta      bigint not null default 0,
  -- Tokens consumed as usage by this entry (deduct, commit). Recorded on unlimited plans too.
  charged         bigint not null default 0 check (charged >= 0),
  allowance_after int not null,
  purchased_after bigint not null,
  held_after      bigint not null,
  period_start    timestamptz not null,
  user_id         uuid,
  reservation_id  uuid references tokengate.reservations (id),
  idempotency_key text,
  metadata        jsonb not null default '{}',
  created_at      timestamptz not null,
  foreign key (org_id, token_type_id) references tokengate.buckets (org_id, token_type_id)
);
create index ledger_org_id_idx on tokengate.ledger (org_id, token_type_id, id);
create index ledger_reservation_id_idx on tokengate.ledger (reservation_id) where reservation_id is not null;
create index ledger_token_type_id_idx on tokengate.ledger (token_type_id);
-- A period's allowance is granted once, however many requests find the period stale at once.
create unique index ledger_one_refresh_per_period on tokengate.ledger (org_id, token_type_id, period_start) where kind = 'refresh';
comment on table tokengate.ledger is
  'Append-only audit trail: one row per change of a bucket, with the deltas and the balances after. UPDATE, DELETE and TRUNCATE raise.';

/* ───────────────────────────── idempotency, usage ───────────────────────────── */

create table tokengate.idempotency_keys (
  org_id     uuid not null,
  key        text not null check (length(key) between 1 and 255),
  operation  text not null,
  params     jsonb not null,
  -- Written in the same transaction as the charge: a key exists only for a request that took effect.
  response   jsonb,
  created_at timestamptz not null,
  primary key (org_id, key)
);
comment on table tokengate.idempotency_keys is
  'Client-chosen keys of deduct, reserve, grant and adjust calls, stored atomically with their effect. The same key replays the first result; other parameters conflict.';

create table tokengate.member_usage (
  org_id        uuid not null,
  user_id       uuid not null,
  token_type_id text not null,
  period_start  timestamptz not null,
  used          bigint not null default 0 check (used >= 0),
  held          bigint not null default 0 check (held >= 0),
  primary key (org_id, user_id, token_type_id, period_start)
);
create index member_usage_user_id_idx on tokengate.member_usage (user_id);
comment on table tokengate.member_usage is
  'Per member and period: tokens charged and held, to enforce member quotas.';

create table tokengate.usage_daily (
  org_id        uuid not null,
  token_type_id text not null,
  user_id       uuid not null,
  day           date not null,
  tokens        bigint not null default 0 check (tokens >= 0),
  events        int not null default 0 check (events >= 0),
  primary key (org_id, day, token_type_id, user_id)
);
create index usage_daily_user_id_idx on tokengate.usage_daily (user_id);
comment on table tokengate.usage_daily is
  'Usage rollup (UTC days) kept by deduct and commit, so stats never scan the ledger.';
