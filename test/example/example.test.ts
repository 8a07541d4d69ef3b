// The example app as a newcomer runs it (`node example-app/start.mjs`): keys made on the first run, every
// failing route recorded and found again through the viewer over HTTP, secrets filtered, Ctrl-C clean.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..', '..');

/**
 * Builds dist/ if needed (example-app/build.mjs). Exit 1 is a failed build: the example cannot run, so
 * its tests are skipped. Exit 3 means package.json names files the build does not make: a packaging
 * bug, reported by one failing test.
 */
function build(): { skip?: string; problem?: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'example-app', 'build.mjs'), '--quiet'], { encoding: 'utf8', timeout: 600_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
  if (r.status === 0) return {};
  return r.status === 3 ? { problem: output } : { skip: `the build failed:\n${output}` };
}

const built = build();
if (built.skip) console.log(`test/example skipped: ${built.skip}`);
const describeBuilt = built.skip || built.problem ? describe.skip : describe;

(built.skip ? test.skip : test)('the build makes every file package.json names, so the example can start', () => {
  expect(built.problem ?? '').toBe('');
});

interface Running {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the example on an ephemeral port with its data in `dataDir`; resolves once it prints its URLs. */
function startExample(dataDir: string): Promise<Running> {
  return new Promise((ready, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'example-app', 'start.mjs'), '--data-dir', dataDir], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the example printed no URL within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /App:\s+(http:\/\/\S+?)\/\s/.exec(output);
      if (m && /Error log:\s+http/.test(output)) {
        clearTimeout(timer);
        ready({ child, base: m[1]!, output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`the example exited with ${code} before it was ready:\n${output}`));
    });
  });
}

/** A small CSV reader (quoted cells, doubled quotes), for the viewer's export. */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const body = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  const [header, ...data] = rows;
  return data.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
}

describeBuilt('example-app', () => {
  let dataDir = '';
  let app: Running;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'express-elmah-example-'));
    app = await startExample(dataDir);
  }, 70_000);

  afterAll(async () => {
    if (app && app.child.exitCode === null) {
      app.child.kill('SIGKILL');
      await app.exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (path: string): Promise<Response> => fetch(`${app.base}${path}`, { redirect: 'manual' });

  /** The viewer's CSV export, read until every title is there (shipping is asynchronous), within 10 s. */
  async function loggedWith(titles: string[]): Promise<Record<string, string>[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await get('/elmah.axd/download');
      expect(res.status).toBe(200);
      const rows = parseCsv(await res.text());
      if (titles.every((t) => rows.some((r) => r.title === t)) || Date.now() > deadline) return rows;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function json(id: string): Promise<Record<string, unknown>> {
    const res = await get(`/elmah.axd/json/${id}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  const kv = (list: unknown): Record<string, string> =>
    Object.fromEntries((list as { key: string; value: string }[]).map((e) => [e.key, e.value]));

  test('made the keys on the first run, in the env file of its data folder', () => {
    const env = readFileSync(join(dataDir, '.env'), 'utf8');
    expect(env).toMatch(/^ELMAH_WRITE_KEY=elmah_[a-z2-7]{8}_/m);
    expect(env).toMatch(/^ELMAH_READ_KEY=elmah_[a-z2-7]{8}_/m);
    expect(app.output()).toMatch(/Error log:\s+http:\/\/127\.0\.0\.1:\d+\/elmah\.axd\//);
  });

  test('the home page links every failing route, the form and the viewer', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const href of [
      '/products/7',
      '/report',
      '/report/monthly',
      '/stock',
      '/checkout/slow',
      '/orders/42',
      '/newsletter',
      '/elmah.axd/',
    ]) {
      expect(html).toContain(`href="${href}`);
    }
    expect(html).toContain('action="/signup"');
    expect(html).toContain('curl -i -X POST');
  });

  test('every failing route is answered by the friendly page and recorded; the 404 is not', async () => {
    const routes: [string, RequestInit | undefined, number][] = [
      ['/products/7', undefined, 500],
      ['/report', undefined, 500],
      ['/report/monthly', undefined, 500],
      ['/stock', undefined, 500],
      ['/checkout/slow?ms=150', undefined, 500],
      ['/orders/42', undefined, 404],
      ['/newsletter', undefined, 200],
      [
        '/signup',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'email=ada%40example.com&password=correct+horse',
        },
        500,
      ],
      [
        '/api/orders',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ item: 'coffee', quantity: 2, card: '4111 1111 1111 1111', password: 'hunter2' }),
        },
        500,
      ],
    ];
    for (const [path, init, status] of routes) {
      const res = await fetch(`${app.base}${path}`, init);
      const html = await res.text();
      expect({ path, status: res.status }).toEqual({ path, status });
      if (status === 500) {
        expect(html).toContain('Something went wrong on our side');
        // The friendly page never shows the error's own text.
        expect(html).not.toMatch(/sales_2026|trim is not a function|SKU-42/);
      }
    }
    expect(await (await get('/orders/42')).text()).toContain('Order 42 not found');

    const titles = {
      sync: "Cannot read properties of undefined (reading 'name')",
      async: 'relation "sales_2026" does not exist',
      cause: 'Could not build the monthly report',
      nonError: 'Out of stock: SKU-42',
      slow: 'Payment provider did not answer within 150 ms',
      handled: 'Newsletter service is down; showing the cached issue instead',
      form: 'Could not create the account for ada@example.com: the mail service rejected the address',
      json: 'quantity.trim is not a function',
    };
    const rows = await loggedWith(Object.values(titles));
    const row = (title: string): Record<string, string> => {
      const found = rows.find((r) => r.title === title);
      if (!found) throw new Error(`"${title}" is not in the log; it holds: ${rows.map((r) => r.title).join(' | ')}`);
      return found;
    };

    expect(row(titles.sync)).toMatchObject({
      type: 'TypeError',
      statusCode: '500',
      url: '/products/7',
      method: 'GET',
      application: 'example-shop',
    });
    expect(row(titles.nonError)).toMatchObject({ type: 'string', url: '/stock' });
    expect(row(titles.slow)).toMatchObject({ type: 'TimeoutError', url: '/checkout/slow?ms=150' });
    expect(row(titles.handled)).toMatchObject({ url: '/newsletter' });
    expect(rows.some((r) => r.title?.includes('Order 42'))).toBe(false);

    const rejected = await json(row(titles.async).id!);
    expect(kv(rejected.data)).toMatchObject({ code: '42P01' });

    const caused = await json(row(titles.cause).id!);
    expect(String(caused.detail)).toMatch(/Could not build the monthly report[\s\S]*sales_2026/);

    const form = await json(row(titles.form).id!);
    expect(kv(form.form)).toEqual({ email: 'ada@example.com', password: '[Filtered]' });

    const body = await json(row(titles.json).id!);
    // The JSON body keeps its types: quantity is the number 2, the cause of "quantity.trim is not a function".
    expect(body.form).toEqual([]);
    expect(JSON.parse(String(body.jsonBody))).toEqual({ item: 'coffee', quantity: 2, card: '[Filtered]', password: '[Filtered]' });
    // The failing line of the app's own source, kept with the message.
    const [top] = body.sourceContext as { file: string; line: number; startLine: number; lines: string[] }[];
    expect(top!.file).toMatch(/app\.mjs$/);
    expect(top!.lines[top!.line - top!.startLine]).toContain('quantity.trim()');
    expect(JSON.stringify(body)).not.toMatch(/hunter2|4111 1111/);
    // The breadcrumbs that led up to it: the console line and the step the app named, in order.
    const crumbs = body.breadcrumbs as { action: string; message: string; severity: string }[];
    expect(crumbs.map((b) => [b.action, b.message])).toEqual([
      ['Log', 'new order: 2 x coffee'],
      ['Checkout', 'validating the order'],
    ]);
  }, 30_000);

  test('the viewer is served locally, with its own test page', async () => {
    const list = await get('/elmah.axd/');
    expect(list.status).toBe(200);
    expect(await list.text()).toContain('Cannot read properties of undefined');
    expect((await get('/elmah.axd/test')).status).toBe(200);
    // Through a proxy the same request is refused: access 'local' is the default.
    const proxied = await fetch(`${app.base}/elmah.axd/`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(proxied.status).toBe(403);
  });

  test('Ctrl-C stops it cleanly; the next start keeps the same keys', async () => {
    const envBefore = readFileSync(join(dataDir, '.env'), 'utf8');
    app.child.kill('SIGINT');
    expect(await app.exited).toBe(0);
    expect(app.output()).toMatch(/Stopped\./);

    app = await startExample(dataDir);
    expect(readFileSync(join(dataDir, '.env'), 'utf8')).toBe(envBefore);
    const rows = await loggedWith(['Out of stock: SKU-42']);
    expect(rows.some((r) => r.title === 'Out of stock: SKU-42')).toBe(true);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
  }, 70_000);
});
