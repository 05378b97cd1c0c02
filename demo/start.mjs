/**
 * `npm start`'s entry (plain JavaScript, so it runs without a loader): the packages the playground
 * needs at start load first, at Node's own speed, and only then does it register tsx and run
 * demo/server.ts. Through tsx's loader hooks every module costs a round trip to the loader's thread:
 * Vite and its Tailwind plugin alone took ~1.1 s that way against ~0.2 s without (Node 20, 2 cores).
 * Later imports of these packages from TypeScript find them already loaded.
 *
 *   node demo/start.mjs [--port <n>] [--host <h>] [--reset]
 */
import { register } from 'tsx/esm/api';

await Promise.all(['vite', '@tailwindcss/vite', '@electric-sql/pglite', 'pg', 'zod', 'jose', 'stripe', 'standardwebhooks', 'srvx/node'].map((name) => import(name)));
register();
const { main } = await import('./server.ts');
await main();
