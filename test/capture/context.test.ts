// Capture depth: source lines around in-app frames, per-request breadcrumbs, the cause chain's own data and
// typed JSON bodies, each redacted and bounded.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { addBreadcrumb, currentBreadcrumbs, installBreadcrumbs, redactedUrl, withBreadcrumbs } from '../../src/capture/breadcrumbs';
import { buildMessage, typedBody } from '../../src/capture/record';
import { Recorder, type RecorderOptions } from '../../src/capture/recorder';
import { createSourceReader } from '../../src/capture/source';
import { normalizeMessage, type ErrorMessage } from '../../src/model/message';
import { createRedactor, redactMessage } from '../../src/model/redact';
import { closeLoggers, createMemoryLogger, storedMessages } from '../helpers/capture';

afterEach(closeLoggers);

/** A recorder whose queued messages land in `queued`. */
function recorderWith(options: Partial<RecorderOptions>) {
  const queued: ErrorMessage[] = [];
  const recorder = new Recorder({
    log: 'default',
    severity: 'Error',
    report: () => undefined,
    sink: { admission: () => 'keep', enqueue: (m: ErrorMessage) => queued.push(m) > 0, count: () => true },
    ...options,
  });
  return { recorder, queued };
}

/** An error whose stack names `frames` (file:line), as V8 would print them. */
function errorAt(message: string, ...frames: string[]): Error {
  const err = new Error(message);
  err.stack = [`Error: ${message}`, ...frames.map((f, i) => `    at fn${i} (${f}:7)`)].join('\n');
  return err;
}

describe('source context', () => {
  let root: string;
  beforeAll(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'elmah-src-')));
    writeFileSync(join(root, 'package.json'), '{"name":"app"}');
    mkdirSync(join(root, 'src'));
    mkdirSync(join(root, 'node_modules', 'lib'), { recursive: true });
    const lines = Array.from({ length: 20 }, (_, i) => `// line ${i + 1}`);
    lines[9] = '  const token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";';
    lines[10] = '  const qty = body.quantity.trim();';
    writeFileSync(join(root, 'src', 'orders.ts'), lines.join('\n'));
    writeFileSync(join(root, 'node_modules', 'lib', 'index.js'), 'module.exports = 1;\n'.repeat(20));
    writeFileSync(join(root, 'src', 'config.json'), '{"secret": 1}\n'.repeat(20));
    const outside = mkdtempSync(join(tmpdir(), 'elmah-out-'));
    writeFileSync(join(outside, 'x.js'), 'secret outside\n'.repeat(20));
    symlinkSync(join(outside, 'x.js'), join(root, 'src', 'linked.js'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('keeps the lines around each in-app frame, read off the request path, with the failing line named and secrets redacted', async () => {
    const reader = createSourceReader(root);
    const { recorder, queued } = recorderWith({ sourceReader: reader });
    const file = join(root, 'src', 'orders.ts');
    const id = recorder.record(errorAt('quantity.trim is not a function', `${file}:11`, `${file}:3`), undefined);
    // The file was not read yet: nothing is read on the request path, the message is queued once it is.
    expect(queued).toHaveLength(0);
    await recorder.settle(2000);
    expect(queued.map((m) => m.id)).toEqual([id]);
    const [top, second] = queued[0]!.sourceContext!;
    expect(top).toEqual({
      file,
      line: 11,
      startLine: 8,
      lines: [
        '// line 8',
        '// line 9',
        '  const token = [Filtered];',
        '  const qty = body.quantity.trim();',
        '// line 12',
        '// line 13',
        '// line 14',
      ],
    });
    expect(second).toMatchObject({
      line: 3,
      startLine: 1,
      lines: ['// line 1', '// line 2', '// line 3', '// line 4', '// line 5', '// line 6'],
    });
    expect(JSON.stringify(queued[0])).not.toContain('sk_live_');
    // The second error from the same file is answered from memory, at once.
    recorder.record(errorAt('again', `${file}:11`), undefined);
    expect(queued).toHaveLength(2);
    expect(queued[1]!.sourceContext![0]!.lines[3]).toBe('  const qty = body.quantity.trim();');
    expect(() => normalizeMessage(queued[0], 'default')).not.toThrow();
  });

  it("never takes lines of the error's message for frames: no file is read, grouped or named for them", async () => {
    const config = join(root, 'src', 'config.js');
    writeFileSync(config, Array.from({ length: 10 }, (_, i) => `const internalHost${i} = 'db-${i}.internal';`).join('\n'));
    const file = join(root, 'src', 'orders.ts');
    const fake = `\n    at evil (${config}:4:1)\n    at evil2 (${config}:8:1)`;
    const { recorder, queued } = recorderWith({ sourceReader: createSourceReader(root) });
    const plain = errorAt('Invalid quantity: abc', `${file}:11`);
    recorder.record(errorAt('Invalid quantity: abc' + fake, `${file}:11`), undefined);
    // A message too long to keep whole: its header is shortened, and its frame-shaped tail still is no frame.
    recorder.record(errorAt('x'.repeat(9000) + fake, `${file}:11`), undefined);
    recorder.record(plain, undefined);
    await recorder.settle(2000);
    expect(queued).toHaveLength(3);
    for (const m of queued) {
      expect(m.sourceContext!.map((c) => [c.file, c.line])).toEqual([[file, 11]]);
      expect(m.source).toBe(`${file}:11:7`);
      expect(JSON.stringify(m)).not.toContain('.internal');
      expect(m.fingerprint).toBe(queued[2]!.fingerprint);
    }
    expect(queued[0]!.detail).toContain('at evil (');
    // Nor do the messages of its causes and AggregateError members group it.
    const wrapped = (message: string): Error => {
      const outer = new AggregateError([errorAt(message, `${file}:3`)], 'outer', { cause: errorAt(message, `${file}:11`) });
      outer.stack = `AggregateError: outer\n    at lib (${join(root, 'node_modules', 'lib', 'index.js')}:1:1)`;
      return outer;
    };
    const grouped = recorderWith({ sourceContext: false });
    grouped.recorder.record(wrapped('bad' + fake), undefined);
    grouped.recorder.record(wrapped('bad'), undefined);
    expect(grouped.queued).toHaveLength(2);
    expect(grouped.queued[0]!.detail).toContain('at evil (');
    expect(grouped.queued[0]!.fingerprint).toBe(grouped.queued[1]!.fingerprint);
    // A collector computing the fingerprint of such a message from another client skips the header as well.
    const sent = (title: string) =>
      normalizeMessage({ title, type: 'Error', detail: `Error: ${title}\n    at fn0 (${file}:11:7)` }, 'default').fingerprint;
    expect(sent('Invalid quantity: abc' + fake)).toBe(sent('Invalid quantity: abc'));
  });

  it('reads nothing outside the app root, from node_modules, through links out of the root or from non-code files', async () => {
    const reader = createSourceReader(root);
    const { recorder, queued } = recorderWith({ sourceReader: reader });
    recorder.record(
      errorAt(
        'x',
        join(root, 'node_modules', 'lib', 'index.js:2'),
        join(root, 'src', 'linked.js:2'),
        join(root, 'src', 'config.json:2'),
        '/etc/hosts.js:2',
        'node:internal/process:2',
      ),
      undefined,
    );
    await recorder.settle(2000);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.sourceContext).toBeUndefined();
    expect(reader.held().bytes).toBe(0);
  });

  it('can be turned off, and keeps the configured number of lines and frames', async () => {
    const file = join(root, 'src', 'orders.ts');
    const off = recorderWith({ sourceReader: createSourceReader(root), sourceContext: false });
    off.recorder.record(errorAt('x', `${file}:11`), undefined);
    expect(off.queued[0]!.sourceContext).toBeUndefined();
    const narrow = recorderWith({ sourceReader: createSourceReader(root), sourceContext: { lines: 1, frames: 1 } });
    narrow.recorder.record(errorAt('x', `${file}:11`, `${file}:3`), undefined);
    await narrow.recorder.settle(2000);
    expect(narrow.queued[0]!.sourceContext).toEqual([
      { file, line: 11, startLine: 10, lines: ['  const token = [Filtered];', '  const qty = body.quantity.trim();', '// line 12'] },
    ]);
  });

  it("shows the TypeScript source of an error thrown in this file (the mapped path), through errorLogger's default reader", async () => {
    const { store, logger } = await createMemoryLogger();
    const thrown = new Error('thrown here on purpose'); // the marked line
    logger.raise(thrown);
    await logger.flush(3000);
    const [m] = await storedMessages(store);
    const top = m!.sourceContext![0]!;
    expect(top.file).toBe(__filename);
    expect(top.lines[top.line - top.startLine]).toContain("new Error('thrown here on purpose'); // the marked line");
  });
});

describe('breadcrumbs', () => {
  // What the app writes to the console still reaches the console (the breadcrumb wrapper calls it); here the
  // console underneath is a quiet one that keeps the lines, so that the test run prints nothing.
  const printed: string[] = [];
  const loud = { debug: console.debug, info: console.info };
  beforeEach(() => {
    printed.length = 0;
    console.debug = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
    console.info = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  });
  afterEach(() => {
    console.debug = loud.debug;
    console.info = loud.info;
  });

  /** An upstream on 127.0.0.1 that answers 200, or 503 on /down. */
  async function upstream(): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      res.statusCode = req.url?.startsWith('/down') ? 503 : 200;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it("records the failing request's console lines, fetch and node:http calls and addBreadcrumb, redacted, and none of another request's", async () => {
    const up = await upstream();
    try {
      const { store, logger } = await createMemoryLogger();
      const app = express();
      app.get('/checkout', async (_req: Request, _res: Response, next: NextFunction) => {
        try {
          console.debug('loading cart 7 with password=hunter2');
          await fetch(`${up.url}/prices?sku=7&token=abc123secret`).then((r) => r.text());
          await new Promise<void>((resolve) =>
            http.get(`${up.url}/down?api_key=k-9`, (r) => {
              r.resume();
              r.on('end', () => resolve());
            }),
          );
          addBreadcrumb({
            message: 'charging card',
            action: 'Payment',
            severity: 'Warning',
            data: { amount: 12.5, card_token: 'tok_live_1' },
          });
          throw new Error('charge failed');
        } catch (err) {
          next(err);
        }
      });
      app.get('/browse', (_req, res) => {
        console.debug('browsing, not failing');
        res.send('ok');
      });
      app.use(logger);
      app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => void res.status(500).end());
      await Promise.all([request(app).get('/checkout').expect(500), request(app).get('/browse').expect(200)]);
      await logger.flush(3000);
      const [m] = await storedMessages(store);
      const crumbs = m!.breadcrumbs!;
      expect(crumbs.map((b) => [b.action, b.severity])).toEqual([
        ['Log', 'Debug'],
        ['Request', 'Information'],
        ['Request', 'Error'],
        ['Payment', 'Warning'],
      ]);
      expect(crumbs[0]!.message).toBe('loading cart 7 with password=[Filtered]');
      const data = (i: number) => Object.fromEntries(crumbs[i]!.data!.map((kv) => [kv.key, kv.value]));
      expect(data(1)).toMatchObject({ method: 'GET', url: `${up.url}/prices?sku=[Filtered]&token=[Filtered]`, status: '200' });
      expect(Number(data(1).durationMs)).toBeGreaterThanOrEqual(0);
      expect(data(2)).toMatchObject({ method: 'GET', url: `${up.url}/down?api_key=[Filtered]`, status: '503' });
      expect(data(3)).toEqual({ amount: '12.5', card_token: '[Filtered]' });
      for (const b of crumbs) expect(Number.isNaN(Date.parse(b.dateTime))).toBe(false);
      const json = JSON.stringify(m);
      for (const secret of ['hunter2', 'abc123secret', 'k-9', 'tok_live_1', 'browsing'])
        expect([secret, json.includes(secret)]).toEqual([secret, false]);
      expect(() => normalizeMessage(m, 'default')).not.toThrow();
    } finally {
      await up.close();
    }
  });

  it('keeps the newest breadcrumbs within the count and byte bounds', async () => {
    const { store, logger } = await createMemoryLogger({ breadcrumbs: { maxCount: 5, maxBytes: 1000, console: false } });
    const app = express();
    app.get('/many', () => {
      for (let i = 0; i < 500; i++) addBreadcrumb(`step ${i}`);
      console.debug('not recorded: console is off');
      throw new Error('after many steps');
    });
    app.get('/big', () => {
      for (let i = 0; i < 10; i++) addBreadcrumb(`${i} ${'x'.repeat(5000)}`);
      throw new Error('after big steps');
    });
    app.use(logger);
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => void res.status(500).end());
    await request(app).get('/many').expect(500);
    await request(app).get('/big').expect(500);
    await logger.flush(3000);
    const [many, big] = await storedMessages(store);
    expect(many!.breadcrumbs!.map((b) => b.message)).toEqual(['step 495', 'step 496', 'step 497', 'step 498', 'step 499']);
    // One breadcrumb is cut to 1000 characters with a marker; the newest is always kept.
    expect(big!.breadcrumbs).toHaveLength(1);
    expect(big!.breadcrumbs![0]!.message).toMatch(/^9 x+…\[truncated \d+ bytes\]$/);
    expect(big!.breadcrumbs![0]!.message.length).toBeLessThanOrEqual(1000);
  });

  it('records nothing when turned off, and addBreadcrumb outside a request does nothing', async () => {
    const { store, logger } = await createMemoryLogger({ breadcrumbs: false });
    const app = express();
    app.get('/x', () => {
      addBreadcrumb('inside');
      throw new Error('no trail');
    });
    app.use(logger);
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => void res.status(500).end());
    await request(app).get('/x').expect(500);
    await logger.flush(3000);
    const [m] = await storedMessages(store);
    expect(m!.breadcrumbs).toBeUndefined();
    addBreadcrumb('outside any request');
    expect(currentBreadcrumbs()).toBeUndefined();
  });

  it('keeps a trail for work outside an HTTP request with withBreadcrumbs, and unhooks the console when the last logger closes', () => {
    const before = console.info;
    const undo = installBreadcrumbs({ console: true });
    expect(console.info).not.toBe(before);
    const crumbs = withBreadcrumbs(() => {
      console.info('job %d started', 42);
      expect(printed).toContain('job %d started 42');
      addBreadcrumb({ message: 'step', data: [{ key: 'n', value: '1' }] });
      return currentBreadcrumbs();
    });
    undo();
    expect(console.info).toBe(before);
    expect(crumbs!.map((b) => [b.action, b.message])).toEqual([
      ['Log', 'job 42 started'],
      ['Manual', 'step'],
    ]);
  });

  it('redacts query values and user info from recorded URLs', () => {
    expect(redactedUrl('https://u:p@api.test/a/b?x=1&token=2#frag')).toBe('https://api.test/a/b?x=[Filtered]&token=[Filtered]');
    expect(redactedUrl('http://127.0.0.1:80/plain')).toBe('http://127.0.0.1:80/plain');
    // A password holding `@` goes whole: the user info ends at the last `@` before the path.
    expect(redactedUrl('http://u:p@ss@host/x')).toBe('http://host/x');
    expect(redactedUrl('http://u:p@ss@host')).toBe('http://host');
    expect(redactedUrl('http://host/a@b')).toBe('http://host/a@b');
  });

  it('filters secret members of console arguments by name before formatting them, at any shown depth', () => {
    const undo = installBreadcrumbs({ console: true });
    const config = { host: 'db', pass: 'p4ss', nested: { deeper: { apiKey: 12345678, list: [{ token: 'abc' }] } } };
    const cyclic: Record<string, unknown> = { name: 'loop', secret: 's3cr3t' };
    cyclic.self = cyclic;
    const crumbs = withBreadcrumbs(() => {
      console.info({ user: 'bob', password: 'hunter2' });
      console.info({ 'x-api-key': 'sk_live_abcdef123' });
      console.info('db config', config);
      console.info('%o', cyclic);
      return currentBreadcrumbs();
    });
    undo();
    const text = crumbs!.map((b) => b.message).join('\n');
    for (const secret of ['hunter2', 'sk_live_abcdef123', 'p4ss', '12345678', "'abc'", 's3cr3t']) expect(text).not.toContain(secret);
    expect(crumbs!.map((b) => b.message)).toEqual([
      "{ user: 'bob', password: '[Filtered]' }",
      "{ 'x-api-key': '[Filtered]' }",
      "db config { host: 'db', pass: '[Filtered]', nested: { deeper: { apiKey: '[Filtered]', list: [Array] } } }",
      expect.stringContaining("secret: '[Filtered]'"),
    ]);
    expect(crumbs![3]!.message).toContain('[Circular *1]');
    // The console itself gets the arguments as they were, and they are not changed.
    expect(config.pass).toBe('p4ss');
    expect(printed[0]).toBe('[object Object]');
  });

  it('filters secret members nested in addBreadcrumb data, as error data is', () => {
    const undo = installBreadcrumbs({ console: false });
    const crumbs = withBreadcrumbs(() => {
      addBreadcrumb({
        message: 'x',
        data: { user: { name: 'bob', apiKey: 12345678, tokens: ['abc-secret-tok'], secret: { v: 's3cr3t' } } },
      });
      addBreadcrumb({ message: 'y', data: [{ key: 'account', value: { id: 7, password: 'hunter2' } as unknown as string }] });
      return currentBreadcrumbs();
    });
    undo();
    const data = crumbs!.map((b) => b.data);
    expect(data).toEqual([
      [{ key: 'user', value: '{"name":"bob","apiKey":"[Filtered]","tokens":"[Filtered]","secret":"[Filtered]"}' }],
      [{ key: 'account', value: '{"id":7,"password":"[Filtered]"}' }],
    ]);
  });
});

describe("the cause chain's own data", () => {
  it('keeps the properties of each cause and AggregateError member, named by where they sit, redacted by name', () => {
    const db = Object.assign(new Error('relation "orders" does not exist'), { code: '42P01', table: 'orders', password: 'pw-1' });
    const wrapped = new Error('could not load orders', { cause: db });
    const m = buildMessage(new AggregateError([wrapped, Object.assign(new Error('b'), { code: 'ETIMEDOUT' })], 'all failed'), undefined, {
      log: 'default',
      severity: 'Error',
      redactor: createRedactor(),
    });
    const data = Object.fromEntries(m.data.map((kv) => [kv.key, kv.value]));
    expect(data).toMatchObject({
      'errors[0].cause.code': '42P01',
      'errors[0].cause.table': 'orders',
      'errors[0].cause.password': '[Filtered]',
      'errors[1].code': 'ETIMEDOUT',
    });
    const single = buildMessage(wrapped, undefined, { log: 'default', severity: 'Error', redactor: createRedactor() });
    expect(single.data).toEqual(expect.arrayContaining([{ key: 'cause.code', value: '42P01' }]));
  });

  it('stops at cycles and at the depth limit', () => {
    const a = new Error('a') as Error & { cause?: unknown; n?: number };
    const b = new Error('b', { cause: a }) as Error & { n?: number };
    a.cause = b;
    a.n = 1;
    b.n = 2;
    const m = buildMessage(a, undefined, { log: 'default', severity: 'Error', redactor: createRedactor() });
    expect(m.data).toEqual([
      { key: 'n', value: '1' },
      { key: 'cause.n', value: '2' },
    ]);
  });
});

describe('typed JSON bodies', () => {
  it('keeps numbers, strings, booleans and null apart, redacts secret members at every depth, and keeps __proto__ as a member', () => {
    const body = JSON.parse(
      '{"quantity":2,"sku":"2","gift":false,"note":null,"lines":[{"qty":"1","shipping":{"zip":"123","password":"p"}}],"__proto__":{"x":1}}',
    ) as unknown;
    const text = typedBody(body, createRedactor())!;
    expect(text).toBe(
      '{"quantity":2,"sku":"2","gift":false,"note":null,"lines":[{"qty":"1","shipping":{"zip":"123","password":"[Filtered]"}}],"__proto__":{"x":1}}',
    );
  });

  it('marks what it leaves out: members, items and depth', () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } };
    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i]));
    const parsed = JSON.parse(typedBody({ deep, wide, list: Array.from({ length: 120 }, (_, i) => i) }, createRedactor())!) as {
      deep: unknown;
      wide: Record<string, unknown>;
      list: unknown[];
    };
    expect(JSON.stringify(parsed.deep)).toContain('"[Object]"');
    expect(parsed.wide['…']).toBe('[50 more members]');
    expect(parsed.list.at(-1)).toBe('[… 20 more items]');
  });

  it('never throws on hostile bodies: throwing getters and proxies, cycles, huge keys', () => {
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('getter throws');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('ownKeys throws');
        },
      },
    );
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const redactor = createRedactor();
    for (const body of [getter, proxy, cycle, { ['k'.repeat(100_000)]: 'v' }, [new Array(1e6).fill(0)]]) {
      const text = typedBody(body, redactor);
      expect(text === undefined || text.length <= 16_384).toBe(true);
      if (text !== undefined) expect(() => JSON.parse(text) as unknown).not.toThrow();
    }
    expect(JSON.parse(typedBody(cycle, redactor)!)).toMatchObject({ name: 'loop', self: { name: 'loop' } });
  });

  it('applies the text rules inside a stored JSON body, as the collector does', async () => {
    const { store, logger } = await createMemoryLogger();
    const app = express();
    app.use(express.json());
    app.post('/orders', () => {
      throw new TypeError('quantity.trim is not a function');
    });
    app.use(logger);
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => void res.status(500).end());
    await request(app)
      .post('/orders')
      .send({ quantity: 2, note: 'call back at https://u:pw-secret@x.test/ or Bearer abcdefghijklmnop1234' })
      .expect(500);
    await logger.flush(3000);
    const [m] = await storedMessages(store);
    expect(m!.form).toEqual([]);
    expect(JSON.parse(m!.jsonBody!)).toEqual({ quantity: 2, note: 'call back at https://u:[Filtered]@x.test/ or Bearer [Filtered]' });
  });
});

describe('redaction of what collector clients send', () => {
  it('filters secrets inside breadcrumbs, source lines and JSON bodies, and redacting twice changes nothing', () => {
    const m = normalizeMessage(
      {
        title: 't',
        breadcrumbs: [
          {
            dateTime: '2026-01-01T00:00:00Z',
            action: 'Request',
            message: 'GET https://api.test/x?access_token=tok-abc-123',
            data: [{ key: 'authorization', value: 'Bearer xyz' }],
          },
        ],
        sourceContext: [{ file: '/app/a.ts', line: 1, startLine: 1, lines: ["const client = new Stripe({ apiKey: 'sk_live_zzz' });"] }],
        jsonBody: '{"user":{"password":"pw-2","name":"Ann"},"items":[{"api_key":"k"}]}',
      },
      'default',
    );
    const once = redactMessage(m);
    expect(once.breadcrumbs![0]).toMatchObject({
      message: 'GET https://api.test/x?access_token=[Filtered]',
      data: [{ key: 'authorization', value: '[Filtered]' }],
    });
    expect(once.sourceContext![0]!.lines).toEqual(["const client = new Stripe({ apiKey: '[Filtered]' });"]);
    expect(JSON.parse(once.jsonBody!)).toEqual({ user: { password: '[Filtered]', name: 'Ann' }, items: [{ api_key: '[Filtered]' }] });
    expect(redactMessage(once)).toEqual(once);
  });

  it('replaces what a JSON body nests past the kept depth with a mark, so no secret down there is stored', () => {
    let deep: unknown = { password: 'deep-secret', name: 'Ann' };
    for (let i = 0; i < 40; i++) deep = { level: i, child: deep };
    const m = normalizeMessage({ title: 't', jsonBody: JSON.stringify(deep) }, 'default');
    const once = redactMessage(m);
    expect(once.jsonBody).not.toContain('deep-secret');
    expect(once.jsonBody).toContain('"child":"[Filtered: too deep]"');
    let v = JSON.parse(once.jsonBody!) as Record<string, unknown>;
    let levels = 0;
    while (typeof v.child === 'object') {
      v = v.child as Record<string, unknown>;
      levels++;
    }
    expect(levels).toBe(15);
    expect(redactMessage(once)).toEqual(once);
  });
});
