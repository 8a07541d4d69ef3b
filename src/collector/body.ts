// Reading a JSON request body for the collector: content type (415), size limit (413), syntax (400).
import type { IncomingMessage } from 'node:http';
import { ElmahError } from '../model/errors.js';
import { overloaded, type BodyClaim } from './in-flight.js';

/** `application/json`, `text/json` and any `application/…+json` (elmah.io clients send `application/json-patch+json`). */
const JSON_TYPE = /^(application\/(?:[\w.-]+\+)?json|text\/json)\s*(?:;|$)/i;

/** True when a request says it carries JSON. */
export function isJsonContentType(value: string | undefined): boolean {
  return typeof value === 'string' && JSON_TYPE.test(value.trim());
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** True when a request has a body that nobody has read to its end (the answer should then close the connection). */
export function bodyUnread(req: IncomingMessage): boolean {
  return hasBody(req) && !req.readableEnded;
}

function tooLarge(limit: number, what: string): ElmahError {
  return new ElmahError('ERR_ELMAH_TOO_LARGE', `The request body is larger than ${limit} bytes, the limit for ${what}.`, {
    help: 'Send messages of at most 256 KiB each, and split large batches into several _bulk requests.',
  });
}

/**
 * Reads and parses a JSON body of at most `limit` bytes. A body that another middleware already parsed
 * (express.json() before the collector) is used as it is. `optional`: a request without a body yields
 * undefined instead of failing. `claim`: the body's bytes count against the collector's cap on bytes in
 * flight (the caller releases them when the request is done); past the cap, ERR_ELMAH_OVERLOADED.
 */
export async function readJson(
  req: IncomingMessage & { body?: unknown; _body?: boolean },
  limit: number,
  what: string,
  optional = false,
  claim?: BodyClaim,
): Promise<unknown> {
  // body-parser 1 marks `_body`; body-parser 2 leaves the stream ended.
  if (req._body === true || req.readableEnded) {
    if (req.body === undefined) {
      throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'The request body was read by another middleware before the collector.', {
        help: 'Mount the collector before body parsers, or let express.json() parse its requests.',
      });
    }
    return req.body;
  }
  if (!hasBody(req)) {
    if (optional) return undefined;
    throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'The request has no body.', {
      help: 'Send the message as JSON with Content-Type: application/json.',
    });
  }
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new ElmahError(
      'ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE',
      `Expected a JSON body, got ${req.headers['content-type'] ? `"${req.headers['content-type']}"` : 'no Content-Type'}.`,
      {
        help: 'Send Content-Type: application/json.',
      },
    );
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    throw new ElmahError('ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${encoding}" is not supported.`, {
      help: 'Send the body uncompressed.',
    });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit, what);
  // A declared length is claimed before any byte is read; a chunked body is claimed as it arrives.
  const claimed = Number.isFinite(declared) && declared > 0;
  if (claimed && claim && !claim.take(declared)) throw overloaded(claim.limit);

  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Discard the rest so the connection can answer; the 413 goes out at once.
        req.resume();
        reject(tooLarge(limit, what));
        return;
      }
      if (!claimed && claim && !claim.take(chunk.length)) {
        cleanup();
        reject(overloaded(claim.limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAborted = (): void => {
      cleanup();
      reject(new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'The client closed the request before the body ended.', { status: 400 }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });

  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', `The body is not valid JSON: ${(err as Error).message}.`, {
      details: [{ field: '', problem: 'invalid JSON' }],
      help: 'Send a JSON object (one message) or a JSON array (a _bulk batch).',
    });
  }
}
