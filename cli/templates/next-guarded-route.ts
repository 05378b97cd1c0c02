// The example AI route, guarded: charged on the server, refunded when it fails. Written by `tokengate init`.
import { toNextRouteHandlers } from 'tokengate/server/adapters/next';
import { generateQuest } from '{{serverModule}}';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { POST } = toNextRouteHandlers(generateQuest);
