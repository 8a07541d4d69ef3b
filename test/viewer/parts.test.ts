// The viewer's building blocks: chart geometry, deployment windows, CSV and RSS escaping, the stack view, cookies,
// session sealing and CSRF tokens, and template formatting.
import type { ErrorGroup, LogClient } from '../../src/client/types';
import type { Deployment } from '../../src/model/deployment';
import { NARROW, barChart, chartWindow, mostlyEmpty, sparkline, timeTicks, withTimeRange } from '../../src/viewer/chart';
import { MAX_GROUPS_WALKED, deploymentWindows, versionPerformance, windowQuery } from '../../src/viewer/deployments';
import { csvCell, csvRow, rssDocument, xml } from '../../src/viewer/feeds';
import { composeQuery, withTerm } from '../../src/viewer/filters';
import { fmt, findPackageRoot } from '../../src/viewer/render';
import { appRoot, relativeFile, stackView } from '../../src/viewer/routes/message';
import { SessionCodec, parseCookies } from '../../src/viewer/session';
import { AttemptLimiter } from '../../src/viewer/access';
import { parseQuery } from '../../src/model/query';
import { OPEN_STATE } from '../../src/model/triage';

describe('charts', () => {
  it('lays out one bar per bucket, scaled to the largest', () => {
    const c = barChart({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
      bucketMs: 6 * 3_600_000,
      counts: [0, 5, 10, 1],
    });
    expect(c.bars).toHaveLength(4);
    expect(c.max).toBe(10);
    expect(c.total).toBe(16);
    expect(c.bars[0]!.h).toBe(0);
    expect(c.bars[2]!.h).toBe(c.bottom - c.top);
    expect(c.bars[1]!.h).toBe(Math.round((c.bottom - c.top) / 2));
    expect(c.bars[3]!.h).toBeGreaterThanOrEqual(2);
    expect(c.bars[1]!.label).toBe('2026-01-01 06:00 UTC to 2026-01-01 12:00 UTC: 5 errors');
    expect(c.ticks.map((t) => t.text)).toEqual(['Jan 01', '06:00', '12:00', '18:00', 'Jan 02']);
    expect(c.summary).toContain('16 errors');
  });

  it('draws an empty chart without dividing by zero', () => {
    const c = barChart({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-08T00:00:00.000Z',
      bucketMs: 86_400_000,
      counts: [0, 0, 0, 0, 0, 0, 0],
    });
    expect(c.bars.every((b) => b.h === 0 && Number.isFinite(b.y))).toBe(true);
    expect(c.ticks[0]!.text).toBe('Jan 01');
  });

  it('marks deployments within the window at their time, leaving out labels that would overlap', () => {
    const deployment = (version: string, created: string): Deployment => ({ id: version, version, created });
    const c = barChart(
      { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', bucketMs: 6 * 3_600_000, counts: [0, 0, 0, 0] },
      [
        deployment('late', '2026-01-01T23:59:00.000Z'),
        deployment('1.0.1', '2026-01-01T12:10:00.000Z'),
        deployment('1.0.0', '2026-01-01T12:00:00.000Z'),
        deployment('before', '2025-12-31T23:00:00.000Z'),
        deployment('after', '2026-01-02T01:00:00.000Z'),
      ],
    );
    // The plot area runs from x = 36 to 960: noon is halfway.
    expect(c.markers.map((m) => [m.version, m.x])).toEqual([
      ['1.0.0', 498],
      ['1.0.1', 504.4],
      ['late', 959.4],
    ]);
    expect(c.markers.map((m) => m.label)).toEqual(['1.0.0', '', 'late']);
    expect(c.markers[2]!.anchor).toBe('end');
    expect(c.markers[0]!.title).toBe('Deployed 1.0.0 at 2026-01-01 12:00 UTC');
    expect(c.summary).toContain('Deployments: 1.0.0 at 2026-01-01 12:00 UTC; 1.0.1 at');
    const long = barChart({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', bucketMs: 86_400_000, counts: [1] }, [
      deployment('a'.repeat(100), '2026-01-01T06:00:00.000Z'),
    ]);
    expect(long.markers[0]!.label).toBe(`${'a'.repeat(15)}…`);
  });

  it('puts day labels at UTC midnight, equally spaced, whatever the hour of the window', () => {
    const from = Date.parse('2026-11-22T14:00:00.000Z');
    const ticks = timeTicks(from, from + 7 * 86_400_000, 8);
    expect(ticks.map((t) => t.text)).toEqual(['Nov 23', 'Nov 24', 'Nov 25', 'Nov 26', 'Nov 27', 'Nov 28', 'Nov 29']);
    expect(ticks.every((t) => t.t % 86_400_000 === 0)).toBe(true);
    const narrow = timeTicks(from, from + 7 * 86_400_000, NARROW.maxTicks);
    expect(narrow.map((t) => t.text)).toEqual(['Nov 23', 'Nov 25', 'Nov 27', 'Nov 29']);
    const day = timeTicks(Date.parse('2026-11-28T14:30:00.000Z'), Date.parse('2026-11-29T14:30:00.000Z'), 8);
    expect(day.map((t) => t.text)).toEqual(['15:00', '18:00', '21:00', 'Nov 29', '03:00', '06:00', '09:00', '12:00']);
    const c = barChart({
      from: new Date(from).toISOString(),
      to: new Date(from + 7 * 86_400_000).toISOString(),
      bucketMs: 7_200_000,
      counts: new Array(84).fill(1),
    });
    const gaps = c.ticks.slice(1).map((t, i) => Math.round((t.x - c.ticks[i]!.x) * 10));
    expect(new Set(gaps).size).toBe(1);
  });

  it('links bars with errors to their time range, and narrows a search to it', () => {
    const c = barChart(
      { from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T03:00:00.000Z', bucketMs: 3_600_000, counts: [0, 2, 0] },
      [],
      undefined,
      (a, b) => `${a}/${b}`,
    );
    expect(c.bars.map((b) => b.href)).toEqual(['', '2026-01-01T01:00:00.000Z/2026-01-01T02:00:00.000Z', '']);
    const q = withTimeRange('a OR b', '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z');
    expect(q).toBe('(a OR b) AND dateTime:[2026-01-01T01:00:00Z TO 2026-01-01T02:00:00Z}');
    expect(parseQuery(q)).toMatchObject({
      kind: 'and',
      children: [{ kind: 'or' }, { kind: 'range', field: 'dateTime', hiInclusive: false }],
    });
  });

  it('uses hour buckets for a mostly empty week, and never more than 240 buckets', () => {
    expect(mostlyEmpty([0, 0, 0, 0, 0, 0, 0, 3])).toBe(true);
    expect(mostlyEmpty([0, 0, 0, 0, 0, 0, 0, 0])).toBe(false);
    expect(mostlyEmpty([1, 1, 0, 0])).toBe(false);
    const now = new Date('2026-11-29T20:10:00.000Z');
    expect(chartWindow('', now).buckets).toBe(84);
    expect(chartWindow('', now, true)).toEqual({ from: '2026-11-22T21:00:00.000Z', to: '2026-11-29T21:00:00.000Z', buckets: 168 });
    expect(chartWindow('90d', now, true).buckets).toBe(240);
    expect(chartWindow('24h', now, true).buckets).toBe(48);
  });

  it('makes sparkline points inside the box', () => {
    expect(sparkline([0, 2, 4])).toBe('0,19 50,10 100,1');
    expect(sparkline([])).toBe('');
  });
});

describe('deployment windows', () => {
  const d = (version: string, created: string, log?: string): Deployment => ({ id: version, version, created, log });
  // Newest first, as listed.
  const list = [
    d('b2', '2026-01-05T00:00:00.000Z', 'b'),
    d('all2', '2026-01-04T00:00:00.000Z'),
    d('a2', '2026-01-03T00:00:00.000Z', 'a'),
    d('a1', '2026-01-02T00:00:00.000Z', 'a'),
    d('all1', '2026-01-01T00:00:00.000Z'),
  ];

  it('ends a version at the next deployment of its log or of every log', () => {
    expect(deploymentWindows(list, undefined).map((w) => [w.deployment.version, w.log, w.to])).toEqual([
      ['b2', 'b', undefined],
      ['all2', undefined, undefined],
      ['a2', 'a', '2026-01-04T00:00:00.000Z'],
      ['a1', 'a', '2026-01-03T00:00:00.000Z'],
      ['all1', undefined, '2026-01-04T00:00:00.000Z'],
    ]);
    // Viewing log a, a deployment of every log counts a's errors and ends at a's next deployment.
    const a = deploymentWindows(
      list.filter((x) => x.log !== 'b'),
      'a',
    );
    expect(a.map((w) => [w.deployment.version, w.log, w.to])).toEqual([
      ['all2', 'a', undefined],
      ['a2', 'a', '2026-01-04T00:00:00.000Z'],
      ['a1', 'a', '2026-01-03T00:00:00.000Z'],
      ['all1', 'a', '2026-01-02T00:00:00.000Z'],
    ]);
    expect(windowQuery(a[1]!)).toBe('dateTime:[2026-01-03T00:00:00.000Z TO 2026-01-04T00:00:00.000Z}');
    expect(windowQuery(a[0]!)).toBe('dateTime:[2026-01-04T00:00:00.000Z TO *]');
    expect(parseQuery(windowQuery(a[1]!))).toMatchObject({ kind: 'range', loInclusive: true, hiInclusive: false });
  });

  it('stops the walk for new groups after a bounded number of groups, and says the count is a lower bound', async () => {
    let calls = 0;
    const group = (n: number): ErrorGroup => ({
      log: 'default',
      fingerprint: `f${n}`,
      count: 1,
      firstSeen: '2026-01-03T00:00:00.000Z',
      lastSeen: '2026-01-03T00:00:00.000Z',
      lastId: `m${n}`,
      title: `t${n}`,
      type: 'Error',
      countedOnly: 0,
      state: OPEN_STATE,
    });
    const endless = {
      search: async () => ({ messages: [], total: 7, totalExact: true }),
      groups: async (o: { page?: number; size?: number }) => {
        calls++;
        const size = o.size ?? 15;
        return { groups: Array.from({ length: size }, (_, i) => group((o.page ?? 0) * size + i)), total: 1_000_000 };
      },
    } as unknown as LogClient;
    const [p] = await versionPerformance(endless, deploymentWindows([list[4]!], undefined), undefined);
    expect(p).toMatchObject({ errors: 7, errorsExact: true, newGroups: MAX_GROUPS_WALKED, newGroupsExact: false });
    expect(p!.newGroupSamples).toHaveLength(3);
    expect(calls).toBe(MAX_GROUPS_WALKED / 200);
  });

  it('stops the walk at groups last seen before the oldest deployment', async () => {
    const pages: ErrorGroup[][] = [[], []];
    for (let i = 0; i < 200; i++) {
      const seen = i < 150 ? '2026-01-03T00:00:00.000Z' : '2025-12-01T00:00:00.000Z';
      pages[0]!.push({
        log: 'a',
        fingerprint: `f${i}`,
        count: i,
        firstSeen: seen,
        lastSeen: seen,
        lastId: `m${i}`,
        title: '',
        type: 'E',
        countedOnly: 0,
        state: OPEN_STATE,
      });
    }
    let calls = 0;
    const client = {
      search: async () => ({ messages: [], total: 0, totalExact: true }),
      groups: async (o: { page?: number }) => {
        calls++;
        return { groups: pages[o.page ?? 0] ?? [], total: 5000 };
      },
    } as unknown as LogClient;
    const r = await versionPerformance(client, deploymentWindows([list[3]!], undefined), undefined);
    expect(calls).toBe(1);
    expect(r[0]).toMatchObject({ newGroups: 150, newGroupsExact: true });
    expect(r[0]!.newGroupSamples.map((g) => g.count)).toEqual([149, 148, 147]);
  });
});

describe('feeds', () => {
  it('quotes CSV cells when needed and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"');
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(undefined)).toBe('');
    expect(csvRow(['a', 1])).toBe('a,1\r\n');
  });

  it('escapes XML and drops characters XML cannot carry', () => {
    expect(xml('<a href="x">&\'\u0001</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
    const doc = rssDocument({ title: 'T', link: 'http://x/', description: 'D' }, [
      { title: '<b>', link: 'http://x/1', guid: 'g', date: '2026-01-01T00:00:00Z', description: 'd' },
    ]);
    expect(doc).toContain('<title>&lt;b&gt;</title>');
    expect(doc).toContain('<pubDate>Thu, 01 Jan 2026 00:00:00 GMT</pubDate>');
  });
});

describe('stack view', () => {
  it('keeps message lines and groups frames into in-app and library runs', () => {
    const parts = stackView(
      [
        'TypeError: boom',
        '    at handler (/app/src/a.js:1:2)',
        '    at next (/app/src/b.js:3:4)',
        '    at Layer.handle (/app/node_modules/express/lib/layer.js:5:6)',
        '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
        '[cause]: Error: inner',
        '    at db (/app/src/db.js:7:8)',
      ].join('\n'),
    );
    expect(parts.map((p) => (p.kind === 'text' ? `text` : `${p.inApp ? 'app' : 'lib'}:${p.frames.length}`))).toEqual([
      'text',
      'app:2',
      'lib:2',
      'text',
      'app:1',
    ]);
    expect(stackView(undefined)).toEqual([]);
  });

  it('finds the app root of a stack: above node_modules, or the folder the in-app frames share', () => {
    const lib = stackView('Error: x\n    at a (/srv/shop/src/a.js:1:1)\n    at b (/srv/shop/node_modules/express/x.js:2:2)');
    expect(appRoot(lib)).toBe('/srv/shop/');
    expect(relativeFile('/srv/shop/src/a.js', '/srv/shop/')).toBe('src/a.js');
    expect(relativeFile('file:///srv/shop/src/a.js', '/srv/shop/')).toBe('src/a.js');
    expect(relativeFile('/elsewhere/a.js', '/srv/shop/')).toBe('/elsewhere/a.js');
    const app = stackView('Error: x\n    at a (/srv/shop/src/routes/a.js:1:1)\n    at b (/srv/shop/src/app.js:2:2)');
    expect(appRoot(app)).toBe('/srv/shop/src/');
    expect(appRoot(stackView('Error: x\n    at a (/srv/shop/src/a.js:1:1)'))).toBe('');
    // ESM frames name file:// URLs: the root is the plain folder, so their paths come out relative.
    const esm = stackView('Error: x\n    at a (file:///srv/app/src/a.mjs:1:1)\n    at b (file:///srv/app/node_modules/x/y.js:1:1)');
    expect(appRoot(esm)).toBe('/srv/app/');
    expect(relativeFile('file:///srv/app/src/a.mjs', appRoot(esm))).toBe('src/a.mjs');
    expect(appRoot(stackView('Error: x\n    at a (C:\\app\\src\\a.js:1:1)\n    at b (C:\\app\\node_modules\\x\\y.js:1:1)'))).toBe(
      'C:\\app\\',
    );
  });
});

describe('sessions and CSRF', () => {
  it('seals a key so that the cookie does not show it, and opens it again', () => {
    const codec = new SessionCodec('x'.repeat(32));
    const key = 'elmah_abcdefgh_' + 'k'.repeat(43);
    const { value, data } = codec.seal(key, 60_000, 1000);
    expect(value).not.toContain('abcdefgh');
    expect(value).not.toContain('kkkk');
    expect(codec.open(value, 2000)).toEqual(data);
    expect(codec.open(value, 61_001)).toBeUndefined();
    expect(new SessionCodec('y'.repeat(32)).open(value, 2000)).toBeUndefined();
    expect(codec.open(value.replace(/\.[^.]+$/, '.AAAA'), 2000)).toBeUndefined();
    expect(codec.open('garbage', 2000)).toBeUndefined();
    codec.end(data, 2000);
    expect(codec.open(value, 3000)).toBeUndefined();
  });

  it('binds CSRF tokens to one visitor', () => {
    const codec = new SessionCodec();
    const token = codec.csrfToken('visitor-a');
    expect(codec.csrfMatches('visitor-a', token)).toBe(true);
    expect(codec.csrfMatches('visitor-b', token)).toBe(false);
    expect(codec.csrfMatches(undefined, token)).toBe(false);
    expect(codec.csrfMatches('visitor-a', undefined)).toBe(false);
  });

  it('parses cookie headers leniently', () => {
    const c = parseCookies('a=1; b="two"; bad; c=%E2%82%AC; a=ignored; d=%zz');
    expect([...c.entries()]).toEqual([
      ['a', '1'],
      ['b', 'two'],
      ['c', '€'],
      ['d', '%zz'],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('limits failed attempts per address within a window', () => {
    const l = new AttemptLimiter(3, 1000, 2);
    for (let i = 0; i < 3; i++) l.fail('a', 0);
    expect(l.retryAfter('a', 10)).toBe(1);
    expect(l.retryAfter('b', 10)).toBe(0);
    expect(l.retryAfter('a', 1000)).toBe(0);
    l.fail('b', 0);
    l.fail('c', 0);
    l.fail('d', 0); // over maxEntries: the oldest go
    expect(l.retryAfter('a', 10)).toBe(0);
    l.succeed('d');
  });
});

describe('templates and filters', () => {
  it('formats times, counts and status classes', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    expect(fmt.utc('2026-06-01T10:00:00.000Z')).toBe('2026-06-01 10:00:00 UTC');
    expect(fmt.ago('2026-06-01T11:55:00Z', now)).toBe('5 minutes ago');
    expect(fmt.ago('2026-05-31T12:00:00Z', now)).toBe('1 day ago');
    expect(fmt.ago('2026-06-01T11:59:59Z', now)).toBe('just now');
    expect(fmt.short('2026-03-04T05:06:07Z', now)).toBe('Mar 04 05:06:07');
    expect(fmt.short('2025-03-04T05:06:07Z', now)).toBe('Mar 04 2025 05:06');
    expect(fmt.num(1234567)).toBe('1,234,567');
    expect([fmt.statusClass(503), fmt.statusClass(404), fmt.statusClass(undefined)]).toEqual(['s5', 's4', 's0']);
    expect(fmt.plural(1, 'error')).toBe('1 error');
  });

  it('composes the search with quick filters into one valid query', () => {
    const q = composeQuery({ q: withTerm('a OR b', 'type', 'My "odd" \\ Type'), status: '5xx' })!;
    expect(q).toBe('((a OR b) type:"My \\"odd\\" \\\\ Type") AND statusCode:[500 TO 599]');
    expect(parseQuery(q)).toMatchObject({
      kind: 'and',
      children: [
        { kind: 'and', children: [{ kind: 'or' }, { kind: 'term', field: 'type', value: 'My "odd" \\ Type' }] },
        { kind: 'range' },
      ],
    });
    expect(composeQuery({ q: '', status: '' })).toBeUndefined();
  });

  it('adds a term to a search once, quoting a value only where it must', () => {
    expect(withTerm('', 'type', 'TypeError')).toBe('type:TypeError');
    expect(withTerm('timeout', 'type', 'TypeError')).toBe('timeout type:TypeError');
    expect(withTerm('timeout type:TypeError', 'type', 'TypeError')).toBe('timeout type:TypeError');
    expect(withTerm('', 'type', 'OR')).toBe('type:"OR"');
    expect(withTerm('', 'type', 'a:b (c)')).toBe('type:"a:b (c)"');
  });

  it('adds the term again under OR, NOT or parentheses, where the same text means something else', () => {
    expect(withTerm('type:X OR type:Y', 'type', 'X')).toBe('(type:X OR type:Y) type:X');
    expect(withTerm('NOT type:RangeError', 'type', 'RangeError')).toBe('(NOT type:RangeError) type:RangeError');
    expect(withTerm('-type:X', 'type', 'X')).toBe('(-type:X) type:X');
    // Each result is one valid query that narrows the search.
    for (const q of ['type:X OR type:Y', 'NOT type:RangeError', '(a) b']) expect(() => parseQuery(withTerm(q, 'type', 'X'))).not.toThrow();
  });

  it('keeps a search that ends in a backslash valid when more is added to it', () => {
    expect(parseQuery('foo\\')).toBeTruthy();
    for (const q of ['foo\\', 'a b\\', 'x\\\\\\']) {
      expect(() => parseQuery(withTerm(q, 'type', 'X'))).not.toThrow();
      expect(() => parseQuery(composeQuery({ q, status: '5xx' })!)).not.toThrow();
      expect(() => parseQuery(withTimeRange(q, '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z'))).not.toThrow();
    }
    // An even run of backslashes is complete: nothing is added.
    expect(withTerm('a\\\\', 'type', 'X')).toBe('a\\\\ type:X');
  });

  it('finds the package root holding views/', () => {
    expect(findPackageRoot()).toBe(require('node:path').resolve(__dirname, '../..'));
    expect(() => findPackageRoot('/')).toThrow(/cannot find the views/);
  });
});

describe('search quoting in links', () => {
  it('quotes values so that the link is a valid query for the same value', () => {
    const q = `correlationId:${fmt.quote('a "b" \\ c')}`;
    const node = parseQuery(q);
    expect(node).toEqual({ kind: 'term', field: 'correlationId', value: 'a "b" \\ c', prefix: false });
  });
});

describe('templates', () => {
  it('write data only escaped: the one unescaped tag is include()', () => {
    const { readdirSync, readFileSync, statSync } = require('node:fs') as typeof import('node:fs');
    const { join } = require('node:path') as typeof import('node:path');
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
    const templates = walk(join(findPackageRoot(), 'views')).filter((f) => f.endsWith('.ejs'));
    expect(templates.length).toBeGreaterThan(10);
    for (const file of templates) {
      const raw = [...readFileSync(file, 'utf8').matchAll(/<%-(.*?)%>/gs)].map((m) => m[1]!.trim());
      expect({ file, raw: raw.filter((r) => !/^include\('[^']+'( \+ page \+ '\.ejs')?(, \{[^}]*\})?\)$/.test(r)) }).toEqual({
        file,
        raw: [],
      });
    }
  });
});
