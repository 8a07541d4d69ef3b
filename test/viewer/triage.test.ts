// Triage in the viewer: the groups view's state filter and badges.
import request from 'supertest';
import type { ErrorMessage } from '../../src/model/message';
import { createViewerApp, type TestApp } from '../helpers/viewer-app';

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
