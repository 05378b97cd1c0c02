// The API server of this Vite app, written by `tokengate init`: Tokengate's REST API and the
// example guarded AI route on Hono. In development, proxy /api to it from vite.config (see below).
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { tokengateHono } from 'tokengate/server/adapters/hono';
import { generateQuest, tokengate } from '{{serverModule}}';

const app = new Hono();
app.all('/api/tokengate/*', tokengateHono(tokengate));
app.post('/api/generate-quest', tokengateHono(generateQuest));

const port = Number(process.env.PORT ?? 3001);
serve({ fetch: app.fetch, port }, () => console.log(`API on http://localhost:${port}`));
