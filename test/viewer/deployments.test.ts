// Deployments in the viewer: the deployments page (versions newest first, their errors and new groups, paging,
// escaping, the log filter), the markers on the chart, links to the errors of a version, and what a key without
// deployments_read sees.
import request from 'supertest';
import { chartWindow, timeX } from '../../src/viewer/chart';
import { createViewerApp, svg, type TestApp } from '../helpers/viewer-app';

const HOUR = 3_600_000;
const ago = (hours: number): string => new Date(Date.now() - hours * HOUR).toISOString();
const READER: ['messages_read', 'deployments_read'] = ['messages_read', 'deployments_read'];
const EVIL_VERSION = '<img src=x onerror=alert(1)>';

/** The rows of the deployments table, in order. */
function rowsOf(html: string): string[] {
  const body = /<table class="deployments">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  return body.split('<tr>').slice(1);
}

/** The text of a row's errors and new-groups cells. */
function countsOf(row: string): { errors: string; newGroups: string } {
  const errors = /<td class="col-count"><a [^>]*>([^<]*)<\/a>/.exec(row)?.[1] ?? '';
  const newGroups = /<td class="col-new"><strong>([^<]*)<\/strong>/.exec(row)?.[1] ?? '';
  return { errors, newGroups };
}

describe('viewer deployments', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createViewerApp({
      permissions: READER,
      // A new kind of error two hours ago, after every deployment; and errors tagged with a version.
      extra: [
        { type: 'FreshBugError', title: 'Fresh bug', dateTime: ago(2), log: 'default', version: '1.1.0' },
        { type: 'TypeError', title: 'Tagged', dateTime: ago(3), log: 'default', version: '1.1.0' },
      ],
      deployments: [
        { version: '1.0.0', created: ago(20.5), description: '<b>bold</b> & <script>alert(2)</script>', userName: 'Ann' },
        { version: EVIL_VERSION, created: ago(15.5), logId: 'default', userName: '<i>Bob</i>', userEmail: 'bob@example.com' },
        { version: '1.1.0', created: ago(10.5), logId: 'default' },
        { version: '2.0.0', created: ago(5.5), logId: 'billing' },
      ],
    });
  });

  it('lists versions newest first with who, when and description, escaped', async () => {
    const res = await request(t.app).get('/elmah.axd/deployments');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Deployments <strong>1</strong> to <strong>4</strong> of <strong>4</strong>');
    const rows = rowsOf(res.text);
    expect(rows).toHaveLength(4);
    expect(rows.map((r) => /class="version"[^>]*>([^<]*)</.exec(r)?.[1])).toEqual([
      '2.0.0',
      '1.1.0',
      '&lt;img src=x onerror=alert(1)&gt;',
      '1.0.0',
    ]);
    expect(rows[3]).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(2)&lt;/script&gt;');
    expect(rows[3]).toContain('Ann');
    expect(rows[3]).toContain('every log');
    expect(rows[2]).toContain('&lt;i&gt;Bob&lt;/i&gt;');
    expect(rows[2]).toContain('bob@example.com');
    expect(rows[0]).toContain('log billing');
    expect(res.text).not.toContain('<img src=x');
    expect(res.text).not.toContain('<script>alert');
    expect(res.text).not.toContain('<b>bold');
    expect(res.text).toContain('href="/elmah.axd/deployments" aria-current="page">Deployments</a>');
  });

  it('counts the errors and new groups of each version until the next deployment of its log', async () => {
    const rows = rowsOf((await request(t.app).get('/elmah.axd/deployments')).text);
    // 2.0.0 (billing, 5.5 h ago, still the latest there): billing errors are 10, 20 and 30 hours old.
    expect(countsOf(rows[0]!)).toEqual({ errors: '0', newGroups: '0' });
    expect(rows[0]).toContain('so far');
    // 1.1.0 (default, 10.5 h ago): nine of the hourly errors, the two extra ones, and the fresh group.
    expect(countsOf(rows[1]!)).toEqual({ errors: '11', newGroups: '1' });
    expect(rows[1]).toContain('Fresh bug');
    // The evil version (default, 15.5 h ago) until 1.1.0: errors 11 to 15 hours old, in default.
    expect(countsOf(rows[2]!)).toEqual({ errors: '5', newGroups: '0' });
    expect(rows[2]).toMatch(/until [A-Z][a-z]{2} \d\d/);
    // 1.0.0 (every log, 20.5 h ago), never replaced for every log: 20 hourly errors and the two extra; new are the
    // fresh group and billing's RangeError group (first seen 10 hours ago).
    expect(countsOf(rows[3]!)).toEqual({ errors: '22', newGroups: '2' });
  });

  it('counts the resolved groups that came back under each version, naming them with the version they came back in', async () => {
    const r = await createViewerApp({
      permissions: READER,
      count: 0,
      extra: [{ type: 'PayError', title: 'Pay failed <b>', dateTime: ago(12), version: '1.0.0' }],
      deployments: [
        { version: '1.0.0', created: ago(20) },
        { version: '1.1.0', created: ago(5) },
      ],
    });
    const m = r.messages[0]!;
    await r.store.setGroupState('default', [m.fingerprint], { status: 'resolved' }, 'k-test', ago(11));
    await r.store.append([{ ...m, id: undefined as unknown as string, dateTime: ago(2), version: '1.1.0' }]);
    const rows = rowsOf((await request(r.app).get('/elmah.axd/deployments')).text);
    const regressions = (row: string) => /<td class="col-new col-regressions"><strong>([^<]*)<\/strong>/.exec(row)?.[1];
    expect(regressions(rows[0]!)).toBe('1');
    expect(rows[0]).toContain('Pay failed &lt;b&gt;</a> <span class="type">PayError</span> in <span class="mono">1.1.0</span>');
    expect(regressions(rows[1]!)).toBe('0');
    // Triaged again, the group is no longer counted as a regression.
    await r.store.setGroupState('default', [m.fingerprint], { status: 'resolved' }, 'k-test', new Date().toISOString());
    expect(regressions(rowsOf((await request(r.app).get('/elmah.axd/deployments')).text)[0]!)).toBe('0');
  });

  it('links each count to the errors it counts, and each version to its errors and groups', async () => {
    const rows = rowsOf((await request(t.app).get('/elmah.axd/deployments')).text);
    const windowHref = /<td class="col-count"><a href="([^"]+)"/.exec(rows[2]!)![1]!.replace(/&amp;/g, '&');
    expect(windowHref).toMatch(/^\/elmah\.axd\/\?q=dateTime%3A%5B.+TO.+%7D&log=default$/);
    expect((await request(t.app).get(windowHref)).text).toMatch(/of <strong>5<\/strong>/);

    expect(rows[1]).toContain('href="/elmah.axd/?q=version%3A%221.1.0%22&amp;log=default"');
    expect(rows[1]).toContain('href="/elmah.axd/?view=groups&amp;q=version%3A%221.1.0%22&amp;log=default"');
    const tagged = await request(t.app).get('/elmah.axd/?q=version%3A%221.1.0%22&log=default');
    expect(tagged.status).toBe(200);
    expect(tagged.text).toMatch(/Errors <strong>1<\/strong> to <strong>2<\/strong> of <strong>2<\/strong>/);
    const groups = await request(t.app).get('/elmah.axd/?view=groups&q=version%3A%221.1.0%22&log=default');
    expect((groups.text.match(/class="col-count"><a /g) ?? []).length).toBe(2);
  });

  it('links the version of an error to every error of that version', async () => {
    const m = t.messages.find((x) => x.title === 'Fresh bug')!;
    const res = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    expect(res.text).toContain(
      '<a href="/elmah.axd/?q=version%3A%221.1.0%22&amp;log=default" title="Every error of this version">1.1.0</a>',
    );
  });

  it('filters by log: that log’s deployments and those of every log', async () => {
    const res = await request(t.app).get('/elmah.axd/deployments?log=billing');
    expect(res.status).toBe(200);
    const rows = rowsOf(res.text);
    expect(rows.map((r) => /class="version"[^>]*>([^<]*)</.exec(r)?.[1])).toEqual(['2.0.0', '1.0.0']);
    // 1.0.0 now counts billing only, until 2.0.0 replaced it there: the billing errors 10 and 20 hours old, and the
    // RangeError group first seen 10 hours ago.
    expect(countsOf(rows[1]!)).toEqual({ errors: '2', newGroups: '1' });
    expect(res.text).toContain('<option value="billing" selected>billing</option>');
    expect((await request(t.app).get('/elmah.axd/deployments?log=../x')).status).toBe(400);
  });

  it('pages ten versions at a time', async () => {
    const many = await createViewerApp({
      permissions: READER,
      count: 3,
      deployments: Array.from({ length: 23 }, (_, i) => ({ version: `3.0.${i}`, created: ago(23 - i) })),
    });
    const first = await request(many.app).get('/elmah.axd/deployments');
    expect(rowsOf(first.text)).toHaveLength(10);
    expect(first.text).toContain('Deployments <strong>1</strong> to <strong>10</strong> of <strong>23</strong>');
    expect(first.text).toContain('>3.0.22</a>');
    expect(first.text).toContain('href="/elmah.axd/deployments?page=2" rel="next"');
    const third = await request(many.app).get('/elmah.axd/deployments?page=3');
    expect(rowsOf(third.text)).toHaveLength(3);
    expect(third.text).toContain('>3.0.0</a>');
    expect(third.text).toContain('Deployments <strong>21</strong> to <strong>23</strong> of <strong>23</strong>');
    const beyond = await request(many.app).get('/elmah.axd/deployments?page=4');
    expect(beyond.status).toBe(200);
    expect(beyond.text).toContain('go to the first page');
    for (const bad of ['0', '51', 'x']) {
      const res = await request(many.app).get(`/elmah.axd/deployments?page=${bad}`);
      expect(res.status).toBe(400);
      expect(res.text).toContain('Page must be a whole number from 1 to 50');
    }
  });

  it('says how to record a deployment when there is none', async () => {
    const none = await createViewerApp({ permissions: READER, count: 2 });
    const res = await request(none.app).get('/elmah.axd/deployments');
    expect(res.status).toBe(200);
    expect(res.text).toContain('No deployments recorded.');
    expect(res.text).toContain('express-elmah deploy --version');
  });

  it('sends the strict headers on the page', async () => {
    const res = await request(t.app).get('/elmah.axd/deployments');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(res.text).not.toMatch(/\sstyle=/);
  });

  describe('on the chart', () => {
    it('marks each deployment of the window at its time, with its version escaped', async () => {
      // The chart draws hour bars when the week is mostly empty (as here): its window then ends on the next hour,
      // not on the next two-hour bucket. Either window, taken before or after the request, places the markers.
      const windows = (d: Date) => [chartWindow('', d), chartWindow('', d, true)];
      const before = windows(new Date());
      const res = await svg(t.app, '/elmah.axd/chart.svg');
      const after = windows(new Date());
      expect(res.status).toBe(200);
      expect((res.text.match(/<g class="deployment">/g) ?? []).length).toBe(4);
      const xs = [...res.text.matchAll(/<g class="deployment"><title>[^<]*<\/title><line class="chart-deploy" x1="([\d.]+)"/g)].map((m) =>
        Number(m[1]),
      );
      const expected = (w: { from: string; to: string }): number[] =>
        [20.5, 15.5, 10.5, 5.5].map((h) => timeX(Date.now() - h * HOUR, Date.parse(w.from), Date.parse(w.to)));
      // Positions follow the window; a few seconds of test time move them by less than a pixel.
      const near = (w: { from: string; to: string }) => expected(w).every((x, i) => Math.abs(x - xs[i]!) < 1);
      expect([...before, ...after].some(near)).toBe(true);
      expect(res.text).toContain('<title>Deployed &lt;img src=x onerror=alert(1)&gt; at ');
      expect(res.text).not.toContain('<img');
      expect(res.text).toMatch(/aria-label="[^"]*Deployments: 1\.0\.0 at /);
    });

    it('shows only deployments of the filtered log and of every log, within the window', async () => {
      const billing = await svg(t.app, '/elmah.axd/chart.svg?log=billing');
      expect((billing.text.match(/<g class="deployment">/g) ?? []).length).toBe(2);
      expect(billing.text).toContain('>2.0.0</text>');
      const hour = await svg(t.app, '/elmah.axd/chart.svg?since=1h');
      expect(hour.text).not.toContain('class="deployment"');
    });

    it('names them under the chart of the list and the groups, linked to their errors', async () => {
      const list = await request(t.app).get('/elmah.axd/');
      expect(list.text).toContain('Deployments (dashed lines):');
      expect(list.text).toContain('<a href="/elmah.axd/?q=version%3A%222.0.0%22" title="Errors of version 2.0.0">2.0.0</a>');
      expect(list.text).toContain('&lt;img src=x onerror=alert(1)&gt;</a>');
      const groups = await request(t.app).get('/elmah.axd/?view=groups');
      expect(groups.text).toContain('<a href="/elmah.axd/?view=groups&amp;q=version%3A%222.0.0%22"');
    });
  });

  describe('a key without deployments_read', () => {
    let plain: TestApp;
    beforeAll(async () => {
      plain = await createViewerApp({ deployments: [{ version: '9.9.9', created: ago(2) }] });
    });

    it('gets a page that says what the key lacks and how to make one that has it', async () => {
      const res = await request(plain.app).get('/elmah.axd/deployments');
      expect(res.status).toBe(200);
      expect(res.text).toContain('This key cannot read deployments.');
      expect(res.text).toContain('<code>deployments_read</code>');
      expect(res.text).toContain('express-elmah keys create --permissions messages_read,deployments_read');
      expect(res.text).not.toContain('9.9.9');
      expect(res.text).not.toContain('rel="next"');
    });

    it('sees the chart and the list without markers, and nothing fails', async () => {
      const chart = await svg(plain.app, '/elmah.axd/chart.svg');
      expect(chart.status).toBe(200);
      expect(chart.text).toContain('30 errors from');
      expect(chart.text).not.toContain('class="deployment"');
      const list = await request(plain.app).get('/elmah.axd/');
      expect(list.status).toBe(200);
      expect(list.text).not.toContain('Deployments (dashed lines)');
    });
  });
});
