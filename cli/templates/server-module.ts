// Tokengate's server side, written by `tokengate init`: the gate over your database, who the caller
// is, the REST API the React kit calls, and one guarded AI route. Yours to edit.
import { bearerSecret, createHandler, createTokenGate, guard, postgresStore, supabaseAuth, TokenGateError } from 'tokengate/server';

/** The ledger on your Postgres (Supabase: the project's connection string). Connects on first use. */
export const gate = createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL }) });

/**
 * Who is calling: verifies the signed-in user's Supabase access token (your project's signing keys,
 * or SUPABASE_JWT_SECRET on projects that still sign with the legacy HS256 secret).
 * Your own sessions instead? Replace it with `async (request) => ({ userId })` for the signed-in
 * user's uuid, throwing `new TokenGateError('unauthorized')` when nobody is signed in.
 */
export const authenticate = process.env.SUPABASE_URL
  ? supabaseAuth({ issuer: `${process.env.SUPABASE_URL}/auth/v1`, secret: process.env.SUPABASE_JWT_SECRET || undefined })
  : async () => {
      throw new TokenGateError('unauthorized', 'Set SUPABASE_URL, or replace `authenticate` in the Tokengate server module with your own session check.');
    };

/** The REST API of the React kit (balances, charges, stats), mounted at /api/tokengate. */
export const tokengate = createHandler({
  gate,
  authenticate,
  // Server-to-server calls (webhooks, admin scripts): `Authorization: Bearer $TOKENGATE_SERVICE_SECRET`.
  ...(process.env.TOKENGATE_SERVICE_SECRET ? { authenticateServer: bearerSecret(process.env.TOKENGATE_SERVICE_SECRET) } : {}),
});

/**
 * An example AI route, charged on the server (the client's button is UX, this is the lock): the
 * cost of quest_generation is held before the handler runs, charged when it answers 2xx and
 * refunded when it throws or fails; an organization that cannot pay gets 402/403 and the handler
 * never runs. Replace the body with your model call.
 */
export const generateQuest = guard({ gate, authenticate, tokenType: 'quest_generation' }, async (request) => {
  const { goal } = await request.json().catch(() => ({ goal: undefined }));
  const quest = `A first step towards "${String(goal ?? 'your goal').slice(0, 80)}": write down what done looks like.`;
  return Response.json({ quest });
});
