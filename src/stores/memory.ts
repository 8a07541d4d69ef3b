// MemoryStore: a bounded in-process store for tests and throwaway use; the reference for the conformance suite.
import { compareDeployments, deploymentPageSize, type Deployment, type DeploymentQuery } from '../model/deployment.js';
import type { KeyRecord } from '../model/keys.js';
import type { ErrorMessage } from '../model/message.js';
import { matchesQuery } from '../model/query-eval.js';
import type { OccurrenceTally } from '../model/tally.js';
import { OPEN_STATE, applyChange, replayOccurrences, type GroupChange, type GroupState } from '../model/triage.js';
import {
  COUNT_CAP,
  closedError,
  decodeCursor,
  encodeCursor,
  filterLogs,
  histogramBuckets,
  pageIndex,
  pageSize,
  duplicateKeyError,
  MAX_KNOWN_VERSIONS,
  pruneBudget,
  retentionLimits,
  statusList,
  tallyCutoff,
} from './shared.js';
import {
  DEFAULT_RETENTION,
  type AppendResult,
  type DeleteTarget,
  REACH_SAMPLE,
  REACH_VERSIONS,
  type ErrorGroup,
  type GroupOptions,
  type GroupReach,
  type GroupVersion,
  type GroupResult,
  type HistogramOptions,
  type HistogramResult,
  type LogSummary,
  type MessageFilter,
  type PruneOptions,
  type RetentionOptions,
  type SearchOptions,
  type SearchResult,
  type Store,
} from './types.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Most messages kept per log; the oldest go first. Default 10,000. */
  maxMessages?: number;
  /** Age limit applied by `prune()` without arguments. Default 90 days. */
  retention?: RetentionOptions;
}

/** Newest first: dateTime desc, then id desc. */
function newestFirst(a: ErrorMessage, b: ErrorMessage): number {
  if (a.dateTime !== b.dateTime) return a.dateTime < b.dateTime ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Keeps everything in maps; bounded per log by `maxMessages`. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly logsMap = new Map<string, Map<string, ErrorMessage>>();
  private readonly groupMap = new Map<string, ErrorGroup>();
  /** Occurrences counted but not kept in full, per log and tally id. */
  private readonly tallies = new Map<string, Map<string, OccurrenceTally>>();
  private readonly keys = new Map<string, KeyRecord>();
  /** Viewer sessions ended before their expiry: sid → expiry. */
  private readonly ended = new Map<string, string>();
  private readonly deploys = new Map<string, Deployment>();
  private readonly maxMessages: number;
  private readonly retention: Required<RetentionOptions>;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxMessages = options.maxMessages ?? 10_000;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
  }

  describe(): string {
    return 'memory:';
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw closedError('memory');
  }

  async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    this.open();
    const results: AppendResult[] = [];
    for (const m of messages) {
      let log = this.logsMap.get(m.log);
      if (!log) this.logsMap.set(m.log, (log = new Map()));
      if (log.has(m.id)) {
        results.push({ id: m.id, status: 'duplicate' });
        continue;
      }
      log.set(m.id, structuredClone(m));
      const group = this.addToGroup(m) ? 'new' : this.afterOccurrence(m.log, m.fingerprint, m.dateTime, m.version);
      results.push(group ? { id: m.id, status: 'created', group } : { id: m.id, status: 'created' });
      if (log.size > this.maxMessages) this.trim(m.log, this.maxMessages);
    }
    return results;
  }

  /** Applies the triage rules to one more occurrence of an existing group; 'regressed' when it reopened it. */
  private afterOccurrence(log: string, fingerprint: string, dateTime: string, version: string | undefined): 'regressed' | undefined {
    const g = this.groupMap.get(`${log}\n${fingerprint}`);
    if (!g || g.state.status === 'open') return undefined;
    const { state, regressedAt } = replayOccurrences(g.state, [{ dateTime, version, count: g.count }]);
    g.state = state;
    return regressedAt === undefined ? undefined : 'regressed';
  }

  /** Counts a message into its group; true when that made the group. */
  private addToGroup(m: ErrorMessage, state = OPEN_STATE): boolean {
    const k = `${m.log}\n${m.fingerprint}`;
    const g = this.groupMap.get(k);
    if (!g) {
      this.groupMap.set(k, groupOf(m, state));
      return true;
    }
    g.count++;
    if (m.dateTime < g.firstSeen) g.firstSeen = m.dateTime;
    if (m.dateTime > g.lastSeen) g.lastSeen = m.dateTime;
    const stored = g.lastId === '' ? undefined : this.logsMap.get(m.log)?.get(g.lastId);
    if (!stored || newestFirst(m, stored) < 0) Object.assign(g, { lastId: m.id, title: m.title, type: m.type, statusCode: m.statusCode });
    return false;
  }

  /** Adds a tally to its group: counts and times; it names the group only while no message of it is stored. */
  private addTallyToGroup(t: OccurrenceTally, state = OPEN_STATE): boolean {
    const k = `${t.log}\n${t.fingerprint}`;
    const g = this.groupMap.get(k);
    if (!g) {
      this.groupMap.set(k, {
        log: t.log,
        fingerprint: t.fingerprint,
        count: t.count,
        firstSeen: t.firstSeen,
        lastSeen: t.lastSeen,
        lastId: '',
        title: t.title,
        type: t.type,
        statusCode: t.statusCode,
        countedOnly: t.count,
        state,
      });
      return true;
    }
    g.count += t.count;
    g.countedOnly += t.count;
    if (t.firstSeen < g.firstSeen) g.firstSeen = t.firstSeen;
    if (g.lastId === '' && t.lastSeen >= g.lastSeen) Object.assign(g, { title: t.title, type: t.type, statusCode: t.statusCode });
    if (t.lastSeen > g.lastSeen) g.lastSeen = t.lastSeen;
    return false;
  }

  async tally(tallies: readonly OccurrenceTally[]): Promise<AppendResult[]> {
    this.open();
    return tallies.map((t) => {
      let log = this.tallies.get(t.log);
      if (!log) this.tallies.set(t.log, (log = new Map()));
      if (log.has(t.id)) return { id: t.id, status: 'duplicate' };
      log.set(t.id, structuredClone(t));
      const group = this.addTallyToGroup(t) ? 'new' : this.afterOccurrence(t.log, t.fingerprint, t.lastSeen, undefined);
      return group ? { id: t.id, status: 'created', group } : { id: t.id, status: 'created' };
    });
  }

  /** Rebuilds the aggregate of the given fingerprints of one log from the messages and tallies left. */
  /** A group keeps its state while any occurrence of it is left; one left with none goes, state and all. */
  private regroup(log: string, fingerprints: Set<string>): void {
    const states = new Map<string, ErrorGroup['state']>();
    for (const fp of fingerprints) {
      const g = this.groupMap.get(`${log}\n${fp}`);
      if (g) states.set(fp, g.state);
      this.groupMap.delete(`${log}\n${fp}`);
    }
    const messages = [...(this.logsMap.get(log)?.values() ?? [])].filter((m) => fingerprints.has(m.fingerprint));
    messages.sort(newestFirst).reverse();
    for (const m of messages) this.addToGroup(m, states.get(m.fingerprint));
    for (const t of this.tallies.get(log)?.values() ?? []) {
      if (fingerprints.has(t.fingerprint)) this.addTallyToGroup(t, states.get(t.fingerprint));
    }
  }

  private remove(log: string, ids: Iterable<string>): number {
    const map = this.logsMap.get(log);
    if (!map) return 0;
    const touched = new Set<string>();
    let n = 0;
    for (const id of ids) {
      const m = map.get(id);
      if (m && map.delete(id)) {
        touched.add(m.fingerprint);
        n++;
      }
    }
    if (map.size === 0) this.logsMap.delete(log);
    this.regroup(log, touched);
    return n;
  }

  private trim(log: string, keep: number): number {
    const sorted = [...(this.logsMap.get(log)?.values() ?? [])].sort(newestFirst);
    return this.remove(
      log,
      sorted.slice(keep).map((m) => m.id),
    );
  }

  async get(log: string, id: string): Promise<ErrorMessage | undefined> {
    this.open();
    const m = this.logsMap.get(log)?.get(id);
    return m && structuredClone(m);
  }

  private readonly stateOf = (m: ErrorMessage): ErrorGroup['state'] | undefined => this.groupMap.get(`${m.log}\n${m.fingerprint}`)?.state;

  private matching(filter: MessageFilter): ErrorMessage[] {
    const logs = filterLogs(filter.log) ?? [...this.logsMap.keys()];
    const out: ErrorMessage[] = [];
    for (const name of logs) {
      for (const m of this.logsMap.get(name)?.values() ?? []) {
        if (filter.from !== undefined && m.dateTime < filter.from) continue;
        if (filter.to !== undefined && m.dateTime >= filter.to) continue;
        if (filter.query && !matchesQuery(filter.query, m, this.stateOf)) continue;
        out.push(m);
      }
    }
    return out.sort(newestFirst);
  }

  async search(options: SearchOptions): Promise<SearchResult> {
    this.open();
    const all = this.matching(options);
    const size = pageSize(options.size);
    let start = pageIndex(options.page) * size;
    if (options.after !== undefined) {
      const c = decodeCursor(options.after);
      start = all.findIndex((m) => m.dateTime < c.dateTime || (m.dateTime === c.dateTime && m.id < c.id));
      if (start < 0) start = all.length;
    }
    const messages = all.slice(start, start + size).map((m) => structuredClone(m));
    const last = messages[messages.length - 1];
    const more = start + size < all.length;
    return {
      messages,
      total: Math.min(all.length, COUNT_CAP + 1),
      totalExact: all.length <= COUNT_CAP,
      after: more && last ? encodeCursor(last.dateTime, last.id) : undefined,
    };
  }

  async groups(options: GroupOptions): Promise<GroupResult> {
    this.open();
    let groups: ErrorGroup[];
    if (options.query || options.from !== undefined || options.to !== undefined) {
      const map = new Map<string, ErrorGroup>();
      for (const m of this.matching(options).reverse()) {
        const k = `${m.log}\n${m.fingerprint}`;
        const g = map.get(k);
        if (!g) {
          map.set(k, groupOf(m, this.groupMap.get(k)?.state ?? OPEN_STATE));
        } else {
          g.count++;
          Object.assign(g, { lastSeen: m.dateTime, lastId: m.id, title: m.title, type: m.type, statusCode: m.statusCode });
        }
      }
      groups = [...map.values()];
    } else {
      const logs = filterLogs(options.log);
      groups = [...this.groupMap.values()].filter((g) => !logs || logs.includes(g.log)).map((g) => ({ ...g }));
    }
    const statuses = statusList(options.status);
    if (statuses) groups = groups.filter((g) => statuses.includes(g.state.status));
    groups = groups.map((g) => ({ ...g, state: structuredClone(g.state) }));
    groups.sort((a, b) => (a.lastSeen !== b.lastSeen ? (a.lastSeen < b.lastSeen ? 1 : -1) : a.lastId < b.lastId ? 1 : -1));
    const size = pageSize(options.size);
    const start = pageIndex(options.page) * size;
    return { groups: groups.slice(start, start + size), total: groups.length };
  }

  async group(log: string, fingerprint: string): Promise<ErrorGroup | undefined> {
    this.open();
    const g = this.groupMap.get(`${log}\n${fingerprint}`);
    return g && { ...g, state: structuredClone(g.state), reach: this.reachOf(log, fingerprint) };
  }

  /** Users and versions of a group's most recent stored messages. */
  private reachOf(log: string, fingerprint: string): GroupReach {
    const recent = [...(this.logsMap.get(log)?.values() ?? [])]
      .filter((m) => m.fingerprint === fingerprint)
      .sort((a, b) => (a.dateTime < b.dateTime ? 1 : a.dateTime > b.dateTime ? -1 : 0))
      .slice(0, REACH_SAMPLE);
    const users = new Set<string>();
    const versions = new Map<string, GroupVersion>();
    for (const m of recent) {
      if (m.user) users.add(m.user);
      if (m.version === undefined) continue;
      const v = versions.get(m.version);
      if (!v) versions.set(m.version, { version: m.version, count: 1, firstSeen: m.dateTime, lastSeen: m.dateTime });
      else {
        v.count++;
        v.firstSeen = m.dateTime;
      }
    }
    return { users: users.size, versions: [...versions.values()].slice(0, REACH_VERSIONS), sampled: recent.length };
  }

  async setGroupState(log: string, fingerprints: readonly string[], change: GroupChange, by: string, at: string): Promise<number> {
    this.open();
    let changed = 0;
    for (const fp of new Set(fingerprints)) {
      const g = this.groupMap.get(`${log}\n${fp}`);
      if (!g) continue;
      const versions = change.status === 'resolved' && change.inVersion !== undefined ? this.versionsOf(log, fp) : [];
      g.state = applyChange(change, by, at, g.count, versions);
      changed++;
    }
    return changed;
  }

  /** The versions seen among a group's stored messages. */
  private versionsOf(log: string, fingerprint: string): string[] {
    const out = new Set<string>();
    for (const m of this.logsMap.get(log)?.values() ?? []) if (m.fingerprint === fingerprint && m.version !== undefined) out.add(m.version);
    return [...out].sort().slice(0, MAX_KNOWN_VERSIONS);
  }

  async histogram(options: HistogramOptions): Promise<HistogramResult> {
    this.open();
    const { start, end, bucketMs, n } = histogramBuckets(options.from, options.to, options.buckets);
    const counts = new Array<number>(n).fill(0);
    const from = new Date(start).toISOString();
    const to = new Date(end).toISOString();
    for (const m of this.matching({ ...options, from, to })) {
      const i = Math.floor((Date.parse(m.dateTime) - start) / bucketMs);
      if (i >= 0 && i < n) counts[i]!++;
    }
    if (!options.query || options.query.kind === 'all') {
      for (const name of filterLogs(options.log) ?? [...this.tallies.keys()]) {
        for (const t of this.tallies.get(name)?.values() ?? []) {
          for (const [minute, count] of t.minutes) {
            const i = Math.floor((Date.parse(minute) - start) / bucketMs);
            if (Date.parse(minute) >= start && Date.parse(minute) < end && i >= 0 && i < n) counts[i]! += count;
          }
        }
      }
    }
    return { from, to, bucketMs, counts };
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string; older?: string }> {
    this.open();
    const all = [...(this.logsMap.get(log)?.values() ?? [])].sort(newestFirst);
    const i = all.findIndex((m) => m.id === id);
    if (i < 0) return {};
    return { newer: all[i - 1]?.id, older: all[i + 1]?.id };
  }

  async delete(log: string, target: DeleteTarget): Promise<number> {
    this.open();
    if ('ids' in target) return this.remove(log, target.ids);
    return this.remove(
      log,
      this.matching({ ...target.filter, log }).map((m) => m.id),
    );
  }

  async prune(options: PruneOptions = {}): Promise<number> {
    this.open();
    const { ageCutoff, maxCount } = retentionLimits(options, this.retention);
    const keep = Math.min(maxCount ?? Infinity, this.maxMessages);
    let budget = pruneBudget(options.limit);
    let removed = 0;
    const names = new Set(options.log !== undefined ? [options.log] : [...this.logsMap.keys(), ...this.tallies.keys()]);
    for (const name of names) {
      const oldestFirst = [...(this.logsMap.get(name)?.values() ?? [])].sort(newestFirst).reverse();
      const tooOld =
        ageCutoff === undefined
          ? 0
          : oldestFirst.findIndex((m) => m.dateTime >= ageCutoff) < 0
            ? oldestFirst.length
            : oldestFirst.findIndex((m) => m.dateTime >= ageCutoff);
      const over = Math.max(tooOld, oldestFirst.length - keep);
      const n = Math.min(over, budget);
      removed += this.remove(
        name,
        oldestFirst.slice(0, n).map((m) => m.id),
      );
      budget -= n;
      const trimmedByCount = n > 0 && oldestFirst.length - keep > 0;
      this.pruneTallies(name, tallyCutoff(ageCutoff, trimmedByCount ? oldestFirst[n]?.dateTime : undefined));
      if (budget <= 0) break;
    }
    return removed;
  }

  /** Drops the tallies of a log last seen before `before`, and corrects their groups. */
  private pruneTallies(log: string, before: string | undefined): void {
    const map = this.tallies.get(log);
    if (!map || before === undefined) return;
    const touched = new Set<string>();
    for (const [id, t] of map) {
      if (t.lastSeen < before) {
        map.delete(id);
        touched.add(t.fingerprint);
      }
    }
    if (map.size === 0) this.tallies.delete(log);
    this.regroup(log, touched);
  }

  async logs(): Promise<LogSummary[]> {
    this.open();
    return [...this.logsMap.entries()]
      .map(([name, map]) => {
        let lastSeen: string | undefined;
        for (const m of map.values()) if (lastSeen === undefined || m.dateTime > lastSeen) lastSeen = m.dateTime;
        return { name, count: map.size, lastSeen };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async putKey(record: KeyRecord): Promise<void> {
    this.open();
    if (this.keys.has(record.id)) throw duplicateKeyError(record.id);
    this.keys.set(record.id, structuredClone(record));
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    this.open();
    const k = this.keys.get(id);
    return k && structuredClone(k);
  }

  async listKeys(): Promise<KeyRecord[]> {
    this.open();
    return [...this.keys.values()]
      .map((k) => structuredClone(k))
      .sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  async endSession(sid: string, until: string): Promise<void> {
    this.open();
    const now = new Date().toISOString();
    for (const [s, u] of this.ended) if (u <= now) this.ended.delete(s);
    this.ended.set(sid, until);
  }

  async sessionEnded(sid: string): Promise<boolean> {
    this.open();
    const until = this.ended.get(sid);
    return until !== undefined && until > new Date().toISOString();
  }

  async revokeKey(id: string, at: Date = new Date()): Promise<boolean> {
    this.open();
    const k = this.keys.get(id);
    if (!k) return false;
    k.revoked ??= at.toISOString();
    return true;
  }

  async putDeployment(deployment: Deployment): Promise<'created' | 'duplicate'> {
    this.open();
    if (this.deploys.has(deployment.id)) return 'duplicate';
    this.deploys.set(deployment.id, structuredClone(deployment));
    return 'created';
  }

  async deployments(query: DeploymentQuery = {}): Promise<Deployment[]> {
    this.open();
    const logs = query.log === undefined ? undefined : typeof query.log === 'string' ? [query.log] : query.log;
    return [...this.deploys.values()]
      .filter((d) => !logs || d.log === undefined || logs.includes(d.log))
      .sort(compareDeployments)
      .slice(0, deploymentPageSize(query.size))
      .map((d) => structuredClone(d));
  }
}

/** A group of one occurrence, `m`, which also represents it. */
function groupOf(m: ErrorMessage, state: GroupState): ErrorGroup {
  return {
    log: m.log,
    fingerprint: m.fingerprint,
    count: 1,
    firstSeen: m.dateTime,
    lastSeen: m.dateTime,
    lastId: m.id,
    title: m.title,
    type: m.type,
    statusCode: m.statusCode,
    countedOnly: 0,
    state,
  };
}
