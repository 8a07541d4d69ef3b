// Property tests of the search language on the memory and SQLite stores: hostile queries only ever fail with
// ERR_ELMAH_QUERY and never change stored data; random valid queries give SQLite exactly the memory evaluator's ids.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { isElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';
import { parseQuery, type QueryNode } from '../../src/model/query';
import { MemoryStore } from '../../src/stores/memory';
import { SqliteStore } from '../../src/stores/sqlite';
import { compileQuery } from '../../src/stores/sqlite/query';
import type { Store } from '../../src/stores/types';
import { makeMessage } from '../helpers/messages';

const WORDS = [
  'timeout',
  'Timeout',
  'connection',
  'refused',
  'order',
  'orders',
  'café',
  'cafe',
  'naïve',
  'straße',
  '日本',
  '日本語',
  'ünïcødé',
  'null',
  'undefined',
  'id',
  'x',
  'handler',
  'checkout',
  'ECONNREFUSED',
  'Ｆｕｌｌ',
  'ﬁle',
  'İstanbul',
  '42',
  'v1',
  'a_b',
  "O'Brien",
  'DROP',
  'TABLE',
];
const TYPES = ['TypeError', 'RangeError', 'Error', 'string', 'NotFoundError', 'typeerror'];
const USERS = ['alice', 'ALICE', 'bob', 'Émile', undefined];
const HOSTS = ['web-1', 'web-2', 'WEB-1', 'db_1', undefined];

function pick<T>(items: readonly T[], i: number): T {
  return items[i % items.length]!;
}

/** A varied corpus: two logs, unicode, missing fields, case differences, SQL-looking text. */
function corpus(): ErrorMessage[] {
  const out: ErrorMessage[] = [];
  for (let i = 0; i < 48; i++) {
    const w = (k: number): string => pick(WORDS, i * 7 + k * 3);
    out.push(
      makeMessage({
        log: i % 3 === 0 ? 'shop' : 'default',
        title: `${w(0)} ${w(1)} ${w(2)}${i % 5 === 0 ? ` '; DROP TABLE elmah_messages; -- ${w(3)}` : ''}`,
        type: pick(TYPES, i),
        detail: i % 7 === 0 ? undefined : `${pick(TYPES, i)}: ${w(4)} ${w(5)}\n    at ${w(6)}Handler (/app/src/${w(1)}.js:${i}:5)`,
        source: i % 4 === 0 ? undefined : `/app/src/${w(2)}.js:${i}:5`,
        statusCode: i % 9 === 0 ? undefined : [400, 404, 500, 502, 503, 599, 0, 7][i % 8],
        url: i % 6 === 0 ? undefined : `/${w(3)}/${i}?q=${w(5)}`,
        method: ['GET', 'post', 'PUT', undefined][i % 4],
        user: pick(USERS, i),
        hostname: pick(HOSTS, i + 1),
        severity: (['Error', 'Warning', 'Fatal', 'Information'] as const)[i % 4],
        version: `1.${i % 3}.${i % 2}`,
        category: i % 2 ? 'db' : 'http',
        correlationId: `c-${i % 5}`,
        dateTime: new Date(Date.UTC(2026, 0, 1 + (i % 10), i % 24, i)).toISOString(),
        fingerprint: `fp${i % 6}`,
      }),
    );
  }
  return out;
}

let memory: MemoryStore;
let sqlite: Store;
/** The same data in a store that pages by walking the newest-first index for any match set above 2. */
let walking: Store;
/** The same data in a store that tests every per-message word row by row (the path for very common words). */
let rowByRow: Store;
let raw: Database.Database;
let data: ErrorMessage[];

beforeAll(async () => {
  data = corpus();
  memory = new MemoryStore();
  raw = new Database(':memory:');
  sqlite = await SqliteStore.open(raw, { autoPruneMs: false });
  walking = await SqliteStore.open(':memory:', { autoPruneMs: false, probeLimit: 2 });
  rowByRow = await SqliteStore.open(':memory:', { autoPruneMs: false, probeLimit: 2, fullTextLimit: 0 });
  await memory.append(data);
  await sqlite.append(data);
  await walking.append(data);
  await rowByRow.append(data);
});
afterAll(async () => {
  await sqlite.close();
  await walking.close();
  await rowByRow.close();
  raw.close();
});

/** Row count and a hash of every row of every table, plus the schema itself. */
function sqliteChecksum(): string {
  const h = createHash('sha256');
  const tables = raw.prepare("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").all() as {
    name: string;
    sql: string | null;
  }[];
  h.update(JSON.stringify(tables));
  for (const t of ['elmah_messages', 'elmah_stacks', 'elmah_groups', 'elmah_tallies', 'elmah_logs', 'elmah_keys', 'elmah_meta']) {
    for (const row of raw.prepare(`SELECT * FROM ${t} ORDER BY 1`).raw().iterate())
      h.update(JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));
  }
  return h.digest('hex');
}

async function memoryChecksum(): Promise<string> {
  const all = await memory.search({ size: 1000 });
  return createHash('sha256')
    .update(JSON.stringify([all.total, all.messages, await memory.groups({ size: 1000 }), await memory.logs()]))
    .digest('hex');
}

async function ids(store: Store, query: QueryNode): Promise<{ ids: string[]; total: number }> {
  const r = await store.search({ query, size: 1000 });
  return { ids: r.messages.map((m) => m.id), total: r.total };
}

/** Parses and searches both stores; a failure must be ERR_ELMAH_QUERY, and both stores must agree. */
async function tryQuery(q: string): Promise<void> {
  let tree: QueryNode;
  try {
    tree = parseQuery(q);
  } catch (error) {
    expect(isElmahError(error) && error.code).toBe('ERR_ELMAH_QUERY');
    return;
  }
  // No query text reaches the SQL: only the fixed ESCAPE literal may hold a quote, and nothing can end the statement.
  const sql = compileQuery(tree).sql.replace(/ESCAPE '\\'/g, '');
  expect({ q, sql: /['";]|--|\/\*/.test(sql) }).toEqual({ q, sql: false });
  const expected = await ids(memory, tree);
  expect({ q, ...(await ids(sqlite, tree)) }).toEqual({ q, ...expected });
  expect({ q, ...(await ids(walking, tree)) }).toEqual({ q, ...expected });
}

/** The first two pages of 5 (by index, then by cursor) in one log agree with memory. */
async function pages(store: Store, query: QueryNode): Promise<string[][]> {
  const first = await store.search({ log: 'default', query, size: 5 });
  const second = await store.search({ log: 'default', query, size: 5, after: first.after });
  const byIndex = await store.search({ log: 'default', query, size: 5, page: 1 });
  return [first.messages.map((m) => m.id), first.after ? second.messages.map((m) => m.id) : [], byIndex.messages.map((m) => m.id)];
}

const hostileFragments = fc.constantFrom(
  "'; DROP TABLE elmah_messages; --",
  '" OR 1=1 --',
  "' OR '1'='1",
  '%',
  '_',
  '\\',
  '*',
  '"',
  "'",
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ':',
  'NEAR(',
  'AND',
  'OR',
  'NOT',
  '-',
  '!',
  '&&',
  '||',
  'title:',
  'statusCode:[',
  'dateTime:{x TO y}',
  '\u0000',
  '\u0007',
  '\u202e',
  '\ud800',
  '🚀',
  'ǀ65e5ǀ',
  '{title type} : "x"',
  '^',
  '$1',
  '?',
  '?1',
  ':memory:',
  'elmah_texts_fts MATCH',
  ';',
  '/*',
  '*/',
  'x*',
  '"a" *',
  'type:%',
  'user:_',
  'log:*',
  'id:\\%',
);

describe('hostile queries', () => {
  let before: { sqlite: string; memory: string };
  beforeAll(async () => {
    before = { sqlite: sqliteChecksum(), memory: await memoryChecksum() };
  });
  afterEach(async () => {
    expect(sqliteChecksum()).toBe(before.sqlite);
    expect(await memoryChecksum()).toBe(before.memory);
    expect(raw.prepare('SELECT count(*) FROM elmah_messages').pluck().get()).toBe(data.length);
  });

  it('random strings and SQL fragments only fail with ERR_ELMAH_QUERY, and both stores agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            hostileFragments,
            fc.string({ maxLength: 12 }),
            fc.string({ unit: 'grapheme', maxLength: 6 }),
            fc.constantFrom(...WORDS),
            fc.constant(' '),
          ),
          { maxLength: 12 },
        ),
        async (parts) => tryQuery(parts.join('')),
      ),
      { numRuns: 300 },
    );
  });

  it('binary and control characters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (q) => tryQuery(q)),
      { numRuns: 150 },
    );
  });

  it('deep nesting, long input and unbalanced parentheses', async () => {
    const cases = [
      `${'('.repeat(1000)}timeout${')'.repeat(1000)}`,
      `${'NOT '.repeat(1000)}timeout`,
      `${'-'.repeat(1000)}timeout`,
      `${'('.repeat(20)}timeout${')'.repeat(20)}`,
      `${'('.repeat(33)}timeout${')'.repeat(33)}`,
      '((timeout)',
      '(timeout))',
      ')(',
      '"unclosed',
      'title:"unclosed',
      'statusCode:[500 TO',
      'statusCode:[a TO b]',
      'dateTime:[x TO y]',
      'x'.repeat(100 * 1024),
      `"${'a '.repeat(50 * 1024)}"`,
      Array.from({ length: 65 }, (_, i) => `w${i}`).join(' '),
      Array.from({ length: 64 }, (_, i) => `w${i}`).join(' OR '),
      `title:"${'日本'.repeat(2000)}"`,
      `${'é'.repeat(4096)}`,
      'type:' + '%'.repeat(100) + '*',
    ];
    for (const q of cases) await tryQuery(q);
  });
});

/** Random valid queries from a small grammar over the corpus vocabulary. */
const word = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.constantFrom(...WORDS).map((w) => w.slice(0, Math.max(1, Math.ceil(w.length / 2)))),
  fc.constantFrom('tim', 'conn', 'ord', 'caf', 'na', 'str', '日', 'ünï', 'han', 'che', 'econ', 'dro', 'ta', 'ob'),
);
const quote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
const term: fc.Arbitrary<string> = fc.oneof(
  word,
  fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 3 }).map((ws) => quote(ws.join(' '))),
  fc.tuple(fc.constantFrom('title', 'message', 'detail', 'url', 'source'), word).map(([f, w]) => `${f}:${w}`),
  fc
    .tuple(fc.constantFrom('title', 'detail'), fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 2 }))
    .map(([f, ws]) => `${f}:${quote(ws.join(' '))}`),
  fc
    .tuple(
      fc.constantFrom('type', 'user', 'hostname', 'method', 'severity', 'log', 'category', 'version', 'correlationId', 'fingerprint'),
      fc.constantFrom(
        ...TYPES,
        'alice',
        'Alice',
        'bob',
        'émile',
        'Émile',
        'web-1',
        'WEB-1',
        'db_1',
        'db%1',
        'post',
        'GET',
        'fatal',
        'shop',
        'default',
        'db',
        '1.1.0',
        'c-1',
        'fp3',
        'x',
      ),
      fc.boolean(),
    )
    .map(([f, v, p]) => `${f}:${p ? `${v.slice(0, Math.max(1, v.length - 2))}*` : v}`),
  fc.constantFrom('statusCode:500', 'statusCode:0', 'statusCode:7', 'statusCode:5*', 'statusCode:40*', 'statusCode:0*', 'status:404'),
  fc
    .tuple(
      fc.constantFrom('[', '{'),
      fc.constantFrom('*', '0', '400', '500', '503'),
      fc.constantFrom('*', '404', '502', '599', '999'),
      fc.constantFrom(']', '}'),
    )
    .map(([a, lo, hi, b]) => `statusCode:${a}${lo} TO ${hi}${b}`),
  fc
    .tuple(
      fc.constantFrom('[', '{'),
      fc.constantFrom('*', '2026-01-02', '2026-01-03T05:00:00Z'),
      fc.constantFrom('*', '2026-01-05', '2026-01-08T00:00:00.000Z'),
      fc.constantFrom(']', '}'),
    )
    .map(([a, lo, hi, b]) => `dateTime:${a}${lo} TO ${hi}${b}`),
  fc.constantFrom('dateTime:2026-01-0*', 'dateTime:2026-01-03*', 'id:01*'),
);
const query: fc.Arbitrary<string> = fc.letrec<{ q: string }>((tie) => ({
  q: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    term,
    fc.tuple(tie('q'), fc.constantFrom(' ', ' AND ', ' OR ', ' && ', ' || '), tie('q')).map(([a, op, b]) => `${a}${op}${b}`),
    tie('q').map((a) => `NOT ${a}`),
    tie('q').map((a) => `-${a}`),
    tie('q').map((a) => `(${a})`),
  ),
})).q;

describe('valid queries', () => {
  it('SQLite returns exactly the ids and totals of the memory evaluator', async () => {
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        let tree: QueryNode;
        try {
          tree = parseQuery(q);
        } catch {
          fc.pre(false);
          return;
        }
        const expected = await ids(memory, tree);
        expect({ q, ...(await ids(sqlite, tree)) }).toEqual({ q, ...expected });
        expect({ q, ...(await ids(walking, tree)) }).toEqual({ q, ...expected });
        expect({ q, ...(await ids(rowByRow, tree)) }).toEqual({ q, ...expected });
        const expectedPages = await pages(memory, tree);
        expect({ q, pages: await pages(sqlite, tree) }).toEqual({ q, pages: expectedPages });
        expect({ q, pages: await pages(walking, tree) }).toEqual({ q, pages: expectedPages });
        expect({ q, pages: await pages(rowByRow, tree) }).toEqual({ q, pages: expectedPages });
        const filtered = { log: 'shop', query: tree, from: '2026-01-03T00:00:00.000Z' };
        const g1 = await memory.groups(filtered);
        const g2 = await sqlite.groups(filtered);
        expect({ q, groups: g2 }).toEqual({ q, groups: g1 });
        expect({ q, groups: await rowByRow.groups(filtered) }).toEqual({ q, groups: g1 });
      }),
      { numRuns: 300 },
    );
  });
});
