/**
 * The Tokengate playground: an app with five AI features, gated by the kit's hooks and components
 * against the real server (see demo/server.ts).
 */
import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { createTokenClient } from '../../src/core/index.ts';
import { readGuardedStream } from '../../src/core/stream.ts';
import type { TokenBalance } from '../../src/core/index.ts';
import { tokenGateKeys } from '../../src/core/index.ts';
import { TokenDashboard, TokenGateButton, UpgradePrompt } from '../../src/components/index.ts';
import { OperatorConsole } from '../../src/operator/index.ts';
import { tokenGateRetry, useTokenBalances, useTokenGate, TokenGateProvider } from '../../src/react/index.ts';
import type { AiResult } from '../fake-ai.ts';
import { AI_FEATURES, type AiFeature, type DemoOrg, type DemoUser } from '../directory.ts';

interface Directory {
  orgs: DemoOrg[];
  storage: 'pglite' | 'postgres';
  aiDelayMs: number;
  /** The streamed answer's pace (ms per word). */
  wordMs: number;
}

// Demo-only sign-in: the server signs a token for whichever seeded user the switcher picks.
const tokens = new Map<string, { token: string; expires: number }>();
async function tokenFor(userId: string): Promise<string> {
  const cached = tokens.get(userId);
  if (cached && cached.expires > Date.now() + 60_000) return cached.token;
  const res = await fetch(`/api/demo/session?userId=${encodeURIComponent(userId)}`);
  if (!res.ok) throw new Error('demo sign-in failed');
  const { token, expiresIn } = (await res.json()) as { token: string; expiresIn: number };
  tokens.set(userId, { token, expires: Date.now() + expiresIn * 1000 });
  return token;
}

const GOAL = 'Save $10,000 for a house deposit by December';
const FEATURE_LABELS: Record<AiFeature, string> = {
  quest_generation: 'Generate New Quest',
  goal_generation: 'Suggest goals',
  lead_generation: 'Find leads',
  revenue_forecast: 'Forecast revenue',
  strategy_analysis: 'Analyze strategy',
};
const PLANS = [
  { id: 'starter', name: 'Starter', price: '$0' },
  { id: 'pro', name: 'Pro', price: '$20/month' },
  { id: 'enterprise', name: 'Enterprise', price: '$99/month' },
] as const;
const TOP_UP = { tokenType: 'quest_generation', amount: 30, label: 'Buy 30 quest tokens — $5', price: '$5' } as const;

/** What the user is buying at the (simulated) checkout. */
type Purchase =
  | { kind: 'plan'; planId: string; title: string; price: string }
  | { kind: 'tokens'; tokenType: string; amount: number; title: string; price: string };

/** The root: directory, org and user switchers (kept in the URL: `?org=pro&user=<id>`). */
export function App() {
  const [directory, setDirectory] = useState<Directory | null>(null);
  const [error, setError] = useState<string | null>(null);
  const params = new URLSearchParams(window.location.search);
  const [orgSlug, setOrgSlug] = useState(params.get('org') ?? 'pro');
  const [userId, setUserId] = useState(params.get('user') ?? '');

  useEffect(() => {
    fetch('/api/demo/directory')
      .then((r) => r.json() as Promise<Directory>)
      .then(setDirectory, () => setError('The playground server is not answering.'));
  }, []);

  const org = directory?.orgs.find((o) => o.slug === orgSlug) ?? directory?.orgs[1];
  const user = org?.members.find((m) => m.id === userId) ?? org?.members[0];

  useEffect(() => {
    if (!org || !user) return;
    const url = new URL(window.location.href);
    url.searchParams.set('org', org.slug);
    url.searchParams.set('user', user.id);
    window.history.replaceState(null, '', url);
  }, [org, user]);

  return (
    // overflow-clip: the kit's screen-reader table of the chart overflows the page (see report).
    <div className="relative min-h-screen overflow-clip bg-slate-50 text-slate-900">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-4 px-6 py-3">
          <p className="mr-auto text-lg font-semibold">
            Tokengate <span className="font-normal text-slate-600">playground</span>
          </p>
          {directory && org && user && (
            <>
              <label className="flex items-center gap-2 text-sm">
                Organization
                <select
                  className="rounded border border-slate-300 bg-white px-2 py-1"
                  value={org.slug}
                  onChange={(e) => {
                    setOrgSlug(e.target.value);
                    setUserId('');
                  }}
                >
                  {directory.orgs.map((o) => (
                    <option key={o.slug} value={o.slug}>
                      {o.name} ({o.planId === 'starter' ? 'Starter' : o.planId === 'pro' ? 'Pro' : 'Enterprise'})
                    </option>
                  ))}
                </select>
              </label>
              <label className="flex items-center gap-2 text-sm">
                Signed in as
                <select className="rounded border border-slate-300 bg-white px-2 py-1" value={user.id} onChange={(e) => setUserId(e.target.value)}>
                  {org.members.map((m) => (
                    <option key={m.id} value={m.id}>
                      {m.name} ({m.role})
                    </option>
                  ))}
                </select>
              </label>
            </>
          )}
        </div>
      </header>
      {error && <p role="alert" className="p-6 text-red-700">{error}</p>}
      {directory && org && user ? (
        <Workspace key={`${org.id}:${user.id}`} org={org} user={user} directory={directory} />
      ) : (
        !error && <p className="p-6">Loading…</p>
      )}
    </div>
  );
}

/** One organization as one user: a fresh client and cache, so a switch never shows stale data. */
function Workspace({ org, user, directory }: { org: DemoOrg; user: DemoUser; directory: Directory }) {
  // tokenGateRetry: network failures and 5xx are retried, a refusal (403 not_a_member…) shows at once.
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { retry: tokenGateRetry, refetchOnWindowFocus: false } } }));
  const client = useMemo(
    () => createTokenClient({ baseUrl: '/api/tokengate', getAccessToken: () => tokenFor(user.id), orgId: org.id }),
    [org.id, user.id],
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client} orgId={org.id}>
        <Page org={org} user={user} directory={directory} />
      </TokenGateProvider>
    </QueryClientProvider>
  );
}

/** Admin actions: quotas through the real handler as the signed-in owner/admin; billing through the server. */
function useAdmin(org: DemoOrg, user: DemoUser) {
  const queryClient = useQueryClient();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  async function call(method: 'POST' | 'PUT', path: string, body: unknown, done: string): Promise<boolean> {
    const res = await fetch(`/api/tokengate/orgs/${org.id}/admin/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await tokenFor(user.id)}`,
        'content-type': 'application/json',
        'idempotency-key': crypto.randomUUID(),
      },
      body: JSON.stringify(body),
    });
    const payload = (await res.json().catch(() => ({}))) as { detail?: string };
    await queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(org.id) });
    setMessage(res.ok ? { ok: true, text: done } : { ok: false, text: payload.detail ?? `Failed (${res.status}).` });
    return res.ok;
  }
  /** Billing operations are the app's server's (403 server_only with a customer's token): the playground's server does them. */
  async function operator(body: Record<string, unknown>, done: string): Promise<boolean> {
    const res = await fetch('/api/demo/operator', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orgId: org.id, ...body }),
    });
    const payload = (await res.json().catch(() => ({}))) as { detail?: string };
    await queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(org.id) });
    setMessage(res.ok ? { ok: true, text: done } : { ok: false, text: payload.detail ?? `Failed (${res.status}).` });
    return res.ok;
  }
  return {
    message,
    grant: (tokenType: string, amount: number) => operator({ action: 'grant', tokenType, amount }, `Added ${amount} ${tokenType.replaceAll('_', ' ')} tokens.`),
    setPlan: (planId: string) => operator({ action: 'setPlan', planId }, `Plan changed to ${planId}.`),
    adjust: (tokenType: string, amount: number, reason: string) =>
      operator({ action: 'adjust', tokenType, amount, reason }, `Adjusted ${tokenType.replaceAll('_', ' ')} by ${amount}.`),
    setQuota: (userId: string, tokenType: string, quota: number | null) =>
      call('PUT', `members/${userId}/quotas/${tokenType}`, { quota }, quota === null ? 'Quota removed.' : `Quota set to ${quota} tokens a month.`),
  };
}

function Page({ org, user, directory }: { org: DemoOrg; user: DemoUser; directory: Directory }) {
  const admin = useAdmin(org, user);
  const queryClient = useQueryClient();
  const balances = useTokenBalances();
  const [checkout, setCheckout] = useState<Purchase | null>(null);
  const [paid, setPaid] = useState<string | null>(null);
  const paidRef = useRef<HTMLParagraphElement>(null);
  const planId = balances.data?.plan.id;
  const next = planId === 'starter' ? PLANS[1] : planId === 'pro' ? PLANS[2] : null;
  // What an app does: Upgrade and Buy go to the billing provider's checkout; the plan or the tokens
  // change when its webhook reaches the app's server — never from the browser with a user's token.
  const upgrade = next
    ? {
        onUpgrade: () => setCheckout({ kind: 'plan', planId: next.id, title: `${next.name} plan`, price: next.price }),
        upgradeLabel: `Upgrade to ${next.name} — ${next.price}`,
      }
    : {};
  const topUp = {
    onTopUp: () => setCheckout({ kind: 'tokens', tokenType: TOP_UP.tokenType, amount: TOP_UP.amount, title: `${TOP_UP.amount} quest tokens`, price: TOP_UP.price }),
    topUpLabel: TOP_UP.label,
  };
  const names = new Map(org.members.map((m) => [m.id, m.name]));

  useEffect(() => {
    if (paid) paidRef.current?.focus();
  }, [paid]);

  if (checkout) {
    return (
      <CheckoutPage
        org={org}
        purchase={checkout}
        onCancel={() => setCheckout(null)}
        onPaid={async () => {
          await queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(org.id) });
          setCheckout(null);
          setPaid(
            checkout.kind === 'plan'
              ? `Payment received (simulated): the billing webhook moved ${org.name} to the ${checkout.title}.`
              : `Payment received (simulated): Stripe's signed checkout.session.completed webhook granted ${checkout.title}, valid for a year.`,
          );
        }}
      />
    );
  }

  return (
    <main className="mx-auto grid max-w-6xl gap-6 px-6 py-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
      <div className="space-y-6">
        <nav aria-label="Breadcrumb" className="text-sm text-slate-600">
          Financial Goals <span aria-hidden="true">→</span> Quests
        </nav>
        <h1 className="text-2xl font-semibold">Quests</h1>
        {paid && (
          <p ref={paidRef} tabIndex={-1} role="status" data-testid="checkout-done" className="rounded border border-green-700 bg-green-50 p-3 text-sm text-green-900">
            {paid}
          </p>
        )}
        <QuestPanel upgrade={upgrade} topUp={topUp} />
        <OtherFeatures upgrade={upgrade} />
        <StrategyPanel upgrade={upgrade} />
        {admin.message && (
          <p role="status" className={admin.message.ok ? 'text-sm text-green-800' : 'text-sm text-red-700'}>
            {admin.message.text}
          </p>
        )}
        <AdminPanel org={org} user={user} admin={admin} />
      </div>
      <div className="space-y-6">
        <h2 className="sr-only">Usage</h2>
        <TokenDashboard {...upgrade} {...(planId === 'pro' ? topUp : {})} getMemberName={(id) => names.get(id) ?? id} />
        <EventsPanel org={org} names={names} />
        <OperatorPanel />
        <p className="text-xs text-slate-600">
          Data: {directory.storage === 'pglite' ? 'embedded PGlite (.tokengate/)' : 'DATABASE_URL'} · fake AI answers in ~{directory.aiDelayMs} ms;
          strategy analysis streams a word every ~{directory.wordMs} ms
        </p>
      </div>
    </main>
  );
}

/**
 * The app's operators' view of every organization (`tokengate/operator`), behind a disclosure: it
 * mounts, and so queries, only while open. A real app shows it on its staff-only admin page.
 */
function OperatorPanel() {
  const [open, setOpen] = useState(false);
  return (
    <details className="rounded-lg border border-slate-200 bg-white p-5 shadow-sm" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="cursor-pointer text-base font-semibold">Operator&apos;s view (the app&apos;s staff, every organization)</summary>
      {open && <OperatorConsole className="mt-4" baseUrl="/api/demo/operator-view" percent={20} withinDays={14} />}
    </details>
  );
}

/** One alert webhook as the playground's own receiver accepted it (`/api/demo/events`). */
interface ReceivedEvent {
  id: string;
  type: string;
  receivedAt: string;
  data: { orgId: string; tokenType: string; userId: string | null; threshold: number | null; available: number | null };
}

const EVENT_TEXT: Record<string, (e: ReceivedEvent['data'], name: (id: string) => string) => string> = {
  'tokengate.alert.low': (d) => `Running low: ${d.available} left (below ${d.threshold})`,
  'tokengate.alert.exhausted': () => 'Used up: 0 left',
  'tokengate.alert.member_quota_reached': (d, name) => `${d.userId ? name(d.userId) : 'A member'} reached their quota of ${d.threshold}`,
  'tokengate.alert.refreshed': (d) => `Refreshed for the new period${d.available === null ? '' : `: ${d.available} available`}`,
  'tokengate.alert.expired_hold': () => 'A hold expired unused and was refunded',
};

/**
 * The alerts of this organization that reached the app: the ledger writes them to its outbox with
 * the change that crossed a threshold, the app's worker delivers them as signed webhooks, and the
 * app's receiver (here the playground's) verifies them. Polled every second.
 */
function EventsPanel({ org, names }: { org: DemoOrg; names: Map<string, string> }) {
  const events = useQuery({
    queryKey: ['demo', 'events', org.id],
    queryFn: async (): Promise<ReceivedEvent[]> => {
      const res = await fetch(`/api/demo/events?orgId=${encodeURIComponent(org.id)}`);
      return ((await res.json()) as { events: ReceivedEvent[] }).events;
    },
    refetchInterval: 1000,
  });
  const list = events.data ?? [];
  return (
    <Card title="Events" id="events-title">
      <p className="mb-2 text-xs text-slate-600">Alert webhooks received by this app (signed, verified, each once).</p>
      {list.length === 0 ? (
        <p className="text-sm text-slate-700">No alerts yet: spend a token type below 20 % of its allowance.</p>
      ) : (
        <ul aria-label="Alert webhooks received" className="divide-y divide-slate-100 text-sm" data-testid="events">
          {list.map((e) => (
            <li key={e.id} className="flex justify-between gap-3 py-1.5">
              <span>
                <span className="font-medium">{e.data.tokenType.replaceAll('_', ' ')}</span> —{' '}
                {(EVENT_TEXT[e.type] ?? (() => e.type))(e.data, (id) => names.get(id) ?? id)}
              </span>
              <time dateTime={e.receivedAt} className="shrink-0 text-xs text-slate-600">
                {new Date(e.receivedAt).toLocaleTimeString()}
              </time>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function Card({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  return (
    <section aria-labelledby={id} className="rounded-lg border border-slate-200 bg-white p-5 shadow-sm">
      <h2 id={id} className="mb-3 text-lg font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

type UpgradeProps = { onUpgrade?: () => void; upgradeLabel?: string };
type TopUpProps = { onTopUp: () => void; topUpLabel: string };

function QuestPanel({ upgrade, topUp }: { upgrade: UpgradeProps; topUp: TopUpProps }) {
  const [failNext, setFailNext] = useState(false);
  const [quests, setQuests] = useState<AiResult[]>([]);
  const quest = useTokenGate('quest_generation', {
    action: async (ctx, goal: string, n: number, fail: boolean) => {
      const res = await ctx.fetch('/api/ai/quest_generation', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(fail ? { 'x-demo-fail': '1' } : {}) },
        body: JSON.stringify({ goal, n }),
      });
      return (await res.json()) as AiResult;
    },
  });
  const generate = async () => {
    const fail = failNext;
    if (fail) setFailNext(false);
    const result = await quest.run(GOAL, quests.length, fail);
    if (result) setQuests((q) => [result, ...q]);
  };
  const left = balanceText(quest.balance);

  return (
    <Card title="Goal" id="goal-title">
      <p className="text-base font-medium">{GOAL}</p>
      <div className="mt-2 h-2 rounded bg-slate-200" role="progressbar" aria-label="Goal progress" aria-valuenow={42} aria-valuemin={0} aria-valuemax={100}>
        <div className="h-2 w-[42%] rounded bg-emerald-600" />
      </div>
      <p className="mt-1 text-xs text-slate-600">$4,200 of $10,000 saved</p>

      <div className="mt-5 flex flex-wrap items-center gap-4">
        {/* Always there, aria-disabled when it cannot run: the keyboard focus stays on it through a run. */}
        <TokenGateButton
          gate={quest}
          className="px-4 py-2"
          runningLabel="Generating…"
          aria-describedby="quest-balance"
          data-testid="quest-button"
          onClick={() => void generate()}
        >
          Generate New Quest
        </TokenGateButton>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={failNext} onChange={(e) => setFailNext(e.target.checked)} />
          Make the next call fail
        </label>
      </div>
      <p id="quest-balance" className="mt-2 text-sm text-slate-700" data-testid="quest-balance">
        {left}
      </p>
      <div aria-live="polite" className="mt-2 text-sm">
        {quest.status === 'success' && <p className="sr-only">Quest generated.</p>}
        {quest.status === 'refunded' && (
          <p className="text-amber-800" data-testid="quest-refunded">
            The generator failed — your {quest.cost} tokens were refunded.
          </p>
        )}
        {quest.status === 'error' && quest.error && !quest.blocked && <p className="text-red-700">Error: {quest.error.message}</p>}
      </div>
      {quest.blocked && quest.reason && (
        <div className="mt-4">
          <UpgradePrompt reason={quest.reason} balance={quest.balance} variant="inline" {...upgrade} {...topUp} />
        </div>
      )}
      {quests.length > 0 && (
        <ol className="mt-4 space-y-2" aria-label="Generated quests">
          {quests.map((q) => (
            <li key={q.title} className="rounded border border-slate-200 p-3">
              <p className="font-medium">{q.title}</p>
              <p className="text-xs text-slate-600">{q.items.join(' · ')}</p>
            </li>
          ))}
        </ol>
      )}
      <p className="mt-3 text-xs text-slate-600">Each quest is charged by the server's guard; a failed call is refunded.</p>
    </Card>
  );
}

function balanceText(balance: TokenBalance | undefined): string {
  if (!balance) return 'Loading balance…';
  if (balance.unlimited) return 'Unlimited quest tokens';
  if (balance.blocked) return 'Quests are not included in this plan';
  return `${balance.available ?? 0} quest tokens left`;
}

/** How the next streamed call fails, if at all (the playground's switch). */
type StreamFailure = 'none' | 'before' | 'mid-stream';

/**
 * Strategy analysis, streamed: the answer appears word by word; the guard holds one use (10
 * tokens) and charges what the model reports (1 token per 5 words) when the stream ends. Stop
 * cancels the fetch: the server sees the disconnect and charges only the words produced so far.
 */
function StrategyPanel({ upgrade }: { upgrade: UpgradeProps }) {
  const [failNext, setFailNext] = useState<StreamFailure>('none');
  const [answer, setAnswer] = useState('');
  const [explain, setExplain] = useState(false);
  const strategy = useTokenGate('strategy_analysis', {
    action: async (ctx, fail: StreamFailure) => {
      setAnswer('');
      const res = await ctx.fetch('/api/ai/strategy_analysis', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(fail === 'none' ? {} : { 'x-demo-fail': fail === 'before' ? '1' : 'mid-stream' }) },
        body: '{}',
      });
      // status stays 'running' until the stream ends; the charge event sets the balance then.
      return readGuardedStream(res, { signal: ctx.signal, onCharge: ctx.onCharge, onText: (t) => setAnswer((a) => a + t) });
    },
  });
  const analyze = () => {
    const fail = failNext;
    if (fail !== 'none') setFailNext('none');
    void strategy.run(fail);
  };
  const running = strategy.status === 'running';
  const words = answer === '' ? 0 : answer.trim().split(/\s+/).length;
  const stopped = strategy.status === 'idle' && strategy.error?.code === 'aborted';
  const balance = strategy.balance;

  return (
    <Card title="Strategy analysis (streamed)" id="strategy-title">
      <div className="flex flex-wrap items-center gap-3">
        <TokenGateButton
          gate={strategy}
          className="px-4 py-2"
          runningLabel="Analyzing…"
          data-testid="strategy-button"
          onClick={analyze}
          onBlockedClick={() => setExplain(true)}
        >
          Analyze strategy
        </TokenGateButton>
        {/* Always there (aria-disabled when idle): focus is not dropped when the stream ends. */}
        <button
          type="button"
          className="rounded-md border border-slate-300 px-4 py-2 text-sm aria-disabled:opacity-50"
          aria-disabled={!running || undefined}
          onClick={() => running && strategy.abort()}
        >
          Stop
        </button>
        <label className="flex items-center gap-2 text-sm">
          Make the next analysis fail
          <select
            className="rounded border border-slate-300 bg-white px-2 py-1"
            value={failNext}
            onChange={(e) => setFailNext(e.target.value as StreamFailure)}
          >
            <option value="none">No</option>
            <option value="before">Before answering (refunded)</option>
            <option value="mid-stream">Mid-stream (partial charge)</option>
          </select>
        </label>
      </div>
      {strategy.reason && (
        <UpgradePrompt variant="dialog" open={explain} onOpenChange={setExplain} reason={strategy.reason} balance={balance} tokenType="strategy_analysis" {...upgrade} />
      )}
      <p className="mt-2 text-sm text-slate-700" data-testid="strategy-balance">
        {!balance ? 'Loading balance…' : balance.unlimited ? 'Unlimited strategy tokens' : balance.blocked ? 'Not in your plan' : `${balance.available ?? 0} strategy tokens left`}
        {' '}· one analysis holds {strategy.cost ?? '…'} tokens and is charged the model's usage (1 token per 5 words)
      </p>
      <div
        className="mt-3 min-h-16 whitespace-pre-wrap rounded border border-slate-200 bg-slate-50 p-3 text-sm"
        data-testid="strategy-answer"
        data-words={words}
        aria-label="Strategy answer"
        aria-busy={running}
        role="region"
      >
        {answer || <span className="text-slate-500">The answer streams here.</span>}
      </div>
      <div aria-live="polite" className="mt-2 text-sm" data-testid="strategy-status">
        {running && <p className="text-slate-700">Streaming… {words} words so far.</p>}
        {strategy.status === 'success' && strategy.data && (
          <p className="text-green-800">
            {strategy.data.charge
              ? `Charged ${strategy.data.charge.charged} tokens: the model's usage for ${words} words (the ${strategy.cost}-token hold was released).`
              : 'Done: the dashboard shows the charge.'}
          </p>
        )}
        {stopped && <p className="text-amber-800">Stopped after {words} words: charged only what the model produced so far; the rest of the hold was refunded.</p>}
        {strategy.status === 'refunded' && <p className="text-amber-800">The model failed before answering — your {strategy.cost} tokens were refunded.</p>}
        {strategy.status === 'error' && strategy.error && !strategy.blocked && (
          <p className="text-red-700">The answer broke off after {words} words: charged only what the model produced; the rest was refunded.</p>
        )}
      </div>
    </Card>
  );
}

function OtherFeatures({ upgrade }: { upgrade: UpgradeProps }) {
  return (
    <Card title="Other AI features" id="features-title">
      <ul className="space-y-3">
        {AI_FEATURES.filter((f) => f !== 'quest_generation' && f !== 'strategy_analysis').map((f) => (
          <Feature key={f} feature={f} upgrade={upgrade} />
        ))}
      </ul>
    </Card>
  );
}

const REASON_TEXT = {
  plan_blocked: 'Not in your plan',
  insufficient_tokens: 'Out of tokens',
  member_quota_exceeded: 'Your quota is used up',
  not_a_member: 'You’re not a member of this organization',
} as const;

function Feature({ feature, upgrade }: { feature: AiFeature; upgrade: UpgradeProps }) {
  const [explain, setExplain] = useState(false);
  const gate = useTokenGate(feature, {
    action: async (ctx) => (await (await ctx.fetch(`/api/ai/${feature}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as AiResult,
  });
  const reason = gate.reason ? REASON_TEXT[gate.reason] : null;
  const reasonId = `${feature}-reason`;
  return (
    <li className="flex flex-wrap items-center gap-3">
      {/* A press while blocked explains why, in the kit's UpgradePrompt dialog. */}
      <TokenGateButton
        gate={gate}
        variant="secondary"
        aria-describedby={reason ? reasonId : undefined}
        onClick={() => void gate.run()}
        onBlockedClick={() => setExplain(true)}
      >
        {FEATURE_LABELS[feature]}
      </TokenGateButton>
      {gate.reason && (
        <UpgradePrompt variant="dialog" open={explain} onOpenChange={setExplain} reason={gate.reason} balance={gate.balance} tokenType={feature} {...upgrade} />
      )}
      {reason && <span id={reasonId} className="text-sm text-slate-700">{reason}</span>}
      {gate.status === 'refunded' && <span className="text-sm text-amber-800">Failed and refunded</span>}
      {gate.data && <span className="text-sm text-slate-700">{gate.data.title}: {gate.data.items[0]}</span>}
    </li>
  );
}

/**
 * The playground's stand-in for a billing provider's hosted checkout (Stripe Checkout, Paddle, …).
 * Nothing is charged. "Pay" plays the provider: it calls the playground server's billing webhook,
 * and the SERVER changes the plan or adds the tokens with its own credentials.
 */
function CheckoutPage({ org, purchase, onCancel, onPaid }: { org: DemoOrg; purchase: Purchase; onCancel: () => void; onPaid: () => Promise<void> }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const [state, setState] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });
  useEffect(() => heading.current?.focus(), []);
  const pay = async () => {
    setState({ busy: true, error: null });
    const { kind: _kind, title: _title, price: _price, ...item } = purchase;
    const res = await fetch('/api/demo/billing-webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orgId: org.id, checkoutId: crypto.randomUUID(), ...item }),
    }).catch(() => null);
    if (!res?.ok) {
      setState({ busy: false, error: `The simulated payment failed (${res ? res.status : 'network'}).` });
      return;
    }
    await onPaid();
  };
  return (
    <main aria-labelledby="checkout-title" className="mx-auto max-w-lg px-6 py-10">
      <p role="note" className="mb-4 rounded border border-amber-600 bg-amber-50 p-3 text-sm text-amber-900">
        <strong>Simulated checkout.</strong> This is the playground: no payment is taken. A real app sends the user to its
        billing provider here, and the plan or tokens change when the provider&apos;s webhook reaches the app&apos;s server. For
        tokens, the playground plays Stripe: it signs a test <code>checkout.session.completed</code> event and the real{' '}
        <code>createStripeTopUps</code> handler verifies it and grants the tokens once per payment.
      </p>
      <div className="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
        <h1 id="checkout-title" ref={heading} tabIndex={-1} className="text-xl font-semibold outline-none">
          Checkout (simulated)
        </h1>
        <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
          <dt className="text-slate-600">Organization</dt>
          <dd>{org.name}</dd>
          <dt className="text-slate-600">Item</dt>
          <dd>{purchase.title}</dd>
          <dt className="text-slate-600">Price</dt>
          <dd>{purchase.price}</dd>
          <dt className="text-slate-600">Card</dt>
          <dd>Test card 4242 4242 4242 4242 (nothing is charged)</dd>
        </dl>
        {state.error && (
          <p role="alert" className="mt-4 text-sm text-red-700">
            {state.error}
          </p>
        )}
        <div className="mt-6 flex gap-3">
          <button
            type="button"
            className="rounded-md bg-slate-800 px-4 py-2 text-sm font-medium text-white hover:bg-slate-900 aria-disabled:opacity-60"
            aria-disabled={state.busy || undefined}
            onClick={() => void (state.busy ? undefined : pay())}
          >
            {state.busy ? 'Paying…' : `Pay ${purchase.price} (simulated)`}
          </button>
          <button type="button" className="rounded-md border border-slate-300 px-4 py-2 text-sm" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </main>
  );
}

function AdminPanel({ org, user, admin }: { org: DemoOrg; user: DemoUser; admin: ReturnType<typeof useAdmin> }) {
  if (user.role === 'member') {
    return (
      <Card title="Admin" id="admin-title">
        <p className="text-sm text-slate-700">Only owners and admins see the admin tools. Switch user above.</p>
      </Card>
    );
  }
  const submit = (fn: (data: FormData) => Promise<unknown>) => (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    void fn(new FormData(e.currentTarget));
  };
  const field = 'rounded border border-slate-300 bg-white px-2 py-1 text-sm';
  const button = 'rounded-md bg-slate-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-900';
  const typeSelect = (name: string, label: string) => (
    <label className="flex flex-col gap-1 text-xs text-slate-700">
      {label}
      <select name={name} className={field} defaultValue="quest_generation">
        {AI_FEATURES.map((f) => (
          <option key={f} value={f}>
            {f.replaceAll('_', ' ')}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <Card title="Admin" id="admin-title">
      <div className="space-y-4">
        <p className="text-xs text-slate-600">
          Grants, plan changes and adjustments are operator actions: the app's server makes them (a customer's token gets 403
          server_only). Member quotas are set by owners and admins.
        </p>
        <form aria-label="Grant tokens" className="flex flex-wrap items-end gap-2" onSubmit={submit((d) => admin.grant(String(d.get('type')), Number(d.get('amount'))))}>
          {typeSelect('type', 'Token type')}
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Amount
            <input name="amount" type="number" min={1} defaultValue={30} className={`${field} w-24`} />
          </label>
          <button className={button}>Grant tokens</button>
        </form>
        {/* Operator tools: the app's server changes the plan (the Upgrade buttons go through checkout instead). */}
        <form aria-label="Set plan" className="flex flex-wrap items-end gap-2" onSubmit={submit((d) => admin.setPlan(String(d.get('plan'))))}>
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Plan
            <select name="plan" className={field} defaultValue={org.planId}>
              {PLANS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <button className={button}>Set plan</button>
        </form>
        <form
          aria-label="Adjust balance"
          className="flex flex-wrap items-end gap-2"
          onSubmit={submit((d) => admin.adjust(String(d.get('type')), Number(d.get('amount')), String(d.get('reason'))))}
        >
          {typeSelect('type', 'Token type')}
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Amount (±)
            <input name="amount" type="number" defaultValue={-3} className={`${field} w-24`} />
          </label>
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Reason
            <input name="reason" defaultValue="Support correction" className={field} />
          </label>
          <button className={button}>Adjust</button>
        </form>
        <form
          aria-label="Member quota"
          className="flex flex-wrap items-end gap-2"
          onSubmit={submit((d) => admin.setQuota(String(d.get('member')), String(d.get('type')), d.get('quota') === '' ? null : Number(d.get('quota'))))}
        >
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Member
            <select name="member" className={field}>
              {org.members.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          {typeSelect('type', 'Token type')}
          <label className="flex flex-col gap-1 text-xs text-slate-700">
            Monthly quota (empty: none)
            <input name="quota" type="number" min={0} defaultValue={9} className={`${field} w-24`} />
          </label>
          <button className={button}>Set quota</button>
        </form>
      </div>
    </Card>
  );
}
