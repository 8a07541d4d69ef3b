// One message: the detail page (stack split into in-app and library frames), its JSON, deleting one
// message or a whole search result, and the test error.
import type { NextFunction, Request, Response, Router } from 'express';
import type { LogClient } from '../../client/types.js';
import { ElmahError } from '../../model/errors.js';
import type { KeyInfo } from '../../model/keys.js';
import { MESSAGE_ID_PATTERN, isLogName } from '../../model/message.js';
import { requirePermission } from '../../model/permissions.js';
import { parseFrame, type StackFrame } from '../../model/stack.js';
import { OPEN_STATE } from '../../model/triage.js';
import type { ViewerContext } from '../context.js';
import { contextView } from '../context-view.js';
import { baseOf, href } from '../links.js';
import { MAX_SIZE, filterOf, listQuery, param, readListParams } from '../filters.js';
import { restoreAppHeaders } from './access.js';
import { IGNORE_MORE, queryError } from './list.js';

/** The error `/test` raises through `next(err)`, so the app's own error logger records it. */
export class ElmahTestError extends Error {
  constructor() {
    super('This is a test error raised from the error log viewer (express-elmah). If you can see it in the log, logging works.');
    this.name = 'ElmahTestError';
  }
}

/** A part of the stack view: a text line (the message, a cause) or a run of frames, in-app or not. */
export type StackPart = { kind: 'text'; text: string } | { kind: 'frames'; inApp: boolean; frames: StackFrame[] };

/** Splits a stack into text lines and runs of frames, so that library and node: frames can fold away. */
export function stackView(detail: string | undefined): StackPart[] {
  const parts: StackPart[] = [];
  if (!detail) return parts;
  for (const line of detail.split('\n')) {
    const frame = parseFrame(line);
    if (!frame) {
      if (line.trim()) parts.push({ kind: 'text', text: line });
      continue;
    }
    const last = parts[parts.length - 1];
    if (last?.kind === 'frames' && last.inApp === frame.inApp) last.frames.push(frame);
    else parts.push({ kind: 'frames', inApp: frame.inApp, frames: [frame] });
  }
  return parts;
}

/**
 * The app's root folder as a stack shows it: the folder above the first `node_modules` of any frame, or else the
 * deepest folder that every in-app frame shares (when there are two files or more). '' when neither is known.
 */
export function appRoot(parts: readonly StackPart[]): string {
  // ESM frames name `file:///srv/app/…`: the root is a plain path, as relativeFile compares it.
  const plainFile = (f: string | undefined): string => (f?.startsWith('file://') ? f.slice(7) : (f ?? ''));
  const files = parts.flatMap((p) => (p.kind === 'frames' ? p.frames.map((f) => plainFile(f.file)) : [])).filter((f) => f !== '');
  for (const f of files) {
    const m = /^(.*?[\\/])node_modules[\\/]/.exec(f);
    if (m && m[1] !== '/') return m[1]!;
  }
  const app = [
    ...new Set(
      parts.flatMap((p) => (p.kind === 'frames' && p.inApp ? p.frames.map((f) => plainFile(f.file)) : [])).filter((f) => f !== ''),
    ),
  ];
  if (app.length < 2) return '';
  let prefix = app[0]!;
  for (const f of app) while (!f.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const cut = Math.max(prefix.lastIndexOf('/'), prefix.lastIndexOf('\\'));
  return cut > 0 ? prefix.slice(0, cut + 1) : '';
}

/** A frame's file relative to the app root (`src/routes/orders.js`), or as it is where it lies elsewhere. */
export function relativeFile(file: string | undefined, root: string): string {
  if (!file) return '';
  const plain = file.startsWith('file://') ? file.slice(7) : file;
  return root && plain.startsWith(root) && plain.length > root.length ? plain.slice(root.length) : file;
}

/** Sections of the detail page that hold name/value pairs, in the order shown. */
const PAIR_SECTIONS = [
  ['serverVariables', 'Server variables'],
  ['queryString', 'Query string'],
  ['form', 'Form'],
  ['cookies', 'Cookies'],
  ['data', 'Data'],
] as const;

/** `a`, `a or b`, `a, b or c`. */
function orList(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]!}`;
}

/** The message id of the URL; a malformed one is simply not found. */
function messageId(req: Request): string {
  const id = String(req.params.id);
  if (!MESSAGE_ID_PATTERN.test(id)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', 'No message with that id.');
  return id;
}

/** The log a message lives in: pinned, named in the URL, or found by its id. */
async function logOfMessage(req: Request, client: LogClient, id: string, pinnedLog: string | undefined): Promise<string> {
  if (pinnedLog) return pinnedLog;
  const named = param(req, 'log');
  if (named) {
    if (!isLogName(named)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id}.`);
    return named;
  }
  const r = await client.search({ query: `id:"${id}"`, size: 1 });
  const found = r.messages[0];
  if (!found) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in the logs this key may read.`);
  return found.log;
}

/** The message a detail page form posts about: its id, the form's fields, and its log (sent with the form, or found). */
async function postedMessage(
  req: Request,
  client: LogClient,
  pinnedLog: string | undefined,
): Promise<{ id: string; body: Record<string, unknown>; log: string }> {
  const id = messageId(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const log =
    pinnedLog ?? (typeof body.log === 'string' && isLogName(body.log) ? body.log : await logOfMessage(req, client, id, pinnedLog));
  return { id, body, log };
}

/** Throws ERR_ELMAH_PERMISSION unless the request's key carries messages_delete. */
function requireDelete(who: KeyInfo): void {
  requirePermission(who, 'messages_delete', undefined, { help: 'Deleting needs a key with messages_delete.' });
}

/** Throws ERR_ELMAH_PERMISSION unless the request's key carries groups_write. */
function requireTriage(who: KeyInfo): void {
  requirePermission(who, 'groups_write', undefined, {
    help: 'Changing the state of a group needs a key with groups_write (express-elmah keys create --permissions messages_read,groups_write).',
  });
}

/** The notices the detail page shows after a change of state (the `triaged` parameter of the redirect). */
const TRIAGE_NOTICES: Record<string, string> = {
  resolved: 'Resolved this group.',
  ignored: 'Ignoring this group.',
  open: 'Reopened this group.',
};

/** An ignore lasting a day. */
const DAY_MS = 86_400_000;

/**
 * The change of state a detail page button asks for (`action` of the form), as the client takes it;
 * ERR_ELMAH_INVALID_STATE for an unknown action.
 */
export function changeOfForm(body: Record<string, unknown>, fingerprints: readonly string[], now: Date): Record<string, unknown> {
  switch (body.action) {
    case 'resolve':
      return { fingerprints, status: 'resolved' };
    case 'resolve-version':
      return { fingerprints, status: 'resolved', inVersion: typeof body.version === 'string' ? body.version : undefined };
    case 'ignore':
      return { fingerprints, status: 'ignored' };
    case 'ignore-day':
      return { fingerprints, status: 'ignored', until: new Date(now.getTime() + DAY_MS).toISOString() };
    case 'ignore-more':
      return { fingerprints, status: 'ignored', occurrences: IGNORE_MORE };
    case 'reopen':
      return { fingerprints, status: 'open' };
    default:
      throw new ElmahError('ERR_ELMAH_INVALID_STATE', 'Unknown action on a group.', {
        help: 'Use the buttons of the detail page or the groups view: resolve, resolve-version, ignore, ignore-day, ignore-more or reopen.',
      });
  }
}

/** The most groups one form may change: the largest page of the groups view. */
const MAX_SELECTED = MAX_SIZE;

/**
 * The groups ticked in the groups view (`group` fields, `<log>:<fingerprint>`), by log. Log names hold no colon,
 * so the first one separates the two. With a pinned log, a group of another log is refused. ERR_ELMAH_INVALID_STATE
 * for a malformed value or more than {@link MAX_SELECTED}.
 */
export function selectedGroups(value: unknown, pinnedLog: string | undefined): Map<string, string[]> {
  const values = value === undefined ? [] : Array.isArray(value) ? (value as unknown[]) : [value];
  const invalid = (why: string) =>
    new ElmahError('ERR_ELMAH_INVALID_STATE', `The groups to change are not valid: ${why}.`, {
      help: 'Tick the groups in the groups view and press one of its buttons.',
    });
  if (values.length > MAX_SELECTED) throw invalid(`more than ${MAX_SELECTED}`);
  const byLog = new Map<string, string[]>();
  for (const v of values) {
    const at = typeof v === 'string' ? v.indexOf(':') : -1;
    const log = at > 0 ? (v as string).slice(0, at) : '';
    const fingerprint = at > 0 ? (v as string).slice(at + 1) : '';
    if (!isLogName(log) || fingerprint.length === 0 || fingerprint.length > 200) throw invalid('expected <log>:<fingerprint>');
    if (pinnedLog !== undefined && log !== pinnedLog) throw invalid(`log ${log} is not the log of this viewer`);
    const list = byLog.get(log) ?? [];
    if (!list.includes(fingerprint)) list.push(fingerprint);
    byLog.set(log, list);
  }
  return byLog;
}

/** Adds GET /detail/:id, /json/:id, the delete and group state routes and /test. */
export function messageRoutes(
  router: Router,
  v: Pick<ViewerContext, 'o' | 'requests' | 'caches' | 'csrf' | 'pages' | 'failures' | 'parseForm'>,
): void {
  const { o, requests, caches, csrf, pages, failures, parseForm } = v;
  /** A form post: its CSRF token checked, then the key's permission; the request's context. */
  const checkedPost = (req: Request, mayPost: (who: KeyInfo) => void) => {
    csrf.require(req);
    const ctx = requests.of(req);
    mayPost(ctx.who);
    return ctx;
  };

  router.get(
    '/detail/:id',
    failures.handle('viewerDetail', async (req, res) => {
      const ctx = requests.of(req);
      const id = messageId(req);
      const log = await logOfMessage(req, ctx.client, id, o.log);
      const message = await ctx.client.get(log, id);
      const [near, same, group] = await Promise.all([
        ctx.client.neighbours(log, id),
        ctx.client.search({ log, query: `fingerprint:"${message.fingerprint}"`, size: 1 }),
        // The aggregate, not a filtered search: only it knows the occurrences counted but not kept in full.
        ctx.client.group(log, message.fingerprint),
      ]);
      const stack = stackView(message.detail);
      const root = appRoot(stack);
      const sections = PAIR_SECTIONS.map(([key, heading]) => ({ key, heading, rows: message[key] ?? [] }));
      const empty = sections.filter((x) => x.rows.length === 0).map((x) => x.heading.toLowerCase());
      await pages.render(req, res, 200, 'detail', {
        pageTitle: message.title || message.type,
        nav: 'list',
        m: message,
        // The type once: not again before a title that starts with it (`Error: …`, or a title that is the type).
        typeInTitle: !!message.title && (message.title === message.type || message.title.startsWith(`${message.type}:`)),
        stack,
        appRoot: root,
        shortFile: (file: string | undefined) => relativeFile(file, root),
        pairSections: sections.filter((x) => x.rows.length > 0),
        noPairs: empty.length > 0 ? `No ${orList(empty)}.` : '',
        context: contextView(message),
        near,
        sameCount: same.total,
        sameExact: same.totalExact,
        countedOnly: group?.countedOnly ?? 0,
        reach: group?.reach,
        groupCount: group?.count ?? 0,
        state: group?.state ?? OPEN_STATE,
        ignoreMore: IGNORE_MORE,
        triaged: TRIAGE_NOTICES[param(req, 'triaged')] ?? '',
        logQuery: o.log ? {} : { log },
      });
    }),
  );

  router.get(
    '/json/:id',
    failures.handle('viewerJson', async (req, res) => {
      const ctx = requests.of(req);
      const id = messageId(req);
      const message = await ctx.client.get(await logOfMessage(req, ctx.client, id, o.log), id);
      res.type('application/json').send(JSON.stringify(message, null, 2));
    }),
  );

  router.post(
    '/detail/:id/delete',
    parseForm,
    failures.handle('viewerDeleteOne', async (req, res) => {
      const ctx = checkedPost(req, requireDelete);
      const { id, log } = await postedMessage(req, ctx.client, o.log);
      const n = await ctx.client.delete(log, { ids: [id] });
      caches.invalidate();
      res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
    }),
  );

  // Changing the state of the message's group: resolve, ignore or reopen, then back to the page.
  router.post(
    '/detail/:id/state',
    parseForm,
    failures.handle('viewerGroupState', async (req, res) => {
      const ctx = checkedPost(req, requireTriage);
      const { id, body, log } = await postedMessage(req, ctx.client, o.log);
      const message = await ctx.client.get(log, id);
      const input = changeOfForm(body, [message.fingerprint], new Date());
      await ctx.client.setGroupState(log, input);
      caches.invalidate();
      res.redirect(303, href(baseOf(req), `/detail/${id}`, { ...(o.log ? {} : { log }), triaged: String(input.status) }));
    }),
  );

  // Changing the state of the groups ticked in the groups view, then back to the same page of the view.
  router.post(
    '/groups/state',
    parseForm,
    failures.handle('viewerGroupsState', async (req, res) => {
      const ctx = checkedPost(req, requireTriage);
      const body = (req.body ?? {}) as Record<string, unknown>;
      // The view to return to travels in the form, as the delete form's filter does; it goes through the same checks.
      const { params } = readListParams({ query: body } as unknown as Request, { size: o.pageSize, pinnedLog: o.log });
      const back = listQuery({ ...params, view: 'groups' }, o.pageSize, o.log);
      const selected = selectedGroups(body.group, o.log);
      if (selected.size === 0) {
        res.redirect(303, href(baseOf(req), '/', { ...back, triaged: 'none' }));
        return;
      }
      const now = new Date();
      // Checked before anything changes, so that an unknown action changes no log.
      const inputs = [...selected].map(([log, fingerprints]) => ({ log, input: changeOfForm(body, fingerprints, now) }));
      let changed = 0;
      try {
        for (const { log, input } of inputs) changed += (await ctx.client.setGroupState(log, input)).changed;
      } finally {
        caches.invalidate();
      }
      res.redirect(303, href(baseOf(req), '/', { ...back, triaged: String(inputs[0]!.input.status), changed: String(changed) }));
    }),
  );

  // Deleting a search result: a confirmation page, then the POST.
  router.get(
    '/delete',
    failures.handle('viewerDeleteConfirm', async (req, res) => {
      const ctx = requests.of(req);
      requireDelete(ctx.who);
      const { params, problems } = readListParams(req, { size: o.pageSize, pinnedLog: o.log });
      if (problems.length > 0) throw queryError(problems);
      const r = await ctx.client.search({ ...filterOf(params, new Date()), size: 1 });
      await pages.render(req, res, 200, 'confirm-delete', {
        pageTitle: 'Delete errors',
        nav: 'list',
        params,
        total: r.total,
        totalExact: r.totalExact,
        fields: listQuery({ ...params, page: 1, view: 'list', size: o.pageSize }, o.pageSize, o.log),
        cancel: href(baseOf(req), '/', listQuery({ ...params, page: 1, view: 'list' }, o.pageSize, o.log)),
      });
    }),
  );

  router.post(
    '/delete',
    parseForm,
    failures.handle('viewerDeleteSearch', async (req, res) => {
      const ctx = checkedPost(req, requireDelete);
      // The filter travels in the form body; it goes through the same checks as the URL.
      const { params, problems } = readListParams({ query: req.body ?? {} } as unknown as Request, { size: o.pageSize, pinnedLog: o.log });
      if (problems.length > 0) throw queryError(problems);
      const f = filterOf(params, new Date());
      const logs = f.log ? [f.log] : (await ctx.client.logs()).map((l) => l.name);
      let n = 0;
      try {
        for (const log of logs) n += await ctx.client.delete(log, { query: f.query, from: f.from });
      } finally {
        // Even a delete that failed part-way may have removed messages.
        caches.invalidate();
      }
      res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
    }),
  );

  router.get(
    '/test',
    failures.handle('viewerTestPage', async (req, res) => {
      await pages.render(req, res, 200, 'test', { pageTitle: 'Test', nav: 'test' });
    }),
  );

  router.post('/test', parseForm, function viewerRaiseTestError(req: Request, res: Response, next: NextFunction) {
    try {
      csrf.require(req);
    } catch (err) {
      void failures.fail(req, res, err).catch(next);
      return;
    }
    // Through the app's own error handling, so that its errorLogger records it like any other error; its error
    // page is the app's, so it goes out with the app's headers, not the viewer's strict CSP.
    restoreAppHeaders(res);
    next(new ElmahTestError());
  });
}
