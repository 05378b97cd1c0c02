import { Webhook } from 'standardwebhooks';

/** The Standard Webhooks spec's smallest recommended key: 24 bytes. */
const MIN_KEY_BYTES = 24;

/**
 * The library's signer/verifier for a `whsec_…` secret (base64 of at least 24 random bytes).
 * A missing, malformed or short secret is a configuration mistake of the app: a `TypeError` at
 * once, never a webhook that is silently signed with a weak key.
 *
 * @example
 * const webhook = signingKey(process.env.TOKENGATE_WEBHOOK_SECRET, 'createAlertWorker');
 */
export function signingKey(secret: unknown, where: string): Webhook {
  const hint = `${where}: \`secret\` must be a Standard Webhooks secret: "whsec_" + base64 of ${MIN_KEY_BYTES} to 64 random bytes ` +
    `(e.g. "whsec_" + crypto.randomBytes(32).toString('base64'))`;
  if (typeof secret !== 'string' || !secret.startsWith('whsec_')) throw new TypeError(hint);
  const base64 = secret.slice('whsec_'.length);
  // atob, not Buffer: the worker and the receiver also run on Deno and edge runtimes.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0 || atob(base64).length < MIN_KEY_BYTES) throw new TypeError(hint);
  try {
    return new Webhook(secret);
  } catch {
    throw new TypeError(hint);
  }
}
