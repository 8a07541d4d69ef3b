// The storage contract: every backend (memory, SQLite, PostgreSQL) implements ErrorStore and KeyStore
// and passes test/stores/conformance.ts. Stores never check keys; LocalLogClient does.
import type { Deployment, DeploymentQuery } from '../model/deployment.js';
import type { KeyRecord } from '../model/keys.js';
import type { ErrorMessage } from '../model/message.js';
import type { QueryNode } from '../model/query.js';
import type { OccurrenceTally } from '../model/tally.js';
import type { GroupChange, GroupState, GroupStatus } from '../model/triage.js';

/** Which backend a store is. */
export type StoreKind = 'memory' | 'sqlite' | 'postgres';

/** Retention limits; each store applies them on its own (periodically on append) and on `prune()`. */
export interface RetentionOptions {
  /** Messages older than this many days are removed. Default 90. */
  maxAgeDays?: number;
  /** At most this many messages are kept per log (oldest go first). Default 100,000. */
  maxCount?: number;
}

/** Options every backend takes when opened from a URL (openStore passes them through). */
export interface OpenStoreOptions {
  retention?: RetentionOptions;
  /** PostgreSQL schema for the tables. */
  schema?: string;
}

/** The retention defaults of DESIGN.md. */
export const DEFAULT_RETENTION: Required<RetentionOptions> = { maxAgeDays: 90, maxCount: 100_000 };

/** Options of {@link ErrorStore.prune}: the limits (the store's own when absent), one log or all, and a bound on the work. */
export interface PruneOptions extends RetentionOptions {
  /** Only this log. */
  log?: string | undefined;
  /** The clock the age limit counts from. Default: now. */
  now?: Date | undefined;
  /**
   * Removes at most this many messages in this call (oldest first), so that one call is a bounded step; call
   * again until it returns less than `limit`. Default: no bound (the store still works in bounded transactions).
   */
  limit?: number | undefined;
}

/** Which messages a search, group listing, histogram or delete looks at. */
export interface MessageFilter {
  /** One log, several, or undefined for every log. */
  log?: string | readonly string[] | undefined;
  /** A parsed query (see `parseQuery`); undefined matches everything. */
  query?: QueryNode | undefined;
  /** Inclusive lower bound on `dateTime` (ISO 8601). */
  from?: string | undefined;
  /** Exclusive upper bound on `dateTime` (ISO 8601). */
  to?: string | undefined;
}

/** A page of a search: `page` (0-based) and `size`, or the `after` cursor of the previous result. */
export interface SearchOptions extends MessageFilter {
  /** 0-based page index. Default 0. Ignored when `after` is given. */
  page?: number | undefined;
  /** Page size, 1–1000. Default 15. */
  size?: number | undefined;
  /** Cursor from a previous result's `after`: continue after that message (newest first). */
  after?: string | undefined;
}

/** A page of messages, newest first (by `dateTime`, then `id`). */
export interface SearchResult {
  messages: ErrorMessage[];
  /** How many messages match in all, or a lower bound when `totalExact` is false ("10,000+"). */
  total: number;
  /** False when counting stopped at a cap. */
  totalExact: boolean;
  /** Cursor for the next page, or undefined on the last page. */
  after?: string | undefined;
}

/** One fingerprint's aggregate. */
export interface ErrorGroup {
  log: string;
  fingerprint: string;
  count: number;
  /** ISO time of the first and last occurrence. */
  firstSeen: string;
  lastSeen: string;
  /** The most recent occurrence, as a representative: id, title, type, statusCode. */
  lastId: string;
  title: string;
  type: string;
  statusCode?: number | undefined;
  /** Of `count`, how many occurrences were counted but not kept in full (see {@link ErrorStore.tally}). */
  countedOnly: number;
  /** Where the group stands in triage (open, resolved, ignored) and its history. */
  state: GroupState;
  /** Whom and which versions the group reached: set by {@link ErrorStore.group}, not by group listings. */
  reach?: GroupReach | undefined;
}

/** A version a group's occurrences carried, with how many of them and when. */
export interface GroupVersion {
  version: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/**
 * Whom and which versions a group reached, read from its most recent kept occurrences (at most
 * {@link REACH_SAMPLE}; occurrences counted but not kept in full carry neither user nor version).
 */
export interface GroupReach {
  /** Distinct non-empty users. */
  users: number;
  /** Versions, the most recently seen first, at most {@link REACH_VERSIONS}. */
  versions: GroupVersion[];
  /** The occurrences read: when less than the group's count, the figures cover only the most recent ones. */
  sampled: number;
}

/** Most occurrences of a group read for its {@link GroupReach}. */
export const REACH_SAMPLE = 10_000;
/** Most versions a {@link GroupReach} lists. */
export const REACH_VERSIONS = 20;

/** Options for {@link ErrorStore.groups}: most recently seen first. */
export interface GroupOptions extends MessageFilter {
  /** Only groups in these states. Undefined: every state. */
  status?: GroupStatus | readonly GroupStatus[] | undefined;
  page?: number | undefined;
  size?: number | undefined;
}

/** A page of groups. */
export interface GroupResult {
  groups: ErrorGroup[];
  total: number;
}

/** Options for {@link ErrorStore.histogram}: counts of matching messages in equal time buckets. */
export interface HistogramOptions extends MessageFilter {
  from: string;
  to: string;
  /** Number of buckets, 1–500. */
  buckets: number;
}

/**
 * Counts per bucket, oldest first; bucket i covers [from + i*bucketMs, from + (i+1)*bucketMs). Occurrences
 * counted but not kept in full are included when the filter has no query (log and time filters apply to them).
 */
export interface HistogramResult {
  from: string;
  to: string;
  bucketMs: number;
  counts: number[];
}

/** A log and what it holds. */
export interface LogSummary {
  name: string;
  count: number;
  /** ISO time of the newest message. */
  lastSeen?: string | undefined;
}

/** What happened to one message of an append. */
export interface AppendResult {
  id: string;
  /** `duplicate` when a message with this id was already in this log (appends are idempotent). */
  status: 'created' | 'duplicate';
  /**
   * Set on the one created message (or tally) per group that made the group (`new`) or reopened it after a
   * resolution (`regressed`). Across writers sharing a store each event is reported to exactly one of them.
   */
  group?: 'new' | 'regressed' | undefined;
}

/** What to delete: a list of ids, or every message matching a filter. */
export type DeleteTarget = { ids: readonly string[] } | { filter: MessageFilter };

/** Message storage. Every method is async so that network backends fit. */
export interface ErrorStore {
  /** Stores normalized messages; a message whose (log, id) already exists is left alone. */
  append(messages: readonly ErrorMessage[]): Promise<AppendResult[]>;
  /**
   * Adds occurrences that were counted but not kept in full (per group: count, first and last seen, per-minute
   * counts) to the group aggregate and the histogram. Idempotent by (log, tally id) like `append`.
   */
  tally(tallies: readonly OccurrenceTally[]): Promise<AppendResult[]>;
  /** One message, or undefined. */
  get(log: string, id: string): Promise<ErrorMessage | undefined>;
  /** A page of matching messages, newest first. */
  search(options: SearchOptions): Promise<SearchResult>;
  /** Groups by fingerprint from the aggregate kept on append; most recently seen first. */
  groups(options: GroupOptions): Promise<GroupResult>;
  /** One group from the aggregate (with its counted-only occurrences), or undefined. */
  group(log: string, fingerprint: string): Promise<ErrorGroup | undefined>;
  /**
   * Changes the state of the named groups of one log (unknown fingerprints are skipped); `by` is the id of the
   * key that asks, `at` the time (ISO). Returns how many groups changed.
   */
  setGroupState(log: string, fingerprints: readonly string[], change: GroupChange, by: string, at: string): Promise<number>;
  /** Counts of matching messages over time. */
  histogram(options: HistogramOptions): Promise<HistogramResult>;
  /** The newer and older neighbours of a message within its log (for previous/next links). */
  neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }>;
  /** Deletes messages of one log; returns how many went. Keeps the group aggregate correct. */
  delete(log: string, target: DeleteTarget): Promise<number>;
  /** Applies retention now; returns how many messages were removed. */
  prune(options?: PruneOptions): Promise<number>;
  /** Every log with its message count and newest time. */
  logs(): Promise<LogSummary[]>;
}

/** Key storage. Records hold the SHA-256 of the secret, never the secret. */
export interface KeyStore {
  /** Adds a key; fails if the id exists. */
  putKey(record: KeyRecord): Promise<void>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  listKeys(): Promise<KeyRecord[]>;
  /** Marks a key revoked; false when no such key. Revoking twice keeps the first time. */
  revokeKey(id: string, at?: Date): Promise<boolean>;
  /**
   * Records that a viewer session ended (sign-out) before its expiry `until` (ISO), so that a copy of its
   * cookie stops working on every instance and after a restart. Ended sessions past `until` are forgotten.
   */
  endSession(sid: string, until: string): Promise<void>;
  /** True when {@link endSession} recorded the session and its expiry has not passed. */
  sessionEnded(sid: string): Promise<boolean>;
}

/** Deployment storage: which version went out when. Deployments are kept until deleted with the store. */
export interface DeploymentStore {
  /** Adds a deployment; one whose id is stored already is left alone (`duplicate`), so a retried POST is harmless. */
  putDeployment(deployment: Deployment): Promise<'created' | 'duplicate'>;
  /** Deployments newest first (by `created`, then id): those of the given logs and those of every log. */
  deployments(query?: DeploymentQuery): Promise<Deployment[]>;
}

/** A complete backend. */
export interface Store extends ErrorStore, KeyStore, DeploymentStore {
  readonly kind: StoreKind;
  /** A description safe to show (no password): `sqlite:/path/elmah.db`, `postgres://host/db`, `memory:`. */
  describe(): string;
  /** Releases files, connections and timers. Further calls fail with ERR_ELMAH_STORE_CLOSED. */
  close(): Promise<void>;
}

/** True for an object that looks like a Store. */
export function isStore(value: unknown): value is Store {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['append', 'get', 'search', 'groups', 'getKey', 'putKey', 'close'].every((m) => typeof s[m] === 'function');
}
