// Packaging: the packed tarball holds what a user needs and nothing else, and it installs into fresh
// CommonJS, ESM and TypeScript projects that each log an error and read it back through the viewer.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..', '..');
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main?: string;
  module?: string;
  types?: string;
  exports?: unknown;
  bin?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

/** Versions already in the repository's node_modules, so the install is served from npm's cache. */
function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds dist/ if needed (example-app/build.mjs). Exit 1 is a failed build (skip); 3 means package.json names files the build does not make (fail). */
function build(): { skip?: string; problem?: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'example-app', 'build.mjs'), '--quiet'], { encoding: 'utf8', timeout: 600_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
  if (r.status === 0) return {};
  if (r.status === 3) return { problem: output };
  return { skip: `the build failed, so there is nothing to pack:\n${output}` };
}

const built = build();
if (built.skip) console.log(`test/package skipped: ${built.skip}`);
// When package.json names files the build does not make, one test below fails and says which; packing
// and installing would only repeat that failure in every other test.
if (built.problem) console.log(`test/package: packing skipped until the build makes what package.json names:\n${built.problem}`);
const describeBuilt = built.skip || built.problem ? describe.skip : describe;

/** Every path under dist/ that package.json promises. */
function promisedFiles(): string[] {
  const paths = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (/^(\.\/)?dist\//.test(value)) paths.add(value.replace(/^\.\//, ''));
    } else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk([rootPkg.main, rootPkg.module, rootPkg.types, rootPkg.exports, rootPkg.bin]);
  return [...paths].sort();
}

interface Run {
  code: number | null;
  output: string;
}

/** Runs a command to its end, collecting its output; bounded by `timeoutMs`. */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ code: -1, output: output + err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

function npm(args: string[], cwd: string, timeoutMs?: number): Promise<Run> {
  // npm is npm.cmd on Windows; through npm_execpath when jest runs under npm, else the npm on PATH.
  const cli = process.env.npm_execpath;
  return cli && /npm-cli\.js$/.test(cli) ? run(process.execPath, [cli, ...args], { cwd, timeoutMs }) : run('npm', args, { cwd, timeoutMs });
}

describe('the build', () => {
  const check = built.skip ? test.skip : test;
  check('produces every file package.json names (main, module, types, exports, bin)', () => {
    expect(built.problem ?? '').toBe('');
    const missing = promisedFiles().filter((f) => !existsSync(join(ROOT, f)));
    expect(missing).toEqual([]);
  });
});

describeBuilt('npm pack', () => {
  let work = '';
  let tarball = '';
  let files: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'express-elmah-pack-'));
    // The build above made dist/ fresh; skipping `prepack` keeps the build's log out of npm's JSON answer.
    const r = await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT, 180_000);
    if (r.code !== 0) throw new Error(`npm pack failed:\n${r.output}`);
    // npm may still print notices before the JSON document, which starts on a line of its own.
    const start = r.output.search(/^\[\s*$/m);
    const info = JSON.parse(r.output.slice(start < 0 ? 0 : start)) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info[0]!.filename);
    files = info[0]!.files.map((f) => f.path).sort();
  }, 200_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('holds the ESM and CommonJS builds, their types and the CLI', () => {
    expect(existsSync(tarball)).toBe(true);
    const promised = promisedFiles();
    expect(promised.length).toBeGreaterThanOrEqual(5);
    expect(promised.filter((f) => !files.includes(f))).toEqual([]);
    expect(files.some((f) => /^dist\/.*\.(mjs|js)$/.test(f))).toBe(true);
    expect(files.some((f) => /^dist\/.*\.d\.(ts|mts|cts)$/.test(f))).toBe(true);
  });

  test('ships types of its own: no @types package among its dependencies, no import of an untyped driver', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {}).filter((name) => name.startsWith('@types/'))).toEqual([]);
    for (const types of files.filter((f) => /^dist\/.*\.d\.(ts|mts|cts)$/.test(f))) {
      const text = readFileSync(join(ROOT, types), 'utf8');
      // express is a peer dependency whose types an Express app has; better-sqlite3's and pg's are not needed.
      expect({ types, imports: text.match(/from ['"](better-sqlite3|pg)['"]|import\(['"](better-sqlite3|pg)['"]\)/g) }).toEqual({
        types,
        imports: null,
      });
    }
  });

  test("holds the viewer's templates and static assets", () => {
    expect(files.filter((f) => /^views\/.+\.ejs$/.test(f)).length).toBeGreaterThan(0);
    expect(files.some((f) => /^views\/.+\.css$/.test(f))).toBe(true);
  });

  test('holds README.md, LICENSE (MIT) and CHANGELOG.md', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']));
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  test('holds nothing else: no sources of tests, no example app, no benchmarks, no local data', () => {
    const allowed = (f: string): boolean =>
      /^(dist|views)\//.test(f) || ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'].includes(f);
    expect(files.filter((f) => !allowed(f))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|example-app|bench)\//.test(f) || /\.test\.|\.env$|\.db$|\.tgz$/.test(f))).toEqual([]);
  });

  // Optional linters, fetched by npx when the registry is reachable; never dependencies of the project.
  const linters: [string, string, string[]][] = [
    ['publint', 'publint@0.3', ['publint', '--strict']],
    ['@arethetypeswrong/cli', '@arethetypeswrong/cli@0.18', ['attw', '--format', 'ascii']],
  ];
  for (const [name, spec, command] of linters) {
    test(`passes ${name}`, async () => {
      const probe = await npm(['exec', '--yes', '--package', spec, '--', command[0]!, '--version'], work, 120_000);
      if (probe.code !== 0) {
        console.log(`${name} check skipped: npx could not fetch ${spec}:\n${probe.output.trim().split('\n').slice(-5).join('\n')}`);
        return;
      }
      const r = await npm(['exec', '--yes', '--package', spec, '--', ...command, tarball], work, 120_000);
      if (r.code !== 0) console.log(r.output);
      expect({ exitCode: r.code, output: r.code === 0 ? '' : r.output }).toEqual({ exitCode: 0, output: '' });
    }, 250_000);
  }

  describe('installed into fresh CommonJS, ESM and TypeScript projects', () => {
    let projects = '';
    let bin = '';
    let env: NodeJS.ProcessEnv = {};
    const children = new Set<ChildProcess>();

    beforeAll(async () => {
      projects = join(work, 'consumers');
      bin = join(projects, 'node_modules', '.bin', process.platform === 'win32' ? 'express-elmah.cmd' : 'express-elmah');
      mkdirSync(projects, { recursive: true });
      writeProjects(projects, tarball);
      // One install for the three projects (they sit in subfolders and share this node_modules).
      // --ignore-scripts: better-sqlite3 would compile from source for over a minute; the repository's
      // node_modules already holds a built copy for this Node, so the temp root links to it instead.
      const r = await npm(
        ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'],
        projects,
        240_000,
      );
      if (r.code !== 0) throw new Error(`npm install failed:\n${r.output}`);
      const sqlite = join(projects, 'node_modules', 'better-sqlite3');
      rmSync(sqlite, { recursive: true, force: true });
      symlinkSync(join(ROOT, 'node_modules', 'better-sqlite3'), sqlite, 'junction');

      // The package's own CLI, through the bin link npm made, as `npx express-elmah init` runs it.
      const store = `sqlite:${join(projects, '.elmah', 'elmah.db')}`;
      const init = await run(bin, ['init', '--store', store, '--json'], { cwd: projects, timeoutMs: 60_000 });
      if (init.code !== 0) throw new Error(`express-elmah init failed:\n${init.output}`);
      const made = JSON.parse(init.output.slice(init.output.indexOf('{'))) as { keys: { variable: string; key: string }[] };
      env = { ELMAH_STORE: store };
      for (const k of made.keys) env[k.variable] = k.key;
    }, 300_000);

    afterAll(() => {
      for (const child of children) child.kill('SIGKILL');
    });

    /** Starts a consumer app and resolves its base URL once it prints `listening PORT`. */
    function start(cwd: string, args: string[], title: string): Promise<{ base: string; child: ChildProcess; output: () => string }> {
      return new Promise((ready, fail) => {
        const child = spawn(process.execPath, args, {
          cwd,
          env: { ...process.env, ...env, TITLE: title, ELMAH_LOG: 'consumers' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.add(child);
        let output = '';
        const timer = setTimeout(() => fail(new Error(`no "listening" line within 20 s:\n${output}`)), 20_000);
        const onData = (c: Buffer): void => {
          output += c.toString();
          const m = /listening (\d+)/.exec(output);
          if (m) {
            clearTimeout(timer);
            ready({ base: `http://127.0.0.1:${m[1]}`, child, output: () => output });
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.on('exit', (code) => {
          children.delete(child);
          clearTimeout(timer);
          fail(new Error(`exited with ${code} before listening:\n${output}`));
        });
      });
    }

    function stop(child: ChildProcess): Promise<number | null> {
      return new Promise((done) => {
        if (child.exitCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill('SIGTERM');
      });
    }

    /** Fails a request in the app, then finds the error through the viewer: in the CSV export, then as JSON. */
    async function roundTrip(cwd: string, args: string[], flavour: string): Promise<void> {
      const title = `boom from the ${flavour} project ${Date.now().toString(36)}`;
      const app = await start(cwd, args, title);
      try {
        const failed = await fetch(`${app.base}/boom?password=hunter2`);
        expect(failed.status).toBe(500);

        const deadline = Date.now() + 10_000;
        let id: string | undefined;
        while (!id && Date.now() < deadline) {
          const csv = await (await fetch(`${app.base}/elmah.axd/download?log=consumers`)).text();
          id = csv
            .split('\n')
            .find((line) => line.includes(title))
            ?.split(',')[0];
          if (!id) await new Promise((r) => setTimeout(r, 100));
        }
        expect(id).toMatch(/^[0-9A-Za-z]+$/);

        const res = await fetch(`${app.base}/elmah.axd/json/${id}`);
        expect(res.status).toBe(200);
        const message = (await res.json()) as Record<string, unknown>;
        expect(message).toMatchObject({
          id,
          log: 'consumers',
          title,
          type: 'Error',
          statusCode: 500,
          method: 'GET',
          application: `consumer-${flavour}`,
        });
        expect(String(message.url)).toBe('/boom?password=[Filtered]');
      } finally {
        expect(await stop(app.child)).toBe(0);
      }
    }

    test('`npx express-elmah init --dotenv .env` writes both keys into a new .env', async () => {
      const dir = join(projects, 'fresh');
      mkdirSync(dir, { recursive: true });
      const r = await run(bin, ['init', '--dotenv', '.env'], { cwd: dir, timeoutMs: 60_000 });
      expect({ exitCode: r.code, output: r.code === 0 ? '' : r.output.trim() }).toEqual({ exitCode: 0, output: '' });
      const written = readEnv(join(dir, '.env'));
      expect(written.ELMAH_WRITE_KEY).toMatch(/^elmah_[a-z2-7]{8}_/);
      expect(written.ELMAH_READ_KEY).toMatch(/^elmah_[a-z2-7]{8}_/);
      expect(existsSync(join(dir, '.elmah', 'elmah.db'))).toBe(true);
    }, 70_000);

    test('CommonJS: require("express-elmah") logs an error that the viewer shows', async () => {
      await roundTrip(join(projects, 'cjs'), ['app.js'], 'cjs');
    }, 30_000);

    test('ESM: import from "express-elmah" logs an error that the viewer shows', async () => {
      await roundTrip(join(projects, 'esm'), ['app.js'], 'esm');
    }, 30_000);

    test('TypeScript: tsc --noEmit passes against the shipped types (ESM and CommonJS resolution)', async () => {
      const r = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json'], {
        cwd: join(projects, 'ts'),
        timeoutMs: 120_000,
      });
      expect({ exitCode: r.code, output: r.output.trim() }).toEqual({ exitCode: 0, output: '' });
    }, 130_000);

    test('TypeScript: the typed app logs an error that the viewer shows', async () => {
      // Run with tsx (from the repository) so the check above stays a pure type check.
      const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
      await roundTrip(join(projects, 'ts'), ['--import', `file://${tsx}`, 'app.ts'], 'ts');
    }, 30_000);
  });
});

/** Our variables from a dotenv file that `init --env-file` wrote. */
function readEnv(path: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^(ELMAH_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** The temp root's package.json and the three consumer projects, each as a user would write it. */
function writeProjects(dir: string, tarball: string): void {
  const file = (path: string, text: string): void => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  file(
    'package.json',
    JSON.stringify(
      {
        name: 'express-elmah-consumers',
        private: true,
        dependencies: {
          'express-elmah': `file:${tarball}`,
          express: installedVersion('express'),
          '@types/express': installedVersion('@types/express'),
          '@types/node': installedVersion('@types/node'),
        },
      },
      null,
      2,
    ),
  );

  const server = `
  app.get('/boom', function boom() {
    throw new Error(process.env.TITLE);
  });
  app.use('/elmah.axd', await errorViewer());
  const logger = errorLogger();
  app.use(logger);
  const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
  process.on('SIGTERM', async () => {
    server.close();
    await logger.close(2000);
    process.exit(0);
  });`;

  file('cjs/package.json', JSON.stringify({ name: 'consumer-cjs', private: true, type: 'commonjs' }, null, 2));
  file(
    'cjs/app.js',
    `'use strict';
const express = require('express');
const { errorLogger, errorViewer } = require('express-elmah');

async function main() {
  const app = express();${server}
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`,
  );

  file('esm/package.json', JSON.stringify({ name: 'consumer-esm', private: true, type: 'module' }, null, 2));
  file(
    'esm/app.js',
    `import express from 'express';
import { errorLogger, errorViewer } from 'express-elmah';

const app = express();${server}
`,
  );

  file('ts/package.json', JSON.stringify({ name: 'consumer-ts', private: true, type: 'module' }, null, 2));
  file(
    'ts/tsconfig.json',
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // Check the shipped .d.ts files themselves too, not only their use.
          skipLibCheck: false,
          types: ['node'],
        },
        include: ['*.ts', '*.cts'],
      },
      null,
      2,
    ),
  );
  file(
    'ts/app.ts',
    `import express, { type Request } from 'express';
import { errorLogger, errorViewer, isElmahError, type ErrorLogger, type ErrorLoggerOptions, type ErrorViewerOptions } from 'express-elmah';

const loggerOptions: ErrorLoggerOptions = {
  filter: (err: unknown, req: Request) => req.path !== '/health' && !(err instanceof RangeError),
  beforeLog: (message) => ({ ...message, category: 'consumer' }),
  redact: { keys: ['iban'], values: [] },
};
const viewerOptions: ErrorViewerOptions = { access: (req: Request) => req.ip === '127.0.0.1' || req.socket.remoteAddress === '127.0.0.1' };
void viewerOptions;

export function misspelled(): ErrorLogger {
  // @ts-expect-error the shipped types reject an unknown option
  return errorLogger({ stroe: 'memory:' });
}

const app = express();
app.get('/boom', function boom() {
  throw new Error(process.env.TITLE);
});
app.use('/elmah.axd', await errorViewer());
const logger: ErrorLogger = errorLogger(loggerOptions);
app.use(logger);
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log('listening ' + (typeof address === 'object' && address ? address.port : ''));
});
process.on('SIGTERM', async () => {
  server.close();
  const shipped: boolean = await logger.close(2000);
  const { sent } = logger.stats();
  if (!shipped || sent < 1) console.error('not shipped', sent);
  process.exit(isElmahError(new Error('x')) ? 1 : 0);
});
`,
  );
  // The CommonJS side of the types (require condition), checked by the same tsc run.
  file(
    'ts/require.cts',
    `import elmah = require('express-elmah');
const logger: elmah.ErrorLogger = elmah.errorLogger({ log: 'consumers' });
const raised: string | undefined = logger.raise(new Error('handled'));
void raised;
void logger.close();
export {};
`,
  );
}
