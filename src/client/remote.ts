// RemoteLogClient: the LogClient interface over a collector's HTTP API (keep-alive, timeouts, coded errors).
import http from 'node:http';
import https from 'node:https';
import { deploymentFromWire, type Deployment } from '../model/deployment.js';
import { ERROR_CODES, ElmahError, type ElmahErrorCode } from '../model/errors.js';
import { parseKey, type KeyInfo } from '../model/keys.js';
import type { ErrorMessage } from '../model/message.js';
import type { ErrorGroup, GroupResult, HistogramResult, LogSummary, SearchResult } from '../stores/types.js';
import type {
  ClientAppendResult,
  ClientDeleteTarget,
  ClientDeploymentOptions,
  ClientFilter,
  ClientGroupOptions,
  ClientHistogramOptions,
  ClientSearchOptions,
  LogClient,
} from './types.js';

/** Options of {@link RemoteLogClient}. */
export interface RemoteLogClientOptions {
  /** Deadline for one HTTP request (connect, send, answer), ms. Default 10,000. */
  timeoutMs?: number | undefined;
  /** Most messages per `_bulk` request; larger appends are split. Default 500. */
  maxBatchMessages?: number | undefined;
  /** Largest `_bulk` request body, bytes; larger appends are split. Default 4 MiB. */
  maxBatchBytes?: number | undefined;
  /** Largest answer read from the collector, bytes. Default 64 MiB. */
  maxResponseBytes?: number | undefined;
  /** Most parallel connections to the collector. Default 8. Ignored with `agent`. */
  maxSockets?: number | undefined;
  /** A keep-alive agent shared by the clients of one collector (see {@link collectorAgent}); left open by close(). */
  agent?: http.Agent | undefined;
}

const DEFAULTS = {
  timeoutMs: 10_000,
  maxBatchMessages: 500,
  maxBatchBytes: 4 * 1024 * 1024,
  maxResponseBytes: 64 * 1024 * 1024,
  maxSockets: 8,
};

/** The code a status answers with when the body carries none of ours (a proxy's error page, say). */
const STATUS_CODES: Record<number, ElmahErrorCode> = {
  401: 'ERR_ELMAH_KEY_INVALID',
  403: 'ERR_ELMAH_PERMISSION',
  404: 'ERR_ELMAH_NOT_FOUND',
  413: 'ERR_ELMAH_TOO_LARGE',
  415: 'ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE',
  429: 'ERR_ELMAH_RATE_LIMITED',
};

/** Seconds from a Retry-After header (delta seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

interface Answer {
  status: number;
  body: unknown;
  /** Seconds from the Retry-After header, when sent. */
  retryAfter: number | undefined;
}

interface Item {
  index: number;
  json: string;
  bytes: number;
}

/** A collector URL, checked: ERR_ELMAH_STORE_URL unless it is a valid http(s):// URL. */
function collectorBase(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'The collector URL is not a valid URL.', {
      help: 'Use e.g. https://collector.example.com or http://127.0.0.1:4000.',
    });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ElmahError('ERR_ELMAH_STORE_URL', `A collector URL starts with http:// or https://, not ${base.protocol}.`);
  }
  return base;
}

function newAgent(base: URL, maxSockets: number): http.Agent {
  const Agent = base.protocol === 'https:' ? https.Agent : http.Agent;
  // Idle sockets are dropped before Node servers drop them (5 s keep-alive), so reuse rarely meets a closed socket.
  return new Agent({ keepAlive: true, maxSockets, timeout: 4000 });
}

/** A keep-alive agent for the collector at `url`, to share among its clients (destroy it when they are done). */
export function collectorAgent(url: string): http.Agent {
  return newAgent(collectorBase(url), DEFAULTS.maxSockets);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A collector seen through one key. Speaks the routes of docs/collector.md; errors are ElmahErrors
 * that name the collector (never the key) and carry `status`, `transient` and `retryAfter`, so the
 * capture queue can retry, drop or stop exactly as with a local store.
 */
export class RemoteLogClient implements LogClient {
  readonly kind = 'remote' as const;
  private readonly base: URL;
  private readonly location: string;
  private readonly key: string | undefined;
  private readonly agent: http.Agent;
  private readonly ownsAgent: boolean;
  private readonly options: typeof DEFAULTS;
  private closed = false;

  constructor(url: string, key: string | undefined, options: RemoteLogClientOptions = {}) {
    const base = collectorBase(url);
    // A key in the URL (?api_key=) is accepted for convenience but never kept in the URL we show or send.
    // Trimmed as parseKey trims: a key read from a file with its newline must not reach a header.
    this.key = (key ?? (base.searchParams.get('api_key') || undefined))?.trim();
    base.username = '';
    base.password = '';
    base.search = '';
    base.hash = '';
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.location = base.toString();
    this.options = { ...DEFAULTS };
    for (const [name, value] of Object.entries(options)) {
      if (value !== undefined && name in DEFAULTS) this.options[name as keyof typeof DEFAULTS] = value;
    }
    this.ownsAgent = options.agent === undefined;
    this.agent = options.agent ?? newAgent(base, this.options.maxSockets);
  }

  /** Sends one request and reads the JSON answer; non-2xx answers become ElmahErrors. */
  private async call(method: string, path: string, query?: URLSearchParams, body?: string): Promise<unknown> {
    if (this.closed) {
      throw new ElmahError('ERR_ELMAH_STORE_CLOSED', `The client of the collector at ${this.location} is closed.`, {
        help: 'Make a new client; close() is final.',
      });
    }
    const { id } = parseKey(this.key);
    const target = `${this.base.pathname.replace(/\/$/, '')}${path}${query && [...query.keys()].length > 0 ? `?${query.toString()}` : ''}`;
    let answer: Answer;
    try {
      answer = await this.send(method, target, body, false);
    } catch (err) {
      // A reused keep-alive socket may have been closed by the server just before we wrote: try once more.
      if ((err as { reusedSocket?: boolean }).reusedSocket) answer = await this.send(method, target, body, true);
      else throw err;
    }
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    throw this.httpError(method, path, answer, id);
  }

  private send(method: string, target: string, body: string | undefined, retried: boolean): Promise<Answer> {
    const mod = this.base.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = { accept: 'application/json', authorization: `Bearer ${this.key ?? ''}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const what = `${method} ${target}`;
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, answer?: Answer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(answer!);
      };
      const req = mod.request({
        protocol: this.base.protocol,
        hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
        port: this.base.port || undefined,
        method,
        path: target,
        headers,
        agent: this.agent,
      });
      const timer = setTimeout(() => {
        const err = new ElmahError(
          'ERR_ELMAH_TIMEOUT',
          `The collector at ${this.location} did not answer ${what} within ${this.options.timeoutMs} ms.`,
          {
            transient: true,
            help: 'Check that the collector is running and reachable, or raise timeoutMs.',
          },
        );
        finish(err);
        req.destroy(err);
      }, this.options.timeoutMs);
      timer.unref?.();
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        const code = err.code ?? err.name;
        const closed = this.closed;
        const mapped = new ElmahError(
          closed ? 'ERR_ELMAH_STORE_CLOSED' : 'ERR_ELMAH_STORE_UNAVAILABLE',
          closed
            ? `The client of the collector at ${this.location} was closed during ${what}.`
            : `Cannot reach the collector at ${this.location} (${code}) for ${what}.`,
          { transient: !closed, cause: err, help: 'Check that the collector is running and that the URL and port are right.' },
        );
        if (!retried && !closed && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          Object.defineProperty(mapped, 'reusedSocket', { value: true });
        }
        finish(mapped);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.options.maxResponseBytes) {
            const err = new ElmahError(
              'ERR_ELMAH_REMOTE',
              `The collector at ${this.location} sent more than ${this.options.maxResponseBytes} bytes for ${what}.`,
              {
                help: 'Ask for smaller pages (pageSize).',
              },
            );
            finish(err);
            req.destroy(err);
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => req.emit('error', err));
        res.on('end', () => {
          const text = Buffer.concat(chunks, size).toString('utf8');
          let parsed: unknown;
          if (text.trim() !== '') {
            try {
              parsed = JSON.parse(text) as unknown;
            } catch {
              parsed = text.slice(0, 200);
            }
          }
          finish(undefined, { status: res.statusCode ?? 0, body: parsed, retryAfter: parseRetryAfter(res.headers['retry-after']) });
        });
      });
      req.end(body);
    });
  }

  private httpError(method: string, path: string, answer: Answer, keyId: string): ElmahError {
    const remote = isObject(answer.body) && isObject(answer.body.error) ? answer.body.error : undefined;
    const remoteCode =
      typeof remote?.code === 'string' && (ERROR_CODES as readonly string[]).includes(remote.code)
        ? (remote.code as ElmahErrorCode)
        : undefined;
    const status = answer.status;
    const code = remoteCode ?? STATUS_CODES[status] ?? 'ERR_ELMAH_REMOTE';
    const said = typeof remote?.message === 'string' ? remote.message : typeof answer.body === 'string' ? answer.body : 'no explanation';
    const transient = status >= 500 || status === 429 || status === 408;
    const help =
      typeof remote?.help === 'string' && remote.help
        ? remote.help
        : status === 401
          ? `The collector does not accept key ${keyId}: check that it exists in the collector's store and is not revoked.`
          : '';
    return new ElmahError(code, `The collector at ${this.location} answered ${status} to ${method} ${path}: ${said}`, {
      status,
      transient,
      retryAfter: answer.retryAfter,
      details: remote?.details,
      help,
    });
  }

  async whoami(): Promise<KeyInfo> {
    const body = await this.call('GET', '/v3/keys/current');
    if (!isObject(body) || typeof body.id !== 'string' || !Array.isArray(body.permissions)) throw this.unexpected('GET /v3/keys/current');
    return body as unknown as KeyInfo;
  }

  async append(messages: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    return this.postItems('_bulk', messages, log);
  }

  /** Posts tallies to `_tally`, in chunks like `append`; a result per tally. */
  async tally(tallies: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    return this.postItems('_tally', tallies, log);
  }

  /** Posts messages (`_bulk`) or tallies (`_tally`) per log, in chunks bounded by count and bytes. */
  private async postItems(route: '_bulk' | '_tally', messages: readonly unknown[], log: string | undefined): Promise<ClientAppendResult[]> {
    const results: ClientAppendResult[] = new Array(messages.length);
    const groups = new Map<string, Item[]>();
    messages.forEach((input, index) => {
      const own = (input as { log?: unknown } | null)?.log;
      const target = log ?? (typeof own === 'string' ? own : 'default');
      const rawId = (input as { id?: unknown } | null)?.id;
      const id = typeof rawId === 'string' ? rawId : undefined;
      let json: string | undefined;
      try {
        json = JSON.stringify(input);
      } catch (err) {
        results[index] = {
          id,
          status: 'rejected',
          error: { code: 'ERR_ELMAH_INVALID_MESSAGE', message: `The message cannot be sent as JSON: ${(err as Error).message}` },
        };
        return;
      }
      const text = json ?? 'null';
      const bytes = Buffer.byteLength(text);
      if (bytes > this.options.maxBatchBytes) {
        results[index] = {
          id,
          status: 'rejected',
          error: { code: 'ERR_ELMAH_TOO_LARGE', message: `The message is ${bytes} bytes as JSON; the limit is 256 KiB.` },
        };
        return;
      }
      let group = groups.get(target);
      if (!group) groups.set(target, (group = []));
      group.push({ index, json: text, bytes });
    });
    for (const [target, items] of groups) {
      let chunk: Item[] = [];
      let bytes = 2;
      for (const item of items) {
        if (chunk.length > 0 && (chunk.length >= this.options.maxBatchMessages || bytes + item.bytes + 1 > this.options.maxBatchBytes)) {
          await this.sendBulk(route, target, chunk, results);
          chunk = [];
          bytes = 2;
        }
        chunk.push(item);
        bytes += item.bytes + 1;
      }
      if (chunk.length > 0) await this.sendBulk(route, target, chunk, results);
    }
    return results;
  }

  /** Posts one chunk to `_bulk` or `_tally`; a chunk the collector finds too large as a whole is halved and sent again. */
  private async sendBulk(route: '_bulk' | '_tally', log: string, chunk: Item[], results: ClientAppendResult[]): Promise<void> {
    const path = `/v3/messages/${encodeURIComponent(log)}/${route}`;
    let body: unknown;
    try {
      body = await this.call('POST', path, undefined, `[${chunk.map((i) => i.json).join(',')}]`);
    } catch (err) {
      if (chunk.length > 1 && (err as ElmahError).code === 'ERR_ELMAH_TOO_LARGE' && (err as ElmahError).status === 413) {
        const half = Math.ceil(chunk.length / 2);
        await this.sendBulk(route, log, chunk.slice(0, half), results);
        await this.sendBulk(route, log, chunk.slice(half), results);
        return;
      }
      throw err;
    }
    if (!Array.isArray(body) || body.length !== chunk.length) throw this.unexpected(`POST ${path}`);
    chunk.forEach((item, j) => {
      const r: unknown = body[j];
      if (!isObject(r)) throw this.unexpected(`POST ${path}`);
      const id = typeof r.id === 'string' ? r.id : undefined;
      if ((r.status === 'created' || r.status === 'duplicate') && id !== undefined) {
        const group = r.group === 'new' || r.group === 'regressed' ? r.group : undefined;
        results[item.index] = group ? { id, status: r.status, group } : { id, status: r.status };
      } else if (r.status === 'rejected' && isObject(r.error)) {
        const e = r.error;
        results[item.index] = {
          id,
          status: 'rejected',
          error: {
            code: typeof e.code === 'string' ? e.code : 'ERR_ELMAH_INVALID_MESSAGE',
            message: typeof e.message === 'string' ? e.message : 'Rejected by the collector.',
            details: e.details,
          },
        };
      } else throw this.unexpected(`POST ${path}`);
    });
  }

  async get(log: string, id: string): Promise<ErrorMessage> {
    const body = await this.call('GET', `/v3/messages/${encodeURIComponent(log)}/${encodeURIComponent(id)}`);
    if (!isObject(body) || typeof body.id !== 'string') throw this.unexpected('GET message');
    return body as unknown as ErrorMessage;
  }

  async search(options: ClientSearchOptions = {}): Promise<SearchResult> {
    const one = typeof options.log === 'string';
    const query = this.filterQuery(options, !one);
    if (options.page !== undefined) query.set('pageIndex', String(options.page));
    if (options.size !== undefined) query.set('pageSize', String(options.size));
    if (options.after !== undefined) query.set('searchAfter', options.after);
    const path = one ? `/v3/messages/${encodeURIComponent(options.log as string)}` : '/v3/messages';
    const body = await this.call('GET', path, query);
    if (!isObject(body) || !Array.isArray(body.messages) || typeof body.total !== 'number') throw this.unexpected(`GET ${path}`);
    return {
      messages: body.messages as ErrorMessage[],
      total: body.total,
      totalExact: body.totalExact !== false,
      after: typeof body.searchAfter === 'string' ? body.searchAfter : undefined,
    };
  }

  async groups(options: ClientGroupOptions = {}): Promise<GroupResult> {
    const query = this.filterQuery(options, true);
    if (options.page !== undefined) query.set('pageIndex', String(options.page));
    if (options.size !== undefined) query.set('pageSize', String(options.size));
    if (options.status !== undefined) query.set('status', typeof options.status === 'string' ? options.status : options.status.join(','));
    const body = await this.call('GET', '/v3/messages/_groups', query);
    if (!isObject(body) || !Array.isArray(body.groups) || typeof body.total !== 'number') throw this.unexpected('GET /v3/messages/_groups');
    return body as unknown as GroupResult;
  }

  async setGroupState(log: string, input: unknown): Promise<{ changed: number }> {
    const path = `/v3/groups/${encodeURIComponent(log)}/_state`;
    const body = await this.call('POST', path, undefined, JSON.stringify(input ?? null));
    if (!isObject(body) || typeof body.changed !== 'number') throw this.unexpected(`POST ${path}`);
    return { changed: body.changed };
  }

  async group(log: string, fingerprint: string): Promise<ErrorGroup | undefined> {
    const body = await this.call('GET', `/v3/groups/${encodeURIComponent(log)}/${encodeURIComponent(fingerprint)}`);
    if (body === null) return undefined;
    if (!isObject(body) || typeof body.count !== 'number') throw this.unexpected('GET /v3/groups/:log/:fingerprint');
    return body as unknown as ErrorGroup;
  }

  async histogram(options: ClientHistogramOptions): Promise<HistogramResult> {
    const query = this.filterQuery(options, true);
    query.set('buckets', String(options.buckets));
    const body = await this.call('GET', '/v3/messages/_histogram', query);
    if (!isObject(body) || !Array.isArray(body.counts)) throw this.unexpected('GET /v3/messages/_histogram');
    return body as unknown as HistogramResult;
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }> {
    const body = await this.call('GET', `/v3/messages/${encodeURIComponent(log)}/${encodeURIComponent(id)}/_neighbours`);
    if (!isObject(body)) throw this.unexpected('GET _neighbours');
    return {
      newer: typeof body.newer === 'string' ? body.newer : undefined,
      older: typeof body.older === 'string' ? body.older : undefined,
    };
  }

  async delete(log: string, target: ClientDeleteTarget): Promise<number> {
    const body = 'ids' in target ? { ids: target.ids } : { query: target.query, from: target.from, to: target.to };
    const answer = await this.call('DELETE', `/v3/messages/${encodeURIComponent(log)}`, undefined, JSON.stringify(body));
    if (!isObject(answer) || typeof answer.deleted !== 'number') throw this.unexpected('DELETE messages');
    return answer.deleted;
  }

  async logs(): Promise<LogSummary[]> {
    const body = await this.call('GET', '/v3/logs');
    if (!Array.isArray(body)) throw this.unexpected('GET /v3/logs');
    return body as LogSummary[];
  }

  async deploy(input: unknown): Promise<{ status: 'created' | 'duplicate'; deployment: Deployment }> {
    const answer = await this.call('POST', '/v3/deployments', undefined, JSON.stringify(input ?? null));
    const deployment = isObject(answer) ? deploymentFromWire(answer.deployment) : undefined;
    if (!isObject(answer) || !deployment || (answer.status !== 'created' && answer.status !== 'duplicate'))
      throw this.unexpected('POST /v3/deployments');
    return { status: answer.status, deployment };
  }

  async deployments(options: ClientDeploymentOptions = {}): Promise<Deployment[]> {
    const query = new URLSearchParams();
    if (options.log !== undefined) query.set('logId', options.log);
    if (options.size !== undefined) query.set('size', String(options.size));
    const body = await this.call('GET', '/v3/deployments', query);
    const list = Array.isArray(body) ? body.map(deploymentFromWire) : undefined;
    if (!list || list.some((d) => d === undefined)) throw this.unexpected('GET /v3/deployments');
    return list as Deployment[];
  }

  async endSession(sid: string, until: string): Promise<void> {
    await this.call('POST', '/v3/sessions/_ended', undefined, JSON.stringify({ sid, until }));
  }

  async sessionEnded(sid: string): Promise<boolean> {
    const body = await this.call('GET', `/v3/sessions/_ended/${encodeURIComponent(sid)}`);
    if (!isObject(body) || typeof body.ended !== 'boolean') throw this.unexpected('GET /v3/sessions/_ended/:sid');
    return body.ended;
  }

  describe(): { kind: string; location: string } {
    return { kind: 'remote', location: this.location };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ownsAgent) this.agent.destroy();
  }

  private filterQuery(options: ClientFilter, withLogs: boolean): URLSearchParams {
    const query = new URLSearchParams();
    if (withLogs && options.log !== undefined)
      for (const l of typeof options.log === 'string' ? [options.log] : options.log) query.append('log', l);
    if (options.query) query.set('query', options.query);
    if (options.from) query.set('from', options.from);
    if (options.to) query.set('to', options.to);
    return query;
  }

  private unexpected(what: string): ElmahError {
    return new ElmahError('ERR_ELMAH_REMOTE', `The collector at ${this.location} gave an unexpected answer to ${what}.`, {
      help: 'Check that the URL points at an express-elmah collector of the same version.',
    });
  }
}
