// `express-elmah serve`: in-process (startServer) and as a child process that logs its URL and stops gracefully on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { run } from '../../src/cli/program';
import { startServer } from '../../src/cli/serve';
import { MemoryStore } from '../../src/stores/memory';
import { openStore } from '../../src/stores/open';
import { addKey, withKeys } from '../helpers/keys';

const root = join(__dirname, '..', '..');

/** Sends a request and collects the answer; `hold` writes the body in two parts with a pause in between. */
function post(url: string, path: string, key: string, body: string, hold?: () => Promise<void>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), api_key: key, connection: 'close' },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    if (!hold) {
      req.end(body);
      return;
    }
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    // Only once the server has the connection and the headers is the request "in flight".
    req.once('socket', (socket) => {
      socket.once('connect', () => {
        setTimeout(() => void hold().then(() => req.end(body.slice(half)), reject), 200);
      });
    });
  });
}

describe('startServer', () => {
  it('serves the collector at / and the viewer at /elmah.axd with a read key; JSON 404 elsewhere', async () => {
    const { store, keys } = await withKeys(new MemoryStore());
    const running = await startServer({ port: 0, store, viewerKey: keys.read });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(running.viewerUrl).toBe(`${running.url}elmah.axd`);
      const created = await request(running.url.replace(/\/$/, ''))
        .post('/v3/messages/default')
        .set('api_key', keys.write)
        .send({ title: 'served' });
      expect(created.status).toBe(201);
      const viewer = await request(running.url.replace(/\/$/, '')).get('/elmah.axd/');
      expect(viewer.status).toBe(200);
      expect(viewer.text).toContain('served');
      const nothing = await request(running.url.replace(/\/$/, '')).get('/nothing');
      expect(nothing.status).toBe(404);
      expect(nothing.body.error.code).toBe('ERR_ELMAH_NOT_FOUND');
    } finally {
      await running.close();
    }
    // A Store passed in stays open for its owner.
    expect((await store.search({})).total).toBe(1);
  });

  it('refuses to start the viewer with a write-only key, and closes what it opened', async () => {
    const { store, keys } = await withKeys(new MemoryStore());
    await expect(startServer({ port: 0, store, viewerKey: keys.write })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
  });

  it('reports a port in use as ERR_ELMAH_LISTEN', async () => {
    const { store } = await withKeys(new MemoryStore());
    const first = await startServer({ port: 0, store });
    try {
      const port = Number(new URL(first.url).port);
      await expect(startServer({ port, store })).rejects.toMatchObject({
        code: 'ERR_ELMAH_LISTEN',
        message: expect.stringContaining('EADDRINUSE'),
        help: 'Pick another --port, or stop what uses this one.',
      });
    } finally {
      await first.close();
    }
  });
});

describe('express-elmah serve: argument errors', () => {
  async function serve(args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const sink = { write: (t: string) => ((stderr += t), true) };
    const code = await run(['serve', ...args], { stdout: { write: () => true }, stderr: sink, env: {}, cwd: root });
    return { code, stderr };
  }

  it('rejects a bad port or rate limit as a usage error, and a collector URL as the store', async () => {
    const port = await serve(['--port', 'abc']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('ERR_ELMAH_CLI');
    const rate = await serve(['--rate-limit', 'fast', '--store', 'memory:']);
    expect(rate.code).toBe(2);
    const access = await serve(['--viewer-access', 'everyone']);
    expect(access.code).toBe(2);
    const store = await serve(['--store', 'http://127.0.0.1:4000', '--port', '0']);
    expect(store.code).toBe(1);
    expect(store.stderr).toContain('ERR_ELMAH_STORE_URL');
  });
});

describe('express-elmah serve (child process)', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'elmah-serve-'));
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts, logs its URL, accepts messages, and on SIGTERM finishes the request in flight, then exits 0', async () => {
    const file = join(dir, 'elmah.db');
    const setup = await openStore(`sqlite:${file}`);
    const write = await addKey(setup, ['messages_write']);
    const read = await addKey(setup, ['messages_read']);
    await setup.close();

    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--store', `sqlite:${file}`], {
      cwd: root,
      env: { ...process.env, ELMAH_READ_KEY: read, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 25_000;
    while (!/listening on (http:\S+)/.test(stdout) && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    const url = /listening on (http:\S+)/.exec(stdout)?.[1];
    expect({ url, stderr }).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), stderr: '' });
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stdout).toContain(`sqlite:${file}`);
    expect(stdout).toContain('viewer at');
    expect(stdout).not.toContain(read.slice(15));

    const first = await post(url!, '/v3/messages/default', write, JSON.stringify({ title: 'first' }));
    expect(first.status).toBe(201);

    // A request whose body is still arriving when SIGTERM comes is finished, not cut.
    const inFlight = post(
      url!,
      '/v3/messages/default',
      write,
      JSON.stringify({ title: 'in flight', detail: 'x'.repeat(2000) }),
      async () => {
        child!.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 300));
      },
    );
    expect((await inFlight).status).toBe(201);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 15_000)))]);
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(stderr).toContain('SIGTERM');

    const after = await openStore(`sqlite:${file}`);
    try {
      expect((await after.search({ log: 'default' })).messages.map((m) => m.title).sort()).toEqual(['first', 'in flight']);
    } finally {
      await after.close();
    }
  });
});
