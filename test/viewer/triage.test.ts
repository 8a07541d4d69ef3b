// Triage in the viewer: the groups view's state filter and badges, the detail page's group state and
// history, and the actions that change it (groups_write and the CSRF token required).
import request from 'supertest';
import type { ErrorMessage } from '../../src/model/message';
import { createViewerApp, csrfOf, type TestApp } from '../helpers/viewer-app';

const titles = (html: string): string[] => [...html.matchAll(/class="title-link"[^>]*>([^<]*)</g)].map((m) => m[1]!);
const at = new Date().toISOString();

async function resolve(t: TestApp, m: ErrorMessage, inVersion?: string): Promise<void> {
  await t.store.setGroupState(m.log, [m.fingerprint], { status: 'resolved', inVersion }, 'k-test', at);
}

describe('groups view', () => {
  it('shows open groups unless asked for another state, with links for each that keep the other filters', async () => {
    const names = ['Alpha broke', 'Beta broke', 'Gamma broke', 'Delta broke'];
    const t = await createViewerApp({ count: 0, extra: names.map((title) => ({ title, type: title.replace(' broke', 'Error') })) });
    const [alpha, beta] = t.messages;
    await resolve(t, alpha!);
    await t.store.setGroupState('default', [beta!.fingerprint], { status: 'ignored' }, 'k-test', at);
    const open = await request(t.app).get('/elmah.axd/?view=groups&since=7d');
    expect(open.status).toBe(200);
    expect(titles(open.text).sort()).toEqual(['Delta broke', 'Gamma broke']);
    expect(open.text).toContain('<strong aria-current="page">Open</strong>');
    expect(open.text).toContain('href="/elmah.axd/?view=groups&amp;since=7d&amp;state=resolved"');
    expect(open.text).toContain('href="/elmah.axd/?view=groups&amp;since=7d&amp;state=all"');

    const resolved = await request(t.app).get('/elmah.axd/?view=groups&state=resolved');
    expect(titles(resolved.text)).toEqual(['Alpha broke']);
    expect(resolved.text).toContain('<span class="badge badge-resolved">Resolved</span>');
    expect(resolved.text).toContain('<input type="hidden" name="state" value="resolved">');
    const ignored = await request(t.app).get('/elmah.axd/?view=groups&state=ignored');
    expect(titles(ignored.text)).toEqual(['Beta broke']);
    expect(ignored.text).toContain('<span class="badge badge-ignored">Ignored</span>');
    const all = await request(t.app).get('/elmah.axd/?view=groups&state=all');
    expect(titles(all.text)).toHaveLength(4);
    // The list view of the same search is not filtered by state.
    expect(titles((await request(t.app).get('/elmah.axd/?state=resolved')).text)).toHaveLength(4);

    const bad = await request(t.app).get('/elmah.axd/?view=groups&state=fixed');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Unknown group state');
  });

  it('marks a regressed group', async () => {
    const t = await createViewerApp({ count: 3 });
    const m = t.messages[0]!;
    await t.store.setGroupState(m.log, [m.fingerprint], { status: 'resolved' }, 'k-test', new Date(Date.now() - 7_200_000).toISOString());
    await t.store.append([{ ...m, id: undefined as unknown as string, dateTime: new Date().toISOString(), version: '2.0.0' }]);
    const res = await request(t.app).get('/elmah.axd/?view=groups');
    expect(res.text).toContain('<span class="badge badge-regressed" title="Came back after it was resolved">Regressed</span>');
  });
});

describe('detail page', () => {
  it('shows the state, who changed it and when, and a regression with its version', async () => {
    const t = await createViewerApp({ count: 3, extra: [{ title: 'Checkout broke', version: '1.0.0' }] });
    const m = t.messages[3]!;
    await resolve(t, m, '1.1.0');
    let page = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    expect(page.text).toContain('<span class="badge badge-resolved">Resolved</span>');
    expect(page.text).toContain('resolved in version <span class="mono">1.1.0</span>');
    expect(page.text).toContain('by key <span class="mono">k-test</span>');
    // Read-only key: no buttons, a note how to get a key that may change the state.
    expect(page.text).not.toContain('value="reopen"');
    expect(page.text).toContain('express-elmah keys create --permissions messages_read,groups_write');

    await t.store.append([
      { ...m, id: undefined as unknown as string, dateTime: new Date(Date.now() + 1000).toISOString(), version: '1.2.0' },
    ]);
    page = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    expect(page.text).toContain('<span class="badge badge-open">Open</span> <span class="badge badge-regressed">Regressed</span>');
    expect(page.text).toMatch(/Regressed at <time[^>]*>[^<]+<\/time> in version <span class="mono">1\.2\.0<\/span>/);
    // The history, newest first: the regression, then the resolution and who made it.
    const history = /<ol class="history">([\s\S]*?)<\/ol>/.exec(page.text)![1]!.replace(/\s+/g, ' ');
    expect(history).toMatch(
      /<li><time [^>]*>[^<]*<\/time> <strong>Regressed<\/strong> in version <span class="mono">1\.2\.0<\/span><\/li> <li><time [^>]*>[^<]*<\/time> Resolved in version <span class="mono">1\.1\.0<\/span> by key <span class="mono">k-test<\/span><\/li>/,
    );
    expect(page.text).toContain('<summary>History (2 events)</summary>');
  });

  it('shows how many users the group reached and in which versions, each version a link to its occurrences', async () => {
    const same = { title: 'Pay failed', type: 'PayError' };
    const t = await createViewerApp({
      count: 0,
      extra: [
        { ...same, user: 'ann', version: '1.0.0' },
        { ...same, user: 'bob', version: '1.1.0' },
        { ...same, user: 'ann', version: '1.1.0' },
        { ...same, version: '<b>2</b>' },
      ],
    });
    const m = t.messages[0]!;
    expect(new Set(t.messages.map((x) => x.fingerprint)).size).toBe(1);
    const page = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    const reach = /<dd class="reach">([\s\S]*?)<\/dd>/.exec(page.text)![1]!.replace(/\s+/g, ' ');
    expect(reach).toMatch(/^2 users · versions /);
    expect(reach).toContain('&lt;b&gt;2&lt;/b&gt;</a> <span class="muted">(1)</span>');
    expect(reach).toContain('>1.1.0</a> <span class="muted">(2)</span>');
    expect(reach).toContain('>1.0.0</a> <span class="muted">(1)</span>');
    expect(reach).not.toContain('in the last');
    expect(page.text).toContain(`href="/elmah.axd/?q=fingerprint%3A${m.fingerprint}+version%3A%221.1.0%22&amp;log=default"`);
  });

  it('leaves out whom the group reached when its errors name no user and no version', async () => {
    const t = await createViewerApp({ count: 0, extra: [{ title: 'Anonymous', user: undefined, version: undefined }] });
    const page = await request(t.app).get(`/elmah.axd/detail/${t.messages[0]!.id}?log=default`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<dt>Reached</dt>');
  });

  it('shows how long an ignore lasts', async () => {
    const t = await createViewerApp({ count: 2 });
    const m = t.messages[0]!;
    await t.store.setGroupState(m.log, [m.fingerprint], { status: 'ignored', occurrences: 5 }, 'k-test', at);
    const page = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    expect(page.text).toContain('ignored until the count reaches 6');
  });
});

describe('actions', () => {
  const stateOf = async (t: TestApp, m: ErrorMessage) => (await t.store.group(m.log, m.fingerprint))!.state;

  it('resolves in a version, ignores and reopens with groups_write, then redirects back with a notice', async () => {
    const t = await createViewerApp({
      count: 2,
      permissions: ['messages_read', 'groups_write'],
      extra: [{ title: 'Pay', version: '3.1.0' }],
    });
    const m = t.messages[2]!;
    const agent = request.agent(t.app);
    const path = `/elmah.axd/detail/${m.id}`;
    const page = await agent.get(`${path}?log=default`);
    expect(page.text).toContain('<input id="resolve-version" name="version" type="text" value="3.1.0"');
    expect(page.text).not.toContain('value="reopen"');
    const csrf = csrfOf(page.text);

    const res = await agent
      .post(`${path}/state`)
      .type('form')
      .send({ _csrf: csrf, log: 'default', action: 'resolve-version', version: '3.1.0' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`${path}?log=default&triaged=resolved`);
    expect(await stateOf(t, m)).toMatchObject({ status: 'resolved', resolvedIn: '3.1.0' });
    const after = await agent.get(res.headers.location!);
    expect(after.text).toContain('Resolved this group.');
    expect(after.text).toContain('value="reopen"');
    expect((await agent.get('/elmah.axd/?view=groups')).text).not.toContain('>Pay<');

    await agent.post(`${path}/state`).type('form').send({ _csrf: csrf, log: 'default', action: 'ignore-more' });
    expect(await stateOf(t, m)).toMatchObject({ status: 'ignored', ignoreUntilCount: 101 });
    await agent.post(`${path}/state`).type('form').send({ _csrf: csrf, log: 'default', action: 'ignore-day' });
    const day = await stateOf(t, m);
    expect(Date.parse(day.ignoreUntil!) - Date.now()).toBeGreaterThan(86_000_000);
    const reopen = await agent.post(`${path}/state`).type('form').send({ _csrf: csrf, log: 'default', action: 'reopen' });
    expect(reopen.headers.location).toBe(`${path}?log=default&triaged=open`);
    expect(await stateOf(t, m)).toMatchObject({ status: 'open' });

    const unknown = await agent.post(`${path}/state`).type('form').send({ _csrf: csrf, log: 'default', action: 'delete' });
    expect(unknown.status).toBe(400);
  });

  it('refuses a key without groups_write and leaves the state alone', async () => {
    const t = await createViewerApp({ count: 2, key: 'del' });
    const m = t.messages[0]!;
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get(`/elmah.axd/detail/${m.id}`)).text);
    const res = await agent.post(`/elmah.axd/detail/${m.id}/state`).type('form').send({ _csrf: csrf, log: 'default', action: 'resolve' });
    expect(res.status).toBe(403);
    expect(res.text).toContain('lacks groups_write');
    expect((await stateOf(t, m)).status).toBe('open');
  });

  it('refuses a POST without a valid CSRF token', async () => {
    const t = await createViewerApp({ count: 2, permissions: ['messages_read', 'groups_write'] });
    const m = t.messages[0]!;
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get(`/elmah.axd/detail/${m.id}`)).text);
    const path = `/elmah.axd/detail/${m.id}/state`;
    const none = await agent.post(path).type('form').send({ log: 'default', action: 'resolve' });
    expect(none.status).toBe(403);
    expect(none.text).toContain('security token');
    const wrong = await agent
      .post(path)
      .type('form')
      .send({ _csrf: csrf.slice(1) + 'x', log: 'default', action: 'resolve' });
    expect(wrong.status).toBe(403);
    const cross = await agent
      .post(path)
      .type('form')
      .set('Origin', 'https://evil.example')
      .send({ _csrf: csrf, log: 'default', action: 'resolve' });
    expect(cross.status).toBe(403);
    expect((await stateOf(t, m)).status).toBe('open');
  });

  it('escapes versions and key ids', async () => {
    const XSS = '<img src=x onerror=alert(1)>';
    const t = await createViewerApp({ count: 1, permissions: ['messages_read', 'groups_write'], extra: [{ title: 'X', version: XSS }] });
    const m = t.messages[1]!;
    await t.store.setGroupState(m.log, [m.fingerprint], { status: 'resolved', inVersion: XSS }, XSS, at);
    await t.store.append([
      { ...m, id: undefined as unknown as string, dateTime: new Date(Date.now() + 1000).toISOString(), version: `${XSS}2` },
    ]);
    const page = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(XSS);
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('bulk actions in the groups view', () => {
  const boxes = (html: string): string[] => [...html.matchAll(/<input type="checkbox" name="group" value="([^"]*)"/g)].map((m) => m[1]!);
  const stateOf = async (t: TestApp, m: ErrorMessage) => (await t.store.group(m.log, m.fingerprint))!.state;
  const names = ['Alpha broke', 'Beta broke', 'Gamma broke'];
  const extra = names.map((title) => ({ title, type: title.replace(' broke', 'Error') }));

  it('shows a box per group and the buttons only to a key with groups_write', async () => {
    const read = await createViewerApp({ count: 0, extra });
    const plain = await request(read.app).get('/elmah.axd/?view=groups');
    expect(boxes(plain.text)).toEqual([]);
    expect(plain.text).not.toContain('action="/elmah.axd/groups/state"');

    const t = await createViewerApp({ count: 0, permissions: ['messages_read', 'groups_write'], extra });
    const page = await request(t.app).get('/elmah.axd/?view=groups&since=7d');
    expect(boxes(page.text).sort()).toEqual(t.messages.map((m) => `default:${m.fingerprint}`).sort());
    expect(page.text).toContain('<form method="post" action="/elmah.axd/groups/state" class="bulk" id="bulk">');
    // Each box is named for a screen reader; the page-wide box, in the bar (it works on phones too), waits for the script.
    expect(page.text).toMatch(/aria-label="Tick: AlphaError Alpha broke"/);
    expect(page.text).toContain('<input type="checkbox" id="select-all" aria-label="Tick every group on this page" hidden>');
    // The view to come back to travels with the form.
    expect(page.text).toContain('<input type="hidden" name="since" value="7d">');
    expect(page.text).toContain('value="resolve"');
    expect(page.text).not.toContain('value="reopen"');
    // Enter in the version field presses the first button of the form: "Resolve in version".
    const bar = page.text.slice(page.text.indexOf('class="bulk-bar"'));
    expect(bar.indexOf('id="bulk-version"')).toBeLessThan(bar.indexOf('value="resolve-version"'));
    expect(bar.indexOf('value="resolve-version"')).toBeLessThan(bar.indexOf('value="resolve"'));
    const resolvedView = await request(t.app).get('/elmah.axd/?view=groups&state=resolved');
    expect(resolvedView.text).toContain('No groups match.');
  });

  it('resolves the ticked groups, returns to the same view with a notice, and reopens them from the resolved view', async () => {
    const t = await createViewerApp({ count: 0, permissions: ['messages_read', 'groups_write'], extra });
    const [alpha, beta, gamma] = t.messages as [ErrorMessage, ErrorMessage, ErrorMessage];
    const agent = request.agent(t.app);
    const page = await agent.get('/elmah.axd/?view=groups&since=7d');
    const csrf = csrfOf(page.text);
    const res = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send(
        `_csrf=${encodeURIComponent(csrf)}&view=groups&since=7d&action=resolve-version&version=2.0.0&group=default:${alpha.fingerprint}&group=default:${beta.fingerprint}`,
      );
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/elmah.axd/?view=groups&since=7d&triaged=resolved&changed=2');
    expect(await stateOf(t, alpha)).toMatchObject({ status: 'resolved', resolvedIn: '2.0.0' });
    expect(await stateOf(t, beta)).toMatchObject({ status: 'resolved', resolvedIn: '2.0.0' });
    expect((await stateOf(t, gamma)).status).toBe('open');
    const after = await agent.get(res.headers.location!);
    expect(after.text).toContain('Resolved 2 groups.');
    expect(titles(after.text)).toEqual(['Gamma broke']);

    const resolved = await agent.get('/elmah.axd/?view=groups&state=resolved');
    expect(resolved.text).toContain('value="reopen"');
    expect(resolved.text).not.toContain('value="resolve"');
    const reopen = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send({ _csrf: csrf, view: 'groups', state: 'resolved', action: 'reopen', group: `default:${beta.fingerprint}` });
    expect(reopen.headers.location).toBe('/elmah.axd/?view=groups&state=resolved&triaged=open&changed=1');
    expect((await agent.get(reopen.headers.location!)).text).toContain('Reopened 1 group.');
    expect((await stateOf(t, beta)).status).toBe('open');
  });

  it('changes groups of several logs at once, and says so when nothing was ticked', async () => {
    const t = await createViewerApp({
      count: 0,
      permissions: ['messages_read', 'groups_write'],
      extra: [
        { title: 'A', log: 'default' },
        { title: 'B', log: 'billing' },
      ],
    });
    const [a, b] = t.messages as [ErrorMessage, ErrorMessage];
    const agent = request.agent(t.app);
    const page = await agent.get('/elmah.axd/?view=groups');
    expect(boxes(page.text).sort()).toEqual([`billing:${b.fingerprint}`, `default:${a.fingerprint}`]);
    const csrf = csrfOf(page.text);
    const res = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrf)}&view=groups&action=ignore&group=default:${a.fingerprint}&group=billing:${b.fingerprint}`);
    expect(res.headers.location).toBe('/elmah.axd/?view=groups&triaged=ignored&changed=2');
    expect((await stateOf(t, a)).status).toBe('ignored');
    expect((await stateOf(t, b)).status).toBe('ignored');

    const none = await agent.post('/elmah.axd/groups/state').type('form').send({ _csrf: csrf, view: 'groups', action: 'resolve' });
    expect(none.headers.location).toBe('/elmah.axd/?view=groups&triaged=none');
    expect((await agent.get(none.headers.location!)).text).toContain('No group was ticked');
  });

  it('refuses malformed selections, unknown actions, missing permission and a missing CSRF token, changing nothing', async () => {
    const t = await createViewerApp({ count: 0, permissions: ['messages_read', 'groups_write'], extra });
    const m = t.messages[0]!;
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/?view=groups')).text);
    const post = (body: Record<string, unknown>) =>
      agent
        .post('/elmah.axd/groups/state')
        .type('form')
        .send({ _csrf: csrf, ...body });
    for (const group of ['nocolon', ':fp', 'bad log:fp', 'default:', `default:${'x'.repeat(201)}`]) {
      const res = await post({ action: 'resolve', group });
      expect(res.status).toBe(400);
      expect(res.text).toContain('The groups to change are not valid');
    }
    const unknown = await post({ action: 'delete', group: `default:${m.fingerprint}` });
    expect(unknown.status).toBe(400);
    const tooMany = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrf)}&action=resolve&` + Array.from({ length: 101 }, (_, i) => `group=default:f${i}`).join('&'));
    expect(tooMany.status).toBe(400);
    const noToken = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send({ action: 'resolve', group: `default:${m.fingerprint}` });
    expect(noToken.status).toBe(403);
    expect((await stateOf(t, m)).status).toBe('open');

    const reader = await createViewerApp({ count: 0, key: 'del', extra: [{ title: 'X' }] });
    const readerAgent = request.agent(reader.app);
    // A key that may delete but not triage: its detail page carries a token (the delete form).
    const readerCsrf = csrfOf((await readerAgent.get(`/elmah.axd/detail/${reader.messages[0]!.id}`)).text);
    const refused = await readerAgent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send({ _csrf: readerCsrf, action: 'resolve', group: `default:${reader.messages[0]!.fingerprint}` });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('lacks groups_write');
    expect((await reader.store.group('default', reader.messages[0]!.fingerprint))!.state.status).toBe('open');
  });

  it('refuses a group of another log in a viewer pinned to one log', async () => {
    const t = await createViewerApp({
      count: 0,
      permissions: ['messages_read', 'groups_write'],
      extra: [{ title: 'A', log: 'default' }],
      viewer: { log: 'default' },
    });
    const agent = request.agent(t.app);
    const page = await agent.get('/elmah.axd/?view=groups');
    expect(boxes(page.text)).toEqual([`default:${t.messages[0]!.fingerprint}`]);
    const res = await agent
      .post('/elmah.axd/groups/state')
      .type('form')
      .send({ _csrf: csrfOf(page.text), action: 'resolve', group: `billing:${t.messages[0]!.fingerprint}` });
    expect(res.status).toBe(400);
    expect(res.text).toContain('is not the log of this viewer');
  });
});
