// The server side of the kit, as in the README's "The server module": one handler over the
// Postgres database in $DATABASE_URL. Authentication: a bearer token from the environment.
import { createHandler, createTokenGate, postgresStore, TokenGateError } from 'tokengate/server';

// Two connections: enough for the test's requests, and within its share of the shared server.
export const gate = createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL, max: 2 }) });

/** The app's own authentication: the user a token stands for, or null. */
export function verifyToken(token) {
  return process.env.CONSUMER_TOKEN && token === process.env.CONSUMER_TOKEN ? { userId: process.env.CONSUMER_USER_ID } : null;
}

export const tokengate = createHandler({
  gate,
  authenticate: async (request) => {
    const user = verifyToken(request.headers.get('authorization')?.replace(/^Bearer /, ''));
    if (user) return user;
    throw new TokenGateError('unauthorized', 'A valid test token is required.');
  },
});
