// Real receivers for the alert tests, on 127.0.0.1: an SMTP server (smtp-server) that parses each mail with
// mailparser, and an HTTP server that records webhook requests and answers as a test scripts it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** How the SMTP server behaves. */
export interface SmtpBehaviour {
  /** Waits this long before accepting each message's data, ms. */
  delayMs?: number;
  /** Refuses every recipient with this permanent (5xx) reply. */
  rejectRecipients?: boolean;
  /** Answers the first N messages with a temporary 451, then accepts. */
  failFirst?: number;
}

/** A running SMTP server and the mails it received. */
export interface TestSmtp {
  port: number;
  url: string;
  mails: ParsedMail[];
  /** Raw MIME text of each mail. */
  raw: string[];
  /** Raw MIME text of every message received (before any delay), refused ones included, in order. */
  attempts: string[];
  /** Messages refused with a temporary failure. */
  refused: number;
  /** Resolves once `n` mails arrived, or rejects after `ms`. */
  waitFor(n: number, ms?: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
}

/** Starts an SMTP server on 127.0.0.1 without TLS or authentication (any user and password pass). */
export async function startSmtp(behaviour: SmtpBehaviour = {}): Promise<TestSmtp> {
  const mails: ParsedMail[] = [];
  const raw: string[] = [];
  const attempts: string[] = [];
  const waiters: Array<() => void> = [];
  const state = { refused: 0 };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'test' });
    },
    onRcptTo(_address, _session, callback) {
      if (behaviour.rejectRecipients) {
        const err = new Error('Mailbox unavailable') as Error & { responseCode: number };
        err.responseCode = 550;
        return callback(err);
      }
      callback();
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        attempts.push(Buffer.concat(chunks).toString('utf8'));
        const finish = (): void => {
          if (behaviour.failFirst !== undefined && state.refused < behaviour.failFirst) {
            state.refused++;
            const err = new Error('Try again later') as Error & { responseCode: number };
            err.responseCode = 451;
            return callback(err);
          }
          const text = Buffer.concat(chunks).toString('utf8');
          raw.push(text);
          simpleParser(text).then(
            (mail) => {
              mails.push(mail);
              callback();
              for (const w of waiters.splice(0)) w();
            },
            (err: Error) => callback(err),
          );
        };
        if (behaviour.delayMs) setTimeout(finish, behaviour.delayMs).unref();
        else finish();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://alerts:secret@127.0.0.1:${port}`,
    mails,
    raw,
    attempts,
    get refused() {
      return state.refused;
    },
    waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms;
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (mails.length >= n) return resolve(mails);
          if (Date.now() > deadline) return reject(new Error(`expected ${n} mail(s), got ${mails.length}`));
          waiters.push(check);
          setTimeout(check, 50).unref();
        };
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One request a receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver answers: a status, optional headers, and an optional delay before answering. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** A running HTTP receiver. */
export interface TestReceiver {
  url: string;
  requests: Received[];
  waitFor(n: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1; the i-th request gets `answers[i]` (the last one repeats; default 200). */
export async function startReceiver(answers: Answer[] = [{ status: 200 }]): Promise<TestReceiver> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = answers[Math.min(requests.length, answers.length - 1)] ?? { status: 200 };
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const reply = (): void => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end('ok');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs).unref();
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms;
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length >= n) return resolve(requests);
          if (Date.now() > deadline) return reject(new Error(`expected ${n} request(s), got ${requests.length}`));
          setTimeout(check, 20).unref();
        };
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
