// Redaction on arrival: a message from any client (elmah.io's own, a script, an old logger) is stored with
// the same rules as a captured one.
import { fingerprintOfMessage, normalizeMessage } from '../model/message.js';
import { redactMessage } from '../model/redact.js';
import { cutStringFields } from '../model/truncate.js';

/**
 * An incoming message, normalized and redacted. A message sent without a fingerprint gets one computed
 * from the redacted text, so a token in its stack's URLs cannot split its group. Input that is not a valid
 * message comes back unchanged, for the client to reject with every reason.
 */
export function redactIncoming(input: unknown, log: string, now: Date): unknown {
  let message;
  try {
    message = normalizeMessage(input, log, now);
  } catch {
    return input;
  }
  const redacted = redactMessage(message) as typeof message & Record<string, unknown>;
  // `[Filtered]` can be longer than what it replaced: a field sent at its limit must still pass.
  cutStringFields(redacted);
  const sent = (input as { fingerprint?: unknown }).fingerprint;
  if (sent === undefined || sent === null) redacted.fingerprint = fingerprintOfMessage(redacted);
  return redacted;
}
