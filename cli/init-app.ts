/**
 * `tokengate init --next | --vite`: scaffolds Tokengate into an existing Next.js (App Router) or
 * Vite + React app — the server module, the API route or server, a guarded example AI route, the
 * provider and an example page — then prints what to install, the environment and the next
 * commands. See `INIT_HELP` (cli/init.ts) for the rules on existing files.
 */
import { createInterface } from 'node:readline/promises';
import { detectApp, type AppLayout, type Framework } from './detect-app.ts';
import type { Io } from './errors.ts';
import { scaffoldFiles } from './scaffold-files.ts';
import { writeScaffold, type WriteScaffoldOptions } from './write-scaffold.ts';

/**
 * The environment the scaffolded server module reads, as init prints it.
 *
 * @example
 * io.out(SCAFFOLD_ENV_HINT);
 */
export const SCAFFOLD_ENV_HINT = `Set these where the server runs (e.g. .env.local):
  DATABASE_URL                 Postgres connection string (Supabase: the project's, Settings → Database)
  SUPABASE_URL                 your Supabase project's URL: the server module verifies its users' access tokens
  SUPABASE_JWT_SECRET          only if the project still signs tokens with the legacy JWT secret (HS256)
  TOKENGATE_SERVICE_SECRET     optional, 32+ characters: server-to-server calls (webhooks, admin scripts)`;

/**
 * A yes/no question on the terminal (default no): init's prompt before overwriting a file.
 *
 * @example
 * if (await askOnTerminal('Overwrite lib/tokengate.ts? [y/N] ')) await writeFile(file, content);
 */
export async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function installHint(layout: AppLayout): string[] {
  const add = { npm: 'npm install', pnpm: 'pnpm add', yarn: 'yarn add', bun: 'bun add' }[layout.packageManager];
  const lines: string[] = [];
  if (layout.missing.dependencies.length > 0) lines.push(`${add} ${layout.missing.dependencies.join(' ')}`);
  if (layout.missing.devDependencies.length > 0) lines.push(`${add} -D ${layout.missing.devDependencies.join(' ')}`);
  return lines;
}

/**
 * Detects the app at `root`, writes the files and prints the next steps. Returns the exit code.
 *
 * @example
 * await initApp(process.cwd(), 'next', { yes: false, ask: process.stdin.isTTY ? askOnTerminal : undefined }, processIo);
 */
export async function initApp(root: string, framework: Framework, options: WriteScaffoldOptions, io: Io): Promise<number> {
  const layout = await detectApp(root, framework);
  const files = await scaffoldFiles(layout);
  io.out(
    `Scaffolding Tokengate into a ${framework === 'next' ? 'Next.js App Router' : 'Vite + React'} app (${layout.typescript ? 'TypeScript' : 'JavaScript'}, ${framework === 'next' ? layout.sourceDir + '/' : layout.sourceDir === '.' ? 'no src/' : 'src/'}):`,
  );
  await writeScaffold(root, files, options, io);

  const server = files[0]!.path;
  const providers = files.find((f) => /\/providers\.[jt]sx$/.test(f.path))!.path;
  const steps: string[] = [];
  const install = installHint(layout);
  if (install.length > 0) steps.push(`Install what the files import:\n${install.map((line) => `     ${line}`).join('\n')}`);
  steps.push(SCAFFOLD_ENV_HINT.replace(/\n/g, '\n   '));
  steps.push('Create the tables: npx tokengate migrate   (reads DATABASE_URL from the environment; add --supabase on Supabase)');
  steps.push('Register an organization and its first owner: npx tokengate accounts create --org <uuid> --plan pro --owner <user uuid>');
  steps.push(`Wire your auth: getAccessToken and getOrgId in ${providers}, and authenticate in ${server} if you do not use Supabase Auth.`);
  if (framework === 'next') {
    steps.push(`Start the app (npm run dev) and open http://localhost:3000/tokengate`);
  } else {
    const page = files.at(-1)!.path;
    const serverEntry = files[1]!.path;
    steps.push(`Render <TokenGatePage /> (from ${page}) in your app.`);
    steps.push(
      `Run the API server: ${layout.typescript ? `npx tsx watch ${serverEntry}` : `node --watch ${serverEntry}`}, and proxy /api to it in vite.config (not edited by init):\n` +
        `     server: { proxy: { '/api': 'http://localhost:3001' } }`,
    );
  }
  io.out('');
  io.out('Next steps:');
  steps.forEach((step, index) => io.out(`${String(index + 1).padStart(2)}. ${step}`));
  return 0;
}
