// LocalLogClient: the one place that checks a key's permissions and log scope, on every call.
import { normalizeDeployment, type Deployment } from '../model/deployment.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import { keyInfo, parseKey, secretMatches, type KeyInfo, type KeyRecord } from '../model/keys.js';
import { normalizeMessage, type ErrorMessage } from '../model/message.js';
import { requireEveryLog, requireLog, requirePermission, type Permission } from '../model/permissions.js';
import { parseQuery } from '../model/query.js';
import { normalizeTally, type OccurrenceTally } from '../model/tally.js';
import { normalizeGroupChange, parseStatuses } from '../model/triage.js';
import type { ErrorGroup, GroupResult, HistogramResult, LogSummary, MessageFilter, SearchResult, Store } from '../stores/types.js';
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

/** Options of {@link LocalLogClient}. */
export interface LocalLogClientOptions {
  /** Close the store when the client closes (set when the client opened it). */
  ownsStore?: boolean;
  /** How long a looked-up key record is trusted before it is read again, in ms. Default 1000: a revocation takes effect within a second. */
  keyCacheMs?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

/** A store seen through one key. */
export class LocalLogClient implements LogClient {
  readonly kind = 'local' as const;
  private cached: { record: KeyRecord; at: number } | undefined;
  private readonly keyCacheMs: number;
  private readonly now: () => Date;

  constructor(
    /** The store behind the client. */
    readonly store: Store,
    private readonly key: string | undefined,
    private readonly options: LocalLogClientOptions = {},
  ) {
    this.keyCacheMs = options.keyCacheMs ?? 1000;
    this.now = options.now ?? (() => new Date());
  }

  /** Looks up and checks the key: present, well-formed, known, secret matching, not revoked, not expired. */
  private async authenticate(): Promise<KeyRecord> {
    const { id, secret } = parseKey(this.key);
    const t = Date.now();
    let record = this.cached && t - this.cached.at < this.keyCacheMs ? this.cached.record : undefined;
    if (!record) {
      const found = await this.store.getKey(id);
      record = found && secretMatches(secret, found.hash) ? found : undefined;
      this.cached = record && { record, at: t };
    }
    if (!record) {
      throw new ElmahError('ERR_ELMAH_KEY_INVALID', `API key ${id} is not known to this store.`, {
        help: 'Create a key with `express-elmah keys create` against the same store, or check ELMAH_STORE.',
      });
    }
    if (record.revoked) {
      throw new ElmahError('ERR_ELMAH_KEY_INVALID', `API key ${id} was revoked on ${record.revoked}.`, {
        help: 'Create a new key with `express-elmah keys create`.',
      });
    }
    if (record.expires && Date.parse(record.expires) <= this.now().getTime()) {
      throw new ElmahError('ERR_ELMAH_KEY_INVALID', `API key ${id} expired on ${record.expires}.`, {
        help: 'Create a new key with `express-elmah keys create`.',
      });
    }
    return record;
  }

  /** Authenticates and checks that the key carries one of `needed`. */
  private async require(...needed: Permission[]): Promise<KeyRecord> {
    const record = await this.authenticate();
    requirePermission(record, needed);
    return record;
  }

  /** The logs a read may cover: the asked ones (each checked against scope) or the key's scope. */
  private scopeLogs(record: KeyRecord, log: string | readonly string[] | undefined): string | readonly string[] | undefined {
    if (log === undefined) return record.logs.length > 0 ? record.logs : undefined;
    for (const l of typeof log === 'string' ? [log] : log) requireLog(record, l);
    return log;
  }

  private filter(record: KeyRecord, options: ClientFilter): MessageFilter {
    return {
      log: this.scopeLogs(record, options.log),
      query: options.query ? parseQuery(options.query) : undefined,
      from: options.from,
      to: options.to,
    };
  }

  async whoami(): Promise<KeyInfo> {
    return keyInfo(await this.authenticate());
  }

  /**
   * Checks each input's log against the key, normalizes it on its own (an invalid one comes back `rejected`
   * with its reasons), and writes the valid ones in one call: the shared path of `append` and `tally`.
   */
  private async writeEach<T>(
    inputs: readonly unknown[],
    log: string | undefined,
    normalize: (input: unknown, target: string, now: Date) => T,
    write: (valid: T[]) => Promise<ClientAppendResult[]>,
  ): Promise<ClientAppendResult[]> {
    const record = await this.require('messages_write');
    const now = this.now();
    const results: ClientAppendResult[] = new Array(inputs.length);
    const valid: T[] = [];
    const slots: number[] = [];
    inputs.forEach((input, i) => {
      const own = (input as { log?: unknown } | null)?.log;
      const target = log ?? (typeof own === 'string' ? own : 'default');
      requireLog(record, target);
      try {
        valid.push(normalize(input, target, now));
        slots.push(i);
      } catch (err) {
        if (!isElmahError(err)) throw err;
        const id = (input as { id?: unknown } | null)?.id;
        results[i] = {
          id: typeof id === 'string' ? id : undefined,
          status: 'rejected',
          error: { code: err.code, message: err.message, details: err.details },
        };
      }
    });
    if (valid.length > 0) (await write(valid)).forEach((r, j) => (results[slots[j]!] = r));
    return results;
  }

  async append(messages: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    return this.writeEach(messages, log, normalizeMessage, (valid) => this.store.append(valid));
  }

  async tally(tallies: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    // The checked log is the one written: a tally's own `log` must not take it elsewhere.
    const normalize = (input: unknown, target: string, now: Date): OccurrenceTally =>
      normalizeTally(typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input, log: target } : input, target, now);
    return this.writeEach(tallies, log, normalize, (valid) => this.store.tally(valid));
  }

  async get(log: string, id: string): Promise<ErrorMessage> {
    const record = await this.require('messages_read');
    requireLog(record, log);
    const message = await this.store.get(log, id);
    if (!message) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in log "${log}".`);
    return message;
  }

  async search(options: ClientSearchOptions = {}): Promise<SearchResult> {
    const record = await this.require('messages_read');
    return this.store.search({ ...this.filter(record, options), page: options.page, size: options.size, after: options.after });
  }

  async groups(options: ClientGroupOptions = {}): Promise<GroupResult> {
    const record = await this.require('messages_read');
    return this.store.groups({
      ...this.filter(record, options),
      status: parseStatuses(typeof options.status === 'string' ? options.status : options.status && [...options.status]),
      page: options.page,
      size: options.size,
    });
  }

  async setGroupState(log: string, input: unknown): Promise<{ changed: number }> {
    const record = await this.require('groups_write');
    requireLog(record, log);
    const now = this.now();
    const { fingerprints, change } = normalizeGroupChange(input, now);
    return { changed: await this.store.setGroupState(log, fingerprints, change, record.id, now.toISOString()) };
  }

  async group(log: string, fingerprint: string): Promise<ErrorGroup | undefined> {
    const record = await this.require('messages_read');
    requireLog(record, log);
    return this.store.group(log, fingerprint);
  }

  async histogram(options: ClientHistogramOptions): Promise<HistogramResult> {
    const record = await this.require('messages_read');
    return this.store.histogram({ ...this.filter(record, options), from: options.from, to: options.to, buckets: options.buckets });
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }> {
    const record = await this.require('messages_read');
    requireLog(record, log);
    return this.store.neighbours(log, id);
  }

  async delete(log: string, target: ClientDeleteTarget): Promise<number> {
    const record = await this.require('messages_delete');
    requireLog(record, log);
    if ('ids' in target) return this.store.delete(log, { ids: target.ids });
    return this.store.delete(log, {
      filter: { query: target.query ? parseQuery(target.query) : undefined, from: target.from, to: target.to },
    });
  }

  async logs(): Promise<LogSummary[]> {
    const record = await this.require('logs_read', 'messages_read');
    const all = await this.store.logs();
    return record.logs.length > 0 ? all.filter((l) => record.logs.includes(l.name)) : all;
  }

  async deploy(input: unknown): Promise<{ status: 'created' | 'duplicate'; deployment: Deployment }> {
    const record = await this.require('deployments_write');
    const deployment = normalizeDeployment(input, this.now());
    if (deployment.log !== undefined) requireLog(record, deployment.log);
    else requireEveryLog(record, 'a deployment for every log');
    return { status: await this.store.putDeployment(deployment), deployment };
  }

  async deployments(options: ClientDeploymentOptions = {}): Promise<Deployment[]> {
    const record = await this.require('deployments_read');
    return this.store.deployments({ log: this.scopeLogs(record, options.log), size: options.size });
  }

  async endSession(sid: string, until: string): Promise<void> {
    await this.require('messages_read');
    checkSessionId(sid);
    checkSessionExpiry(until);
    await this.store.endSession(sid, new Date(Date.parse(until)).toISOString());
  }

  async sessionEnded(sid: string): Promise<boolean> {
    await this.require('messages_read');
    checkSessionId(sid);
    return this.store.sessionEnded(sid);
  }

  describe(): { kind: string; location: string } {
    return { kind: this.store.kind, location: this.store.describe() };
  }

  async close(): Promise<void> {
    if (this.options.ownsStore) await this.store.close();
  }
}

/** Checks a session id: 8–64 URL-safe characters, else ERR_ELMAH_QUERY. */
function checkSessionId(sid: unknown): void {
  if (typeof sid !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(sid)) {
    throw new ElmahError('ERR_ELMAH_QUERY', 'A session id is 8 to 64 URL-safe characters.');
  }
}

/** Checks a session's expiry: an ISO 8601 time, else ERR_ELMAH_QUERY. */
function checkSessionExpiry(until: unknown): void {
  if (typeof until !== 'string' || until.length > 40 || Number.isNaN(Date.parse(until))) {
    throw new ElmahError('ERR_ELMAH_QUERY', 'A session expiry must be an ISO 8601 time.');
  }
}
