// Tokengate's REST API for the React kit, written by `tokengate init`.
import { toNextRouteHandlers } from 'tokengate/server/adapters/next';
import { tokengate } from '{{serverModule}}';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { GET, POST, PUT, DELETE, PATCH } = toNextRouteHandlers(tokengate);
