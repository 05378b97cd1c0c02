import { toNextRouteHandlers } from 'tokengate/server/adapters/next';
import { tokengate } from '../../../../lib/tokengate.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { GET, POST, PUT, DELETE, PATCH } = toNextRouteHandlers(tokengate);
