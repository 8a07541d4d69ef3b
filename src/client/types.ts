// LogClient: a store seen through one API key. Local (in-process store) and remote (collector over HTTP)
// clients implement it alike, so capture and viewer work unchanged either way. The result types of the store
// contract are re-exported here: the faces take them from the client layer, never from stores/.
import type { Deployment } from '../model/deployment.js';
import type { KeyInfo } from '../model/keys.js';
import type { ErrorMessage } from '../model/message.js';
import type { GroupStatus } from '../model/triage.js';
import type { AppendResult, ErrorGroup, GroupResult, HistogramResult, LogSummary, SearchResult } from '../stores/types.js';

export type {
  AppendResult,
  ErrorGroup,
  GroupResult,
  HistogramResult,
  LogSummary,
  MessageFilter,
  SearchResult,
  Store,
} from '../stores/types.js';

/** Filter as a client takes it: the query is text in the search language (parsed by the client). */
export interface ClientFilter {
  log?: string | readonly string[] | undefined;
  /** Query text, e.g. `statusCode:[500 TO 599] AND type:TypeError`. */
  query?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/** Search options of a client. */
export interface ClientSearchOptions extends ClientFilter {
  page?: number | undefined;
  size?: number | undefined;
  after?: string | undefined;
}

/** Group listing options of a client. */
export interface ClientGroupOptions extends ClientFilter {
  /** Only groups in these states (`open`, `resolved`, `ignored`). Undefined: every state. */
  status?: GroupStatus | readonly GroupStatus[] | undefined;
  page?: number | undefined;
  size?: number | undefined;
}

/** Histogram options of a client. */
export interface ClientHistogramOptions extends ClientFilter {
  from: string;
  to: string;
  buckets: number;
}

/** The result of one message of an append: stored, already there, or rejected with a coded error. */
export type ClientAppendResult =
  AppendResult | { id?: string | undefined; status: 'rejected'; error: { code: string; message: string; details?: unknown } };

/** Options of {@link LogClient.deployments}. */
export interface ClientDeploymentOptions {
  log?: string | undefined;
  /** At most this many, 1–500. Default 50. */
  size?: number | undefined;
}

/** What to delete through a client. */
export type ClientDeleteTarget = { ids: readonly string[] } | { query?: string; from?: string; to?: string };

/**
 * What the capture shipper writes through: messages in full, occurrences counted only, and closing. A
 * LogClient is one; a writer that only writes (the worker thread's) need offer nothing more.
 */
export interface LogWriter {
  /** Stores messages; see {@link LogClient.append}. */
  append(messages: readonly unknown[], log?: string): Promise<ClientAppendResult[]>;
  /** Adds occurrences counted but not kept in full; see {@link LogClient.tally}. */
  tally(tallies: readonly unknown[], log?: string): Promise<ClientAppendResult[]>;
  /** The key's public view, when the writer can tell. */
  whoami?(): Promise<KeyInfo>;
  /** Releases what the writer opened. */
  close(): Promise<void>;
}

/** A store seen through one key. Every call checks the key's permissions and log scope. */
export interface LogClient extends LogWriter {
  /** `local` for an in-process store, `remote` for a collector. */
  readonly kind: 'local' | 'remote';
  /** The key's public view; fails with ERR_ELMAH_KEY_* when the key is missing, unknown, revoked or expired. */
  whoami(): Promise<KeyInfo>;
  /**
   * Stores messages (needs `messages_write` and each message's log in scope). Each input is validated
   * on its own: invalid ones come back `rejected`, the others are stored. `log` fills in messages without one.
   */
  append(messages: readonly unknown[], log?: string): Promise<ClientAppendResult[]>;
  /**
   * Adds occurrences counted but not kept in full (needs `messages_write`; see `OccurrenceTally`). Each
   * tally is validated on its own, like `append`; `log` fills in tallies without one.
   */
  tally(tallies: readonly unknown[], log?: string): Promise<ClientAppendResult[]>;
  /** One message (needs `messages_read`); ERR_ELMAH_NOT_FOUND when absent. */
  get(log: string, id: string): Promise<ErrorMessage>;
  search(options?: ClientSearchOptions): Promise<SearchResult>;
  groups(options?: ClientGroupOptions): Promise<GroupResult>;
  /**
   * One group's aggregate (needs `messages_read`): count, `countedOnly`, first and last seen — what a
   * query-filtered `groups()` cannot tell, since it counts stored messages only. Undefined when not found.
   */
  group(log: string, fingerprint: string): Promise<ErrorGroup | undefined>;
  /**
   * Changes the state of groups of one log (needs `groups_write` and the log in scope). The input is
   * `{ fingerprints, status: 'open' | 'resolved' | 'ignored', inVersion?, until?, occurrences? }`; see
   * `normalizeGroupChange`. ERR_ELMAH_INVALID_STATE when it is not valid. Returns how many groups changed
   * (fingerprints the log does not have are skipped).
   */
  setGroupState(log: string, input: unknown): Promise<{ changed: number }>;
  histogram(options: ClientHistogramOptions): Promise<HistogramResult>;
  neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }>;
  /** Deletes (needs `messages_delete`); returns how many went. */
  delete(log: string, target: ClientDeleteTarget): Promise<number>;
  /** Logs the key may see (needs `logs_read` or `messages_read`). */
  logs(): Promise<LogSummary[]>;
  /**
   * Records that a viewer session ended before its expiry `until` (ISO), for every instance sharing the store
   * (needs `messages_read`, the viewer's own permission). `sid` is the session's random id, 8–64 URL-safe characters.
   */
  endSession(sid: string, until: string): Promise<void>;
  /** True when the session was ended and has not expired yet (needs `messages_read`). */
  sessionEnded(sid: string): Promise<boolean>;
  /**
   * Records a deployment (needs `deployments_write`; a key limited to logs must name one of them in `logId`).
   * The input is elmah.io's shape (`version`, `description`, `userName`, `userEmail`, `logId`, `created`,
   * optionally `id`); ERR_ELMAH_INVALID_DEPLOYMENT when it is not valid. A repeated id is a `duplicate`.
   */
  deploy(input: unknown): Promise<{ status: 'created' | 'duplicate'; deployment: Deployment }>;
  /**
   * Deployments newest first (needs `deployments_read`): those of `log` (each asked log in the key's scope)
   * and those of every log; a key limited to logs sees those of its logs.
   */
  deployments(options?: ClientDeploymentOptions): Promise<Deployment[]>;
  /** Where this client points, safe to show: `sqlite:/…/elmah.db`, `https://collector.example/`. */
  describe(): { kind: string; location: string };
  /** Releases what the client opened (a store it opened itself, sockets). */
  close(): Promise<void>;
}

/** True for an object with the LogClient methods. */
export function isLogClient(value: unknown): value is LogClient {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    ['whoami', 'append', 'get', 'search', 'close'].every((m) => typeof c[m] === 'function') && (c.kind === 'local' || c.kind === 'remote')
  );
}
