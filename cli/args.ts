import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `node:util` parseArgs in strict mode with `--help`, turning its errors into `UsageError`s that
 * name the command (`tokengate migrate: unknown option '--foo'`).
 */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O) {
  // A negative number is a value, never an option: `--amount -5` means `--amount=-5`.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.startsWith('--') ? argv[i]!.slice(2) : undefined;
    const next = argv[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`--${name}=${next}`);
      i++;
    } else args.push(argv[i]!);
  }
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '') : String(err);
    throw new UsageError(`tokengate ${command}: ${message} (see 'tokengate ${command} --help')`);
  }
}
