/**
 * A Vite plugin for the storybook test project: serves this run's migrated PGlite data directory
 * (built once by test/global-setup.ts, which puts its path in TOKENGATE_PGLITE_DUMP) at
 * `PGLITE_DUMP_ROUTE`, so the Live story starts from it instead of running every migration in
 * WebAssembly in the browser — the slowest part of that story on a loaded machine. Without the
 * dump (Storybook itself, `npm run storybook`) the route answers 404 and the story migrates.
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'vite';

/** Where the browser fetches the dump. */
export const PGLITE_DUMP_ROUTE = '/__tokengate/pglite-datadir.tar';

/** The plugin; see the module comment. */
export function pgliteDumpRoute(): Plugin {
  return {
    name: 'tokengate:pglite-dump-route',
    configureServer(server) {
      server.middlewares.use(PGLITE_DUMP_ROUTE, (_req, res) => {
        const file = process.env.TOKENGATE_PGLITE_DUMP;
        if (!file) {
          res.statusCode = 404;
          res.end();
          return;
        }
        readFile(file).then(
          (body) => {
            res.setHeader('content-type', 'application/x-tar');
            res.end(body);
          },
          () => {
            res.statusCode = 404;
            res.end();
          },
        );
      });
    },
  };
}
