// Grouping by bug: real errors thrown by the inline handlers of test/fixtures/grouping, before (deploy-1)
// and after (deploy-2) an edit that shifts their lines, must group together when they are the same bug and
// stay apart when they are not — through errorLogger() into a store, on the storm path, computed directly,
// and at a collector that cannot read the sender's source.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type ErrorRequestHandler, type Request } from 'express';
import request from 'supertest';
import { errorLogger, type ErrorLogger } from '../../src/capture/logger';
import { createSourceReader, findAppRoot } from '../../src/capture/source';
import { computeFingerprint, routeKey } from '../../src/model/fingerprint';
import type { ErrorMessage } from '../../src/model/message';
import type { MemoryStore } from '../../src/stores/memory';
import { createCollectorApp } from '../helpers/collector';
import { withKeys } from '../helpers/keys';
import { closeLoggers, createMemoryLogger, storedMessages, trackLogger } from '../helpers/capture';

const DEPLOYS = [1, 2].map((n) => join(__dirname, '..', 'fixtures', 'grouping', `deploy-${n}`, 'src', 'routes.js'));

/** One request of the corpus: which deploy serves it, and what is asked. */
interface Hit {
  deploy: 0 | 1;
  method: 'get' | 'post';
  path: string;
}
const hit = (deploy: 0 | 1, method: 'get' | 'post', path: string): Hit => ({ deploy, method, path });
const label = (h: Hit): string => `d${h.deploy + 1} ${h.method.toUpperCase()} ${h.path}`;

/** The same bug: different message text, and lines shifted by the edit between the deploys. */
const TOGETHER: [string, Hit, Hit][] = [
  ['a connection failure, for another item', hit(0, 'get', '/stock/1'), hit(0, 'get', '/stock/2')],
  ['a connection failure, after the edit', hit(0, 'get', '/stock/1'), hit(1, 'get', '/stock/9')],
  ['a validation error, other input, after the edit', hit(0, 'post', '/signup?email=bob'), hit(1, 'post', '/signup?email=ann')],
  ['a throw in a nested callback, after the edit', hit(0, 'get', '/report?digits=200'), hit(1, 'get', '/report?digits=-5')],
  ['a named helper called from an inline handler, after the edit', hit(0, 'get', '/users/101'), hit(1, 'get', '/users/555')],
  ['a not-found, after the edit', hit(0, 'get', '/orders/1'), hit(1, 'get', '/orders/2')],
];

/** Different bugs: inline handlers in one file, throwing errors of one type. */
const APART: [string, Hit, Hit][] = [
  ['a connection failure and a signup validation error', hit(0, 'get', '/stock/1'), hit(0, 'post', '/signup?email=bob')],
  ['the same line text in two handlers', hit(0, 'get', '/orders/1'), hit(0, 'get', '/invoices/1')],
  ['a validation error and a not-found', hit(0, 'post', '/signup?email=bob'), hit(0, 'get', '/orders/1')],
  ['a connection failure and a not-found, after the edit', hit(1, 'get', '/stock/1'), hit(1, 'get', '/invoices/1')],
  ['a validation error and a nested callback', hit(1, 'post', '/signup?email=bob'), hit(1, 'get', '/report?digits=200')],
];

const HITS = [...TOGETHER, ...APART].flatMap(([, a, b]) => [a, b]);

/** What one request produced: the stored record, and the error and request the logger saw. */
interface Outcome {
  message: ErrorMessage;
  err: unknown;
  req: Request;
}

/** A port nobody listens on: connecting to it is a real ECONNREFUSED. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The fixture app of one deploy, with `logger` after its routes; every (err, req) the logger sees goes to `seen`. */
function shop(
  deploy: 0 | 1,
  logger: ErrorRequestHandler,
  stockPort: number,
  seen: Map<string, { err: unknown; req: Request }>,
): express.Express {
  const app = express();
  app.locals.stockPort = stockPort;
  (require(DEPLOYS[deploy]!) as (app: express.Express) => void)(app);
  app.use(function remember(err: unknown, req: Request, _res: express.Response, next: express.NextFunction) {
    seen.set(String(req.headers['x-request-id']), { err, req });
    next(err);
  });
  app.use(logger);
  app.use(function answer(_err: unknown, _req: Request, res: express.Response, _next: express.NextFunction) {
    res.status(500).end();
  });
  return app;
}

/** Sends every hit of the corpus to its deploy, through one logger on one store. */
async function runCorpus(): Promise<{ store: MemoryStore; logger: ErrorLogger; outcomes: Map<string, Outcome> }> {
  const { store, logger } = await createMemoryLogger();
  await logger.ready;
  const seen = new Map<string, { err: unknown; req: Request }>();
  const port = await closedPort();
  const apps = [shop(0, logger, port, seen), shop(1, logger, port, seen)];
  for (const h of new Map(HITS.map((x) => [label(x), x])).values()) {
    const res = await request(apps[h.deploy]!)[h.method](h.path).set('x-request-id', label(h));
    expect([label(h), res.status]).toEqual([label(h), 500]);
  }
  expect(await logger.flush(5000)).toBe(true);
  const outcomes = new Map<string, Outcome>();
  for (const message of await storedMessages(store)) {
    const s = seen.get(message.correlationId!)!;
    outcomes.set(message.correlationId!, { message, ...s });
  }
  expect([...outcomes.keys()].sort()).toEqual([...new Set(HITS.map(label))].sort());
  return { store, logger, outcomes };
}

let corpus: Awaited<ReturnType<typeof runCorpus>>;
const outcome = (h: Hit): Outcome => corpus.outcomes.get(label(h))!;
const fp = (h: Hit): string => outcome(h).message.fingerprint;

beforeAll(async () => {
  corpus = await runCorpus();
});
afterAll(closeLoggers);

describe('the corpus is the case that used to merge', () => {
  it('a connection failure and a signup validation error: one type, one file, anonymous frames only', () => {
    const [, a, b] = APART[0]!;
    const [ma, mb] = [outcome(a).message, outcome(b).message];
    expect([ma.type, mb.type]).toEqual(['Error', 'Error']);
    expect(ma.detail).toMatch(
      /^Error: stock service unavailable for item 1\n {4}at \S+deploy-1\/src\/routes\.js:\d+:\d+\n[\s\S]*ECONNREFUSED/,
    );
    expect(mb.detail).toMatch(/^Error: invalid email address: "bob"\n {4}at \S+deploy-1\/src\/routes\.js:\d+:\d+\n/);
    // By type and frames alone, without the source line or the route, they cannot be told apart.
    expect(computeFingerprint(ma.type, ma.detail, ma.title)).toBe(computeFingerprint(mb.type, mb.detail, mb.title));
  });
});

describe('errorLogger() groups by bug', () => {
  it.each(TOGETHER)('the same bug groups together: %s', (_name, a, b) => {
    expect(fp(a)).toBe(fp(b));
    expect(outcome(a).message.detail).not.toBe(outcome(b).message.detail);
  });

  it.each(APART)('different bugs stay apart: %s', (_name, a, b) => {
    expect(fp(a)).not.toBe(fp(b));
  });

  it('each handler of a deploy is a group of its own, and the edited deploy has the same groups', () => {
    /** Fingerprint per handler (the path's first segment) of one deploy. */
    const byHandler = (deploy: 0 | 1): Map<string, Set<string>> => {
      const out = new Map<string, Set<string>>();
      for (const h of HITS.filter((x) => x.deploy === deploy)) {
        const handler = h.path.split(/[/?]/)[1]!;
        out.set(handler, (out.get(handler) ?? new Set()).add(fp(h)));
      }
      return out;
    };
    const [first, second] = [byHandler(0), byHandler(1)];
    expect([...first.keys()].sort()).toEqual(['invoices', 'orders', 'report', 'signup', 'stock', 'users']);
    expect([...first.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set([...first.values()].flatMap((set) => [...set])).size).toBe(first.size);
    expect(second).toEqual(first);
  });

  it('without a request (raise(err), an uncaught error) the source lines alone tell the handlers apart', async () => {
    const { store, logger } = await createMemoryLogger();
    const ids = new Map<string, string>();
    for (const h of HITS) ids.set(label(h), logger.raise(outcome(h).err)!);
    expect(await logger.flush(5000)).toBe(true);
    const bare = async (h: Hit) => (await store.get('default', ids.get(label(h))!))!.fingerprint;
    for (const [name, a, b] of TOGETHER) expect([name, (await bare(a)) === (await bare(b))]).toEqual([name, true]);
    // The two handlers whose failing lines read the same need the route, which only a request has.
    for (const [name, a, b] of APART.filter(([n]) => n !== 'the same line text in two handlers')) {
      expect([name, (await bare(a)) === (await bare(b))]).toEqual([name, false]);
    }
  });

  it('the store keeps one group per bug', async () => {
    const groups = (await corpus.store.groups({})).groups;
    const expected = new Set([...corpus.outcomes.values()].map((o) => o.message.fingerprint));
    expect(new Set(groups.map((g) => g.fingerprint))).toEqual(expected);
    const stock = groups.find((g) => g.fingerprint === fp(TOGETHER[0]![1]))!;
    expect(stock.count).toBe([...corpus.outcomes.values()].filter((o) => o.message.url!.startsWith('/stock/')).length);
  });
});

describe('computeFingerprint, called directly', () => {
  const sourceLine = createSourceReader(findAppRoot());
  const direct = (h: Hit): string => {
    const { message, req } = outcome(h);
    return computeFingerprint(message.type, message.detail, message.title, {
      sourceLine,
      route: routeKey(req.method, req.route.path as string),
    });
  };

  it('with the app source and the route, gives the fingerprint errorLogger() stored', () => {
    for (const h of HITS) expect([label(h), direct(h)]).toEqual([label(h), fp(h)]);
  });

  it("from the thrown error's own stack: the same pairs together and apart", () => {
    const fromStack = (h: Hit): string => {
      const { err, req } = outcome(h);
      const e = err as Error;
      return computeFingerprint(e.constructor.name, e.stack, e.message, {
        sourceLine,
        route: routeKey(req.method, req.route.path as string),
      });
    };
    for (const [name, a, b] of TOGETHER) expect([name, fromStack(a) === fromStack(b)]).toEqual([name, true]);
    for (const [name, a, b] of APART) expect([name, fromStack(a) === fromStack(b)]).toEqual([name, false]);
  });

  it('without the source, the route still tells inline handlers apart and survives the edit', () => {
    const bare = (h: Hit): string => {
      const { message, req } = outcome(h);
      return computeFingerprint(message.type, message.detail, message.title, { route: routeKey(req.method, req.route.path as string) });
    };
    for (const [name, a, b] of TOGETHER) expect([name, bare(a) === bare(b)]).toEqual([name, true]);
    // Only the two handlers whose failing lines read the same need the route; here it is all there is.
    for (const [name, a, b] of APART) expect([name, bare(a) === bare(b)]).toEqual([name, false]);
  });

  it("a frame's source line is read as text: indentation and spacing do not count, the line's code does", () => {
    const stack = 'Error: x\n    at /app/src/routes.js:10:5';
    const at = (text: string) => computeFingerprint('Error', stack, 'x', { sourceLine: () => text });
    expect(at('  throw   new Error(msg);\t')).toBe(at('throw new Error(msg);'));
    expect(at('throw new Error(msg);')).not.toBe(at('throw new Error(other);'));
    // A reader that fails counts as no source.
    expect(
      computeFingerprint('Error', stack, 'x', {
        sourceLine: () => {
          throw new Error('unreadable');
        },
      }),
    ).toBe(computeFingerprint('Error', stack, 'x'));
  });

  it('named functions keep their old basis: the route is added only when every in-app frame is anonymous', () => {
    const stack = 'TypeError: x\n    at loadOrder (/app/src/orders.js:10:5)\n    at /app/src/routes.js:4:3';
    expect(computeFingerprint('TypeError', stack, 'x', { route: 'GET /a' })).toBe(
      computeFingerprint('TypeError', stack, 'x', { route: 'GET /b' }),
    );
    const bundled =
      'TypeError: x\n    at /app/dist/server.js:10:5\n    at Layer.handle [as handle_request] (/app/dist/server.js:900:5)\n    at next (/app/dist/server.js:950:5)';
    // Express's own dispatch frames inside a bundle do not make the stack "named".
    expect(computeFingerprint('TypeError', bundled, 'x', { route: 'GET /a' })).not.toBe(
      computeFingerprint('TypeError', bundled, 'x', { route: 'GET /b' }),
    );
  });

  it('an awaited frame (`at async …`) is the same frame', () => {
    const sync = 'Error: x\n    at load (/app/src/a.js:3:9)\n    at /app/src/routes.js:5:9';
    const resumed = 'Error: x\n    at async load (/app/src/a.js:3:9)\n    at async /app/src/routes.js:5:9';
    expect(computeFingerprint('Error', resumed, 'x', { sourceLine: () => 'await load()' })).toBe(
      computeFingerprint('Error', sync, 'x', { sourceLine: () => 'await load()' }),
    );
  });
});

describe('the storm path', () => {
  /** A logger whose queue holds one message: the second raise is counted only. */
  async function stormLogger(): Promise<{ store: MemoryStore; logger: ErrorLogger }> {
    const { store, keys } = await withKeys();
    const logger = trackLogger(errorLogger({ store, key: keys.write, queueSize: 1, onError: () => undefined }));
    await logger.ready;
    return { store, logger };
  }

  it.each(TOGETHER)('a counted-only occurrence lands in the group of the kept one: %s', async (_name, a, b) => {
    const { store, logger } = await stormLogger();
    expect(logger.raise(outcome(a).err, outcome(a).req)).toEqual(expect.any(String));
    expect(logger.raise(outcome(b).err, outcome(b).req)).toBeUndefined();
    expect(await logger.flush(5000)).toBe(true);
    const groups = (await store.groups({})).groups;
    expect(groups.map((g) => [g.fingerprint, g.count, g.countedOnly])).toEqual([[fp(a), 2, 1]]);
  });

  it.each(APART)('a counted-only occurrence of another bug is a group of its own: %s', async (_name, a, b) => {
    const { store, logger } = await stormLogger();
    logger.raise(outcome(a).err, outcome(a).req);
    logger.raise(outcome(b).err, outcome(b).req);
    expect(await logger.flush(5000)).toBe(true);
    const groups = (await store.groups({})).groups;
    expect(new Map(groups.map((g) => [g.fingerprint, g.countedOnly]))).toEqual(
      new Map([
        [fp(a), 0],
        [fp(b), 1],
      ]),
    );
  });
});

describe('a collector receiving messages without a fingerprint', () => {
  /** The message as another machine would send it: its own paths (not readable here), no fingerprint. */
  const remote = (h: Hit): Record<string, unknown> => {
    const { message } = outcome(h);
    const detail = message.detail!.replace(/\/\S*\/(deploy-\d)\/src\//g, '/srv/shop/releases/$1/src/');
    return { title: message.title, type: message.type, detail, method: message.method, url: message.url, statusCode: 500 };
  };

  it('groups the same bug together and keeps different bugs apart, by the route when frames are anonymous', async () => {
    const { app, store, keys } = await createCollectorApp();
    const ids = new Map<string, string>();
    for (const h of new Map(HITS.map((x) => [label(x), x])).values()) {
      const res = await request(app).post('/v3/messages/default').set('api_key', keys.write).send(remote(h));
      expect(res.status).toBe(201);
      ids.set(label(h), res.body.id as string);
    }
    const received = async (h: Hit) => (await store.get('default', ids.get(label(h))!))!;
    for (const [name, a, b] of TOGETHER)
      expect([name, (await received(a)).fingerprint === (await received(b)).fingerprint]).toEqual([name, true]);
    for (const [name, a, b] of APART)
      expect([name, (await received(a)).fingerprint === (await received(b)).fingerprint]).toEqual([name, false]);
    expect((await received(HITS[0]!)).detail).toContain('/srv/shop/releases/deploy-1/src/routes.js');
  });

  it('keeps a fingerprint the client sent', async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .send({ ...remote(HITS[0]!), fingerprint: 'client-chosen_1' });
    expect((await store.get('default', res.body.id as string))!.fingerprint).toBe('client-chosen_1');
  });

  it('reads a URL as a route: ids, hashes and the query do not count', () => {
    expect(routeKey('get', undefined, '/orders/41?page=2')).toBe('GET /orders/:x');
    expect(routeKey('GET', undefined, 'https://shop.example/orders/42#top')).toBe('GET /orders/:x');
    expect(routeKey('GET', undefined, '/files/' + 'a'.repeat(40))).toBe('GET /files/:x');
    expect(routeKey('POST', undefined, '/signup')).not.toBe(routeKey('GET', undefined, '/signup'));
    expect(routeKey('GET', '/orders/:id', '/orders/41')).toBe('GET /orders/:id');
    expect(routeKey('GET', undefined, undefined)).toBeUndefined();
  });
});

describe('reading source lines', () => {
  let root: string;
  let outside: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'elmah-src-'));
    outside = mkdtempSync(join(tmpdir(), 'elmah-out-'));
    writeFileSync(join(root, 'package.json'), '{}');
    mkdirSync(join(root, 'src'));
    mkdirSync(join(root, 'node_modules', 'lib'), { recursive: true });
    writeFileSync(join(root, 'src', 'app.js'), 'first\n  second line  \r\nthird\n' + 'x'.repeat(2000) + '\n');
    writeFileSync(join(root, 'src', 'b.js'), 'b1\nb2\n');
    writeFileSync(join(root, 'src', 'c.js'), 'c1\nc2\n');
    writeFileSync(join(root, 'node_modules', 'lib', 'index.js'), 'library\n');
    writeFileSync(join(outside, 'secret.js'), 'outside\n');
    symlinkSync(join(outside, 'secret.js'), join(root, 'src', 'link.js'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('finds the app root from a folder inside it', () => {
    expect(findAppRoot(join(root, 'src'))).toBe(root);
  });

  it('reads lines of files under the root, as paths or file URLs', () => {
    const read = createSourceReader(root);
    expect(read(join(root, 'src', 'app.js'), 2)).toBe('  second line  \r');
    expect(read(`file://${join(root, 'src', 'app.js')}`, 1)).toBe('first');
    expect([read(join(root, 'src', 'app.js'), 0), read(join(root, 'src', 'app.js'), 99)]).toEqual([undefined, undefined]);
  });

  it('never reads outside the root, inside node_modules, through a link that leaves the root, a file that is not code, or without a root', () => {
    const read = createSourceReader(root);
    expect(read(join(outside, 'secret.js'), 1)).toBeUndefined();
    expect(read(join(root, 'node_modules', 'lib', 'index.js'), 1)).toBeUndefined();
    expect(read(join(root, 'src', 'link.js'), 1)).toBeUndefined();
    expect(read(join(root, 'src', '..', '..', outside.split('/').pop()!, 'secret.js'), 1)).toBeUndefined();
    expect(read('src/app.js', 1)).toBeUndefined();
    expect(read(join(root, 'package.json'), 1)).toBeUndefined();
    expect(createSourceReader(undefined)(join(root, 'src', 'app.js'), 1)).toBeUndefined();
  });

  it('skips large files and minified lines', () => {
    expect(createSourceReader(root, { maxFileBytes: 100 })(join(root, 'src', 'app.js'), 1)).toBeUndefined();
    expect(createSourceReader(root)(join(root, 'src', 'app.js'), 4)).toBeUndefined();
  });

  it('holds a bounded number of files and bytes, and answers again after a file was let go', () => {
    const read = createSourceReader(root, { maxFiles: 2 });
    for (const f of ['app.js', 'b.js', 'c.js']) read(join(root, 'src', f), 1);
    expect(read.held().files).toBe(2);
    expect(read(join(root, 'src', 'app.js'), 1)).toBe('first');
    const small = createSourceReader(root, { maxBytes: 20 });
    expect(small(join(root, 'src', 'app.js'), 1)).toBeUndefined();
    expect(small(join(root, 'src', 'b.js'), 2)).toBe('b2');
    expect(small(join(root, 'src', 'c.js'), 1)).toBe('c1');
    expect(small.held().bytes).toBeLessThanOrEqual(20);
  });
});
